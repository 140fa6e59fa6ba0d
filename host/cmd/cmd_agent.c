/* airmeta agent: one training agent of a multi-process run (issue 4 item 3, docs/paper.md §3).
 * Joins the server's control plane, learns the run's setup from it, and each round: local
 * meta-update from the broadcast model, error memory, sparsification, status report, then on the
 * server's GO: beacon -> channel estimate -> precoded burst over the zmq radio (host/net/net.h).
 *
 * Error memory when a burst does not make it (documented choice): the agent keeps v = u + m
 * (this round's update plus its memory) pending until the server says whose updates it applied
 * (COMMIT, repeated in the next MODEL). Applied: m = v - delivered (entries on bins the agent
 * truncated stay, docs/paper.md §3). Not applied (late, beacon missed, burst lost, round not
 * decoded, or the verdict never arrived): m = v, nothing of it was delivered, so nothing is lost;
 * the update reaches the server in a later round through the memory. Without memory (--no-memory at
 * the server) m stays 0 and such an update is dropped.
 *
 * A resumed server (airmeta server --resume, issue 12) repeats the rounds after its checkpoint.
 * The agent keeps its state as of the start of each of its last --keep-rounds rounds (the RNG
 * stream and the error memory once the previous round's verdict is known: all that round r
 * depends on besides theta); a MODEL of a round it has passed restores that round's state, so the
 * repeated rounds are the uninterrupted run's, bit for bit. Older than that: the agent goes on
 * from its current state and says so. With --state FILE the live and kept states are also written
 * to FILE (atomically, host/run/checkpoint.h; see state_write) and read back when the agent
 * starts: an agent stopped with its server (BYE after SIGTERM) or killed with it, started again
 * with the same FILE, takes up the resumed rounds exactly as if it had never stopped. */
#include <cblas.h> /* openblas_set_num_threads only (as airmeta sim) */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/cli.h"
#include "cmd/commands.h"
#include "net/auth.h"
#include "net/ctrl.h"
#include "fl/meta.h"
#include "round/learner.h"
#include "util/monotime.h"
#include "net/net.h"
#include "net/net_air.h"
#include "phy/beacon.h"
#include "radio/radio.h"
#include "round/ota_agent.h" /* OTA_AGENT_CLOCK_MAX */
#include "run/checkpoint.h"
#include "run/flags.h"
#include "util/crc32.h"

typedef struct agent_opts {
    unsigned id;
    const char *server, *data_dir, *late_status, *late_burst;
    flags_radio radio; /* --radio zmq (the chan) or uhd (on air), --radio-args (run/flags.h) */
    const char *key, *server_key;             /* CURVE (host/net/auth.h) */
    const char *state;                        /* --state FILE: the kept states on disk */
    int insecure;
    long late_status_round, late_burst_round; /* -1: none */
    double late_status_s, late_burst_s;
    double timeout, beacon_timeout;
    double test_peak; /* < 0: none */
    size_t max_dim;
    unsigned keep_rounds; /* snapshots kept for a resumed server */
    int quiet;
} agent_opts;

typedef struct agent_tasks {
    const fl_task_family *fam;
    fl_task_buf *buf;
    unsigned id;
} agent_tasks;

/* The agent's state at the start of round `round` (see the top). Anything else an agent carries
 * from one round to the next must be kept here and in --state too, or a resumed run is no longer
 * the uninterrupted one (tests/cli/net_resume.sh compares them byte for byte): the carrier-offset
 * tracker and the calibration correction A are (net_agent_carry_*). */
typedef struct agent_snap {
    int valid;
    uint32_t round;
    am_rng rng;
    float *m;             /* D */
    unsigned char *carry; /* net_agent_carry_size: tracker and A */
} agent_snap;

typedef struct agent_state {
    agent_opts o;
    ctrl *c;
    radio *rad;
    double rate;
    net_sec sec;
    char uplink[CTRL_STR_LEN], downlink[CTRL_STR_LEN], data_key[CTRL_KEY_TXT]; /* in use */
    uint64_t rejoins;
    int air; /* --radio uhd: this host's radio, opened before joining (host/net/net_air.h) */
    ctrl_learner l;
    fl_task_family *fam;
    fl_model *model;
    fl_meta *meta;
    fl_sparse *sp;
    agent_tasks tasks;
    net_agent *na;
    am_rng rng;
    size_t D, blen, dl_cap, carry_n;
    float *theta, *u, *v, *m, *x, *del;
    float complex *burst, *dl;
    unsigned char *carry; /* carry_n: scratch for net_agent_carry_* */
    /* the round in flight */
    int pending, sent;
    uint32_t pend_round;
    float peak, power, loss;
    uint64_t rounds, applied, not_applied, deaf, cals, heard;
    uint64_t weak; /* bursts not sent: every bin below g_th (link too weak) */
    uint64_t scaled; /* bursts (rounds' and probes') scaled to fit the DAC (§4.1) */
    /* calibration probes (docs/air-interface.md §8.5): the one in flight, counts, its payload
     * (D zeros) and what its burst would deliver (D, unused) */
    int probing;
    uint32_t probe_round;
    uint64_t probes, probes_heard;
    float *zx, *zdel;
    agent_snap *snap; /* keep_rounds */
    int have_model;
    uint32_t last_model; /* the last MODEL's round */
    uint64_t restored;
    uint32_t state_crc; /* which run and agent the --state file belongs to */
    void *state_buf;
    size_t state_cap;
} agent_state;

static void sleep_s(double s)
{
    struct timespec t = {(time_t)s, (long)((s - floor(s)) * 1e9)};
    while (nanosleep(&t, &t) != 0 && !net_stop_requested())
        ;
}

/* "ROUND:SECONDS" of the fault-injection flags */
static am_status parse_late(const char *flag, const char *v, long *round, double *secs)
{
    char *end = NULL;
    long r = strtol(v, &end, 10);
    if (end == v || *end != ':' || r < 0 || r > 100000000 || v[0] < '0' || v[0] > '9')
        return AM_FAIL(AM_EINVAL, "%s: '%s' is not ROUND:SECONDS (round index from 0)", flag, v);
    const char *p = end + 1;
    double d = strtod(p, &end);
    if (end == p || *end != '\0' || !isfinite(d) || d < 0 || d > 3600 ||
        p[strspn(p, "0123456789.eE+-")] != '\0') /* decimal: not 0x1 */
        return AM_FAIL(AM_EINVAL, "%s: '%s': SECONDS must be 0..3600", flag, v);
    *round = r;
    *secs = d;
    return AM_OK;
}

static am_status
sample_task(void *ctx, am_rng *rng, const fl_batch **support, const fl_batch **query)
{
    agent_tasks *t = ctx;
    am_status s = fl_task_sample_train(t->fam, t->id, rng, t->buf); /* its own pool, if any */
    if (s != AM_OK)
        return s;
    *support = &t->buf->support;
    *query = &t->buf->query;
    return AM_OK;
}

