/* host/run/server: the server of a multi-process run (contract: run/server.h). */
#include <cblas.h> /* openblas_set_num_threads only (as airmeta sim) */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/cli.h"
#include "core/file.h"
#include "core/mem.h"
#include "net/auth.h"
#include "net/ctrl.h"
#include "fl/agg.h"
#include "fl/meta.h"
#include "fl/personalize.h"
#include "fl/sparse.h"
#include "util/fsutil.h"
#include "round/learner.h"
#include "run/checkpoint.h"
#include "run/runcfg.h"
#include "run/rundir.h"
#include "util/monotime.h"
#include "net/net.h"
#include "net/net_air.h"
#include "phy/beacon.h"
#include "phy/cal.h"
#include "phy/frame.h"
#include "phy/ota_rx.h"
#include "radio/radio.h"
#include "run/server.h"

typedef struct srv_agent {
    int joined, welcomed, alive;
    int probe; /* calibration on: a probe before its next round (docs/air-interface.md §8.5) */
    ctrl_peer peer;
    /* this round */
    int reported;
    float loss, peak, power;
} srv_agent;

typedef struct srv_rx {
    uint64_t lo, hi; /* accepted burst starts */
    int got;
    unsigned bursts;
    float *payload;
    size_t L;
    float active_mean, snr_db, cfo, n0;
    uint64_t start;
    unsigned slots;        /* calibration slots S (0: none) */
    unsigned char *heard;  /* S: the burst's §8.3 verdicts */
    float complex *E;      /* S x PHY_CAL_Q: its §8.2 sub-band gains */
    unsigned char *meas;   /* S x PHY_CAL_Q: the sub-bands with an active bin (E measured) */
    float *W;              /* S x PHY_CAL_Q x PHY_CAL_Q: the interpolation's weights in E */
    float *cal_snr;        /* S */
} srv_rx;

typedef struct server srv;

struct server {
    server_opts o;
    net_sec sec;
    int reserve_fd[3]; /* descriptors kept for the run's files (a connection flood cannot take
                          them): released just before theta.f32 is written */
    uint64_t peer_drops, refused_hello, implausible;
    float *peaks; /* K: this round's reported peaks (the eta rule) */
    ctrl *c;
    radio *rad;
    double rate;
    int air; /* --radio uhd: the server's own radio, no chan (host/net/net_air.h) */
    unsigned K;
    srv_agent *ag;
    int chan_joined;
    ctrl_peer chan_peer;
    char (*chan_ep)[CTRL_STR_LEN]; /* 2 + 2K */
    ctrl_clock chan_clock;         /* the chan's radios (its HELLO), relayed in WELCOME (§4.2) */
    ctrl_learner l;
    fl_eta_rule eta_rule;
    fl_task_family *fam;
    fl_model *model;
    fl_opt *opt;
    fl_personalizer *pers; /* evaluation at eval rounds (new agents fine-tuned, as sim) */
    fl_personalize_cfg pc;
    size_t D;
    float *theta, *avg;
    float *xs; /* K x D with --report-x */
    phy_frame *frame;
    phy_ota_rx *rx;
    srv_rx rs;
    unsigned M, cp;
    phy_mapping map; /* --mapping (§3.3), announced in every GO */
    float pilot;     /* the round's pilot level (§2), announced in GO when not 1 */
    size_t blen, bl, chunk_cap;
    float complex *beacon, *chunk;
    int64_t slot, gap;
    /* the round in progress */
    uint32_t cur;
    int collecting, want_report;
    int have_report;
    int64_t rep_tick;
    uint64_t rep_len;
    uint32_t rep_late, rep_rejected, rep_n;
    uint32_t *ids, *inc; /* K */
    uint64_t late_status, peer_rejects;
    double next_start;
    FILE *metrics;
    char metrics_path[FS_PATH_MAX];
    run_dir *rd; /* --out's lock (host/run/rundir.h) */
    /* durability: checkpoint.bin (run/checkpoint.h), the configuration's CRC, the counters of
     * the sessions before this one (resumed), the wall time of the rounds so far */
    char ckpt_path[FS_PATH_MAX];
    uint32_t crc;
    uint64_t base_rejected, base_auth;
    double elapsed;
    void *state;
    size_t state_n;
    /* rounds done, and who was applied in the last one (told in the next MODEL) */
    uint32_t done, nprev, prev_round;
    uint32_t *prev, *applied; /* K */
    unsigned decoded_rounds;
    /* closed-loop calibration (docs/air-interface.md §8): slot k = agent k, S = K */
    int cal;
    uint32_t *nh; /* K x PHY_CAL_Q: the measurements of each (agent, sub-band) pair since the
                     agent's last probe (§8.5), the probe included: its loop gain's schedule
                     (§8.4, checkpointed) */
    /* the probe before the round in progress (§8.5): whom it asked, whom it heard */
    unsigned probe_n, probe_nheard, probe_sent; /* probe_sent: the probes (§8.5 step 5) */
    uint32_t *probe_ids, *probe_heard; /* K each */
    unsigned char *probe_mask;         /* K: heard in the probe (phy_cal_probe_excess) */
};

static void srv_free(srv *s)
{
    ctrl_destroy(s->c);
    radio_close(s->rad);
    net_sec_free(&s->sec); /* after the last socket */
    for (int i = 0; i < 3; i++)
        if (s->reserve_fd[i] > 0)
            close(s->reserve_fd[i]);
    free(s->peaks);
    free(s->ag);
    free(s->chan_ep);
    fl_opt_destroy(s->opt);
    fl_personalizer_destroy(s->pers);
    fl_model_destroy(s->model);
    fl_task_family_destroy(s->fam);
    free(s->theta);
    free(s->avg);
    free(s->xs);
    phy_ota_rx_destroy(s->rx);
    phy_frame_destroy(s->frame);
    free(s->rs.payload);
    free(s->rs.heard);
    free(s->rs.E);
    free(s->rs.meas);
    free(s->rs.W);
    free(s->rs.cal_snr);
    free(s->nh);
    free(s->probe_ids);
    free(s->probe_heard);
    free(s->probe_mask);
    free(s->beacon);
    free(s->chunk);
    free(s->ids);
    free(s->inc);
    free(s->prev);
    free(s->applied);
    free(s->state);
    if (s->metrics)
        fclose(s->metrics);
    run_dir_close(s->rd);
}

static am_status on_burst(const phy_ota_burst *b, void *user)
{
    srv_rx *r = user;
    r->bursts++;
    if (r->got || b->start < r->lo || b->start > r->hi || b->payload_len != r->L)
        return AM_OK; /* not the scheduled burst */
    memcpy(r->payload, b->payload, r->L * sizeof *r->payload);
    r->got = 1;
    r->active_mean = b->active_mean;
    r->snr_db = b->snr_db;
    r->cfo = b->cfo;
    r->n0 = b->n0;
    r->start = b->start;
    if (r->slots && b->cal_slots == r->slots) {
        memcpy(r->heard, b->cal_heard, r->slots);
        memcpy(r->E, b->cal_E, (size_t)r->slots * PHY_CAL_Q * sizeof *r->E);
        memcpy(r->meas, b->cal_meas, (size_t)r->slots * PHY_CAL_Q);
        memcpy(r->W, b->cal_W, (size_t)r->slots * PHY_CAL_Q * PHY_CAL_Q * sizeof *r->W);
        memcpy(r->cal_snr, b->cal_snr_db, r->slots * sizeof *r->cal_snr);
    }
    return AM_OK;
}

static const runcfg_class server_class;

static am_status
send_welcome(srv *s, const ctrl_peer *to, uint32_t role, unsigned k, int ok, const char *reason)
{
    ctrl_msg m;
    memset(&m, 0, sizeof m);
    m.type = CTRL_WELCOME;
    ctrl_welcome *w = &m.u.welcome;
    w->accepted = (uint32_t)ok;
    w->role = role;
    snprintf(w->reason, sizeof w->reason, "%.120s", reason);
    if (ok) {
        w->dim = s->D;
        w->nfft = s->M;
        w->cp = s->cp;
        /* the chan needs the burst length only: it gets the complex mapping's payload of as many
         * data symbols (docs/air-interface.md §9.4) */
        w->payload_len = role == CTRL_ROLE_CHAN ? phy_mapping_span(s->map, s->D) : s->D;
        w->rate = s->rate;
        if (role == CTRL_ROLE_AGENT && s->air) {
            w->learner = s->l; /* empty endpoints: the agent uses its own radio (net_air.h) */
            /* docs/air-interface.md §4.1 "Link budget": the levels that rho and g_th refer to */
            radio_info ri;
            radio_get_info(s->rad, &ri);
            if (ri.levels) {
                w->levels = 1;
                w->tx_dbm = (float)ri.tx_dbm;
                w->rx_dbm = (float)ri.rx_dbm;
            }
        } else if (role == CTRL_ROLE_AGENT) {
            snprintf(w->uplink, sizeof w->uplink, "%s", s->chan_ep[2 + 2 * k]);
            snprintf(w->downlink, sizeof w->downlink, "%s", s->chan_ep[3 + 2 * k]);
            w->clock = s->chan_clock; /* §4.2 "Sampling clock": the radios the agent's IQ meets */
            w->learner = s->l;
            unsigned char ck[ZCTX_KEY_LEN];
            if (s->sec.on && net_auth_chan_key(s->sec.auth, ck))
                zctx_key_z85(ck, w->data_key); /* the agents' IQ goes to the chan under CURVE */
        }
    }
    return ctrl_send(s->c, to, &m);
}

static am_status open_radio(srv *s)
{
    radio_close(s->rad);
    s->rad = NULL;
    char args[3 * CTRL_STR_LEN + 200], curve[200] = "";
    unsigned char ck[ZCTX_KEY_LEN];
    if (s->sec.on && net_auth_chan_key(s->sec.auth, ck)) {
        char hs[2 * ZCTX_KEY_LEN + 1], hc[2 * ZCTX_KEY_LEN + 1];
        net_key_hex(s->sec.sec, hs);
        net_key_hex(ck, hc);
        snprintf(curve, sizeof curve, ",curve_key=%s,curve_server=%s", hs, hc);
    }
    snprintf(args, sizeof args, "tx=>%s,rx=>%s,rate=%.17g,hwm=16,timeout=5%s", s->chan_ep[0],
             s->chan_ep[1], s->rate, curve);
    am_status st = radio_open("zmq", args, &s->rad);
    if (st == AM_OK)
        st = radio_rx_start(s->rad, NULL);
    return st;
}

static void say(const srv *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const srv *s, const char *fmt, ...)
{
    if (s->o.quiet)
        return;
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    fflush(stdout);
}

/* A refusal: counted, said, and answered if the peer is still there (a peer that vanished right
 * after its HELLO must not stop the run: issue 12 finding 1). */
static am_status refuse(srv *s, const ctrl_peer *to, uint32_t role, const char *what, const char *t)
{
    char line[240];
    snprintf(line, sizeof line, "server: %s refused: %s", what, t);
    ctrl_count_reject(s->c, CTRL_REJ_PEER, line);
    s->refused_hello++;
    say(s, "%s\n", line);
    send_welcome(s, to, role, 0, 0, t); /* best effort */
    return AM_OK;
}

/* With CURVE: the identity the ZAP handler gave this connection ("agent:ID", "chan"). */
static int user_is(const srv *s, const ctrl_peer *from, const char *want)
{
    return !s->sec.on || strcmp(from->user, want) == 0;
}

