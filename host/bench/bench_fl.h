/* host/bench_fl: the kernel half of `airmeta bench fl` (issue 3 "Performance"): GFLOP/s of the
 * fl layer kernels and us per call of the MLP 1-40-40-1 loss_grad / hvp at batch 10. */
#ifndef AM_HOST_BENCH_FL_H
#define AM_HOST_BENCH_FL_H

/* Prints medians to stdout: a table, or with json != 0 one JSON object per line, e.g.
 * {"bench":"fl","kernel":"dense_fwd","shape":"n=10 in=40 out=40","gflops":X,"us":Y}, each the
 * median of reps (1..101; bench fl --reps) repetitions.
 * Sets OpenBLAS to one thread. Returns a process exit code (0 ok, nonzero on failure, with the
 * message on stderr). */
int bench_fl_kernels(int json, unsigned reps);

#endif