static void state_free(agent_state *s)
{
    ctrl_destroy(s->c);
    radio_close(s->rad);
    net_sec_free(&s->sec); /* after the last socket */
    fl_task_buf_destroy(s->tasks.buf);
    fl_meta_destroy(s->meta);
    fl_sparse_destroy(s->sp);
    fl_model_destroy(s->model);
    fl_task_family_destroy(s->fam);
    net_agent_destroy(s->na);
    free(s->theta);
    free(s->u);
    free(s->v);
    free(s->m);
    free(s->x);
    free(s->del);
    free(s->zx);
    free(s->zdel);
    free(s->burst);
    free(s->dl);
    free(s->carry);
    if (s->snap)
        for (unsigned i = 0; i < s->o.keep_rounds; i++) {
            free(s->snap[i].m);
            free(s->snap[i].carry);
        }
    free(s->snap);
    free(s->state_buf);
}

/* --state FILE after the checkpoint header (this machine's byte order):
 *   u32 magic 0x53474141 ("AAGS"), u32 version 4, u32 agent id, u32 n,
 *   the live state: u32 pending, u32 pend_round, u64 rng[4], f32 m[D], f32 v[D], f32 delivered[D]
 *   (the round in flight, whose verdict is not known yet: resolved by the next MODEL), carry C
 *   (net_agent_carry_save: u32 n, u32 head, f64 tracked offsets[64], the LO tracker of
 *   docs/air-interface.md §4.2 in 296 bytes, f32 A[8][2]; version 3 had no LO tracker),
 *   then n kept states: u32 round, u32 0, u64 rng[4], f32 m[D], carry C.
 * It is rewritten when a state is kept, when a round's update is made (before its STATUS) and
 * when its burst is made (before it is sent): whatever the server applied before a crash, the
 * file has what the agent needs to go on from the server's checkpoint. The header's config_crc is
 * the CRC-32 of the id and the run's learner block (WELCOME): another run's or agent's file is
 * refused. */
#define AGENT_STATE_MAGIC 0x53474141u
#define AGENT_STATE_VERSION 4u

static size_t snap_bytes(const agent_state *s)
{
    return 8 + sizeof(am_rng) + 4 * s->D + s->carry_n;
}

static size_t live_bytes(const agent_state *s)
{
    return 16 + 8 + sizeof(am_rng) + 12 * s->D + s->carry_n;
}

static void put_f(unsigned char **p, const void *v, size_t n)
{
    memcpy(*p, v, n);
    *p += n;
}

static am_status state_write(agent_state *s)
{
    unsigned char *p = s->state_buf;
    const uint32_t h[4] = {AGENT_STATE_MAGIC, AGENT_STATE_VERSION, s->o.id, 0};
    put_f(&p, h, sizeof h);
    const uint32_t pr[2] = {(uint32_t)s->pending, s->pend_round};
    put_f(&p, pr, sizeof pr);
    put_f(&p, &s->rng, sizeof s->rng);
    put_f(&p, s->m, 4 * s->D);
    put_f(&p, s->v, 4 * s->D);
    put_f(&p, s->del, 4 * s->D);
    net_agent_carry_save(s->na, s->carry);
    put_f(&p, s->carry, s->carry_n);
    uint32_t n = 0, last = 0;
    for (unsigned i = 0; i < s->o.keep_rounds; i++)
        if (s->snap[i].valid) {
            const agent_snap *c = &s->snap[i];
            const uint32_t rr[2] = {c->round, 0};
            put_f(&p, rr, 8);
            put_f(&p, &c->rng, sizeof c->rng);
            put_f(&p, c->m, 4 * s->D);
            put_f(&p, c->carry, s->carry_n);
            last = n++ ? (c->round > last ? c->round : last) : c->round;
        }
    memcpy((unsigned char *)s->state_buf + 12, &n, 4);
    const checkpoint_info ci = {
        .round = last, .agents = 1, .dim = s->D, .config_crc = s->state_crc};
    return checkpoint_write(s->o.state, &ci, s->state_buf, live_bytes(s) + n * snap_bytes(s));
}

static int rng_ok(const am_rng *r)
{
    return (r->s[0] | r->s[1] | r->s[2] | r->s[3]) != 0;
}

/* The live and kept states from --state FILE (none there: a fresh start). Validated before any
 * is used. */
static am_status state_read(agent_state *s)
{
    const checkpoint_info ex = {.agents = 1, .dim = s->D, .config_crc = s->state_crc};
    checkpoint_info ci;
    void *blob = NULL;
    size_t n = 0;
    am_status st = checkpoint_read(s->o.state, &ex, s->state_cap, &ci, &blob, &n);
    if (st == AM_ENOTFOUND)
        return AM_OK;
    if (st != AM_OK)
        return am_error_wrap(st, "--state (a file of another run or agent? remove it to start "
                                 "afresh)");
    uint32_t h[4] = {0, 0, 0, 0}, pr[2] = {0, 0};
    if (n >= live_bytes(s)) {
        memcpy(h, blob, sizeof h);
        memcpy(pr, (const unsigned char *)blob + 16, sizeof pr);
    }
    if (n < live_bytes(s) || h[0] != AGENT_STATE_MAGIC || h[1] != AGENT_STATE_VERSION ||
        h[2] != s->o.id || h[3] > s->o.keep_rounds || pr[0] > 1 ||
        n != live_bytes(s) + h[3] * snap_bytes(s)) {
        free(blob);
        return AM_FAIL(AM_EFORMAT,
                       "--state %s: not agent %u's states (%u of them in %zu bytes; --keep-rounds "
                       "%u)",
                       s->o.state, s->o.id, h[3], n, s->o.keep_rounds);
    }
    const unsigned char *p = (const unsigned char *)blob + 24;
    am_rng live;
    memcpy(&live, p, sizeof live);
    p += sizeof live;
    float *lv = malloc(12 * s->D); /* m, v, delivered: checked before use */
    if (!lv) {
        free(blob);
        return AM_FAIL(AM_ENOMEM, "--state: out of memory");
    }
    memcpy(lv, p, 12 * s->D);
    p += 12 * s->D;
    memcpy(s->carry, p, s->carry_n);
    p += s->carry_n;
    int ok = rng_ok(&live) && fl_vec_finite(lv, 3 * s->D);
    /* the carried states validated by loading them (the live one last, kept) */
    am_status cs = AM_OK;
    int twice = 0; /* a round kept twice: which copy holds? (the first was used) */
    uint32_t round = 0;
    for (uint32_t i = 0; ok && !twice && cs == AM_OK && i < h[3]; i++, p += snap_bytes(s)) {
        agent_snap *c = &s->snap[i];
        memcpy(&c->round, p, 4);
        round = c->round;
        for (uint32_t j = 0; j < i; j++)
            twice |= s->snap[j].round == round;
        if (twice)
            break;
        memcpy(&c->rng, p + 8, sizeof c->rng);
        memcpy(c->m, p + 8 + sizeof c->rng, 4 * s->D);
        memcpy(c->carry, p + 8 + sizeof c->rng + 4 * s->D, s->carry_n);
        ok = rng_ok(&c->rng) && fl_vec_finite(c->m, s->D);
        if (ok)
            cs = net_agent_carry_load(s->na, c->carry);
    }
    if (ok && cs == AM_OK)
        cs = net_agent_carry_load(s->na, s->carry);
    free(blob);
    if (!ok || twice || cs != AM_OK) {
        free(lv);
        if (twice)
            return AM_FAIL(AM_EFORMAT, "--state %s: round %u is kept twice (which copy holds?)",
                           s->o.state, (unsigned)round);
        if (cs != AM_OK)
            return am_error_wrap(cs, "--state %s", s->o.state);
        return AM_FAIL(AM_EFORMAT, "--state %s: a memory is not finite or an RNG is zero",
                       s->o.state);
    }
    for (uint32_t i = 0; i < h[3]; i++)
        s->snap[i].valid = 1;
    s->rng = live;
    memcpy(s->m, lv, 4 * s->D);
    memcpy(s->v, lv + s->D, 4 * s->D);
    memcpy(s->del, lv + 2 * s->D, 4 * s->D);
    free(lv);
    s->pending = (int)pr[0];
    s->pend_round = pr[1];
    s->sent = 1; /* its verdict decides: an update the server applied was sent */
    if (!s->o.quiet) {
        printf("agent %u: state read from %s: %u kept rounds%s\n", s->o.id, s->o.state, h[3],
               s->pending ? ", one in flight" : "");
        fflush(stdout);
    }
    return AM_OK;
}