/* Everything a message from a peer can mean, whatever the server is waiting for. */
static am_status handle(srv *s, const ctrl_msg *m, const ctrl_peer *from)
{
    char t[200];
    if (m->type == CTRL_HELLO) {
        const ctrl_hello *h = &m->u.hello;
        if (h->role == CTRL_ROLE_CHAN) {
            if (s->air)
                return refuse(s, from, CTRL_ROLE_CHAN, "chan",
                              "this run is on air (--radio uhd): no chan");
            if (m->sender != CTRL_ID_CHAN) {
                ctrl_count_reject(s->c, CTRL_REJ_PEER, "server: chan HELLO with an agent id");
                return AM_OK;
            }
            if (!user_is(s, from, "chan")) {
                snprintf(t, sizeof t, "a chan HELLO under the key of '%.40s', not the chan's",
                         from->user);
                return refuse(s, from, CTRL_ROLE_CHAN, "chan", t);
            }
            if (h->n_agents != s->K) {
                snprintf(t, sizeof t, "the chan emulates %u agents, the run has %u", h->n_agents,
                         s->K);
                return refuse(s, from, CTRL_ROLE_CHAN, "chan", t);
            }
            if (h->n_ep != 2 + 2 * s->K) {
                snprintf(t, sizeof t, "%u data endpoints for %u agents", h->n_ep, s->K);
                return refuse(s, from, CTRL_ROLE_CHAN, "chan", t);
            }
            for (uint32_t i = 0; i < h->n_ep; i++)
                snprintf(s->chan_ep[i], CTRL_STR_LEN, "%s", ctrl_str_at(h->ep, i));
            s->chan_clock = h->clock;
            s->chan_peer = *from;
            int again = s->chan_joined;
            s->chan_joined = 1;
            am_status st = open_radio(s);
            if (st != AM_OK) { /* the chan's endpoints do not work: it stays out, the run goes on */
                s->chan_joined = 0;
                snprintf(t, sizeof t, "its data endpoints: %.150s", am_last_error());
                return refuse(s, from, CTRL_ROLE_CHAN, "chan", t);
            }
            say(s, "server: chan %sjoined (%s), data %s / %s\n", again ? "re" : "", h->desc,
                s->chan_ep[0], s->chan_ep[1]);
            if (send_welcome(s, from, CTRL_ROLE_CHAN, 0, 1, "ok") != AM_OK) {
                s->chan_joined = 0; /* gone already */
                s->peer_drops++;
                return AM_OK;
            }
            /* every joined agent: those waiting for the chan, and those that must follow a
             * restarted chan to its new endpoints (an agent whose endpoints did not change takes
             * the WELCOME as a no-op) */
            for (unsigned k = 0; k < s->K; k++)
                if (s->ag[k].joined) {
                    if (send_welcome(s, &s->ag[k].peer, CTRL_ROLE_AGENT, k, 1, "ok") == AM_OK)
                        s->ag[k].welcomed = s->ag[k].alive = 1;
                    else
                        s->ag[k].alive = 0;
                }
            return AM_OK;
        }
        if (h->id >= s->K) {
            snprintf(t, sizeof t, "agent id %u but the run has %u agents (0..%u)", h->id, s->K,
                     s->K - 1);
            return refuse(s, from, CTRL_ROLE_AGENT, "agent", t);
        }
        if (m->sender != h->id) {
            ctrl_count_reject(s->c, CTRL_REJ_PEER, "server: HELLO sender differs from its id");
            return AM_OK;
        }
        char want[ZCTX_USER_LEN];
        net_auth_agent_user(h->id, want, sizeof want);
        if (!user_is(s, from, want)) { /* an id used with another key: no take-over */
            snprintf(t, sizeof t, "agent id %u claimed under the key of '%.40s'", h->id,
                     from->user);
            return refuse(s, from, CTRL_ROLE_AGENT, "agent", t);
        }
        srv_agent *a = &s->ag[h->id];
        int again = a->joined;
        a->joined = a->alive = 1;
        a->welcomed = 0;
        a->peer = *from; /* a restarted agent replaces its old connection */
        if (s->cal) { /* §8.5: a probe for an agent the run has not heard, and for one that joins
                         again (restarted: its correction A is not known; the probe's mu is 1) */
            uint32_t *n = s->nh + (size_t)h->id * PHY_CAL_Q;
            if (again)
                memset(n, 0, PHY_CAL_Q * sizeof *n);
            a->probe = 1; /* the run has not heard it: no sub-band measured */
            for (unsigned q = 0; q < PHY_CAL_Q; q++)
                a->probe &= n[q] == 0;
        }
        say(s, "server: agent %u %sjoined\n", h->id, again ? "re" : "");
        if (s->chan_joined || s->air) {
            if (send_welcome(s, from, CTRL_ROLE_AGENT, h->id, 1, "ok") == AM_OK) {
                a->welcomed = 1;
            } else { /* gone already: dropped, the run goes on */
                a->alive = 0;
                s->peer_drops++;
            }
        }
        return AM_OK;
    }
    /* everything else must come from a known peer under its own id */
    int is_chan = s->chan_joined && ctrl_peer_eq(from, &s->chan_peer) && user_is(s, from, "chan");
    int is_agent =
        m->sender < s->K && s->ag[m->sender].joined && ctrl_peer_eq(from, &s->ag[m->sender].peer);
    if (is_agent) {
        char want[ZCTX_USER_LEN];
        net_auth_agent_user(m->sender, want, sizeof want);
        is_agent = user_is(s, from, want);
    }
    if (!(is_chan && m->sender == CTRL_ID_CHAN) && !is_agent) {
        snprintf(t, sizeof t, "server: %s from an unknown peer (sender id 0x%x)",
                 ctrl_type_name(m->type), m->sender);
        ctrl_count_reject(s->c, CTRL_REJ_PEER, t);
        s->peer_rejects++;
        return AM_OK;
    }
    switch (m->type) {
    case CTRL_STATUS: {
        srv_agent *a = &s->ag[m->sender];
        if (!is_agent)
            break;
        if (!s->collecting || m->round != s->cur || a->reported) {
            s->late_status++;
            return AM_OK;
        }
        const ctrl_status *st = &m->u.status;
        if (!(st->peak >= 0) || !(st->power >= 0)) { /* decode checks finiteness; sign here */
            snprintf(t, sizeof t, "server: STATUS of agent %u with peak %g, power %g", m->sender,
                     (double)st->peak, (double)st->power);
            ctrl_count_reject(s->c, CTRL_REJ_PEER, t);
            return AM_OK;
        }
        if (s->o.report_x) {
            if (st->n_x != s->D) {
                snprintf(t, sizeof t, "server: STATUS of agent %u without its x (%u floats)",
                         m->sender, st->n_x);
                ctrl_count_reject(s->c, CTRL_REJ_PEER, t);
                return AM_OK;
            }
            ctrl_f32_copy(st->x, s->D, s->xs + (size_t)m->sender * s->D);
        }
        a->reported = 1;
        a->loss = st->loss;
        a->peak = st->peak;
        a->power = st->power;
        return AM_OK;
    }
    case CTRL_REPORT:
        if (!is_chan)
            break;
        if (!s->want_report || m->round != s->cur)
            return AM_OK; /* an old round's report */
        if (m->u.report.n > s->K) {
            ctrl_count_reject(s->c, CTRL_REJ_PEER, "server: REPORT with more agents than the run");
            return AM_OK;
        }
        for (uint32_t i = 0; i < m->u.report.n; i++) {
            uint32_t id = ctrl_u32_at(m->u.report.ids, i);
            if (id >= s->K || !s->ag[id].reported) {
                snprintf(t, sizeof t, "server: REPORT names agent %u, not planned this round", id);
                ctrl_count_reject(s->c, CTRL_REJ_PEER, t);
                return AM_OK;
            }
        }
        s->have_report = 1;
        s->rep_tick = m->u.report.chunk_tick;
        s->rep_len = m->u.report.chunk_len;
        s->rep_late = m->u.report.late;
        s->rep_rejected = m->u.report.rejected;
        s->rep_n = m->u.report.n;
        for (uint32_t i = 0; i < m->u.report.n; i++)
            s->inc[i] = ctrl_u32_at(m->u.report.ids, i);
        return AM_OK;
    case CTRL_LEAVE:
        if (is_chan) {
            s->chan_joined = 0;
            say(s, "server: the chan left\n");
        } else {
            s->ag[m->sender].alive = 0;
            s->ag[m->sender].joined = 0;
            say(s, "server: agent %u left\n", m->sender);
        }
        return AM_OK;
    default:
        break;
    }
    snprintf(t, sizeof t, "server: unexpected %s from %s %u", ctrl_type_name(m->type),
             is_chan ? "the chan" : "agent", m->sender);
    ctrl_count_reject(s->c, CTRL_REJ_PEER, t);
    s->peer_rejects++;
    return AM_OK;
}

/* Handles messages until done(s) holds or the deadline; AM_ETIMEOUT then. */
static am_status pump(srv *s, double deadline, int (*done)(const srv *))
{
    while (!done(s)) {
        if (net_stop_requested())
            return AM_FAIL(AM_ETIMEOUT, "server: interrupted");
        double left = deadline - monotime_s();
        if (left <= 0)
            return AM_FAIL(AM_ETIMEOUT, "server: deadline");
        ctrl_msg m;
        ctrl_peer from;
        am_status st = ctrl_recv(s->c, left < 0.2 ? left : 0.2, &m, &from);
        if (st == AM_ETIMEOUT)
            continue;
        if (st != AM_OK)
            return st;
        if ((st = handle(s, &m, &from)) != AM_OK)
            return st;
    }
    return AM_OK;
}

static int all_joined(const srv *s)
{
    if (!s->chan_joined && !s->air)
        return 0;
    for (unsigned k = 0; k < s->K; k++)
        if (!s->ag[k].welcomed)
            return 0;
    return 1;
}

static int all_reported(const srv *s)
{
    for (unsigned k = 0; k < s->K; k++)
        if (s->ag[k].alive && s->ag[k].welcomed && !s->ag[k].reported)
            return 0;
    return 1;
}

static int got_report(const srv *s)
{
    return s->have_report;
}

static int never(const srv *s)
{
    (void)s;
    return 0;
}

static cJSON *ids_json(const uint32_t *ids, unsigned n)
{
    cJSON *a = cJSON_CreateArray();
    for (unsigned i = 0; i < n; i++)
        cJSON_AddItemToArray(a, cJSON_CreateNumber(ids[i]));
    return a;
}

static am_status write_line(srv *s, cJSON *o)
{
    char *txt = cJSON_PrintUnformatted(o);
    if (!txt)
        return AM_FAIL(AM_ENOMEM, "JSON: out of memory");
    int bad = fprintf(s->metrics, "%s\n", txt) < 0 || fflush(s->metrics) != 0;
    cJSON_free(txt);
    if (bad)
        return AM_FAIL(AM_EIO, "%s: write failed: %s", s->metrics_path, strerror(errno));
    return AM_OK;
}

/* Sends m to agent k; any failure (connection closed, queue full for the send timeout, socket
 * error) drops that agent, never the run; it comes back with its next HELLO. */
static void to_agent(srv *s, unsigned k, const ctrl_msg *m)
{
    am_status st = ctrl_send(s->c, &s->ag[k].peer, m);
    if (st == AM_OK)
        return;
    if (s->ag[k].alive) {
        if (st == AM_ENOTFOUND)
            say(s, "server: agent %u is gone (connection closed)\n", k);
        else
            say(s, "server: agent %u dropped: %s\n", k, am_last_error());
        s->peer_drops++;
    }
    s->ag[k].alive = 0;
}

/* GO to the round's n agents (s->ids): the beacon at tick B, their bursts at T (§5); with
 * calibration agent k's slot is k of S = K (§8.1: every burst of the run has the same length). */
static void send_go(srv *s, uint32_t r, unsigned n, float eta, int64_t B, int64_t T, int probe)
{
    ctrl_msg m;
    memset(&m, 0, sizeof m);
    m.type = CTRL_GO;
    m.round = r;
    /* §2, §9.4: the pilots at 1/sqrt(n) (announced when not 1), decoded with the same level */
    s->pilot = phy_pilot_level(n);
    m.u.go = (ctrl_go){.eta = eta,
                       .rho = (float)s->o.air.rho,
                       .g_th = probe ? 0.0f : (float)s->o.air.g_th, /* §8.5 2. */
                       .cal_slots = s->rs.slots,
                       .probe = (uint32_t)probe,
                       .mapping = (uint32_t)s->map,
                       .beacon_reps = s->o.beacon_reps,
                       .beacon_tick = B,
                       .tx_tick = T,
                       .pilot_level = s->pilot != 1.0f ? s->pilot : 0.0f};
    for (unsigned i = 0; i < n; i++) {
        m.u.go.cal_slot = s->rs.slots ? s->ids[i] : 0;
        to_agent(s, s->ids[i], &m);
    }
}

/* §8.3-§8.4 after round r: who of the n scheduled agents was heard (into heard_ids, *nheard; none
 * when the burst was not detected) and a CAL to each of them: heard, E, and the loop gain of each
 * sub-band mu = max(mu_0, 1/n_kq) at the (agent, sub-band) pair's n_kq-th measurement (mu_0 =
 * SERVER_CAL_MU, as sim's agg_iq_cfg.cal_mu; phy_cal_mu_steps), one mu when they agree, else
 * mu_q (§9.4). After a probe (§8.5, probe = 1): mu = 1, n_kq = 1 when measured, else 0. E: the
 * receiver's, the pairs first measured (n_kq 0 before) solved whole (phy_cal_unmix). */
#define SERVER_CAL_MU 0.1f
static void
send_cal(srv *s, uint32_t r, unsigned n, int got, int probe, uint32_t *heard_ids, unsigned *nheard)
{
    *nheard = 0;
    ctrl_msg m;
    memset(&m, 0, sizeof m);
    m.type = CTRL_CAL;
    m.round = r;
    float e[2 * PHY_CAL_Q];
    for (unsigned i = 0; i < n; i++) {
        const unsigned k = s->ids[i];
        const int h = got && s->rs.heard[k];
        if (h)
            heard_ids[(*nheard)++] = k;
        /* §8.4-§8.5 (shared with sim --agg iq): after a probe mu = 1 and the loop's average starts
         * again from this measurement */
        float mq[PHY_CAL_Q];
        uint32_t n0[PHY_CAL_Q]; /* the pairs' counts before this measurement */
        memcpy(n0, s->nh + (size_t)k * PHY_CAL_Q, sizeof n0);
        const float mu = phy_cal_mu_steps(s->nh + (size_t)k * PHY_CAL_Q, h,
                                          s->rs.meas + (size_t)k * PHY_CAL_Q, probe,
                                          SERVER_CAL_MU, mq);
        int same = 1;
        for (unsigned q = 0; q < PHY_CAL_Q; q++)
            same &= mq[q] == mu;
        /* §8.4 the pairs first measured take a whole step (shared with sim --agg iq) */
        float complex E[PHY_CAL_Q];
        for (unsigned q = 0; q < PHY_CAL_Q; q++)
            E[q] = h ? s->rs.E[(size_t)k * PHY_CAL_Q + q] : 1.0f;
        if (h)
            phy_cal_unmix(s->rs.W + (size_t)k * PHY_CAL_Q * PHY_CAL_Q,
                          s->rs.meas + (size_t)k * PHY_CAL_Q, n0, phy_frame_n_used(s->frame),
                          isfinite(s->rs.cal_snr[k]) ? s->rs.cal_snr[k] : 0.0f, E);
        for (unsigned q = 0; q < PHY_CAL_Q; q++) {
            e[2 * q] = crealf(E[q]);
            e[2 * q + 1] = cimagf(E[q]);
        }
        m.u.cal = (ctrl_cal){.heard = (uint32_t)h,
                             .q = PHY_CAL_Q,
                             .mu = mu,
                             .snr_db = h && isfinite(s->rs.cal_snr[k]) ? s->rs.cal_snr[k] : 0.0f,
                             .E = e,
                             .mu_q = same ? NULL : mq};
        to_agent(s, k, &m);
    }
}

