/* host/net: shared pieces of `airmeta server | agent | chan` (learner setup, the agent's beacon ->
 * precoded burst step, the chan's links on absolute ticks, endpoints). Conventions: host/net/net.h. */
#include "net/net.h"

#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "radio/radio.h" /* radio_burst_peak */
#include "util/monotime.h"
#include "round/ota_agent.h"
#include "phy/beacon.h"
#include "phy/cal.h"
#include "phy/chan.h"

/* ---------------------------------------------------------------------------------------------
 * Learner setup
 * ------------------------------------------------------------------------------------------- */
am_status net_family_create(const ctrl_learner *l,
                            const char *data_dir,
                            unsigned new_agents,
                            fl_task_family **out)
{
    if (!l || !out)
        return AM_FAIL(AM_EINVAL, "net_family_create: NULL argument");
    if (l->task > FL_TASK_OMNIGLOT)
        return AM_FAIL(AM_EINVAL, "task kind %u", l->task);
    fl_task_cfg tc;
    fl_task_cfg_default(&tc, (fl_task_kind)l->task);
    tc.n_train_agents = l->n_agents;
    tc.n_new_agents = new_agents ? new_agents : 1;
    tc.heterogeneity = l->heterogeneity;
    tc.shots = l->shots;
    tc.query = l->query;
    tc.ways = l->ways;
    tc.data_dir = data_dir;
    tc.seed = l->seed;
    tc.pool = l->pool;
    return fl_task_family_create(&tc, out);
}

void net_meta_cfg(const ctrl_learner *l, fl_meta_cfg *cfg)
{
    fl_meta_cfg_default(cfg);
    cfg->learner = (fl_learner)l->learner;
    cfg->inner_steps = l->inner_steps;
    cfg->alpha = l->alpha;
    cfg->hf_delta = l->hf_delta;
    cfg->tasks = l->tasks;
    cfg->local_iters = l->local_iters;
    cfg->local_lr = l->local_lr;
}

/* ---------------------------------------------------------------------------------------------
 * Agent
 * ------------------------------------------------------------------------------------------- */
struct net_agent {
    ota_agent *ag;
    net_agent_cfg cfg;   /* cal_slots: the slots ag was made for */
    unsigned cp;
    size_t L;
    float complex *p;    /* M: the precoder of the last beacon */
    ota_agent_link link; /* link.found: p is valid */
    int64_t beacon_tick;
    /* carried from round to round (net_agent_carry_*) */
    ota_agent_track trk;                /* cfg.track > 0: the carrier-offset tracker */
    float complex A[PHY_CAL_Q];         /* §8.4: the correction per sub-band */
    float pilot;                        /* GO's pilot level (§2, §9.4), kept across agent_dsp */
    float tx_scale; /* §4.1 "The DAC's limit": the last burst went out scaled by this (CAL: E/s) */
};

void net_agent_destroy(net_agent *q)
{
    if (!q)
        return;
    ota_agent_destroy(q->ag);
    free(q->p);
    free(q);
}

double net_cfo_range(double fc_fs, unsigned nfft)
{
    return ota_agent_cfo_range(0.0, NET_RADIO_PPM, fc_fs > 0.0 ? fc_fs : NET_CHAN_FC_FS, nfft);
}

void net_agent_clock(net_agent_cfg *cfg, double fc_fs, double spread_ppm, double extra_ms)
{
    ota_agent_cfg ac = {.nfft = cfg->nfft};
    ota_agent_clock_rule(&ac, fc_fs, spread_ppm, extra_ms);
    cfg->clock_fc_fs = ac.clock_fc_fs;
    cfg->clock_share = ac.clock_share;
}

/* The DSP object for q->cfg (its cal_slots decide the burst's calibration blocks). */
static am_status agent_dsp(net_agent *q)
{
    const net_agent_cfg *cfg = &q->cfg;
    /* the agent does not know the channel's length: the cp bounds it (a timed system, §5), and
       NET_AGENT_SMOOTH_MAX bounds the lag basis (docs/air-interface.md §6.2) */
    const unsigned auto_smooth = q->cp < NET_AGENT_SMOOTH_MAX ? q->cp : NET_AGENT_SMOOTH_MAX;
    const ota_agent_cfg ac = {.nfft = cfg->nfft,
                              .cp_len = cfg->cp_len,
                              .payload_len = cfg->payload_len,
                              .smooth = cfg->smooth ? cfg->smooth : auto_smooth,
                              .cfo_comp = cfg->cfo_comp,
                              .phase_only = 0,
                              .cal_slots = cfg->cal_slots,
                              .mapping = cfg->mapping,
                              .fc_fs = cfg->track ? cfg->fc_fs : 0.0,
                              .beacon_reps = cfg->beacon_reps,
                              .cfo_max = cfg->cfo_max > 0.0 ? cfg->cfo_max
                                                            : net_cfo_range(cfg->fc_fs, cfg->nfft),
                              .clock_fc_fs = cfg->cfo_comp ? cfg->clock_fc_fs : 0.0,
                              .clock_share = cfg->cfo_comp ? cfg->clock_share : 0.0};
    ota_agent *ag = NULL;
    am_status s = ota_agent_create(&ac, &ag);
    if (s == AM_OK && (s = ota_agent_set_pilot_level(ag, q->pilot)) != AM_OK)
        ota_agent_destroy(ag);
    if (s != AM_OK)
        return s;
    ota_agent_destroy(q->ag);
    q->ag = ag;
    q->link.found = 0; /* a precoder of the old object is not used with the new one */
    return AM_OK;
}

