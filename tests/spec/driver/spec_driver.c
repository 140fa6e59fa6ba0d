/* tests/spec/driver: airmeta's own outputs for tests/spec/air_interface.py, the independent
 * implementation of docs/air-interface.md written from the document alone. The driver only calls
 * public entry points (phy/ota_tx.h, phy/cal.h, net/ctrl.h, net/net.h) and moves bytes between
 * files; every comparison is made by the Python side.
 *
 *   spec_driver tx M CP L MAPPING S SLOT ETA PILOT V.f32 P.c64|- OUT.c64
 *       one burst of phy_ota_tx_execute (default allocation), pilot level PILOT, precoder P
 *       (M complex64) or none
 *   spec_driver tx-drift M CP L MAPPING S SLOT ETA PILOT V.f32 P.c64|- OUT.c64 R
 *       tx's burst with the sampling-clock drift R (phy_ota_tx_set_drift, §4.2)
 *   spec_driver go-encode ROUND SENDER ETA RHO G_TH SLOT SLOTS MAPPING BEACON TX PILOT REPS PROBE
 *                         OUT.bin
 *       (PILOT 0: no pilot level, a 32-byte GO; REPS beacon_reps)
 *   spec_driver beacon M CP R OUT.c64    the beacon with R training blocks (phy/beacon.h)
 *   spec_driver cal-encode ROUND SENDER HEARD MU SNR_DB E.c64 OUT.bin    (E: 8 complex64)
 *   spec_driver cal-encode-q ROUND SENDER HEARD MU SNR_DB E.c64 MUQ.f32 OUT.bin
 *       CAL with the sub-bands' loop gains mu_q (8 float32)
 *   spec_driver cal-mu MU0 STEPS    the loop gains of one agent's 8 sub-bands (phy_cal_mu_steps)
 *       over the comma-separated steps, each "pH:MMMMMMMM" (a probe) or "rH:MMMMMMMM" (a round),
 *       H heard 0/1, M sub-band q measured 0/1: per step "n_0..n_7 mu_0..mu_7 mu" (%.9g)
 *   spec_driver decode IN.bin       prints "ok TYPE ROUND SENDER fields..." or "refused REASON
 *       MESSAGE"
 *       (GO's last field: its pilot level, 1 when absent; CAL's E, then "mu_q" and its 8 values
 *       when present)
 *   spec_driver link-db A_TX A_RX S_TX S_RX   prints net_link_db (docs/air-interface.md §4.1)
 *   spec_driver clock M FC_FS PPM EXTRA C    prints "fc_fs share r off": ota_agent_clock_rule and
 *       ota_agent_clock_drift for offset C (docs/air-interface.md §4.2 "Sampling clock")
 *   spec_driver sigmf-tick META      prints the airmeta:device_tick phy/sigmf reads (-1: absent)
 *   spec_driver impair-profile NAME    the radio impairment profile's values (phy_impair_profile,
 *       docs/air-interface.md §11), one "key=value" (%.9g) per line
 *   spec_driver sigmf-write BASE TICK    a version-2 capture of 16 zeros with that device tick
 *   spec_driver cal-update MU A.c64 E.c64 OUT.c64        (8 values each: phy_cal_update; MU
 *       a comma-separated list of 8: phy_cal_update_bands, one per sub-band)
 *   spec_driver cal-interp M A.c64 OUT.c64               (phy_cal_interp, default allocation)
 *   spec_driver cal-unmix W.f32 MEAS COUNTS N_USED SNR_DB E.c64 OUT.c64    phy_cal_unmix (W: 64
 *       float32, MEAS "MMMMMMMM" 0/1, COUNTS 8 comma-separated counts before the measurement)
 *   spec_driver cal-excess S N_USED HEARD MEAS SNRS E.c64    prints phy_cal_probe_excess (%.9g):
 *       HEARD S chars 0/1, MEAS S x 8 chars 0/1, SNRS S comma-separated dB, E S x 8 complex64
 *   spec_driver probe-again P PROBES BOUND EXCESS    prints phy_cal_probe_again (0/1; EXCESS
 *       "inf": a probe not found)
 *   spec_driver zmq-tx ARGS TICK X.c64    one burst through radio 'zmq' (ARGS its "key=value,...")
 *   spec_driver zmq-rx ARGS TICK N OUT.c64    N samples from TICK through radio 'zmq'; prints
 *       "ok FIRST_TICK MALFORMED" (the malformed messages it dropped)
 *   spec_driver agent-air M CP FC_FS REPS L IN.c64 ROUNDS.txt OUT.c64    `airmeta agent` on air
 *       (net_agent: tracker 64, fc_fs FC_FS and its sampling clock (net_agent_clock, 2 ppm),
 *       beacon_reps REPS, L reals, no calibration): one round
 *       per line "T0 N B T" of ROUNDS.txt (N samples of IN.c64, in order, from tick T0; beacon tick
 *       B, burst tick T), rho 1, g_th 0; prints "found start cfo cfo_used adv" per round and
 *       writes each found round's burst of L zeros (eta 1) to OUT.c64
 *   spec_driver encode OUT.bin TYPE ROUND SENDER KEY=VALUE...    any message of §9.4 by
 *       ctrl_encode, fields named as in net/ctrl.h (lists comma-separated: ids=1,2 theta=0.5,1;
 *       HELLO's ep= a comma-separated list of endpoints); fields not given are 0 / empty
 *   spec_driver fields IN.bin    ctrl_decode (max payload 4 MiB: a chan's HELLO of 4096 agents)
 *       of any message: "ok TYPE ROUND SENDER KEY=VALUE..."
 *       (every field, floats %.9g, lists comma-separated) or "refused REASON MESSAGE"
 *   spec_driver ticks RATE TICK...     per tick: "secs frac(%.17g) back" of radio_time_from_ticks
 *       and radio_time_to_ticks of it
 *   spec_driver time-ticks RATE SECS FRAC...    per pair: radio_time_to_ticks of {SECS, FRAC}
 *   spec_driver peak-power X.f32    net_payload_peak_power: "peak power" (%.9g)
 *   spec_driver eta-cap CAP F...    net_eta_capped of the reported figures F (cap CAP as f32):
 *       "eta median" (%.9g)
 *   spec_driver plausible BOUND MED X.f32    net_payload_plausible: "applied norm limit" (1/0,
 *       %.17g)
 *   spec_driver dac-fit LIMIT X.c64 OUT.c64    net_burst_fit: prints "s peak" (%.9g), writes x
 *   spec_driver sigmf-read META OUT.c64    the samples phy/sigmf reads (ci16_le: value / 32768)
 *   spec_driver rx-at M CP L S ETA RHO X.c64 OUT.bin PILOT W    phy_ota_rx_decode_at (S0a at
 *       x[0], no offset, gain pool W, S calibration slots, pilot level PILOT): writes f32 n0, G[M]
 *       (complex64), then per slot f32 heard (0/1), f32 snr_db, E[8] (complex64), then the L
 *       recovered reals (f32), then per slot W[8][8] (f32, phy_ota_burst.cal_W)
 *   spec_driver agent-beacon M CP R SMOOTH RHO G_TH X.c64 T0 B OUT.bin    ota_agent_beacon (no
 *       carrier-offset compensation, R training blocks, smoothing lags -2..SMOOTH-1; x[0] at tick
 *       T0, the beacon scheduled at B): writes i64 the first path's tick, p[M] (complex64)
 * Exit 0 on success, 1 with a one-line message otherwise. */