/* On air (--radio uhd, host/net/net_air.h): beacon tick B NET_AIR_LEAD_S ahead of the device time,
 * GO(B, T) to the round's n agents, uplink RX armed at T - 4 blocks, the beacon at B, the window
 * around T collected and decoded. A beacon or window with a late / underflow / sequence-error
 * event is not used (UHD_NOTES "Buffers and async events"). */
static am_status
air_round(srv *s, uint32_t r, unsigned n, float eta, int probe, int *decoded, const char **why)
{
    const int64_t blk = (int64_t)(s->M + s->cp);
    int64_t B, turn = (int64_t)ceil(NET_AIR_TURN_S * s->rate);
    am_status st = net_air_tick_after(s->rad, s->rate, NET_AIR_LEAD_S, &B);
    if (st != AM_OK)
        return st;
    const int64_t T = B + (s->gap > turn ? s->gap : turn), w0 = T - 4 * blk;
    send_go(s, r, n, eta, B, T, probe);
    radio_stats a, b;
    radio_get_stats(s->rad, &a);
    size_t got = 0, gaps = 0;
    if ((st = net_air_rx_arm(s->rad, s->rate, w0, s->chunk_cap)) != AM_OK ||
        (st = net_air_tx_at(s->rad, s->rate, s->beacon, s->bl, B, 0)) != AM_OK) {
        *why = "radio refused the beacon or the uplink window";
        say(s, "server: round %u: %s\n", r + 1, am_last_error());
        return AM_OK;
    }
    st =
        net_air_rx_collect(s->rad, s->rate, w0, s->chunk, s->chunk_cap,
                           NET_AIR_LEAD_S + NET_AIR_TURN_S + s->o.burst_timeout, 0.05, &got, &gaps);
    radio_tx_flush(s->rad, 1.0);
    radio_get_stats(s->rad, &b);
    if (st == AM_ETIMEOUT) {
        *why = "no uplink samples";
        return AM_OK;
    }
    if (st != AM_OK)
        return st;
    if (net_air_stats_bad(&a, &b) || gaps) {
        *why = "late, underflow, sequence error or RX gap on the radio";
        return AM_OK;
    }
    s->rs.lo = (uint64_t)(T - w0 - (int64_t)s->cp);
    s->rs.hi = (uint64_t)(T - w0 + 2 * (int64_t)s->cp);
    phy_ota_rx_reset(s->rx);
    if ((st = phy_ota_rx_set_round(s->rx, eta, (float)s->o.air.rho)) != AM_OK ||
        (st = phy_ota_rx_set_pilot_level(s->rx, s->pilot)) != AM_OK ||
        (st = phy_ota_rx_execute(s->rx, s->chunk, got)) != AM_OK)
        return st;
    *decoded = s->rs.got;
    if (!s->rs.got)
        *why = "burst not detected";
    return AM_OK;
}

/* Through the chan: PLAN to the chan, GO to the round's n agents (s->ids), the beacon at B, the
 * chan's REPORT and summed stream, decoded (*decoded: the burst was found and the chan summed at
 * least one burst; *why otherwise). probe: 0 the round's transmission, p + 1 §8.5's probe p (the
 * PLAN says which, so that the chan draws each probe's channel and noise anew, §9.6). */
static am_status chan_round(
    srv *s, uint32_t r, unsigned n, float eta, int64_t B, int64_t T, unsigned probe, int *decoded,
    const char **why)
{
    ctrl_msg m;
    memset(&m, 0, sizeof m);
    m.type = CTRL_PLAN;
    m.round = r;
    m.u.plan = (ctrl_plan){.eta = eta,
                           .rho = (float)s->o.air.rho,
                           .nfft = s->M,
                           .cp = s->cp,
                           .burst_len = s->blen,
                           .beacon_tick = B,
                           .tx_tick = T,
                           .deadline = s->o.burst_timeout,
                           .n = n,
                           .ids = s->ids,
                           .probe = probe};
    am_status st = ctrl_send(s->c, &s->chan_peer, &m);
    if (st != AM_OK) {
        *why = "the chan is unreachable";
        s->chan_joined = 0; /* dropped; it comes back with its next HELLO */
        s->peer_drops++;
    } else {
        send_go(s, r, n, eta, B, T, probe != 0);
        radio_time at = radio_time_from_ticks(B, s->rate);
        st = radio_tx_burst(s->rad, s->beacon, s->bl, &at);
        if (st != AM_OK) {
            *why = "beacon not taken by the chan";
        } else {
            /* 4. the chan's report and stream */
            s->want_report = 1;
            st = pump(s, monotime_s() + s->o.burst_timeout + 5.0, got_report);
            s->want_report = 0;
            if (st != AM_OK && st != AM_ETIMEOUT)
                return st;
            if (!s->have_report) {
                *why = "no report from the chan";
            } else if (s->rep_len >= s->chunk_cap || s->rep_len == 0) {
                *why = "the chan's stream has an unexpected length";
            } else {
                double dl = monotime_s() + 5.0;
                int have = 0;
                while (!have && monotime_s() < dl) {
                    size_t got = 0;
                    radio_time t0;
                    st = radio_rx(s->rad, s->chunk, s->chunk_cap, &got, &t0, 0.2);
                    if (st == AM_ETIMEOUT)
                        continue;
                    if (st != AM_OK)
                        return st;
                    have = radio_time_to_ticks(t0, s->rate) == s->rep_tick && got == s->rep_len;
                }
                if (!have) {
                    *why = "the chan's stream did not arrive";
                } else {
                    /* 5. receive: the burst must start near T (within the cp, + delays) */
                    const int64_t lead = T - s->rep_tick;
                    s->rs.lo = lead > (int64_t)s->cp ? (uint64_t)(lead - s->cp) : 0;
                    s->rs.hi = (uint64_t)(lead + 2 * (int64_t)s->cp);
                    phy_ota_rx_reset(s->rx);
                    if ((st = phy_ota_rx_set_round(s->rx, eta, (float)s->o.air.rho)) != AM_OK ||
                        (st = phy_ota_rx_set_pilot_level(s->rx, s->pilot)) != AM_OK)
                        return st;
                    st = phy_ota_rx_execute(s->rx, s->chunk, s->rep_len);
                    if (st != AM_OK)
                        return st;
                    if (!s->rs.got)
                        *why = "burst not detected";
                    else if (s->rep_n == 0)
                        *why = "no burst made the sum";
                    else
                        *decoded = 1;
                }
            }
        }
    }
    return AM_OK;
}

static void add_stats(cJSON *o, const char *name, const fl_eval_stats *e)
{
    cJSON *j = cJSON_AddObjectToObject(o, name);
    const double v[7] = {e->n_tasks,  e->loss_before, e->loss_after, e->loss_after_se,
                         e->acc_before, e->acc_after,  e->acc_after_se};
    static const char *const k[7] = {"tasks",      "loss_before", "loss_after", "loss_after_se",
                                     "acc_before", "acc_after",   "acc_after_se"};
    for (int i = 0; i < 7; i++)
        cJSON_AddNumberToObject(j, k[i], v[i]); /* NaN (regression) -> null */
}

/* Evaluation at round r's end (every --eval-every rounds and the last, as sim): theta fine-tuned
 * on new agents' and training agents' fresh tasks (and with a pool the training agents' own), the
 * same tasks every time (rng from the seed only: a resumed run repeats them); metrics.jsonl
 * "eval" with sim's keys. */
static am_status evaluate(srv *s, uint32_t r, cJSON *line)
{
    const unsigned round = r + 1;
    if (round % s->o.eval.eval_every != 0 && round != s->o.rounds)
        return AM_OK;
    am_rng er;
    am_rng_seed2(&er, s->o.seed, 0xe7a1e7a1ULL);
    fl_personalize_report rep;
    am_status st = fl_personalize_report_get(s->pers, s->model, s->fam, s->theta, &s->pc, &er, &rep);
    if (st != AM_OK)
        return am_error_wrap(st, "round %u: evaluation", round);
    if (line) {
        cJSON *e = cJSON_AddObjectToObject(line, "eval");
        cJSON_AddNumberToObject(e, "steps", s->o.eval.eval_steps);
        add_stats(e, "new", &rep.fresh);
        add_stats(e, "train", &rep.train);
        cJSON_AddNumberToObject(e, "gap_loss", rep.gap_loss);
        cJSON_AddNumberToObject(e, "gap_acc", rep.gap_acc);
        if (s->o.task.pool) {
            add_stats(e, "own", &rep.own);
            cJSON_AddNumberToObject(e, "gap_fresh", rep.gap_loss);
            cJSON_AddNumberToObject(e, "gap_paper", rep.gap_paper);
            cJSON_AddNumberToObject(e, "gap_paper_acc", rep.gap_paper_acc);
        }
    }
    say(s, "round %4u  eval: new agents' loss %.4f -> %.4f after %u steps (training agents %.4f)\n",
        round, rep.fresh.loss_before, rep.fresh.loss_after, s->o.eval.eval_steps,
        rep.train.loss_after);
    return AM_OK;
}

/* §9.6 through the chan: a slot is cut into max(P, 2) + 2 parts (4 for P <= 2, --probes P): the
 * last round's burst in the first, probe p at part p + 1, round r's beacon at the slot's end */
static unsigned probe_parts(unsigned P)
{
    return (P > 2 ? P : 2) + 2;
}

/* docs/air-interface.md §8.5: before round r, up to --probes (default 2) calibration probes for
 * the joined agents that need them (srv_agent.probe: the run has not heard them yet, or they
 * joined again): each a GO with the probe bit, the beacon, their bursts with an all-zero payload,
 * decoded as a round's (eta 1), and a CAL to each (heard, E, mu = 1; the loop's count starts
 * again from it), so that their first round is precoded with a measured correction. At least two
 * (step 5): the first beacon an agent takes starts its trackers (§4.2), so the first probe
 * measures errors no later round has; the second measures the state of every later round. With
 * --probe-excess, one at a time while the last still measured more than that many times its
 * noise (phy_cal_probe_excess over the probed agents heard; phy_cal_probe_again decides, as in
 * sim --agg iq). Nothing is applied; the round's metrics line says "probe" with the count sent.
 * Once per join: an agent not heard calibrates in its rounds (§8.4). */
static am_status probe_round(srv *s, uint32_t r)
{
    s->probe_n = s->probe_nheard = s->probe_sent = 0;
    if (!s->cal || (!s->air && !s->chan_joined))
        return AM_OK; /* without the chan the probes wait for it */
    unsigned n = 0;
    for (unsigned k = 0; k < s->K; k++)
        if (s->ag[k].probe && s->ag[k].welcomed && s->ag[k].alive) {
            s->ag[k].probe = 0;
            s->ids[n++] = k;
        }
    const unsigned P = s->o.probes.probes;
    if (n == 0 || P == 0)
        return AM_OK; /* --probes 0: none, the first round precoded with A = 1 */
    memcpy(s->probe_ids, s->ids, n * sizeof *s->ids);
    s->probe_n = n;
    for (unsigned p = 0; p < P; p++) {
        for (unsigned i = 0; i < n; i++)
            s->ag[s->ids[i]].reported = 1; /* planned: the chan's REPORT may name them */
        s->have_report = 0;
        s->rep_n = 0;
        s->rep_late = s->rep_rejected = 0;
        s->rs.got = 0;
        s->rs.bursts = 0;
        memset(s->rs.heard, 0, s->rs.slots);
        int decoded = 0;
        const char *why = "";
        am_status st;
        if (s->air) {
            st = air_round(s, r, n, 1.0f, 1, &decoded, &why);
        } else { /* §9.6: probe p at (p + 1) slot / (max(P, 2) + 2) after round r - 1's beacon
                    (a quarter slot apart for P <= 2) */
            const int64_t B = (int64_t)r * s->slot + (int64_t)(p + 1) * s->slot / probe_parts(P);
            st = chan_round(s, r, n, 1.0f, B, B + s->gap, p + 1, &decoded, &why);
        }
        for (unsigned i = 0; i < n; i++)
            s->ag[s->ids[i]].reported = 0;
        if (st != AM_OK)
            return st;
        send_cal(s, r, n, s->rs.got, 1, s->probe_heard, &s->probe_nheard);
        s->probe_sent = p + 1;
        /* §8.5 step 5: what this probe measured over its noise, over the probed agents heard */
        double ex = INFINITY;
        if (s->rs.got) {
            memset(s->probe_mask, 0, s->K);
            for (unsigned i = 0; i < s->probe_nheard; i++)
                s->probe_mask[s->probe_heard[i]] = 1;
            ex = phy_cal_probe_excess(s->K, phy_frame_n_used(s->frame), s->probe_mask, s->rs.E,
                                      s->rs.meas, s->rs.cal_snr);
        }
        const int again = phy_cal_probe_again(p, P, s->o.probes.excess, ex);
        char rule[96] = "";
        if (s->o.probes.excess > 0.0f)
            snprintf(rule, sizeof rule, " (excess %.2f%s)", ex,
                     again || p + 1 == P ? "" : ": no more, --probe-excess");
        say(s, "server: calibration probe %u of %u before round %u: %u of %u agents heard%s%s%s\n",
            p + 1, P, r + 1, s->probe_nheard, n, rule, s->rs.got ? "" : ": ",
            s->rs.got ? "" : why);
        if (!again)
            break;
    }
    return AM_OK;
}

