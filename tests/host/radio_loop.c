/* tests of the in-memory loop radio: timed bursts from several transmitters land at their sample
 * offsets and sum exactly; RX timestamps; late bursts; bounded ring and overflow; blocking RX. */
#include <pthread.h>
#include <time.h>

#include "am_test.h"
#include "core/rng.h"
#include "radio/radio.h"

/* dyadic values k/16, |k| < 128: every sum of a few of them is exact in float */
static void dyadic(am_rng *g, float complex *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        x[i] = (float)((int)am_rng_below(g, 255) - 127) / 16.0f +
               I * ((float)((int)am_rng_below(g, 255) - 127) / 16.0f);
}

static int64_t tick(radio_time t)
{
    return radio_time_to_ticks(t, 1e6);
}

AM_TEST(three_tx_sum_exact, unit)
{
    enum { K = 3, TOTAL = 12000 };
    const size_t len[K] = {5000, 3000, 7000};
    const int64_t off[K] = {100, 2500, 4000}; /* samples after T0; bursts overlap */
    radio *tx[K] = {0}, *rx = NULL;
    float complex *b[K] = {0}, *want = NULL, *got = NULL;
    for (int k = 0; k < K; k++)
        AM_REQUIRE_OK(radio_open("loop", "bus=sum3,rate=1e6,ring=65536", &tx[k]));
    AM_REQUIRE_OK(radio_open("loop", "bus=sum3", &rx));
    radio_info in;
    radio_get_info(rx, &in);
    AM_CHECK(in.rate == 1e6 && in.max_burst == 65536, "joined bus: rate %g ring %zu", in.rate,
             in.max_burst);

    /* device time T0 = 100.25 s at the bus's current sample */
    const radio_time T0 = {100, 0.25};
    AM_REQUIRE_OK(radio_set_time_now(tx[0], &T0));
    radio_time now;
    AM_REQUIRE_OK(radio_get_time(rx, &now)); /* one bus, one clock */
    AM_CHECK(radio_time_cmp(now, T0) == 0, "now %lld+%.17g", (long long)now.secs, now.frac);

    am_rng g;
    am_rng_seed(&g, 42);
    want = calloc(TOTAL, sizeof *want);
    got = calloc(TOTAL, sizeof *got);
    AM_REQUIRE(want && got, "alloc");
    for (int k = 0; k < K; k++) {
        b[k] = malloc(len[k] * sizeof *b[k]);
        AM_REQUIRE(b[k], "alloc");
        dyadic(&g, b[k], len[k]);
        for (size_t i = 0; i < len[k]; i++)
            want[off[k] + (int64_t)i] += b[k][i]; /* closed form: y[t] = sum_k b_k[t - o_k] */
    }
    AM_REQUIRE_OK(radio_rx_start(rx, &T0));
    /* transmit in reverse time order: placement is by timestamp, not call order */
    for (int k = K - 1; k >= 0; k--) {
        radio_time at = radio_time_from_ticks(tick(T0) + off[k], 1e6);
        AM_REQUIRE_OK(radio_tx_burst(tx[k], b[k], len[k], &at));
    }
    size_t have = 0;
    int64_t expect_tick = tick(T0);
    while (have < TOTAL) {
        size_t n = 0;
        radio_time t0;
        am_status s = radio_rx(rx, got + have, 1000, &n, &t0, 0.0);
        if (s == AM_ETIMEOUT)
            break;
        AM_REQUIRE(s == AM_OK, "rx: %s", am_last_error());
        AM_REQUIRE(n > 0 && n <= 1000, "n = %zu", n);
        AM_CHECK(tick(t0) == expect_tick, "t0 tick %lld, expected %lld", (long long)tick(t0),
                 (long long)expect_tick);
        expect_tick += (int64_t)n;
        have += n;
    }
    /* the medium holds exactly up to the end of the last burst: 4000 + 7000 = 11000 */
    AM_CHECK(have == 11000, "received %zu samples", have);
    size_t bad = 0;
    for (size_t i = 0; i < have; i++)
        bad += got[i] != want[i];
    AM_CHECK(bad == 0, "%zu samples differ from the exact sum", bad);
    AM_CHECK(got[0] == 0 && got[100] == b[0][0] && got[2500] == b[0][2400] + b[1][0], "offsets");
    size_t n = 0;
    radio_time t0;
    AM_CHECK(radio_rx(rx, got, 10, &n, &t0, 0.0) == AM_ETIMEOUT && n == 0, "nothing more");
    radio_stats st;
    radio_get_stats(rx, &st);
    AM_CHECK(st.rx_samples == 11000 && st.late == 0 && st.overflows == 0, "rx stats");
    for (int k = 0; k < K; k++) {
        radio_get_stats(tx[k], &st);
        AM_CHECK(st.tx_bursts == 1 && st.tx_samples == len[k], "tx %d stats", k);
    }
    /* the clock advanced to what was read */
    AM_REQUIRE_OK(radio_get_time(tx[1], &now));
    AM_CHECK(tick(now) == tick(T0) + 11000, "now tick %lld", (long long)tick(now));
    for (int k = 0; k < K; k++) {
        radio_close(tx[k]);
        free(b[k]);
    }
    radio_close(rx);
    free(want);
    free(got);
}

