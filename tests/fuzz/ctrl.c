/* tests/fuzz/ctrl: the control-plane decoder (host/net/ctrl.c ctrl_decode) on any bytes, and on
 * the same bytes made past the CRC checks (magic, version, length, both CRCs fixed up) so that
 * the payload parsing is what gets fuzzed. Properties: never reads outside the buffer (ASan);
 * an accepted message's views read whole; it re-encodes (ctrl_encode validates as the decoder),
 * that encoding decodes, and encoding it again gives the same bytes. */
#include <stdio.h>
#include <zlib.h>

#include "common.h"
#include "fuzz.h"
#include "net/ctrl.h"

const char *const *fuzz_tokens = NULL;
#define MAXP (1u << 16)

static uint32_t crc(const uint8_t *p, size_t n)
{
    return (uint32_t)crc32(crc32(0L, Z_NULL, 0), p, (uInt)n);
}

/* Touch every view of an accepted message (ASan reports a view that runs past the buffer). */
static unsigned touch(const ctrl_msg *m)
{
    unsigned acc = 0;
    float f[64];
    switch (m->type) {
    case CTRL_HELLO:
        for (uint32_t i = 0; i < m->u.hello.n_ep; i++)
            acc += (unsigned)strlen(ctrl_str_at(m->u.hello.ep, i));
        acc += (unsigned)strlen(m->u.hello.desc);
        break;
    case CTRL_WELCOME:
        acc += (unsigned)strlen(m->u.welcome.reason) + (unsigned)strlen(m->u.welcome.uplink) +
               (unsigned)strlen(m->u.welcome.data_key);
        break;
    case CTRL_MODEL:
        for (uint32_t i = 0; i < m->u.model.n_prev; i++)
            acc += ctrl_u32_at(m->u.model.prev_ids, i);
        for (uint32_t i = 0; i < m->u.model.dim; i += 64)
            ctrl_f32_copy((const uint8_t *)m->u.model.theta + 4 * (size_t)i,
                          m->u.model.dim - i < 64 ? m->u.model.dim - i : 64, f);
        break;
    case CTRL_STATUS:
        for (uint32_t i = 0; i < m->u.status.n_x; i += 64)
            ctrl_f32_copy((const uint8_t *)m->u.status.x + 4 * (size_t)i,
                          m->u.status.n_x - i < 64 ? m->u.status.n_x - i : 64, f);
        break;
    case CTRL_PLAN:
        for (uint32_t i = 0; i < m->u.plan.n; i++)
            acc += ctrl_u32_at(m->u.plan.ids, i);
        break;
    case CTRL_REPORT:
        for (uint32_t i = 0; i < m->u.report.n; i++)
            acc += ctrl_u32_at(m->u.report.ids, i);
        break;
    case CTRL_COMMIT:
        for (uint32_t i = 0; i < m->u.commit.n; i++)
            acc += ctrl_u32_at(m->u.commit.ids, i);
        break;
    case CTRL_CAL:
        ctrl_f32_copy(m->u.cal.E, 2 * (size_t)m->u.cal.q, f);
        break;
    default:
        break;
    }
    return acc;
}

static uint8_t enc1[CTRL_HDR_LEN + MAXP], enc2[CTRL_HDR_LEN + MAXP];

