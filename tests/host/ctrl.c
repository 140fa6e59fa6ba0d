/* tests/host/ctrl: control-plane codec round trips, every malformed case refused with a message
 * and counted, and the ROUTER/DEALER sockets over 127.0.0.1 (host/net/ctrl.h). */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <zlib.h>
#include <zmq.h>

#include "am_test.h"
#include "core/rng.h"
#include "net/ctrl.h"

#define BIG 300000u /* a model of a few 10^5 floats */

static void put32(unsigned char *p, uint32_t v)
{
    memcpy(p, &v, 4);
}
static uint32_t get32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* After tampering: make both CRCs right again, so the check under test is the one that fires. */
static void fix_crcs(unsigned char *b, size_t len)
{
    uint32_t n = get32(b + 16);
    if (CTRL_HDR_LEN + (size_t)n <= len)
        put32(b + 20, (uint32_t)crc32(crc32(0L, Z_NULL, 0), b + CTRL_HDR_LEN, n));
    put32(b + 28, (uint32_t)crc32(crc32(0L, Z_NULL, 0), b, 28));
}

static ctrl_learner learner_example(void)
{
    ctrl_learner l = {.task = 0,
                      .learner = 1,
                      .inner_steps = 2,
                      .alpha = 0.01f,
                      .tasks = 3,
                      .local_iters = 1,
                      .local_lr = 1e-3f,
                      .hf_delta = 1e-3f,
                      .ways = 5,
                      .shots = 10,
                      .query = 10,
                      .heterogeneity = 0.25f,
                      .filters = 32,
                      .sparsify = 1,
                      .keep = 0.5,
                      .memory = 1,
                      .n_agents = 3,
                      .seed = 0x0123456789abcdefULL,
                      .pool = 7};
    return l;
}

static int learner_eq(const ctrl_learner *a, const ctrl_learner *b)
{
    return a->task == b->task && a->learner == b->learner && a->inner_steps == b->inner_steps &&
           a->alpha == b->alpha && a->tasks == b->tasks && a->local_iters == b->local_iters &&
           a->local_lr == b->local_lr && a->hf_delta == b->hf_delta && a->ways == b->ways &&
           a->shots == b->shots && a->query == b->query && a->heterogeneity == b->heterogeneity &&
           a->filters == b->filters && a->sparsify == b->sparsify && a->keep == b->keep &&
           a->memory == b->memory && a->n_agents == b->n_agents && a->seed == b->seed &&
           a->pool == b->pool;
}

static unsigned char *encode_new(const ctrl_msg *m, size_t *len)
{
    size_t cap = ctrl_encoded_len(m);
    unsigned char *b = malloc(cap ? cap : 1);
    if (!b || ctrl_encode(m, b, cap, len) != AM_OK) {
        free(b);
        return NULL;
    }
    return b;
}

/* A valid MODEL of dim floats (theta[i] = sin(i)) with previous participants {0, 2}. */
static const uint32_t prev_ids[2] = {0, 2};
static ctrl_msg model_msg(const float *theta, uint32_t dim)
{
    ctrl_msg m;
    memset(&m, 0, sizeof m);
    m.type = CTRL_MODEL;
    m.round = 7;
    m.sender = CTRL_ID_SERVER;
    m.u.model = (ctrl_model){.rho = 1.0f,
                             .g_th = 0.1f,
                             .flags = CTRL_MODEL_REPORT_X,
                             .prev_round = 6,
                             .n_prev = 2,
                             .dim = dim,
                             .prev_ids = prev_ids,
                             .theta = theta};
    return m;
}