/* With --state: the file rewritten (a failed write warns; the run goes on, only a restart of
 * this agent would miss it). */
static void state_save(agent_state *s)
{
    if (s->o.state && state_write(s) != AM_OK)
        fprintf(stderr, "airmeta agent: warning: %s\n", am_last_error());
}

static am_status open_data(agent_state *s, const ctrl_welcome *w);

/* docs/air-interface.md §4.1 "Link budget": on air, the uplink's gain over the downlink's from
 * this radio's levels and the server's (WELCOME), so that the precoder's rho and g_th are received
 * power at the server's ADC whatever the gains; both radios without levels: a digital link (0). */
static am_status link_budget(agent_state *s, const ctrl_welcome *w, float *db)
{
    *db = 0.0f;
    if (!s->air || w->uplink[0] != '\0')
        return AM_OK;
    radio_info ri;
    radio_get_info(s->rad, &ri);
    if (!ri.levels != !w->levels)
        return AM_FAIL(AM_EINVAL,
                       "the server's radio %s calibrated levels, this agent's radio '%s' %s: the "
                       "link budget needs both (docs/air-interface.md §4.1)",
                       w->levels ? "announces" : "has no", ri.backend,
                       ri.levels ? "has them" : "has none");
    if (!ri.levels)
        return AM_OK;
    const double l = net_link_db(ri.tx_dbm, ri.rx_dbm, w->tx_dbm, w->rx_dbm);
    if (!isfinite(l) || fabs(l) > 300.0)
        return AM_FAIL(AM_EINVAL, "link budget: uplink %+g dB over the downlink", l);
    *db = (float)l;
    if (!s->o.quiet) {
        printf("agent %u: link budget: uplink %+.2f dB over the downlink (this radio TX %.2f dBm, "
               "RX %.2f dBm at unit power; the server's %.2f, %.2f dBm)\n",
               s->o.id, l, ri.tx_dbm, ri.rx_dbm, (double)w->tx_dbm, (double)w->rx_dbm);
        fflush(stdout);
    }
    return AM_OK;
}

/* The run's setup from WELCOME: family, model, learner, sparsifier, transmitter, radio. */
static am_status setup(agent_state *s, const ctrl_welcome *w)
{
    s->l = w->learner;
    if (s->o.id >= s->l.n_agents)
        return AM_FAIL(AM_EINVAL, "agent id %u but the run has %u agents", s->o.id, s->l.n_agents);
    am_status st = net_family_create(&s->l, s->o.data_dir, 0, &s->fam);
    if (st != AM_OK)
        return st;
    if ((st = learner_model_create(s->fam, s->l.filters, &s->model)) != AM_OK)
        return st;
    s->D = fl_model_nparams(s->model);
    if (s->D != w->dim || w->payload_len != w->dim)
        return AM_FAIL(AM_EINVAL,
                       "the server's model has %" PRIu64 " parameters (payload %" PRIu64
                       "), this agent's %s has %zu: different builds or data?",
                       w->dim, w->payload_len, fl_model_describe(s->model), s->D);
    if (s->D > s->o.max_dim)
        return AM_FAIL(AM_EINVAL, "model of %zu parameters exceeds --max-dim %zu", s->D,
                       s->o.max_dim);
    fl_meta_cfg mc;
    net_meta_cfg(&s->l, &mc);
    if ((st = fl_meta_create(&mc, s->model, fl_task_query_size(s->fam), &s->meta)) != AM_OK)
        return st;
    fl_sparse_cfg sc;
    fl_sparse_cfg_default(&sc);
    sc.dim = s->D;
    sc.kind = (fl_sparse_kind)s->l.sparsify;
    sc.keep = s->l.keep;
    if ((st = fl_sparse_create(&sc, &s->sp)) != AM_OK)
        return st;
    if ((st = fl_task_buf_create(s->fam, &s->tasks.buf)) != AM_OK)
        return st;
    s->tasks.fam = s->fam;
    s->tasks.id = s->o.id;
    am_rng_seed2(&s->rng, s->l.seed, s->o.id); /* agent k's stream, as fl_airfl */
    float link_db = 0.0f;
    if ((st = link_budget(s, w, &link_db)) != AM_OK)
        return st;
    net_agent_cfg ac = {.nfft = w->nfft,
                        .cp_len = w->cp,
                        .payload_len = s->D,
                        .smooth = 0,
                        .cfo_comp = 1,
                        .track = NET_AGENT_TRACK,
                        .link_db = link_db};
    if (s->air && s->rad) { /* §4.2 "Free-running radios": this radio's own clock and LOs */
        radio_info ri;
        radio_get_info(s->rad, &ri);
        if (ri.rate > 0 && ri.rx_freq > 0)
            ac.fc_fs = ri.rx_freq / ri.rate;
        /* §4.2 "Sampling clock": its one reference, NET_RADIO_PPM from the server's; on air every
           carrier offset is the clocks' (a Doppler shift scales time by the same ratio) */
        net_agent_clock(&ac, ac.fc_fs, NET_RADIO_PPM, 0.0);
    } else { /* the chan's radios, from its HELLO through the server (§9.4) */
        net_agent_clock(&ac, w->clock.fc_fs, w->clock.ppm, w->clock.cfo_ms);
    }
    if ((st = net_agent_create(&ac, &s->na)) != AM_OK)
        return st;
    s->blen = net_agent_burst_len(s->na);
    s->carry_n = net_agent_carry_size(s->na);
    /* the downlink chunk: the beacon plus the emulator's lead, tail and delay spread */
    s->dl_cap = phy_beacon_len_reps(net_agent_frame(s->na), PHY_BEACON_MAX_REPS) +
                16 * (size_t)(w->nfft + w->cp) + 4096;
    const size_t D = s->D;
    s->theta = malloc(D * sizeof *s->theta);
    s->u = malloc(D * sizeof *s->u);
    s->v = malloc(D * sizeof *s->v);
    s->m = calloc(D, sizeof *s->m);
    s->x = malloc(D * sizeof *s->x);
    s->del = malloc(D * sizeof *s->del);
    s->zx = calloc(D, sizeof *s->zx);
    s->zdel = malloc(D * sizeof *s->zdel);
    s->burst = malloc(s->blen * sizeof *s->burst);
    s->dl = malloc(s->dl_cap * sizeof *s->dl);
    s->carry = malloc(s->carry_n);
    s->snap = calloc(s->o.keep_rounds, sizeof *s->snap);
    for (unsigned i = 0; s->snap && i < s->o.keep_rounds; i++)
        if (!(s->snap[i].m = malloc(D * sizeof *s->m)) ||
            !(s->snap[i].carry = malloc(s->carry_n)))
            return AM_FAIL(AM_ENOMEM, "agent: %u snapshots of D = %zu", s->o.keep_rounds, D);
    s->state_cap = live_bytes(s) + (size_t)s->o.keep_rounds * snap_bytes(s);
    if (s->o.state)
        s->state_buf = malloc(s->state_cap);
    if (!s->theta || !s->u || !s->v || !s->m || !s->x || !s->del || !s->zx || !s->zdel ||
        !s->burst || !s->dl || !s->carry || !s->snap || (s->o.state && !s->state_buf))
        return AM_FAIL(AM_ENOMEM, "agent: buffers for D = %zu", D);
    if (s->o.state) {
        unsigned char id[4 + sizeof w->learner];
        memcpy(id, &s->o.id, 4);
        memcpy(id + 4, &w->learner, sizeof w->learner);
        s->state_crc = crc32_bytes(id, sizeof id);
        if ((st = state_read(s)) != AM_OK)
            return st;
    }
    if (s->air != (w->uplink[0] == '\0'))
        return AM_FAIL(AM_EINVAL,
                       "the server runs %s, this agent %s: start both with the same --radio",
                       w->uplink[0] ? "the chan path (zmq)" : "on air", s->air ? "on air" : "zmq");
    if (s->air) {
        if (s->rate != w->rate)
            return AM_FAIL(AM_EINVAL, "the server's radio runs at %.17g S/s, this agent's at %.17g",
                           w->rate, s->rate);
        return AM_OK; /* RX is armed per round (on_go_air) */
    }
    s->rate = w->rate;
    return open_data(s, w);
}

