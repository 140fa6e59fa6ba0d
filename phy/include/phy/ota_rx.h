/* phy/ota_rx: the server receiver on a continuous sample stream: burst detection, timing and CFO
 * estimation, composite gain from S1, pilot phase tracking, equalisation and demapping to the
 * average of the active agents' payloads. Implements docs/air-interface.md §5 (with §1-§3
 * inverted). */
#ifndef AM_PHY_OTA_RX_H
#define AM_PHY_OTA_RX_H

#include <complex.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "phy/frame.h"
#include "phy/ota_tx.h" /* phy_mapping */

/* One decoded burst. Pointers are owned by the receiver and valid only during the callback (or,
 * for phy_ota_rx_decode_at, until the next call on the receiver). */
typedef struct phy_ota_burst {
    uint64_t start;       /* stream index of the first sample of S0a (server's time reference) */
    uint64_t index;       /* 0, 1, ... bursts decoded since create/reset */
    float cfo;            /* carrier offset, subcarrier spacings (the stream was derotated by it) */
    float n0;             /* noise power per bin N0 (§5), from the odd used bins of S0a and S0b */
    float snr_db;         /* 10 log10(mean over used bins of |G[i]|^2 / n0) */
    float active_mean;    /* mean over used bins of active[i] */
    float metric;         /* detection metric (0..1, Schmidl-Cox correlation coefficient squared);
                             1 for decode_at */
    unsigned nfft;        /* M: length of active, snr, gain */
    size_t payload_len;   /* L */
    const float *payload; /* L recovered reals: eta * Y/G (its Re and Im with the complex
                             mapping, its Re with the real one), the active agents' average (§5);
                             0 on entries whose bin has no active agent */
    const float *active;  /* M: |G[i]| / sqrt(rho), estimated active agents; 0 on null bins
                             and where |G| is negligible */
    const float *snr;     /* M: |G[i]|^2 / n0 (linear); 0 on null bins */
    const float complex *gain;    /* M: composite gain G[i] (§5): Y_S1[i] / S1[i], combined on
                                     even bins with S0a and S0b (maximum ratio), pooled over
                                     neighbouring bins with gain_pool; 0 on null bins */
    unsigned n_erased;            /* bins erased around a narrowband interferer (§5.7) */
    const unsigned char *erased;  /* M: 1 on those bins (their payload is 0 and their active
                                     count 0, as bins with no agent, §5.5) */
    size_t n_symbols;             /* N * M_data: length of `symbols` */
    const float complex *symbols; /* equalised data-bin values Y/G (in units of c_j, i.e. before the
                                     scaling by eta), symbol after symbol, bins increasing */
    /* Calibration (§8.2, §8.3), with cal_slots > 0 (else 0 / NULL): per slot s < cal_slots */
    unsigned cal_slots, cal_blocks; /* S, Nc */
    const unsigned char *cal_heard; /* S: 1 if at least a quarter of the slot's bins are 10 dB
                                       over the noise (§8.3) */
    const float complex *cal_E;     /* S x PHY_CAL_Q: sub-band values E_s[q] (§8.2; 1 where none) */
    const unsigned char *cal_meas;  /* S x PHY_CAL_Q: 1 where sub-band q of slot s had an active
                                       bin (E_s[q] measured), 0 where none (E_s[q] = 1) */
    const float *cal_W;             /* S x PHY_CAL_Q x PHY_CAL_Q: W_s[q][j], the mean over slot
                                       s's active bins in sub-band q of A[j]'s weight in the
                                       interpolated a(i) (phy_cal_interp; each row sums to 1; the
                                       unit row where q was not measured): E_s[q] ~ sum_j W_s[q][j]
                                       (the error of A[j]), phy_cal_unmix (§8.4) */
    const float *cal_snr_db;        /* S: mean |g_s|^2 / N0 over its active bins, dB (0 if
                                       none) */
    const float complex *cal_e;     /* Nc x M: e_s[i] on the bins slot s owns in block
                                       C_(s / P) (0 on unowned bins): the slot's gain relative
                                       to sqrt(rho) and to the phase of G[i] */
} phy_ota_burst;

/* Called once per decoded burst, in stream order. A non-AM_OK return is remembered and returned
 * by phy_ota_rx_execute once it has consumed its whole input (processing goes on). */
typedef am_status (*phy_ota_rx_callback)(const phy_ota_burst *burst, void *user);

typedef struct phy_ota_rx_cfg {
    phy_frame_cfg frame;          /* numerology and allocation (§1) */
    size_t payload_len;           /* L reals per burst, >= 1 */
    float eta;                    /* payload scale of the round (§3), finite > 0 */
    float rho;                    /* power factor of the round (§4), finite > 0 */
    float threshold;              /* Schmidl-Cox detection threshold in (0, 1); 0 = default 0.35 */
    phy_ota_rx_callback callback; /* required for phy_ota_rx_execute (may be NULL if only
                                     phy_ota_rx_decode_at is used) */
    void *user;                   /* passed to the callback */
    unsigned gain_pool;           /* optional estimator of G (§5), 0..PHY_OTA_RX_GAIN_POOL_MAX:
                                     0 (default) = per bin; W >= 1 = see below */
    unsigned cal_slots;           /* S calibration slots of the bursts (§8; 0 = none, the
                                     version-1 burst), 0..PHY_CAL_SLOTS_MAX */
    phy_mapping mapping;          /* §3 (default PHY_MAP_COMPLEX); the real mapping keeps
                                     Re(Y/G) of each data bin (§5.3) */
    float pilot_level;            /* the pilots' level a of the bursts (§2), 0 < a <= 1; 0 = 1
                                     (the version-1 pilots); phy_ota_rx_set_pilot_level */
    double cfo_max;               /* the largest carrier offset looked for, subcarrier spacings,
                                     0..M/8 (docs/air-interface.md §5.1: beyond 1 the integer
                                     part is found on S1); 0 = the fraction alone (|offset| < 1:
                                     agents pre-compensate, §4.2) */
} phy_ota_rx_cfg;