AM_TEST(roundtrip, unit)
{
    float *theta = malloc(BIG * sizeof *theta);
    AM_REQUIRE(theta, "alloc");
    for (uint32_t i = 0; i < BIG; i++)
        theta[i] = sinf((float)i) * 1e-3f * (float)(i % 97);
    size_t len = 0, maxp = ctrl_payload_bound(BIG, 8);

    /* MODEL: a model of 3e5 floats, bit-exact */
    ctrl_msg m = model_msg(theta, BIG), d;
    unsigned char *b = encode_new(&m, &len);
    AM_REQUIRE(b, "encode MODEL: %s", am_last_error());
    AM_CHECK(len == CTRL_HDR_LEN + 24 + 8 + 4 * (size_t)BIG, "MODEL length %zu", len);
    AM_REQUIRE_OK(ctrl_decode(b, len, maxp, &d, NULL));
    AM_CHECK(d.type == CTRL_MODEL && d.round == 7 && d.sender == CTRL_ID_SERVER, "header");
    AM_CHECK(d.u.model.rho == 1.0f && d.u.model.g_th == 0.1f && d.u.model.flags == 1 &&
                 d.u.model.prev_round == 6 && d.u.model.n_prev == 2 && d.u.model.dim == BIG,
             "MODEL fields");
    AM_CHECK(ctrl_u32_at(d.u.model.prev_ids, 0) == 0 && ctrl_u32_at(d.u.model.prev_ids, 1) == 2,
             "prev ids");
    float *back = malloc(BIG * sizeof *back);
    AM_REQUIRE(back, "alloc");
    ctrl_f32_copy(d.u.model.theta, BIG, back);
    AM_CHECK(memcmp(back, theta, BIG * sizeof *theta) == 0, "theta not bit-exact");
    free(b);

    /* STATUS with x */
    memset(&m, 0, sizeof m);
    m.type = CTRL_STATUS;
    m.round = 3;
    m.sender = 2;
    m.u.status =
        (ctrl_status){.loss = 1.5f, .peak = 0.25f, .power = 0.125f, .n_x = 1000, .x = theta};
    AM_REQUIRE((b = encode_new(&m, &len)) != NULL, "encode STATUS: %s", am_last_error());
    AM_REQUIRE_OK(ctrl_decode(b, len, maxp, &d, NULL));
    ctrl_f32_copy(d.u.status.x, 1000, back);
    AM_CHECK(d.sender == 2 && d.u.status.loss == 1.5f && d.u.status.peak == 0.25f &&
                 d.u.status.power == 0.125f && d.u.status.n_x == 1000 &&
                 memcmp(back, theta, 1000 * sizeof *theta) == 0,
             "STATUS fields");
    free(b);

    /* WELCOME (agent) */
    memset(&m, 0, sizeof m);
    m.type = CTRL_WELCOME;
    m.sender = CTRL_ID_SERVER;
    ctrl_welcome *w = &m.u.welcome;
    w->accepted = 1;
    w->role = CTRL_ROLE_AGENT;
    strcpy(w->reason, "ok");
    w->dim = 1761;
    w->nfft = 256;
    w->cp = 32;
    w->payload_len = 1761;
    w->rate = 1e6;
    strcpy(w->uplink, "tcp://127.0.0.1:40001");
    strcpy(w->downlink, "tcp://127.0.0.1:40002");
    w->learner = learner_example();
    strcpy(w->data_key, "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7");
    AM_REQUIRE((b = encode_new(&m, &len)) != NULL, "encode WELCOME: %s", am_last_error());
    AM_REQUIRE_OK(ctrl_decode(b, len, maxp, &d, NULL));
    AM_CHECK(d.u.welcome.accepted == 1 && d.u.welcome.dim == 1761 && d.u.welcome.nfft == 256 &&
                 d.u.welcome.cp == 32 && d.u.welcome.payload_len == 1761 &&
                 d.u.welcome.rate == 1e6 && strcmp(d.u.welcome.reason, "ok") == 0 &&
                 strcmp(d.u.welcome.uplink, w->uplink) == 0 &&
                 strcmp(d.u.welcome.downlink, w->downlink) == 0 &&
                 learner_eq(&d.u.welcome.learner, &w->learner) &&
                 strcmp(d.u.welcome.data_key, w->data_key) == 0,
             "WELCOME fields");
    free(b);
    /* on air (--radio uhd) the endpoints are both empty; one empty is refused */
    w->uplink[0] = w->downlink[0] = '\0';
    AM_REQUIRE((b = encode_new(&m, &len)) != NULL, "encode on-air WELCOME: %s", am_last_error());
    AM_CHECK_OK(ctrl_decode(b, len, maxp, &d, NULL));
    AM_CHECK(d.u.welcome.uplink[0] == '\0' && d.u.welcome.downlink[0] == '\0', "on-air WELCOME");
    free(b);
    /* the server radio's levels (version 4): at offset 556, 584 bytes (the chan's clocks follow,
     * version 5); refused when not finite, beyond +-300 dBm, or not 0 without levels */
    w->levels = 1;
    w->tx_dbm = -19.75f;
    w->rx_dbm = -75.0f;
    AM_REQUIRE((b = encode_new(&m, &len)) != NULL, "encode WELCOME with levels: %s",
               am_last_error());
    AM_CHECK(len == CTRL_HDR_LEN + 584, "WELCOME of %zu bytes", len);
    {
        uint32_t lv;
        float tx, rx;
        memcpy(&lv, b + CTRL_HDR_LEN + 556, 4);
        memcpy(&tx, b + CTRL_HDR_LEN + 560, 4);
        memcpy(&rx, b + CTRL_HDR_LEN + 564, 4);
        AM_CHECK(lv == 1 && tx == -19.75f && rx == -75.0f, "levels at 556: %u %g %g", lv,
                 (double)tx, (double)rx);
    }
    AM_CHECK_OK(ctrl_decode(b, len, maxp, &d, NULL));
    AM_CHECK(d.u.welcome.levels == 1 && d.u.welcome.tx_dbm == -19.75f &&
                 d.u.welcome.rx_dbm == -75.0f,
             "WELCOME levels decoded");
    free(b);
    const struct {
        uint32_t levels;
        float tx, rx;
        const char *why;
    } badlv[] = {{2, 0, 0, "WELCOME.levels"},
                 {1, NAN, 0, "WELCOME.tx_dbm"},
                 {1, 0, 300.5f, "WELCOME.rx_dbm"},
                 {0, -10, 0, "WELCOME.tx_dbm"}};
    for (size_t i = 0; i < sizeof badlv / sizeof badlv[0]; i++) {
        w->levels = badlv[i].levels;
        w->tx_dbm = badlv[i].tx;
        w->rx_dbm = badlv[i].rx;
        AM_CHECK(encode_new(&m, &len) == NULL && strstr(am_last_error(), badlv[i].why),
                 "levels case %zu refused: %s", i, am_last_error());
    }
    w->levels = 0;
    w->tx_dbm = w->rx_dbm = 0;
    /* the chan's radios (version 5, docs/air-interface.md §9.4): f64 fc_fs at 568, f32 ppm at
     * 576, f32 cfo_ms at 580; refused outside 0..1e6, 0..100, 0..2048^2 or not finite */
    w->clock = (ctrl_clock){.fc_fs = 915.0, .ppm = 2.0f, .cfo_ms = 0.0025f / 3.0f};
    AM_REQUIRE((b = encode_new(&m, &len)) != NULL, "encode WELCOME with clocks: %s",
               am_last_error());
    {
        double fc;
        float ppm, ms;
        memcpy(&fc, b + CTRL_HDR_LEN + 568, 8);
        memcpy(&ppm, b + CTRL_HDR_LEN + 576, 4);
        memcpy(&ms, b + CTRL_HDR_LEN + 580, 4);
        AM_CHECK(fc == 915.0 && ppm == 2.0f && ms == 0.0025f / 3.0f, "clocks at 568: %g %g %g", fc,
                 (double)ppm, (double)ms);
    }
    AM_CHECK_OK(ctrl_decode(b, len, maxp, &d, NULL));
    AM_CHECK(d.u.welcome.clock.fc_fs == 915.0 && d.u.welcome.clock.ppm == 2.0f &&
                 d.u.welcome.clock.cfo_ms == 0.0025f / 3.0f,
             "WELCOME clocks decoded");
    free(b);
    const ctrl_clock badck[] = {{-1.0, 0, 0},   {1.5e6, 0, 0},    {NAN, 0, 0},
                                {915.0, -1, 0}, {915.0, 101, 0},  {915.0, INFINITY, 0},
                                {915.0, 2, -1}, {915.0, 2, 5e6f}, {915.0, 2, NAN}};
    for (size_t i = 0; i < sizeof badck / sizeof badck[0]; i++) {
        w->clock = badck[i];
        AM_CHECK(encode_new(&m, &len) == NULL && strstr(am_last_error(), "WELCOME.clock"),
                 "clock case %zu refused: %s", i, am_last_error());
    }
    w->clock = (ctrl_clock){0};
    strcpy(w->uplink, "tcp://127.0.0.1:40001");
    AM_CHECK(encode_new(&m, &len) == NULL && strstr(am_last_error(), "WELCOME.downlink"),
             "one empty endpoint: %s", am_last_error());

    /* HELLO from the chan with 2 + 2K endpoints */
    char eps[8][CTRL_STR_LEN];
    memset(eps, 0, sizeof eps);
    for (int i = 0; i < 8; i++)
        snprintf(eps[i], CTRL_STR_LEN, "tcp://127.0.0.1:%d", 41000 + i);
    memset(&m, 0, sizeof m);
    m.type = CTRL_HELLO;
    m.sender = CTRL_ID_CHAN;
    m.u.hello = (ctrl_hello){.role = CTRL_ROLE_CHAN,
                             .n_agents = 3,
                             .n_ep = 8,
                             .ep = eps,
                             .clock = {.fc_fs = 915.0, .ppm = 2.0f, .cfo_ms = 0.25f}};
    strcpy(m.u.hello.desc, "phy_chan 4-tap");
    AM_REQUIRE((b = encode_new(&m, &len)) != NULL, "encode HELLO: %s", am_last_error());
    /* version 5: the chan's radios after its 8 endpoints */
    AM_CHECK(len == CTRL_HDR_LEN + 152 + 8 * 128 + 16, "chan HELLO of %zu bytes", len);
    AM_REQUIRE_OK(ctrl_decode(b, len, maxp, &d, NULL));
    AM_CHECK(d.u.hello.role == CTRL_ROLE_CHAN && d.u.hello.n_agents == 3 && d.u.hello.n_ep == 8 &&
                 strcmp(ctrl_str_at(d.u.hello.ep, 7), "tcp://127.0.0.1:41007") == 0 &&
                 strcmp(d.u.hello.desc, "phy_chan 4-tap") == 0 && d.u.hello.clock.fc_fs == 915.0 &&
                 d.u.hello.clock.ppm == 2.0f && d.u.hello.clock.cfo_ms == 0.25f,
             "HELLO fields");
    free(b);
    m.u.hello.clock.ppm = 200.0f;
    AM_CHECK(encode_new(&m, &len) == NULL && strstr(am_last_error(), "HELLO.clock.ppm"),
             "chan HELLO with 200 ppm: %s", am_last_error());
    m.u.hello.clock.ppm = 2.0f;

    /* GO, PLAN, REPORT, COMMIT, BYE */
    const uint32_t ids[3] = {0, 1, 5};
    memset(&m, 0, sizeof m);
    m.type = CTRL_GO;
    m.round = 4;
    m.u.go = (ctrl_go){
        .eta = 0.5f, .rho = 2.0f, .g_th = 0.0f, .beacon_tick = 1000000, .tx_tick = 1010000};
    AM_REQUIRE((b = encode_new(&m, &len)) != NULL, "encode GO: %s", am_last_error());
    AM_REQUIRE_OK(ctrl_decode(b, len, maxp, &d, NULL));
    AM_CHECK(d.u.go.eta == 0.5f && d.u.go.rho == 2.0f && d.u.go.beacon_tick == 1000000 &&
                 d.u.go.tx_tick == 1010000,
             "GO fields");
    free(b);
    memset(&m, 0, sizeof m);
    m.type = CTRL_PLAN;
    m.u.plan = (ctrl_plan){.eta = 0.5f,
                           .rho = 1.0f,
                           .nfft = 256,
                           .cp = 32,
                           .burst_len = 2304,
                           .beacon_tick = 5,
                           .tx_tick = 9,
                           .deadline = 2.5,
                           .n = 3,
                           .ids = ids};
    AM_REQUIRE((b = encode_new(&m, &len)) != NULL, "encode PLAN: %s", am_last_error());
    AM_REQUIRE_OK(ctrl_decode(b, len, maxp, &d, NULL));
    AM_CHECK(d.u.plan.burst_len == 2304 && d.u.plan.deadline == 2.5 && d.u.plan.n == 3 &&
                 ctrl_u32_at(d.u.plan.ids, 2) == 5 && d.u.plan.probe == 0,
             "PLAN fields");
    free(b);
    /* §9.4: a probe's PLAN, its index after the ids (4 bytes more); 0 written and 17 refused */
    size_t len0 = len;
    m.u.plan.probe = 16;
    AM_REQUIRE((b = encode_new(&m, &len)) != NULL, "encode PLAN probe: %s", am_last_error());
    AM_CHECK(len == len0 + 4, "PLAN of a probe: %zu bytes, %zu without", len, len0);
    AM_REQUIRE_OK(ctrl_decode(b, len, maxp, &d, NULL));
    AM_CHECK(d.u.plan.probe == 16 && d.u.plan.n == 3 && ctrl_u32_at(d.u.plan.ids, 2) == 5,
             "PLAN probe %u", d.u.plan.probe);
    free(b);
    m.u.plan.probe = 17;
    AM_CHECK(encode_new(&m, &len) == NULL, "PLAN probe 17 encoded");
    m.u.plan.probe = 0;
    memset(&m, 0, sizeof m);
    m.type = CTRL_REPORT;
    m.u.report = (ctrl_report){
        .chunk_tick = -64, .chunk_len = 4000, .late = 1, .rejected = 2, .n = 2, .ids = ids};
    AM_REQUIRE((b = encode_new(&m, &len)) != NULL, "encode REPORT: %s", am_last_error());
    AM_REQUIRE_OK(ctrl_decode(b, len, maxp, &d, NULL));
    AM_CHECK(d.u.report.chunk_tick == -64 && d.u.report.chunk_len == 4000 && d.u.report.late == 1 &&
                 d.u.report.rejected == 2 && d.u.report.n == 2 &&
                 ctrl_u32_at(d.u.report.ids, 1) == 1,
             "REPORT fields");
    free(b);
    memset(&m, 0, sizeof m);
    m.type = CTRL_COMMIT;
    m.u.commit = (ctrl_commit){.decoded = 1, .n = 3, .ids = ids};
    AM_REQUIRE((b = encode_new(&m, &len)) != NULL, "encode COMMIT: %s", am_last_error());
    AM_REQUIRE_OK(ctrl_decode(b, len, maxp, &d, NULL));
    AM_CHECK(d.u.commit.decoded == 1 && d.u.commit.n == 3, "COMMIT fields");
    free(b);
    memset(&m, 0, sizeof m);
    m.type = CTRL_BYE;
    AM_REQUIRE((b = encode_new(&m, &len)) != NULL, "encode BYE: %s", am_last_error());
    AM_CHECK(len == CTRL_HDR_LEN, "BYE is a bare header (%zu)", len);
    AM_REQUIRE_OK(ctrl_decode(b, len, maxp, &d, NULL));
    AM_CHECK(d.type == CTRL_BYE, "BYE");
    free(b);
    free(back);
    free(theta);
}