/* q->cfg = *cfg and the DSP object rebuilt for it; on failure q (its cfg and DSP) is unchanged. */
static am_status agent_reconfigure(net_agent *q, const net_agent_cfg *cfg)
{
    const net_agent_cfg was = q->cfg;
    q->cfg = *cfg;
    am_status s = agent_dsp(q);
    if (s != AM_OK)
        q->cfg = was;
    return s;
}

/* The agent's link budget (§4.1), dB: finite, within +-300. */
static am_status check_link_db(float db)
{
    if (!isfinite(db) || fabsf(db) > 300.0f)
        return AM_FAIL(AM_EINVAL, "net_agent: link gain %g dB (finite, within +-300)", (double)db);
    return AM_OK;
}

am_status net_agent_create(const net_agent_cfg *cfg, net_agent **out)
{
    if (!cfg || !out)
        return AM_FAIL(AM_EINVAL, "net_agent_create: NULL argument");
    *out = NULL;
    if (cfg->payload_len == 0)
        return AM_FAIL(AM_EINVAL, "net_agent: payload length 0");
    if (cfg->track > OTA_AGENT_TRACK_MAX)
        return AM_FAIL(AM_EINVAL, "net_agent: track %u beacons is outside 0..%u", cfg->track,
                       OTA_AGENT_TRACK_MAX);
    am_status s = check_link_db(cfg->link_db);
    if (s != AM_OK)
        return s;
    if (cfg->cal_slots > PHY_CAL_SLOTS_MAX)
        return AM_FAIL(AM_EINVAL, "net_agent: %u calibration slots (0..%u)", cfg->cal_slots,
                       PHY_CAL_SLOTS_MAX);
    phy_frame_cfg fc = {cfg->nfft, cfg->cp_len, NULL};
    if ((s = phy_frame_validate(&fc)) != AM_OK)
        return s;
    if (!(cfg->cfo_max >= 0.0 && cfg->cfo_max <= (double)(cfg->nfft / 8)))
        return AM_FAIL(AM_EINVAL,
                       "net_agent: carrier-offset range %g spacings is outside 0..M/8 = %u (0: "
                       "the radios' rule)",
                       cfg->cfo_max, cfg->nfft / 8);
    net_agent *q = calloc(1, sizeof *q);
    if (!q)
        return AM_FAIL(AM_ENOMEM, "net_agent: out of memory");
    q->cfg = *cfg;
    q->cp = cfg->cp_len ? cfg->cp_len : cfg->nfft / 8;
    q->L = cfg->payload_len;
    ota_agent_track_init(&q->trk, cfg->track ? cfg->track : 1);
    for (unsigned i = 0; i < PHY_CAL_Q; i++)
        q->A[i] = 1.0f;
    q->pilot = 1.0f;
    q->tx_scale = 1.0f;
    if ((s = agent_dsp(q)) != AM_OK) {
        net_agent_destroy(q);
        return s;
    }
    q->p = malloc(cfg->nfft * sizeof *q->p);
    if (!q->p) {
        net_agent_destroy(q);
        return AM_FAIL(AM_ENOMEM, "net_agent: out of memory");
    }
    *out = q;
    return AM_OK;
}

am_status net_agent_set_slots(net_agent *q, unsigned slots)
{
    if (!q)
        return AM_FAIL(AM_EINVAL, "net_agent_set_slots: NULL");
    if (slots > PHY_CAL_SLOTS_MAX)
        return AM_FAIL(AM_EINVAL, "net_agent: %u calibration slots (0..%u)", slots,
                       PHY_CAL_SLOTS_MAX);
    if (slots == q->cfg.cal_slots)
        return AM_OK;
    net_agent_cfg cfg = q->cfg;
    cfg.cal_slots = slots;
    return agent_reconfigure(q, &cfg);
}

am_status net_agent_set_link_db(net_agent *q, float db)
{
    if (!q)
        return AM_FAIL(AM_EINVAL, "net_agent_set_link_db: NULL");
    am_status s = check_link_db(db);
    if (s == AM_OK)
        q->cfg.link_db = db;
    return s;
}

am_status net_agent_set_clock(net_agent *q, double fc_fs, double spread_ppm, double extra_ms)
{
    if (!q)
        return AM_FAIL(AM_EINVAL, "net_agent_set_clock: NULL");
    net_agent_cfg c = q->cfg;
    net_agent_clock(&c, fc_fs, spread_ppm, extra_ms);
    if (c.clock_fc_fs == q->cfg.clock_fc_fs && c.clock_share == q->cfg.clock_share)
        return AM_OK;
    return agent_reconfigure(q, &c);
}

