/* host/ota_agent: bad configurations are refused naming the field; a burst needs a found beacon;
 * a short payload is sent as the payload zero-padded to L (the padded burst computed independently
 * is the same to the bit); delivered follows the precoder's truncated data bins (§3 mapping). The
 * round trip through channel and receiver is tested through its two callers (tests/host/agg_iq.c,
 * tests/host/net.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "am_test.h"
#include "core/rng.h"
#include "round/ota_agent.h"
#include "phy/beacon.h"

AM_TEST(bad_config, unit)
{
    ota_agent_cfg c = {.nfft = 256, .payload_len = 100, .smooth = 12, .cfo_comp = 1};
    ota_agent *q = NULL;
    c.smooth = 0;
    AM_CHECK(ota_agent_create(&c, &q) == AM_EINVAL && strstr(am_last_error(), "smooth"), "%s",
             am_last_error());
    c.smooth = 129;
    AM_CHECK(ota_agent_create(&c, &q) == AM_EINVAL && strstr(am_last_error(), "smooth"), "%s",
             am_last_error());
    c.smooth = 12;
    c.payload_len = 0;
    AM_CHECK(ota_agent_create(&c, &q) == AM_EINVAL && strstr(am_last_error(), "payload"), "%s",
             am_last_error());
    c.payload_len = 100;
    c.nfft = 65;
    AM_CHECK(ota_agent_create(&c, &q) == AM_EINVAL, "nfft 65 made an agent");
    AM_CHECK(q == NULL, "nothing made");
    ota_agent_destroy(NULL);
}

/* The beacon at 40 dB SNR, on time at tick 1000 of a stream starting at 700: found within a sample
 * of it, CFO ~0, nothing truncated; then the burst of 37 reals equals the burst of those reals
 * padded to 100. */
AM_TEST(padding_and_delivered, unit)
{
    const size_t L = 100, d = 37;
    ota_agent_cfg c = {.nfft = 256, .payload_len = L, .smooth = 12, .cfo_comp = 1};
    ota_agent *q = NULL;
    AM_REQUIRE_OK(ota_agent_create(&c, &q));
    const phy_frame *f = ota_agent_frame(q);
    const size_t bl = phy_beacon_len(f), n = bl + 900, blen = ota_agent_burst_len(q);
    float complex *x = calloc(n, sizeof *x), *b1 = malloc(blen * sizeof *b1),
                  *b2 = malloc(blen * sizeof *b2), p[256];
    float pay[100] = {0}, del[100];
    AM_REQUIRE(x && b1 && b2, "alloc");
    AM_REQUIRE_OK(phy_beacon_write(f, x + 300, bl));
    am_rng r;
    am_rng_seed(&r, 7);
    for (size_t i = 0; i < n; i++)
        x[i] += 0.01f * am_rng_cnormal(&r);
    ota_agent_link link;
    memset(&link, 0xff, sizeof link);
    AM_CHECK(ota_agent_burst(q, &(ota_agent_link){0}, p, pay, d, 1.0f, 0, b1, blen, NULL) ==
                 AM_EINVAL,
             "burst without a beacon");
    const ota_agent_sched late = {.beacon = 1200, .lo = 1180, .hi = 1260, .rho = 1, .g_th = 0};
    AM_REQUIRE_OK(ota_agent_beacon(q, x, n, 700, &late, p, &link));
    AM_CHECK(!link.found, "a beacon 200 ticks early taken");
    /* g_th 0.5: the beacon's bins have |H| = 1 up to the noise, none is truncated */
    const ota_agent_sched sc = {.beacon = 1000, .lo = 990, .hi = 1010, .rho = 1, .g_th = 0.5f};
    AM_REQUIRE_OK(ota_agent_beacon(q, x, n, 700, &sc, p, &link));
    AM_REQUIRE(link.found, "beacon not found");
    AM_CHECK(llabs(link.start - 1000) <= 1 && link.delta == link.start - 1000,
             "start %lld delta %lld", (long long)link.start, (long long)link.delta);
    AM_CHECK(fabsf(link.cfo) < 1e-3f && link.erased == 0, "cfo %g erased %u", (double)link.cfo,
             link.erased);
    for (size_t j = 0; j < d; j++)
        pay[j] = (float)j - 18.0f;
    float full[100] = {0};
    memcpy(full, pay, d * sizeof *pay);
    AM_REQUIRE_OK(ota_agent_burst(q, &link, p, pay, d, 20.0f, 77, b1, blen, del));
    AM_REQUIRE_OK(ota_agent_burst(q, &link, p, full, L, 20.0f, 77, b2, blen, NULL));
    AM_CHECK(memcmp(b1, b2, blen * sizeof *b1) == 0, "padded burst differs");
    for (size_t j = 0; j < d; j++)
        AM_CHECK(del[j] == pay[j], "delivered[%zu] %g, nothing truncated", j, (double)del[j]);
    /* the data bin of entries 0 and 1 truncated: those two are not delivered, the rest are */
    const unsigned b0 = phy_frame_data_bins(f)[0];
    p[b0] = 0.0f;
    AM_REQUIRE_OK(ota_agent_burst(q, &link, p, pay, d, 20.0f, 77, b1, blen, del));
    for (size_t j = 0; j < d; j++)
        AM_CHECK(del[j] == (j < 2 ? 0.0f : pay[j]), "delivered[%zu] %g", j, (double)del[j]);
    AM_CHECK(ota_agent_burst(q, &link, p, pay, L + 1, 20.0f, 77, b1, blen, del) == AM_EINVAL,
             "payload longer than L");
    free(x);
    free(b1);
    free(b2);
    ota_agent_destroy(q);
}