/* One malformed case: decode must refuse with AM_EFORMAT, the expected reason and a message
 * containing `word`. */
static void expect_reject(
    const char *what, const void *buf, size_t len, size_t maxp, ctrl_reject want, const char *word)
{
    ctrl_msg d;
    ctrl_reject why = CTRL_REJ_NONE;
    am_error_clear();
    am_status s = ctrl_decode(buf, len, maxp, &d, &why);
    AM_CHECK(s == AM_EFORMAT, "%s: status %s", what, am_status_str(s));
    AM_CHECK(why == want, "%s: reason %s, expected %s (%s)", what, ctrl_reject_name(why),
             ctrl_reject_name(want), am_last_error());
    AM_CHECK(strstr(am_last_error(), word) != NULL, "%s: message '%s' lacks '%s'", what,
             am_last_error(), word);
}

AM_TEST(malformed, unit)
{
    float theta[64];
    for (int i = 0; i < 64; i++)
        theta[i] = 0.01f * (float)i;
    ctrl_msg m = model_msg(theta, 64);
    size_t len = 0, maxp = 4096;
    unsigned char *good = encode_new(&m, &len);
    AM_REQUIRE(good, "encode: %s", am_last_error());
    unsigned char *b = malloc(len + 64);
    AM_REQUIRE(b, "alloc");
    ctrl_msg d;
    AM_REQUIRE_OK(ctrl_decode(good, len, maxp, &d, NULL));

#define RESET() memcpy(b, good, len)
    RESET();
    put32(b, 0x51494D41u); /* "AMIQ": an IQ message on the control socket */
    fix_crcs(b, len);
    expect_reject("bad magic", b, len, maxp, CTRL_REJ_MAGIC, "magic");
    RESET();
    b[4] = 6; /* version 6, after this build's 5 */
    fix_crcs(b, len);
    expect_reject("version", b, len, maxp, CTRL_REJ_VERSION, "version 6");
    RESET();
    b[6] = 99; /* type 99 */
    fix_crcs(b, len);
    expect_reject("type", b, len, maxp, CTRL_REJ_TYPE, "unknown type 99");
    RESET();
    b[6] = 0;
    fix_crcs(b, len);
    expect_reject("type 0", b, len, maxp, CTRL_REJ_TYPE, "unknown type 0");
    RESET();
    put32(b + 24, 1);
    fix_crcs(b, len);
    expect_reject("reserved", b, len, maxp, CTRL_REJ_RESERVED, "reserved");
    RESET();
    b[9] ^= 1; /* round changed, header CRC not fixed */
    expect_reject("header crc", b, len, maxp, CTRL_REJ_HCRC, "header CRC");
    RESET();
    b[CTRL_HDR_LEN + 40] ^= 0x10; /* a theta byte: payload CRC mismatch */
    expect_reject("payload crc", b, len, maxp, CTRL_REJ_CRC, "payload CRC");
    RESET();
    expect_reject("short header", b, 20, maxp, CTRL_REJ_TRUNCATED, "shorter than");
    expect_reject("empty", b, 0, maxp, CTRL_REJ_TRUNCATED, "0 bytes");
    expect_reject("truncated payload", b, len - 5, maxp, CTRL_REJ_TRUNCATED, "arrived");
    RESET();
    memset(b + len, 0, 8);
    expect_reject("trailing bytes", b, len + 8, maxp, CTRL_REJ_SIZE, "after the");
    /* oversized: the header announces more than the receiver accepts */
    RESET();
    expect_reject("oversized (message)", b, len, 100, CTRL_REJ_OVERSIZED, "at most");
    RESET();
    put32(b + 16, 1u << 30);
    fix_crcs(b, len);
    expect_reject("oversized (header n)", b, len, maxp, CTRL_REJ_OVERSIZED, "1073741824");
    /* payload semantics (CRCs fixed so the field check is what fires) */
    RESET();
    float nan = NAN;
    memcpy(b + CTRL_HDR_LEN + 24 + 8 + 4 * 10, &nan, 4); /* theta[10] = NaN */
    fix_crcs(b, len);
    expect_reject("NaN in the model", b, len, maxp, CTRL_REJ_PAYLOAD, "entry 10 is NaN");
    RESET();
    float inf = INFINITY;
    memcpy(b + CTRL_HDR_LEN + 24 + 8 + 4 * 63, &inf, 4);
    fix_crcs(b, len);
    expect_reject("Inf in the model", b, len, maxp, CTRL_REJ_PAYLOAD, "entry 63 is Inf");
    RESET();
    put32(b + CTRL_HDR_LEN + 20, 65); /* dim 65 but 64 floats present */
    fix_crcs(b, len);
    expect_reject("dim vs length", b, len, maxp, CTRL_REJ_PAYLOAD, "fields need");
    RESET();
    put32(b + CTRL_HDR_LEN + 24 + 4, 0); /* prev ids {0, 0} */
    fix_crcs(b, len);
    expect_reject("ids not increasing", b, len, maxp, CTRL_REJ_PAYLOAD, "strictly increasing");
    RESET();
    float neg = -1.0f;
    memcpy(b + CTRL_HDR_LEN, &neg, 4); /* rho = -1 */
    fix_crcs(b, len);
    expect_reject("rho < 0", b, len, maxp, CTRL_REJ_PAYLOAD, "MODEL.rho");
    RESET();
    put32(b + CTRL_HDR_LEN + 8, 0x80); /* unknown flag */
    fix_crcs(b, len);
    expect_reject("flags", b, len, maxp, CTRL_REJ_PAYLOAD, "flags");
    RESET();
    put32(b + 12, 0x12345678u); /* sender neither an agent, the server nor the chan */
    fix_crcs(b, len);
    expect_reject("sender", b, len, maxp, CTRL_REJ_PAYLOAD, "sender");
    free(good);
    free(b);

    /* a HELLO whose description is not terminated, and one with garbage after the terminator */
    memset(&m, 0, sizeof m);
    m.type = CTRL_HELLO;
    m.sender = 1;
    m.u.hello = (ctrl_hello){.role = CTRL_ROLE_AGENT, .id = 1, .dim = 1761};
    strcpy(m.u.hello.desc, "sinusoid");
    good = encode_new(&m, &len);
    AM_REQUIRE(good, "encode HELLO: %s", am_last_error());
    b = malloc(len);
    AM_REQUIRE(b, "alloc");
    RESET();
    memset(b + CTRL_HDR_LEN + 24, 'A', CTRL_STR_LEN);
    fix_crcs(b, len);
    expect_reject("unterminated string", b, len, maxp, CTRL_REJ_PAYLOAD, "not terminated");
    RESET();
    b[CTRL_HDR_LEN + 24 + 100] = 'x';
    fix_crcs(b, len);
    expect_reject("string garbage", b, len, maxp, CTRL_REJ_PAYLOAD, "after the terminator");
    RESET();
    b[CTRL_HDR_LEN + 24 + 2] = 0x07;
    fix_crcs(b, len);
    expect_reject("unprintable", b, len, maxp, CTRL_REJ_PAYLOAD, "not printable");
    RESET();
    put32(b + CTRL_HDR_LEN, 7); /* role 7 */
    fix_crcs(b, len);
    expect_reject("role", b, len, maxp, CTRL_REJ_PAYLOAD, "role");
    free(good);
    free(b);
#undef RESET

    /* the encoder refuses what a decoder would refuse */
    theta[5] = NAN;
    m = model_msg(theta, 64);
    unsigned char tmp[1024];
    AM_CHECK(ctrl_encode(&m, tmp, sizeof tmp, &len) == AM_EINVAL, "NaN theta encoded");
    AM_CHECK(strstr(am_last_error(), "NaN") != NULL, "message: %s", am_last_error());
    theta[5] = 0;
    m = model_msg(theta, 64);
    AM_CHECK(ctrl_encode(&m, tmp, 100, &len) == AM_EINVAL, "short buffer accepted");
    m.type = 42;
    AM_CHECK(ctrl_encode(&m, tmp, sizeof tmp, &len) == AM_EINVAL, "type 42 encoded");
}

