/* phy/beacon: the downlink beacon (S0a|S0b|S1 un-precoded) and the agent's beacon receiver:
 * detection, timing, CFO, noise and per-bin channel estimation. Implements
 * docs/air-interface.md §6. */
#ifndef AM_PHY_BEACON_H
#define AM_PHY_BEACON_H

#include <complex.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "phy/frame.h"

/* Training blocks a beacon may carry after its preamble (docs/air-interface.md §6.1). */
#define PHY_BEACON_MAX_REPS 16u

/* Samples of the beacon: 3 (M + cp). */
size_t phy_beacon_len(const phy_frame *f);
/* Writes the beacon (the frame's un-precoded preamble, §6) to out. AM_EINVAL if cap is short. */
am_status phy_beacon_write(const phy_frame *f, float complex *out, size_t cap);
/* The beacon with `reps` training blocks (copies of S1 with their cyclic prefix) after the
 * preamble (§6.1): (3 + reps) (M + cp) samples; reps 0 is phy_beacon_len / phy_beacon_write.
 * AM_EINVAL if reps > PHY_BEACON_MAX_REPS or cap is short. */
size_t phy_beacon_len_reps(const phy_frame *f, unsigned reps);
am_status phy_beacon_write_reps(const phy_frame *f, unsigned reps, float complex *out, size_t cap);

/* What an agent learns from one beacon. Pointers are owned by the receiver, valid until its next
 * call. */
typedef struct phy_beacon_est {
    uint64_t start;         /* stream index of the first sample of S0a */
    float cfo;              /* downlink carrier offset, subcarrier spacings (the stream was
                               derotated by it); an agent pre-compensates its uplink with
                               phy_rotate(burst, n, cfo, M, phase0) (phy/ota_tx.h) */
    float n0;               /* noise power per bin (§5 definition) */
    float snr_db;           /* 10 log10(mean over used bins of |h[i]|^2 / n0) */
    float metric;           /* detection metric (0..1); 1 for estimate_at */
    unsigned nfft;          /* M */
    const float complex *h; /* M: channel h[i] = Y_S1[i] / S1[i] on used bins, combined on even
                               bins with S0a and S0b and, from estimate_at, on every used bin
                               with the training blocks (maximum ratio); 0 on null bins;
                               time reference `start` (a block whose window starts at its nominal
                               place relative to start sees gain h) */
} phy_beacon_est;

typedef struct phy_beacon_rx_cfg {
    phy_frame_cfg frame; /* numerology and allocation (§1) */
    float threshold;     /* Schmidl-Cox detection threshold in (0, 1); 0 = default 0.35 */
    unsigned smooth;     /* 0: raw per-bin estimate; otherwise keep only the first `smooth` taps
                            of the impulse response (time-domain denoising; smooth <= M/2 and
                            should cover cp + delay spread); used bins only */
    unsigned reps;       /* training blocks after the preamble (§6.1), 0..PHY_BEACON_MAX_REPS:
                            phy_beacon_rx_estimate_at combines them; detection uses S0 and S1 */
    double cfo_max;      /* the largest carrier offset looked for, subcarrier spacings, 0..M/8
                            (docs/air-interface.md §5.1, §6.2: beyond 1 the integer part is
                            found on S1); 0 = the fraction alone (|offset| < 1, version 1) */
} phy_beacon_rx_cfg;

/* Default frame, threshold 0 (default), smooth 0, reps 0, cfo_max 0. */
void phy_beacon_rx_cfg_default(phy_beacon_rx_cfg *cfg);

typedef struct phy_beacon_rx phy_beacon_rx; /* opaque */

am_status phy_beacon_rx_create(const phy_beacon_rx_cfg *cfg, phy_beacon_rx **out);
void phy_beacon_rx_destroy(phy_beacon_rx *q); /* NULL is a no-op */
void phy_beacon_rx_reset(phy_beacon_rx *q);   /* stream index restarts at 0 */
/* The training blocks the next beacons carry (cfg.reps). AM_EINVAL beyond PHY_BEACON_MAX_REPS. */
am_status phy_beacon_rx_set_reps(phy_beacon_rx *q, unsigned reps);
const phy_frame *phy_beacon_rx_frame(const phy_beacon_rx *q);

/* Consume samples until a beacon is found: *consumed (<= n) samples were used; *found = 1 and
 * *est filled when a beacon was found (then consumed stops right after its S1 block + margin, and
 * the caller continues with x + *consumed), else *found = 0 and consumed = n. Chunking does not
 * change the result. Non-finite samples: AM_EFORMAT, nothing consumed. Does not allocate. */
am_status phy_beacon_rx_execute(phy_beacon_rx *q,
                                const float complex *x,
                                size_t n,
                                size_t *consumed,
                                int *found,
                                phy_beacon_est *est);

/* Genie-timed estimate: S0a's first sample is x[0], zero CFO assumed; n >= (3 + reps) (M + cp).
 * h is the maximum-ratio combination of S0a, S0b, S1 and the reps training blocks; n0 is measured
 * on S0's odd used bins as in §5.2. */
am_status
phy_beacon_rx_estimate_at(phy_beacon_rx *q, const float complex *x, size_t n, phy_beacon_est *est);

#endif
