/* phy/ota_tx: the agent transmitter: payload mapping, precoding and OFDM modulation of one burst.
 * Implements docs/air-interface.md §1-§4 (burst S0a|S0b|S1|D_0..D_(N-1), mapping, precoding). */
#ifndef AM_PHY_OTA_TX_H
#define AM_PHY_OTA_TX_H

#include <complex.h>
#include <stddef.h>

#include "core/status.h"
#include "phy/frame.h"

/* Payload mapping (docs/air-interface.md §3): how the L reals of a burst ride on the data bins. */
typedef enum phy_mapping {
    PHY_MAP_COMPLEX = 0, /* §3.1: two reals per bin, c_j = (v[2j] + i v[2j+1]) / eta (default;
                            the version-1 mapping) */
    PHY_MAP_REAL = 1     /* §3.3: one real per bin, c_j = v[j] / eta; the receiver keeps Re of
                            the equalised bin: tolerant of phase error, twice the bins */
} phy_mapping;

/* "complex" or "real"; AM_EINVAL naming the value otherwise. */
am_status phy_mapping_parse(const char *name, phy_mapping *out);
const char *phy_mapping_name(phy_mapping m); /* "complex" / "real" ("?" for anything else) */
/* The payload length of the complex mapping that fills as many data bins as L reals of mapping m
 * (L complex, 2L real): phy_frame_nsym and phy_frame_burst_len of it are the burst's N and
 * length without calibration blocks (§2). */
size_t phy_mapping_span(phy_mapping m, size_t L);

typedef struct phy_ota_tx_cfg {
    phy_frame_cfg frame; /* numerology and allocation (§1) */
    size_t payload_len;  /* L reals per burst, >= 1 */
    phy_mapping mapping; /* §3 (default PHY_MAP_COMPLEX) */
    unsigned cal_slots;  /* S calibration slots (§8.1; 0..PHY_CAL_SLOTS_MAX, 0 = none: the
                            version-1 burst): Nc = phy_cal_blocks(M_used, S) blocks after S1 */
} phy_ota_tx_cfg;

/* Default frame (M = 256, cp = M/8, default allocation), L = 1024, no calibration, complex
 * mapping. */
void phy_ota_tx_cfg_default(phy_ota_tx_cfg *cfg);

typedef struct phy_ota_tx phy_ota_tx; /* opaque */

/* Validates (phy_frame_validate, L >= 1 and burst length representable), allocates every buffer
 * and plans the FFTs. */
am_status phy_ota_tx_create(const phy_ota_tx_cfg *cfg, phy_ota_tx **out);
void phy_ota_tx_destroy(phy_ota_tx *q); /* NULL is a no-op */

const phy_frame *phy_ota_tx_frame(const phy_ota_tx *q);
size_t phy_ota_tx_payload_len(const phy_ota_tx *q);
size_t phy_ota_tx_burst_len(const phy_ota_tx *q); /* (3 + Nc + N)(M + cp) */
unsigned phy_ota_tx_cal_blocks(const phy_ota_tx *q); /* Nc */
/* The slot whose calibration block the next bursts carry (§8.1: sqrt(P) S1 on the used bins
 * u = slot mod P (mod P) of block C_(slot / P), 0 elsewhere in the calibration blocks, precoded as
 * every block). AM_EINVAL unless slot < cal_slots (or slot = 0 without calibration). Default 0. */
am_status phy_ota_tx_set_slot(phy_ota_tx *q, unsigned slot);
/* The sampling-clock pre-compensation of the next bursts (docs/air-interface.md §4.2 "Sampling
 * clock"): r, the drift of the agent's sample clock on the server's, ticks per tick (its ticks
 * gain r per tick: its samples reach the server r per sample early); every block b >= 3 (after
 * the preamble) is delayed by r (b - 1) B samples (B = M + cp) as a linear phase over its bins,
 * e^{-j 2 pi s_i r (b - 1) B / M} (s_i the bin's signed index), so that each block reaches the
 * server where the preamble's middle block puts it; the preamble goes as it is. 0 (default): none,
 * the same bytes. AM_EINVAL unless |r| <= PHY_TX_DRIFT_MAX. */
#define PHY_TX_DRIFT_MAX 1e-3
am_status phy_ota_tx_set_drift(phy_ota_tx *q, double r);
/* The pilots' level a (docs/air-interface.md §2): every pilot bin of every data symbol carries +a
 * (before precoding) instead of +1, for the bursts written from now on (default 1, the version-1
 * pilots). The server announces it in GO (§9.4) and decodes with it (phy_ota_rx_set_pilot_level).
 * AM_EINVAL unless 0 < a <= 1. */
am_status phy_ota_tx_set_pilot_level(phy_ota_tx *q, float a);
/* The level a server announces for a round of `agents` scheduled agents (§2): 1 / sqrt(agents),
 * so the pilots' coherent sum at the server, n^2 a^2 rho per bin, sits at the data's incoherent
 * n rho; 1 for agents <= 1. */
