/* phy/chan: channel emulator for K agents (Rayleigh multipath, timing offset, CFO, phase, AWGN).
 * Implements the channel of docs/air-interface.md §5 (uplink superposition, SNR rho/N0) and §6
 * (downlink).
 */
#ifndef AM_PHY_CHAN_H
#define AM_PHY_CHAN_H

#include <complex.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "phy/impair.h"

/* Model, agent k (realisation drawn by phy_chan_draw):
 *   taps a_{k,l}, l = 0..n_taps-1, at delay l samples: independent CN(0, P_l) with the exponential
 *   power-delay profile P_l ~ exp(-beta l), sum_l P_l = 1, beta chosen so that the rms delay
 *   spread of {P_l} equals delay_spread (so E|H_k[i]|^2 = 1 on every bin);
 *   integer timing offset d_k uniform in [0, max_timing_offset];
 *   CFO eps_k uniform in [-max_cfo, max_cfo] (subcarrier spacings), plus common_cfo for all;
 *   carrier phase phi_k uniform in [0, 2 pi) (0 without random_phase).
 * Uplink output, t = 0 .. ny-1 (t = 0 is the first `lead` sample):
 *   y[t] = sum_k e^{j 2 pi (eps_k + common) t / M} e^{j phi_k}
 *                sum_l a_{k,l} e^{-j 2 pi eps_k (d_k + l) / M} tx_k[t - lead - d_k - l]
 *          + w[t],   w ~ CN(0, s2),  s2 = rho M / (M_used 10^(snr/10))   (docs/air-interface.md
 * §5): each oscillator turns a sample when its radio handles it, the agent's (eps_k) at the
 * transmit tick, before the delay, the server's (common) at the receive tick t; the downlink is
 * the same with the opposite offsets and the roles swapped (tap factor e^{+j 2 pi common (d_k +
 * l) / M}, the server transmitting). Reciprocal: an agent that derotates the downlink by the
 * offset it measured at its receive ticks and pre-rotates its burst by it at its transmit ticks
 * sees the same channel both ways. Hence (no CFO) an FFT window at the nominal place lead + n0 of an OFDM block whose window
 * starts at n0 in tx_k sees the per-bin gain phy_chan_response(k), as long as d_k + n_taps - 1 <=
 * cp: the timing offset is part of h_k (a phase ramp), as in a timed system (§5). */

typedef struct phy_chan phy_chan; /* opaque */

typedef struct phy_chan_cfg {
    unsigned n_agents;           /* K >= 1 */
    unsigned nfft, cp_len; /* numerology (for the SNR definition of docs/air-interface.md §5) */
    const unsigned char *sctype; /* NULL = liquid default allocation (M_used from it) */
    unsigned n_taps;             /* multipath taps per agent, 1 = flat Rayleigh */
    float delay_spread; /* rms delay spread in samples (exponential power-delay profile, taps at
                           integer delays; total power 1); ignored when n_taps = 1, otherwise
                           0 < delay_spread < sqrt((n_taps^2 - 1) / 12) (the uniform profile's) */
    unsigned max_timing_offset; /* per-agent integer timing offset uniform in [0, max] samples */
    float max_cfo;              /* per-agent CFO uniform in [-max, max], subcarrier spacings */
    float common_cfo;           /* receiver-side CFO common to all agents, subcarrier spacings */
    int random_phase;           /* per-agent uniform carrier phase */
    float snr_db;               /* per-agent SNR rho/N0 of §5; INFINITY = no noise */
    float rho;                  /* the round's power factor (sets N0 = rho / snr) */
    uint64_t seed;
    unsigned threads; /* threads of execute/downlink (the calling one included), 0..64, 0 = 1;
                         outputs are byte-identical for any value (each output sample is the same
                         sum in the same order: noise, then agent 0, 1, ...) */
    int cfo_fixed;    /* 0: eps_k redrawn by every phy_chan_draw (a new oscillator each round);
                         1: eps_k drawn once at create from its own stream (seed, k) and kept: an
                         oscillator offset, nearly constant from round to round, which agents may
                         track (the other draws of a realisation are the same either way) */
    uint64_t ul_tick0; /* tick of the uplink output's sample 0 on the carrier phasors' time line,
                          whose origin is the downlink output's sample 0: the uplink phasor of
                          agent k at output sample t is e^{j 2 pi eps_k (ul_tick0 + t) / M}. It
                          places a beacon-to-burst gap (as on the air) between a downlink and the
                          next uplink; 0 = both start at the origin. <= 2^40. The radios'
                          (cfg.impair) LOs run on the same time line (phy_impair_start_at: the
                          server's TX from the downlink's lead, the agents' TX from ul_tick0 +
                          lead, the server's RX from ul_tick0): continuous from burst to burst;
                          their clock offset, phase noise and turnaround timing start at each
                          burst or stream (no timing drift or phase noise over the gap). */
    const phy_impair_cfg *impair; /* every radio's impairments (phy/impair.h), copied at create;
                                     NULL or an ideal cfg = ideal radios (the emulator as without
                                     them, bit for bit). Its seed is not used: radio r (agents
                                     0..K-1, the server K) draws from (seed, r). */
} phy_chan_cfg;