#include <complex.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "net/ctrl.h"
#include "net/net.h"
#include "phy/beacon.h"
#include "phy/cal.h"
#include "phy/impair.h"
#include "phy/sigmf.h"
#include "phy/ota_rx.h"
#include "phy/ota_tx.h"
#include "radio/radio.h"
#include "round/ota_agent.h"

static int fail(const char *what)
{
    fprintf(stderr, "spec_driver: %s\n", what);
    return 1;
}

static void *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    unsigned char *b = malloc(cap);
    while (b) {
        size_t got = fread(b + n, 1, cap - n, f);
        n += got;
        if (n < cap)
            break;
        unsigned char *nb = realloc(b, cap * 2);
        if (!nb) {
            free(b);
            b = NULL;
            break;
        }
        b = nb;
        cap *= 2;
    }
    fclose(f);
    *len = n;
    return b;
}

static int write_all(const char *path, const void *p, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(p, 1, len, f);
    return (fclose(f) == 0 && w == len) ? 0 : -1;
}

static double num(const char *s)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end) {
        fprintf(stderr, "spec_driver: not a number: '%s'\n", s);
        exit(1);
    }
    return v;
}

/* tx's arguments; r: the sampling-clock drift of §4.2 (phy_ota_tx_set_drift) */
static int tx_run(char **a, double r)
{
    phy_ota_tx_cfg cfg;
    phy_ota_tx_cfg_default(&cfg);
    cfg.frame.nfft = (unsigned)num(a[0]);
    cfg.frame.cp_len = (unsigned)num(a[1]);
    cfg.payload_len = (size_t)num(a[2]);
    if (phy_mapping_parse(a[3], &cfg.mapping) != AM_OK)
        return fail(am_last_error());
    cfg.cal_slots = (unsigned)num(a[4]);
    unsigned slot = (unsigned)num(a[5]);
    float eta = (float)num(a[6]);
    float level = (float)num(a[7]);
    size_t vlen = 0, plen = 0;
    float *v = read_all(a[8], &vlen);
    if (!v || vlen != cfg.payload_len * sizeof(float))
        return fail("payload file missing or not L float32");
    float complex *p = NULL;
    if (strcmp(a[9], "-") != 0) {
        p = read_all(a[9], &plen);
        if (!p || plen != cfg.frame.nfft * sizeof(float complex))
            return fail("precoder file missing or not M complex64");
    }
    phy_ota_tx *q = NULL;
    if (phy_ota_tx_create(&cfg, &q) != AM_OK || phy_ota_tx_set_slot(q, slot) != AM_OK ||
        phy_ota_tx_set_pilot_level(q, level) != AM_OK || phy_ota_tx_set_drift(q, r) != AM_OK)
        return fail(am_last_error());
    size_t n = phy_ota_tx_burst_len(q);
    float complex *out = malloc(n * sizeof *out);
    int rc = 0;
    if (!out || phy_ota_tx_execute(q, v, eta, p, out, n) != AM_OK)
        rc = fail(am_last_error());
    else if (write_all(a[10], out, n * sizeof *out))
        rc = fail("cannot write the burst");
    free(out);
    free(v);
    free(p);
    phy_ota_tx_destroy(q);
    return rc;
}

static int cmd_tx(char **a)
{
    return tx_run(a, 0.0);
}

/* tx's 11 arguments, then the drift r (samples per sample) */
static int cmd_tx_drift(char **a)
{
    return tx_run(a, num(a[11]));
}

static int encode_to(const ctrl_msg *m, const char *path)
{
    unsigned char buf[1024];
    size_t len = 0;
    if (ctrl_encode(m, buf, sizeof buf, &len) != AM_OK)
        return fail(am_last_error());
    return write_all(path, buf, len) ? fail("cannot write the message") : 0;
}

static int cmd_go(char **a)
{
    ctrl_msg m;
    memset(&m, 0, sizeof m);
    m.type = CTRL_GO;
    m.round = (uint32_t)num(a[0]);
    m.sender = (uint32_t)strtoul(a[1], NULL, 0);
    m.u.go.eta = (float)num(a[2]);
    m.u.go.rho = (float)num(a[3]);
    m.u.go.g_th = (float)num(a[4]);
    m.u.go.cal_slot = (uint32_t)num(a[5]);
    m.u.go.cal_slots = (uint32_t)num(a[6]);
    m.u.go.mapping = (uint32_t)num(a[7]);
    m.u.go.beacon_tick = strtoll(a[8], NULL, 10);
    m.u.go.tx_tick = strtoll(a[9], NULL, 10);
    m.u.go.pilot_level = (float)num(a[10]);
    m.u.go.beacon_reps = (uint32_t)num(a[11]);
    m.u.go.probe = (uint32_t)num(a[12]);
    return encode_to(&m, a[13]);
}

static int cmd_beacon(char **a)
{
    phy_frame_cfg fc = {(unsigned)num(a[0]), (unsigned)num(a[1]), NULL};
    const unsigned R = (unsigned)num(a[2]);
    phy_frame *f = NULL;
    if (phy_frame_create(&fc, &f) != AM_OK)
        return fail(am_last_error());
    const size_t n = phy_beacon_len_reps(f, R);
    float complex *x = malloc(n * sizeof *x);
    int rc = 0;
    if (!x || phy_beacon_write_reps(f, R, x, n) != AM_OK)
        rc = fail(x ? am_last_error() : "out of memory");
    else if (write_all(a[3], x, n * sizeof *x))
        rc = fail("cannot write the beacon");
    free(x);
    phy_frame_destroy(f);
    return rc;
}

static int cmd_cal(char **a)
{
    size_t len = 0;
    float *E = read_all(a[5], &len);
    if (!E || len != 2 * CTRL_CAL_Q * sizeof(float)) {
        free(E);
        return fail("E file missing or not 8 complex64");
    }
    ctrl_msg m;
    memset(&m, 0, sizeof m);
    m.type = CTRL_CAL;
    m.round = (uint32_t)num(a[0]);
    m.sender = (uint32_t)strtoul(a[1], NULL, 0);
    m.u.cal.heard = (uint32_t)num(a[2]);
    m.u.cal.q = CTRL_CAL_Q;
    m.u.cal.mu = (float)num(a[3]);
    m.u.cal.snr_db = (float)num(a[4]);
    m.u.cal.E = E;
    float *mq = NULL;
    if (a[7]) { /* cal-encode-q */
        size_t lq = 0;
        mq = read_all(a[6], &lq);
        if (!mq || lq != CTRL_CAL_Q * sizeof(float)) {
            free(E);
            free(mq);
            return fail("MUQ file missing or not 8 float32");
        }
        m.u.cal.mu_q = mq;
    }
    int rc = encode_to(&m, a[7] ? a[7] : a[6]);
    free(E);
    free(mq);
    return rc;
}