static am_status run_round(srv *s,
                           uint32_t r,
                           const uint32_t *prev,
                           uint32_t nprev,
                           uint32_t prev_round,
                           uint32_t *applied,
                           uint32_t *napplied)
{
    const unsigned K = s->K;
    s->cur = r;
    if (s->o.round_period > 0 && s->next_start > monotime_s()) {
        /* the round cadence: wait, still serving joins, leaves and stray messages */
        am_status w = pump(s, s->next_start, never);
        if (w != AM_OK && w != AM_ETIMEOUT)
            return w;
        if (net_stop_requested())
            return AM_FAIL(AM_ETIMEOUT, "server: interrupted");
    }
    am_status st = probe_round(s, r); /* §8.5, before the round's model */
    if (st != AM_OK)
        return st;
    const double t_start = monotime_s();
    s->next_start = t_start + s->o.round_period;
    for (unsigned k = 0; k < K; k++)
        s->ag[k].reported = 0;
    /* 1. the model */
    ctrl_msg m;
    memset(&m, 0, sizeof m);
    m.type = CTRL_MODEL;
    m.round = r;
    m.u.model = (ctrl_model){.rho = (float)s->o.air.rho,
                             .g_th = (float)s->o.air.g_th,
                             .flags = s->o.report_x ? CTRL_MODEL_REPORT_X : 0,
                             .prev_round = prev_round,
                             .n_prev = nprev,
                             .dim = (uint32_t)s->D,
                             .prev_ids = prev,
                             .theta = s->theta};
    unsigned asked = 0;
    for (unsigned k = 0; k < K; k++)
        if (s->ag[k].welcomed && s->ag[k].alive) {
            to_agent(s, k, &m);
            asked += s->ag[k].alive;
        }
    /* 2. the reports, until all answered or the round's deadline */
    s->collecting = 1;
    st = pump(s, t_start + s->o.round_timeout, all_reported);
    s->collecting = 0;
    if (st != AM_OK && st != AM_ETIMEOUT)
        return st;
    if (net_stop_requested())
        return AM_FAIL(AM_ETIMEOUT, "server: interrupted");
    unsigned n = 0;
    double loss = 0;
    float eta = 0, eta_max = 0, med = 0;
    for (unsigned k = 0; k < K; k++)
        if (s->ag[k].reported) {
            float e = s->eta_rule == FL_ETA_PEAK ? s->ag[k].peak : sqrtf(s->ag[k].power);
            s->peaks[n] = e;
            s->ids[n++] = k;
            loss += s->ag[k].loss;
            eta_max = e > eta_max ? e : eta_max;
        }
    eta = net_eta_capped(s->peaks, n, (float)s->o.eta_cap, &med); /* §3.1 */
    const int64_t B = (int64_t)(r + 1) * s->slot, T = B + s->gap;
    int decoded = 0;
    *napplied = 0;
    s->have_report = 0;
    s->rep_n = 0;
    s->rep_late = s->rep_rejected = 0;
    s->rs.got = 0;
    s->rs.bursts = 0;
    s->rs.active_mean = s->rs.snr_db = s->rs.cfo = s->rs.n0 = NAN;
    if (s->rs.slots)
        memset(s->rs.heard, 0, s->rs.slots);
    const char *why = "";
    if (n == 0) {
        why = "no agent reported";
    } else if (s->air) {
        if ((st = air_round(s, r, n, eta, 0, &decoded, &why)) != AM_OK)
            return st;
        if (decoded && !s->cal) { /* without calibration the server cannot tell who made the
                                     sum on air: every agent sent GO */
            s->rep_n = n;
            memcpy(s->inc, s->ids, n * sizeof *s->ids);
        } else if (decoded) { /* §8.3: the agents heard made it */
            s->rep_n = 0;
            for (unsigned i = 0; i < n; i++)
                if (s->rs.heard[s->ids[i]])
                    s->inc[s->rep_n++] = s->ids[i];
            if (!s->rep_n) {
                decoded = 0;
                why = "no agent heard";
            }
        }
    } else if (!s->chan_joined) {
        why = "no chan";
    } else {
        /* 3. plan, go, beacon; 4. the chan's report and stream; 5. receive */
        if ((st = chan_round(s, r, n, eta, B, T, 0, &decoded, &why)) != AM_OK)
            return st;
    }
    double nmse = NAN, floor_nmse = NAN;
    if (decoded) {
        /* plausibility (issue 12, §3.1): a non-finite payload or one beyond --norm-bound times
         * the reports' upper median times sqrt(ceil(D/2)) is not applied and is flagged */
        double norm = 0, bound = 0;
        if (!net_payload_plausible(s->rs.payload, s->D, s->o.norm_bound, med, &norm, &bound)) {
            static char flag[160];
            snprintf(flag, sizeof flag,
                     "implausible payload: norm %.3g > %.3g (--norm-bound x the reports' "
                     "upper median x sqrt(ceil(D/2))); not applied",
                     norm, bound);
            why = flag;
            decoded = 0;
            s->implausible++;
        }
    }
    if (decoded) {
        if (s->o.report_x) { /* the ideal average of the summed agents' x */
            memset(s->avg, 0, s->D * sizeof *s->avg);
            for (unsigned i = 0; i < s->rep_n; i++) {
                const float *x = s->xs + (size_t)s->inc[i] * s->D;
                for (size_t j = 0; j < s->D; j++)
                    s->avg[j] += x[j];
            }
            double e2 = 0, a2 = 0;
            for (size_t j = 0; j < s->D; j++) {
                s->avg[j] /= (float)s->rep_n;
                double e = (double)s->rs.payload[j] - s->avg[j];
                e2 += e * e;
                a2 += (double)s->avg[j] * s->avg[j];
            }
            nmse = a2 > 0 ? e2 / a2 : NAN;
            /* docs/air-interface.md §5: eta^2 N0 / (2 n^2 rho) per entry, N0 the receiver's
             * estimate, n the summed agents (exact when nothing is truncated, g_th = 0) */
            const double nn = (double)s->rep_n;
            floor_nmse = a2 > 0 ? (double)s->D * (double)eta * eta * (double)s->rs.n0 /
                                      (2.0 * nn * nn * s->o.air.rho) / a2
                                : NAN;
        }
        fl_opt_step(s->opt, s->theta, s->rs.payload); /* docs/paper.md §3 */
        for (unsigned i = 0; i < s->rep_n; i++)
            applied[i] = s->inc[i];
        *napplied = s->rep_n;
    }
    /* 6. the verdict to the round's agents, then (calibration) each one's CAL */
    memset(&m, 0, sizeof m);
    m.type = CTRL_COMMIT;
    m.round = r;
    m.u.commit = (ctrl_commit){.decoded = (uint32_t)decoded, .n = *napplied, .ids = applied};
    for (unsigned i = 0; i < n; i++)
        to_agent(s, s->ids[i], &m);
    unsigned nheard = 0;
    uint32_t *heard_ids = s->inc + K; /* scratch after inc (K entries) */
    if (s->cal)
        send_cal(s, r, n, s->rs.got, 0, heard_ids, &nheard);

    const double wall = monotime_s() - t_start;
    s->elapsed += wall;
    ctrl_stats cs;
    ctrl_get_stats(s->c, &cs);
    unsigned absent = 0;
    uint32_t *abs_ids = s->inc + 2 * (size_t)K; /* scratch after inc and heard_ids */
    for (unsigned k = 0; k < K; k++)
        if (!s->ag[k].reported)
            abs_ids[absent++] = k;
    if (s->metrics) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "round", r + 1);
        cJSON_AddItemToObject(o, "agents", ids_json(applied, *napplied));
        cJSON_AddItemToObject(o, "reported", ids_json(s->ids, n));
        cJSON_AddItemToObject(o, "absent", ids_json(abs_ids, absent));
        cJSON_AddNumberToObject(o, "asked", asked);
        if (s->cal) /* §8.3: who reached the air (runs without calibration keep their bytes) */
            cJSON_AddItemToObject(o, "heard", ids_json(heard_ids, nheard));
        if (s->cal && nheard) {
            /* §8.2: each heard agent's gain, 10 lg of its mean |E[q]|^2 (an agent that scales its
             * bursts to fit its DAC, docs/air-interface.md §4.1, shows the scale here) */
            cJSON *cg = cJSON_AddObjectToObject(o, "cal_gain_db");
            for (unsigned i = 0; i < nheard; i++) {
                const float complex *E = s->rs.E + (size_t)heard_ids[i] * PHY_CAL_Q;
                double p2 = 0;
                for (unsigned q = 0; q < PHY_CAL_Q; q++)
                    p2 += (double)(crealf(E[q]) * crealf(E[q]) + cimagf(E[q]) * cimagf(E[q]));
                char key[16];
                snprintf(key, sizeof key, "%u", heard_ids[i]);
                cJSON_AddNumberToObject(cg, key, 10 * log10(p2 / PHY_CAL_Q));
            }
        }
        if (s->probe_n) { /* §8.5: the probe before this round */
            cJSON *p = cJSON_AddObjectToObject(o, "probe");
            cJSON_AddItemToObject(p, "agents", ids_json(s->probe_ids, s->probe_n));
            cJSON_AddNumberToObject(p, "probes", s->probe_sent);
            cJSON_AddItemToObject(p, "heard", ids_json(s->probe_heard, s->probe_nheard));
        }
        cJSON_AddBoolToObject(o, "decoded", decoded);
        if (!decoded)
            cJSON_AddStringToObject(o, "why", why);
        cJSON_AddNumberToObject(o, "train_loss", n ? loss / n : NAN);
        cJSON *al = cJSON_AddObjectToObject(o, "agent_loss");
        for (unsigned i = 0; i < n; i++) {
            char key[16];
            snprintf(key, sizeof key, "%u", s->ids[i]);
            cJSON_AddNumberToObject(al, key, s->ag[s->ids[i]].loss);
        }
        cJSON_AddNumberToObject(o, "eta", eta);
        cJSON_AddNumberToObject(o, "eta_max_reported", eta_max);
        cJSON_AddNumberToObject(o, "eta_median_reported", med);
        cJSON_AddNumberToObject(o, "agg_nmse", nmse); /* null without --report-x */
        cJSON_AddNumberToObject(o, "agg_nmse_db", nmse > 0 ? 10 * log10(nmse) : NAN);
        cJSON_AddNumberToObject(o, "agg_floor_db", floor_nmse > 0 ? 10 * log10(floor_nmse) : NAN);
        cJSON_AddNumberToObject(o, "mean_active", s->rs.active_mean);
        cJSON_AddNumberToObject(o, "snr_db", s->rs.snr_db);
        cJSON_AddNumberToObject(o, "cfo", s->rs.cfo);
        cJSON_AddNumberToObject(o, "bursts_seen", s->rs.bursts);
        cJSON_AddNumberToObject(o, "chan_stale", s->rep_late);
        cJSON_AddNumberToObject(o, "chan_malformed", s->rep_rejected);
        cJSON_AddNumberToObject(o, "ctrl_rejected", (double)(s->base_rejected + cs.rejected));
        cJSON_AddNumberToObject(o, "late_status", (double)s->late_status);
        cJSON_AddNumberToObject(o, "auth_refused",
                                (double)(s->base_auth + cs.handshake_failed));
        cJSON_AddNumberToObject(o, "hello_refused", (double)s->refused_hello);
        cJSON_AddNumberToObject(o, "peer_drops", (double)s->peer_drops);
        cJSON_AddNumberToObject(o, "implausible", (double)s->implausible);
        cJSON_AddNumberToObject(o, "wall_s", wall);
        st = evaluate(s, r, o);
        if (st == AM_OK)
            st = write_line(s, o);
        cJSON_Delete(o);
        if (st != AM_OK)
            return st;
    } else if ((st = evaluate(s, r, NULL)) != AM_OK) {
        return st;
    }
    /* the NMSE needs the true average: only with --report-x (the agents send their updates) */
    char nm[32];
    if (nmse > 0 && isfinite(nmse))
        snprintf(nm, sizeof nm, "nmse %7.2f dB", 10 * log10(nmse));
    else
        snprintf(nm, sizeof nm, "nmse %7s   ", "n/a");
    say(s, "round %4u  agents %u/%u  loss %9.4f  %s  active %5.2f  %s  %.2f s\n", r + 1, *napplied,
        K, n ? loss / n : NAN, decoded ? "decoded" : why, (double)s->rs.active_mean, nm, wall);
    return AM_OK;
}