/* K = 1, M = 256, cp = 32, default allocation, flat (1 tap, delay_spread 1), no timing offset,
 * no CFO, random phase, no noise, rho = 1, seed 1, 1 thread. */
void phy_chan_cfg_default(phy_chan_cfg *cfg);

/* Validates cfg (AM_EINVAL naming the field), copies it, starts threads - 1 worker threads and
 * draws the first realisation. */
am_status phy_chan_create(const phy_chan_cfg *cfg, phy_chan **out);
void phy_chan_destroy(phy_chan *q); /* NULL is a no-op */
/* Back to the state right after create (same seed: same realisations and noise again). */
void phy_chan_reset(phy_chan *q);
/* Restarts every random stream from `seed` (as create would from cfg.seed) without drawing: the
 * next phy_chan_draw is that seed's first realisation. For callers whose round r must depend on
 * (seed, r) only, e.g. a run resumed from a checkpoint. phy_chan_reset restarts from it too. */
void phy_chan_reseed(phy_chan *q, uint64_t seed);

/* New independent realisation of all agents' channels (per round). Agent k's channels come from
 * its own random stream (seed, k), so they do not depend on K. The radios' Wiener phases start a
 * new time line (phy_impair_new_timeline), as the round's carrier phasors do. */
am_status phy_chan_draw(phy_chan *q);
/* Every radio draws new TX and RX LO phases (a retune; phy_impair_retune). Radios keep their LO
 * phases across phy_chan_draw (a session tunes once); no-op with ideal radios. */
void phy_chan_retune(phy_chan *q);
/* Radio r (agents 0..K-1, the server K) for inspection (phy_impair_get_state); NULL with ideal
 * radios or r > K. */
const phy_impair *phy_chan_radio(const phy_chan *q, unsigned r);
am_status phy_chan_set_snr(phy_chan *q, float snr_db);

/* M bins: H_k[i] = e^{j phi_k} sum_l a_l e^{-j 2 pi i (d_k + l)/M}  (i = FFT bin, §1). */
am_status phy_chan_response(const phy_chan *q, unsigned k, float complex *H);
/* Taps e^{j phi_k} a_{k,l} (n_taps values) and timing offset d_k. */
am_status phy_chan_taps(const phy_chan *q, unsigned k, float complex *taps, unsigned *delay);
/* The power-delay profile P_l (n_taps values, sum 1). */
void phy_chan_pdp(const phy_chan *q, float *P);