static int cmd_cal_mu(char **a)
{
    const float mu0 = (float)num(a[0]);
    uint32_t n[PHY_CAL_Q] = {0};
    char *dup = strdup(a[1]), *save = NULL;
    if (!dup)
        return fail("out of memory");
    int rc = 0;
    for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (strlen(t) != 3 + PHY_CAL_Q || (t[0] != 'p' && t[0] != 'r') || t[2] != ':') {
            rc = fail("cal-mu: a step is not pH:MMMMMMMM or rH:MMMMMMMM");
            break;
        }
        unsigned char meas[PHY_CAL_Q];
        for (unsigned q = 0; q < PHY_CAL_Q; q++)
            meas[q] = t[3 + q] == '1';
        float mu[PHY_CAL_Q];
        const float top = phy_cal_mu_steps(n, t[1] == '1', meas, t[0] == 'p', mu0, mu);
        for (unsigned q = 0; q < PHY_CAL_Q; q++)
            printf("%u ", n[q]);
        for (unsigned q = 0; q < PHY_CAL_Q; q++)
            printf("%.9g ", mu[q]);
        printf("%.9g\n", top);
    }
    free(dup);
    return rc;
}

/* The message in file `path`, decoded with payloads of at most `max` bytes: 1 with "ok TYPE ROUND
 * SENDER" printed (the fields follow; *buf, which they view, freed after them), 0 with "refused
 * WHY MESSAGE" printed, -1 if the file cannot be read. */
static int decode_file(const char *path, size_t max, ctrl_msg *m, void **buf)
{
    size_t len = 0;
    *buf = read_all(path, &len);
    if (!*buf)
        return -1;
    ctrl_reject why = CTRL_REJ_NONE;
    if (ctrl_decode(*buf, len, max, m, &why) != AM_OK) {
        printf("refused %s %s\n", ctrl_reject_name(why), am_last_error());
        free(*buf);
        *buf = NULL;
        return 0;
    }
    printf("ok %s %u %u", ctrl_type_name(m->type), m->round, m->sender);
    return 1;
}

static int cmd_decode(char **a)
{
    ctrl_msg m;
    void *buf = NULL;
    const int k = decode_file(a[0], 1 << 20, &m, &buf);
    if (k <= 0)
        return k < 0 ? fail("cannot read the message") : 0;
    if (m.type == CTRL_GO)
        printf(" %.9g %.9g %.9g %u %u %u %lld %lld %.9g %u %u\n", m.u.go.eta, m.u.go.rho,
               m.u.go.g_th, m.u.go.cal_slot, m.u.go.cal_slots, m.u.go.mapping,
               (long long)m.u.go.beacon_tick, (long long)m.u.go.tx_tick,
               m.u.go.pilot_level != 0.0f ? m.u.go.pilot_level : 1.0f, m.u.go.beacon_reps,
               m.u.go.probe);
    else if (m.type == CTRL_CAL) {
        float E[2 * CTRL_CAL_Q];
        ctrl_f32_copy(m.u.cal.E, 2 * m.u.cal.q, E);
        printf(" %u %u %.9g %.9g", m.u.cal.heard, m.u.cal.q, m.u.cal.mu, m.u.cal.snr_db);
        for (unsigned i = 0; i < 2 * m.u.cal.q; i++)
            printf(" %.9g", E[i]);
        if (m.u.cal.mu_q) {
            float mq[CTRL_CAL_Q];
            ctrl_f32_copy(m.u.cal.mu_q, CTRL_CAL_Q, mq);
            printf(" mu_q");
            for (unsigned i = 0; i < CTRL_CAL_Q; i++)
                printf(" %.9g", mq[i]);
        }
        printf("\n");
    } else if (m.type == CTRL_WELCOME)
        printf(" %u %.9g %.9g\n", m.u.welcome.levels, m.u.welcome.tx_dbm, m.u.welcome.rx_dbm);
    else
        printf("\n");
    free(buf);
    return 0;
}

/* The impairment profile NAME's values (phy_impair_profile), one "key=value" per line. */
static int cmd_impair_profile(char **a)
{
    phy_impair_cfg c;
    phy_impair_cfg_default(&c);
    if (phy_impair_profile(a[0], &c) != AM_OK)
        return fail(am_last_error());
    const struct {
        const char *k;
        double v;
    } f[] = {{"fs_hz", c.fs_hz},
             {"fc_hz", c.fc_hz},
             {"ppm", c.ppm},
             {"ppm_spread", c.ppm_spread},
             {"linewidth_hz", c.linewidth_hz},
             {"jitter_deg", c.jitter_deg},
             {"lo_phase", c.lo_phase},
             {"tx_gain_db", c.tx_gain_db},
             {"tx_gain_spread_db", c.tx_gain_spread_db},
             {"tx_phase_deg", c.tx_phase_deg},
             {"tx_phase_spread_deg", c.tx_phase_spread_deg},
             {"rx_gain_db", c.rx_gain_db},
             {"rx_gain_spread_db", c.rx_gain_spread_db},
             {"rx_phase_deg", c.rx_phase_deg},
             {"rx_phase_spread_deg", c.rx_phase_spread_deg},
             {"ripple_db", c.ripple_db},
             {"tx_delay", c.tx_delay},
             {"tx_delay_spread", c.tx_delay_spread},
             {"iq_amp_db", c.iq_amp_db},
             {"iq_phase_deg", c.iq_phase_deg},
             {"dc_dbc", c.dc_dbc},
             {"adc_bits", c.adc_bits},
             {"adc_backoff_db", c.adc_backoff_db},
             {"intf_dbc", c.intf_dbc}};
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        printf("%s=%.9g\n", f[i].k, f[i].v);
    return 0;
}

static int cmd_sigmf_tick(char **a)
{
    phy_sigmf_reader *r = NULL;
    if (phy_sigmf_reader_open(a[0], &r) != AM_OK)
        return fail(am_last_error());
    printf("%lld\n", (long long)phy_sigmf_reader_info(r)->device_tick);
    phy_sigmf_reader_close(r);
    return 0;
}

static int cmd_sigmf_write(char **a)
{
    char *end = NULL;
    errno = 0;
    long long t = strtoll(a[1], &end, 10);
    if (!end || *end || errno)
        return fail("sigmf-write: TICK is not an integer");
    phy_sigmf_info in;
    phy_sigmf_info_default(&in);
    in.version = 2;
    in.sample_rate = 61.44e6;
    in.device_tick = t;
    static const float complex x[16];
    if (phy_sigmf_write(a[0], &in, x, 16, NULL, 0) != AM_OK)
        return fail(am_last_error());
    return 0;
}

/* a[0..n) as numbers into v: 0, or 1 when one is not a number */
static int numbers(char **a, int n, double *v)
{
    for (int i = 0; i < n; i++) {
        char *end = NULL;
        v[i] = strtod(a[i], &end);
        if (!end || *end)
            return 1;
    }
    return 0;
}

/* clock M FC_FS PPM EXTRA C: ota_agent_clock_rule's fields and the drift for offset C */
static int cmd_clock(char **a)
{
    double v[5];
    if (numbers(a, 5, v))
        return fail("clock: not a number");
    ota_agent_cfg c = {.nfft = (unsigned)v[0], .cfo_comp = 1};
    ota_agent_clock_rule(&c, v[1], v[2], v[3]);
    int off = 0;
    const double r = ota_agent_clock_drift(&c, v[4], &off);
    printf("%.17g %.17g %.17g %d\n", c.clock_fc_fs, c.clock_share, r, off);
    return 0;
}