static am_status write_config(srv *s)
{
    char path[FS_PATH_MAX];
    am_status st = fs_path_join(path, sizeof path, s->o.out, "config.json");
    if (st != AM_OK)
        return st;
    cJSON *c = cJSON_CreateObject();
    const server_opts *o = &s->o;
    cJSON_AddStringToObject(c, "command", "server");
    cJSON_AddStringToObject(c, "bind", ctrl_endpoint(s->c));
    cJSON_AddNumberToObject(c, "agents", o->agents);
    cJSON_AddNumberToObject(c, "rounds", o->rounds);
    cJSON_AddStringToObject(c, "task", o->task.task);
    cJSON_AddStringToObject(c, "model", fl_model_describe(s->model));
    cJSON_AddNumberToObject(c, "params", (double)s->D);
    cJSON_AddStringToObject(c, "learner", o->learn.learner);
    cJSON_AddNumberToObject(c, "inner_steps", o->learn.inner_steps);
    cJSON_AddNumberToObject(c, "alpha", o->learn.alpha);
    cJSON_AddNumberToObject(c, "beta", o->learn.beta);
    cJSON_AddStringToObject(c, "optimizer", o->learn.optimizer);
    cJSON_AddNumberToObject(c, "clip", o->learn.clip);
    cJSON_AddNumberToObject(c, "tasks_per_agent", o->learn.tasks_per_agent);
    cJSON_AddNumberToObject(c, "local_iters", o->learn.local_iters);
    cJSON_AddNumberToObject(c, "local_lr", o->learn.local_lr);
    cJSON_AddNumberToObject(c, "shots", o->task.shots);
    cJSON_AddNumberToObject(c, "query", o->task.query);
    cJSON_AddNumberToObject(c, "ways", o->task.ways);
    cJSON_AddNumberToObject(c, "heterogeneity", o->task.heterogeneity);
    cJSON_AddNumberToObject(c, "pool", o->task.pool);
    cJSON_AddStringToObject(c, "sparsify", o->air.sparsify);
    cJSON_AddNumberToObject(c, "sparsity", o->air.sparsity);
    cJSON_AddBoolToObject(c, "memory", !o->air.no_memory);
    cJSON_AddNumberToObject(c, "rho", o->air.rho);
    cJSON_AddNumberToObject(c, "g_th", o->air.g_th);
    if (o->gain_pool) /* absent at the default: config.json keeps its bytes */
        cJSON_AddNumberToObject(c, "gain_pool", o->gain_pool);
    if (s->map != PHY_MAP_COMPLEX) /* the same */
        cJSON_AddStringToObject(c, "mapping", phy_mapping_name(s->map));
    cJSON_AddNumberToObject(c, "beacon_reps", o->beacon_reps); /* always: its default moved */
    cJSON_AddStringToObject(c, "eta_rule", o->air.eta_rule);
    cJSON_AddNumberToObject(c, "nfft", s->M);
    cJSON_AddNumberToObject(c, "cp", s->cp);
    cJSON_AddNumberToObject(c, "burst_len", (double)s->blen);
    cJSON_AddNumberToObject(c, "round_timeout", o->round_timeout);
    cJSON_AddNumberToObject(c, "burst_timeout", o->burst_timeout);
    cJSON_AddNumberToObject(c, "round_period", o->round_period);
    cJSON_AddBoolToObject(c, "report_x", o->report_x);
    cJSON_AddNumberToObject(c, "seed", (double)o->seed);
    cJSON_AddBoolToObject(c, "calibration", s->cal);
    cJSON_AddNumberToObject(c, "eval_every", o->eval.eval_every);
    cJSON_AddNumberToObject(c, "new_agents", o->eval.new_agents);
    /* the data plane: the backend, its arguments and what the device says it is */
    cJSON *rj = cJSON_AddObjectToObject(c, "radio");
    cJSON_AddStringToObject(rj, "backend", o->radio.name);
    if (o->radio.args)
        cJSON_AddStringToObject(rj, "args", o->radio.args);
    cJSON_AddNumberToObject(rj, "rate", s->rate);
    if (s->rad) {
        radio_info ri;
        radio_get_info(s->rad, &ri);
        cJSON_AddStringToObject(rj, "device", ri.device);
        cJSON_AddNumberToObject(rj, "tx_freq", ri.tx_freq);
        cJSON_AddNumberToObject(rj, "rx_freq", ri.rx_freq);
        cJSON_AddNumberToObject(rj, "tx_gain", ri.tx_gain);
        cJSON_AddNumberToObject(rj, "rx_gain", ri.rx_gain);
        if (ri.master_clock > 0)
            cJSON_AddNumberToObject(rj, "master_clock", ri.master_clock);
        cJSON_AddStringToObject(rj, "clock_source", ri.clock_source);
        cJSON_AddStringToObject(rj, "time_source", ri.time_source);
    }
    /* what --resume reads back: every stored flag, resolved (the keys above are for readers) */
    cli_opt t[SERVER_MAX_OPTS];
    server_opts copy = s->o;
    cJSON *f = runcfg_flags_json(&server_class, t, server_table(&copy, t), 0);
    cJSON *b = f ? cJSON_GetObjectItemCaseSensitive(f, "bind") : NULL;
    if (b)
        cJSON_SetValuestring(b, ctrl_endpoint(s->c)); /* the port actually bound */
    if (f)
        cJSON_AddItemToObject(c, "flags", f);
    char hex[16];
    snprintf(hex, sizeof hex, "%08x", (unsigned)s->crc);
    cJSON_AddStringToObject(c, "config_crc", hex);
    char *txt = f ? cJSON_Print(c) : NULL;
    cJSON_Delete(c);
    if (!txt)
        return AM_FAIL(AM_ENOMEM, "JSON: out of memory");
    const fs_part text[2] = {{txt, strlen(txt)}, {"\n", 1}};
    st = fs_write_atomic(path, text, 2);
    cJSON_free(txt);
    return st;
}

static am_status write_theta(srv *s)
{
    char path[FS_PATH_MAX];
    am_status st = fs_path_join(path, sizeof path, s->o.out, "theta.f32");
    if (st != AM_OK)
        return st;
    const fs_part theta = {s->theta, s->D * sizeof *s->theta}; /* this machine's floats */
    return fs_write_atomic(path, &theta, 1);
}


/* ------------------------------------------------------------------------------ checkpoint */

/* The server's state blob (checkpoint.bin after its header), this machine's byte order, packed:
 *   u32 magic 0x56525341 ("ASRV"), u32 version 3, u32 K, u32 optimiser kind (0 sgd, 1 adam),
 *   u64 D, u64 rounds done, u64 optimiser steps t,
 *   f32 theta[D], (Adam) f32 m[D], f32 v[D],
 *   u32 prev_round, u32 n_prev, u32 prev[K] (who was applied in the last round: the next MODEL
 *   says so), u32 decoded rounds, u32 0,
 *   u64 counters[7]: late reports, peer drops, HELLOs refused, implausible rounds, messages from
 *   unknown peers, control messages rejected, failed handshakes (metrics.jsonl's running totals),
 *   u32 heard[K][8] (times each (agent, sub-band) pair was measured since the agent's last
 *   calibration probe, the probe included, or since the start: the calibration loop gain's
 *   schedule, §8.4, §8.5; at most the rounds done + 1; 0 without calibration; version 2: u32
 *   heard[K], one count per agent, refused).
 * Nothing else carries over between rounds: the receiver is reset every round, the beacon and
 * the learner's setup follow from the configuration. */
#define SRV_STATE_MAGIC 0x56525341u
#define SRV_STATE_VERSION 3u
#define SRV_NCOUNT 7

static int srv_adam(const srv *s)
{
    return fl_opt_get_cfg(s->opt)->kind == FL_OPT_ADAM;
}

static size_t state_size(const srv *s)
{
    return 16 + 24 + 4 * s->D * (srv_adam(s) ? 3 : 1) + 8 + 4 * (size_t)s->K + 8 + 8 * SRV_NCOUNT +
           4 * (size_t)s->K * PHY_CAL_Q;
}

static void put(unsigned char **p, const void *v, size_t n)
{
    memcpy(*p, v, n);
    *p += n;
}

static void get(const unsigned char **p, void *v, size_t n)
{
    memcpy(v, *p, n);
    *p += n;
}

static void state_save(const srv *s, void *buf)
{
    unsigned char *p = buf;
    uint64_t t = 0;
    const float *m = NULL, *v = NULL;
    fl_opt_get_state(s->opt, &t, &m, &v);
    ctrl_stats cs;
    ctrl_get_stats(s->c, &cs);
    const uint32_t h[4] = {SRV_STATE_MAGIC, SRV_STATE_VERSION, s->K, (uint32_t)srv_adam(s)};
    const uint64_t h64[3] = {s->D, s->done, t};
    put(&p, h, sizeof h);
    put(&p, h64, sizeof h64);
    put(&p, s->theta, 4 * s->D);
    if (srv_adam(s)) {
        put(&p, m, 4 * s->D);
        put(&p, v, 4 * s->D);
    }
    const uint32_t pr[2] = {s->prev_round, s->nprev};
    put(&p, pr, sizeof pr);
    put(&p, s->prev, 4 * (size_t)s->K);
    const uint32_t dr[2] = {s->decoded_rounds, 0};
    put(&p, dr, sizeof dr);
    const uint64_t c[SRV_NCOUNT] = {s->late_status,   s->peer_drops,
                                    s->refused_hello, s->implausible,
                                    s->peer_rejects,  s->base_rejected + cs.rejected,
                                    s->base_auth + cs.handshake_failed};
    put(&p, c, sizeof c);
    put(&p, s->nh, 4 * (size_t)s->K * PHY_CAL_Q);
}

/* Everything validated before anything changes (a bad blob leaves s as it was). */
static am_status state_load(srv *s, const void *buf, size_t n, uint32_t round)
{
    const char *path = s->ckpt_path;
    if (n != state_size(s))
        return AM_FAIL(AM_EFORMAT, "%s: state of %zu bytes, this run's is %zu", path, n,
                       state_size(s));
    const unsigned char *p = buf;
    uint32_t h[4];
    uint64_t h64[3];
    get(&p, h, sizeof h);
    get(&p, h64, sizeof h64);
    if (h[0] != SRV_STATE_MAGIC || h[1] != SRV_STATE_VERSION)
        return AM_FAIL(AM_EFORMAT, "%s: not a server checkpoint (magic 0x%08x, version %u)", path,
                       h[0], h[1]);
    if (h[2] != s->K || h[3] != (uint32_t)srv_adam(s) || h64[0] != s->D || h64[1] != round ||
        h64[1] > s->o.rounds)
        return AM_FAIL(AM_EFORMAT,
                       "%s: state of K %u, D %" PRIu64 ", %s, round %" PRIu64
                       " (header round %u, run of %u rounds)",
                       path, h[2], h64[0], h[3] ? "adam" : "sgd", h64[1], round, s->o.rounds);
    const float *theta = (const float *)(const void *)p;
    p += 4 * s->D;
    const float *m = NULL, *v = NULL;
    if (srv_adam(s)) {
        m = (const float *)(const void *)p;
        v = m + s->D;
        p += 8 * s->D;
    }
    float *th = malloc(4 * s->D); /* aligned copy */
    if (!th)
        return AM_FAIL(AM_ENOMEM, "%s: out of memory", path);
    memcpy(th, theta, 4 * s->D);
    int finite = fl_vec_finite(th, s->D);
    uint32_t pr[2], dr[2];
    get(&p, pr, sizeof pr);
    const unsigned char *prev = p;
    p += 4 * (size_t)s->K;
    get(&p, dr, sizeof dr);
    uint64_t c[SRV_NCOUNT];
    get(&p, c, sizeof c);
    const unsigned char *nh = p;
    am_status st = AM_OK;
    if (!finite)
        st = AM_FAIL(AM_EFORMAT, "%s: theta is not finite", path);
    else if (pr[1] > s->K || dr[0] > round || (round && pr[0] != round - 1) ||
             (!round && pr[0] != CTRL_NO_ROUND))
        st = AM_FAIL(AM_EFORMAT, "%s: last round %u applied %u agents, %u decoded of %u rounds",
                     path, pr[0], pr[1], dr[0], round);
    for (uint32_t i = 0; st == AM_OK && i < pr[1]; i++) {
        uint32_t id;
        memcpy(&id, prev + 4 * (size_t)i, 4);
        if (id >= s->K || (i && id <= s->prev[i - 1]))
            st = AM_FAIL(AM_EFORMAT, "%s: applied agent ids not increasing below %u", path, s->K);
        else
            s->prev[i] = id; /* scratch until accepted; overwritten on failure below */
    }
    for (unsigned i = 0; st == AM_OK && i < s->K * PHY_CAL_Q; i++) {
        uint32_t hk;
        memcpy(&hk, nh + 4 * (size_t)i, 4);
        if (hk > round + 1) /* its last probe (§8.5) and the rounds since */
            st = AM_FAIL(AM_EFORMAT,
                         "%s: agent %u's sub-band %u measured %u times in %u rounds and a probe",
                         path, i / PHY_CAL_Q, i % PHY_CAL_Q, hk, round);
    }
    float *mm = NULL, *vv = NULL;
    if (st == AM_OK && m) {
        mm = malloc(8 * s->D);
        if (!mm)
            st = AM_FAIL(AM_ENOMEM, "%s: out of memory", path);
        else {
            vv = mm + s->D;
            memcpy(mm, m, 4 * s->D);
            memcpy(vv, v, 4 * s->D);
        }
    }
    if (st == AM_OK && (st = fl_opt_set_state(s->opt, h64[2], mm, vv)) != AM_OK)
        st = am_error_wrap(st, "%s", path);
    free(mm);
    if (st != AM_OK) {
        s->nprev = 0;
        free(th);
        return st;
    }
    memcpy(s->theta, th, 4 * s->D);
    free(th);
    memcpy(s->nh, nh, 4 * (size_t)s->K * PHY_CAL_Q);
    s->done = round;
    s->prev_round = pr[0];
    s->nprev = pr[1];
    s->decoded_rounds = dr[0];
    s->late_status = c[0];
    s->peer_drops = c[1];
    s->refused_hello = c[2];
    s->implausible = c[3];
    s->peer_rejects = c[4];
    s->base_rejected = c[5];
    s->base_auth = c[6];
    return AM_OK;
}

