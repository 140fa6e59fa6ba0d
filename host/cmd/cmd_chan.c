/* airmeta chan: the channel-emulator process between the server and the agents (issue 4 item 3).
 * Downlink: the server's beacon to each agent of the round through its own channel; uplink: the
 * agents' bursts summed through their channels plus AWGN, forwarded to the server. IQ over the
 * zmq radio; round plans and reports over the control plane (host/net/ctrl.h, host/net/net.h). */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/cli.h"
#include "cmd/commands.h"
#include "net/auth.h"
#include "net/ctrl.h"
#include "util/monotime.h"
#include "net/net.h"
#include "phy/beacon.h"
#include "phy/cal.h"
#include "phy/frame.h"
#include "radio/radio.h"
#include "run/flags.h"

#define CHAN_EP_LEN CTRL_STR_LEN

typedef struct chan_opts {
    const char *server, *bind, *impair;
    const char *key, *server_key, *allow; /* CURVE (host/net/auth.h) */
    int insecure;
    unsigned agents, timing;
    flags_channel ch; /* --snr-db --taps --delay-spread (host/run/flags.h) */
    double cfo, agent_cfo, timeout;
    uint64_t seed;
    int quiet;
} chan_opts;

typedef struct chan_state {
    chan_opts o;
    net_sec sec;
    ctrl *c;
    radio *hub;              /* rx: beacons from the server; tx: the summed stream to the server */
    radio **ag;              /* per agent: rx its uplink bursts, tx its downlink */
    char (*ep)[CHAN_EP_LEN]; /* 2 + 2K endpoints, HELLO order */
    net_chan *nc;
    unsigned M, cp, timing;
    size_t L, blen, bl, bl_max, dl_cap, ul_cap; /* bl: a 3-block beacon; bl_max: the longest */
    size_t b0, bmax; /* bursts without calibration blocks and with one slot per agent (§8.1):
                        a round's PLAN has one of them (blen) */
    float complex *beacon, *dl, *ul;
    float complex *bursts; /* K x blen */
    const float complex **txp;
    unsigned char *got;
    uint32_t *ids;
    float rho_now;
    uint64_t rounds, late_total, rejected_total;
} chan_state;

/* What setup() made from a WELCOME. */
static void setup_free(chan_state *s)
{
    net_chan_destroy(s->nc);
    free(s->beacon);
    free(s->dl);
    free(s->ul);
    free(s->bursts);
    free(s->txp);
    free(s->got);
    free(s->ids);
    s->nc = NULL;
    s->beacon = s->dl = s->ul = s->bursts = NULL;
    s->txp = NULL;
    s->got = NULL;
    s->ids = NULL;
}

static void state_free(chan_state *s)
{
    ctrl_destroy(s->c);
    radio_close(s->hub);
    if (s->ag)
        for (unsigned k = 0; k < s->o.agents; k++)
            radio_close(s->ag[k]);
    free(s->ag);
    free(s->ep);
    setup_free(s);
    net_sec_free(&s->sec); /* after the last socket */
}

/* Binds the data sockets: port '*' = any free port for each, a number = consecutive ports from it
 * (beacon-in, sum-out, then uplink_k, downlink_k). Records the real endpoints. */