static int cmd_link_db(char **a)
{
    double v[4];
    if (numbers(a, 4, v))
        return fail("link-db: not a number");
    printf("%.17g\n", net_link_db(v[0], v[1], v[2], v[3]));
    return 0;
}

static int cmd_cal_update(char **a)
{
    size_t la = 0, le = 0;
    float complex *A = read_all(a[1], &la), *E = read_all(a[2], &le);
    int rc = 0;
    if (!A || !E || la != PHY_CAL_Q * sizeof *A || le != PHY_CAL_Q * sizeof *E)
        rc = fail("A or E missing or not 8 complex64");
    else {
        if (strchr(a[0], ',')) { /* 8 loop gains, one per sub-band (CAL's mu_q, §8.4) */
            float mu[PHY_CAL_Q];
            const char *c = a[0];
            for (unsigned q = 0; q < PHY_CAL_Q; q++) {
                mu[q] = strtof(c, NULL);
                c = strchr(c, ',');
                c = c ? c + 1 : "0";
            }
            phy_cal_update_bands(A, E, mu);
        } else {
            phy_cal_update(A, E, (float)num(a[0]));
        }
        if (write_all(a[3], A, la))
            rc = fail("cannot write A");
    }
    free(A);
    free(E);
    return rc;
}

static int cmd_cal_unmix(char **a)
{
    size_t lw = 0, le = 0;
    float *W = read_all(a[0], &lw);
    float complex *E = read_all(a[5], &le);
    unsigned char meas[PHY_CAL_Q];
    uint32_t n[PHY_CAL_Q];
    const char *c = a[2];
    for (unsigned q = 0; q < PHY_CAL_Q; q++) {
        meas[q] = strlen(a[1]) == PHY_CAL_Q && a[1][q] == '1';
        n[q] = (uint32_t)strtoul(c, NULL, 10);
        c = strchr(c, ',');
        c = c ? c + 1 : "0";
    }
    int rc = 0;
    if (!W || !E || lw != PHY_CAL_Q * PHY_CAL_Q * sizeof *W || le != PHY_CAL_Q * sizeof *E)
        rc = fail("cal-unmix: W not 64 float32 or E not 8 complex64");
    else {
        phy_cal_unmix(W, meas, n, (unsigned)num(a[3]), (float)num(a[4]), E);
        if (write_all(a[6], E, le))
            rc = fail("cannot write E");
    }
    free(W);
    free(E);
    return rc;
}

static int cmd_cal_excess(char **a)
{
    const unsigned S = (unsigned)num(a[0]);
    size_t le = 0;
    float complex *E = read_all(a[5], &le);
    unsigned char *heard = calloc(S ? S : 1, 1), *meas = calloc((size_t)(S ? S : 1) * PHY_CAL_Q, 1);
    float *snr = calloc(S ? S : 1, sizeof *snr);
    int rc = 0;
    if (!E || !heard || !meas || !snr || le != (size_t)S * PHY_CAL_Q * sizeof *E ||
        strlen(a[2]) != S || strlen(a[3]) != (size_t)S * PHY_CAL_Q) {
        rc = fail("cal-excess: HEARD, MEAS or E not of S slots");
    } else {
        const char *c = a[4];
        for (unsigned s = 0; s < S; s++) {
            heard[s] = a[2][s] == '1';
            snr[s] = (float)strtod(c, NULL);
            c = strchr(c, ',');
            c = c ? c + 1 : "0";
        }
        for (size_t i = 0; i < (size_t)S * PHY_CAL_Q; i++)
            meas[i] = a[3][i] == '1';
        printf("%.9g\n", phy_cal_probe_excess(S, (unsigned)num(a[1]), heard, E, meas, snr));
    }
    free(E);
    free(heard);
    free(meas);
    free(snr);
    return rc;
}

static int cmd_probe_again(char **a)
{
    const double ex = strcmp(a[3], "inf") == 0 ? INFINITY : num(a[3]);
    printf("%d\n",
           phy_cal_probe_again((unsigned)num(a[0]), (unsigned)num(a[1]), (float)num(a[2]), ex));
    return 0;
}

static int cmd_cal_interp(char **a)
{
    phy_frame_cfg fc;
    phy_frame_cfg_default(&fc);
    fc.nfft = (unsigned)num(a[0]);
    phy_frame *f = NULL;
    if (phy_frame_create(&fc, &f) != AM_OK)
        return fail(am_last_error());
    size_t la = 0;
    float complex *A = read_all(a[1], &la);
    float complex *out = malloc(fc.nfft * sizeof *out);
    int rc = 0;
    if (!A || !out || la != PHY_CAL_Q * sizeof *A)
        rc = fail("A missing or not 8 complex64");
    else {
        phy_cal_interp(f, A, out);
        if (write_all(a[2], out, fc.nfft * sizeof *out))
            rc = fail("cannot write a(i)");
    }
    free(A);
    free(out);
    phy_frame_destroy(f);
    return rc;
}

static int cmd_zmq_tx(char **a)
{
    size_t len = 0;
    float complex *x = read_all(a[2], &len);
    radio *r = NULL;
    int rc = 0;
    if (!x || len == 0 || len % sizeof *x)
        rc = fail("samples missing or not complex64");
    else if (radio_open("zmq", a[0], &r) != AM_OK)
        rc = fail(am_last_error());
    else {
        radio_info info;
        radio_get_info(r, &info);
        radio_time at = radio_time_from_ticks(strtoll(a[1], NULL, 10), info.rate);
        if (radio_tx_burst(r, x, len / sizeof *x, &at) != AM_OK)
            rc = fail(am_last_error());
    }
    radio_close(r);
    free(x);
    return rc;
}

static int cmd_zmq_rx(char **a)
{
    radio *r = NULL;
    if (radio_open("zmq", a[0], &r) != AM_OK)
        return fail(am_last_error());
    radio_info info;
    radio_get_info(r, &info);
    size_t want = (size_t)num(a[2]), got = 0;
    float complex *x = malloc(want * sizeof *x);
    radio_time at = radio_time_from_ticks(strtoll(a[1], NULL, 10), info.rate), t0;
    int64_t first = -1;
    int rc = 0;
    if (!x || radio_rx_start_n(r, &at, want) != AM_OK)
        rc = fail(am_last_error());
    while (rc == 0 && got < want) {
        size_t n = 0;
        if (radio_rx(r, x + got, want - got, &n, &t0, 20.0) != AM_OK)
            rc = fail(am_last_error());
        else if (got == 0)
            first = radio_time_to_ticks(t0, info.rate);
        got += n;
    }
    if (rc == 0) {
        radio_stats st;
        radio_get_stats(r, &st);
        printf("ok %lld %llu\n", (long long)first, (unsigned long long)st.malformed);
        if (write_all(a[3], x, want * sizeof *x))
            rc = fail("cannot write the samples");
    }
    radio_rx_stop(r);
    radio_close(r);
    free(x);
    return rc;
}