/* metrics.jsonl synced, then checkpoint.bin atomically (a reader finds the lines of every round
 * the checkpoint holds). */
static am_status write_checkpoint(srv *s)
{
    if (fflush(s->metrics) != 0 || fsync(fileno(s->metrics)) != 0)
        return AM_FAIL(AM_EIO, "%s: %s", s->metrics_path, strerror(errno));
    state_save(s, s->state);
    const checkpoint_info ci = {.round = s->done,
                                .agents = s->K,
                                .dim = s->D,
                                .config_crc = s->crc,
                                .elapsed_s = s->elapsed};
    return checkpoint_write(s->ckpt_path, &ci, s->state, s->state_n);
}

/* The run in --resume DIR from its checkpoint (none yet: from round 1); metrics.jsonl cut to it. */
static am_status resume_run(srv *s)
{
    checkpoint_info ex = {.agents = s->K, .dim = s->D, .config_crc = s->crc}, ci;
    void *blob = NULL;
    size_t bn = 0;
    am_status st = checkpoint_read(s->ckpt_path, &ex, s->state_n, &ci, &blob, &bn);
    if (st == AM_ENOTFOUND) {
        st = AM_OK; /* stopped before its first checkpoint: from the start */
    } else if (st == AM_OK) {
        st = state_load(s, blob, bn, ci.round);
        s->elapsed = ci.elapsed_s;
    }
    free(blob);
    if (st == AM_OK)
        st = runcfg_cut_rounds(s->metrics_path, s->done, 1);
    if (st == AM_OK)
        st = am_fopen_regular(s->metrics_path, "a", &s->metrics);
    return st;
}

/* ------------------------------------------------------------------------------ options */

void server_defaults(server_opts *o)
{
    *o = (server_opts){.rounds = 100,
                       .min_agents = 1,
                       .nfft = 256,
                       .round_timeout = 10,
                       .burst_timeout = 2,
                       .join_timeout = 60,
                       .eta_cap = 100,
                       .save_every = 10,
                       .checkpoint_every = 1, /* a round costs everyone seconds, a checkpoint ms */
                       .norm_bound = 100,
                       .seed = 1,
                       .cal = "auto",
                       .mapping = FLAGS_MAPPING_DEFAULT,
                       .gain_pool = 3, /* docs/air-interface.md §5.2 */
                       .beacon_reps = SERVER_BEACON_REPS,
                       .radio = {.name = "zmq"}};
    flags_task_defaults(&o->task);
    flags_learner_defaults(&o->learn);
    flags_eval_defaults(&o->eval);
    flags_air_defaults(&o->air);
    flags_probes_defaults(&o->probes);
    /* The one default that differs from sim's (rms, the paper's mean-power budget): a server
     * drives radios, whose DACs bound every sample, so its agents scale by the peak. */
    o->air.eta_rule = "peak";
}

#define PUT(...) (t[n++] = (cli_opt){__VA_ARGS__})

size_t server_table(server_opts *o, cli_opt *t)
{
    size_t n = 0;
    PUT("--bind", CLI_STR, &o->bind, "control endpoint to bind, tcp://HOST:PORT", 1, 0, NULL);
    PUT("--agents", CLI_UINT, &o->agents, "training agents K (ids 0..K-1)", 1, CTRL_MAX_AGENTS,
        NULL);
    PUT("--rounds", CLI_UINT, &o->rounds, "rounds", 1, 1e7, NULL);
    PUT("--out", CLI_STR, &o->out,
        "run folder: config.json, metrics.jsonl (a line per round), theta.f32", 1, 0, NULL);
    PUT("--force", CLI_FLAG, &o->force, "with --out: replace a finished run there", 0, 0, NULL);
    PUT("--checkpoint-every", CLI_UINT, &o->checkpoint_every,
        "with --out: write DIR/checkpoint.bin atomically every N rounds (and on SIGINT / "
        "SIGTERM); a kill -9 then repeats at most N - 1 rounds on --resume, exactly while N < "
        "the agents' --keep-rounds (16)",
        1, 1e7, NULL);
    PUT("--resume", CLI_STR, &o->resume,
        "continue the server run in DIR from its last checkpoint, configured by DIR/config.json "
        "(flags given again must agree with it, except --bind, keys, timeouts, --round-period, "
        "--min-agents, --save-every, --checkpoint-every, --radio-args, --quiet); the agents and "
        "the chan rejoin by themselves",
        1, 0, NULL);
    PUT("--round-timeout", CLI_DOUBLE, &o->round_timeout,
        "per-round deadline for the agents' reports, s (late ones sit the round out)", 0.01, 3600,
        NULL);
    PUT("--burst-timeout", CLI_DOUBLE, &o->burst_timeout,
        "how long the chan waits for the round's bursts, s", 0.01, 3600, NULL);
    PUT("--round-period", CLI_DOUBLE, &o->round_period,
        "start rounds at least this many seconds apart (0: back to back)", 0, 86400, NULL);
    PUT("--join-timeout", CLI_DOUBLE, &o->join_timeout,
        "wait this long for the chan and the agents before round 1, s", 0.01, 86400, NULL);
    PUT("--min-agents", CLI_UINT, &o->min_agents,
        "start after the join timeout if at least this many agents joined", 1, CTRL_MAX_AGENTS,
        NULL);
    PUT("--report-x", CLI_FLAG, &o->report_x,
        "agents also send their payload x (debug/metrics): aggregation NMSE vs the ideal "
        "average of the summed agents",
        0, 0, NULL);
    n += flags_task_table(&o->task, t + n);
    n += flags_learner_table(&o->learn, t + n);
    n += flags_eval_table(&o->eval, t + n);
    n += flags_air_table(&o->air, t + n);
    PUT("--nfft", CLI_UINT, &o->nfft,
        "FFT size M (cp M/8, default allocation; refused if the agents cannot run it)", 64, 4096,
        NULL);
    PUT("--seed", CLI_U64, &o->seed, "seed (initial model, agents' task draws)", 0, -1, NULL);
    n += flags_radio_table(&o->radio, t + n, "zmq|uhd",
                           "data plane: zmq (IQ through `airmeta chan`) or uhd (on air: this "
                           "host's USRP B210 sends the beacon and receives the sum; no chan)");
    PUT("--beacon-reps", CLI_UINT, &o->beacon_reps,
        "training blocks (copies of S1) the beacon carries after its preamble, announced in GO: "
        "the agents' channel estimate averages them (docs/air-interface.md §6.1; default 16, "
        "as sim's emulated agents; 0 is the three-block beacon, which a run folder whose "
        "config.json does not record it ran with and resumes with)",
        0, PHY_BEACON_MAX_REPS, NULL);
    PUT("--gain-pool", CLI_UINT, &o->gain_pool,
        "receiver's estimate of G pooled over W neighbouring bins where noisy (0 = per bin, "
        "phy/ota_rx.h; default 3, docs/air-interface.md §5.2)",
        0, PHY_OTA_RX_GAIN_POOL_MAX, NULL);
    PUT("--cal", CLI_CHOICE, &o->cal,
        "closed-loop calibration (docs/air-interface.md §8): calibration blocks in every burst "
        "(agent k in slot k), the server hears each agent and sends it its gain (CAL), agents "
        "correct their precoder; metrics list the agents heard; auto = on with --radio uhd, off "
        "through the chan (say on when the chan runs --impair)",
        0, 0, "auto|on|off");
    n += flags_probes_table(&o->probes, t + n); /* §8.5 */
    n += flags_mapping_table(&o->mapping, t + n); /* the agents follow GO's */
    PUT("--eta-cap", CLI_DOUBLE, &o->eta_cap,
        "eta is at most this many times the upper median of the reported figures (peak, or "
        "sqrt(power) under --eta-rule rms; docs/air-interface.md §3.1): one agent's report "
        "cannot set the round's scale when 3 or more report; agents above it clip",
        1, 1e6, NULL);
    PUT("--norm-bound", CLI_DOUBLE, &o->norm_bound,
        "a decoded payload whose norm exceeds this x the reports' upper median (as --eta-cap) x "
        "sqrt(ceil(D/2)) is not applied (flagged in metrics; docs/air-interface.md §3.1)",
        0.01, 1e6, NULL);
    PUT("--save-every", CLI_UINT, &o->save_every,
        "with --out: rewrite theta.f32 atomically every N rounds (0: at the end only); on "
        "SIGINT / SIGTERM it is written before the exit",
        0, 1e7, NULL);
    PUT("--key", CLI_STR, &o->key,
        "the server's secret key NAME.key (airmeta keygen): CURVE on the control plane; give "
        "its NAME.pub to the agents and the chan (--server-key)",
        1, 0, NULL);
    PUT("--allow", CLI_STR, &o->allow,
        "who may join: lines 'agent ID PUBKEY' and 'chan PUBKEY' (z85 from NAME.pub, '#' "
        "comment lines); each id is bound to its key, anything else is refused and counted",
        1, 0, NULL);
    PUT("--insecure", CLI_FLAG, &o->insecure,
        "no keys: plain TCP, anyone reaching the port can join, impersonate or disturb the "
        "run (warns; quick local runs only)",
        0, 0, NULL);
    PUT("--quiet", CLI_FLAG, &o->quiet, "no per-round lines", 0, 0, NULL);
    return n;
}

/* ------------------------------------------------------------------------------ the server */

/* What cli_parse cannot check alone; then the per-family defaults (host/run/flags.h). */
static am_status check_opts(server_opts *o, fl_task_kind *kind)
{
    if (!o->bind)
        return AM_FAIL(AM_EINVAL, "--bind is required (see --help)");
    if (!o->agents)
        return AM_FAIL(AM_EINVAL, "--agents is required (see --help)");
    if (o->min_agents > o->agents)
        return AM_FAIL(AM_EINVAL, "--min-agents %u exceeds --agents %u", o->min_agents,
                       o->agents);
    if (o->nfft % 2)
        return AM_FAIL(AM_EINVAL, "--nfft %u is not even", o->nfft);
    am_status st = flags_probes_check(&o->probes);
    if (st != AM_OK)
        return st;
    /* the probes are calibration's (§8.5): --cal auto is on with --radio uhd only (make_receiver) */
    if (flags_probes_set(&o->probes) &&
        !(!strcmp(o->cal, "on") || (!strcmp(o->cal, "auto") && strcmp(o->radio.name, "zmq") != 0)))
        return AM_FAIL(AM_EINVAL, "--probes %u / --probe-excess %g need calibration (--cal on, or "
                                  "--radio uhd): without it nothing is probed",
                       o->probes.probes, (double)o->probes.excess);
    char pre[CTRL_STR_LEN];
    int port;
    st = net_split_endpoint(o->bind, pre, sizeof pre, &port);
    if (st != AM_OK)
        return am_error_wrap(st, "--bind");
    if ((st = learner_task_kind(o->task.task, kind)) != AM_OK)
        return st;
    if (o->task.data_dir && !o->task.data_dir[0]) /* "" + "/file": the root folder's */
        return AM_FAIL(AM_EINVAL, "--data-dir: empty folder name");
    if (*kind == FL_TASK_OMNIGLOT && !o->task.data_dir)
        return AM_FAIL(AM_EINVAL, "--task omniglot needs --data-dir");
    flags_learning_resolve(*kind, &o->task, &o->learn, &o->eval);
    if (!o->eval.eval_every) /* as sim: four evaluations and the last round */
        o->eval.eval_every = o->rounds / 4 ? o->rounds / 4 : 1;
    return AM_OK;
}

/* Open files (one connection per agent, the chan's two IQ sockets, the run's files; then as many
 * as allowed, against a flood of connections: issue 12 findings 3, 5), three descriptors kept for
 * the run's files, the keys and the allow-list. */