/* Every single-byte corruption (all 255 wrong values at every position of a 300-float model
 * message), and every truncation, of a valid message is refused (the CRCs and the length checks
 * leave no byte unprotected); random garbage never decodes. Exhaustive: ~0.3 M decodes, 0.3 s
 * (Release; `ctest -R host.ctrl.corruption_property`). */
AM_TEST(corruption_property, unit)
{
    float theta[300];
    for (int i = 0; i < 300; i++)
        theta[i] = cosf((float)i);
    ctrl_msg m = model_msg(theta, 300), d;
    size_t len = 0;
    unsigned char *good = encode_new(&m, &len);
    AM_REQUIRE(good, "encode: %s", am_last_error());
    unsigned char *b = malloc(len);
    AM_REQUIRE(b, "alloc");
    am_rng r;
    am_rng_seed(&r, 7);
    unsigned accepted = 0, tried = 0;
    memcpy(b, good, len);
    for (size_t pos = 0; pos < len; pos++) {
        for (unsigned v = 0; v < 256; v++) {
            if (v == good[pos])
                continue;
            b[pos] = (unsigned char)v;
            tried++;
            if (ctrl_decode(b, len, 65536, &d, NULL) == AM_OK) {
                if (accepted++ < 5)
                    fprintf(stderr, "byte %zu: 0x%02x -> 0x%02x accepted\n", pos, good[pos], v);
            }
        }
        b[pos] = good[pos];
    }
    AM_CHECK(tried == 255 * len, "tried %u, expected 255 x %zu", tried, len);
    AM_CHECK(accepted == 0, "%u of %u single-byte corruptions accepted", accepted, tried);
    accepted = 0;
    for (size_t cut = 0; cut < len; cut++)
        accepted += ctrl_decode(good, cut, 65536, &d, NULL) == AM_OK;
    AM_CHECK(accepted == 0, "%u truncations accepted", accepted);
    accepted = 0;
    for (int t = 0; t < 20000; t++) {
        size_t n = am_rng_below(&r, (uint32_t)len);
        for (size_t i = 0; i < n; i++)
            b[i] = (unsigned char)am_rng_below(&r, 256);
        if (n >= 4 && t % 2)
            put32(b, CTRL_MAGIC); /* get past the magic check half the time */
        accepted += ctrl_decode(b, n, 65536, &d, NULL) == AM_OK;
    }
    AM_CHECK(accepted == 0, "%u random buffers accepted", accepted);
    free(b);
    free(good);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Server ROUTER + agent DEALER on 127.0.0.1: valid messages both ways, a large model, garbage
 * frames refused and counted by reason while valid traffic goes on, a gone peer detected. */
AM_TEST(sockets, unit)
{
    const size_t D = 200000;
    ctrl_cfg sc = {.server = 1,
                   .endpoint = "tcp://127.0.0.1:*",
                   .self_id = CTRL_ID_SERVER,
                   .max_payload = ctrl_payload_bound(D, 8),
                   .send_timeout = 1.0};
    ctrl *srv = NULL, *ag = NULL;
    AM_REQUIRE_OK(ctrl_create(&sc, &srv));
    const char *ep = ctrl_endpoint(srv);
    AM_CHECK(strncmp(ep, "tcp://127.0.0.1:", 16) == 0 && strchr(ep, '*') == NULL,
             "bound endpoint '%s'", ep);
    ctrl_cfg acfg = {.server = 0,
                     .endpoint = ep,
                     .self_id = 2,
                     .max_payload = sc.max_payload,
                     .send_timeout = 1.0};
    AM_REQUIRE_OK(ctrl_create(&acfg, &ag));

    /* a second server on the same port fails clearly */
    ctrl *dup = NULL;
    ctrl_cfg dc = sc;
    dc.endpoint = ep;
    AM_CHECK(ctrl_create(&dc, &dup) == AM_EIO, "second bind on %s succeeded", ep);
    AM_CHECK(strstr(am_last_error(), "cannot bind") != NULL, "message: %s", am_last_error());
    ctrl_destroy(dup);

    ctrl_msg m, d;
    memset(&m, 0, sizeof m);
    m.type = CTRL_HELLO;
    m.u.hello = (ctrl_hello){.role = CTRL_ROLE_AGENT, .id = 2, .dim = D};
    strcpy(m.u.hello.desc, "test agent");
    AM_REQUIRE_OK(ctrl_send(ag, NULL, &m));
    ctrl_peer from;
    AM_REQUIRE_OK(ctrl_recv(srv, 5.0, &d, &from));
    AM_CHECK(d.type == CTRL_HELLO && d.sender == 2 && d.u.hello.id == 2 && d.u.hello.dim == D,
             "HELLO at the server");

    /* the server sends a model of 2e5 floats to that peer */
    float *theta = malloc(D * sizeof *theta), *back = malloc(D * sizeof *back);
    AM_REQUIRE(theta && back, "alloc");
    for (size_t i = 0; i < D; i++)
        theta[i] = (float)i * 1e-5f;
    m = model_msg(theta, (uint32_t)D);
    m.u.model.prev_round = CTRL_NO_ROUND;
    m.u.model.n_prev = 0;
    AM_REQUIRE_OK(ctrl_send(srv, &from, &m));
    AM_REQUIRE_OK(ctrl_recv(ag, 5.0, &d, NULL));
    AM_REQUIRE(d.type == CTRL_MODEL && d.u.model.dim == D, "MODEL at the agent");
    AM_CHECK(d.sender == CTRL_ID_SERVER, "sender %u", d.sender);
    ctrl_f32_copy(d.u.model.theta, D, back);
    AM_CHECK(memcmp(back, theta, D * sizeof *theta) == 0, "theta changed in transit");

    /* garbage from a raw DEALER: each refused and counted, then a valid STATUS gets through */
    void *zc = zmq_ctx_new(), *raw = zmq_socket(zc, ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(raw, ZMQ_LINGER, &linger, sizeof linger);
    AM_REQUIRE(zmq_connect(raw, ep) == 0, "connect raw");
    unsigned char junk[64];
    memset(junk, 0xA5, sizeof junk);
    zmq_send(raw, junk, 10, 0);          /* truncated */
    zmq_send(raw, junk, sizeof junk, 0); /* bad magic */
    zmq_send(raw, junk, 5, ZMQ_SNDMORE); /* two frames */
    zmq_send(raw, junk, 5, 0);
    memset(&m, 0, sizeof m);
    m.type = CTRL_BYE;
    size_t len = 0;
    unsigned char hb[CTRL_HDR_LEN];
    AM_REQUIRE_OK(ctrl_encode(&m, hb, sizeof hb, &len));
    hb[4] = 9; /* version 9 */
    fix_crcs(hb, len);
    zmq_send(raw, hb, len, 0);
    /* an oversized message: more than the server's max_payload, still below ZeroMQ's cap */
    size_t big = CTRL_HDR_LEN + sc.max_payload + 1000;
    unsigned char *ob = calloc(1, big);
    AM_REQUIRE(ob, "alloc");
    AM_REQUIRE_OK(ctrl_encode(&m, ob, big, &len));
    put32(ob + 16, (uint32_t)(big - CTRL_HDR_LEN));
    fix_crcs(ob, big);
    zmq_send(raw, ob, big, 0);
    free(ob);
    /* a model with a NaN, CRCs right */
    ctrl_msg ok = model_msg(theta, 1000);
    unsigned char *mb = malloc(ctrl_encoded_len(&ok));
    AM_REQUIRE(mb, "alloc");
    AM_REQUIRE_OK(ctrl_encode(&ok, mb, ctrl_encoded_len(&ok), &len));
    float nan = NAN;
    memcpy(mb + CTRL_HDR_LEN + 24 + 8 + 4 * 123, &nan, 4);
    fix_crcs(mb, len);
    zmq_send(raw, mb, len, 0);
    free(mb);
    /* then the real agent's valid STATUS */
    memset(&m, 0, sizeof m);
    m.type = CTRL_STATUS;
    m.round = 1;
    m.u.status = (ctrl_status){.loss = 0.5f, .peak = 1.0f, .power = 0.5f};
    AM_REQUIRE_OK(ctrl_send(ag, NULL, &m));
    /* the raw peer's messages may arrive before or after it; collect until the STATUS and all 6
       rejections are in */
    int got_status = 0;
    ctrl_stats st;
    double t0 = now_s();
    for (;;) {
        ctrl_get_stats(srv, &st);
        if (got_status && st.rejected >= 6)
            break;
        if (now_s() - t0 > 5.0)
            break;
        if (ctrl_recv(srv, 0.2, &d, &from) == AM_OK)
            got_status += d.type == CTRL_STATUS && d.sender == 2 && d.u.status.loss == 0.5f;
    }
    ctrl_get_stats(srv, &st);
    AM_CHECK(got_status == 1, "valid STATUS received %d times", got_status);
    AM_CHECK(st.rejected == 6, "rejected %llu (expected 6; last: %s)",
             (unsigned long long)st.rejected, st.last_reject);
    AM_CHECK(st.by_reason[CTRL_REJ_TRUNCATED] == 1, "truncated %llu",
             (unsigned long long)st.by_reason[CTRL_REJ_TRUNCATED]);
    AM_CHECK(st.by_reason[CTRL_REJ_MAGIC] == 1, "magic %llu",
             (unsigned long long)st.by_reason[CTRL_REJ_MAGIC]);
    AM_CHECK(st.by_reason[CTRL_REJ_FRAMES] == 1, "frames %llu",
             (unsigned long long)st.by_reason[CTRL_REJ_FRAMES]);
    AM_CHECK(st.by_reason[CTRL_REJ_VERSION] == 1, "version %llu",
             (unsigned long long)st.by_reason[CTRL_REJ_VERSION]);
    AM_CHECK(st.by_reason[CTRL_REJ_OVERSIZED] == 1, "oversized %llu",
             (unsigned long long)st.by_reason[CTRL_REJ_OVERSIZED]);
    AM_CHECK(st.by_reason[CTRL_REJ_PAYLOAD] == 1, "payload %llu",
             (unsigned long long)st.by_reason[CTRL_REJ_PAYLOAD]);
    AM_CHECK(st.accepted == 2, "accepted %llu", (unsigned long long)st.accepted);
    zmq_close(raw);
    zmq_ctx_term(zc);

    /* the agent goes away: sending to it is refused as "gone" (within a few seconds) */
    ctrl_destroy(ag);
    memset(&m, 0, sizeof m);
    m.type = CTRL_BYE;
    am_status s = AM_OK;
    t0 = now_s();
    while (now_s() - t0 < 5.0 && (s = ctrl_send(srv, &from, &m)) == AM_OK) {
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL);
    }
    AM_CHECK(s == AM_ENOTFOUND, "send to a gone peer: %s (%s)", am_status_str(s), am_last_error());
    ctrl_get_stats(srv, &st);
    AM_CHECK(st.send_failed >= 1, "send_failed %llu", (unsigned long long)st.send_failed);
    /* nothing more to receive: a timeout, not an error */
    AM_CHECK(ctrl_recv(srv, 0.05, &d, NULL) == AM_ETIMEOUT, "recv on a quiet socket");
    ctrl_destroy(srv);
    free(theta);
    free(back);
}

/* CAL (docs/air-interface.md §9.4): 16 + 8 q bytes, the fields back; heard 0/1, q = 8,
 * 0 < mu <= 1, finite snr and E, exact length. */
AM_TEST(cal_message, unit)
{
    const size_t maxp = 4096;
    float E[2 * CTRL_CAL_Q];
    for (unsigned i = 0; i < 2 * CTRL_CAL_Q; i++)
        E[i] = 0.25f * (float)i - 1.0f;
    ctrl_msg m, d;
    memset(&m, 0, sizeof m);
    m.type = CTRL_CAL;
    m.round = 17;
    m.sender = CTRL_ID_SERVER;
    m.u.cal = (ctrl_cal){.heard = 1, .q = CTRL_CAL_Q, .mu = 0.5f, .snr_db = 19.5f, .E = E};
    size_t len = 0;
    unsigned char *b = encode_new(&m, &len);
    AM_REQUIRE(b != NULL, "encode CAL: %s", am_last_error());
    AM_CHECK(len == CTRL_HDR_LEN + 16 + 8 * CTRL_CAL_Q, "CAL length %zu", len);
    AM_CHECK(b[6] == 11 && b[7] == 0, "CAL is type 11");
    AM_REQUIRE_OK(ctrl_decode(b, len, maxp, &d, NULL));
    float back[2 * CTRL_CAL_Q];
    ctrl_f32_copy(d.u.cal.E, 2 * CTRL_CAL_Q, back);
    AM_CHECK(d.type == CTRL_CAL && d.round == 17 && d.u.cal.heard == 1 && d.u.cal.q == 8 &&
                 d.u.cal.mu == 0.5f && d.u.cal.snr_db == 19.5f && memcmp(back, E, sizeof E) == 0,
             "CAL fields");
    AM_CHECK(strcmp(ctrl_type_name(CTRL_CAL), "CAL") == 0, "name");
    /* payload offsets: heard at 32, q at 36, mu at 40, E[1].re at 56 */
    float f;
    memcpy(&f, b + 40, 4);
    AM_CHECK(b[32] == 1 && b[36] == 8 && f == 0.5f, "layout");
    unsigned char *c = malloc(len);
    AM_REQUIRE(c != NULL, "out of memory");
    const struct {
        size_t off;
        uint32_t v;
        const char *word;
    } cases[] = {{32, 2, "CAL.heard"},
                 {36, 7, "7 sub-bands"},
                 {40, 0x00000000u, "CAL.mu"},
                 {40, 0x3fc00000u, "CAL.mu"},              /* 0, 1.5 */
                 {40, 0x3f800001u, "CAL.mu = 1.00000012"}, /* the float after 1 (%g: "1") */
                 {44, 0x7fc00000u, "snr_db"},
                 {56, 0x7f800000u, "CAL.E"}}; /* NaN, Inf */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memcpy(c, b, len);
        put32(c + cases[i].off, cases[i].v);
        fix_crcs(c, len);
        expect_reject(cases[i].word, c, len, maxp, CTRL_REJ_PAYLOAD, cases[i].word);
    }
    /* a sender never emits what a receiver refuses */
    m.u.cal.mu = 1.5f;
    unsigned char tmp[256];
    AM_CHECK(ctrl_encode(&m, tmp, sizeof tmp, &len) == AM_EINVAL, "mu 1.5 encoded");
    free(c);
    free(b);
}

