/* tests of the file radio (SigMF recordings through phy/sigmf.h): a stream of timed bursts is
 * written with zeros between them and one annotation each, read back independently with
 * phy_sigmf_reader and by the radio's own RX; burst mode; late bursts; §7 fields; errors. */
#include "am_test.h"
#include "core/rng.h"
#include "phy/sigmf.h"
#include "radio/file.h"
#include "radio/radio.h"

static int64_t tick(radio_time t)
{
    return radio_time_to_ticks(t, 1e6);
}

AM_TEST(stream_recording_round_trip, unit)
{
    char base[512], args[700];
    snprintf(base, sizeof base, "%s/stream", am_test_tmp_dir());
    snprintf(args, sizeof args,
             "tx=%s,fft_size=128,cp_len=16,payload_len=5000,scale=2.5,rho=0.5,g_th=0.1,agents=3,"
             "round=7,freq=915e6",
             base);
    radio *r = NULL;
    AM_REQUIRE_OK(radio_open("file", args, &r));
    static float complex b[3][500];
    const size_t len[3] = {500, 300, 200};
    const int64_t at_tick[3] = {1000, 2000, 2300};
    am_rng g;
    am_rng_seed(&g, 5);
    for (int k = 0; k < 3; k++)
        for (size_t i = 0; i < len[k]; i++)
            b[k][i] = am_rng_cnormal(&g);
    for (int k = 0; k < 3; k++) {
        radio_time at = radio_time_from_ticks(at_tick[k], 1e6);
        AM_REQUIRE_OK(radio_tx_burst(r, b[k], len[k], &at));
    }
    radio_time early = radio_time_from_ticks(1500, 1e6);
    AM_REQUIRE_OK(radio_tx_burst(r, b[0], 10, &early)); /* already written: late */
    radio_time far = radio_time_from_ticks(5000000, 1e6);
    AM_CHECK(radio_tx_burst(r, b[0], 10, &far) == AM_EINVAL, "gap beyond max_gap");
    AM_CHECK(strstr(am_last_error(), "max_gap") != NULL, "%s", am_last_error());
    radio_stats st;
    radio_get_stats(r, &st);
    AM_CHECK(st.late == 1 && st.tx_bursts == 3 && st.tx_samples == 1000, "stats");
    AM_REQUIRE_OK(radio_tx_flush(r, 0));
    char meta[600];
    snprintf(meta, sizeof meta, "%s.sigmf-meta", base);
    AM_CHECK(strcmp(radio_file_last_recording(r), meta) == 0, "last %s",
             radio_file_last_recording(r));

    /* independent path: phy's reader */
    phy_sigmf_reader *rd = NULL;
    AM_REQUIRE_OK(phy_sigmf_reader_open(meta, &rd));
    const phy_sigmf_info *in = phy_sigmf_reader_info(rd);
    AM_CHECK(in->n_samples == 1500 && in->sample_rate == 1e6 && in->frequency == 915e6,
             "n %llu rate %g f %g", (unsigned long long)in->n_samples, in->sample_rate,
             in->frequency);
    AM_CHECK(in->nfft == 128 && in->cp_len == 16 && in->payload_len == 5000 && in->scale == 2.5f &&
                 in->rho == 0.5f && in->g_th == 0.1f && in->agents == 3 && in->round == 7,
             "§7 fields");
    AM_REQUIRE(phy_sigmf_reader_n_annotations(rd) == 3, "annotations %zu",
               phy_sigmf_reader_n_annotations(rd));
    const phy_sigmf_annotation *an = phy_sigmf_reader_annotations(rd);
    for (int k = 0; k < 3; k++)
        AM_CHECK(an[k].start == (uint64_t)(at_tick[k] - 1000) && an[k].count == len[k] &&
                     an[k].burst,
                 "annotation %d: %llu+%llu", k, (unsigned long long)an[k].start,
                 (unsigned long long)an[k].count);
    static float complex y[1500], want[1500];
    for (int k = 0; k < 3; k++)
        memcpy(want + (at_tick[k] - 1000), b[k], len[k] * sizeof *want);
    size_t n = 0;
    AM_REQUIRE_OK(phy_sigmf_reader_read(rd, y, 1500, &n));
    AM_CHECK(n == 1500 && memcmp(y, want, sizeof want) == 0, "data bit-exact (zeros between)");
    phy_sigmf_reader_close(rd);

    /* the radio's own RX replays it from the RX start time */
    radio *rx = NULL;
    snprintf(args, sizeof args, "rx=%s", meta);
    AM_REQUIRE_OK(radio_open("file", args, &rx));
    radio_time start = {4, 0.5};
    AM_REQUIRE_OK(radio_rx_start(rx, &start));
    size_t have = 0;
    while (have < 1500) {
        radio_time t0;
        AM_REQUIRE_OK(radio_rx(rx, y + have, 700, &n, &t0, 0));
        AM_CHECK(tick(t0) == 4500000 + (int64_t)have, "t0 %lld", (long long)tick(t0));
        have += n;
    }
    AM_CHECK(memcmp(y, want, sizeof want) == 0, "radio RX bit-exact");
    radio_time t0;
    AM_CHECK(radio_rx(rx, y, 10, &n, &t0, 0) == AM_ETIMEOUT && n == 0, "end of capture");
    AM_CHECK(strstr(am_last_error(), "end of the capture") != NULL, "%s", am_last_error());
    radio_info ri;
    radio_get_info(rx, &ri);
    AM_CHECK(ri.rate == 1e6 && ri.rx_freq == 915e6, "rate and frequency from the capture");
    radio_close(rx);
    radio_close(r);
}