/* The zmq data plane to the chan's endpoints for this agent (CURVE when the WELCOME names the
 * chan's key). */
static am_status open_data(agent_state *s, const ctrl_welcome *w)
{
    radio_close(s->rad);
    s->rad = NULL;
    char curve[200] = "";
    if (w->data_key[0]) {
        unsigned char ck[ZCTX_KEY_LEN];
        if (!s->sec.on)
            return AM_FAIL(AM_EINVAL, "the chan's IQ sockets use CURVE keys: this agent needs "
                                      "--key and --server-key, not --insecure");
        am_status ks = zctx_z85_key(w->data_key, ck, "WELCOME.data_key");
        if (ks != AM_OK)
            return ks;
        char hs[2 * ZCTX_KEY_LEN + 1], hc[2 * ZCTX_KEY_LEN + 1];
        net_key_hex(s->sec.sec, hs);
        net_key_hex(ck, hc);
        snprintf(curve, sizeof curve, ",curve_key=%s,curve_server=%s", hs, hc);
    }
    char args[3 * CTRL_STR_LEN + 200];
    snprintf(args, sizeof args, "tx=>%s,rx=>%s,rate=%.17g,hwm=4,timeout=2%s", w->uplink,
             w->downlink, w->rate, curve);
    am_status st = radio_open("zmq", args, &s->rad);
    if (st != AM_OK)
        return st;
    snprintf(s->uplink, sizeof s->uplink, "%s", w->uplink);
    snprintf(s->downlink, sizeof s->downlink, "%s", w->downlink);
    snprintf(s->data_key, sizeof s->data_key, "%s", w->data_key);
    return radio_rx_start(s->rad, NULL);
}

/* A WELCOME after the first: the server (restarted) or a restarted chan (new endpoints, e.g. on
 * --bind tcp://HOST:*) took this agent back. Same model and numerology: the data plane follows
 * the new endpoints; anything else is a different run. */
static am_status rewelcome(agent_state *s, const ctrl_welcome *w)
{
    if (w->dim != s->D || w->payload_len != s->D ||
        w->nfft != phy_frame_nfft(net_agent_frame(s->na)) ||
        w->cp != phy_frame_cp_len(net_agent_frame(s->na)))
        return AM_FAIL(AM_EINVAL, "the server took this agent back with another model or "
                                  "numerology (D %" PRIu64 ", M %u): a different run",
                       w->dim, w->nfft);
    s->rejoins++;
    float link_db = 0.0f;
    am_status st = link_budget(s, w, &link_db);
    if (st == AM_OK)
        st = net_agent_set_link_db(s->na, link_db);
    if (st == AM_OK && !s->air) /* a restarted chan may emulate other radios (§4.2, §9.4) */
        st = net_agent_set_clock(s->na, w->clock.fc_fs, w->clock.ppm, w->clock.cfo_ms);
    if (st != AM_OK)
        return st;
    if (s->air || (strcmp(w->uplink, s->uplink) == 0 && strcmp(w->downlink, s->downlink) == 0 &&
                   strcmp(w->data_key, s->data_key) == 0))
        return AM_OK;
    if (!s->o.quiet) {
        printf("agent %u: the chan moved: data now %s / %s\n", s->o.id, w->uplink, w->downlink);
        fflush(stdout);
    }
    return open_data(s, w);
}

/* The verdict on the pending round: applied (the server used this agent's burst) or not. */
static void resolve(agent_state *s, int applied)
{
    if (!s->pending)
        return;
    net_memory_resolve(s->m, s->v, s->del, s->D, (int)s->l.memory, applied && s->sent);
    if (applied && s->sent) {
        s->applied++;
    } else {
        s->not_applied++;
        if (!s->o.quiet) {
            double nm = 0;
            for (size_t i = 0; i < s->D; i++)
                nm += (double)s->m[i] * s->m[i];
            printf("agent %u: round %u not applied: memory keeps its whole update (|m| = %.4g)\n",
                   s->o.id, s->pend_round, sqrt(nm));
            fflush(stdout);
        }
    }
    s->pending = 0;
}

/* The state at the start of round r kept (replacing r's, or the oldest); with --state also on
 * disk (a failed write warns: the run goes on, only a restart of this agent would miss it). */
static void snap_take(agent_state *s, uint32_t r)
{
    agent_snap *to = NULL;
    for (unsigned i = 0; i < s->o.keep_rounds; i++) {
        agent_snap *c = &s->snap[i];
        if (c->valid && c->round == r) {
            to = c;
            break;
        }
        if (!to || (to->valid && (!c->valid || c->round < to->round)))
            to = c;
    }
    to->valid = 1;
    to->round = r;
    to->rng = s->rng;
    memcpy(to->m, s->m, s->D * sizeof *s->m);
    net_agent_carry_save(s->na, to->carry);
    state_save(s);
}

static agent_snap *snap_find(agent_state *s, uint32_t r)
{
    for (unsigned i = 0; i < s->o.keep_rounds; i++)
        if (s->snap[i].valid && s->snap[i].round == r)
            return &s->snap[i];
    return NULL;
}

static int has_id(const void *ids, uint32_t n, uint32_t id)
{
    for (uint32_t i = 0; i < n; i++)
        if (ctrl_u32_at(ids, i) == id)
            return 1;
    return 0;
}

/* MODEL(r): the state round r starts from. Normally the last one (the verdict on the pending
 * round resolved first); for a round already begun (a resumed server repeats it) the state kept
 * for it, the later ones dropped. */