/* CAL with the sub-bands' loop gains (docs/air-interface.md §8.4, §9.4): 16 + 12 q bytes, mu_q at
 * 16 + 8 q, each in (0, 1], mu their largest; a 16 + 8 q CAL has none (mu for every sub-band); any
 * other length is refused. */
AM_TEST(cal_message_mu_q, unit)
{
    const size_t maxp = 4096;
    float E[2 * CTRL_CAL_Q], mq[CTRL_CAL_Q];
    for (unsigned i = 0; i < 2 * CTRL_CAL_Q; i++)
        E[i] = 0.25f * (float)i - 1.0f;
    for (unsigned q = 0; q < CTRL_CAL_Q; q++)
        mq[q] = q == 3 ? 1.0f : 1.0f / 3.0f;
    ctrl_msg m, d;
    memset(&m, 0, sizeof m);
    m.type = CTRL_CAL;
    m.round = 4;
    m.sender = CTRL_ID_SERVER;
    m.u.cal = (ctrl_cal){.heard = 1, .q = CTRL_CAL_Q, .mu = 1.0f, .snr_db = 19.5f, .E = E,
                         .mu_q = mq};
    size_t len = 0;
    unsigned char *b = encode_new(&m, &len);
    AM_REQUIRE(b != NULL, "encode CAL: %s", am_last_error());
    AM_CHECK(len == CTRL_HDR_LEN + 16 + 12 * CTRL_CAL_Q, "CAL length %zu", len);
    AM_REQUIRE_OK(ctrl_decode(b, len, maxp, &d, NULL));
    float back[CTRL_CAL_Q];
    AM_REQUIRE(d.u.cal.mu_q != NULL, "mu_q not read");
    ctrl_f32_copy(d.u.cal.mu_q, CTRL_CAL_Q, back);
    AM_CHECK(d.u.cal.mu == 1.0f && memcmp(back, mq, sizeof mq) == 0, "CAL mu_q fields");
    float f;
    memcpy(&f, b + CTRL_HDR_LEN + 16 + 8 * CTRL_CAL_Q + 4 * 3, 4);
    AM_CHECK(f == 1.0f, "layout: mu_q[3] at 16 + 8 q + 12");
    unsigned char *c = malloc(len);
    AM_REQUIRE(c != NULL, "out of memory");
    const size_t o = CTRL_HDR_LEN + 16 + 8 * CTRL_CAL_Q;
    const struct {
        size_t off;
        uint32_t v;
        const char *word;
    } cases[] = {{o, 0x00000000u, "CAL.mu_q[0]"},
                 {o + 4, 0x3f800001u, "CAL.mu_q[1]"},  /* the float after 1 */
                 {o + 8, 0x7fc00000u, "CAL.mu_q[2]"},  /* NaN */
                 {o + 12, 0x3f000000u, "not the largest"}, /* mu 1, the largest now 1/2 */
                 {CTRL_HDR_LEN + 8, 0x3f000000u, "not the largest"}}; /* mu 1/2 */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        memcpy(c, b, len);
        put32(c + cases[i].off, cases[i].v);
        fix_crcs(c, len);
        expect_reject(cases[i].word, c, len, maxp, CTRL_REJ_PAYLOAD, cases[i].word);
    }
    /* 16 + 8 q + 4: neither length */
    memcpy(c, b, len);
    put32(c + 16, (uint32_t)(16 + 8 * CTRL_CAL_Q + 4));
    fix_crcs(c, CTRL_HDR_LEN + 16 + 8 * CTRL_CAL_Q + 4);
    expect_reject("16 + 8 q + 4 bytes", c, CTRL_HDR_LEN + 16 + 8 * CTRL_CAL_Q + 4, maxp,
                  CTRL_REJ_PAYLOAD, "its fields need");
    /* a sender never emits what a receiver refuses */
    mq[0] = 0.0f;
    unsigned char tmp[256];
    AM_CHECK(ctrl_encode(&m, tmp, sizeof tmp, &len) == AM_EINVAL, "mu_q[0] 0 encoded");
    free(c);
    free(b);
}

