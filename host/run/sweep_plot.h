/* host/run/sweep_plot: the sweep's figures of the convergence-generalisation trade-off
 * (docs/paper.md §4), drawn by gnuplot (run/plot.h) from the collected runs (run/sweep_collect.h).
 */
#ifndef AM_HOST_SWEEP_PLOT_H
#define AM_HOST_SWEEP_PLOT_H

#include "core/status.h"
#include "run/sweep_collect.h"
#include "run/sweep_plan.h"

/* Training loss against rounds, one curve per configuration (mean over seeds of a moving average
 * over rounds/50 rounds, error bars: standard error at 10 rounds). */
am_status sweep_plot_convergence(const char *png,
                                 const char *title,
                                 const sweep_plan *p,
                                 const sweep_run *runs);

/* Against SNR: loss after fine-tuning (new and training agents), the gap, the paired differences
 * with ideal (when present) and new-agent accuracy (classification); ideal as dashed lines.
 * AM_ENOTSUP when the grid has no SNR axis (ideal only). */
am_status sweep_plot_generalization(const char *png,
                                    const char *title,
                                    const sweep_plan *p,
                                    const sweep_run *runs);

/* New agents' loss after fine-tuning against the evaluation rounds, one curve per configuration
 * (mean +- standard error over seeds; ideal and the --baseline-beta controls dashed), so a
 * noisy channel's advantage can be told from the ideal channel's early stopping. AM_ENOTSUP when
 * no run has an evaluation. */
am_status
sweep_plot_evals(const char *png, const char *title, const sweep_plan *p, const sweep_run *runs);

#endif