double net_link_db(double a_tx, double a_rx, double s_tx, double s_rx)
{
    return (a_tx + a_rx) - (s_tx + s_rx);
}

am_status net_agent_set_mapping(net_agent *q, phy_mapping m)
{
    if (!q)
        return AM_FAIL(AM_EINVAL, "net_agent_set_mapping: NULL");
    if (m != PHY_MAP_COMPLEX && m != PHY_MAP_REAL)
        return AM_FAIL(AM_EINVAL, "net_agent: mapping %d (0 complex, 1 real)", (int)m);
    if (m == q->cfg.mapping)
        return AM_OK;
    net_agent_cfg cfg = q->cfg;
    cfg.mapping = m;
    return agent_reconfigure(q, &cfg);
}

am_status net_agent_set_pilot_level(net_agent *q, float a)
{
    if (!q)
        return AM_FAIL(AM_EINVAL, "net_agent_set_pilot_level: NULL");
    am_status s = ota_agent_set_pilot_level(q->ag, a);
    if (s == AM_OK)
        q->pilot = a;
    return s;
}

am_status net_agent_set_beacon_reps(net_agent *q, unsigned reps)
{
    if (!q)
        return AM_FAIL(AM_EINVAL, "net_agent_set_beacon_reps: NULL");
    am_status s = ota_agent_set_beacon_reps(q->ag, reps);
    if (s == AM_OK)
        q->cfg.beacon_reps = reps;
    return s;
}

am_status net_agent_cal(net_agent *q, const ctrl_cal *c)
{
    if (!q || !c)
        return AM_FAIL(AM_EINVAL, "net_agent_cal: NULL argument");
    if (c->q != PHY_CAL_Q || !(c->mu > 0.0f && c->mu <= 1.0f))
        return AM_FAIL(AM_EFORMAT, "CAL: %u sub-bands (want %u), mu %g", c->q, PHY_CAL_Q,
                       (double)c->mu);
    if (!c->heard)
        return AM_OK; /* §8.4: A changes only with a measurement */
    float complex E[PHY_CAL_Q];
    float v[2 * PHY_CAL_Q];
    ctrl_f32_copy(c->E, 2 * PHY_CAL_Q, v);
    /* §8.4: E was measured on the burst as sent, scaled by s to fit the DAC (§4.1); the link's
     * own gain is E / s (without it the loop would take the scale for a weak link and push A
     * further into the limit) */
    for (unsigned i = 0; i < PHY_CAL_Q; i++)
        E[i] = CMPLXF(v[2 * i], v[2 * i + 1]) / q->tx_scale;
    if (c->mu_q) { /* §8.4: a loop gain per sub-band (each pair counts its own measurements) */
        float mu[PHY_CAL_Q];
        ctrl_f32_copy(c->mu_q, PHY_CAL_Q, mu);
        for (unsigned i = 0; i < PHY_CAL_Q; i++)
            if (!(mu[i] > 0.0f && mu[i] <= 1.0f))
                return AM_FAIL(AM_EFORMAT, "CAL: sub-band %u's mu %g", i, (double)mu[i]);
        phy_cal_update_bands(q->A, E, mu);
    } else {
        phy_cal_update(q->A, E, c->mu);
    }
    return AM_OK;
}

float net_burst_fit(float complex *x, size_t n, double limit, float *peak)
{
    const float pk = radio_burst_peak(x, n); /* INFINITY for a NaN: never scaled, refused */
    if (peak)
        *peak = pk;
    if (!(limit > 0) || !isfinite(limit) || !isfinite(pk) || !(pk > limit))
        return 1.0f;
    const float s = (float)((double)NET_DAC_MARGIN * limit / (double)pk);
    for (size_t i = 0; i < n; i++)
        x[i] *= s;
    return s;
}

float net_agent_fit_dac(net_agent *q, float complex *x, size_t n, double limit, float *peak)
{
    const float s = net_burst_fit(x, n, limit, peak);
    if (q)
        q->tx_scale = s;
    return s;
}

/* The carried state: u32 n, u32 head, f64 c[track] (the tracker's ring), the LO tracker (§4.2:
 * u32 lo_n, u32 lo_cn, i64 lo_tick, f64 lo_phase, f64 lo_eps, f64 lo_c, f32 lo_s[J][2]),
 * f32 A[Q][2]. */
#define NET_CARRY_LO (40 + 8 * (size_t)OTA_AGENT_LO_J)
size_t net_agent_carry_size(const net_agent *q)
{
    return q ? 8 + 8 * (size_t)q->trk.len + NET_CARRY_LO + 8 * (size_t)PHY_CAL_Q : 0;
}