static void round_start(agent_state *s, uint32_t r, const ctrl_model *mo)
{
    const int again = s->have_model && r <= s->last_model;
    agent_snap *sn = snap_find(s, r);
    if (sn) {
        s->rng = sn->rng;
        memcpy(s->m, sn->m, s->D * sizeof *s->m);
        (void)net_agent_carry_load(s->na, sn->carry); /* saved by this agent: valid */
        s->pending = 0; /* that round's update is computed again */
        for (unsigned i = 0; i < s->o.keep_rounds; i++)
            if (s->snap[i].valid && s->snap[i].round > r)
                s->snap[i].valid = 0;
        if (again) {
            s->restored++;
            if (!s->o.quiet) {
                printf("agent %u: round %u again (a resumed server): its state restored\n",
                       s->o.id, r);
                fflush(stdout);
            }
        }
    } else {
        if (s->pending) /* the verdict on our last round travels with this model */
            resolve(s,
                    mo->prev_round == s->pend_round && has_id(mo->prev_ids, mo->n_prev, s->o.id));
        if (again)
            fprintf(stderr,
                    "agent %u: round %u again but its state is no longer kept (--keep-rounds "
                    "%u): going on from round %u's state\n",
                    s->o.id, r, s->o.keep_rounds, s->last_model);
        snap_take(s, r);
    }
    s->have_model = 1;
    s->last_model = r;
}

/* MODEL: local meta-update, error memory, sparsification, STATUS. */
static am_status on_model(agent_state *s, uint32_t round, const ctrl_model *mo)
{
    s->probing = 0; /* a probe's CAL comes before the model, or not at all */
    if (mo->dim == s->D)
        round_start(s, round, mo);
    if (mo->dim != s->D)
        return AM_FAIL(AM_EFORMAT, "MODEL %u of %u floats, this agent's model has %zu", round,
                       mo->dim, s->D);
    ctrl_f32_copy(mo->theta, s->D, s->theta);
    float loss = 0;
    am_status st = fl_meta_local_update(s->meta, s->model, s->theta, fl_task_loss(s->fam),
                                        sample_task, &s->tasks, &s->rng, s->u, &loss);
    if (st != AM_OK)
        return am_error_wrap(st, "round %u: local update", round);
    if (!fl_vec_finite(s->u, s->D) || !isfinite(loss))
        return AM_FAIL(AM_EFORMAT, "round %u: the local update is not finite", round);
    for (size_t i = 0; i < s->D; i++)
        s->v[i] = s->u[i] + s->m[i]; /* docs/paper.md §3: v = u + m */
    fl_sparse_execute(s->sp, s->v, s->x, &s->rng);
    net_payload_peak_power(s->x, s->D, &s->peak, &s->power);
    s->loss = loss;
    s->pending = 1;
    s->sent = 0;
    s->pend_round = round;
    state_save(s); /* before the STATUS: the server cannot use an update the file does not hold */
    if ((long)round == s->o.late_status_round)
        sleep_s(s->o.late_status_s); /* fault injection (tests): a report after the deadline */
    ctrl_msg m;
    memset(&m, 0, sizeof m);
    m.type = CTRL_STATUS;
    m.round = round;
    m.u.status = (ctrl_status){.loss = loss,
                               .peak = s->o.test_peak >= 0 ? (float)s->o.test_peak : s->peak,
                               .power = s->power};
    if (mo->flags & CTRL_MODEL_REPORT_X) {
        m.u.status.n_x = (uint32_t)s->D;
        m.u.status.x = s->x;
    }
    return ctrl_send(s->c, NULL, &m);
}

/* The server caps eta (net_eta_capped, docs/air-interface.md §3.1): a payload whose peak is above
 * it is clipped, entry pair by entry pair, to magnitude eta (the burst keeps the power
 * constraint); delivered then holds the clipped values and the error memory keeps the rest
 * (m = v - delivered). */
static void clip_to_eta(agent_state *s, float eta)
{
    if (!(s->peak > eta))
        return;
    for (size_t j = 0; j < s->D; j += 2) {
        double re = s->x[j], im = j + 1 < s->D ? s->x[j + 1] : 0.0, a = sqrt(re * re + im * im);
        if (a > eta) {
            s->x[j] = (float)(re * eta / a);
            if (j + 1 < s->D)
                s->x[j + 1] = (float)(im * eta / a);
        }
    }
}

/* GO g's burst into s->burst: a probe's is the all-zero payload (§8.5; the round's state untouched),
 * a round's the update clipped to eta, the state saved with what it delivers before it is sent. */
static am_status make_burst(agent_state *s, const ctrl_go *g)
{
    if (g->probe)
        return net_agent_burst(s->na, s->zx, g->eta, g->tx_tick, s->burst, s->blen, s->zdel);
    clip_to_eta(s, g->eta);
    am_status st = net_agent_burst(s->na, s->x, g->eta, g->tx_tick, s->burst, s->blen, s->del);
    if (st == AM_OK)
        state_save(s);
    return st;
}

/* docs/air-interface.md §4.1 "The DAC's limit": a burst over the radio's limit (radio_info.
 * tx_peak_max; uhd: the DAC's full scale after the back-off, which would refuse it whole and leave
 * the agent unheard, and a CAL not heard leaves A as it is: silent for the rest of the run) is
 * scaled whole to fit; its CAL reads E / s (net_agent_cal). Said in one line, counted. */
static void fit_dac(agent_state *s, uint32_t round, int probe)
{
    radio_info ri;
    radio_get_info(s->rad, &ri);
    float peak = 0;
    const float sc = net_agent_fit_dac(s->na, s->burst, s->blen, ri.tx_peak_max, &peak);
    if (sc < 1.0f) {
        s->scaled++;
        if (!s->o.quiet)
            fprintf(stderr,
                    "agent %u: %s %u: burst scaled by %.1f dB to fit the DAC (peak %.2f over "
                    "the limit %.2f)\n",
                    s->o.id, probe ? "probe before round" : "round", round, 20 * log10((double)sc),
                    (double)peak, ri.tx_peak_max);
    }
}

/* docs/air-interface.md §4.2 "Sampling clock": a tracked offset that implies a clock offset beyond
 * OTA_AGENT_CLOCK_MAX went without the drift correction: said, not hidden. */
static void
clock_note(const agent_state *s, const char *what, uint32_t round, const net_beacon_info *bi)
{
    if (bi->drift_off && !s->o.quiet)
        fprintf(stderr,
                "agent %u: %s %u: offset %+.4f spacings implies a sampling-clock offset beyond %g "
                "ppm: burst sent without the clock correction (docs/air-interface.md §4.2)\n",
                s->o.id, what, round, (double)bi->cfo_used, OTA_AGENT_CLOCK_MAX * 1e6);
}

/* GO on air (host/net/net_air.h): RX armed 2 blocks before the announced beacon tick, the window
 * collected, then the same estimate / precoder / burst as the chan path, timed at tx_tick on this
 * host's radio. A missed window or a late burst leaves the agent silent (memory keeps v). */