static am_status open_data(chan_state *s)
{
    char prefix[CHAN_EP_LEN];
    int port = 0;
    am_status st = net_split_endpoint(s->o.bind, prefix, sizeof prefix, &port);
    if (st != AM_OK)
        return am_error_wrap(st, "--bind");
    const unsigned K = s->o.agents;
    if (port > 0 && (long)port + 2 + 2 * (long)K - 1 > 65535)
        return AM_FAIL(AM_EINVAL, "--bind: ports %d..%ld do not fit below 65536", port,
                       (long)port + 2 + 2 * (long)K - 1);
    char e[4][CHAN_EP_LEN + 16];
    for (unsigned i = 0; i < 1 + K && st == AM_OK; i++) {
        for (unsigned j = 0; j < 2; j++) {
            unsigned slot = 2 * i + j;
            if (port < 0)
                snprintf(e[j], sizeof e[j], "%s*", prefix);
            else
                snprintf(e[j], sizeof e[j], "%s%u", prefix, (unsigned)port + slot);
        }
        char args[3 * CHAN_EP_LEN + 200], curve[200] = "";
        if (s->sec.on) { /* CURVE: the hub admits the server's key, agent k's sockets its key */
            char hs[2 * ZCTX_KEY_LEN + 1];
            net_key_hex(s->sec.sec, hs);
            if (i == 0)
                snprintf(curve, sizeof curve, ",curve_key=%s,zap_domain=iq-hub", hs);
            else
                snprintf(curve, sizeof curve, ",curve_key=%s,zap_domain=iq-%u", hs, i - 1);
        }
        /* hub: rx = beacons (bind), tx = summed stream (bind); agent k: rx = uplink, tx = downlink
         * with a short send timeout (a gone agent must not stall the round) */
        snprintf(args, sizeof args, "rx=@%s,tx=@%s,hwm=%d,timeout=%s%s", e[0], e[1], i ? 4 : 16,
                 i ? "0.2" : "5", curve);
        radio *r = NULL;
        st = radio_open("zmq", args, &r);
        if (st != AM_OK)
            return st;
        if (i == 0)
            s->hub = r;
        else
            s->ag[i - 1] = r;
        radio_info info;
        radio_get_info(r, &info);
        if ((st = net_radio_endpoint(info.device, "rx", s->ep[2 * i], CHAN_EP_LEN)) != AM_OK ||
            (st = net_radio_endpoint(info.device, "tx", s->ep[2 * i + 1], CHAN_EP_LEN)) != AM_OK)
            return st;
        if ((st = radio_rx_start(r, NULL)) != AM_OK)
            return st;
    }
    return st;
}

/* Numerology from the server's WELCOME: creates the emulator and the buffers. */
static am_status setup(chan_state *s, const ctrl_welcome *w)
{
    phy_frame_cfg fc = {w->nfft, w->cp, NULL};
    am_status st = phy_frame_validate(&fc);
    if (st != AM_OK)
        return am_error_wrap(st, "server's numerology");
    if (w->payload_len == 0 || w->payload_len > CTRL_MAX_DIM)
        return AM_FAIL(AM_EFORMAT, "server's payload length %" PRIu64, w->payload_len);
    phy_frame *f = NULL;
    if ((st = phy_frame_create(&fc, &f)) != AM_OK)
        return st;
    s->M = w->nfft;
    s->cp = phy_frame_cp_len(f);
    s->L = (size_t)w->payload_len;
    s->blen = s->b0 = phy_frame_burst_len(f, s->L);
    s->bmax = s->b0 + (size_t)phy_cal_blocks(phy_frame_n_used(f), s->o.agents, NULL) *
                          phy_frame_block_len(f);
    s->bl = phy_frame_preamble_len(f);
    s->bl_max = s->bl + (size_t)PHY_BEACON_MAX_REPS * phy_frame_block_len(f);
    phy_frame_destroy(f);
    s->timing = s->o.timing == UINT32_MAX ? s->cp / 4 : s->o.timing;
    if (s->timing + s->o.ch.taps - 1 > s->cp)
        return AM_FAIL(AM_EINVAL,
                       "--timing %u + --taps %u - 1 exceeds the cyclic prefix (%u) of the "
                       "server's numerology: a timed system keeps them inside it",
                       s->timing, s->o.ch.taps, s->cp);
    phy_impair_cfg imp;
    if ((st = phy_impair_profile(s->o.impair ? s->o.impair : "ideal", &imp)) != AM_OK)
        return am_error_wrap(st, "--impair");
    net_chan_cfg cc = {.n_agents = s->o.agents,
                       .nfft = s->M,
                       .cp_len = s->cp,
                       .n_taps = s->o.ch.taps,
                       .delay_spread = (float)s->o.ch.delay_spread,
                       .max_timing_offset = s->timing,
                       .max_cfo = (float)s->o.agent_cfo,
                       .common_cfo = (float)s->o.cfo,
                       .snr_db = (float)s->o.ch.snr_db,
                       .rho = 1.0f,
                       .max_burst = s->bmax,
                       .seed = s->o.seed,
                       .impair = &imp};
    if ((st = net_chan_create(&cc, &s->nc)) != AM_OK)
        return st;
    s->rho_now = 1.0f;
    s->dl_cap = net_chan_out_len(s->nc, s->bl_max);
    s->ul_cap = net_chan_out_len(s->nc, s->bmax);
    const unsigned K = s->o.agents;
    s->beacon = malloc((s->bl_max + 1) * sizeof *s->beacon);
    s->dl = malloc(s->dl_cap * sizeof *s->dl);
    s->ul = malloc(s->ul_cap * sizeof *s->ul);
    s->bursts = malloc((size_t)K * (s->bmax + 1) * sizeof *s->bursts); /* rx_exact: n + 1 */
    s->txp = calloc(K, sizeof *s->txp);
    s->got = calloc(K, 1);
    s->ids = calloc(K, sizeof *s->ids);
    if (!s->beacon || !s->dl || !s->ul || !s->bursts || !s->txp || !s->got || !s->ids)
        return AM_FAIL(AM_ENOMEM, "chan: buffers for %u agents x %zu samples", K, s->bmax);
    return AM_OK;
}