void net_agent_carry_save(const net_agent *q, void *buf)
{
    unsigned char *p = buf;
    const uint32_t h[2] = {q->trk.n, q->trk.head};
    memcpy(p, h, 8);
    memcpy(p + 8, q->trk.c, 8 * (size_t)q->trk.len);
    p += 8 + 8 * (size_t)q->trk.len;
    const uint32_t l[2] = {q->trk.lo_n, q->trk.lo_cn};
    memcpy(p, l, 8);
    memcpy(p + 8, &q->trk.lo_tick, 8);
    memcpy(p + 16, &q->trk.lo_phase, 8);
    memcpy(p + 24, &q->trk.lo_eps, 8);
    memcpy(p + 32, &q->trk.lo_c, 8);
    for (unsigned j = 0; j < OTA_AGENT_LO_J; j++) {
        const float v[2] = {crealf(q->trk.lo_s[j]), cimagf(q->trk.lo_s[j])};
        memcpy(p + 40 + 8 * j, v, 8);
    }
    p += NET_CARRY_LO;
    for (unsigned i = 0; i < PHY_CAL_Q; i++) {
        const float v[2] = {crealf(q->A[i]), cimagf(q->A[i])};
        memcpy(p + 8 * i, v, 8);
    }
}

am_status net_agent_carry_load(net_agent *q, const void *buf)
{
    if (!q || !buf)
        return AM_FAIL(AM_EINVAL, "net_agent_carry_load: NULL argument");
    const unsigned char *p = buf;
    uint32_t h[2];
    memcpy(h, p, 8);
    const unsigned len = q->trk.len;
    if (h[0] > len || h[1] >= len || (h[0] < len && h[1] != h[0]))
        return AM_FAIL(AM_EFORMAT, "agent state: tracker of %u estimates at %u (window %u)", h[0],
                       h[1], len);
    double c[OTA_AGENT_TRACK_MAX];
    memcpy(c, p + 8, 8 * (size_t)len);
    for (unsigned i = 0; i < h[0]; i++)
        if (!isfinite(c[i]) || fabs(c[i]) > 0.5 * q->cfg.nfft)
            return AM_FAIL(AM_EFORMAT, "agent state: tracked offset %g", c[i]);
    p += 8 + 8 * (size_t)len;
    uint32_t l[2];
    int64_t lo_tick;
    double lo_phase, lo_eps, lo_c;
    float complex S[OTA_AGENT_LO_J];
    memcpy(l, p, 8);
    memcpy(&lo_tick, p + 8, 8);
    memcpy(&lo_phase, p + 16, 8);
    memcpy(&lo_eps, p + 24, 8);
    memcpy(&lo_c, p + 32, 8);
    if (!isfinite(lo_phase) || fabs(lo_phase) > M_PI + 1e-9 || !isfinite(lo_eps) ||
        fabs(lo_eps) > 1e12 || !isfinite(lo_c) || fabs(lo_c) > 0.5 * q->cfg.nfft)
        return AM_FAIL(AM_EFORMAT, "agent state: LO tracker phase %g, clock offset %g, offset %g",
                       lo_phase, lo_eps, lo_c);
    for (unsigned j = 0; j < OTA_AGENT_LO_J; j++) {
        float v[2];
        memcpy(v, p + 40 + 8 * j, 8);
        if (!isfinite(v[0]) || !isfinite(v[1]))
            return AM_FAIL(AM_EFORMAT, "agent state: LO tracker's channel %u is not finite", j);
        S[j] = CMPLXF(v[0], v[1]);
    }
    p += NET_CARRY_LO;
    float complex A[PHY_CAL_Q];
    for (unsigned i = 0; i < PHY_CAL_Q; i++) {
        float v[2];
        memcpy(v, p + 8 * i, 8);
        const double a = hypot(v[0], v[1]);
        if (!isfinite(a) || a < PHY_CAL_A_MIN * 0.999 || a > PHY_CAL_A_MAX * 1.001)
            return AM_FAIL(AM_EFORMAT, "agent state: correction A[%u] = %g%+gj", i, (double)v[0],
                           (double)v[1]);
        A[i] = CMPLXF(v[0], v[1]);
    }
    q->trk.n = h[0];
    q->trk.head = h[1];
    memset(q->trk.c, 0, sizeof q->trk.c);
    memcpy(q->trk.c, c, 8 * (size_t)len);
    q->trk.lo_n = l[0];
    q->trk.lo_cn = l[1];
    q->trk.lo_c = lo_c;
    q->trk.lo_tick = lo_tick;
    q->trk.lo_phase = lo_phase;
    q->trk.lo_eps = lo_eps;
    memcpy(q->trk.lo_s, S, sizeof S);
    memcpy(q->A, A, sizeof A);
    return AM_OK;
}

size_t net_agent_burst_len(const net_agent *q)
{
    return q ? ota_agent_burst_len(q->ag) : 0;
}

const phy_frame *net_agent_frame(const net_agent *q)
{
    return q ? ota_agent_frame(q->ag) : NULL;
}