static am_status on_go_air(agent_state *s, uint32_t round, const ctrl_go *g)
{
    const phy_frame *f = net_agent_frame(s->na);
    const int64_t blk = (int64_t)(phy_frame_nfft(f) + phy_frame_cp_len(f));
    const int64_t w0 = g->beacon_tick - 2 * blk;
    size_t got = 0, gaps = 0;
    net_beacon_info bi;
    memset(&bi, 0, sizeof bi);
    /* the window: the beacon GO announces (§6.1), plus the margin of the chan's chunks */
    const size_t nw = phy_beacon_len_reps(f, g->beacon_reps) + 16 * (size_t)blk + 4096;
    am_status st = net_air_rx_arm(s->rad, s->rate, w0, nw);
    if (st == AM_OK)
        st = net_air_rx_collect(s->rad, s->rate, w0, s->dl, nw, s->o.beacon_timeout, 0.05,
                                &got, &gaps);
    if (st == AM_OK && !gaps)
        st = net_agent_beacon(s->na, s->dl, got, w0, g->beacon_tick, g->rho, g->g_th, g->cal_slot,
                              &bi);
    if (st == AM_EINVAL)
        return st;
    if (st != AM_OK || gaps || !bi.found) {
        s->deaf += !g->probe;
        /* a window cut short (its stream stopped, or the timeout) is said so: its zero tail is
         * not a beacon that was not there */
        char cut[64];
        snprintf(cut, sizeof cut, "window cut short: %zu of %zu samples", got, nw);
        if (!s->o.quiet)
            fprintf(stderr,
                    "agent %u: %s %u: no beacon at tick %" PRId64 " (%s); staying silent\n",
                    s->o.id, g->probe ? "probe before round" : "round", round, g->beacon_tick,
                    st != AM_OK ? am_last_error()
                    : gaps      ? "RX gap"
                    : got < nw  ? cut
                                : "not detected");
        return AM_OK;
    }
    if (bi.erased >= bi.used) {
        /* docs/air-interface.md §4.1: every bin below g_th at the server: nothing to send (a
         * burst of zeros would cost air and tell the server nothing); not heard, memory keeps v */
        s->weak += !g->probe;
        if (!s->o.quiet)
            fprintf(stderr,
                    "agent %u: %s %u: link too weak for g_th %g: all %u bins truncated, burst "
                    "not sent\n",
                    s->o.id, g->probe ? "probe before round" : "round", round, (double)g->g_th,
                    bi.used);
        return AM_OK;
    }
    if ((st = make_burst(s, g)) != AM_OK)
        return st;
    clock_note(s, g->probe ? "probe before round" : "round", round, &bi);
    fit_dac(s, round, g->probe);
    if ((st = net_air_tx_at(s->rad, s->rate, s->burst, s->blen, g->tx_tick + bi.adv, 1.0)) !=
        AM_OK) {
        if (!s->o.quiet)
            fprintf(stderr, "agent %u: %s %u: burst not sent: %s\n", s->o.id,
                    g->probe ? "probe before round" : "round", round, am_last_error());
        return AM_OK;
    }
    s->sent |= !g->probe;
    if (!s->o.quiet) {
        printf("agent %u: %s %u: loss %.4f, beacon SNR %.1f dB, cfo %+.4f (tracked %+.5f), "
               "delay %" PRId64 ", %u bins truncated, burst of %zu samples on air at tick %" PRId64
               "\n",
               s->o.id, g->probe ? "probe before round" : "round", round,
               g->probe ? 0.0 : (double)s->loss, (double)bi.snr_db, (double)bi.cfo,
               (double)bi.cfo_used, bi.delta,
               bi.erased, s->blen, g->tx_tick + bi.adv);
        fflush(stdout);
    }
    return AM_OK;
}

/* GO: wait for the beacon, estimate, precode, transmit at the scheduled tick. */
static am_status on_go(agent_state *s, uint32_t round, const ctrl_go *g)
{
    if (g->probe) { /* §8.5: a calibration probe before round `round`: its CAL is expected */
        s->probing = 1;
        s->probe_round = round;
    } else if (!s->pending || s->pend_round != round) {
        return AM_OK; /* a GO for a round we did not report: ignore */
    }
    /* docs/air-interface.md §8.1: the round's calibration slots decide the burst's length */
    am_status cs = net_agent_set_slots(s->na, g->cal_slots);
    if (cs == AM_OK) /* §3.3, §9.4: and its payload mapping */
        cs = net_agent_set_mapping(s->na, (phy_mapping)g->mapping);
    if (cs == AM_OK) /* §2, §9.4: and its pilot level (absent: 1) */
        cs = net_agent_set_pilot_level(s->na, g->pilot_level != 0.0f ? g->pilot_level : 1.0f);
    if (cs == AM_OK) /* §6.1: the beacon's training blocks */
        cs = net_agent_set_beacon_reps(s->na, g->beacon_reps);
    if (cs != AM_OK)
        return cs;
    if (net_agent_burst_len(s->na) != s->blen) {
        float complex *b = realloc(s->burst, net_agent_burst_len(s->na) * sizeof *b);
        if (!b)
            return AM_FAIL(AM_ENOMEM, "agent: a burst of %zu samples", net_agent_burst_len(s->na));
        s->burst = b;
        s->blen = net_agent_burst_len(s->na);
    }
    if (s->air)
        return on_go_air(s, round, g);
    const double deadline = monotime_s() + s->o.beacon_timeout;
    net_beacon_info bi;
    memset(&bi, 0, sizeof bi);
    while (!bi.found && monotime_s() < deadline && !net_stop_requested()) {
        size_t n = 0;
        radio_time t0;
        am_status st = radio_rx(s->rad, s->dl, s->dl_cap, &n, &t0, 0.1);
        if (st == AM_ETIMEOUT)
            continue;
        if (st != AM_OK)
            return st;
        int64_t tick = radio_time_to_ticks(t0, s->rate);
        if (tick + (int64_t)n < g->beacon_tick || tick > g->beacon_tick)
            continue; /* another round's downlink */
        st = net_agent_beacon(s->na, s->dl, n, tick, g->beacon_tick, g->rho, g->g_th, g->cal_slot,
                              &bi);
        if (st == AM_EFORMAT)
            continue; /* cannot happen after the radio's checks; never trusted */
        if (st != AM_OK)
            return st;
    }
    const char *what = g->probe ? "probe before round" : "round";
    if (!bi.found) {
        s->deaf += !g->probe;
        if (!s->o.quiet)
            fprintf(stderr, "agent %u: %s %u: no beacon within %g s; staying silent\n", s->o.id,
                    what, round, s->o.beacon_timeout);
        return AM_OK;
    }
    am_status st = make_burst(s, g);
    if (st != AM_OK)
        return st;
    clock_note(s, what, round, &bi);
    fit_dac(s, round, g->probe);
    if (!g->probe && (long)round == s->o.late_burst_round)
        sleep_s(s->o.late_burst_s); /* fault injection (tests): a burst after the chan's deadline */
    radio_time at = radio_time_from_ticks(g->tx_tick, s->rate);
    st = radio_tx_burst(s->rad, s->burst, s->blen, &at);
    if (st != AM_OK) {
        if (!s->o.quiet)
            fprintf(stderr, "agent %u: %s %u: burst not sent: %s\n", s->o.id, what, round,
                    am_last_error());
        return AM_OK; /* the round goes on without us; the memory keeps v */
    }
    s->sent |= !g->probe;
    if (!s->o.quiet) {
        printf("agent %u: %s %u: loss %.4f, beacon SNR %.1f dB, cfo %+.4f (tracked %+.5f), "
               "delay %" PRId64 ", %u bins truncated, burst of %zu samples sent\n",
               s->o.id, what, round, g->probe ? 0.0 : (double)s->loss, (double)bi.snr_db,
               (double)bi.cfo,
               (double)bi.cfo_used, bi.delta,
               bi.erased, s->blen);
        fflush(stdout);
    }
    return AM_OK;
}