AM_TEST(loopback_sink_and_burst_mode, unit)
{
    char base[512], args[1200];
    snprintf(base, sizeof base, "%s/loop", am_test_tmp_dir());
    snprintf(args, sizeof args, "tx=%s,rx=%s.sigmf-meta,rate=2e6", base, base);
    radio *r = NULL;
    AM_REQUIRE_OK(radio_open("file", args, &r));
    float complex x[64], y[64];
    for (int i = 0; i < 64; i++)
        x[i] = (float)i - 0.5f * I * (float)i;
    radio_time at = {1, 0.25};
    AM_REQUIRE_OK(radio_tx_burst(r, x, 64, &at));
    AM_REQUIRE_OK(radio_rx_start(r, &at)); /* completes the recording, then replays it */
    size_t n = 0;
    radio_time t0;
    AM_REQUIRE_OK(radio_rx(r, y, 64, &n, &t0, 0));
    AM_CHECK(n == 64 && memcmp(x, y, sizeof x) == 0 && radio_time_cmp(t0, at) == 0, "loopback");
    radio_close(r);

    snprintf(base, sizeof base, "%s/bursts", am_test_tmp_dir());
    snprintf(args, sizeof args, "tx=%s,mode=burst", base);
    AM_REQUIRE_OK(radio_open("file", args, &r));
    radio_time a1 = {0, 0.001}, a2 = {0, 0.5};
    AM_REQUIRE_OK(radio_tx_burst(r, x, 64, &a2));
    AM_REQUIRE_OK(radio_tx_burst(r, x, 10, &a1)); /* own file: never late */
    radio_stats st;
    radio_get_stats(r, &st);
    AM_CHECK(st.late == 0 && st.tx_bursts == 2, "burst mode stats");
    const int64_t nn[2] = {64, 10};
    for (int k = 0; k < 2; k++) {
        char meta[700];
        snprintf(meta, sizeof meta, "%s-%06d.sigmf-meta", base, k);
        phy_sigmf_reader *rd = NULL;
        AM_REQUIRE_OK(phy_sigmf_reader_open(meta, &rd));
        const phy_sigmf_info *in = phy_sigmf_reader_info(rd);
        AM_CHECK(in->n_samples == (uint64_t)nn[k], "burst %d n %llu", k,
                 (unsigned long long)in->n_samples);
        AM_CHECK(strstr(in->description, k == 0 ? "(tick 500000)" : "(tick 1000)") != NULL,
                 "time in description: %s", in->description);
        AM_CHECK(phy_sigmf_reader_n_annotations(rd) == 1 &&
                     phy_sigmf_reader_annotations(rd)[0].count == (uint64_t)nn[k],
                 "one annotation");
        phy_sigmf_reader_close(rd);
    }
    radio_close(r);
}

AM_TEST(errors, unit)
{
    radio *r = NULL;
    char args[700];
    AM_CHECK(radio_open("file", "rate=1e6", &r) == AM_EINVAL && !r, "no tx/rx");
    snprintf(args, sizeof args, "rx=%s/absent.sigmf-meta", am_test_tmp_dir());
    am_status s = radio_open("file", args, &r);
    AM_CHECK(s != AM_OK && !r, "missing capture: %s", am_status_str(s));
    AM_CHECK(strstr(am_last_error(), "absent") != NULL, "%s", am_last_error());
    snprintf(args, sizeof args, "tx=%s/bad,fft_size=65", am_test_tmp_dir());
    AM_CHECK(radio_open("file", args, &r) == AM_EINVAL && !r, "odd fft_size");
    AM_CHECK(strstr(am_last_error(), "fft_size") != NULL, "%s", am_last_error());
    snprintf(args, sizeof args, "tx=/nonexistent-dir-airmeta/x");
    AM_CHECK(radio_open("file", args, &r) == AM_EIO && !r, "unwritable directory");
    /* a capture at 1 MS/s read by a radio told 2 MS/s */
    char base[512];
    snprintf(base, sizeof base, "%s/rate", am_test_tmp_dir());
    phy_sigmf_info in;
    phy_sigmf_info_default(&in);
    float complex x[4] = {1, 2, 3, 4};
    AM_REQUIRE_OK(phy_sigmf_write(base, &in, x, 4, NULL, 0));
    snprintf(args, sizeof args, "rx=%s,rate=2e6", base);
    AM_CHECK(radio_open("file", args, &r) == AM_EINVAL && !r, "rate mismatch");
    AM_CHECK(strstr(am_last_error(), "recorded at 1000000 S/s") != NULL, "%s", am_last_error());
    /* set_meta only on file radios, and validated */
    radio *lp = NULL;
    AM_REQUIRE_OK(radio_open("loop", "bus=fileerr", &lp));
    AM_CHECK(radio_file_set_meta(lp, &in) == AM_EINVAL, "not a file radio");
    radio_close(lp);
    snprintf(args, sizeof args, "tx=%s/meta", am_test_tmp_dir());
    AM_REQUIRE_OK(radio_open("file", args, &r));
    in.cp_len = 1000;
    AM_CHECK(radio_file_set_meta(r, &in) == AM_EINVAL, "cp_len > M/2");
    in.cp_len = 32;
    in.round = 3;
    AM_CHECK_OK(radio_file_set_meta(r, &in));
    AM_CHECK(radio_rx_start(r, NULL) == AM_EINVAL, "no rx");
    radio_close(r);
}