/* s2 per time sample: rho*M/(M_used*10^(snr/10)) (§5: N0 = s2*M_used/M); 0 without noise. */
float phy_chan_noise_var(const phy_chan *q);
/* eps_k + common_cfo in subcarrier spacings (the uplink offset the server sees from agent k). */
float phy_chan_agent_cfo(const phy_chan *q, unsigned k);
unsigned phy_chan_n_used(const phy_chan *q); /* M_used = pilot + data bins */

/* Output length: lead + burst_len + max_timing_offset + n_taps - 1 + tail. */
size_t phy_chan_out_len(const phy_chan *q, size_t burst_len, size_t lead, size_t tail);

/* uplink: y = sum_k channel_k(tx[k]) rotated by (cfo_k + common) + AWGN; tx[k] may be NULL (agent
 * silent); noise also over the `lead` samples before and `tail` after; deterministic for a seed.
 * The AWGN of the uplink and the downlink is one stream from (seed, 1) (restarted by reset and
 * reseed), drawn sample after sample (real part, then imaginary): the uplink's by the polar method
 * (am_rng_cnormal), the downlink's by the ziggurat (am_rng_cnormal_fill, 5x faster: a beacon's
 * window per agent and round).
 * cap >= phy_chan_out_len(...) else AM_EINVAL. Does not allocate with ideal radios.
 * With cfg.impair: agent k's burst first goes through its radio's TX (phy_impair, a new burst,
 * cut to burst_len; on the calling thread), and the server radio's RX (a new stream, AGC level =
 * the mean power over [lead, lead + burst_len)) processes the whole y after the noise: thermal
 * noise enters at the antenna, before the LO, IQ imbalance and ADC. Work buffers (one burst per
 * radio, and the output) grow on the first call longer than any before. */
am_status phy_chan_execute(phy_chan *q,
                           const float complex *const *tx,
                           size_t burst_len,
                           size_t lead,
                           size_t tail,
                           float complex *y,
                           size_t cap,
                           size_t *ny);

/* Agent k's burst samples u0 .. u0+n-1 (0 <= u0, u0 + n <= burst_len) into out. Called from the
 * emulator's threads, `thread` (< cfg.threads) naming the caller (for per-thread scratch), for the
 * active agents, with ranges of any length in any order; the same range may be asked for twice
 * (the ranges of neighbouring output blocks overlap by n_taps - 1 samples) and must then get the
 * same samples.
 * A status other than AM_OK (with its message) stops the call and is returned by it. */
typedef am_status (*phy_chan_source)(
    void *user, unsigned thread, unsigned k, size_t u0, size_t n, float complex *out);

/* phy_chan_execute with the bursts made on demand by src (agent k sends iff active == NULL or
 * active[k]): no burst needs to exist whole, the output is byte-identical to phy_chan_execute on
 * the same bursts. Does not allocate with ideal radios; with cfg.impair each agent's burst is
 * fetched whole (thread 0) into its radio's buffer first. */
am_status phy_chan_execute_source(phy_chan *q,
                                  phy_chan_source src,
                                  void *user,
                                  const unsigned char *active,
                                  size_t burst_len,
                                  size_t lead,
                                  size_t tail,
                                  float complex *y,
                                  size_t cap,
                                  size_t *ny);

/* downlink to agent k (beacon, §6): same multipath, timing offset and phase (TDD reciprocity),
 * CFO -(cfo_k + common), AWGN of the same variance. Output length as phy_chan_out_len; an agent
 * whose FFT window of a block sits at its nominal place (lead + n0) sees the gain
 * phy_chan_response(k) on every bin (ideal radios). With cfg.impair: x through the server
 * radio's TX, y through agent k's radio's RX (each call a new burst / stream). */
am_status phy_chan_downlink(phy_chan *q,
                            unsigned k,
                            const float complex *x,
                            size_t n,
                            size_t lead,
                            size_t tail,
                            float complex *y,
                            size_t cap,
                            size_t *ny);

#endif
