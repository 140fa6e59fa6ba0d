/* host/bench: the benchmark programs of each layer, run as `airmeta bench WHICH`. Each returns
 * the process exit code and prints its figures (text, or JSON lines with --json). */
#ifndef AM_HOST_BENCH_H
#define AM_HOST_BENCH_H

int cmd_bench(int argc, char **argv);   /* airmeta bench WHICH: dispatches to the ones below */
int bench_phy(int argc, char **argv);   /* airmeta bench phy (host/bench/bench_phy.c) */
int bench_fl(int argc, char **argv);    /* airmeta bench fl (host/bench/bench_fl.c) */
int bench_radio(int argc, char **argv); /* airmeta bench radio (host/bench/bench_radio.c) */
int bench_round(int argc, char **argv); /* airmeta bench round (host/bench/bench_round.c) */

#endif