/* Receives one whole burst of exactly n samples starting at tick `at` from r, skipping anything
 * else (stale or of another length: counted in *skipped). x has room for n + 1 samples, so a
 * longer burst shows as such instead of being cut to n. AM_ETIMEOUT when none came in time. */
static am_status rx_exact(radio *r,
                          float complex *x,
                          size_t n,
                          int64_t at,
                          double deadline,
                          double step,
                          unsigned *skipped)
{
    radio_info info;
    radio_get_info(r, &info);
    for (;;) {
        double left = deadline - monotime_s();
        if (left <= 0)
            return AM_FAIL(AM_ETIMEOUT, "no burst at tick %" PRId64, at);
        size_t got = 0;
        radio_time t0;
        am_status st = radio_rx(r, x, n + 1, &got, &t0, left < step ? left : step);
        if (st == AM_ETIMEOUT)
            continue;
        if (st != AM_OK)
            return st;
        if (radio_time_to_ticks(t0, info.rate) == at && got == n)
            return AM_OK;
        (*skipped)++; /* an old round's burst, or a wrong length */
    }
}

/* One round: beacon down to the round's agents, their bursts up, the sum to the server. */
static am_status do_round(chan_state *s, uint32_t round, const ctrl_plan *p)
{
    const unsigned K = s->o.agents;
    if (p->nfft != s->M || p->cp != s->cp || (p->burst_len != s->b0 && p->burst_len != s->bmax))
        return AM_FAIL(AM_EFORMAT,
                       "PLAN %u: numerology M %u cp %u burst %" PRIu64 " differs from the "
                       "WELCOME's (M %u cp %u burst %zu, or %zu with calibration)",
                       round, p->nfft, p->cp, p->burst_len, s->M, s->cp, s->b0, s->bmax);
    s->blen = (size_t)p->burst_len;
    /* §9.6: the schedule is T = B + (3 + R) (M + cp) + 4 (M + cp): the beacon's length from it */
    const int64_t blk = (int64_t)(s->M + s->cp), span = p->tx_tick - p->beacon_tick - 4 * blk;
    if (span < (int64_t)s->bl || span > (int64_t)s->bl_max || span % blk)
        return AM_FAIL(AM_EFORMAT,
                       "PLAN %u: beacon tick %" PRId64 ", transmit tick %" PRId64 ": not a beacon "
                       "of 3..%u blocks of %" PRId64 " samples followed by 4 blocks (§9.6)",
                       round, p->beacon_tick, p->tx_tick, 3 + PHY_BEACON_MAX_REPS, blk);
    const size_t bl = (size_t)span;
    for (uint32_t i = 0; i < p->n; i++)
        if (ctrl_u32_at(p->ids, i) >= K)
            return AM_FAIL(AM_EFORMAT, "PLAN %u: agent %u of %u", round, ctrl_u32_at(p->ids, i), K);
    const double deadline = monotime_s() + p->deadline;
    /* from (seed, round), a probe's from (seed, round, its index): restarts repeat them */
    am_status st = net_chan_draw_round(s->nc, round, p->probe);
    if (st != AM_OK)
        return st;
    if (p->rho != s->rho_now) {
        /* the emulator was made for rho = 1: the noise s2 = rho M / (M_used snr) of §5 follows
         * the round's rho through an equivalent SNR */
        st = net_chan_set_rho(s->nc, p->rho);
        if (st != AM_OK)
            return st;
        s->rho_now = p->rho;
    }
    unsigned late = 0, rejected = 0;
    /* downlink */
    st = rx_exact(s->hub, s->beacon, bl, p->beacon_tick, deadline, 0.05, &late);
    if (st != AM_OK)
        return am_error_wrap(st, "round %u: beacon from the server", round);
    for (uint32_t i = 0; i < p->n; i++) {
        unsigned k = ctrl_u32_at(p->ids, i);
        size_t ny = 0;
        int64_t t0 = 0;
        if ((st = net_chan_downlink(s->nc, k, s->beacon, bl, p->beacon_tick, s->dl, s->dl_cap,
                                    &ny, &t0)) != AM_OK)
            return st;
        radio_info info;
        radio_get_info(s->ag[k], &info);
        radio_time at = radio_time_from_ticks(t0, info.rate);
        if (radio_tx_burst(s->ag[k], s->dl, ny, &at) != AM_OK && !s->o.quiet)
            fprintf(stderr, "chan: round %u: downlink to agent %u not taken (%s)\n", round, k,
                    am_last_error());
    }
    /* uplink: each planned agent's burst at tx_tick, until all are in or the deadline */
    memset(s->got, 0, K);
    unsigned pending = p->n;
    while (pending && monotime_s() < deadline) {
        for (uint32_t i = 0; i < p->n; i++) {
            unsigned k = ctrl_u32_at(p->ids, i);
            if (s->got[k])
                continue;
            float complex *b = s->bursts + (size_t)k * (s->bmax + 1);
            unsigned skipped = 0;
            st = rx_exact(s->ag[k], b, s->blen, p->tx_tick, monotime_s() + 0.002, 0.002, &skipped);
            late += skipped;
            if (st == AM_OK) {
                s->got[k] = 1;
                pending--;
            } else if (st != AM_ETIMEOUT) {
                return st;
            }
        }
    }
    uint32_t n = 0;
    for (unsigned k = 0; k < K; k++) {
        s->txp[k] = s->got[k] ? s->bursts + (size_t)k * (s->bmax + 1) : NULL;
        if (s->got[k])
            s->ids[n++] = k;
    }
    size_t ny = 0;
    int64_t t0 = 0;
    if ((st = net_chan_uplink(s->nc, s->txp, s->blen, p->tx_tick, p->beacon_tick, s->ul, s->ul_cap,
                              &ny, &t0)) != AM_OK)
        return st;
    radio_info info;
    radio_get_info(s->hub, &info);
    radio_time at = radio_time_from_ticks(t0, info.rate);
    if ((st = radio_tx_burst(s->hub, s->ul, ny, &at)) != AM_OK)
        return am_error_wrap(st, "round %u: summed stream to the server", round);
    radio_stats rs;
    radio_get_stats(s->hub, &rs);
    uint64_t malformed = rs.malformed;
    for (unsigned k = 0; k < K; k++) {
        radio_get_stats(s->ag[k], &rs);
        malformed += rs.malformed;
    }
    rejected = (unsigned)(malformed - s->rejected_total);
    s->rejected_total = malformed;
    s->late_total += late;
    ctrl_msg m;
    memset(&m, 0, sizeof m);
    m.type = CTRL_REPORT;
    m.round = round;
    m.u.report = (ctrl_report){.chunk_tick = t0,
                               .chunk_len = ny,
                               .late = late,
                               .rejected = rejected,
                               .n = n,
                               .ids = s->ids};
    if ((st = ctrl_send(s->c, NULL, &m)) != AM_OK)
        return st;
    s->rounds++;
    if (!s->o.quiet) {
        if (p->probe) /* §8.5's probe p before round `round` (PLAN's probe, §9.4) */
            printf("chan: round %u, probe %u: %u of %u planned agents summed", round, p->probe, n,
                   p->n);
        else
            printf("chan: round %u: %u of %u planned agents summed", round, n, p->n);
        if (late || rejected)
            printf(" (%u stale, %u malformed bursts dropped)", late, rejected);
        printf("\n");
        fflush(stdout);
    }
    return AM_OK;
}

