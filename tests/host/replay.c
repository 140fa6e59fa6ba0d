/* Tests of airmeta replay (host/round/replay.h): a capture written to SigMF and replayed from the file
 * gives bit-exactly what the streaming receiver gives on the same stream in memory; no-burst,
 * ci16 and bad-capture paths (docs/air-interface.md §5, §7). */
#include <cjson/cJSON.h>
#include <unistd.h>

#include "am_test.h"
#include "core/rng.h"
#include "phy/chan.h"
#include "phy/ota_rx.h"
#include "phy/ota_tx.h"
#include "phy/precode.h"
#include "phy/sigmf.h"
#include "round/replay.h"

enum { K = 3, BURSTS = 4, L = 1000 };

typedef struct stream {
    float complex *y;
    size_t n;
    uint64_t start[BURSTS]; /* where each burst's S0a went in (lead of its segment) */
    size_t blen;
} stream;

/* BURSTS rounds of K agents (truncated inversion of their true channels, 4-tap Rayleigh, timing
 * offsets, CFO), each round a fresh channel draw, concatenated with noise gaps. */
static am_status make_stream(stream *st, float snr_db, uint64_t seed)
{
    phy_ota_tx_cfg tc;
    phy_ota_tx_cfg_default(&tc);
    tc.frame.nfft = 128;
    tc.frame.cp_len = 16;
    tc.payload_len = L;
    phy_ota_tx *tx = NULL;
    phy_chan *ch = NULL;
    am_status s = phy_ota_tx_create(&tc, &tx);
    phy_chan_cfg cc;
    phy_chan_cfg_default(&cc);
    cc.n_agents = K;
    cc.nfft = 128;
    cc.cp_len = 16;
    cc.n_taps = 4;
    cc.delay_spread = 1.0f;
    cc.max_timing_offset = 4;
    cc.common_cfo = 0.08f;
    cc.snr_db = snr_db;
    cc.seed = seed;
    if (s == AM_OK)
        s = phy_chan_create(&cc, &ch);
    if (s != AM_OK)
        return s;
    st->blen = phy_ota_tx_burst_len(tx);
    size_t lead = 700, seg = phy_chan_out_len(ch, st->blen, lead, 300);
    st->y = malloc(BURSTS * seg * sizeof *st->y);
    float *v = malloc(L * sizeof *v);
    float complex *x[K], H[128], p[128];
    for (int k = 0; k < K; k++)
        x[k] = malloc(st->blen * sizeof *x[k]);
    am_rng r;
    am_rng_seed(&r, seed + 1);
    st->n = 0;
    for (int b = 0; b < BURSTS && s == AM_OK; b++) {
        for (unsigned k = 0; k < K && s == AM_OK; k++) {
            for (size_t j = 0; j < L; j++)
                v[j] = (float)am_rng_normal(&r);
            s = phy_chan_response(ch, k, H);
            if (s == AM_OK)
                s = phy_precode_inversion(phy_ota_tx_frame(tx), H, 1.0f, 0.1f, p, NULL);
            if (s == AM_OK)
                s = phy_ota_tx_execute(tx, v, 1.5f, p, x[k], st->blen);
        }
        size_t ny = 0;
        if (s == AM_OK)
            s = phy_chan_execute(ch, (const float complex *const *)x, st->blen, lead, 300,
                                 st->y + st->n, seg, &ny);
        st->start[b] = st->n + lead;
        st->n += ny;
        if (s == AM_OK)
            s = phy_chan_draw(ch);
    }
    for (int k = 0; k < K; k++)
        free(x[k]);
    free(v);
    phy_chan_destroy(ch);
    phy_ota_tx_destroy(tx);
    return s;
}

static void fill_info(phy_sigmf_info *in)
{
    phy_sigmf_info_default(in);
    in->nfft = 128;
    in->cp_len = 16;
    in->payload_len = L;
    in->scale = 1.5f;
    in->rho = 1.0f;
    in->g_th = 0.1f;
    in->agents = K;
}

typedef struct mem_rx {
    float payload[BURSTS * L];
    uint64_t start[BURSTS];
    float cfo[BURSTS], snr[BURSTS], active[BURSTS];
    unsigned n;
} mem_rx;

static am_status mem_cb(const phy_ota_burst *b, void *user)
{
    mem_rx *m = user;
    if (m->n < BURSTS && b->payload_len == L) {
        memcpy(m->payload + (size_t)m->n * L, b->payload, L * sizeof(float));
        m->start[m->n] = b->start;
        m->cfo[m->n] = b->cfo;
        m->snr[m->n] = b->snr_db;
        m->active[m->n] = b->active_mean;
    }
    m->n++;
    return AM_OK;
}

