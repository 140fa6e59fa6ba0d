/* fl/agg: the aggregation interface, K agents' vectors in -> estimate of their average out, and
 * its in-library implementations `ideal` and `stat` (docs/air-interface.md §3-§5,
 * docs/paper.md §2). */
#ifndef AM_FL_AGG_H
#define AM_FL_AGG_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* What the server announces for one round (docs/air-interface.md §3-§5). */
typedef struct fl_agg_round {
    float eta;      /* payload scale: c_j = (x[2j] + i x[2j+1]) / eta (§3), > 0 */
    float rho;      /* transmit power factor (§4), > 0 */
    float g_th;     /* truncation threshold on |h|^2 (§4), >= 0 */
    unsigned round; /* round index */
} fl_agg_round;

/* The ONLY way fl sees the channel: fl never includes phy. host plugs in `iq` (the waveform).
 *
 * aggregate(self, r, x, present, K, d, out, active, delivered):
 *   x[k]        agent k's transmitted vector (length d); may be NULL when present[k] == 0
 *   present[k]  0 when agent k does not transmit this round (present == NULL: all do)
 *   out         (length d) the server's estimate of the average of the transmitting agents'
 *               entries, over the agents active on that entry (docs/air-interface.md §5); an entry
 *               that no agent reached is 0 (nothing was received there)
 *   active      (length d, may be NULL) per entry, the number of agents whose entry reached
 *               the sum (the estimate's divisor; 0 where nothing arrived)
 *   delivered   (may be NULL, and delivered[k] may be NULL) per agent, what of x[k] actually
 *               reached the sum: x[k] where agent k was active, 0 where it was truncated —
 *               feeds the error-feedback memory (docs/paper.md §3)
 * Implementations may assume the arguments were validated by fl_agg_execute. */
typedef struct fl_agg_ops {
    const char *name;
    am_status (*aggregate)(void *self,
                           const fl_agg_round *r,
                           const float *const *x,
                           const unsigned char *present,
                           size_t K,
                           size_t d,
                           float *out,
                           float *active,
                           float *const *delivered);
    void (*destroy)(void *self);
} fl_agg_ops;

typedef struct fl_agg {
    const fl_agg_ops *ops;
    void *self;
} fl_agg;

/* Validates the arguments (K, d >= 1; eta, rho > 0 finite; g_th >= 0 finite; every present
 * vector finite; at least one present agent) and calls ops->aggregate. */
am_status fl_agg_execute(fl_agg *a,
                         const fl_agg_round *r,
                         const float *const *x,
                         const unsigned char *present,
                         size_t K,
                         size_t d,
                         float *out,
                         float *active,
                         float *const *delivered);
/* Destroys the implementation and clears *a; a zeroed fl_agg is a no-op. */
void fl_agg_destroy(fl_agg *a);
const char *fl_agg_name(const fl_agg *a);

/* `ideal`: the exact average over the present agents; active = number present; delivered = x. */
am_status fl_agg_ideal_create(fl_agg *out);

/* `stat`: the paper's equivalent channel (docs/paper.md §2, docs/air-interface.md §4-§5).
 * Entries are mapped two reals per complex bin (§3: c_j <- x[2j], x[2j+1]); like the waveform,
 * both reals of a bin share the fading. Per round, agent and bin an i.i.d. gain h ~ CN(0, 1);
 * truncated channel inversion erases the bin for that agent when |h|^2 < g_th (probability
 * 1 - exp(-g_th)); otherwise the inversion is exact, so the agent's entries arrive with unit
 * gain. The server divides by the composite gain, giving the average over the n_j active agents
 * plus real Gaussian noise of variance eta^2 N0 / (2 n_j^2 rho) per entry, N0 = rho / SNR
 * (§5, per-agent SNR = rho / N0). Since only |h|^2 >= g_th matters, the draw is the equivalent
 * Bernoulli event U < exp(-g_th) with U uniform (|h|^2 ~ Exp(1)).
 * Draws are a function of (seed, round) only: the same round index gives the same channel. */
typedef struct fl_agg_stat_cfg {
    double snr_db; /* per-agent SNR rho / N0 in dB, finite */
    uint64_t seed;
} fl_agg_stat_cfg;
am_status fl_agg_stat_create(const fl_agg_stat_cfg *cfg, fl_agg *out);

/* Noise variance of one recovered real entry for n active agents (docs/air-interface.md §5). */
double fl_agg_noise_var(double eta, double rho, double snr_lin, double n);

/* Payload scale rules (docs/air-interface.md §3: eta is announced before the agents transmit):
 *   PEAK: eta = max over agents and bins of |x[2j] + i x[2j+1]|, so every |c_j| <= 1;
 *   RMS:  eta^2 = max over agents of ||x_k||^2 / ceil(d/2), i.e. each agent's mean power per
 *         bin over the burst is <= 1 (peaks may exceed 1).
 * Returns a positive eta (1 when every vector is zero). The server needs these figures before
 * the round: on the air each agent reports its max |c| (or ||x_k||^2) over the control plane. */
typedef enum fl_eta_rule { FL_ETA_PEAK = 0, FL_ETA_RMS } fl_eta_rule;
am_status fl_eta_rule_parse(const char *name, fl_eta_rule *out);
float fl_agg_eta(
    fl_eta_rule rule, const float *const *x, const unsigned char *present, size_t K, size_t d);

#endif