/* What cli_parse cannot check alone, the open files K agents need, the keys. */
static am_status check_and_reserve(chan_state *sp)
{
    const chan_opts *o = &sp->o;
    am_status st;
    if (!o->server)
        return AM_FAIL(AM_EINVAL, "--server is required (see --help)");
    if (!o->agents)
        return AM_FAIL(AM_EINVAL, "--agents is required (see --help)");
    if (o->ch.taps > 1 && !(o->ch.delay_spread < sqrt(((double)o->ch.taps * o->ch.taps - 1.0) / 12.0)))
        return AM_FAIL(AM_EINVAL,
                       "--delay-spread %g: %u taps allow less than %.4g (the uniform profile's "
                       "rms spread)",
                       o->ch.delay_spread, o->ch.taps, sqrt(((double)o->ch.taps * o->ch.taps - 1.0) / 12.0));
    phy_impair_cfg imp;
    if (o->impair && (st = phy_impair_profile(o->impair, &imp)) != AM_OK)
        return am_error_wrap(st, "--impair");
    if ((st = net_check_server(o->server)) != AM_OK)
        return st;
    /* open files: per agent 2 bound sockets (listener + mailbox each) and their 2 connections,
     * the same for the hub, plus the context's and the control plane's (measured: K = 200 holds
     * 817 descriptors before any agent connects, 4 per agent + 13) */
    char who[64];
    snprintf(who, sizeof who, "chan with %u agents", o->agents);
    if ((st = zctx_files_reserve(6 * ((uint64_t)o->agents + 1) + 128, who)) != AM_OK)
        return st;
    if ((st = net_sec_setup("chan", o->key, o->server_key, o->allow, o->insecure, o->agents,
                            &sp->sec)) != AM_OK)
        return st;
    return AM_OK;
}