AM_TEST(late_burst_dropped, unit)
{
    radio *r = NULL;
    AM_REQUIRE_OK(radio_open("loop", "bus=late", &r));
    float complex x[500], y[1000];
    for (int i = 0; i < 500; i++)
        x[i] = (float)(i + 1);
    radio_time t = {0, 0.0};
    AM_REQUIRE_OK(radio_rx_start(r, &t));
    radio_time at = radio_time_from_ticks(200, 1e6);
    AM_REQUIRE_OK(radio_tx_burst(r, x, 500, &at)); /* a handle hears itself on the medium */
    size_t n = 0;
    radio_time t0;
    AM_REQUIRE_OK(radio_rx(r, y, 1000, &n, &t0, 0.0));
    AM_CHECK(n == 700 && tick(t0) == 0, "n %zu t0 %lld", n, (long long)tick(t0));
    AM_CHECK(y[199] == 0 && y[200] == 1.0f && y[699] == 500.0f, "placement");
    /* time is now 700: a burst at 650 is late and dropped whole */
    radio_time early = radio_time_from_ticks(650, 1e6);
    AM_REQUIRE_OK(radio_tx_burst(r, x, 100, &early));
    radio_stats st;
    radio_get_stats(r, &st);
    AM_CHECK(st.late == 1 && st.tx_bursts == 1, "late %llu bursts %llu",
             (unsigned long long)st.late, (unsigned long long)st.tx_bursts);
    AM_CHECK(radio_rx(r, y, 1000, &n, &t0, 0.0) == AM_ETIMEOUT, "late burst not on air");
    /* an untimed burst goes out now (tick 700) */
    AM_REQUIRE_OK(radio_tx_burst(r, x, 3, NULL));
    AM_REQUIRE_OK(radio_rx(r, y, 1000, &n, &t0, 0.0));
    AM_CHECK(n == 3 && tick(t0) == 700 && y[0] == 1.0f && y[2] == 3.0f, "untimed at now");
    radio_close(r);
}

AM_TEST(ring_bounded_overflow, unit)
{
    radio *r = NULL;
    AM_REQUIRE_OK(radio_open("loop", "bus=ovf,ring=2048", &r));
    static float complex a[1500], b[1000], y[4096];
    for (int i = 0; i < 1500; i++)
        a[i] = 1.0f;
    for (int i = 0; i < 1000; i++)
        b[i] = (float)i + 2.0f * I;
    static float complex big[2049];
    AM_CHECK(radio_tx_burst(r, big, 2049, NULL) == AM_EINVAL, "burst longer than the ring");
    radio_time t = {0, 0.0};
    AM_REQUIRE_OK(radio_rx_start(r, &t));
    AM_REQUIRE_OK(radio_tx_burst(r, a, 1500, &t));
    /* a burst ending at 4000 needs indices 1952..3999: 0..1951 are retired unread */
    radio_time at = radio_time_from_ticks(3000, 1e6);
    AM_REQUIRE_OK(radio_tx_burst(r, b, 1000, &at));
    radio_stats st;
    radio_get_stats(r, &st);
    AM_CHECK(st.overflows == 1, "overflows %llu", (unsigned long long)st.overflows);
    size_t n = 0, have = 0;
    radio_time t0;
    AM_REQUIRE_OK(radio_rx(r, y, 4096, &n, &t0, 0.0));
    AM_CHECK(tick(t0) == 1952 && n == 2048, "resumed at %lld with %zu", (long long)tick(t0), n);
    have = n;
    for (size_t i = 0; i < have; i++) {
        int64_t k = 1952 + (int64_t)i;
        float complex w = k >= 3000 ? b[k - 3000] : 0.0f; /* a[] ended at 1500 */
        AM_REQUIRE(y[i] == w, "index %lld", (long long)k);
    }
    /* a burst before the oldest retained sample is late; RX start there is refused */
    AM_REQUIRE_OK(radio_tx_burst(r, a, 10, &t));
    radio_get_stats(r, &st);
    AM_CHECK(st.late == 1, "late %llu", (unsigned long long)st.late);
    AM_REQUIRE_OK(radio_rx_stop(r));
    AM_CHECK(radio_rx_start(r, &t) == AM_EINVAL, "RX start before the ring");
    AM_CHECK(strstr(am_last_error(), "oldest retained") != NULL, "%s", am_last_error());
    radio_close(r);
}