/* ota_agent_track: the mean of the last len estimates, summed oldest first, so two trackers fed
 * different histories agree bit for bit once their last len estimates are the same (a resumed run
 * rebuilds its trackers by replaying len beacons); the mean of n < len at first; a ramp followed
 * with the lag (len - 1) / 2 of docs/air-interface.md §4.2; len clamped. */
AM_TEST(track_window, unit)
{
    ota_agent_track a, b;
    ota_agent_track_init(&a, 4);
    AM_CHECK(ota_agent_track_value(&a) == 0.0, "empty: 0");
    ota_agent_track_push(&a, 1.0);
    ota_agent_track_push(&a, 2.0);
    AM_CHECK(ota_agent_track_value(&a) == 1.5, "mean of 2: %g", ota_agent_track_value(&a));
    for (int i = 0; i < 10; i++)
        ota_agent_track_push(&a, 0.1 * i - 0.37);
    ota_agent_track_init(&b, 4);
    ota_agent_track_push(&b, 123.0); /* a different, longer-ago history */
    for (int i = 6; i < 10; i++)
        ota_agent_track_push(&b, 0.1 * i - 0.37);
    double want = 0.0;
    for (int i = 6; i < 10; i++)
        want += 0.1 * i - 0.37;
    want /= 4.0;
    AM_CHECK(ota_agent_track_value(&a) == ota_agent_track_value(&b) &&
                 ota_agent_track_value(&a) == want,
             "window: %.17g %.17g want %.17g", ota_agent_track_value(&a), ota_agent_track_value(&b),
             want);
    /* a frequency ramp c0 + d r is followed with a lag of (len - 1) / 2 rounds: after round r
     * the value is c0 + d (r - (len - 1) / 2), here len 4: 1.5 rounds */
    ota_agent_track_init(&a, 4);
    for (int r = 0; r <= 20; r++)
        ota_agent_track_push(&a, 0.125 + 0.0078125 * r);
    AM_CHECK(fabs(ota_agent_track_value(&a) - (0.125 + 0.0078125 * (20 - 1.5))) < 1e-15,
             "ramp: %.17g", ota_agent_track_value(&a));
    ota_agent_track_init(&a, 0);
    AM_CHECK(a.len == 1, "len 0 -> 1");
    ota_agent_track_push(&a, 0.25);
    ota_agent_track_push(&a, -0.5);
    AM_CHECK(ota_agent_track_value(&a) == -0.5, "len 1: the last estimate");
    ota_agent_track_init(&a, 100000);
    AM_CHECK(a.len == OTA_AGENT_TRACK_MAX, "len clamped to %u", OTA_AGENT_TRACK_MAX);
}