/* CAL(r) (docs/air-interface.md §8.4): the correction A updated when heard; the state kept for
 * round r + 1 (taken at COMMIT(r), which comes first) gets it too, so that a resumed server's
 * repeat of round r + 1 starts from the A the uninterrupted run used. */
static am_status on_cal(agent_state *s, uint32_t round, const ctrl_cal *c)
{
    const int probe = s->probing && round == s->probe_round;
    if (!probe && (!s->have_model || round != s->last_model))
        return AM_OK; /* not about our last round nor our probe: ignore */
    am_status st = net_agent_cal(s->na, c);
    if (st != AM_OK)
        return st;
    if (probe) {
        s->probing = 0;
        s->probes++;
        s->probes_heard += c->heard != 0;
    } else {
        s->cals++;
        s->heard += c->heard != 0;
    }
    /* a probe's CAL(r) (§8.5) precedes MODEL(r): the state kept for round r gets it */
    agent_snap *sn = snap_find(s, probe ? round : round + 1);
    if (sn)
        net_agent_carry_save(s->na, sn->carry);
    state_save(s);
    return AM_OK;
}

/* --state FILE: a file name in a folder this agent can write, known before it joins (the file is
 * read at WELCOME and rewritten every round: a folder that is not there failed only then, a
 * warning a round, and a restart found no state). */
static am_status check_state_path(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!*path || (slash && slash[1] == '\0'))
        return AM_FAIL(AM_EINVAL, "--state '%s': no file name", path);
    char dir[4096];
    const size_t n = slash ? (slash == path ? 1 : (size_t)(slash - path)) : 0;
    if (n >= sizeof dir)
        return AM_FAIL(AM_EINVAL, "--state: a path of %zu bytes", strlen(path));
    memcpy(dir, n ? path : ".", n ? n : 2);
    dir[n ? n : 1] = '\0';
    struct stat sb;
    if (stat(dir, &sb) != 0)
        return AM_FAIL(errno == ENOENT ? AM_ENOTFOUND : AM_EIO, "--state %s: folder %s: %s", path,
                       dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return AM_FAIL(AM_EIO, "--state %s: %s is not a folder", path, dir);
    if (access(dir, W_OK | X_OK) != 0)
        return AM_FAIL(AM_EIO, "--state %s: folder %s: %s", path, dir, strerror(errno));
    return AM_OK;
}

/* What cli_parse cannot check alone; the keys; on air the radio, opened before joining (no device
 * means no join: exit 5). */
static am_status check_and_open(agent_state *sp, unsigned max_dim)
{
    agent_opts *o = &sp->o;
    am_status st;
    o->max_dim = max_dim;
    o->late_status_round = o->late_burst_round = -1;
    if (o->late_status && (st = parse_late("--test-late-status", o->late_status,
                                           &o->late_status_round, &o->late_status_s)) != AM_OK)
        return st;
    if (o->late_burst && (st = parse_late("--test-late-burst", o->late_burst, &o->late_burst_round,
                                          &o->late_burst_s)) != AM_OK)
        return st;
    if (o->id == UINT32_MAX)
        return AM_FAIL(AM_EINVAL, "--id is required (see --help)");
    if (!o->server)
        return AM_FAIL(AM_EINVAL, "--server is required (see --help)");
    if ((st = net_check_server(o->server)) != AM_OK)
        return st;
    if (o->state && (st = check_state_path(o->state)) != AM_OK)
        return st;
    if (o->data_dir && !o->data_dir[0]) /* "" + "/file": the root folder's */
        return AM_FAIL(AM_EINVAL, "--data-dir: empty folder name");
    if ((st = net_sec_setup("agent", o->key, o->server_key, NULL, o->insecure, 0, &sp->sec)) !=
        AM_OK)
        return st;
    sp->air = strcmp(o->radio.name, "zmq") != 0;
    if (!sp->air && o->radio.args)
        return AM_FAIL(AM_EINVAL, "--radio-args: the zmq data plane takes its endpoints from the "
                                  "server; use --radio uhd");
    if (sp->air)
        return net_air_open(o->radio.name, o->radio.args, &sp->rad, &sp->rate);
    return AM_OK;
}

/* The control connection to the server and the HELLO (re-sent after every reconnection). */
static am_status agent_connect(agent_state *sp)
{
    const agent_opts *o = &sp->o;
    ctrl_msg m;
    memset(&m, 0, sizeof m);
    m.type = CTRL_HELLO;
    m.u.hello = (ctrl_hello){.role = CTRL_ROLE_AGENT, .id = o->id, .dim = 0};
    snprintf(m.u.hello.desc, sizeof m.u.hello.desc, "airmeta agent %u", o->id);
    return net_peer_join(o->server, o->id, ctrl_payload_bound(o->max_dim, CTRL_MAX_AGENTS),
                         &sp->sec, &m, &sp->c);
}

/* Until BYE, a stop signal, an error or the server's silence: WELCOME (join, or a restarted
 * server / chan), MODEL, GO, COMMIT. */
static am_status agent_loop(agent_state *sp)
{
    const agent_opts *o = &sp->o;
    am_status st;
    char who[32];
    snprintf(who, sizeof who, "agent %u", o->id);
    int welcomed = 0, got = 0;
    double last = monotime_s();
    while (!net_stop_requested()) {
        ctrl_msg r;
        if ((st = net_peer_recv(sp->c, who, o->server, o->timeout, &last, &r, &got)) != AM_OK)
            return st;
        if (!got)
            continue;
        if (r.type == CTRL_WELCOME && !welcomed) {
            if ((st = net_peer_welcome(&r.u.welcome, CTRL_ROLE_AGENT, who)) != AM_OK)
                return st;
            if ((st = setup(sp, &r.u.welcome)) != AM_OK) {
                net_peer_leave(sp->c); /* so that the server does not wait for us */
                return st;
            }
            welcomed = 1;
            if (!o->quiet) {
                printf("agent %u: joined %s: %s, %zu parameters, burst %zu samples\n", o->id,
                       o->server, fl_model_describe(sp->model), sp->D, sp->blen);
                fflush(stdout);
            }
        } else if (r.type == CTRL_WELCOME) {
            if ((st = net_peer_welcome(&r.u.welcome, CTRL_ROLE_AGENT, who)) != AM_OK ||
                (st = rewelcome(sp, &r.u.welcome)) != AM_OK)
                return st;
        } else if (welcomed && r.type == CTRL_MODEL) {
            if ((st = on_model(sp, r.round, &r.u.model)) != AM_OK)
                return st;
            sp->rounds++;
        } else if (welcomed && r.type == CTRL_GO) {
            if ((st = on_go(sp, r.round, &r.u.go)) != AM_OK)
                return st;
        } else if (welcomed && r.type == CTRL_CAL) {
            if ((st = on_cal(sp, r.round, &r.u.cal)) != AM_OK)
                return st;
        } else if (welcomed && r.type == CTRL_COMMIT) {
            if (sp->pending && sp->pend_round == r.round) {
                resolve(sp, r.u.commit.decoded && has_id(r.u.commit.ids, r.u.commit.n, o->id));
                snap_take(sp, r.round + 1); /* the next round's start */
            }
        } else if (r.type == CTRL_BYE) {
            break;
        } else {
            net_peer_unexpected(sp->c, who, r.type);
        }
    }
    return AM_OK;
}