am_status net_agent_beacon(net_agent *q,
                           const float complex *x,
                           size_t n,
                           int64_t t0,
                           int64_t beacon_tick,
                           float rho,
                           float g_th,
                           unsigned cal_slot,
                           net_beacon_info *info)
{
    if (!q || (!x && n) || !info)
        return AM_FAIL(AM_EINVAL, "net_agent_beacon: NULL argument");
    memset(info, 0, sizeof *info);
    if (q->cfg.cal_slots ? cal_slot >= q->cfg.cal_slots : cal_slot != 0)
        return AM_FAIL(AM_EINVAL, "net_agent_beacon: calibration slot %u of %u", cal_slot,
                       q->cfg.cal_slots);
    /* host/net/net.h "Phase reference": the chan refers the downlink phasor to the beacon tick */
    const ota_agent_sched sc = {.beacon = beacon_tick,
                                .lo = beacon_tick - (int64_t)q->cp,
                                .hi = beacon_tick + 2 * (int64_t)q->cp,
                                .phase_ref = beacon_tick,
                                .rho = rho,
                                .g_th = g_th,
                                .link_db = q->cfg.link_db};
    am_status s = ota_agent_beacon_track(q->ag, x, n, t0, &sc, q->cfg.track ? &q->trk : NULL,
                                         q->p, &q->link);
    if (s != AM_OK || !q->link.found)
        return s;
    if (q->cfg.cal_slots) { /* §8.1, §8.4: this round's slot and the correction A */
        q->link.cal_slot = cal_slot;
        ota_agent_correct(q->ag, q->A, q->p);
    }
    q->beacon_tick = beacon_tick;
    info->found = 1;
    info->start = q->link.start;
    info->delta = q->link.delta;
    info->cfo = q->link.cfo;
    info->cfo_used = (float)q->link.cfo_used;
    info->snr_db = q->link.snr_db;
    info->erased = q->link.erased;
    info->used = phy_frame_n_used(ota_agent_frame(q->ag));
    info->adv = q->link.adv;
    info->eps = q->cfg.fc_fs > 0.0 && q->cfg.track ? q->trk.lo_eps : 0.0;
    info->drift = q->link.drift;
    info->drift_off = q->link.drift_off;
    return AM_OK;
}

am_status net_agent_burst(net_agent *q,
                          const float *x,
                          float eta,
                          int64_t tx_tick,
                          float complex *out,
                          size_t cap,
                          float *delivered)
{
    if (!q || !x || !out)
        return AM_FAIL(AM_EINVAL, "net_agent_burst: NULL argument");
    if (!q->link.found)
        return AM_FAIL(AM_EINVAL, "net_agent_burst: no beacon found this round");
    q->tx_scale = 1.0f; /* net_agent_fit_dac may scale it */
    /* the chan refers the uplink phasor to the round's beacon tick too */
    return ota_agent_burst(q->ag, &q->link, q->p, x, q->L, eta, tx_tick - q->beacon_tick, out, cap,
                           delivered);
}

void net_memory_resolve(
    float *m, const float *v, const float *delivered, size_t d, int memory, int applied)
{
    if (!memory)
        memset(m, 0, d * sizeof *m);
    else if (applied)
        fl_sparse_memory_update(m, v, delivered, d); /* m = v - delivered */
    else
        memcpy(m, v, d * sizeof *m);
}

