/* host/replay: decode every airmeta burst of a SigMF capture with the streaming receiver.
 * Implements `airmeta replay` (docs/air-interface.md §7 captures, §5 receiver output). */
#ifndef AM_HOST_REPLAY_H
#define AM_HOST_REPLAY_H

#include <stdint.h>
#include <stdio.h>

#include "core/status.h"

#define REPLAY_GAIN_POOL_CAPTURE (~0u)

typedef struct replay_opts {
    const char *out;  /* payloads as little-endian float32, one burst after another; NULL = none.
                         Written to a temporary file, renamed into place only on success. */
    FILE *json;       /* one JSON object per burst (start, cfo, snr_db, active_mean, ...); NULL */
    FILE *text;       /* one human-readable line per burst; NULL */
    float threshold;  /* detection threshold (0 = the receiver's default) */
    unsigned gain_pool; /* the receiver's phy_ota_rx_cfg.gain_pool (0 = per-bin G);
                           REPLAY_GAIN_POOL_CAPTURE: the capture's airmeta:gain_pool (absent: 0) */
    size_t chunk;     /* samples per read (0 = 65536); results do not depend on it */
} replay_opts;

typedef struct replay_result {
    uint64_t samples; /* samples in the capture */
    uint64_t bursts;  /* bursts decoded */
    uint64_t rejected; /* detector triggers the synchroniser rejected */
} replay_result;

/* AM_OK with >= 1 burst; AM_ENOTFOUND when the capture holds no burst (nothing written to out);
 * otherwise the reader's / receiver's status with a message naming the capture. */
am_status replay_capture(const char *capture, const replay_opts *opts, replay_result *res);

#endif
