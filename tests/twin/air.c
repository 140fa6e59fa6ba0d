/* tests of the twins' shared air (host/twin/air.c) as a peer that does not follow its protocol:
 * requests whose ticks or lengths are outside the air's range (a tick or count beyond 2^61, below
 * -1, a negative timeout) are refused with an error reply naming the field and its value,
 * never summed into an overflow (the sanitizer build aborts on one); the air serves the next
 * request as before. Its time stops at 2^62 whatever the requests in range ask. */
#include <complex.h>
#include <stdint.h>
#include <string.h>
#include <zmq.h>

#include "am_test.h"
#include "twin/air.h"

/* One request (and a TX burst of n samples), its reply and the error text of a refusal. */
static int ask(void *s, const twin_air_req *q, size_t n, twin_air_rep *rep, char *msg, size_t cap)
{
    static float complex x[64];
    for (size_t i = 0; i < 64; i++)
        x[i] = 1e-3f;
    if (zmq_send(s, q, sizeof *q, n ? ZMQ_SNDMORE : 0) < 0 ||
        (n && zmq_send(s, x, n * sizeof *x, 0) < 0))
        return 0;
    memset(rep, 0, sizeof *rep);
    msg[0] = '\0';
    if (zmq_recv(s, rep, sizeof *rep, 0) != (int)sizeof *rep)
        return 0;
    int more = 0;
    size_t ml = sizeof more;
    zmq_getsockopt(s, ZMQ_RCVMORE, &more, &ml);
    if (more) {
        int k = zmq_recv(s, msg, cap - 1, 0);
        msg[k > 0 ? ((size_t)k < cap - 1 ? (size_t)k : cap - 1) : 0] = '\0';
    }
    return 1;
}