/* The stream decoded in memory by the receiver the captures are replayed with (the reference). */
static am_status decode_in_memory(const stream *st, mem_rx *m)
{
    memset(m, 0, sizeof *m);
    phy_ota_rx_cfg rc;
    phy_ota_rx_cfg_default(&rc);
    rc.frame.nfft = 128;
    rc.frame.cp_len = 16;
    rc.payload_len = L;
    rc.eta = 1.5f;
    rc.rho = 1.0f;
    rc.callback = mem_cb;
    rc.user = m;
    phy_ota_rx *rx = NULL;
    am_status s = phy_ota_rx_create(&rc, &rx);
    if (s == AM_OK)
        s = phy_ota_rx_execute(rx, st->y, st->n);
    phy_ota_rx_destroy(rx);
    return s;
}

static char *tmp_path(const char *name)
{
    static char buf[4][600];
    static int k;
    char *p = buf[k++ % 4];
    snprintf(p, 600, "%s/%s", am_test_tmp_dir(), name);
    return p;
}

static unsigned char *read_all(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)len + 1);
    *n = fread(b, 1, (size_t)len, f);
    b[*n] = 0;
    fclose(f);
    return b;
}

/* write -> read -> replay reproduces the in-memory estimate bit-exactly, whatever the chunking */
AM_TEST(bitexact_vs_memory, unit)
{
    stream st;
    AM_REQUIRE_OK(make_stream(&st, 18.0f, 7));
    static mem_rx m;
    AM_REQUIRE_OK(decode_in_memory(&st, &m));
    AM_REQUIRE(m.n == BURSTS, "in memory: %u bursts of %d", m.n, BURSTS);
    for (int b = 0; b < BURSTS; b++) /* detected where they were sent (timing offsets <= 4) */
        AM_CHECK(m.start[b] >= st.start[b] - 16 && m.start[b] <= st.start[b] + 16,
                 "burst %d at %llu, sent at %llu", b, (unsigned long long)m.start[b],
                 (unsigned long long)st.start[b]);

    phy_sigmf_info in;
    fill_info(&in);
    phy_sigmf_annotation ann[BURSTS];
    for (int b = 0; b < BURSTS; b++)
        ann[b] = (phy_sigmf_annotation){st.start[b], st.blen, 1};
    AM_REQUIRE_OK(phy_sigmf_write(tmp_path("rep"), &in, st.y, st.n, ann, BURSTS));

    static const size_t chunks[] = {0, 1000, 77};
    for (size_t c = 0; c < sizeof chunks / sizeof chunks[0]; c++) {
        FILE *json = tmpfile();
        AM_REQUIRE(json != NULL, "tmpfile");
        replay_opts o = {.out = tmp_path("rep.f32"), .json = json, .chunk = chunks[c]};
        replay_result res;
        AM_REQUIRE_OK(replay_capture(tmp_path("rep.sigmf-meta"), &o, &res));
        AM_CHECK(res.bursts == BURSTS && res.samples == st.n,
                 "chunk %zu: %llu bursts, %llu "
                 "samples",
                 chunks[c], (unsigned long long)res.bursts, (unsigned long long)res.samples);
        size_t nb = 0;
        unsigned char *bytes = read_all(tmp_path("rep.f32"), &nb);
        AM_REQUIRE(bytes && nb == sizeof m.payload, "chunk %zu: %zu bytes", chunks[c], nb);
        /* little-endian float32 on this (little-endian) test host: bytes equal the floats */
        AM_CHECK(memcmp(bytes, m.payload, nb) == 0, "chunk %zu: payloads differ from memory",
                 chunks[c]);
        free(bytes);
        /* JSON lines: start sample, CFO, SNR, active count as the in-memory receiver said */
        rewind(json);
        char line[1024];
        unsigned b = 0;
        while (fgets(line, sizeof line, json)) {
            cJSON *o2 = cJSON_Parse(line);
            AM_REQUIRE(o2 != NULL, "not JSON: %s", line);
            AM_REQUIRE(b < BURSTS, "too many lines");
            double start = cJSON_GetNumberValue(cJSON_GetObjectItem(o2, "start"));
            double cfo = cJSON_GetNumberValue(cJSON_GetObjectItem(o2, "cfo"));
            double snr = cJSON_GetNumberValue(cJSON_GetObjectItem(o2, "snr_db"));
            double act = cJSON_GetNumberValue(cJSON_GetObjectItem(o2, "active_mean"));
            AM_CHECK(start == (double)m.start[b], "line %u start %.17g", b, start);
            AM_CHECK((float)cfo == m.cfo[b] && (float)snr == m.snr[b] && (float)act == m.active[b],
                     "line %u: cfo %.9g/%.9g snr %.9g/%.9g active %.9g/%.9g", b, cfo,
                     (double)m.cfo[b], snr, (double)m.snr[b], act, (double)m.active[b]);
            AM_CHECK(fabs(cfo - 0.08) < 0.01, "cfo estimate %g, emulated 0.08", cfo);
            AM_CHECK(fabs(act - K) < 1.0, "active %g of %d", act, K);
            cJSON_Delete(o2);
            b++;
        }
        AM_CHECK(b == BURSTS, "chunk %zu: %u JSON lines", chunks[c], b);
        fclose(json);
    }
    free(st.y);
}