/* The IQ sockets bound, the control connection to the server and the HELLO announcing them. */
static am_status chan_connect(chan_state *sp)
{
    const chan_opts *o = &sp->o;
    const unsigned K = o->agents;
    am_status st;
    sp->ag = calloc(K, sizeof *sp->ag);
    sp->ep = calloc(2 + 2 * (size_t)K, sizeof *sp->ep);
    if (!sp->ag || !sp->ep)
        return AM_FAIL(AM_ENOMEM, "chan: out of memory");
    if ((st = open_data(sp)) != AM_OK)
        return st;
    ctrl_msg m;
    memset(&m, 0, sizeof m);
    m.type = CTRL_HELLO;
    m.u.hello =
        (ctrl_hello){.role = CTRL_ROLE_CHAN, .n_agents = K, .n_ep = 2 + 2 * K, .ep = sp->ep};
    snprintf(m.u.hello.desc, sizeof m.u.hello.desc,
             "phy_chan %u-tap Rayleigh, SNR %g dB, cfo %g + %g, seed %" PRIu64, o->ch.taps, o->ch.snr_db,
             o->cfo, o->agent_cfo, o->seed);
    /* docs/air-interface.md §4.2 "Sampling clock", §9.4: the radios the agents' IQ meets (each on
       its own reference when the profile offsets their oscillators, as sim's agg_iq), and the
       offsets it adds that are not a clock's (--cfo, --agent-cfo uniform) */
    phy_impair_cfg imp;
    if ((st = phy_impair_profile(o->impair ? o->impair : "ideal", &imp)) != AM_OK)
        return am_error_wrap(st, "--impair");
    if (imp.ppm != 0.0f || imp.ppm_spread != 0.0f)
        m.u.hello.clock = (ctrl_clock){.fc_fs = imp.fc_hz / imp.fs_hz, .ppm = imp.ppm_spread};
    m.u.hello.clock.cfo_ms = (float)(o->cfo * o->cfo + o->agent_cfo * o->agent_cfo / 3.0);
    if ((st = net_peer_join(o->server, CTRL_ID_CHAN, ctrl_payload_bound(1, K), &sp->sec, &m,
                            &sp->c)) != AM_OK)
        return st;
    if (!o->quiet) {
        printf("chan: %u agents, data on %s (beacon-in) %s (sum-out) ..., joining %s\n", K,
               sp->ep[0],
               sp->ep[1], o->server);
        fflush(stdout);
    }
    return AM_OK;
}

/* Until BYE, a stop signal, an error or the server's silence: WELCOME (join, or a restarted
 * server taking the chan back), PLAN (one round). */