AM_TEST(hostile_requests_refused, unit)
{
    void *ctx = zmq_ctx_new();
    AM_REQUIRE(ctx, "zmq context");
    twin_air_cfg c = {.fs = 1e6, .loss_db = 60, .pace = 1, .hold_s = 0.5};
    twin_air *air = NULL;
    AM_CHECK_OK(twin_air_start(ctx, "inproc://hostile-air", &c, &air));
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int tmo = 10000, zero = 0;
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    AM_REQUIRE(air && zmq_connect(s, "inproc://hostile-air") == 0, "connect");
    twin_air_rep rep;
    char msg[256];
    twin_air_req q = {.op = TWIN_AIR_JOIN};
    AM_REQUIRE(ask(s, &q, 0, &rep, msg, sizeof msg) && rep.status == 0, "JOIN: %d %s", rep.status,
               msg);
    const uint32_t dev = rep.dev;
    const struct {
        uint32_t op;
        int64_t a, b;
        size_t n;
        const char *want;
    } bad[] = {
        {TWIN_AIR_TX, INT64_MAX - 10, 0, 64, "a = 9223372036854775797"},
        {TWIN_AIR_TX, -2, 0, 64, "a = -2"},
        {TWIN_AIR_TX, 1000, -1, 64, "b = -1"},
        {TWIN_AIR_RXSTART, INT64_MAX - 1, 100, 0, "a = 9223372036854775806"},
        {TWIN_AIR_RXSTART, (int64_t)1 << 62, (int64_t)1 << 62, 0, "a = 4611686018427387904"},
        {TWIN_AIR_RXSTART, -1, INT64_MAX, 0, "b = 9223372036854775807"},
        {TWIN_AIR_WAIT, INT64_MIN, 10, 0, "a = -9223372036854775808"},
        {TWIN_AIR_WAIT, 10, INT64_MAX, 0, "b = 9223372036854775807"},
        {TWIN_AIR_RX, INT64_MAX, 10, 0, "a = 9223372036854775807"},
        {TWIN_AIR_RX, 100, INT64_MAX, 0, "b = 9223372036854775807"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        q = (twin_air_req){
            .op = bad[i].op, .dev = dev, .a = bad[i].a, .b = bad[i].b, .n = (uint32_t)bad[i].n};
        AM_REQUIRE(ask(s, &q, bad[i].n, &rep, msg, sizeof msg), "case %zu: no reply", i);
        AM_CHECK(rep.status == AM_EFORMAT && strstr(msg, bad[i].want) && !strchr(msg, '\n'),
                 "case %zu (op %u, a %lld, b %lld): status %d, '%s' (want AM_EFORMAT naming '%s')",
                 i, bad[i].op, (long long)bad[i].a, (long long)bad[i].b, rep.status, msg,
                 bad[i].want);
    }
    /* still serving: the time, a burst now and a stream of its own */
    q = (twin_air_req){.op = TWIN_AIR_NOW, .dev = dev};
    AM_CHECK(ask(s, &q, 0, &rep, msg, sizeof msg) && rep.status == 0 && rep.t >= 0,
             "NOW after the refusals: %d %s", rep.status, msg);
    q = (twin_air_req){.op = TWIN_AIR_TX, .dev = dev, .a = -1, .b = 64, .n = 64};
    AM_CHECK(ask(s, &q, 64, &rep, msg, sizeof msg) && rep.status == 0 && rep.code == 0,
             "TX now: %d %d %s", rep.status, rep.code, msg);
    q = (twin_air_req){.op = TWIN_AIR_RXSTART, .dev = dev, .a = -1, .b = 100};
    AM_CHECK(ask(s, &q, 0, &rep, msg, sizeof msg) && rep.status == 0 && rep.code == 0,
             "RXSTART now: %d %d %s", rep.status, rep.code, msg);
    q = (twin_air_req){.op = TWIN_AIR_LEAVE, .dev = dev};
    AM_CHECK(ask(s, &q, 0, &rep, msg, sizeof msg) && rep.status == 0, "LEAVE");
    zmq_close(s);
    twin_air_stop(air);
    zmq_ctx_term(ctx);
}

/* Timeouts in range that move the air's time: a device that holds the air (it streamed) and asks
 * for samples of a stream that has ended with a timeout of 2^61 ticks moves T by 2^61 at each
 * request (nobody else holds the air); T stops at 2^62 and every request is still answered (at
 * the fourth, T + 2^61 overflowed). */
AM_TEST(time_stops_at_its_end, unit)
{
    void *ctx = zmq_ctx_new();
    AM_REQUIRE(ctx, "zmq context");
    twin_air_cfg c = {.fs = 1e6, .loss_db = 60, .pace = 1, .hold_s = 60};
    twin_air *air = NULL;
    AM_CHECK_OK(twin_air_start(ctx, "inproc://hostile-air-t", &c, &air));
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    int tmo = 10000, zero = 0;
    zmq_setsockopt(s, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    AM_REQUIRE(air && zmq_connect(s, "inproc://hostile-air-t") == 0, "connect");
    twin_air_rep rep;
    char msg[256];
    twin_air_req q = {.op = TWIN_AIR_JOIN};
    AM_REQUIRE(ask(s, &q, 0, &rep, msg, sizeof msg) && rep.status == 0, "JOIN: %d %s", rep.status,
               msg);
    const uint32_t dev = rep.dev;
    const int64_t end = (int64_t)1 << 62, step = (int64_t)1 << 61;
    q = (twin_air_req){.op = TWIN_AIR_RXSTART, .dev = dev, .a = -1, .b = 16};
    AM_REQUIRE(ask(s, &q, 0, &rep, msg, sizeof msg) && rep.status == 0 && rep.code == 0,
               "RXSTART: %d %d %s", rep.status, rep.code, msg);
    int64_t last = rep.t;
    for (int i = 0; i < 6; i++) {
        q = (twin_air_req){.op = TWIN_AIR_RX, .dev = dev, .a = 16, .b = step};
        AM_REQUIRE(ask(s, &q, 0, &rep, msg, sizeof msg), "RX %d: no reply", i);
        AM_CHECK(rep.status == 0 && rep.t >= last && rep.t <= end,
                 "RX %d: status %d '%s', T %lld after %lld (at most 2^62)", i, rep.status, msg,
                 (long long)rep.t, (long long)last);
        last = rep.t;
    }
    AM_CHECK(last == end, "T %lld after six timeouts of 2^61, want 2^62", (long long)last);
    q = (twin_air_req){.op = TWIN_AIR_LEAVE, .dev = dev};
    AM_CHECK(ask(s, &q, 0, &rep, msg, sizeof msg) && rep.status == 0, "LEAVE");
    zmq_close(s);
    twin_air_stop(air);
    zmq_ctx_term(ctx);
}
