/* tests of the zmq radio on 127.0.0.1 only: a known timed burst comes back bit-exact with its
 * timestamps; malformed messages (short, bad magic, wrong version, size mismatch, NaN, oversized,
 * wrong rate) are rejected and counted; timeouts; PUB/SUB broadcast; RX start trims. */
#include <stdint.h>
#include <zmq.h>

#include "am_test.h"
#include "core/rng.h"
#include "radio/radio.h"

/* The endpoint a radio actually bound ("tcp://127.0.0.1:*" picks the port). */
static void bound(const radio *r, const char *which, char *ep, size_t cap)
{
    radio_info in;
    radio_get_info(r, &in);
    const char *p = strstr(in.device, which);
    ep[0] = '\0';
    AM_CHECK(p != NULL, "no %s in the device string '%s'", which, in.device);
    if (!p)
        return;
    p += strlen(which);
    size_t n = strcspn(p, " ");
    if (n >= cap)
        n = cap - 1;
    memcpy(ep, p, n);
    ep[n] = '\0';
}

static int64_t tick(radio_time t)
{
    return radio_time_to_ticks(t, 1e6);
}

AM_TEST(loopback_bit_exact, unit)
{
    radio *tx = NULL, *rx = NULL;
    AM_REQUIRE_OK(radio_open("zmq", "tx=tcp://127.0.0.1:*,rate=1e6,timeout=5", &tx));
    char ep[256], args[320];
    bound(tx, "tx=", ep, sizeof ep);
    AM_REQUIRE(strncmp(ep, "tcp://127.0.0.1:", 16) == 0 && ep[16] != '*', "bound %s", ep);
    snprintf(args, sizeof args, "rx=%s,rate=1e6", ep);
    AM_REQUIRE_OK(radio_open("zmq", args, &rx));
    enum { N = 3000 };
    static float complex x[N], y[N];
    am_rng g;
    am_rng_seed(&g, 99);
    for (int i = 0; i < N; i++)
        x[i] = am_rng_cnormal(&g);
    radio_time at = {12, 0.125};
    AM_REQUIRE_OK(radio_rx_start(rx, &at));
    AM_REQUIRE_OK(radio_tx_burst(tx, x, N, &at));
    AM_REQUIRE_OK(radio_tx_flush(tx, 1.0));
    size_t have = 0;
    int64_t want = tick(at);
    while (have < N) {
        size_t n = 0;
        radio_time t0;
        AM_REQUIRE_OK(radio_rx(rx, y + have, 1024, &n, &t0, 5.0));
        AM_CHECK(tick(t0) == want + (int64_t)have, "t0 tick %lld want %lld", (long long)tick(t0),
                 (long long)(want + (int64_t)have));
        AM_CHECK(n == (N - have < 1024 ? N - have : 1024), "chunk %zu", n);
        have += n;
    }
    AM_CHECK(memcmp(x, y, sizeof x) == 0, "bit-exact");
    /* the receiver's clock follows the stream */
    radio_time now;
    AM_REQUIRE_OK(radio_get_time(rx, &now));
    AM_CHECK(tick(now) == want + N, "rx clock %lld", (long long)tick(now));
    radio_stats st;
    radio_get_stats(rx, &st);
    AM_CHECK(st.rx_samples == N && st.malformed == 0, "rx stats");
    radio_get_stats(tx, &st);
    AM_CHECK(st.tx_bursts == 1 && st.tx_samples == N, "tx stats");
    radio_close(tx);
    radio_close(rx);
}

