/* phy/impair: the impairments of ONE radio (its TX chain and its RX chain) on its own sample
 * stream: oscillator offset (carrier and sampling clock), phase noise, LO phases, chain responses,
 * timing error, IQ imbalance, DC, ADC, interferer. Used by phy/chan (docs/air-interface.md §5, §6).
 */
#ifndef AM_PHY_IMPAIR_H
#define AM_PHY_IMPAIR_H

#include <complex.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* Model. Sample index n counts samples of the nominal grid (true time n / fs) since the last
 * phy_impair_start of that direction (phy_impair_start_at: the LO term runs on n0 + n).
 * delta = ppm * 1e-6 is the offset of the radio's one reference clock, which feeds both its LOs
 * and its DAC/ADC clock (as on the B210).
 *
 * TX, input x (the radio's DAC samples), output y on the nominal grid:
 *   u(t) = g_tx * sum_l e_tx[l] x_c(t - l)   chain response: complex gain g_tx and a 3-tap ripple
 *                                            e_tx = (eps1, 1, eps2) at l = -1, 0, +1; x_c is the
 *                                            band-limited interpolation of x (DAC + its filters)
 *   y[n] = u(n (1 + delta) - tau) e^{j (2 pi fc delta n / fs + phi_tx + theta_tx[n])}
 *          with tau the fractional turnaround-timing error (samples, > 0 = late) and
 *          theta[n] = w[n] + white jitter N(0, jitter^2) (each LO its own), w the radio's ONE
 *          Wiener phase (its reference's noise through both synthesisers, common to TX and RX):
 *          w[n] = w[n-1] + N(0, 2 pi linewidth / fs) on the ticks n0 + n, continuous over a gap
 *          from the last tick either direction turned to the next start (an increment
 *          N(0, 2 pi linewidth gap / fs); a start at or before that tick, an overlap as the
 *          emulator's schedule without a gap makes, goes on from the latest start of either
 *          direction at or before it, the same phase at the same tick) and
 *          restarted at 0 by phy_impair_new_timeline (the emulators' rounds, phy_chan_draw) and
 *          phy_impair_reseed.
 * RX, input r on the nominal grid (what reaches the antenna, thermal noise included), output:
 *   a[n] = (r[n] + i[n]) e^{-j (2 pi fc delta n / fs + phi_rx + theta_rx[n])}
 *          i = optional interferer, a tone of power P_i at f_i
 *   b[n] = mu a[n] + nu conj(a[n]) + d     IQ imbalance: I kept, Q scaled by A = 10^(amp_db/20)
 *                                          and skewed by ph: Q' = A (Q cos ph - I sin ph), i.e.
 *                                          mu = (1 + A e^{-j ph})/2, nu = (1 - A e^{+j ph})/2,
 *                                          image rejection |mu|^2/|nu|^2; DC offset d (fixed phase)
 *   c[m] = g_rx * sum_l e_rx[l] b_c(m / (1 + delta) - l)     ADC clock (rate fs (1 + delta))
 *   out[m] = Q(c[m])   adc_bits mid-rise quantiser per rail, clipping at +-A with
 *                      A^2 = 10^(adc_backoff_db / 10) |g_rx|^2 (P_ref + P_i + |d|^2) (an AGC
 *                      settled on the RX level P_ref, phy_impair_set_rx_level), so for a
 *                      Gaussian input SQNR = 6.02 bits + 1.76 - backoff dB and each rail clips
 *                      with probability erfc(10^(backoff / 20)).
 * The interpolator is a Kaiser-windowed sinc from liquid-dsp (liquid_firdes_kaiser, semi-length
 * PHY_IMPAIR_M samples, PHY_IMPAIR_P phases, linear interpolation between phases) evaluated with a
 * double-precision time: liquid's resamp_crcf keeps its rate in float (a resolution of 0.06 ppm),
 * too coarse for a ppm-level clock offset. Error on a signal within +-0.4 fs: -69 dB (test).
 * When ppm, tau and the ripple are all 0 there is no interpolation (no latency); otherwise the
 * output lags the input by PHY_IMPAIR_M + 1 samples until the caller pushes PHY_IMPAIR_M + 2 zeros
 * (phy_impair_latency) at the end of a burst; then the output holds the input's samples at the
 * same indices (delay-compensated).
 * A radio with every field at its default (phy_impair_cfg_default, the `ideal` profile) is an
 * exact pass-through: y is x bit for bit, no latency, nothing drawn.
 *
 * Randomness (am_rng, all from cfg.seed): at create the radio's hardware is drawn once (its ppm
 * within ppm +- ppm_spread, chain gains, phases and ripple within their spreads, tau within
 * tx_delay +- tx_delay_spread, the DC phase); the LO phases phi_tx and phi_rx, uniform in
 * [0, 2 pi), at create and at every phy_impair_retune; phase noise and the interferer's start phase
 * from a noise stream restarted by phy_impair_reseed. Results do not depend on how a stream is cut
 * into execute calls.
 */

/* clang-format off */
/* Profile values (docs/air-interface.md §11; docs/impairments.md: sources and margins):
 * | field              | ideal         | b210-shared-ref | b210-free | source                |
 * |--------------------|---------------|----------------|-----------|-----------------------|
 * | fc, fs             | all: 915 MHz  | 1 MS/s         |           | ISM band; §1          |
 * | ppm (+- spread)    | 0             | 0 (shared ref) | 0 +- 2    | B210 TCXO +-2 ppm     |
 * | linewidth_hz       | 0             | 0 (common ref) | 0.017     | TCXO -65 dBc/Hz @1 Hz |
 * |                    |               |                |           |   (10 MHz) +39 dB     |
 * | jitter_deg         | 0             | 0.26 (white)   | 0.26      | B2x0 1.0 deg @3.5 GHz |
 * | lo_phase           | off           | on             | on        | AD9361 per tune       |
 * | chain gain         | 0             | +-1 dB         | +-1 dB    | assumed               |
 * | chain phase        | 0             | +-180 deg      | +-180 deg | uncalibrated          |
 * | ripple (p-p)       | 0             | 0.5 dB         | 0.5 dB    | assumed               |
 * | tx_delay           | 0             | +-0.05 smp     | +-0.2     | PPS 50 ns / beacon    |
 * | IQ amp / phase     | 0             | 0.2 dB/1.5 deg | same      | 35 dB image rej.      |
 * | DC                 | off           | -50 dBc        | -50 dBc   | LO suppr. 50 dBc      |
 * | ADC bits, back-off | off           | 12, 10 dB      | 12, 10 dB | AD9361 12-bit         |
 * | interferer         | off           | off            | off       | optional              |
 */
/* clang-format on */

#define PHY_IMPAIR_M 16u /* interpolator semi-length, input samples */
#define PHY_IMPAIR_P 64u /* interpolator phases per sample */

typedef enum phy_impair_dir { PHY_IMPAIR_TX = 0, PHY_IMPAIR_RX = 1 } phy_impair_dir;

typedef struct phy_impair_cfg {
    double fs_hz;       /* nominal sample rate, Hz, > 0 */
    double fc_hz;       /* carrier frequency, Hz, >= 0 (ppm -> carrier offset) */
    float ppm;          /* oscillator offset, parts per million, |ppm| <= 100 */
    float ppm_spread;   /* + uniform in [-spread, spread] drawn at create, >= 0 */
    float linewidth_hz; /* Wiener phase noise of the radio's reference, common to its TX and RX
                           LO (3 dB linewidth at fc), Hz, >= 0 */
    float jitter_deg;   /* white phase jitter of each LO, degrees rms, 0..30 */
    int lo_phase;       /* random TX and RX LO phases (redrawn by phy_impair_retune) */
    float tx_gain_db;   /* TX chain gain: tx_gain_db + uniform in [-spread, spread] dB */
    float tx_gain_spread_db;
    float tx_phase_deg; /* TX chain phase: tx_phase_deg + uniform in [-spread, spread] deg */
    float tx_phase_spread_deg;
    float rx_gain_db, rx_gain_spread_db;     /* RX chain gain, as TX */
    float rx_phase_deg, rx_phase_spread_deg; /* RX chain phase, as TX */
    float ripple_db; /* peak-to-peak ripple across the band of each chain, 0..6 dB (random
                        3-tap echo of fixed magnitude, random phases) */
    float tx_delay;  /* fractional turnaround-timing error tau, samples: tx_delay + uniform
                        in [-spread, spread]; |tau| <= 0.5 */
    float tx_delay_spread;
    float iq_amp_db;      /* RX IQ amplitude imbalance, dB, |.| <= 3 */
    float iq_phase_deg;   /* RX IQ phase imbalance, degrees, |.| <= 20 */
    float dc_dbc;         /* RX DC offset power relative to P_ref, dB; -INFINITY = none */
    unsigned adc_bits;    /* 0 = no quantisation, else 4..16 */
    float adc_backoff_db; /* clip level over rms, 10 log10(A^2 / P_ref), -10..60 dB */
    float intf_dbc;       /* interferer power relative to P_ref, dB; -INFINITY = none */
    float intf_freq;      /* interferer frequency / fs, in [-0.5, 0.5) */
    uint64_t seed;
} phy_impair_cfg;

/* The `ideal` profile: fs 1 MS/s, fc 915 MHz, everything else 0 / off (dc and interferer
 * -INFINITY), seed 1. */
void phy_impair_cfg_default(phy_impair_cfg *cfg);
/* Fills cfg with a named profile ("ideal", "b210-shared-ref", "b210-free"; seed left as it was).
 * AM_EINVAL naming the profile and listing the known ones. */
am_status phy_impair_profile(const char *name, phy_impair_cfg *cfg);
/* "ideal, b210-shared-ref, b210-free" (for help texts). */
const char *phy_impair_profile_names(void);
/* 1 if cfg is the exact pass-through (every impairment off). */
int phy_impair_cfg_is_ideal(const phy_impair_cfg *cfg);

typedef struct phy_impair phy_impair; /* opaque */

/* Validates (AM_EINVAL naming the field), copies cfg, draws the hardware and the LO phases,
 * allocates everything and starts both directions. */
am_status phy_impair_create(const phy_impair_cfg *cfg, phy_impair **out);
void phy_impair_destroy(phy_impair *q); /* NULL is a no-op */
/* Back to the state right after create (same hardware, LO phases and noise again). */
void phy_impair_reset(phy_impair *q);
/* New random TX and RX LO phases (a tune, AD9361). The hardware draws stay. */
void phy_impair_retune(phy_impair *q);
/* Restart the noise stream (phase noise, interferer phase) from (seed, stream): as create would
 * for cfg.seed, and a new time line (the Wiener phase back to 0). Hardware and LO phases stay. */
void phy_impair_reseed(phy_impair *q, uint64_t seed);
/* A new time line: the Wiener phase back to 0 at the next start (the emulators' rounds:
 * phy_chan_draw; also done by phy_impair_reseed). */
void phy_impair_new_timeline(phy_impair *q);
/* A new burst (TX) or stream (RX): index n back to 0, interpolator emptied; the Wiener phase
 * goes on (see the model; the LO phases stay until retune). */
void phy_impair_start(phy_impair *q, phy_impair_dir dir);
/* phy_impair_start with the carrier's time line moved: the LO term 2 pi fc delta n / fs runs on
 * n0 + n (sample 0 of the burst or stream is n0 ticks after the LO's origin: a beacon-to-burst
 * gap, phy_chan_cfg.ul_tick0), and the Wiener phase to n0 with its increment over the gap. The
 * clock offset's resampling starts at 0 as with phy_impair_start (the emulator does not
 * accumulate timing over the gap; host/twin gives the fraction, phy_impair_start_frac). */
void phy_impair_start_at(phy_impair *q, phy_impair_dir dir, uint64_t n0);
/* phy_impair_start_at with the read position of the interpolator moved by frac input samples
 * (|frac| <= 1.5; ignored without interpolation): sample 0 of the output is the input's value at
 * frac (TX: frac DAC samples into the burst, minus tau; RX: frac air samples after the stream's
 * first input). For a device whose clock ticks do not fall on the air's grid (host/twin: a burst
 * timed at a device tick between two air ticks; an RX sample taken between two air ticks). */
void phy_impair_start_frac(phy_impair *q, phy_impair_dir dir, uint64_t n0, double frac);
/* RX reference level P_ref (mean power per sample of the wanted input): sets the interferer, DC
 * and ADC levels, like an AGC settled on it. Default 1. AM_EINVAL unless finite > 0. */
am_status phy_impair_set_rx_level(phy_impair *q, float p_ref);

/* Consume n input samples of direction dir, write the outputs now available (as many as the
 * clock offset gives: about n / (1 + delta) for TX, n (1 + delta) for RX, PHY_IMPAIR_M + 1 fewer
 * at the start when interpolating) to y[0..cap). *ny = outputs written. AM_EINVAL if
 * cap < phy_impair_max_out(q, dir, n); AM_EFORMAT on a non-finite sample (nothing consumed).
 * x and y may be the same buffer only when phy_impair_latency(q, dir) == 0. Does not allocate. */
am_status phy_impair_execute(phy_impair *q,
                             phy_impair_dir dir,
                             const float complex *x,
                             size_t n,
                             float complex *y,
                             size_t cap,
                             size_t *ny);
/* An upper bound on the outputs of the next execute of n inputs in direction dir. */
size_t phy_impair_max_out(const phy_impair *q, phy_impair_dir dir, size_t n);
/* Zeros to push after a burst so that every output that depends on it comes out
 * (0 without interpolation, else PHY_IMPAIR_M + 2). */
unsigned phy_impair_latency(const phy_impair *q, phy_impair_dir dir);

/* The radio's drawn values, for tests and logs. */
typedef struct phy_impair_state {
    double ppm;                     /* drawn oscillator offset */
    double cfo_hz;                  /* fc * ppm * 1e-6 */
    float complex g_tx, g_rx;       /* chain complex gains */
    float complex e_tx[2], e_rx[2]; /* ripple echoes at l = -1 and +1 */
    float tau;                      /* turnaround-timing error, samples */
    float phi_tx, phi_rx;           /* LO phases, rad */
    float complex dc;               /* DC offset at P_ref = 1 */
} phy_impair_state;
void phy_impair_get_state(const phy_impair *q, phy_impair_state *st);

#endif
