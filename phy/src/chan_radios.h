/* phy/chan_radios (internal): the emulator's radios, one phy_impair per agent and one for the
 * server, and the four places where phy_chan calls them (agent TX before its channel, server RX on
 * the received sum, server TX before the downlink, agent RX after it). Not a public API. */
#ifndef AM_PHY_CHAN_RADIOS_H
#define AM_PHY_CHAN_RADIOS_H

#include <complex.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "phy/chan.h"
#include "phy/impair.h"

typedef struct chan_radios chan_radios;

/* K agents' radios and the server's (radio index K), all with cfg but each with its own seed from
 * (seed, radio): an agent's radio does not depend on K. *out = NULL (nothing to do) when cfg is
 * NULL or ideal. */
am_status
chan_radios_create(const phy_impair_cfg *cfg, unsigned K, uint64_t seed, chan_radios **out);
void chan_radios_destroy(chan_radios *r); /* NULL is a no-op */
void chan_radios_reset(chan_radios *r);
void chan_radios_reseed(chan_radios *r, uint64_t seed); /* noise streams only */
void chan_radios_retune(chan_radios *r);
void chan_radios_new_timeline(chan_radios *r); /* every radio's Wiener phase back to 0 */
unsigned chan_radios_server(const chan_radios *r); /* K */
const phy_impair *chan_radios_get(const chan_radios *r, unsigned radio);

/* Radio `radio`'s TX of a burst of n samples (a new burst: phy_impair_start_at(n0), then the
 * flush zeros): *out points at n samples owned by r (valid until the next call for that radio),
 * the impaired burst on the nominal grid cut or zero-padded to n. Grows the radio's buffer when a
 * longer burst than ever before comes. n0: the LO's tick of the burst's sample 0 on the carriers'
 * time line (its lead, plus phy_chan_cfg.ul_tick0 in the uplink). */
am_status chan_radios_tx(chan_radios *r,
                         unsigned radio,
                         const float complex *x,
                         size_t n,
                         uint64_t n0,
                         const float complex **out);
/* Every sending agent's TX (tx[k] != NULL, or with src: active == NULL or active[k], the burst
 * fetched whole from src on thread 0): *out = K pointers owned by r (NULL for a silent agent). */
am_status chan_radios_tx_all(chan_radios *r,
                             const float complex *const *tx,
                             phy_chan_source src,
                             void *user,
                             const unsigned char *active,
                             size_t n,
                             uint64_t n0,
                             const float complex *const **out);
/* Radio `radio`'s RX over y[0..n) in place (a new stream, the LO from tick n0 as in
 * chan_radios_tx), its level (AGC) set from the mean power of y[a..b); the output is cut or
 * zero-padded to n. */
am_status chan_radios_rx(
    chan_radios *r, unsigned radio, float complex *y, size_t n, size_t a, size_t b, uint64_t n0);

#endif
