/* host/genie: K agents with true ("genie") channel knowledge over the channel emulator, a round at
 * a time: N(0,1) payloads, truncated inversion of each agent's true channel (docs/air-interface.md
 * §4), the OFDM bursts (§2-§3) superposed with multipath, offsets and AWGN (§5), and the truth a §5
 * receiver should recover. `airmeta demo` scores it live, `airmeta loopback` records it. */
#ifndef AM_HOST_GENIE_H
#define AM_HOST_GENIE_H

#include <complex.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "phy/frame.h"
#include "phy/impair.h"
#include "phy/ota_tx.h" /* phy_mapping */

typedef struct genie_cfg {
    unsigned agents;      /* K */
    unsigned nfft;        /* M; cp = M/8, default allocation */
    size_t payload_len;   /* L reals per agent and round */
    unsigned taps;        /* multipath taps per agent (1 = flat Rayleigh) */
    float delay_spread;   /* rms delay spread, samples */
    unsigned timing;      /* max per-agent timing offset; + taps - 1 must fit in the cp */
    float cfo;            /* receiver carrier offset common to all agents, subcarrier spacings */
    float agent_cfo;      /* max per-agent carrier offset (uniform), subcarrier spacings */
    float g_th, rho, eta; /* truncation threshold, power factor, payload scale (§4) */
    float snr_db;         /* per-agent SNR rho / N0 (§5) */
    uint64_t seed;        /* channels and noise (seed), payloads (stream 1000 of seed) */
    size_t max_pad;       /* the longest noise stretch a round puts before or after its burst */
    const phy_impair_cfg
        *impair; /* every radio's impairments (phy_chan_cfg.impair); NULL = ideal */
    phy_mapping mapping; /* payload mapping (§3; 0 = complex, §3.3 real) */
} genie_cfg;

typedef struct genie genie; /* opaque */

/* Validates (AM_EINVAL: "--timing T + --taps N - 1 exceeds the cyclic prefix (CP)" naming the
 * flags of both commands) and creates the transmitter, the emulator and every buffer. */
am_status genie_create(const genie_cfg *cfg, genie **out);
void genie_destroy(genie *q); /* NULL is a no-op */
const phy_frame *genie_frame(const genie *q);
size_t genie_burst_len(const genie *q);
am_status genie_set_snr(genie *q, float snr_db);
/* Samples a round's output may hold (lead and tail at max_pad). */
size_t genie_out_cap(const genie *q);

/* One round: new channels and payloads, the K precoded bursts through the emulator with lead noise
 * samples before and tail after (each <= max_pad): *y (valid until the next round) gets *ny. */
am_status genie_round(genie *q, size_t lead, size_t tail, const float complex **y, size_t *ny);

/* The last round's truth for payload entry j (on data bin data_bins[(j / 2) % M_data], §3; the
 * real mapping's data_bins[j % M_data], §3.3): the
 * number of agents active there (|h|^2 >= g_th) and, when > 0, their payloads' average *avg. */
unsigned genie_entry(const genie *q, size_t j, double *avg);
/* The last round's active agents per used bin, averaged over the used bins. */
double genie_active_true(const genie *q);

#endif
