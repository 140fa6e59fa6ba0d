/* host/round/loopback: a reference SigMF recording made by airmeta's own transmitter and channel
 * emulator (docs/air-interface.md §2-§5, §7), with the true aggregate of every burst beside it,
 * so that replaying it can be scored against the truth and the §5 floor (captures/).
 *
 * Per burst K agents draw N(0,1) payloads, precode by truncated inversion of their true channel
 * (genie CSI, host/round/genie.h) and transmit at once; the emulator adds them up. Written:
 *   BASE.sigmf-meta/.sigmf-data   the recording, one airmeta-burst annotation per burst
 *   BASE.truth.f32                per burst L little-endian float32: the average of the agents
 *                                 active on each entry's bin (0 where none is)
 *   BASE.truth.json               parameters; per burst its start, true active count, §5 floor
 * Same configuration, same files. */
#ifndef AM_HOST_ROUND_LOOPBACK_H
#define AM_HOST_ROUND_LOOPBACK_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "phy/sigmf.h"
#include "round/genie.h"

typedef struct lb_cfg {
    unsigned bursts, gap, lead; /* lead 0 = 3 blocks */
    const char *out;            /* recording base name */
} lb_cfg;

/* The recording's state and, after loopback_record, its per-burst figures. */
typedef struct lb_state {
    genie *g;
    phy_sigmf_writer *cap;
    float *truth;     /* bursts x L: active agents' average per entry (0 where none) */
    unsigned char *n; /* bursts x L: active agents per entry */
    uint64_t *start;  /* bursts: annotated start (S0a of the nominal burst) */
    double *floor_db, *active_true;
    size_t burst_len; /* samples per burst */
    uint64_t samples; /* samples in the recording */
} lb_state;

/* Makes the recording of c and g (payload length L; c->lead and g's payload and padding are
 * resolved here); cmdline is stored in its description; base receives the base name (base_cap
 * bytes). Free st with lb_free whatever the result. */
am_status loopback_record(lb_cfg *c, genie_cfg *g, unsigned L, const char *cmdline,
                          lb_state *st, char *base, size_t base_cap);
void lb_free(lb_state *st);

#endif