/* GO's calibration slot (docs/air-interface.md §9.4: 12 u16 cal_slot | 14 u16 cal_slots): the
 * fields back; 0 of 0 is the version-1 GO (u32 0); slot >= slots, slots > 4096 and a slot without
 * slots are refused. */
AM_TEST(go_cal_slot, unit)
{
    const size_t maxp = 4096;
    ctrl_msg m, d;
    memset(&m, 0, sizeof m);
    m.type = CTRL_GO;
    m.round = 3;
    m.sender = CTRL_ID_SERVER;
    m.u.go = (ctrl_go){.eta = 1, .rho = 1, .g_th = 0, .cal_slot = 3, .cal_slots = 10,
                       .beacon_tick = 100, .tx_tick = 200};
    size_t len = 0;
    unsigned char *b = encode_new(&m, &len);
    AM_REQUIRE(b != NULL, "encode GO: %s", am_last_error());
    AM_CHECK(b[44] == 3 && b[45] == 0 && b[46] == 10 && b[47] == 0, "u16 3, u16 10 at 12");
    AM_REQUIRE_OK(ctrl_decode(b, len, maxp, &d, NULL));
    AM_CHECK(d.u.go.cal_slot == 3 && d.u.go.cal_slots == 10 && d.u.go.tx_tick == 200, "GO fields");
    unsigned char *c = malloc(len);
    AM_REQUIRE(c != NULL, "out of memory");
    const uint32_t bad[] = {10u | 10u << 16, 0u | 4097u << 16, 1u};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memcpy(c, b, len);
        put32(c + 44, bad[i]);
        fix_crcs(c, len);
        expect_reject("GO slot", c, len, maxp, CTRL_REJ_PAYLOAD, "calibration slot");
    }
    m.u.go.cal_slot = 10;
    unsigned char tmp[128];
    AM_CHECK(ctrl_encode(&m, tmp, sizeof tmp, &len) == AM_EINVAL, "slot 10 of 10 encoded");
    free(c);
    free(b);
}