float phy_pilot_level(unsigned agents);
/* AM_OK if 0 < a <= 1, else AM_EINVAL naming the value (every reader of a level checks it). */
am_status phy_pilot_level_check(float a);
/* The mapping and weight loops run 8-float AVX ops when the CPU has AVX (chosen at create), else
 * 4-float baseline ops; both give the same bytes. on = 0 selects the baseline (tests compare the
 * two); on != 0 selects AVX if the CPU has it. Returns 1 if AVX is now in use. */
int phy_ota_tx_use_avx(phy_ota_tx *q, int on);
/* Stage profile (benchmarks only, `airmeta bench phy --stages`): with t non-NULL (PHY_TX_NSTAGES
 * values, the caller's), every execute adds the monotonic-clock nanoseconds it spends in each
 * stage to t[stage] (a clock read per stage boundary: a few % of TX time at M = 256); NULL (the
 * default) turns it off. Outputs are the same bytes either way. */
enum {
    PHY_TX_ST_WEIGHTS, /* p compared with the kept one; when p or eta changed, 1/sqrt(M_used),
                          1/eta and the precoder folded into per-bin weights */
    PHY_TX_ST_MAP,     /* the IFFT inputs: data mapping (+ NaN check), pilots, precoded preamble
                          and calibration bins */
    PHY_TX_ST_IFFT,    /* every inverse FFT of the burst (FFTW) */
    PHY_TX_ST_COPY,    /* cyclic prefixes, and blocks not transformed into the output */
    PHY_TX_ST_TOTAL,   /* the whole call (the stages plus checks and loop overhead) */
    PHY_TX_NSTAGES
};
void phy_ota_tx_profile(phy_ota_tx *q, unsigned long long *t);

/* Writes exactly burst_len samples to out (§2): S0a|S0b|S1|C_0..C_(Nc-1)|D_0..D_(N-1), each block
 * cp samples of cyclic prefix then M samples; data bins carry c_j = (v[2j] + i v[2j+1]) / eta
 * (complex mapping; c_j = v[j] / eta with the real mapping) in increasing bin index across symbols
 * (§3), pilots +a (the pilot level, 1 unless set), tail 0; every bin value of every block is
 * multiplied by p[i] (§4; p = M values, e.g. from phy/precode.h, or NULL for all-ones =
 * un-precoded); then x[t] = (1/sqrt(M_used)) sum_i X[i] e^{+j 2 pi i t / M} (§1). v: payload_len
 * finite reals. AM_EINVAL with a message naming the culprit if eta is not finite and > 0, cap <
 * burst_len or p has a non-finite entry (nothing written), or if v has a NaN/Inf entry (found while
 * mapping, in the same pass: out may then be partly written and is not a burst). Does not allocate.
 * What depends on the precoder alone is kept from one call to the next while p's values stay the
 * same (the bursts of a round: one p): the per-bin weights (and eta), the precoded preamble's
 * transforms and the calibration block (and the slot and drift), made again as soon as any of
 * them changes; p's values are compared each call (p may be the same array, changed in place), so
 * the bytes are those of a fresh object's. */
am_status phy_ota_tx_execute(phy_ota_tx *q,
                             const float *v,
                             float eta,
                             const float complex *p,
                             float complex *out,
                             size_t cap);

/* Samples u0 .. u0+n-1 of the burst phy_ota_tx_execute would write for the payload v zero-padded
 * from d (<= payload_len) to payload_len reals, into out (n values): the same bytes, made from the
 * blocks the range touches only (a block cut by the range is transformed whole). For a caller that
 * streams a burst in pieces (the channel emulator's source, phy/chan.h) without holding it whole.
 * AM_EINVAL as phy_ota_tx_execute, and for d > payload_len or a range past burst_len; a NaN/Inf
 * entry of v is found only if the range reaches its symbol. Does not allocate. */
am_status phy_ota_tx_execute_range(phy_ota_tx *q,
                                   const float *v,
                                   size_t d,
                                   float eta,
                                   const float complex *p,
                                   size_t u0,
                                   size_t n,
                                   float complex *out);

/* Frequency shift in place: x[t] *= exp(j (phase0 + 2 pi eps t / nfft)), t = 0..n-1, eps in
 * subcarrier spacings (phase computed in double, no drift over long bursts). An agent that
 * measured CFO eps_b on the beacon (phy/beacon.h: downlink offset) pre-compensates its uplink
 * burst with phy_rotate(x, n, eps_b, M, phase0): the uplink offset is -eps_b (same oscillators,
 * opposite direction). phase0 carries the phase accumulated between beacon and transmission. */
void phy_rotate(float complex *x, size_t n, double eps, unsigned nfft, double phase0);
/* phy_rotate's samples first .. first+n-1 of a stream, x holding them: the same bytes as rotating
 * the whole stream and keeping that range. */
void phy_rotate_from(
    float complex *x, size_t n, double eps, unsigned nfft, double phase0, size_t first);

#endif