static int cmd_agent_air(char **a)
{
    net_agent_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.nfft = (unsigned)num(a[0]);
    cfg.cp_len = (unsigned)num(a[1]);
    cfg.fc_fs = num(a[2]);
    cfg.beacon_reps = (unsigned)num(a[3]);
    cfg.payload_len = (size_t)num(a[4]);
    cfg.cfo_comp = 1;
    cfg.track = 64; /* NET_AGENT_TRACK */
    net_agent_clock(&cfg, cfg.fc_fs, NET_RADIO_PPM, 0.0); /* §4.2 "Sampling clock", as on air */
    FILE *rf = fopen(a[6], "r");
    size_t len = 0;
    float complex *x = read_all(a[5], &len);
    FILE *of = fopen(a[7], "wb");
    net_agent *q = NULL;
    float *v = calloc(cfg.payload_len, sizeof *v);
    int rc = 0;
    if (!rf || !x || !of || !v)
        rc = fail("agent-air: cannot open the files");
    else if (net_agent_create(&cfg, &q) != AM_OK)
        rc = fail(am_last_error());
    const size_t blen = q ? net_agent_burst_len(q) : 0;
    float complex *out = malloc((blen ? blen : 1) * sizeof *out);
    size_t pos = 0;
    long long t0, n, B, T;
    while (rc == 0 && fscanf(rf, "%lld %lld %lld %lld", &t0, &n, &B, &T) == 4) {
        net_beacon_info info;
        if (!out || n < 0 || pos + (size_t)n > len / sizeof *x) {
            rc = fail("agent-air: ROUNDS.txt asks for more samples than IN.c64 has");
            break;
        }
        if (net_agent_beacon(q, x + pos, (size_t)n, t0, B, 1.0f, 0.0f, 0, &info) != AM_OK ||
            (info.found && net_agent_burst(q, v, 1.0f, T, out, blen, NULL) != AM_OK)) {
            rc = fail(am_last_error());
            break;
        }
        pos += (size_t)n;
        printf("%d %lld %.9g %.9g %lld %.17g\n", info.found, (long long)info.start,
               (double)info.cfo, (double)info.cfo_used, (long long)info.adv, info.eps);
        if (info.found && fwrite(out, sizeof *out, blen, of) != blen)
            rc = fail("agent-air: cannot write the bursts");
    }
    if (of && fclose(of) != 0 && rc == 0)
        rc = fail("agent-air: cannot write the bursts");
    if (rf)
        fclose(rf);
    net_agent_destroy(q);
    free(out);
    free(v);
    free(x);
    return rc;
}

/* ---- encode / fields: every message of §9.4 */

/* the value of KEY=VALUE among a[0..n) ("" when absent) */
static const char *kv(char **a, int n, const char *key)
{
    const size_t k = strlen(key);
    for (int i = 0; i < n; i++)
        if (strncmp(a[i], key, k) == 0 && a[i][k] == '=')
            return a[i] + k + 1;
    return "";
}

static double kvnum(char **a, int n, const char *key)
{
    const char *v = kv(a, n, key);
    return *v ? num(v) : 0.0;
}

static uint64_t kvu64(char **a, int n, const char *key)
{
    const char *v = kv(a, n, key);
    return *v ? strtoull(v, NULL, 0) : 0;
}

static int64_t kvi64(char **a, int n, const char *key)
{
    const char *v = kv(a, n, key);
    return *v ? strtoll(v, NULL, 0) : 0;
}

/* a comma-separated list into u32s or floats (*count entries; an empty value: none) */
static void *kvlist(char **a, int n, const char *key, int is_float, uint32_t *count)
{
    const char *v = kv(a, n, key);
    size_t cap = 1;
    for (const char *c = v; *c; c++)
        cap += *c == ',';
    uint32_t *out = calloc(cap, 4);
    *count = 0;
    if (!out || !*v)
        return out;
    char *dup = strdup(v), *save = NULL;
    for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (is_float) {
            float f = (float)num(t);
            memcpy(&out[*count], &f, 4);
        } else
            out[*count] = (uint32_t)strtoul(t, NULL, 0);
        (*count)++;
    }
    free(dup);
    return out;
}

static void kvstr(char **a, int n, const char *key, char *dst, size_t cap)
{
    memset(dst, 0, cap);
    strncpy(dst, kv(a, n, key), cap - 1);
}