static am_status setup_security(srv *s)
{
    const server_opts *o = &s->o;
    char who[64];
    snprintf(who, sizeof who, "server with %u agents", o->agents);
    am_status st = zctx_files_reserve(2 * (uint64_t)o->agents + 256, who);
    if (st != AM_OK)
        return st;
    zctx_files_raise();
    for (int i = 0; i < 3; i++)
        s->reserve_fd[i] = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if ((st = net_sec_setup("server", o->key, NULL, o->allow, o->insecure, o->agents, &s->sec)) !=
        AM_OK)
        return st;
    unsigned char chk[ZCTX_KEY_LEN];
    if (s->sec.on && strcmp(o->radio.name, "zmq") == 0 && !net_auth_chan_key(s->sec.auth, chk))
        return AM_FAIL(AM_EINVAL, "--allow %s lists no 'chan PUBKEY' line: the zmq data plane "
                                  "needs the chan's key",
                       o->allow);
    return AM_OK;
}

/* The learner the agents are told about (ctrl_learner), the model, theta and the optimiser. */
static am_status make_learner(srv *s, fl_task_kind kind)
{
    const server_opts *o = &s->o;
    fl_learner lr;
    fl_opt_cfg oc;
    fl_opt_cfg_default(&oc);
    fl_sparse_kind sk;
    am_status st;
    if ((st = fl_learner_parse(o->learn.learner, &lr)) != AM_OK ||
        (st = fl_opt_kind_parse(o->learn.optimizer, &oc.kind)) != AM_OK ||
        (st = fl_sparse_kind_parse(o->air.sparsify, &sk)) != AM_OK ||
        (st = fl_eta_rule_parse(o->air.eta_rule, &s->eta_rule)) != AM_OK)
        return st;
    oc.lr = (float)o->learn.beta;
    oc.clip = (float)o->learn.clip;
    s->l = (ctrl_learner){.task = kind,
                          .learner = lr,
                          .inner_steps = o->learn.inner_steps,
                          .alpha = (float)o->learn.alpha,
                          .tasks = o->learn.tasks_per_agent,
                          .local_iters = o->learn.local_iters,
                          .local_lr = (float)o->learn.local_lr,
                          .hf_delta = 1e-3f,
                          .ways = o->task.ways,
                          .shots = o->task.shots,
                          .query = o->task.query,
                          .heterogeneity = (float)o->task.heterogeneity,
                          .filters = o->learn.filters,
                          .sparsify = sk,
                          .keep = sk == FL_SPARSE_NONE ? 1.0 : o->air.sparsity,
                          .memory = !o->air.no_memory,
                          .n_agents = s->K,
                          .seed = o->seed,
                          .pool = o->task.pool};
    if ((st = net_family_create(&s->l, o->task.data_dir, o->eval.new_agents, &s->fam)) != AM_OK ||
        (st = learner_model_create(s->fam, s->l.filters, &s->model)) != AM_OK ||
        (st = fl_personalizer_create(s->model, s->fam, &s->pers)) != AM_OK)
        return st;
    s->pc = (fl_personalize_cfg){.steps = o->eval.eval_steps,
                                 .alpha = (float)o->eval.eval_alpha,
                                 .n_tasks = o->eval.eval_tasks};
    s->D = fl_model_nparams(s->model);
    return fl_opt_create(&oc, s->D, &s->opt);
}

/* The frame, the round's tick layout and the streaming receiver. */
static am_status make_receiver(srv *s)
{
    const server_opts *o = &s->o;
    phy_frame_cfg fc = {o->nfft, 0, NULL};
    am_status st = phy_frame_create(&fc, &s->frame);
    if (st != AM_OK)
        return st;
    s->M = o->nfft;
    s->cp = phy_frame_cp_len(s->frame);
    { /* every agent builds its DSP (net_agent: its channel fit over lags -2 .. min(cp, 48)-1,
         §6.2, weighted by the beacon's blocks) at WELCOME: a numerology it refuses is said now,
         not by each agent leaving (none of --nfft 64..4096 since that cap; before it, 1024 and
         up, and 512 with the 16 training blocks, which this check did not weigh) */
        const net_agent_cfg ac = {.nfft = s->M,
                                  .cp_len = s->cp,
                                  .payload_len = s->D,
                                  .cfo_comp = 1,
                                  .beacon_reps = o->beacon_reps};
        net_agent *na = NULL;
        if ((st = net_agent_create(&ac, &na)) != AM_OK)
            return am_error_wrap(AM_EINVAL, "--nfft %u: an agent cannot run it", s->M);
        net_agent_destroy(na);
    }
    if ((st = phy_mapping_parse(o->mapping, &s->map)) != AM_OK)
        return am_error_wrap(st, "--mapping");
    /* auto: on with radios (uhd: LO phases and chains are never reciprocal, docs/impairments.md);
     * off through the chan, whose profile the server does not know (say --cal on with --impair) */
    s->cal = !strcmp(o->cal, "on") || (!strcmp(o->cal, "auto") && s->air);
    s->rs.slots = s->cal ? s->K : 0;
    s->blen = phy_frame_burst_len(s->frame, phy_mapping_span(s->map, s->D)) +
              (size_t)phy_cal_blocks(phy_frame_n_used(s->frame), s->rs.slots, NULL) *
                  phy_frame_block_len(s->frame);
    s->bl = phy_beacon_len_reps(s->frame, o->beacon_reps);
    const int64_t blk = (int64_t)(s->M + s->cp);
    s->gap = (int64_t)s->bl + 4 * blk; /* beacon, then the burst 4 blocks after it */
    s->slot = (int64_t)1 << 20;        /* ~1 s at 1 MS/s; rounds never overlap in ticks */
    const int64_t part = (int64_t)s->blen + s->gap + 16 * blk; /* a burst and its beacon */
    while (s->slot < (int64_t)probe_parts(o->probes.probes) * part)
        s->slot *= 2; /* §9.6: max(P, 2) probes and the round fit (4 parts for P <= 2) */
    s->chunk_cap = s->blen + 16 * (size_t)blk + 4096;
    phy_ota_rx_cfg rc;
    phy_ota_rx_cfg_default(&rc);
    rc.frame = fc;
    rc.payload_len = s->D;
    rc.eta = 1.0f;
    rc.rho = (float)o->air.rho;
    rc.gain_pool = o->gain_pool;
    rc.cal_slots = s->rs.slots;
    rc.mapping = s->map;
    rc.callback = on_burst;
    rc.user = &s->rs;
    if ((st = phy_ota_rx_create(&rc, &s->rx)) != AM_OK)
        return st;
    s->rs.L = s->D;
    const size_t S = s->rs.slots ? s->rs.slots : 1;
    s->rs.heard = calloc(S, 1);
    s->rs.E = calloc(S * PHY_CAL_Q, sizeof *s->rs.E);
    s->rs.meas = calloc(S * PHY_CAL_Q, 1);
    s->rs.W = calloc(S * PHY_CAL_Q * PHY_CAL_Q, sizeof *s->rs.W);
    s->rs.cal_snr = calloc(S, sizeof *s->rs.cal_snr);
    s->probe_ids = calloc(s->K, sizeof *s->probe_ids);
    s->probe_heard = calloc(s->K, sizeof *s->probe_heard);
    s->probe_mask = calloc(s->K, 1);
    if (!s->rs.heard || !s->rs.E || !s->rs.meas || !s->rs.W || !s->rs.cal_snr || !s->probe_ids ||
        !s->probe_heard || !s->probe_mask)
        return AM_FAIL(AM_ENOMEM, "server: calibration of %u agents", s->K);
    return AM_OK;
}

/* Buffers, the beacon and the initial theta. */
static am_status make_buffers(srv *s)
{
    const unsigned K = s->K;
    if (s->o.report_x) { /* every agent's x, written as they report (as sim and bench round) */
        char what[96];
        snprintf(what, sizeof what, "--report-x: --agents %u x %zu parameters", K, s->D);
        am_status ms = am_mem_fits((double)K * (double)s->D * sizeof *s->xs, what);
        if (ms != AM_OK)
            return ms;
    }
    s->ag = calloc(K, sizeof *s->ag);
    s->chan_ep = calloc(2 + 2 * (size_t)K, sizeof *s->chan_ep);
    s->theta = malloc(s->D * sizeof *s->theta);
    s->avg = malloc(s->D * sizeof *s->avg);
    s->rs.payload = malloc(s->D * sizeof *s->rs.payload);
    s->beacon = malloc(s->bl * sizeof *s->beacon);
    s->chunk = malloc(s->chunk_cap * sizeof *s->chunk);
    s->ids = calloc(K, sizeof *s->ids);
    s->peaks = calloc(K, sizeof *s->peaks);
    s->inc = calloc(3 * (size_t)K, sizeof *s->inc);
    s->nh = calloc((size_t)K * PHY_CAL_Q, sizeof *s->nh);
    s->prev = calloc(K, sizeof *s->prev);
    s->applied = calloc(K, sizeof *s->applied);
    if (s->o.report_x)
        s->xs = malloc((size_t)K * s->D * sizeof *s->xs);
    if (!s->ag || !s->chan_ep || !s->theta || !s->avg || !s->rs.payload || !s->beacon ||
        !s->chunk || !s->ids || !s->peaks || !s->inc || !s->prev || !s->applied || !s->nh ||
        (s->o.report_x && !s->xs))
        return AM_FAIL(AM_ENOMEM, "server: buffers for %u agents x %zu parameters", K, s->D);
    am_status st = phy_beacon_write_reps(s->frame, s->o.beacon_reps, s->beacon, s->bl);
    if (st != AM_OK)
        return st;
    am_rng ir;
    am_rng_seed(&ir, s->o.seed);
    return fl_model_init(s->model, s->theta, &ir);
}

/* --out locked and metrics.jsonl opened; the control endpoint bound; config.json. */
static am_status open_run(srv *s)
{
    const server_opts *o = &s->o;
    am_status st;
    if (o->out) {
        const unsigned rf = (o->resume ? RUN_DIR_RESUME : 0u) | (o->force ? RUN_DIR_FORCE : 0u);
        cli_opt t[SERVER_MAX_OPTS];
        server_opts copy = s->o;
        s->state_n = state_size(s);
        if ((st = runcfg_crc(&server_class, t, server_table(&copy, t), NULL, &s->crc)) != AM_OK)
            return st;
        if (!(s->state = malloc(s->state_n)))
            return AM_FAIL(AM_ENOMEM, "server: a checkpoint of %zu bytes", s->state_n);
        if ((st = run_dir_open(o->out, rf, "airmeta server", &s->rd)) != AM_OK ||
            (st = fs_path_join(s->metrics_path, sizeof s->metrics_path, o->out,
                               "metrics.jsonl")) != AM_OK ||
            (st = fs_path_join(s->ckpt_path, sizeof s->ckpt_path, o->out, "checkpoint.bin")) !=
                AM_OK)
            return am_error_wrap(st, o->resume ? "--resume" : "--out");
        if (o->resume)
            st = resume_run(s);
        else if (unlink(s->ckpt_path) != 0 && errno != ENOENT) /* never taken for this run's */
            st = AM_FAIL(AM_EIO, "%s: %s", s->ckpt_path, strerror(errno));
        else
            st = am_fopen_regular(s->metrics_path, "w", &s->metrics); /* no link, FIFO, device */
        if (st != AM_OK)
            return st;
    }
    ctrl_cfg cc = {.server = 1,
                   .endpoint = o->bind,
                   .self_id = CTRL_ID_SERVER,
                   .max_payload = ctrl_payload_bound(s->D, s->K),
                   .send_timeout = 2.0,
                   .curve_secret = s->sec.on ? s->sec.sec : NULL,
                   .zap_domain = "ctrl"};
    if ((st = ctrl_create(&cc, &s->c)) != AM_OK)
        return st;
    return o->out && !o->resume ? write_config(s) : AM_OK;
}

am_status server_create(const server_opts *opts, server **out)
{
    *out = NULL;
    srv *s = calloc(1, sizeof *s);
    if (!s)
        return AM_FAIL(AM_ENOMEM, "server: out of memory");
    s->o = *opts;
    s->prev_round = CTRL_NO_ROUND;
    s->reserve_fd[0] = s->reserve_fd[1] = s->reserve_fd[2] = -1;
    fl_task_kind kind = FL_TASK_SINUSOID;
    am_status st = check_opts(&s->o, &kind);
    if (st == AM_OK)
        st = setup_security(s);
    if (st == AM_OK) {
        openblas_set_num_threads(1);
        net_catch_stop_signals();
        s->K = s->o.agents;
        s->rate = 1e6; /* the zmq radio's default: every process of the run uses it */
        s->air = strcmp(s->o.radio.name, "zmq") != 0;
        if (!s->air && s->o.radio.args)
            st = AM_FAIL(AM_EINVAL, "--radio-args: the zmq data plane takes its endpoints from "
                                    "the chan; use --radio uhd");
        else if (s->air)
            st = net_air_open(s->o.radio.name, s->o.radio.args, &s->rad, &s->rate);
    }
    if (st == AM_OK)
        st = make_learner(s, kind);
    if (st == AM_OK)
        st = make_receiver(s);
    if (st == AM_OK)
        st = make_buffers(s);
    if (st == AM_OK)
        st = open_run(s);
    if (st != AM_OK) {
        server_destroy(s);
        return st;
    }
    say(s,
        "server: listening on %s: %u agents, %u rounds, %s (%zu parameters), burst %zu "
        "samples (M %u), beacon %zu samples (%u training blocks)\n",
        ctrl_endpoint(s->c), s->K, s->o.rounds, fl_model_describe(s->model), s->D, s->blen, s->M,
        s->bl, s->o.beacon_reps);
    if (s->o.resume)
        say(s, "server: resuming %s after round %u of %u (its checkpoint)\n", s->o.resume, s->done,
            s->o.rounds);
    *out = s;
    return AM_OK;
}

