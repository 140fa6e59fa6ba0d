/* phy/cal: closed-loop calibration (docs/air-interface.md §8): the calibration blocks' layout
 * (slots on combs of the used bins), the Q sub-bands of the feedback, and the agent's correction
 * A[q] and its per-bin interpolation a(i). Shared by ota_tx (writes the blocks), ota_rx (measures
 * e_s and E_s[q]) and the agent (host/round/ota_agent.h). */
#ifndef AM_PHY_CAL_H
#define AM_PHY_CAL_H

#include <complex.h>
#include <stdint.h>

#include "phy/frame.h"

#define PHY_CAL_Q 8u            /* sub-bands of the feedback (§8.2) */
#define PHY_CAL_SLOTS_MAX 4096u /* slots a burst may carry (agents of a round) */
#define PHY_CAL_A_MIN 0.25f     /* |A[q]| is clipped to [A_MIN, A_MAX] (§8.4) */
#define PHY_CAL_A_MAX 4.0f
#define PHY_CAL_PROBES 2u       /* calibration probes per join (§8.5): airmeta server, sim --agg iq */
#define PHY_CAL_PROBES_MAX 16u  /* --probes' largest (phy_cal_probe_again's count) */

/* §8.1: for S = slots (0..PHY_CAL_SLOTS_MAX) on a frame of n_used used bins, the comb period
 * P = min(S, floor(n_used / 8)) (at least 1) into *period (may be NULL) and the number of
 * calibration blocks Nc = ceil(S / P) returned (0 when S = 0). */
unsigned phy_cal_blocks(unsigned n_used, unsigned slots, unsigned *period);

/* §8.2 sub-bands: group[i] (M entries) = q of used bin i (0..Q-1, used bins ordered by signed
 * index and cut into Q consecutive runs, the first n_used mod Q one bin longer), 0xFF on null bins;
 * centre[q] = mean signed index of group q. Either may be NULL. */
void phy_cal_groups(const phy_frame *f, unsigned char *group, float *centre);

/* §8.4 update of the correction by one measurement: A[q] <- A[q] E[q]^(-mu) (principal logarithm:
 * magnitude and phase each go a fraction mu of the way; mu = 1 gives A / E), |A[q]| clipped to
 * [PHY_CAL_A_MIN, PHY_CAL_A_MAX]. E[q] = 0 or non-finite leaves A[q] alone. */
void phy_cal_update(float complex *A, const float complex *E, float mu);

/* §8.4 the same with a loop gain per sub-band: A[q] <- A[q] E[q]^(-mu[q]) (each in (0, 1]). */
void phy_cal_update_bands(float complex *A, const float complex *E, const float *mu);

/* §8.4 the CAL's E, in place: the pairs first measured take a whole step. E (Q values, the
 * receiver's E_s[q], measured where meas[q] != 0; meas NULL: every one) is measured over the agent's
 * interpolated a(i): E[q] - 1 ~ sum_j W[q][j] x_j, x_j the relative error of A[j], W (Q x Q,
 * row-major) the slot's interpolation weights (phy_ota_burst.cal_W). n: the (agent, sub-band)
 * pairs' counts before this measurement (phy_cal_mu_steps). When some measured sub-band has n = 0
 * (first measured: the set L) and some has n > 0 (taken as right, x = 0, as the unmeasured): x_L
 * solves W_LL x_L = E_L - 1, each x_q is shrunk by its measurement's noise v = Q / (n_used
 * 10^(snr_db/10)) (phy_cal_probe_excess's): x_q (1 - v / (W[q][q]^2 |x_q|^2)), at least 0; then
 * E[q] <- 1 + x_q on L and E[q] <- E[q] - sum_(j in L) W[q][j] x_j on the others measured. Else,
 * or when a row of W_LL is not diagonally dominant by 1/4 (|W_LL^-1|_inf <= 4), E is left. */
void phy_cal_unmix(const float *W,
                   const unsigned char *meas,
                   const uint32_t *n,
                   unsigned n_used,
                   float snr_db,
                   float complex *E);

/* §8.4-§8.5, the server's side of the loop: the count *n of an agent's measurements and the loop
 * gain mu of the one just made (heard: the agent was heard in it; probe: it was a calibration
 * probe, §8.5). A probe starts the count again (*n = heard) and takes a full step (mu = 1); a
 * round's heard measurement counts (*n + 1, saturating) and takes mu = max(mu_0, 1 / *n); a round
 * not heard leaves *n. Returns mu (the CAL's; A moves only when heard): `airmeta server` sends it,
 * `sim --agg iq` applies it (phy_cal_update). */
float phy_cal_mu_step(uint32_t *n, int heard, int probe, float mu0);

/* §8.4-§8.5 the loop gains of one agent's Q sub-bands: each (agent, sub-band) pair counts its own
 * measurements (n, Q counts): sub-band q was measured when the agent was heard and q had an
 * active bin (meas[q] != 0, phy_ota_burst.cal_meas; meas NULL: every one); phy_cal_mu_step on
 * n[q] with heard = that, mu[q] its gain (a sub-band first measured in round r takes the full
 * step of a first measurement, not 1/r). Returns the largest mu[q] (CAL's mu, §9.4). */
float phy_cal_mu_steps(uint32_t *n, int heard, const unsigned char *meas, int probe, float mu0,
                       float *mu);

/* §8.5 step 5 (docs/impairments.md "How many probes"): what a probe measured over its noise.
 * Over the S slots heard (heard[s]): the mean over their measured sub-bands (meas,
 * S x PHY_CAL_Q; NULL: every one) of |E_s[q] - 1|^2,
 * over the mean of Q / (n_used 10^(snr_db[s] / 10)), the noise of one E_s[q] (e_s's N0 / (P rho)
 * per bin, §8.2, averaged over the n_used / (Q P) bins a slot owns in a sub-band; N0 / rho =
 * 10^(-snr/10) at |e_s| = 1). After a full step that left the agents at one measurement's noise
 * it is about 2 (that noise and this one's). 0 when no slot was heard. */
double phy_cal_probe_excess(unsigned S,
                            unsigned n_used,
                            const unsigned char *heard,
                            const float complex *E,
                            const unsigned char *meas,
                            const float *snr_db);

/* §8.5 step 5, the probe count of one join, as `airmeta server` and `sim --agg iq` send them:
 * after probe p (0 = the first) of at most `probes`, whether probe p + 1 goes out. excess_max 0:
 * every one of `probes` (a fixed count); > 0: from the second probe on (p >= 1), no more after a
 * probe whose excess (phy_cal_probe_excess; +inf when the probe's burst was not found) is
 * <= excess_max. */
int phy_cal_probe_again(unsigned p, unsigned probes, float excess_max, double excess);

/* §8.4 per-bin correction a(i) (M values, 0 on null bins): A[q] interpolated linearly in signed
 * index between the groups' centres, held beyond the outermost ones. */
void phy_cal_interp(const phy_frame *f, const float complex *A, float complex *a);

#endif