/* docs/air-interface.md §9.4: GO's mapping is bit 15 of the u16 at 12 + 2 (1 real, §3.3), beside
 * cal_slots: a GO without it (every GO before the field) is complex; mapping 2 is not encoded. */
AM_TEST(go_mapping, unit)
{
    ctrl_msg m, d;
    memset(&m, 0, sizeof m);
    m.type = CTRL_GO;
    m.sender = CTRL_ID_SERVER;
    m.u.go = (ctrl_go){.eta = 1, .rho = 1, .cal_slot = 3, .cal_slots = 4096, .mapping = 1,
                       .beacon_tick = 100, .tx_tick = 200};
    size_t len = 0;
    unsigned char *b = encode_new(&m, &len);
    AM_REQUIRE(b != NULL, "encode GO: %s", am_last_error());
    AM_CHECK(b[44] == 3 && b[45] == 0 && b[46] == 0x00 && b[47] == 0x90, "u16 3, u16 0x9000 at 12");
    AM_REQUIRE_OK(ctrl_decode(b, len, 4096, &d, NULL));
    AM_CHECK(d.u.go.mapping == 1 && d.u.go.cal_slots == 4096 && d.u.go.cal_slot == 3, "GO fields");
    put32(b + 44, 0); /* the version-1 word */
    fix_crcs(b, len);
    AM_REQUIRE_OK(ctrl_decode(b, len, 4096, &d, NULL));
    AM_CHECK(d.u.go.mapping == 0 && d.u.go.cal_slots == 0, "a GO without the bit is complex");
    m.u.go.mapping = 2;
    unsigned char tmp[128];
    AM_CHECK(ctrl_encode(&m, tmp, sizeof tmp, &len) == AM_EINVAL, "mapping 2 encoded");
    free(b);
}

/* GO's pilot level (docs/air-interface.md §2, §9.4): announced, it is an f32 at payload offset 32
 * (a 36-byte GO) and decodes to the same float; absent (0 in the struct), GO keeps its 32 bytes and
 * decodes as 0 (the pilots at 1); a level outside (0, 1] is neither encoded nor decoded. */
AM_TEST(go_pilot_level, unit)
{
    ctrl_msg m, d;
    memset(&m, 0, sizeof m);
    m.type = CTRL_GO;
    m.sender = CTRL_ID_SERVER;
    m.u.go = (ctrl_go){.eta = 1, .rho = 1, .beacon_tick = 100, .tx_tick = 200};
    size_t len = 0, len0 = 0;
    unsigned char *b0 = encode_new(&m, &len0);
    AM_REQUIRE(b0 != NULL, "encode GO: %s", am_last_error());
    AM_CHECK(len0 == CTRL_HDR_LEN + 32, "GO without a level: %zu bytes", len0);
    AM_REQUIRE_OK(ctrl_decode(b0, len0, 4096, &d, NULL));
    AM_CHECK(d.u.go.pilot_level == 0.0f, "absent level decoded as %g", (double)d.u.go.pilot_level);
    const float a = 1.0f / sqrtf(10.0f);
    m.u.go.pilot_level = a;
    unsigned char *b = encode_new(&m, &len);
    AM_REQUIRE(b != NULL, "encode GO: %s", am_last_error());
    float got;
    memcpy(&got, b + CTRL_HDR_LEN + 32, 4);
    AM_CHECK(len == CTRL_HDR_LEN + 36 && got == a && memcmp(b + 16, b0 + 16, 4) != 0,
             "GO with level %g: %zu bytes, f32 %g at 32, header length updated", (double)a, len,
             (double)got);
    AM_CHECK(memcmp(b + CTRL_HDR_LEN, b0 + CTRL_HDR_LEN, 32) == 0, "the first 32 bytes unchanged");
    AM_REQUIRE_OK(ctrl_decode(b, len, 4096, &d, NULL));
    AM_CHECK(d.u.go.pilot_level == a, "level decoded as %g", (double)d.u.go.pilot_level);
    const float bad[] = {0.0f, -0.5f, 1.5f, NAN, INFINITY};
    unsigned refused = 0, enc_refused = 0;
    unsigned char tmp[128];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memcpy(b + CTRL_HDR_LEN + 32, &bad[i], 4);
        fix_crcs(b, len);
        ctrl_reject why = CTRL_REJ_NONE;
        refused += ctrl_decode(b, len, 4096, &d, &why) != AM_OK && why == CTRL_REJ_PAYLOAD;
        m.u.go.pilot_level = bad[i];
        size_t l2 = 0;
        enc_refused += bad[i] == 0.0f || ctrl_encode(&m, tmp, sizeof tmp, &l2) == AM_EINVAL;
    }
    AM_CHECK(refused == 5 && enc_refused == 5, "%u of 5 bad levels refused by decode, %u by encode",
             refused, enc_refused);
    put32(b + CTRL_HDR_LEN + 32, 0x3f800001u); /* the float after 1, named so (%g: "1") */
    fix_crcs(b, len);
    expect_reject("GO level 1 + 2^-23", b, len, 4096, CTRL_REJ_PAYLOAD,
                  "pilot level 1.00000012 outside (0, 1]");
    free(b);
    free(b0);
}