/* Returns the outcome: the line of the refusing check, or 1000 + the accepted type. */
static unsigned check(const uint8_t *b, size_t n)
{
    ctrl_msg m, d;
    ctrl_reject why = CTRL_REJ_NONE;
    am_status s = ctrl_decode(b, n, MAXP, &m, &why);
    if (s != AM_OK) {
        if (s != AM_EFORMAT || why == CTRL_REJ_NONE)
            fuzz_fail("refused with status %d, reason %d: %s", s, why, am_last_error());
        return fuzz_error_line();
    }
    (void)touch(&m);
    size_t l1 = 0, l2 = 0;
    if (ctrl_encode(&m, enc1, sizeof enc1, &l1) != AM_OK)
        fuzz_fail("decoded %s does not encode: %s", ctrl_type_name(m.type), am_last_error());
    if (ctrl_decode(enc1, l1, MAXP, &d, &why) != AM_OK)
        fuzz_fail("the re-encoded %s does not decode: %s", ctrl_type_name(m.type),
                  am_last_error());
    if (ctrl_encode(&d, enc2, sizeof enc2, &l2) != AM_OK || l1 != l2 || memcmp(enc1, enc2, l1))
        fuzz_fail("%s: encode(decode(encode(m))) differs from encode(m)", ctrl_type_name(m.type));
    return 1000 + m.type;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_outcome = check(data, size);
    if (size < CTRL_HDR_LEN || size > CTRL_HDR_LEN + MAXP)
        return 0;
    /* the same bytes past the framing checks: the payload parser is what they reach */
    uint8_t *b = malloc(size); /* exactly size bytes: ASan sees any read past them */
    if (!b)
        fuzz_fail("out of memory");
    memcpy(b, data, size);
    const uint32_t magic = CTRL_MAGIC, n = (uint32_t)(size - CTRL_HDR_LEN), zero = 0;
    const uint16_t ver = CTRL_VERSION, type = (uint16_t)(1 + data[6] % (CTRL_TYPE_END - 1));
    memcpy(b, &magic, 4);
    memcpy(b + 4, &ver, 2);
    memcpy(b + 6, &type, 2);
    memcpy(b + 16, &n, 4);
    uint32_t pc = crc(b + CTRL_HDR_LEN, n);
    memcpy(b + 20, &pc, 4);
    memcpy(b + 24, &zero, 4);
    uint32_t hc = crc(b, 28);
    memcpy(b + 28, &hc, 4);
    if (fuzz_outcome < 1000) /* the raw bytes were refused: what the fixed-up ones reached */
        fuzz_outcome = 2000 + check(b, size) % 2000;
    else
        (void)check(b, size);
    free(b);
    return 0;
}