AM_TEST(ring_wraparound, unit)
{
    radio *r = NULL;
    AM_REQUIRE_OK(radio_open("loop", "bus=wrap,ring=1024", &r));
    static float complex a[1000], b[1000], y[1000];
    am_rng g;
    am_rng_seed(&g, 3);
    dyadic(&g, a, 1000);
    dyadic(&g, b, 1000);
    radio_time t = {0, 0.0};
    AM_REQUIRE_OK(radio_rx_start(r, &t));
    AM_REQUIRE_OK(radio_tx_burst(r, a, 1000, &t));
    size_t n = 0;
    radio_time t0;
    AM_REQUIRE_OK(radio_rx(r, y, 1000, &n, &t0, 0.0));
    AM_CHECK(n == 1000 && memcmp(y, a, sizeof a) == 0, "first burst");
    /* indices 1000..1999 occupy slots 1000..1023 and 0..975: both copies wrap */
    for (int k = 0; k < 3; k++) {
        radio_time at = radio_time_from_ticks(1000 + 1000 * k, 1e6);
        AM_REQUIRE_OK(radio_tx_burst(r, k % 2 ? a : b, 1000, &at));
        AM_REQUIRE_OK(radio_rx(r, y, 1000, &n, &t0, 0.0));
        AM_CHECK(n == 1000 && tick(t0) == 1000 + 1000 * k, "n %zu t0 %lld", n, (long long)tick(t0));
        AM_CHECK(memcmp(y, k % 2 ? a : b, sizeof a) == 0, "burst %d across the wrap", k);
    }
    radio_stats st;
    radio_get_stats(r, &st);
    AM_CHECK(st.overflows == 0 && st.late == 0, "read in time: no overflow");
    radio_close(r);
}

AM_TEST(buses_and_settings, unit)
{
    radio *a = NULL, *b = NULL, *c = NULL;
    AM_REQUIRE_OK(radio_open("loop", "bus=one,rate=2e6", &a));
    AM_REQUIRE_OK(radio_open("loop", "bus=two,rate=2e6", &b));
    AM_CHECK(radio_open("loop", "bus=one,rate=1e6", &c) == AM_EINVAL && !c, "rate conflict");
    AM_CHECK(strstr(am_last_error(), "already runs at 2000000") != NULL, "%s", am_last_error());
    float complex x[4] = {1, 2, 3, 4}, y[8];
    radio_time t = {0, 0.0};
    AM_REQUIRE_OK(radio_rx_start(b, &t));
    AM_REQUIRE_OK(radio_tx_burst(a, x, 4, &t));
    size_t n = 0;
    radio_time t0;
    AM_CHECK(radio_rx(b, y, 8, &n, &t0, 0.0) == AM_ETIMEOUT, "bus two hears nothing of bus one");
    /* rate can change only before samples moved */
    AM_CHECK(radio_set_rate(a, 1e6) == AM_EINVAL, "rate change on a busy bus");
    AM_CHECK(radio_set_rate(b, 4e6) == AM_EINVAL, "rate change while a receiver runs");
    AM_REQUIRE_OK(radio_rx_stop(b));
    AM_CHECK_OK(radio_set_rate(b, 4e6)); /* nothing moved on bus two */
    radio_info ib;
    radio_get_info(b, &ib);
    AM_CHECK(ib.rate == 4e6, "rate %g", ib.rate);
    AM_CHECK_OK(radio_set_freq(a, RADIO_TXRX, 2.4e9));
    AM_CHECK_OK(radio_set_tx_gain(a, 10));
    AM_CHECK(radio_set_rx_gain(a, NAN) == AM_EINVAL, "NaN gain");
    AM_CHECK(radio_set_clock_source(a, "rubidium") == AM_EINVAL, "bad source");
    AM_CHECK_OK(radio_set_clock_source(a, "external"));
    radio_info in;
    radio_get_info(a, &in);
    AM_CHECK(in.tx_freq == 2.4e9 && in.rx_freq == 2.4e9 && in.tx_gain == 10 &&
                 strcmp(in.clock_source, "external") == 0 && strcmp(in.backend, "loop") == 0,
             "info recorded");
    /* input checks common to every backend */
    float complex nan[2] = {1, NAN};
    AM_CHECK(radio_tx_burst(a, nan, 2, NULL) == AM_EINVAL, "NaN burst");
    AM_CHECK(radio_tx_burst(a, x, 0, NULL) == AM_EINVAL, "empty burst");
    radio_time bad = {0, 1.0};
    AM_CHECK(radio_tx_burst(a, x, 4, &bad) == AM_EINVAL, "frac 1.0");
    AM_CHECK(radio_rx(a, y, 8, &n, &t0, 0.0) == AM_EINVAL, "rx before rx_start");
    radio_close(a);
    radio_close(b);
}