/* docs/air-interface.md §9.4: GO's beacon_reps (§6.1) is a u32 at 36, after the pilot level (1
 * when none is announced), present only when it is 1..16: 40 bytes then; a 40-byte GO with 0 (not
 * the canonical form) and 17 are refused; without it GO is 32 or 36 bytes and decodes to 0. */
AM_TEST(go_beacon_reps, unit)
{
    ctrl_msg m, d;
    memset(&m, 0, sizeof m);
    m.type = CTRL_GO;
    m.sender = CTRL_ID_SERVER;
    m.u.go = (ctrl_go){.eta = 1, .rho = 1, .beacon_reps = 16, .beacon_tick = 100, .tx_tick = 200};
    size_t len = 0;
    unsigned char *b = encode_new(&m, &len);
    AM_REQUIRE(b != NULL, "encode GO: %s", am_last_error());
    float lv;
    memcpy(&lv, b + CTRL_HDR_LEN + 32, 4);
    AM_CHECK(len == CTRL_HDR_LEN + 40 && lv == 1.0f && b[CTRL_HDR_LEN + 36] == 16 &&
                 b[CTRL_HDR_LEN + 37] == 0 && b[CTRL_HDR_LEN + 38] == 0 && b[CTRL_HDR_LEN + 39] == 0,
             "%zu bytes, level %g, u32 16 at 36", len, (double)lv);
    AM_REQUIRE_OK(ctrl_decode(b, len, 4096, &d, NULL));
    AM_CHECK(d.u.go.beacon_reps == 16 && d.u.go.pilot_level == 1.0f && d.u.go.tx_tick == 200,
             "GO fields");
    put32(b + CTRL_HDR_LEN + 36, 0); /* 40 bytes with 0 */
    fix_crcs(b, len);
    AM_CHECK(ctrl_decode(b, len, 4096, &d, NULL) == AM_EFORMAT, "40-byte GO with 0 accepted");
    put32(b + CTRL_HDR_LEN + 36, 17);
    fix_crcs(b, len);
    AM_CHECK(ctrl_decode(b, len, 4096, &d, NULL) == AM_EFORMAT, "beacon_reps 17 accepted");
    free(b);
    m.u.go.beacon_reps = 0;
    m.u.go.pilot_level = 0.5f;
    b = encode_new(&m, &len);
    AM_REQUIRE(b != NULL, "encode GO: %s", am_last_error());
    AM_CHECK(len == CTRL_HDR_LEN + 36, "a GO with a level and no training blocks: %zu bytes", len);
    AM_REQUIRE_OK(ctrl_decode(b, len, 4096, &d, NULL));
    AM_CHECK(d.u.go.beacon_reps == 0 && d.u.go.pilot_level == 0.5f, "beacon_reps %u",
             d.u.go.beacon_reps);
    free(b);
    m.u.go.beacon_reps = 17;
    unsigned char tmp[128];
    AM_CHECK(ctrl_encode(&m, tmp, sizeof tmp, &len) == AM_EINVAL, "beacon_reps 17 encoded");
}

/* docs/air-interface.md §8.5, §9.4: GO's probe flag is bit 14 of the u16 at 12 + 2, beside
 * cal_slots (bits 0-13) and the mapping (bit 15); a probe needs calibration slots (a probe GO
 * without them is refused by decode and not encoded); a receiver that reads bits 0-14 as cal_slots
 * (the code before) sees 16384 + S > 4096 and refuses a probe rather than send a data burst. */
AM_TEST(go_probe, unit)
{
    ctrl_msg m, d;
    memset(&m, 0, sizeof m);
    m.type = CTRL_GO;
    m.sender = CTRL_ID_SERVER;
    m.u.go = (ctrl_go){.eta = 1, .rho = 1, .cal_slot = 2, .cal_slots = 3, .probe = 1,
                       .mapping = 1, .beacon_tick = 100, .tx_tick = 200};
    size_t len = 0;
    unsigned char *b = encode_new(&m, &len);
    AM_REQUIRE(b != NULL, "encode GO: %s", am_last_error());
    AM_CHECK(len == CTRL_HDR_LEN + 32 && b[44] == 2 && b[45] == 0 && b[46] == 3 && b[47] == 0xC0,
             "%zu bytes, u16 2, u16 0xC003 at 12", len);
    AM_REQUIRE_OK(ctrl_decode(b, len, 4096, &d, NULL));
    AM_CHECK(d.u.go.probe == 1 && d.u.go.mapping == 1 && d.u.go.cal_slots == 3 &&
                 d.u.go.cal_slot == 2,
             "GO fields: probe %u, mapping %u, slot %u of %u", d.u.go.probe, d.u.go.mapping,
             d.u.go.cal_slot, d.u.go.cal_slots);
    /* the code before read bits 0-14: 16384 + 3 slots, refused */
    uint16_t w = (uint16_t)(b[46] | b[47] << 8);
    AM_CHECK((w & 0x7FFFu) > 4096, "an older receiver's cal_slots %u", w & 0x7FFFu);
    put32(b + 44, 0u | (1u << 30)); /* a probe without slots */
    fix_crcs(b, len);
    expect_reject("GO probe without slots", b, len, 4096, CTRL_REJ_PAYLOAD, "probe");
    put32(b + 44, 1u | 3u << 16); /* the same GO without the bit: a round's GO */
    fix_crcs(b, len);
    AM_REQUIRE_OK(ctrl_decode(b, len, 4096, &d, NULL));
    AM_CHECK(d.u.go.probe == 0 && d.u.go.cal_slots == 3, "not a probe");
    free(b);
    unsigned char tmp[128];
    m.u.go.cal_slots = m.u.go.cal_slot = 0;
    AM_CHECK(ctrl_encode(&m, tmp, sizeof tmp, &len) == AM_EINVAL, "a probe without slots encoded");
    m.u.go.cal_slots = 3;
    m.u.go.probe = 2;
    AM_CHECK(ctrl_encode(&m, tmp, sizeof tmp, &len) == AM_EINVAL, "probe 2 encoded");
}
