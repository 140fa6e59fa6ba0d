/* tests of host/net_air (the on-air data plane of server / agent --radio uhd) on the loop radio in
 * one process: the server's timed beacon, the agent's timestamped RX window, channel estimate and
 * timed burst, the server's window around the round's tick, decoded against the agent's payload. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "am_test.h"
#include "core/rng.h"
#include "net/net.h"
#include "net/net_air.h"
#include "phy/beacon.h"
#include "phy/ota_rx.h"

typedef struct got_burst {
    int n;
    uint64_t start;
    float *payload;
    size_t L;
} got_burst;

static am_status on_burst(const phy_ota_burst *b, void *user)
{
    got_burst *g = user;
    if (g->n++ == 0) {
        g->start = b->start;
        memcpy(g->payload, b->payload, g->L * sizeof *g->payload);
    }
    return AM_OK;
}

AM_TEST(loop_round, unit)
{
    const unsigned M = 256;
    const size_t L = 200;
    const double rate = 1e6;
    radio *srv = NULL, *agr = NULL, *noise = NULL;
    double r1 = 0, r2 = 0, r3 = 0;
    AM_CHECK(net_air_open("zmq", "", &srv, &r1) == AM_EINVAL && !srv, "zmq refused");
    AM_REQUIRE_OK(net_air_open("loop", "bus=net_air,rate=1e6", &srv, &r1));
    AM_REQUIRE_OK(net_air_open("loop", "bus=net_air,rate=1e6", &agr, &r2));
    AM_REQUIRE_OK(net_air_open("loop", "bus=net_air,rate=1e6", &noise, &r3));
    AM_CHECK(r1 == rate && r2 == rate && r3 == rate, "rates %g %g %g", r1, r2, r3);
    /* a device time with a fraction (PPS-shared on air): ticks count from device time 0 */
    const radio_time t_set = {1000, 0.25};
    AM_REQUIRE_OK(radio_set_time_now(srv, &t_set));
    int64_t B = 0;
    AM_REQUIRE_OK(net_air_tick_after(srv, rate, 0.01, &B));
    AM_CHECK(B == 1000250000 + 10000 + 1, "beacon tick %lld", (long long)B);

    net_agent *na = NULL;
    net_agent_cfg ac = {.nfft = M, .cp_len = 0, .payload_len = L, .smooth = 0, .cfo_comp = 1};
    AM_REQUIRE_OK(net_agent_create(&ac, &na));
    const phy_frame *f = net_agent_frame(na);
    const int64_t blk = (int64_t)phy_frame_block_len(f);
    const size_t bl = phy_beacon_len(f), blen = net_agent_burst_len(na);
    /* the server's rule (cmd_server.c air_round): the burst NET_AIR_TURN_S after the beacon */
    const int64_t T = B + (int64_t)ceil(NET_AIR_TURN_S * rate), w0 = T - 4 * blk, a0 = B - 2 * blk;
    const size_t dl_cap = bl + 16 * (size_t)blk, ul_cap = blen + 16 * (size_t)blk;
    float complex *beacon = malloc(bl * sizeof *beacon), *dl = malloc(dl_cap * sizeof *dl);
    float complex *ul = malloc(ul_cap * sizeof *ul), *burst = malloc(blen * sizeof *burst);
    float complex *nz = malloc(ul_cap * sizeof *nz), *dnz = malloc(dl_cap * sizeof *dnz);
    float *x = malloc(L * sizeof *x), *del = malloc(L * sizeof *del);
    got_burst g = {.payload = malloc(L * sizeof(float)), .L = L};
    AM_REQUIRE(beacon && dl && ul && burst && nz && dnz && x && del && g.payload, "alloc");
    am_rng r;
    am_rng_seed(&r, 3);
    AM_REQUIRE_OK(phy_beacon_write(f, beacon, bl));

    /* server: uplink window armed, beacon timed at B (verdict later) */
    radio_stats s0, s1;
    radio_get_stats(srv, &s0);
    AM_REQUIRE_OK(net_air_rx_arm(srv, rate, w0, ul_cap));
    AM_REQUIRE_OK(net_air_tx_at(srv, rate, beacon, bl, B, 0));
    /* receiver noise over the agent's window, 40 dB below the unit-power beacon */
    for (size_t i = 0; i < dl_cap; i++)
        dnz[i] = 0.01f * am_rng_cnormal(&r);
    AM_REQUIRE_OK(net_air_tx_at(noise, rate, dnz, dl_cap, a0, 1.0));
    /* agent: RX armed 100 samples earlier than the window it asks for (those are dropped) */
    const radio_time a_early = radio_time_from_ticks(a0 - 100, rate);
    AM_REQUIRE_OK(radio_rx_start(agr, &a_early));
    size_t got = 0, gaps = 0;
    AM_REQUIRE_OK(net_air_rx_collect(agr, rate, a0, dl, dl_cap, 1.0, 0.05, &got, &gaps));
    /* placed by timestamps: window sample i = noise[i] + beacon[i - 2 blocks] */
    AM_CHECK(got == dl_cap && gaps == 0, "agent window %zu of %zu (gaps %zu)", got, dl_cap, gaps);
    double e = 0;
    for (size_t i = 0; i < got; i++) {
        size_t k = i - 2 * (size_t)blk;
        e = fmax(e, cabs(dl[i] - dnz[i] - (i >= 2 * (size_t)blk && k < bl ? beacon[k] : 0)));
    }
    AM_CHECK(e < 1e-6, "window != noise + beacon at B (max |diff| %g)", e);
    net_beacon_info bi;
    AM_REQUIRE_OK(net_agent_beacon(na, dl, got, a0, B, 1.0f, 0.0f, 0, &bi));
    AM_REQUIRE(bi.found, "beacon not found");
    AM_CHECK(bi.delta == 0 && fabsf(bi.cfo) < 1e-3f, "delta %lld cfo %g", (long long)bi.delta,
             (double)bi.cfo);

    for (size_t j = 0; j < L; j++)
        x[j] = (float)am_rng_normal(&r);
    float eta, pw;
    net_payload_peak_power(x, L, &eta, &pw);
    AM_REQUIRE_OK(net_agent_burst(na, x, eta, T, burst, blen, del));
    AM_REQUIRE_OK(net_air_tx_at(agr, rate, burst, blen, T, 1.0));
    /* receiver noise over the whole window, 40 dB below the unit-gain burst */
    for (size_t i = 0; i < ul_cap; i++)
        nz[i] = 0.01f * am_rng_cnormal(&r);
    AM_REQUIRE_OK(net_air_tx_at(noise, rate, nz, ul_cap, w0, 1.0));

    AM_REQUIRE_OK(net_air_rx_collect(srv, rate, w0, ul, ul_cap, 1.0, 0.05, &got, &gaps));
    AM_CHECK(got == ul_cap && gaps == 0, "server window %zu of %zu (gaps %zu)", got, ul_cap, gaps);
    AM_REQUIRE_OK(radio_tx_flush(srv, 1.0));
    radio_get_stats(srv, &s1);
    AM_CHECK(!net_air_stats_bad(&s0, &s1), "beacon flagged");
    phy_ota_rx *rx = NULL;
    phy_ota_rx_cfg rc;
    phy_ota_rx_cfg_default(&rc);
    rc.frame.nfft = M;
    rc.payload_len = L;
    rc.eta = eta;
    rc.callback = on_burst;
    rc.user = &g;
    AM_REQUIRE_OK(phy_ota_rx_create(&rc, &rx));
    AM_REQUIRE_OK(phy_ota_rx_execute(rx, ul, got));
    AM_REQUIRE(g.n == 1, "%d bursts decoded", g.n);
    AM_CHECK(g.start == (uint64_t)(T - w0), "burst at window index %llu, expected %lld",
             (unsigned long long)g.start, (long long)(T - w0));
    double d2 = 0, x2 = 0;
    for (size_t j = 0; j < L; j++) {
        d2 += ((double)g.payload[j] - del[j]) * ((double)g.payload[j] - del[j]);
        x2 += (double)del[j] * del[j];
    }
    AM_CHECK(d2 / x2 < 2e-3, "payload NMSE %g", d2 / x2);

    /* a burst whose tick has passed is dropped and flagged (UHD_NOTES: a late burst) */
    radio_get_stats(agr, &s0);
    AM_CHECK(net_air_tx_at(agr, rate, burst, blen, T, 1.0) == AM_EDEVICE, "late burst accepted");
    radio_get_stats(agr, &s1);
    AM_CHECK(s1.late == s0.late + 1, "late count %llu -> %llu", (unsigned long long)s0.late,
             (unsigned long long)s1.late);
    /* nothing on the bus after the window: a timeout with nothing collected */
    AM_REQUIRE_OK(net_air_rx_arm(agr, rate, w0 + (int64_t)ul_cap, dl_cap));
    AM_CHECK(net_air_rx_collect(agr, rate, w0 + (int64_t)ul_cap, dl, dl_cap, 0.05, 0.05, &got,
                                &gaps) == AM_ETIMEOUT &&
                 got == 0,
             "empty window");

    phy_ota_rx_destroy(rx);
    net_agent_destroy(na);
    radio_close(srv);
    radio_close(agr);
    radio_close(noise);
    free(beacon);
    free(dl);
    free(ul);
    free(burst);
    free(nz);
    free(dnz);
    free(x);
    free(del);
    free(g.payload);
}