/* One valid message of each type. */
size_t fuzz_seeds(uint8_t **bufs, size_t *lens, size_t max)
{
    static const uint32_t ids[3] = {0, 1, 5};
    static const float x[8] = {0.5f, -1, 2, 0, 1e-3f, 3, -2, 1};
    char eps[4][CTRL_STR_LEN];
    memset(eps, 0, sizeof eps);
    for (int i = 0; i < 4; i++)
        snprintf(eps[i], CTRL_STR_LEN, "tcp://127.0.0.1:%d", 41000 + i);
    ctrl_msg ms[16];
    memset(ms, 0, sizeof ms);
    ms[0].type = CTRL_HELLO;
    ms[0].sender = CTRL_ID_CHAN;
    ms[0].u.hello = (ctrl_hello){.role = CTRL_ROLE_CHAN, .n_agents = 1, .n_ep = 4, .ep = eps};
    strcpy(ms[0].u.hello.desc, "chan");
    ms[1].type = CTRL_HELLO;
    ms[1].sender = 0;
    ms[1].u.hello = (ctrl_hello){.role = CTRL_ROLE_AGENT, .id = 0, .dim = 8};
    ms[2].type = CTRL_WELCOME;
    ms[2].sender = CTRL_ID_SERVER;
    ms[2].u.welcome = (ctrl_welcome){.accepted = 1, .role = CTRL_ROLE_AGENT, .dim = 8,
                                     .nfft = 256, .cp = 32, .payload_len = 8, .rate = 1e6};
    strcpy(ms[2].u.welcome.reason, "ok");
    strcpy(ms[2].u.welcome.uplink, "tcp://127.0.0.1:40001");
    strcpy(ms[2].u.welcome.downlink, "tcp://127.0.0.1:40002");
    ms[2].u.welcome.learner =
        (ctrl_learner){.learner = 1, .inner_steps = 1, .alpha = 0.01f, .tasks = 1,
                       .local_iters = 1, .local_lr = 1e-3f, .hf_delta = 1e-3f, .ways = 5, .shots = 5, .query = 5,
                       .filters = 32, .sparsify = 1, .keep = 1, .memory = 1, .n_agents = 2,
                       .seed = 1};
    ms[3].type = CTRL_MODEL;
    ms[3].sender = CTRL_ID_SERVER;
    ms[3].u.model = (ctrl_model){.rho = 1, .g_th = 0.1f, .flags = 1, .prev_round = 1, .n_prev = 2,
                                 .dim = 8, .prev_ids = ids, .theta = x};
    ms[4].type = CTRL_STATUS;
    ms[4].sender = 1;
    ms[4].u.status = (ctrl_status){.loss = 1, .peak = 0.5f, .power = 1, .n_x = 8, .x = x};
    ms[5].type = CTRL_GO;
    ms[5].sender = CTRL_ID_SERVER;
    ms[5].u.go = (ctrl_go){.eta = 0.5f, .rho = 1, .g_th = 0.1f, .beacon_tick = 1000, .tx_tick = 2000};
    ms[6].type = CTRL_PLAN;
    ms[6].sender = CTRL_ID_SERVER;
    ms[6].u.plan = (ctrl_plan){.eta = 0.5f, .rho = 1, .nfft = 256, .cp = 32, .burst_len = 4320,
                               .beacon_tick = 1000, .tx_tick = 2000, .deadline = 2, .n = 3,
                               .ids = ids};
    ms[7].type = CTRL_REPORT;
    ms[7].sender = CTRL_ID_CHAN;
    ms[7].u.report = (ctrl_report){.chunk_tick = 5, .chunk_len = 100, .n = 3, .ids = ids};
    ms[8].type = CTRL_COMMIT;
    ms[8].sender = CTRL_ID_SERVER;
    ms[8].u.commit = (ctrl_commit){.decoded = 1, .n = 3, .ids = ids};
    static const float E[2 * CTRL_CAL_Q] = {1, 0, 0.5f, -0.5f, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0};
    ms[9].type = CTRL_CAL;
    ms[9].sender = CTRL_ID_SERVER;
    ms[9].u.cal = (ctrl_cal){.heard = 1, .q = CTRL_CAL_Q, .mu = 0.5f, .snr_db = 20, .E = E};
    /* the fields added since: GO's calibration slot and mapping bit (bit 15 of the cal_slots
     * word), WELCOME's levels (version 4) */
    ms[10] = ms[5];
    ms[10].u.go.cal_slot = 2;
    ms[10].u.go.cal_slots = 5;
    ms[10].u.go.mapping = 1;
    ms[11] = ms[2];
    ms[11].u.welcome.levels = 1;
    ms[11].u.welcome.tx_dbm = -19.75f;
    ms[11].u.welcome.rx_dbm = -75.0f;
    /* GO's later fields (§9.4): the pilot level (36 bytes), beacon_reps after it (40 bytes) with
     * the probe bit (bit 14 of the cal_slots word); a CAL not heard */
    ms[12] = ms[5];
    ms[12].u.go.pilot_level = 0.3f;
    ms[13] = ms[10];
    ms[13].u.go.probe = 1;
    ms[13].u.go.pilot_level = 0.5f;
    ms[13].u.go.beacon_reps = 4;
    static const float E0[2 * CTRL_CAL_Q] = {0};
    ms[14] = ms[9];
    ms[14].u.cal = (ctrl_cal){.heard = 0, .q = CTRL_CAL_Q, .mu = 1, .snr_db = -3, .E = E0};
    /* CAL with the sub-bands' loop gains (16 + 12 q bytes, §8.4) */
    static const float MQ[CTRL_CAL_Q] = {1, 0.5f, 0.5f, 0.5f, 0.25f, 0.5f, 0.5f, 0.5f};
    ms[15] = ms[9];
    ms[15].u.cal.mu = 1;
    ms[15].u.cal.mu_q = MQ;
    size_t k = 0;
    for (size_t i = 0; i < sizeof ms / sizeof ms[0] && k < max; i++) {
        size_t len = 0;
        if (ctrl_encode(&ms[i], enc1, sizeof enc1, &len) != AM_OK) {
            fprintf(stderr, "fuzz seed %zu (%s) not encoded: %s\n", i,
                    ctrl_type_name(ms[i].type), am_last_error());
            continue;
        }
        if ((bufs[k] = malloc(len)) != NULL) {
            memcpy(bufs[k], enc1, len);
            lens[k++] = len;
        }
    }
    return k;
}
