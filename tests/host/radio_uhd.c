/* tests of the uhd radio. Without a USRP (CI, label unit): opening fails cleanly with AM_EDEVICE,
 * a message saying "no USRP" with the device arguments tried, and bad --radio-args are refused
 * before UHD is touched. With a B210 attached (label hardware): timed TX/RX round trip. */
#include <stdlib.h>

#include "am_test.h"
#include "radio/radio.h"

AM_TEST(no_device_is_clean_error, unit)
{
#ifdef AM_HAVE_UHD
    radio *r = (radio *)1;
    /* a serial no device has: also correct on a machine that has a USRP attached */
    am_status s = radio_open(
        "uhd", "serial=AIRMETA-NONE-0,rate=1e6,clock=internal,tx_gain=60,rx_gain=40", &r);
    AM_CHECK(s == AM_EDEVICE, "status %s", am_status_str(s));
    AM_CHECK(r == NULL, "no handle");
    const char *m = am_last_error();
    AM_CHECK(strstr(m, "no USRP found for args "
                       "'type=b200,serial=AIRMETA-NONE-0,master_clock_rate=32000000'") != NULL,
             "%s", m);
    AM_CHECK(strchr(m, '\n') == NULL, "one line: %s", m);
    /* twice: UHD's state after a failed make is usable */
    s = radio_open("uhd", "type=b200,serial=AIRMETA-NONE-1,tx_gain=0,rx_gain=0", &r);
    AM_CHECK(s == AM_EDEVICE && r == NULL, "second attempt %s", am_status_str(s));
    AM_CHECK(strstr(am_last_error(), "serial=AIRMETA-NONE-1") != NULL, "%s", am_last_error());
#else
    radio *r = NULL;
    AM_CHECK(radio_open("uhd", "", &r) == AM_ENOTSUP && !r, "built without UHD");
#endif
}

AM_TEST(bad_args_refused_before_device, unit)
{
    radio *r = NULL;
#ifdef AM_HAVE_UHD
    const char *bad[][2] = {
        {"rate=1e12", "rate=1e12 is outside"},
        {"clock=rubidium", "clock='rubidium' is not one of internal|external|gpsdo"},
        {"time=ntp", "time='ntp' is not one of"},
        {"freq=10", "freq=10 is outside"},
        {"channel=2", "channel=2 is outside 0..1"},
        {"tx_gain=nan", "tx_gain='nan' is not a finite number"},
        {"antenna=RX2", "unknown key 'antenna'"},
        {"sync=maybe", "sync='maybe' is not one of none|now|pps|gps"},
        {"rate=1e6,rx_gain=30", "tx_gain is required"},
        {"rate=1e6,tx_gain=30", "rx_gain is required"},
        {"tx_gain=1,rx_gain=1,backoff_db=-3", "backoff_db=-3 is outside"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        am_status s = radio_open("uhd", bad[i][0], &r);
        AM_CHECK(s == AM_EINVAL && !r, "'%s': %s", bad[i][0], am_status_str(s));
        AM_CHECK(strstr(am_last_error(), bad[i][1]) != NULL, "'%s': %s", bad[i][0],
                 am_last_error());
        AM_CHECK(strstr(am_last_error(), "radio 'uhd'") != NULL, "%s", am_last_error());
    }
#else
    AM_CHECK(radio_open("uhd", "rate=1e6", &r) == AM_ENOTSUP, "built without UHD");
#endif
}

/* Needs a B210 (AIRMETA_UHD_ARGS, default type=b200) with TX/RX looped to RX2 through >= 30 dB
 * attenuation. A timed burst goes out 0.2 s ahead and is found in the timestamped RX stream. */
AM_TEST(timed_burst_round_trip, hardware)
{
    const char *dev = getenv("AIRMETA_UHD_ARGS");
    char args[512];
    snprintf(args, sizeof args, "%s%srate=1e6,freq=915e6,tx_gain=50,rx_gain=30,rx_ant=RX2,backoff_db=0",
             dev ? dev : "", dev ? "," : "");
    radio *r = NULL;
    AM_REQUIRE_OK(radio_open("uhd", args, &r));
    enum { N = 2000, W = 400000 };
    static float complex x[N], y[W];
    for (int i = 0; i < N; i++)
        x[i] = 0.5f * cexpf(I * 0.05f * (float)i);
    radio_time now, at;
    AM_REQUIRE_OK(radio_get_time(r, &now));
    at = radio_time_add(now, 0.2);
    radio_time start = radio_time_add(now, 0.1);
    AM_REQUIRE_OK(radio_rx_start(r, &start));
    AM_REQUIRE_OK(radio_tx_burst(r, x, N, &at));
    size_t have = 0;
    radio_time first = {0, 0};
    while (have < W) {
        size_t n = 0;
        radio_time t0;
        AM_REQUIRE_OK(radio_rx(r, y + have, W - have, &n, &t0, 1.0));
        if (!have)
            first = t0;
        have += n;
    }
    AM_REQUIRE_OK(radio_tx_flush(r, 1.0));
    radio_rx_stop(r);
    radio_stats st;
    radio_get_stats(r, &st);
    AM_CHECK(st.late == 0 && st.underflows == 0 && st.seq_errors == 0, "no TX events");
    AM_CHECK(st.overflows == 0 && st.timestamp_jumps == 0, "clean RX");
    /* energy where the burst was scheduled, 100 ms after the RX start */
    int64_t off = radio_time_to_ticks(at, 1e6) - radio_time_to_ticks(first, 1e6);
    AM_REQUIRE(off > 0 && off + N < W, "offset %lld", (long long)off);
    double e_in = 0, e_before = 0;
    for (int i = 0; i < N; i++) {
        e_in += (double)cabsf(y[off + i]) * cabsf(y[off + i]);
        e_before += (double)cabsf(y[off - N - 1000 + i]) * cabsf(y[off - N - 1000 + i]);
    }
    AM_CHECK(e_in > 10 * e_before, "burst energy %g vs noise %g", e_in, e_before);
    radio_close(r);
}