static am_status chan_loop(chan_state *sp)
{
    const chan_opts *o = &sp->o;
    am_status st;
    int welcomed = 0, got = 0;
    double last = monotime_s();
    while (!net_stop_requested()) {
        ctrl_msg r;
        if ((st = net_peer_recv(sp->c, "chan", o->server, o->timeout, &last, &r, &got)) != AM_OK)
            return st;
        if (!got)
            continue;
        if (r.type == CTRL_WELCOME && !welcomed) {
            if ((st = net_peer_welcome(&r.u.welcome, CTRL_ROLE_CHAN, "chan")) != AM_OK)
                return st;
            if ((st = setup(sp, &r.u.welcome)) != AM_OK) {
                net_peer_leave(sp->c); /* so that the server does not plan rounds with us */
                return st;
            }
            welcomed = 1;
            if (!o->quiet) {
                printf("chan: joined: M %u, cp %u, burst %zu samples, timing <= %u, %u taps\n",
                       sp->M,
                       sp->cp, sp->blen, sp->timing, o->ch.taps);
                fflush(stdout);
            }
        } else if (r.type == CTRL_WELCOME) {
            /* a restarted server took us back: the same numerology goes on, another one is set
             * up anew */
            const ctrl_welcome *w = &r.u.welcome;
            if ((st = net_peer_welcome(w, CTRL_ROLE_CHAN, "chan")) != AM_OK)
                return st;
            if (w->nfft != sp->M || w->cp != sp->cp || w->payload_len != sp->L) {
                setup_free(sp);
                if ((st = setup(sp, w)) != AM_OK) {
                    net_peer_leave(sp->c);
                    return st;
                }
            }
            if (!o->quiet) {
                printf("chan: taken back by the server\n");
                fflush(stdout);
            }
        } else if (r.type == CTRL_PLAN && welcomed) {
            st = do_round(sp, r.round, &r.u.plan);
            if (st == AM_ETIMEOUT || st == AM_EFORMAT) {
                /* a round without a beacon, or a bad plan: reported as an empty sum is not
                 * possible without a stream; the server's own deadline handles it */
                fprintf(stderr, "airmeta chan: round %u skipped: %s\n", r.round, am_last_error());
                continue;
            }
            if (st != AM_OK)
                return st;
        } else if (r.type == CTRL_BYE) {
            break;
        } else {
            net_peer_unexpected(sp->c, "chan", r.type);
        }
    }
    return AM_OK;
}