static int cmd_encode(int argc, char **a)
{
    ctrl_msg m;
    memset(&m, 0, sizeof m);
    const char *out = a[0];
    static const char *names[] = {"",     "HELLO",  "WELCOME", "MODEL", "STATUS", "GO",
                                  "PLAN", "REPORT", "COMMIT",  "LEAVE", "BYE",    "CAL"};
    for (uint32_t t = 1; t < sizeof names / sizeof names[0]; t++)
        if (strcmp(a[1], names[t]) == 0)
            m.type = t;
    if (!m.type)
        return fail("encode: unknown type");
    m.round = (uint32_t)strtoul(a[2], NULL, 0);
    m.sender = (uint32_t)strtoul(a[3], NULL, 0);
    char **k = a + 4;
    const int nk = argc - 4;
    void *l1 = NULL, *l2 = NULL;
    char *eps = NULL;
    uint32_t c1 = 0, c2 = 0;
    switch (m.type) {
    case CTRL_HELLO: {
        ctrl_hello *h = &m.u.hello;
        h->role = (uint32_t)kvu64(k, nk, "role");
        h->id = (uint32_t)kvu64(k, nk, "id");
        h->dim = kvu64(k, nk, "dim");
        h->n_agents = (uint32_t)kvu64(k, nk, "n_agents");
        kvstr(k, nk, "desc", h->desc, sizeof h->desc);
        const char *v = kv(k, nk, "ep");
        size_t n_ep = 0;
        if (*v) {
            n_ep = 1;
            for (const char *c = v; *c; c++)
                n_ep += *c == ',';
        }
        eps = calloc(n_ep ? n_ep : 1, CTRL_STR_LEN);
        char *dup = strdup(v), *save = NULL;
        size_t i = 0;
        for (char *t = strtok_r(dup, ",", &save); t && eps; t = strtok_r(NULL, ",", &save))
            strncpy(eps + CTRL_STR_LEN * i++, t, CTRL_STR_LEN - 1);
        free(dup);
        h->n_ep = (uint32_t)n_ep;
        h->ep = eps;
        h->clock.fc_fs = kvnum(k, nk, "fc_fs");
        h->clock.ppm = (float)kvnum(k, nk, "ppm");
        h->clock.cfo_ms = (float)kvnum(k, nk, "cfo_ms");
        break;
    }
    case CTRL_WELCOME: {
        ctrl_welcome *w = &m.u.welcome;
        w->accepted = (uint32_t)kvu64(k, nk, "accepted");
        w->role = (uint32_t)kvu64(k, nk, "role");
        kvstr(k, nk, "reason", w->reason, sizeof w->reason);
        w->dim = kvu64(k, nk, "dim");
        w->nfft = (uint32_t)kvu64(k, nk, "nfft");
        w->cp = (uint32_t)kvu64(k, nk, "cp");
        w->payload_len = kvu64(k, nk, "payload_len");
        w->rate = kvnum(k, nk, "rate");
        kvstr(k, nk, "uplink", w->uplink, sizeof w->uplink);
        kvstr(k, nk, "downlink", w->downlink, sizeof w->downlink);
        ctrl_learner *L = &w->learner;
        L->task = (uint32_t)kvu64(k, nk, "task");
        L->learner = (uint32_t)kvu64(k, nk, "learner");
        L->inner_steps = (uint32_t)kvu64(k, nk, "inner_steps");
        L->alpha = (float)kvnum(k, nk, "alpha");
        L->tasks = (uint32_t)kvu64(k, nk, "tasks");
        L->local_iters = (uint32_t)kvu64(k, nk, "local_iters");
        L->local_lr = (float)kvnum(k, nk, "local_lr");
        L->hf_delta = (float)kvnum(k, nk, "hf_delta");
        L->ways = (uint32_t)kvu64(k, nk, "ways");
        L->shots = (uint32_t)kvu64(k, nk, "shots");
        L->query = (uint32_t)kvu64(k, nk, "query");
        L->heterogeneity = (float)kvnum(k, nk, "heterogeneity");
        L->filters = (uint32_t)kvu64(k, nk, "filters");
        L->sparsify = (uint32_t)kvu64(k, nk, "sparsify");
        L->keep = kvnum(k, nk, "keep");
        L->memory = (uint32_t)kvu64(k, nk, "memory");
        L->n_agents = (uint32_t)kvu64(k, nk, "n_agents");
        L->seed = kvu64(k, nk, "seed");
        L->pool = (uint32_t)kvu64(k, nk, "pool");
        kvstr(k, nk, "data_key", w->data_key, sizeof w->data_key);
        w->levels = (uint32_t)kvu64(k, nk, "levels");
        w->tx_dbm = (float)kvnum(k, nk, "tx_dbm");
        w->rx_dbm = (float)kvnum(k, nk, "rx_dbm");
        w->clock.fc_fs = kvnum(k, nk, "fc_fs");
        w->clock.ppm = (float)kvnum(k, nk, "ppm");
        w->clock.cfo_ms = (float)kvnum(k, nk, "cfo_ms");
        break;
    }
    case CTRL_MODEL:
        m.u.model.rho = (float)kvnum(k, nk, "rho");
        m.u.model.g_th = (float)kvnum(k, nk, "g_th");
        m.u.model.flags = (uint32_t)kvu64(k, nk, "flags");
        m.u.model.prev_round = (uint32_t)kvu64(k, nk, "prev_round");
        m.u.model.prev_ids = l1 = kvlist(k, nk, "prev_ids", 0, &c1);
        m.u.model.theta = l2 = kvlist(k, nk, "theta", 1, &c2);
        m.u.model.n_prev = c1;
        m.u.model.dim = c2;
        break;
    case CTRL_STATUS:
        m.u.status.loss = (float)kvnum(k, nk, "loss");
        m.u.status.peak = (float)kvnum(k, nk, "peak");
        m.u.status.power = (float)kvnum(k, nk, "power");
        m.u.status.x = l1 = kvlist(k, nk, "x", 1, &c1);
        m.u.status.n_x = c1;
        break;
    case CTRL_PLAN:
        m.u.plan.eta = (float)kvnum(k, nk, "eta");
        m.u.plan.rho = (float)kvnum(k, nk, "rho");
        m.u.plan.nfft = (uint32_t)kvu64(k, nk, "nfft");
        m.u.plan.cp = (uint32_t)kvu64(k, nk, "cp");
        m.u.plan.burst_len = kvu64(k, nk, "burst_len");
        m.u.plan.beacon_tick = kvi64(k, nk, "beacon_tick");
        m.u.plan.tx_tick = kvi64(k, nk, "tx_tick");
        m.u.plan.deadline = kvnum(k, nk, "deadline");
        m.u.plan.ids = l1 = kvlist(k, nk, "ids", 0, &c1);
        m.u.plan.n = c1;
        m.u.plan.probe = (uint32_t)kvu64(k, nk, "probe");
        break;
    case CTRL_REPORT:
        m.u.report.chunk_tick = kvi64(k, nk, "chunk_tick");
        m.u.report.chunk_len = kvu64(k, nk, "chunk_len");
        m.u.report.late = (uint32_t)kvu64(k, nk, "late");
        m.u.report.rejected = (uint32_t)kvu64(k, nk, "rejected");
        m.u.report.ids = l1 = kvlist(k, nk, "ids", 0, &c1);
        m.u.report.n = c1;
        break;
    case CTRL_COMMIT:
        m.u.commit.decoded = (uint32_t)kvu64(k, nk, "decoded");
        m.u.commit.ids = l1 = kvlist(k, nk, "ids", 0, &c1);
        m.u.commit.n = c1;
        break;
    default: /* LEAVE, BYE; GO and CAL have their own commands */
        break;
    }
    int rc = encode_to(&m, out);
    free(l1);
    free(l2);
    free(eps);
    return rc;
}

static void print_u32s(const char *key, const void *view, uint32_t n)
{
    printf(" %s=", key);
    for (uint32_t i = 0; i < n; i++)
        printf(i ? ",%u" : "%u", ctrl_u32_at(view, i));
}

static void print_f32s(const char *key, const void *view, uint32_t n)
{
    printf(" %s=", key);
    for (uint32_t i = 0; i < n; i++) {
        float f;
        ctrl_f32_copy((const unsigned char *)view + 4 * (size_t)i, 1, &f);
        printf(i ? ",%.9g" : "%.9g", f);
    }
}