/* Raw message: header fields as given, then n_payload samples of value v. */
static void send_raw(void *s,
                     uint32_t magic,
                     uint16_t ver,
                     uint32_t n_hdr,
                     size_t n_payload,
                     int64_t ts,
                     double rate,
                     float v)
{
    size_t len = 32 + 8 * n_payload;
    unsigned char *m = calloc(1, len);
    uint16_t flags = 0;
    uint32_t res = 0;
    memcpy(m, &magic, 4);
    memcpy(m + 4, &ver, 2);
    memcpy(m + 6, &flags, 2);
    memcpy(m + 8, &n_hdr, 4);
    memcpy(m + 12, &res, 4);
    memcpy(m + 16, &ts, 8);
    memcpy(m + 24, &rate, 8);
    for (size_t i = 0; i < 2 * n_payload; i++)
        memcpy(m + 32 + 4 * i, &v, 4);
    zmq_send(s, m, len, 0);
    free(m);
}

/* A zmq radio (1 MS/s, bursts of up to 64 samples) receiving from push, bound here: raw messages */
static void raw_rx(void *push, radio **rx)
{
    AM_REQUIRE(zmq_bind(push, "tcp://127.0.0.1:*") == 0, "bind");
    char ep[256], args[320];
    size_t len = sizeof ep;
    zmq_getsockopt(push, ZMQ_LAST_ENDPOINT, ep, &len);
    snprintf(args, sizeof args, "rx=%s,rate=1e6,max_samps=64", ep);
    AM_REQUIRE_OK(radio_open("zmq", args, rx));
}

AM_TEST(malformed_rejected_and_counted, unit)
{
    void *ctx = zmq_ctx_new();
    void *push = zmq_socket(ctx, ZMQ_PUSH);
    radio *rx = NULL;
    raw_rx(push, &rx);
    AM_REQUIRE(rx != NULL, "rx radio");
    radio_time zero = {0, 0.0};
    AM_REQUIRE_OK(radio_rx_start(rx, &zero));
    const uint32_t M = 0x51494D41u;
    send_raw(push, M, 1, 4, 4, 1000, 1e6, 0.5f);        /* good */
    zmq_send(push, "short", 5, 0);                      /* shorter than a header */
    send_raw(push, 0xDEADBEEFu, 1, 4, 4, 2000, 1e6, 1); /* bad magic */
    send_raw(push, M, 2, 4, 4, 2000, 1e6, 1);           /* wrong version */
    send_raw(push, M, 1, 10, 9, 2000, 1e6, 1);          /* header n vs payload bytes */
    send_raw(push, M, 1, 4, 4, 2000, 1e6, NAN);         /* NaN samples */
    send_raw(push, M, 1, 4, 4, 2000, 1e6, INFINITY);    /* Inf samples */
    send_raw(push, M, 1, 65, 65, 2000, 1e6, 1);         /* oversized: max_samps=64 */
    send_raw(push, M, 1, 0, 0, 2000, 1e6, 1);           /* empty burst */
    send_raw(push, M, 1, 4, 4, 2000, 2e6, 1);           /* another sample rate */
    send_raw(push, M, 1, 4, 4, INT64_MAX - 10, 1e6, 1); /* absurd timestamp */
    send_raw(push, M, 1, 3, 3, 5000, 1e6, -0.25f);      /* good */
    float complex y[16];
    size_t n = 0;
    radio_time t0;
    AM_REQUIRE_OK(radio_rx(rx, y, 16, &n, &t0, 5.0));
    AM_CHECK(n == 4 && tick(t0) == 1000 && y[0] == 0.5f + 0.5f * I && y[3] == y[0], "first");
    AM_REQUIRE_OK(radio_rx(rx, y, 16, &n, &t0, 5.0));
    AM_CHECK(n == 3 && tick(t0) == 5000 && y[2] == -0.25f - 0.25f * I, "last good one");
    radio_stats st;
    radio_get_stats(rx, &st);
    AM_CHECK(st.malformed == 10, "malformed %llu", (unsigned long long)st.malformed);
    AM_CHECK(st.rx_samples == 7, "rx_samples %llu", (unsigned long long)st.rx_samples);
    /* a timeout after rejections says why */
    send_raw(push, 0x1u, 1, 4, 4, 2000, 1e6, 1);
    AM_CHECK(radio_rx(rx, y, 16, &n, &t0, 0.3) == AM_ETIMEOUT && n == 0, "timeout");
    AM_CHECK(strstr(am_last_error(), "1 malformed rejected, last: bad magic") != NULL, "%s",
             am_last_error());
    radio_close(rx);
    zmq_close(push);
    zmq_ctx_term(ctx);
}