int cmd_agent(int argc, char **argv)
{
    agent_state s;
    memset(&s, 0, sizeof s);
    agent_opts *o = &s.o;
    o->id = UINT32_MAX;
    o->timeout = 60;
    o->beacon_timeout = 10;
    o->radio.name = "zmq";
    o->max_dim = (size_t)1 << 22;
    o->test_peak = -1;
    o->keep_rounds = 16;
    unsigned max_dim = 1u << 22;
    const cli_opt head[] = {
        {"--id", CLI_UINT, &o->id, "this agent's id k (0..K-1): its task distribution and channel",
         0, CTRL_MAX_AGENTS - 1, NULL},
        {"--server", CLI_STR, &o->server, "the server's control endpoint (tcp://HOST:PORT)", 1, 0,
         NULL},
        {"--data-dir", CLI_STR, &o->data_dir,
         "fmnist / omniglot data folder on this host (as airmeta sim)", 1, 0, NULL},
        {"--timeout", CLI_DOUBLE, &o->timeout, "give up when the server is silent this long, s",
         0.1, 86400, NULL},
        {"--beacon-timeout", CLI_DOUBLE, &o->beacon_timeout,
         "wait this long for a round's beacon, s", 0.01, 3600, NULL},
        {"--max-dim", CLI_UINT, &max_dim, "largest model accepted (floats)", 1, CTRL_MAX_DIM, NULL},
        {"--keep-rounds", CLI_UINT, &o->keep_rounds,
         "keep this agent's state (RNG, error memory: D floats each) as of each of the last N "
         "rounds: a server resumed from a checkpoint at most N - 1 rounds old (its "
         "--checkpoint-every) repeats its rounds exactly",
         2, 1024, NULL},
        {"--test-late-status", CLI_STR, &o->late_status,
         "fault injection (tests): in round ROUND (from 0) report SECONDS late, as ROUND:SECONDS",
         1, 0, NULL},
        {"--test-late-burst", CLI_STR, &o->late_burst,
         "fault injection (tests): in round ROUND send the burst SECONDS late, as ROUND:SECONDS", 1,
         0, NULL},
        {"--test-peak", CLI_DOUBLE, &o->test_peak,
         "fault injection (tests): report this payload peak every round (a lying agent)", 0,
         3e38, NULL},
    };
    const cli_opt tail[] = {
        {"--key", CLI_STR, &o->key,
         "this agent's secret key NAME.key (airmeta keygen; its NAME.pub is listed in the "
         "server's --allow as 'agent ID PUBKEY'): CURVE on control and IQ",
         1, 0, NULL},
        {"--state", CLI_STR, &o->state,
         "this agent's kept states (--keep-rounds) on disk, rewritten atomically every round and "
         "read back at start: restarted with the same FILE (after its server's stop, or a kill) "
         "the agent takes up a resumed run's rounds exactly (one FILE per run and agent, in a "
         "folder that exists)",
         1, 0, NULL},
        {"--server-key", CLI_STR, &o->server_key,
         "the server's public key: its NAME.pub file or the 40 z85 characters", 1, 0, NULL},
        {"--insecure", CLI_FLAG, &o->insecure,
         "no keys: plain TCP, anyone reaching the ports can act as this agent (warns)", 0, 0,
         NULL},
        {"--quiet", CLI_FLAG, &o->quiet, "no per-round lines", 0, 0, NULL},
    };
    /* --radio and --radio-args from host/run/flags.h between the command's own */
    cli_opt opts[sizeof head / sizeof head[0] + FLAGS_GROUP_MAX + sizeof tail / sizeof tail[0]];
    size_t nopt = 0;
    for (size_t i = 0; i < sizeof head / sizeof head[0]; i++)
        opts[nopt++] = head[i];
    nopt += flags_radio_table(&o->radio, opts + nopt, "zmq|uhd",
                              "data plane: zmq (IQ through `airmeta chan`, endpoints from the "
                              "server) or uhd (on air: this host's USRP B210; the server must run "
                              "--radio uhd too)");
    for (size_t i = 0; i < sizeof tail / sizeof tail[0]; i++)
        opts[nopt++] = tail[i];
    const cli_cmd cmd = {
        "airmeta agent",
        "--id K --server tcp://HOST:PORT (--key NAME.key --server-key SERVER.pub | --insecure)",
        "One training agent of a multi-process Air-meta-pFL run. It joins the server, which\n"
        "tells it the run's setup (task family, learner, sparsification, memory, numerology)\n"
        "and where its IQ goes (the chan process). Each round: the meta-model arrives; the\n"
        "agent computes its local meta-update on its own tasks, adds its error memory,\n"
        "sparsifies and reports its loss and payload peak/power (the server's eta rule); on GO\n"
        "it estimates its channel and carrier offset from the beacon, precodes by truncated\n"
        "channel inversion (docs/air-interface.md §4), pre-compensates the offset and sends its "
        "burst\n"
        "at the scheduled tick. Its memory keeps everything the server did not apply (see\n"
        "host/cmd/cmd_agent.c). Data endpoints come from the server; there is no --data flag.\n"
        "A restarted server or chan takes the agent back (it says HELLO again after every\n"
        "reconnection and follows the chan's new endpoints); a server resumed from a checkpoint\n"
        "repeats its rounds, and the agent restores its state of that round (--keep-rounds).",
        opts,
        nopt,
        0,
        0};
    size_t npos = 0;
    am_status st = cli_parse(&cmd, argc, argv, NULL, &npos);
    if (st == AM_ENOTFOUND)
        return 0;
    if (st != AM_OK)
        return cli_fail("agent", st);
    st = check_and_open(&s, max_dim);
    if (st != AM_OK) {
        state_free(&s);
        return cli_fail("agent", st);
    }
    openblas_set_num_threads(1);
    net_catch_stop_signals();
    if ((st = agent_connect(&s)) == AM_OK)
        st = agent_loop(&s);
    if (st != AM_OK) {
        const int rc = cli_fail("agent", st);
        /* giving up: an unsent HELLO must not hold the exit (finding 10) */
        ctrl_set_linger(s.c, 0);
        state_free(&s);
        return rc;
    }
    if (net_stop_requested())
        net_peer_leave(s.c);
    if (!o->quiet) {
        ctrl_stats cs;
        ctrl_get_stats(s.c, &cs);
        printf("agent %u: done: %" PRIu64 " rounds, %" PRIu64 " applied, %" PRIu64
               " not applied (kept in memory), %" PRIu64 " beacons missed, %" PRIu64
               " bursts not sent (link too weak for g_th), heard in %" PRIu64 " of %" PRIu64
               " calibrations (and in %" PRIu64 " of %" PRIu64 " probes), %" PRIu64
               " bursts scaled to fit the DAC, %" PRIu64 " control messages rejected\n",
               o->id, s.rounds, s.applied, s.not_applied, s.deaf, s.weak, s.heard, s.cals,
               s.probes_heard, s.probes, s.scaled, cs.rejected);
    }
    state_free(&s);
    return 0;
}