/* The chan and every agent, or at least --min-agents by the join timeout. */
am_status server_join(server *s)
{
    const server_opts *o = &s->o;
    am_status st = pump(s, monotime_s() + o->join_timeout, all_joined);
    if (st != AM_OK && st != AM_ETIMEOUT)
        return st;
    unsigned joined = 0;
    for (unsigned k = 0; k < s->K; k++)
        joined += s->ag[k].welcomed;
    if (net_stop_requested())
        return AM_FAIL(AM_ETIMEOUT, "server: stopped by a signal before round 1 (chan %s, %u of %u "
                                    "agents joined)",
                       s->chan_joined ? "joined" : "missing", joined, s->K);
    if ((!s->chan_joined && !s->air) || joined < o->min_agents)
        return AM_FAIL(AM_ETIMEOUT, "server: after %g s: chan %s, %u of %u agents joined (need %u)",
                       o->join_timeout, s->chan_joined ? "joined" : "missing", joined, s->K,
                       o->min_agents);
    say(s, "server: %u agents and %s joined; starting\n", joined,
        s->air ? "no chan (on air)" : "the chan");
    return AM_OK;
}

am_status server_round(server *s)
{
    const server_opts *o = &s->o;
    if (s->done >= o->rounds)
        return AM_FAIL(AM_EINVAL, "server: the run's %u rounds are done", o->rounds);
    uint32_t napplied = 0;
    const uint32_t r = s->done;
    am_status st = run_round(s, r, s->prev, s->nprev, s->prev_round, s->applied, &napplied);
    if (st != AM_OK)
        return st;
    s->done = r + 1;
    s->decoded_rounds += napplied > 0;
    memcpy(s->prev, s->applied, napplied * sizeof *s->prev);
    s->nprev = napplied;
    s->prev_round = r;
    /* the model so far, atomically, every --save-every rounds: a kill -9 loses at most that many
     * rounds of it (a failed write warns; it never stops the run) */
    if (o->out && o->save_every && s->done % o->save_every == 0 && s->done < o->rounds &&
        fl_vec_finite(s->theta, s->D) && write_theta(s) != AM_OK)
        fprintf(stderr, "airmeta server: warning: %s\n", am_last_error());
    /* the checkpoint (--resume): a failed write warns; the next one may succeed */
    if (o->out && (s->done % o->checkpoint_every == 0 || s->done == o->rounds) &&
        fl_vec_finite(s->theta, s->D) && write_checkpoint(s) != AM_OK)
        fprintf(stderr, "airmeta server: warning: checkpoint: %s\n", am_last_error());
    return AM_OK;
}

unsigned server_rounds_done(const server *s)
{
    return s->done;
}

/* The descriptors kept for the run's files, given back just before they are written. */
static void release_reserve(srv *s)
{
    for (int i = 0; i < 3; i++) {
        if (s->reserve_fd[i] >= 0)
            close(s->reserve_fd[i]);
        s->reserve_fd[i] = -1;
    }
}

static void say_summary(srv *s)
{
    ctrl_stats cs;
    ctrl_get_stats(s->c, &cs);
    say(s,
        "server: done: %u rounds, %u decoded; control messages: %" PRIu64 " accepted, %" PRIu64
        " rejected",
        s->o.rounds, s->decoded_rounds, cs.accepted, cs.rejected);
    if (cs.rejected) {
        say(s, " (");
        for (int i = 1; i < CTRL_REJ_END; i++)
            if (cs.by_reason[i])
                say(s, "%s %" PRIu64 " ", ctrl_reject_name((ctrl_reject)i), cs.by_reason[i]);
        say(s, "; last: %s)", cs.last_reject);
    }
    say(s, ", %" PRIu64 " late reports, %" PRIu64 " failed handshakes, %" PRIu64
           " HELLOs refused, %" PRIu64 " peer drops, %" PRIu64 " implausible rounds\n",
        s->late_status, cs.handshake_failed, s->refused_hello, s->peer_drops, s->implausible);
}

am_status server_finish(server *s, am_status st)
{
    const server_opts *o = &s->o;
    /* the end: everybody stops */
    ctrl_msg bye;
    memset(&bye, 0, sizeof bye);
    bye.type = CTRL_BYE;
    for (unsigned k = 0; k < s->K; k++)
        if (s->ag[k].joined && s->ag[k].alive)
            ctrl_send(s->c, &s->ag[k].peer, &bye);
    if (s->chan_joined)
        ctrl_send(s->c, &s->chan_peer, &bye);
    if (st != AM_OK && net_stop_requested() && o->out && fl_vec_finite(s->theta, s->D)) {
        /* SIGINT / SIGTERM: the rounds done are kept (metrics.jsonl has them line by line, the
         * checkpoint their state: --resume continues) */
        release_reserve(s);
        am_status cs = write_checkpoint(s);
        if (cs != AM_OK)
            fprintf(stderr, "airmeta server: warning: checkpoint: %s\n", am_last_error());
        if (write_theta(s) == AM_OK)
            st = AM_FAIL(AM_ETIMEOUT,
                         "server: stopped by a signal after %u of %u rounds; theta.f32 holds the "
                         "model after round %u%s%s",
                         s->done, o->rounds, s->done,
                         cs == AM_OK ? "; continue with airmeta server --resume " : "",
                         cs == AM_OK ? o->out : "");
    }
    if (st != AM_OK)
        return st;
    if (!fl_vec_finite(s->theta, s->D)) /* never exit 0 with a model that is not finite */
        return AM_FAIL(AM_EFORMAT, "server: the model is not finite after %u rounds", o->rounds);
    release_reserve(s);
    if (o->out && ((st = write_theta(s)) != AM_OK || (st = run_dir_finish(s->rd)) != AM_OK))
        return st;
    say_summary(s);
    return AM_OK;
}

void server_destroy(server *s)
{
    if (!s)
        return;
    srv_free(s);
    free(s);
}

/* ------------------------------------------------------------------------------ configuration */

/* Not in config.json: where the run is and what to do with an earlier one. */
static int opt_unstored(const cli_opt *op)
{
    return !strcmp(op->name, "--out") || !strcmp(op->name, "--resume") ||
           !strcmp(op->name, "--force");
}

/* Security: this session's keys (all three from the command line when one is given). */
static int opt_security(const cli_opt *op)
{
    return !strcmp(op->name, "--key") || !strcmp(op->name, "--allow") ||
           !strcmp(op->name, "--insecure");
}

/* Stored, but how the run is served, not what it computes: may differ on --resume, not in the
 * configuration's CRC. */
static int opt_runctl(const cli_opt *op)
{
    static const char *const rc[] = {"--bind",          "--round-timeout", "--burst-timeout",
                                     "--round-period",  "--join-timeout",  "--min-agents",
                                     "--save-every",    "--checkpoint-every", "--radio-args",
                                     "--quiet"};
    for (size_t i = 0; i < sizeof rc / sizeof rc[0]; i++)
        if (!strcmp(op->name, rc[i]))
            return 1;
    return opt_security(op);
}

/* Flags added after server run folders existed, left out of the configuration's CRC at the
 * value a folder from before them ran with (--mapping complex, --beacon-reps 0), so that such a
 * folder (its config.json without them) keeps its CRC and resumes */
static int opt_crc_default(const cli_opt *op)
{
    if (flags_probes_is(op->name)) /* --probes 2, --probe-excess 0 */
        return flags_probes_at_default(op);
    return (!strcmp(op->name, "--mapping") &&
            !strcmp(*(const char *const *)op->dst, FLAGS_MAPPING_DEFAULT)) ||
           (!strcmp(op->name, "--beacon-reps") &&
            *(const unsigned *)op->dst == SERVER_BEACON_REPS_UNRECORDED);
}

/* --mapping at its default is not written to config.json's flags (a complex run's config.json
 * keeps the bytes of a run before the flag); --beacon-reps always is: its default (16) is not
 * what a folder without it ran with (0, resume_opts) */
static int opt_omitted(const cli_opt *op)
{
    if (flags_probes_is(op->name)) /* at their defaults: config.json keeps its bytes */
        return flags_probes_at_default(op);
    return !strcmp(op->name, "--mapping") &&
           !strcmp(*(const char *const *)op->dst, FLAGS_MAPPING_DEFAULT);
}

static int opt_added_later(const char *name)
{
    return !strcmp(name, "--mapping") || !strcmp(name, "--beacon-reps") || flags_probes_is(name);
}

/* the server's flags in config.json (host/run/runcfg.h) */
static const runcfg_class server_class = {"server",        opt_unstored,    opt_runctl,
                                          opt_crc_default, opt_added_later, opt_omitted};

#define SERVER_CONFIG_MAX (1u << 20) /* a config.json larger than this is not ours */

/* --resume DIR: o from DIR/config.json, the given flags (u, tu, given) checked against it. */
static am_status resume_opts(const server_opts *u,
                             const cli_opt *tu,
                             const unsigned char *given,
                             const cli_cmd *cmd_o,
                             server_opts *o,
                             server_args *keep)
{
    const char *dir = u->resume;
    char path[FS_PATH_MAX];
    am_status st = fs_path_join(path, sizeof path, dir, "config.json");
    if (st != AM_OK)
        return am_error_wrap(st, "--resume");
    char *text = NULL;
    if ((st = fs_read_text(path, SERVER_CONFIG_MAX, &text)) != AM_OK)
        return st == AM_ENOTFOUND ? AM_FAIL(AM_EINVAL,
                                            "--resume %s: not a run folder (no config.json): "
                                            "nothing to continue",
                                            dir)
                                  : st;
    cJSON *cfg = NULL;
    st = runcfg_parse(path, text, &cfg);
    free(text);
    if (st != AM_OK)
        return st;
    keep->stored = cfg;
    const cJSON *cmd = cJSON_GetObjectItemCaseSensitive(cfg, "command");
    if (!cJSON_IsString(cmd) || strcmp(cmd->valuestring, "server") != 0)
        return AM_FAIL(AM_EINVAL, "--resume %s: not an `airmeta server` run (config.json says "
                                  "command \"%.20s\")",
                       dir, cJSON_IsString(cmd) ? cmd->valuestring : "?");
    const cli_opt *t = cmd_o->opts;
    const size_t n = cmd_o->nopts;
    runcfg_argv av;
    st = runcfg_argv_make(&server_class, path, cJSON_GetObjectItemCaseSensitive(cfg, "flags"), t,
                          n, &av);
    keep->v = av.v; /* freed by server_args_free, also after a failure */
    keep->store = av.store;
    if (st != AM_OK)
        return st;
    server_defaults(o);
    /* a config.json without --beacon-reps is of a run made when the default was 0: it ran, and
     * resumes, with the three-block beacon (a --beacon-reps given now must agree, below) */
    o->beacon_reps = SERVER_BEACON_REPS_UNRECORDED;
    size_t npos = 0;
    if ((st = cli_parse(cmd_o, av.n, av.v, NULL, &npos)) != AM_OK)
        return am_error_wrap(AM_EFORMAT, "%s", path); /* a bad value in the file */
    int security = 0;
    for (size_t k = 0; k < n; k++)
        security |= given[k] && opt_security(&t[k]);
    for (size_t k = 0; k < n; k++) {
        if (security && opt_security(&t[k])) { /* this session's keys, all three */
            memcpy(t[k].dst, tu[k].dst, runcfg_opt_size(t[k].kind));
            continue;
        }
        if (!given[k] || !strcmp(t[k].name, "--resume") || !strcmp(t[k].name, "--force"))
            continue;
        if ((st = runcfg_take_given(&server_class, dir, path, &tu[k], &t[k])) !=
            AM_OK)
            return st;
    }
    o->resume = o->out = dir;
    return AM_OK;
}

am_status server_parse(int argc,
                       char **argv,
                       const char *usage,
                       const char *summary,
                       server_opts *o,
                       server_args *keep)
{
    memset(keep, 0, sizeof *keep);
    server_opts u;
    server_defaults(&u);
    cli_opt tu[SERVER_MAX_OPTS], t[SERVER_MAX_OPTS];
    const size_t n = server_table(&u, tu);
    const cli_cmd cmd_u = {"airmeta server", usage, summary, tu, n, 0, 0};
    size_t npos = 0;
    am_status st = cli_parse(&cmd_u, argc, argv, NULL, &npos);
    if (st != AM_OK || !u.resume) {
        *o = u;
        return st;
    }
    unsigned char given[SERVER_MAX_OPTS];
    runcfg_given(tu, n, argc, argv, given);
    server_table(o, t);
    const cli_cmd cmd_o = {"airmeta server", usage, summary, t, n, 0, 0};
    return resume_opts(&u, tu, given, &cmd_o, o, keep);
}

void server_args_free(server_args *a)
{
    cJSON_Delete(a->stored);
    free(a->v);
    free(a->store);
    memset(a, 0, sizeof *a);
}