void net_payload_peak_power(const float *x, size_t d, float *peak, float *power)
{
    double pk = 0, pw = 0;
    for (size_t j = 0; j < d; j += 2) {
        double re = x[j], im = j + 1 < d ? x[j + 1] : 0.0;
        double a = re * re + im * im;
        pw += a;
        if (a > pk)
            pk = a;
    }
    *peak = (float)sqrt(pk);
    *power = (float)(pw / (double)((d + 1) / 2));
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* With n >= 3 reports the upper median is an honest agent's as long as more than half of them are
 * honest (with n = 2 it is the maximum: two reports cannot outvote one). An agent whose figure is
 * above eta clips its payload to eta (cmd_agent.c), its error memory keeps the rest. */
float net_eta_capped(float *f, size_t n, float cap, float *med)
{
    *med = 0;
    if (n == 0)
        return 1.0f;
    qsort(f, n, sizeof *f, cmp_float);
    *med = f[n / 2];
    const float mx = f[n - 1], capped = cap * *med;
    const float eta = mx > capped ? capped : mx;
    return eta > 0 ? eta : 1.0f; /* fl_agg_eta: every vector zero */
}

/* The payload estimates an average of payloads whose complex entries are at most eta in
 * magnitude: a scale one report cannot move bounds its norm, so no single agent can make the step
 * larger. */
int net_payload_plausible(
    const float *x, size_t d, double bound, float med, double *norm, double *limit)
{
    double n2 = 0;
    for (size_t j = 0; j < d; j++)
        n2 += (double)x[j] * x[j];
    *norm = sqrt(n2);
    *limit = bound * (double)med * sqrt((double)((d + 1) / 2));
    return isfinite(n2) && *norm <= *limit;
}

/* ---------------------------------------------------------------------------------------------
 * Chan
 * ------------------------------------------------------------------------------------------- */
struct net_chan {
    net_chan_cfg cfg;
    phy_chan *ch;
    size_t lead, tail, max_in;
    float complex *rot;         /* K x max_in: inputs with the absolute phase applied */
    const float complex **ptrs; /* K */
};

void net_chan_destroy(net_chan *q)
{
    if (!q)
        return;
    phy_chan_destroy(q->ch);
    free(q->rot);
    free(q->ptrs);
    free(q);
}

am_status net_chan_create(const net_chan_cfg *cfg, net_chan **out)
{
    if (!cfg || !out)
        return AM_FAIL(AM_EINVAL, "net_chan_create: NULL argument");
    *out = NULL;
    if (cfg->max_burst == 0 || cfg->max_burst > ((size_t)1 << 28))
        return AM_FAIL(AM_EINVAL, "net_chan: max_burst %zu", cfg->max_burst);
    net_chan *q = calloc(1, sizeof *q);
    if (!q)
        return AM_FAIL(AM_ENOMEM, "net_chan: out of memory");
    q->cfg = *cfg;
    q->cfg.impair = NULL; /* phy_chan_create below copies it */
    phy_chan_cfg cc;
    phy_chan_cfg_default(&cc);
    cc.n_agents = cfg->n_agents;
    cc.nfft = cfg->nfft;
    cc.cp_len = cfg->cp_len ? cfg->cp_len : cfg->nfft / 8;
    cc.n_taps = cfg->n_taps;
    cc.delay_spread = cfg->delay_spread;
    cc.max_timing_offset = cfg->max_timing_offset;
    cc.max_cfo = cfg->max_cfo;
    cc.common_cfo = cfg->common_cfo;
    cc.random_phase = 1;
    cc.cfo_fixed = 1; /* one oscillator per agent for the run (the agents track it, as sim) */
    cc.snr_db = cfg->snr_db;
    cc.rho = cfg->rho;
    cc.seed = cfg->seed;
    cc.impair = cfg->impair;
    am_status s = phy_chan_create(&cc, &q->ch);
    if (s != AM_OK) {
        net_chan_destroy(q);
        return s;
    }
    /* noise before and after (the detectors need history, agg_iq's choice): 2 blocks each */
    q->lead = q->tail = 2 * (size_t)(cc.nfft + cc.cp_len);
    /* the longest beacon (§6.1: PHY_BEACON_MAX_REPS training blocks) */
    size_t beacon = (3 + (size_t)PHY_BEACON_MAX_REPS) * (cc.nfft + cc.cp_len);
    q->max_in = cfg->max_burst > beacon ? cfg->max_burst : beacon;
    q->rot = malloc((size_t)cfg->n_agents * q->max_in * sizeof *q->rot);
    q->ptrs = calloc(cfg->n_agents, sizeof *q->ptrs);
    if (!q->rot || !q->ptrs) {
        size_t n = q->max_in;
        net_chan_destroy(q);
        return AM_FAIL(AM_ENOMEM, "net_chan: %u agents x %zu samples", cfg->n_agents, n);
    }
    *out = q;
    return AM_OK;
}

am_status net_chan_draw(net_chan *q)
{
    if (!q)
        return AM_FAIL(AM_EINVAL, "net_chan_draw: NULL");
    return phy_chan_draw(q->ch);
}

am_status net_chan_draw_round(net_chan *q, uint32_t round, uint32_t probe)
{
    if (!q)
        return AM_FAIL(AM_EINVAL, "net_chan_draw_round: NULL");
    am_rng rs; /* as host/round/agg_iq.c: round r's channel and noise from (seed, r) only, a
                  probe's from (seed, r, p) */
    am_rng_seed2(&rs, q->cfg.seed,
                 probe ? 0x1a91000000000000ULL | (uint64_t)(probe - 1) << 32 | round
                       : 0x1a90000000000000ULL | round);
    phy_chan_reseed(q->ch, am_rng_u64(&rs));
    return phy_chan_draw(q->ch);
}

am_status net_chan_set_rho(net_chan *q, float rho)
{
    if (!q)
        return AM_FAIL(AM_EINVAL, "net_chan_set_rho: NULL");
    if (!isfinite(rho) || rho <= 0)
        return AM_FAIL(AM_EINVAL, "net_chan: rho %g is not finite and > 0", (double)rho);
    /* phy_chan's noise is s2 = rho_cfg M / (M_used 10^(snr/10)): the same s2 for another rho is
     * an SNR shifted by 10 log10(rho_cfg / rho) */
    double snr = (double)q->cfg.snr_db + 10.0 * log10((double)q->cfg.rho / (double)rho);
    return phy_chan_set_snr(q->ch, (float)snr);
}

size_t net_chan_lead(const net_chan *q)
{
    return q ? q->lead : 0;
}

size_t net_chan_out_len(const net_chan *q, size_t n)
{
    return q ? phy_chan_out_len(q->ch, n, q->lead, q->tail) : 0;
}

float net_chan_agent_cfo(const net_chan *q, unsigned k)
{
    return q ? phy_chan_agent_cfo(q->ch, k) : 0.0f;
}

/* dst = src e^{j 2 pi frac(f_cycles_per_sample * tick0)}: the constant that moves phy_chan's
 * per-call phasor (0 at output sample 0) to tick0 = that sample's tick relative to the round's
 * beacon (host/net/net.h "Phase reference"). */
static void anchor(float complex *dst, const float complex *src, size_t n, double f, int64_t tick0)
{
    double ft = f * (double)tick0;
    float complex z = (float complex)cexp(I * 2.0 * M_PI * (ft - floor(ft)));
    for (size_t i = 0; i < n; i++)
        dst[i] = src[i] * z;
}

am_status net_chan_downlink(net_chan *q,
                            unsigned k,
                            const float complex *x,
                            size_t n,
                            int64_t tick,
                            float complex *y,
                            size_t cap,
                            size_t *ny,
                            int64_t *t0)
{
    if (!q || !x || !y || !ny || !t0)
        return AM_FAIL(AM_EINVAL, "net_chan_downlink: NULL argument");
    if (k >= q->cfg.n_agents)
        return AM_FAIL(AM_EINVAL, "net_chan_downlink: agent %u of %u", k, q->cfg.n_agents);
    if (n == 0 || n > q->max_in)
        return AM_FAIL(AM_EINVAL, "net_chan_downlink: %zu samples (1..%zu)", n, q->max_in);
    const int64_t start = tick - (int64_t)q->lead;
    const double f = -(double)phy_chan_agent_cfo(q->ch, k) / (double)q->cfg.nfft; /* §6 */
    float complex *r = q->rot + (size_t)k * q->max_in;
    anchor(r, x, n, f, -(int64_t)q->lead); /* output sample 0 is lead ticks before the beacon */
    am_status s = phy_chan_downlink(q->ch, k, r, n, q->lead, q->tail, y, cap, ny);
    if (s != AM_OK)
        return s;
    *t0 = start;
    return AM_OK;
}

am_status net_chan_uplink(net_chan *q,
                          const float complex *const *tx,
                          size_t burst_len,
                          int64_t tick,
                          int64_t ref_tick,
                          float complex *y,
                          size_t cap,
                          size_t *ny,
                          int64_t *t0)
{
    if (!q || !tx || !y || !ny || !t0)
        return AM_FAIL(AM_EINVAL, "net_chan_uplink: NULL argument");
    if (burst_len == 0 || burst_len > q->max_in)
        return AM_FAIL(AM_EINVAL, "net_chan_uplink: burst of %zu samples (1..%zu)", burst_len,
                       q->max_in);
    const int64_t start = tick - (int64_t)q->lead;
    for (unsigned k = 0; k < q->cfg.n_agents; k++) {
        q->ptrs[k] = NULL;
        if (!tx[k])
            continue;
        const double f = (double)phy_chan_agent_cfo(q->ch, k) / (double)q->cfg.nfft; /* §5 */
        float complex *r = q->rot + (size_t)k * q->max_in;
        anchor(r, tx[k], burst_len, f, start - ref_tick);
        q->ptrs[k] = r;
    }
    am_status s = phy_chan_execute(q->ch, q->ptrs, burst_len, q->lead, q->tail, y, cap, ny);
    if (s != AM_OK)
        return s;
    /* finite bursts whose samples near the float range overflow the sum: refused naming the
     * loudest agent (the chan's radio refused the stream and the chan exited) */
    for (size_t i = 0; i < *ny; i++)
        if (!isfinite(crealf(y[i])) || !isfinite(cimagf(y[i]))) {
            unsigned worst = 0;
            float peak = -1.0f;
            for (unsigned k = 0; k < q->cfg.n_agents; k++)
                for (size_t j = 0; tx[k] && j < burst_len; j++) {
                    const float a = fmaxf(fabsf(crealf(tx[k][j])), fabsf(cimagf(tx[k][j])));
                    if (a > peak) {
                        peak = a;
                        worst = k;
                    }
                }
            *ny = 0;
            return AM_FAIL(AM_EFORMAT,
                           "net_chan_uplink: the sum is not finite at sample %zu: agent %u's burst "
                           "reaches %g (samples near the float range)",
                           i, worst, (double)peak);
        }
    *t0 = start;
    return AM_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Processes
 * ------------------------------------------------------------------------------------------- */
static volatile sig_atomic_t net_stop;

static void on_stop_signal(int sig)
{
    (void)sig;
    net_stop = 1;
}

void net_catch_stop_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int net_stop_requested(void)
{
    return net_stop != 0;
}

am_status net_check_server(const char *ep)
{
    char pre[CTRL_STR_LEN];
    int port = 0;
    am_status s = net_split_endpoint(ep, pre, sizeof pre, &port);
    if (s != AM_OK)
        return am_error_wrap(s, "--server");
    if (port < 0)
        return AM_FAIL(AM_EINVAL, "--server: give a port, not *");
    return AM_OK;
}

am_status net_peer_recv(ctrl *c,
                        const char *who,
                        const char *server,
                        double silence_s,
                        double *last,
                        ctrl_msg *m,
                        int *got)
{
    *got = 0;
    /* wait at most until the silence deadline, so that --timeout holds to a few ms */
    double left = *last + silence_s - monotime_s();
    am_status s = ctrl_recv(c, left < 0 ? 0 : left < 0.5 ? left : 0.5, m, NULL);
    if (s == AM_ETIMEOUT) {
        if (monotime_s() - *last >= silence_s)
            return AM_FAIL(AM_ETIMEOUT, "%s: the server at %s was silent for %g s", who, server,
                           silence_s);
        return AM_OK;
    }
    if (s != AM_OK)
        return s;
    *last = monotime_s();
    if (m->sender != CTRL_ID_SERVER) {
        char t[96];
        snprintf(t, sizeof t, "%s: message not from the server", who);
        ctrl_count_reject(c, CTRL_REJ_PEER, t);
        return AM_OK;
    }
    *got = 1;
    return AM_OK;
}

am_status net_peer_welcome(const ctrl_welcome *w, uint32_t role, const char *who)
{
    if (!w->accepted || w->role != role)
        return AM_FAIL(AM_EINVAL, "%s: the server refused: %s", who, w->reason);
    return AM_OK;
}

am_status net_peer_join(const char *server,
                        uint32_t self_id,
                        size_t max_payload,
                        const net_sec *sec,
                        const ctrl_msg *hello,
                        ctrl **out)
{
    ctrl_cfg cc = {.server = 0,
                   .endpoint = server,
                   .self_id = self_id,
                   .max_payload = max_payload,
                   .send_timeout = 5.0,
                   .curve_secret = sec->on ? sec->sec : NULL,
                   .curve_server = sec->on ? sec->server : NULL};
    am_status st = ctrl_create(&cc, out);
    if (st == AM_OK)
        st = ctrl_set_hello(*out, hello);
    return st == AM_OK ? ctrl_send(*out, NULL, hello) : st;
}

void net_peer_leave(ctrl *c)
{
    ctrl_msg m;
    memset(&m, 0, sizeof m);
    m.type = CTRL_LEAVE;
    ctrl_send(c, NULL, &m);
}

void net_peer_unexpected(ctrl *c, const char *who, uint32_t type)
{
    char t[96];
    snprintf(t, sizeof t, "%s: unexpected %s", who, ctrl_type_name(type));
    ctrl_count_reject(c, CTRL_REJ_PEER, t);
}

/* ---------------------------------------------------------------------------------------------
 * Endpoints
 * ------------------------------------------------------------------------------------------- */
am_status net_radio_endpoint(const char *device, const char *side, char *out, size_t cap)
{
    if (!device || !side || !out || cap == 0)
        return AM_FAIL(AM_EINVAL, "net_radio_endpoint: NULL argument");
    char key[8];
    snprintf(key, sizeof key, " %s=", side);
    const char *p = strstr(device, key);
    if (!p)
        return AM_FAIL(AM_ENOTFOUND, "radio '%s' has no %s endpoint", device, side);
    p += strlen(key);
    size_t n = strcspn(p, " ");
    if (n == 0 || (n == 1 && p[0] == '-'))
        return AM_FAIL(AM_ENOTFOUND, "radio '%s' has no %s endpoint", device, side);
    if (n >= cap)
        return AM_FAIL(AM_EINVAL, "radio endpoint '%.*s' too long", (int)n, p);
    memcpy(out, p, n);
    out[n] = '\0';
    return AM_OK;
}

am_status net_split_endpoint(const char *ep, char *prefix, size_t cap, int *port)
{
    if (!ep || !prefix || !port)
        return AM_FAIL(AM_EINVAL, "net_split_endpoint: NULL argument");
    const char *colon = strrchr(ep, ':');
    if (strncmp(ep, "tcp://", 6) != 0 || !colon || colon < ep + 6 || colon[1] == '\0')
        return AM_FAIL(AM_EINVAL, "'%s' is not tcp://HOST:PORT (PORT a number or *)", ep);
    /* HOST: not empty, no blank or control character, an IPv6 address in brackets
     * (tcp://[::1]:5; 'tcp://[::1' was split as host '[:' port 1 and connected to forever) */
    const char *h = ep + 6;
    const size_t hn = (size_t)(colon - h);
    int host_ok = hn > 0;
    for (size_t i = 0; host_ok && i < hn; i++)
        host_ok = h[i] > ' ' && h[i] != 0x7f &&
                  (h[i] != '[' || i == 0) && (h[i] != ']' || (i == hn - 1 && h[0] == '['));
    if (host_ok && h[0] == '[')
        host_ok = hn > 2 && h[hn - 1] == ']';
    if (!host_ok)
        return AM_FAIL(AM_EINVAL,
                       "'%s': host '%.*s' is not a name, an address or [IPv6] (tcp://HOST:PORT)", ep,
                       (int)(hn < 64 ? hn : 64), h);
    size_t n = (size_t)(colon - ep) + 1;
    if (n >= cap)
        return AM_FAIL(AM_EINVAL, "endpoint '%s' too long", ep);
    memcpy(prefix, ep, n);
    prefix[n] = '\0';
    if (strcmp(colon + 1, "*") == 0) {
        *port = -1;
        return AM_OK;
    }
    char *end = NULL;
    long v = strtol(colon + 1, &end, 10);
    if (*end != '\0' || v < 1 || v > 65535 || colon[1] < '0' || colon[1] > '9') /* not +5, ' 5' */
        return AM_FAIL(AM_EINVAL, "'%s': port '%s' is not 1..65535 or *", ep, colon + 1);
    *port = (int)v;
    return AM_OK;
}

int net_is_loopback(const char *ep)
{
    return ep &&
           (strncmp(ep, "tcp://127.0.0.1:", 16) == 0 || strncmp(ep, "tcp://localhost:", 16) == 0);
}