/* A capture of pure noise: AM_ENOTFOUND, no output file, no false burst. */
AM_TEST(no_burst, unit)
{
    enum { N = 400000 };
    float complex *y = malloc(N * sizeof *y);
    am_rng r;
    am_rng_seed(&r, 99);
    for (size_t t = 0; t < N; t++)
        y[t] = am_rng_cnormal(&r);
    phy_sigmf_info in;
    fill_info(&in);
    AM_REQUIRE_OK(phy_sigmf_write(tmp_path("noise"), &in, y, N, NULL, 0));
    free(y);
    unlink(tmp_path("noise.f32"));
    replay_opts o = {.out = tmp_path("noise.f32")};
    replay_result res;
    am_status s = replay_capture(tmp_path("noise.sigmf-meta"), &o, &res);
    AM_CHECK(s == AM_ENOTFOUND, "status %d: %s", (int)s, am_last_error());
    AM_CHECK(strstr(am_last_error(), "no burst found") != NULL, "%s", am_last_error());
    AM_CHECK(res.bursts == 0 && res.samples == N, "bursts %llu", (unsigned long long)res.bursts);
    AM_CHECK(access(tmp_path("noise.f32"), F_OK) != 0, "output written without a burst");
}

/* The same stream stored as ci16_le (UHD sc16): decoded, payload within quantisation noise. */
AM_TEST(ci16_capture, unit)
{
    stream st;
    AM_REQUIRE_OK(make_stream(&st, 25.0f, 11));
    float peak = 0;
    for (size_t t = 0; t < st.n; t++)
        peak = fmaxf(peak, fmaxf(fabsf(crealf(st.y[t])), fabsf(cimagf(st.y[t]))));
    float g = 0.5f / peak; /* -6 dBFS peak */
    int16_t *q = malloc(st.n * 2 * sizeof *q);
    for (size_t t = 0; t < st.n; t++) {
        q[2 * t] = (int16_t)lrintf(crealf(st.y[t]) * g * 32768.0f);
        q[2 * t + 1] = (int16_t)lrintf(cimagf(st.y[t]) * g * 32768.0f);
        st.y[t] = CMPLXF((float)q[2 * t] / 32768.0f, (float)q[2 * t + 1] / 32768.0f);
    }
    /* meta written by the library (cf32), then datatype switched and the data replaced */
    phy_sigmf_info in;
    fill_info(&in);
    AM_REQUIRE_OK(phy_sigmf_write(tmp_path("c16"), &in, st.y, 1, NULL, 0));
    size_t nm = 0;
    char *meta = (char *)read_all(tmp_path("c16.sigmf-meta"), &nm);
    AM_REQUIRE(meta != NULL, "meta");
    char *at = strstr(meta, "cf32_le");
    AM_REQUIRE(at != NULL, "datatype in %s", meta);
    memcpy(at, "ci16_le", 7);
    FILE *f = fopen(tmp_path("c16.sigmf-meta"), "wb");
    fwrite(meta, 1, nm, f);
    fclose(f);
    free(meta);
    f = fopen(tmp_path("c16.sigmf-data"), "wb");
    fwrite(q, 4, st.n, f); /* test host is little-endian */
    fclose(f);
    free(q);

    static mem_rx m;
    AM_REQUIRE_OK(decode_in_memory(&st, &m));
    AM_REQUIRE(m.n == BURSTS, "%u bursts", m.n);
    /* replay reads q / 32768, exactly the values decoded in memory above */
    replay_opts o = {.out = tmp_path("c16.f32")};
    replay_result res;
    AM_REQUIRE_OK(replay_capture(tmp_path("c16.sigmf-meta"), &o, &res));
    AM_CHECK(res.bursts == BURSTS, "%llu bursts", (unsigned long long)res.bursts);
    size_t nb = 0;
    unsigned char *bytes = read_all(tmp_path("c16.f32"), &nb);
    AM_REQUIRE(bytes && nb == sizeof m.payload, "%zu bytes", nb);
    AM_CHECK(memcmp(bytes, m.payload, nb) == 0, "ci16 file vs the same values in memory differ");
    free(bytes);
    free(st.y);
}

AM_TEST(bad_captures, unit)
{
    replay_opts o = {.out = tmp_path("bad.f32")};
    replay_result res;
    char logo[600];
    snprintf(logo, sizeof logo, "%s/tests/data/sigmf/sigmf_logo.sigmf-meta", am_test_source_dir());
    AM_CHECK(replay_capture(logo, &o, &res) == AM_ENOTSUP, "logo: %s", am_last_error());
    AM_CHECK(strstr(am_last_error(), "ri16_le") != NULL, "%s", am_last_error());
    AM_CHECK(replay_capture(tmp_path("absent.sigmf-meta"), &o, &res) == AM_ENOTFOUND &&
                 res.samples == 0,
             "absent capture: %s", am_last_error());
    AM_CHECK(access(tmp_path("bad.f32"), F_OK) != 0, "output left behind");
}