/* A peer's timestamps at both ends of the range the header allows (+-2^62): the first moves this
 * radio's clock to 2^62, so the next RX start lies there; the second, 2^63 ticks before it, is
 * dropped as wholly before the start (the gap once overflowed int64_t: UBSan). */
AM_TEST(timestamp_extremes, unit)
{
    void *ctx = zmq_ctx_new();
    void *push = zmq_socket(ctx, ZMQ_PUSH);
    radio *rx = NULL;
    raw_rx(push, &rx);
    AM_REQUIRE(rx != NULL, "rx radio");
    AM_REQUIRE_OK(radio_rx_start(rx, NULL));
    const uint32_t M = 0x51494D41u;
    const int64_t E = (int64_t)1 << 62;
    send_raw(push, M, 1, 4, 4, E, 1e6, 0.5f);
    float complex y[16];
    size_t n = 0;
    radio_time t0;
    AM_REQUIRE_OK(radio_rx(rx, y, 16, &n, &t0, 5.0));
    AM_CHECK(n == 4 && tick(t0) == E, "at +2^62: n %zu", n);
    AM_REQUIRE_OK(radio_rx_start(rx, NULL)); /* at this radio's clock: 2^62 + 4 */
    send_raw(push, M, 1, 4, 4, -E, 1e6, 1.0f); /* 2^63 + 4 ticks before the start */
    send_raw(push, M, 1, 8, 8, E, 1e6, -0.25f); /* trimmed to its last 4 */
    AM_REQUIRE_OK(radio_rx(rx, y, 16, &n, &t0, 5.0));
    AM_CHECK(n == 4 && tick(t0) == E + 4 && y[3] == -0.25f - 0.25f * I, "the one after: n %zu",
             n);
    radio_stats st;
    radio_get_stats(rx, &st);
    AM_CHECK(st.malformed == 0 && st.rx_samples == 8, "malformed %llu rx_samples %llu",
             (unsigned long long)st.malformed, (unsigned long long)st.rx_samples);
    radio_close(rx);
    zmq_close(push);
    zmq_ctx_term(ctx);
}

AM_TEST(timeouts, unit)
{
    radio *tx = NULL, *rx = NULL;
    /* PUSH with nobody connected: the send times out, nothing is counted */
    AM_REQUIRE_OK(radio_open("zmq", "tx=tcp://127.0.0.1:*,timeout=0.2", &tx));
    float complex x[8] = {1};
    AM_CHECK(radio_tx_burst(tx, x, 8, NULL) == AM_ETIMEOUT, "no peer");
    AM_CHECK(strstr(am_last_error(), "nobody took the burst") != NULL, "%s", am_last_error());
    radio_stats st;
    radio_get_stats(tx, &st);
    AM_CHECK(st.tx_bursts == 0, "not counted");
    AM_CHECK(radio_rx_start(tx, NULL) == AM_EINVAL, "no rx endpoint");
    char ep[256], args[320];
    bound(tx, "tx=", ep, sizeof ep);
    snprintf(args, sizeof args, "rx=%s", ep);
    AM_REQUIRE_OK(radio_open("zmq", args, &rx));
    AM_REQUIRE_OK(radio_rx_start(rx, NULL));
    size_t n = 1;
    radio_time t0;
    float complex y[8];
    AM_CHECK(radio_rx(rx, y, 8, &n, &t0, 0.1) == AM_ETIMEOUT && n == 0, "nothing sent");
    AM_CHECK(radio_tx_burst(rx, x, 8, NULL) == AM_EINVAL, "no tx endpoint");
    radio_close(tx);
    radio_close(rx);
    radio *bad = NULL;
    AM_CHECK(radio_open("zmq", "tx=@nonsense://x", &bad) == AM_EIO && !bad, "bad endpoint");
    AM_CHECK(strstr(am_last_error(), "cannot bind 'nonsense://x'") != NULL, "%s", am_last_error());
}