/* gain_pool = W >= 1: on an active bin whose per-bin estimate of G is noisy (|G|^2 w / N0 < 30,
 * w = sum over S0a, S0b, S1 of |X|^2 on that bin), G is replaced by the maximum-ratio combination
 * of the per-bin estimates of the active used bins within W bins of it, after removing the linear
 * phase across bins common to the burst (window timing). It assumes G locally constant, as with
 * truncated inversion (§4: G = n sqrt(rho)): it removes most of the excess over the §5 floor that
 * dividing by a noisy G costs (genie timing, g_th = 0, W = 3: K = 2 at 0 dB +0.9 -> +0.01 dB,
 * K = 1 at 10 dB +0.46 -> +0.06 dB), and is biased where G varies between neighbouring bins
 * (phase-only precoding, G ~ sum |h_k|: K = 1 at 0 dB is 0.2-0.35 dB worse than per bin; an agent
 * erased on one bin and not the next). Bins with |G|^2 w / N0 >= 30 and bins without an active
 * agent are left alone, so a clean burst decodes bit for bit as with gain_pool = 0. The programs'
 * receivers (sim --agg iq, demo, server) use W = 3 by default and record it in their captures
 * (docs/air-interface.md §5.2, §7.2 airmeta:gain_pool). */
#define PHY_OTA_RX_GAIN_POOL_MAX 16u

/* Used bins within this many bins of a narrowband interferer's frequency are erased (§5.7). */
#define PHY_OTA_RX_ERASE_BINS 1.0

/* Default frame, L = 1024, eta = 1, rho = 1, threshold 0 (default), no callback, gain_pool 0,
 * complex mapping. */
void phy_ota_rx_cfg_default(phy_ota_rx_cfg *cfg);

typedef struct phy_ota_rx phy_ota_rx; /* opaque */

/* Validates and copies cfg, allocates everything (memory is O(L + M), independent of stream
 * length) and plans the FFTs. */
am_status phy_ota_rx_create(const phy_ota_rx_cfg *cfg, phy_ota_rx **out);
void phy_ota_rx_destroy(phy_ota_rx *q); /* NULL is a no-op */
/* Forget the stream (stream index restarts at 0, counters cleared). Keeps eta and rho. */
void phy_ota_rx_reset(phy_ota_rx *q);

/* Change the round's eta and rho (takes effect for bursts not yet started). AM_EINVAL unless both
 * finite and > 0. */
am_status phy_ota_rx_set_round(phy_ota_rx *q, float eta, float rho);

/* Change the pilot level a (§2: the pilots carry +a) for bursts not yet started: the common phase
 * (§5.3) does not depend on it, the declipping of a data symbol (§5.7) predicts its pilots as
 * a G u. AM_EINVAL unless 0 < a <= 1. */
am_status phy_ota_rx_set_pilot_level(phy_ota_rx *q, float a);

const phy_frame *phy_ota_rx_frame(const phy_ota_rx *q);
size_t phy_ota_rx_burst_len(const phy_ota_rx *q);

/* Consume n samples of the stream (any n >= 0; bursts may straddle calls; results do not depend
 * on how the stream is cut into calls). Calls the callback for each burst decoded.
 * A chunk containing a NaN or Inf sample is refused as a whole: AM_EFORMAT naming the sample,
 * nothing consumed, state unchanged (the caller may drop or repair the chunk and go on).
 * AM_EINVAL if there is no callback. Does not allocate. */
am_status phy_ota_rx_execute(phy_ota_rx *q, const float complex *x, size_t n);

/* Genie-timed decode: S0a's first sample is x[0], zero CFO, n >= burst_len, every FFT window at the
 * end of its block's cyclic prefix (backoff 0, where the stream's are 2 samples earlier, §5.1; G
 * and every bin value then lack that window's linear phase). Fills *burst (start =
 * 0, metric = 1, cfo = 0). Does not disturb the stream state. AM_EINVAL if n < burst_len,
 * AM_EFORMAT on a non-finite sample among the first burst_len. Does not allocate. */
am_status
phy_ota_rx_decode_at(phy_ota_rx *q, const float complex *x, size_t n, phy_ota_burst *burst);

typedef struct phy_ota_rx_stats {
    uint64_t samples;  /* samples consumed since create/reset */
    uint64_t bursts;   /* bursts decoded (callbacks made) */
    uint64_t rejected; /* detector triggers rejected by the synchroniser (not a burst) */
} phy_ota_rx_stats;
void phy_ota_rx_get_stats(const phy_ota_rx *q, phy_ota_rx_stats *stats);

#endif