int cmd_chan(int argc, char **argv)
{
    chan_state s;
    memset(&s, 0, sizeof s);
    chan_opts *o = &s.o;
    o->bind = "tcp://127.0.0.1:*";
    o->timing = UINT32_MAX;
    flags_channel_defaults(&o->ch);
    o->timeout = 60;
    o->seed = 1;
    const cli_opt head[] = {
        {"--server", CLI_STR, &o->server, "the server's control endpoint (tcp://HOST:PORT)", 1, 0,
         NULL},
        {"--bind", CLI_STR, &o->bind,
         "data endpoints: tcp://HOST:* (any free ports, announced to the server) or "
         "tcp://HOST:PORT (PORT..PORT+2K+1: beacon-in, sum-out, uplink/downlink per agent)",
         1, 0, NULL},
        {"--agents", CLI_UINT, &o->agents, "agents K this emulator carries (ids 0..K-1)", 1,
         CTRL_MAX_AGENTS, NULL},
    };
    const cli_opt tail[] = {
        {"--timing", CLI_UINT, &o->timing,
         "max per-agent timing offset, samples (default cp/4; + taps - 1 must fit the cp)", 0, 4096,
         NULL},
        {"--cfo", CLI_DOUBLE, &o->cfo, "carrier offset common to all agents, subcarrier spacings",
         -0.45, 0.45, NULL},
        {"--agent-cfo", CLI_DOUBLE, &o->agent_cfo,
         "max per-agent carrier offset (uniform), subcarrier spacings", 0, 0.45, NULL},
        {"--seed", CLI_U64, &o->seed, "seed of the channel realisations and the noise", 0, -1,
         NULL},
        {"--impair", CLI_STR, &o->impair,
         "radio impairment profile: ideal (default), b210-shared-ref, b210-free "
         "(docs/impairments.md)",
         1, 0, NULL},
        {"--timeout", CLI_DOUBLE, &o->timeout, "give up when the server is silent this long, s",
         0.1, 86400, NULL},
        {"--key", CLI_STR, &o->key,
         "the chan's secret key NAME.key (airmeta keygen; NAME.pub is the 'chan PUBKEY' line of "
         "the server's --allow): CURVE on control and IQ",
         1, 0, NULL},
        {"--server-key", CLI_STR, &o->server_key,
         "the server's public key: its NAME.pub file or the 40 z85 characters", 1, 0, NULL},
        {"--allow", CLI_STR, &o->allow,
         "the server's allow-list (host/net/auth.h): agent k's IQ sockets admit only its key, the "
         "beacon/sum sockets only the server's",
         1, 0, NULL},
        {"--insecure", CLI_FLAG, &o->insecure,
         "no keys: plain TCP, anyone reaching the ports can send IQ or act as the chan (warns)", 0,
         0, NULL},
        {"--quiet", CLI_FLAG, &o->quiet, "no per-round lines", 0, 0, NULL},
    };
    /* the channel flags from host/run/flags.h between the command's own */
    cli_opt opts[sizeof head / sizeof head[0] + FLAGS_GROUP_MAX + sizeof tail / sizeof tail[0]];
    size_t nopt = 0;
    for (size_t i = 0; i < sizeof head / sizeof head[0]; i++)
        opts[nopt++] = head[i];
    nopt += flags_channel_table(&o->ch, opts + nopt);
    for (size_t i = 0; i < sizeof tail / sizeof tail[0]; i++)
        opts[nopt++] = tail[i];
    const cli_cmd cmd = {
        "airmeta chan",
        "--server tcp://HOST:PORT --agents K (--key NAME.key --server-key SERVER.pub --allow FILE "
        "| --insecure) [--snr-db X] ...",
        "The channel-emulator process between `airmeta server` and `airmeta agent` (all over\n"
        "ZeroMQ). It joins the server's control plane, binds its IQ sockets (zmq radio) and\n"
        "announces them; each round the server plans which agents take part, sends its beacon\n"
        "here and the emulator passes it down each agent's own channel (Rayleigh multipath,\n"
        "timing offset, carrier offset and phase, AWGN at --snr-db; docs/air-interface.md §5-§6); "
        "it then\n"
        "collects the agents' bursts stamped with the round's transmit tick until the plan's\n"
        "deadline, adds them up through the same channels, forwards the received stream to the\n"
        "server and reports whose bursts made the sum. A burst of another round or of the wrong\n"
        "length is dropped and counted. A restarted server takes the chan back (it says HELLO\n"
        "again after every reconnection); a restarted chan is found again by the agents on any\n"
        "--bind (the server passes the new endpoints on). The open-files limit is raised to\n"
        "what K agents need (6 per agent), or the chan says why it cannot start.",
        opts,
        nopt,
        0,
        0};
    size_t npos = 0;
    am_status st = cli_parse(&cmd, argc, argv, NULL, &npos);
    if (st == AM_ENOTFOUND)
        return 0;
    if (st != AM_OK)
        return cli_fail("chan", st);
    if ((st = check_and_reserve(&s)) != AM_OK) {
        state_free(&s);
        return cli_fail("chan", st);
    }
    net_catch_stop_signals();
    if ((st = chan_connect(&s)) == AM_OK)
        st = chan_loop(&s);
    if (st != AM_OK) {
        const int rc = cli_fail("chan", st);
        ctrl_set_linger(s.c, 0); /* giving up: unsent messages must not hold the exit */
        state_free(&s);
        return rc;
    }
    if (net_stop_requested())
        net_peer_leave(s.c);
    ctrl_stats cs;
    ctrl_get_stats(s.c, &cs);
    uint64_t zap_refused = 0;
    zctx_zap_counts(NULL, &zap_refused);
    if (!o->quiet)
        printf("chan: done: %" PRIu64 " rounds, %" PRIu64 " stale bursts, %" PRIu64
               " malformed IQ messages, %" PRIu64 " control messages rejected, %" PRIu64
               " IQ connections refused (keys)\n",
               s.rounds, s.late_total, s.rejected_total, cs.rejected, zap_refused);
    state_free(&s);
    return 0;
}