AM_TEST(rx_start_trims_and_orders, unit)
{
    radio *tx = NULL, *rx = NULL;
    AM_REQUIRE_OK(radio_open("zmq", "tx=tcp://127.0.0.1:*,timeout=5", &tx));
    char ep[256], args[320];
    bound(tx, "tx=", ep, sizeof ep);
    snprintf(args, sizeof args, "rx=%s", ep);
    AM_REQUIRE_OK(radio_open("zmq", args, &rx));
    static float complex x[1000], y[1000];
    for (int i = 0; i < 1000; i++)
        x[i] = (float)i;
    radio_time start = radio_time_from_ticks(1500, 1e6);
    AM_REQUIRE_OK(radio_rx_start(rx, &start));
    radio_time a = radio_time_from_ticks(0, 1e6), b = radio_time_from_ticks(1000, 1e6);
    radio_time c = radio_time_from_ticks(1200, 1e6);
    AM_REQUIRE_OK(radio_tx_burst(tx, x, 1000, &a)); /* wholly before the start: dropped */
    AM_REQUIRE_OK(radio_tx_burst(tx, x, 1000, &b)); /* straddles: trimmed to 1500.. */
    AM_REQUIRE_OK(radio_tx_burst(tx, x, 1000, &c)); /* overlaps what was delivered */
    size_t n = 0;
    radio_time t0;
    AM_REQUIRE_OK(radio_rx(rx, y, 1000, &n, &t0, 5.0));
    AM_CHECK(n == 500 && tick(t0) == 1500 && y[0] == 500.0f && y[499] == 999.0f, "trimmed");
    AM_REQUIRE_OK(radio_rx(rx, y, 1000, &n, &t0, 5.0));
    AM_CHECK(n == 700 && tick(t0) == 1500 && y[0] == 300.0f, "second trimmed to the start");
    radio_stats st;
    radio_get_stats(rx, &st);
    AM_CHECK(st.timestamp_jumps == 1, "overlap counted: %llu",
             (unsigned long long)st.timestamp_jumps);
    radio_close(tx);
    radio_close(rx);
}

AM_TEST(pub_sub_broadcast, unit)
{
    radio *tx = NULL, *rx[2] = {0};
    AM_REQUIRE_OK(radio_open("zmq", "tx=tcp://127.0.0.1:*,tx_type=pub", &tx));
    char ep[256], args[320];
    bound(tx, "tx=", ep, sizeof ep);
    snprintf(args, sizeof args, "rx=%s,rx_type=sub", ep);
    for (int k = 0; k < 2; k++) {
        AM_REQUIRE_OK(radio_open("zmq", args, &rx[k]));
        AM_REQUIRE_OK(radio_rx_start(rx[k], NULL));
    }
    float complex x[5] = {1, 2, 3, 4, 5}, y[8];
    int got[2] = {0, 0};
    /* PUB drops until a subscriber has joined (ZeroMQ "slow joiner"): resend, bounded */
    for (int tries = 0; tries < 100 && !(got[0] && got[1]); tries++) {
        radio_time at = radio_time_from_ticks(100 * tries, 1e6);
        AM_REQUIRE_OK(radio_tx_burst(tx, x, 5, &at));
        for (int k = 0; k < 2; k++) {
            size_t n = 0;
            radio_time t0;
            while (radio_rx(rx[k], y, 8, &n, &t0, got[k] ? 0.0 : 0.05) == AM_OK) {
                AM_CHECK(n == 5 && memcmp(x, y, sizeof x) == 0, "payload");
                got[k] = 1;
            }
        }
    }
    AM_CHECK(got[0] && got[1], "both subscribers heard the burst");
    radio_close(tx);
    radio_close(rx[0]);
    radio_close(rx[1]);
}