static int cmd_fields(char **a)
{
    ctrl_msg m;
    void *buf = NULL;
    const int k = decode_file(a[0], 1 << 22, &m, &buf);
    if (k <= 0)
        return k < 0 ? fail("cannot read the message") : 0;
    switch (m.type) {
    case CTRL_HELLO: {
        const ctrl_hello *h = &m.u.hello;
        printf(" role=%u id=%u dim=%llu n_agents=%u n_ep=%u desc=%s ep=", h->role, h->id,
               (unsigned long long)h->dim, h->n_agents, h->n_ep, h->desc);
        for (uint32_t i = 0; i < h->n_ep; i++)
            printf(i ? ",%s" : "%s", ctrl_str_at(h->ep, i));
        printf(" fc_fs=%.17g ppm=%.9g cfo_ms=%.9g", h->clock.fc_fs, h->clock.ppm, h->clock.cfo_ms);
        break;
    }
    case CTRL_WELCOME: {
        const ctrl_welcome *w = &m.u.welcome;
        const ctrl_learner *L = &w->learner;
        printf(" accepted=%u role=%u reason=%s dim=%llu nfft=%u cp=%u payload_len=%llu rate=%.17g"
               " uplink=%s downlink=%s task=%u learner=%u inner_steps=%u alpha=%.9g tasks=%u"
               " local_iters=%u local_lr=%.9g hf_delta=%.9g ways=%u shots=%u query=%u"
               " heterogeneity=%.9g filters=%u sparsify=%u keep=%.17g memory=%u n_agents=%u"
               " seed=%llu pool=%u data_key=%s levels=%u tx_dbm=%.9g rx_dbm=%.9g fc_fs=%.17g"
               " ppm=%.9g cfo_ms=%.9g",
               w->accepted, w->role, w->reason, (unsigned long long)w->dim, w->nfft, w->cp,
               (unsigned long long)w->payload_len, w->rate, w->uplink, w->downlink, L->task,
               L->learner, L->inner_steps, L->alpha, L->tasks, L->local_iters, L->local_lr,
               L->hf_delta, L->ways, L->shots, L->query, L->heterogeneity, L->filters, L->sparsify,
               L->keep, L->memory, L->n_agents, (unsigned long long)L->seed, L->pool, w->data_key,
               w->levels, w->tx_dbm, w->rx_dbm, w->clock.fc_fs, w->clock.ppm, w->clock.cfo_ms);
        break;
    }
    case CTRL_MODEL:
        printf(" rho=%.9g g_th=%.9g flags=%u prev_round=%u n_prev=%u dim=%u", m.u.model.rho,
               m.u.model.g_th, m.u.model.flags, m.u.model.prev_round, m.u.model.n_prev,
               m.u.model.dim);
        print_u32s("prev_ids", m.u.model.prev_ids, m.u.model.n_prev);
        print_f32s("theta", m.u.model.theta, m.u.model.dim);
        break;
    case CTRL_STATUS:
        printf(" loss=%.9g peak=%.9g power=%.9g n_x=%u", m.u.status.loss, m.u.status.peak,
               m.u.status.power, m.u.status.n_x);
        print_f32s("x", m.u.status.x, m.u.status.n_x);
        break;
    case CTRL_PLAN:
        printf(" eta=%.9g rho=%.9g nfft=%u cp=%u burst_len=%llu beacon_tick=%lld tx_tick=%lld"
               " deadline=%.17g n=%u",
               m.u.plan.eta, m.u.plan.rho, m.u.plan.nfft, m.u.plan.cp,
               (unsigned long long)m.u.plan.burst_len, (long long)m.u.plan.beacon_tick,
               (long long)m.u.plan.tx_tick, m.u.plan.deadline, m.u.plan.n);
        print_u32s("ids", m.u.plan.ids, m.u.plan.n);
        printf(" probe=%u", m.u.plan.probe);
        break;
    case CTRL_REPORT:
        printf(" chunk_tick=%lld chunk_len=%llu late=%u rejected=%u n=%u",
               (long long)m.u.report.chunk_tick, (unsigned long long)m.u.report.chunk_len,
               m.u.report.late, m.u.report.rejected, m.u.report.n);
        print_u32s("ids", m.u.report.ids, m.u.report.n);
        break;
    case CTRL_COMMIT:
        printf(" decoded=%u n=%u", m.u.commit.decoded, m.u.commit.n);
        print_u32s("ids", m.u.commit.ids, m.u.commit.n);
        break;
    default:
        break;
    }
    printf("\n");
    free(buf);
    return 0;
}

/* ---- §9.1 ticks, §3.1 STATUS figures, §4.1 the DAC's limit */

static int cmd_ticks(int argc, char **a)
{
    const double rate = num(a[0]);
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        errno = 0;
        long long t = strtoll(a[i], &end, 10);
        if (!end || *end || errno)
            return fail("ticks: TICK is not an integer");
        radio_time r = radio_time_from_ticks(t, rate);
        printf("%lld %.17g %lld\n", (long long)r.secs, r.frac,
               (long long)radio_time_to_ticks(r, rate));
    }
    return 0;
}

static int cmd_time_ticks(int argc, char **a)
{
    const double rate = num(a[0]);
    for (int i = 1; i + 1 < argc; i += 2) {
        radio_time r = {strtoll(a[i], NULL, 10), num(a[i + 1])};
        printf("%lld\n", (long long)radio_time_to_ticks(r, rate));
    }
    return 0;
}

/* The float32 values of a file (*n of them), NULL when it is missing or not float32. */
static float *read_floats(const char *path, size_t *n)
{
    size_t len = 0;
    float *x = read_all(path, &len);
    if (x && len % sizeof *x) {
        free(x);
        x = NULL;
    }
    *n = len / sizeof *x;
    return x;
}

static int cmd_peak_power(char **a)
{
    size_t n = 0;
    float *x = read_floats(a[0], &n);
    if (!x)
        return fail("peak-power: X missing or not float32");
    float peak = 0, power = 0;
    net_payload_peak_power(x, n, &peak, &power);
    printf("%.9g %.9g\n", peak, power);
    free(x);
    return 0;
}

static int cmd_eta_cap(int argc, char **a)
{
    float *f = malloc((size_t)(argc - 1) * sizeof *f);
    if (!f)
        return fail("eta-cap: out of memory");
    for (int i = 1; i < argc; i++)
        f[i - 1] = (float)num(a[i]);
    float med = 0;
    const float eta = net_eta_capped(f, (size_t)(argc - 1), (float)num(a[0]), &med);
    printf("%.9g %.9g\n", eta, med);
    free(f);
    return 0;
}

static int cmd_plausible(char **a)
{
    size_t n = 0;
    float *x = read_floats(a[2], &n);
    if (!x)
        return fail("plausible: X missing or not float32");
    double norm = 0, limit = 0;
    const int ok = net_payload_plausible(x, n, num(a[0]), (float)num(a[1]), &norm, &limit);
    printf("%d %.17g %.17g\n", ok, norm, limit);
    free(x);
    return 0;
}

static int cmd_dac_fit(char **a)
{
    size_t len = 0;
    float complex *x = read_all(a[1], &len);
    if (!x || len == 0 || len % sizeof *x) {
        free(x);
        return fail("dac-fit: X missing or not complex64");
    }
    float peak = 0;
    const float s = net_burst_fit(x, len / sizeof *x, num(a[0]), &peak);
    printf("%.9g %.9g\n", s, peak);
    int rc = write_all(a[2], x, len) ? fail("dac-fit: cannot write") : 0;
    free(x);
    return rc;
}

/* ---- §7.1 samples as read, §8.2 / §8.3 the server's calibration measurement */

static int cmd_sigmf_read(char **a)
{
    phy_sigmf_reader *r = NULL;
    if (phy_sigmf_reader_open(a[0], &r) != AM_OK)
        return fail(am_last_error());
    FILE *of = fopen(a[1], "wb");
    float complex buf[4096];
    size_t n = 0;
    int rc = of ? 0 : fail("sigmf-read: cannot write");
    while (rc == 0) {
        if (phy_sigmf_reader_read(r, buf, sizeof buf / sizeof buf[0], &n) != AM_OK)
            rc = fail(am_last_error());
        else if (n == 0)
            break;
        else if (fwrite(buf, sizeof buf[0], n, of) != n)
            rc = fail("sigmf-read: cannot write");
    }
    if (of && fclose(of) != 0 && rc == 0)
        rc = fail("sigmf-read: cannot write");
    phy_sigmf_reader_close(r);
    return rc;
}