AM_TEST(next_pps_sets_time_at_edge, unit)
{
    radio *r = NULL;
    AM_REQUIRE_OK(radio_open("loop", "bus=pps,rate=1e6", &r));
    radio_time t = {0, 0.0};
    float complex z[1] = {0};
    AM_REQUIRE_OK(radio_rx_start(r, &t));
    radio_time at = radio_time_from_ticks(299999, 1e6);
    AM_REQUIRE_OK(radio_tx_burst(r, z, 1, &at));
    static float complex y[300000];
    size_t n = 0;
    radio_time t0;
    AM_REQUIRE_OK(radio_rx(r, y, 300000, &n, &t0, 0.0)); /* bus clock now at sample 300000 */
    AM_REQUIRE(n == 300000, "n %zu", n);
    /* PPS edges every 1e6 samples: the next one is sample 1000000, which becomes 50.0 s */
    radio_time T = {50, 0.0};
    AM_REQUIRE_OK(radio_set_time_next_pps(r, &T));
    radio_time now;
    AM_REQUIRE_OK(radio_get_time(r, &now));
    AM_CHECK(now.secs == 49 && tick(now) == 50000000 - 700000, "now %lld+%.17g",
             (long long)now.secs, now.frac);
    radio_close(r);
}

typedef struct rx_job {
    radio *r;
    am_status s;
    size_t n;
    radio_time t0;
    float complex y[64];
} rx_job;

static void *rx_thread(void *p)
{
    rx_job *j = p;
    j->s = radio_rx(j->r, j->y, 64, &j->n, &j->t0, 5.0);
    return NULL;
}

AM_TEST(rx_waits_for_transmitter, unit)
{
    radio *tx = NULL, *rx = NULL;
    AM_REQUIRE_OK(radio_open("loop", "bus=wait", &tx));
    AM_REQUIRE_OK(radio_open("loop", "bus=wait", &rx));
    radio_time t = {3, 0.5};
    AM_REQUIRE_OK(radio_set_time_now(rx, &t));
    AM_REQUIRE_OK(radio_rx_start(rx, NULL)); /* now = 3.5 s */
    rx_job j = {.r = rx};
    pthread_t th;
    AM_REQUIRE(pthread_create(&th, NULL, rx_thread, &j) == 0, "thread");
    struct timespec d = {0, 50 * 1000 * 1000};
    nanosleep(&d, NULL);
    float complex x[16];
    for (int i = 0; i < 16; i++)
        x[i] = (float)i - 1.0f * I;
    radio_time at = radio_time_add(t, 16e-6);
    AM_REQUIRE_OK(radio_tx_burst(tx, x, 16, &at));
    pthread_join(th, NULL);
    AM_REQUIRE(j.s == AM_OK, "rx: %s", am_status_str(j.s));
    AM_CHECK(j.n == 32 && tick(j.t0) == 3500000, "n %zu t0 %lld", j.n, (long long)tick(j.t0));
    AM_CHECK(j.y[15] == 0 && j.y[16] == x[0] && j.y[31] == x[15], "burst after 16 zeros");
    /* with nobody transmitting the wait ends at the timeout */
    size_t n = 0;
    radio_time t0;
    AM_CHECK(radio_rx(rx, j.y, 64, &n, &t0, 0.05) == AM_ETIMEOUT, "timeout");
    radio_close(tx);
    radio_close(rx);
}