static int cmd_rx_at(char **a)
{
    phy_ota_rx_cfg cfg;
    phy_ota_rx_cfg_default(&cfg);
    cfg.frame.nfft = (unsigned)num(a[0]);
    cfg.frame.cp_len = (unsigned)num(a[1]);
    cfg.payload_len = (size_t)num(a[2]);
    cfg.cal_slots = (unsigned)num(a[3]);
    cfg.eta = (float)num(a[4]);
    cfg.rho = (float)num(a[5]);
    cfg.pilot_level = (float)num(a[8]);
    cfg.gain_pool = (unsigned)num(a[9]);
    size_t len = 0;
    float complex *x = read_all(a[6], &len);
    phy_ota_rx *q = NULL;
    phy_ota_burst b;
    int rc = 0;
    if (!x || len % sizeof *x)
        rc = fail("rx-at: X missing or not complex64");
    else if (phy_ota_rx_create(&cfg, &q) != AM_OK ||
             phy_ota_rx_decode_at(q, x, len / sizeof *x, &b) != AM_OK)
        rc = fail(am_last_error());
    else {
        FILE *of = fopen(a[7], "wb");
        const unsigned M = b.nfft, S = b.cal_slots;
        /* n0, then G (M complex), then per slot: heard, snr_db, E[0..Q) */
        int ok = of && fwrite(&b.n0, sizeof b.n0, 1, of) == 1 &&
                 fwrite(b.gain, sizeof *b.gain, M, of) == M;
        for (unsigned s = 0; ok && s < S; s++) {
            const float h = b.cal_heard[s];
            ok = fwrite(&h, sizeof h, 1, of) == 1 &&
                 fwrite(&b.cal_snr_db[s], sizeof(float), 1, of) == 1 &&
                 fwrite(b.cal_E + (size_t)s * PHY_CAL_Q, sizeof *b.cal_E, PHY_CAL_Q, of) ==
                     PHY_CAL_Q;
        }
        ok = ok && fwrite(b.payload, sizeof *b.payload, b.payload_len, of) == b.payload_len;
        ok = ok && (!S || fwrite(b.cal_W, sizeof *b.cal_W, (size_t)S * PHY_CAL_Q * PHY_CAL_Q, of) ==
                              (size_t)S * PHY_CAL_Q * PHY_CAL_Q);
        if (of && fclose(of) != 0)
            ok = 0;
        if (!ok)
            rc = fail("rx-at: cannot write");
    }
    phy_ota_rx_destroy(q);
    free(x);
    return rc;
}

static int cmd_agent_beacon(char **a)
{
    ota_agent_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.nfft = (unsigned)num(a[0]);
    cfg.cp_len = (unsigned)num(a[1]);
    cfg.beacon_reps = (unsigned)num(a[2]);
    cfg.smooth = (unsigned)num(a[3]);
    cfg.payload_len = 16;
    ota_agent_sched sc;
    memset(&sc, 0, sizeof sc);
    sc.rho = (float)num(a[4]);
    sc.g_th = (float)num(a[5]);
    const int64_t t0 = strtoll(a[7], NULL, 10);
    sc.beacon = sc.phase_ref = strtoll(a[8], NULL, 10);
    sc.lo = sc.beacon - (int64_t)cfg.cp_len;
    sc.hi = sc.beacon + 2 * (int64_t)cfg.cp_len;
    size_t len = 0;
    float complex *x = read_all(a[6], &len);
    ota_agent *q = NULL;
    float complex *p = calloc(cfg.nfft, sizeof *p);
    ota_agent_link link;
    int rc = 0;
    if (!x || !p || len % sizeof *x)
        rc = fail("agent-beacon: X missing or not complex64");
    else if (ota_agent_create(&cfg, &q) != AM_OK ||
             ota_agent_beacon(q, x, len / sizeof *x, t0, &sc, p, &link) != AM_OK)
        rc = fail(am_last_error());
    else if (!link.found)
        rc = fail("agent-beacon: the beacon was not found");
    else {
        FILE *of = fopen(a[9], "wb");
        const int64_t s = link.start;
        int ok = of && fwrite(&s, sizeof s, 1, of) == 1 &&
                 fwrite(p, sizeof *p, cfg.nfft, of) == cfg.nfft;
        if (of && fclose(of) != 0)
            ok = 0;
        if (!ok)
            rc = fail("agent-beacon: cannot write");
    }
    ota_agent_destroy(q);
    free(p);
    free(x);
    return rc;
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int nargs;
        int (*fn)(char **);
    } cmds[] = {{"tx", 11, cmd_tx},
                {"go-encode", 14, cmd_go},
                {"cal-encode", 7, cmd_cal},
                {"cal-encode-q", 8, cmd_cal},
                {"cal-mu", 2, cmd_cal_mu},
                {"decode", 1, cmd_decode},
                {"cal-update", 4, cmd_cal_update},
                {"cal-interp", 3, cmd_cal_interp},
                {"cal-unmix", 7, cmd_cal_unmix},
                {"cal-excess", 6, cmd_cal_excess},
                {"probe-again", 4, cmd_probe_again},
                {"zmq-tx", 3, cmd_zmq_tx},
                {"zmq-rx", 4, cmd_zmq_rx},
                {"link-db", 4, cmd_link_db},
                {"clock", 5, cmd_clock},
                {"sigmf-tick", 1, cmd_sigmf_tick},
                {"impair-profile", 1, cmd_impair_profile},
                {"sigmf-write", 2, cmd_sigmf_write},
                {"beacon", 4, cmd_beacon},
                {"agent-air", 8, cmd_agent_air},
                {"fields", 1, cmd_fields},
                {"peak-power", 1, cmd_peak_power},
                {"dac-fit", 3, cmd_dac_fit},
                {"sigmf-read", 2, cmd_sigmf_read},
                {"rx-at", 10, cmd_rx_at},
                {"agent-beacon", 10, cmd_agent_beacon},
                {"tx-drift", 12, cmd_tx_drift},
                {"plausible", 3, cmd_plausible}};
    /* the commands of a variable number of arguments */
    if (argc >= 6 && strcmp(argv[1], "encode") == 0)
        return cmd_encode(argc - 2, argv + 2);
    if (argc >= 3 && strcmp(argv[1], "ticks") == 0)
        return cmd_ticks(argc - 2, argv + 2);
    if (argc >= 3 && strcmp(argv[1], "time-ticks") == 0)
        return cmd_time_ticks(argc - 2, argv + 2);
    if (argc >= 4 && strcmp(argv[1], "eta-cap") == 0)
        return cmd_eta_cap(argc - 2, argv + 2);
    for (size_t i = 0; argc >= 2 && i < sizeof cmds / sizeof cmds[0]; i++)
        if (strcmp(argv[1], cmds[i].name) == 0) {
            if (argc != 2 + cmds[i].nargs)
                return fail("wrong number of arguments (see the file's comment)");
            return cmds[i].fn(argv + 2);
        }
    return fail(
        "usage: spec_driver tx|go-encode|cal-encode|cal-encode-q|cal-mu|decode|cal-update|"
        "cal-interp|zmq-tx|zmq-rx|"
        "link-db|clock|sigmf-tick|sigmf-write|beacon|agent-air|encode|fields|ticks|time-ticks|"
        "peak-power|eta-cap|plausible|dac-fit|sigmf-read|rx-at|agent-beacon|tx-drift|"
        "impair-profile ...");
}
