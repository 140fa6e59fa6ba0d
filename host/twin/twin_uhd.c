/* host/twin/twin_uhd: a USRP B210 twin behind UHD 4.3's C API (<uhd.h>): exactly the uhd_*
 * functions host/radio/uhd.c calls, so that uhd.c runs unchanged linked against this library
 * instead of libuhd (the `airmeta-twin` program; fpga-notes/uhd-twin.md). Each device has its own
 * time register and PPS edge, the radio impairments of a phy/impair profile on its TX and RX
 * chains, thermal noise and gains in physical units, and shares one air (twin/air.h) with every
 * other device of the run. Configuration: the environment variable AIRMETA_TWIN, read at every
 * uhd_usrp_make ("key=value,..."; keys in twin_keys below). */
#include <complex.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uhd.h>
#include <zmq.h>

#include "core/rng.h"
#include "phy/impair.h"
#include "twin/air.h"

/* ---------------------------------------------------------------------------------------------
 * Model constants (fpga-notes/uhd-twin.md "Levels"): 0 dBFS out of the DAC at TX gain g leaves
 * the antenna at g - 79.75 dBm (+10 dBm at the B210's 89.75 dB maximum); an input of
 * -15 - g dBm reaches 0 dBFS at RX gain g; thermal noise -174 dBm/Hz + nf_db over the sample rate.
 * ------------------------------------------------------------------------------------------- */
#define TWIN_TX_GAIN_MAX 89.75
#define TWIN_TX_GAIN_STEP 0.25
#define TWIN_RX_GAIN_MAX 76.0
#define TWIN_TX_DBM_AT_0 (-79.75)   /* dBm at 0 dBFS and 0 dB TX gain */
#define TWIN_RX_FS_DBM_AT_0 (-15.0) /* dBm for 0 dBFS at 0 dB RX gain */
#define TWIN_FREQ_MIN 70e6
#define TWIN_FREQ_MAX 6e9
#define TWIN_MCR_MIN 5e6
#define TWIN_MCR_MAX 61.44e6
#define TWIN_REPLY_MS 60000

/* ---------------------------------------------------------------------------------------------
 * Errors: UHD keeps the last message per thread (uhd_get_last_error).
 * ------------------------------------------------------------------------------------------- */
static _Thread_local char last_err[512] = "None";

static uhd_error err(uhd_error e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static uhd_error err(uhd_error e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_err, sizeof last_err, fmt, ap);
    va_end(ap);
    return e;
}

static uhd_error ok(void)
{
    snprintf(last_err, sizeof last_err, "None");
    return UHD_ERROR_NONE;
}

uhd_error uhd_get_last_error(char *error_out, size_t strbuffer_len)
{
    if (!error_out || strbuffer_len == 0)
        return UHD_ERROR_INVALID_DEVICE;
    snprintf(error_out, strbuffer_len, "%s", last_err);
    return UHD_ERROR_NONE;
}

/* ---------------------------------------------------------------------------------------------
 * Process-wide: the ZeroMQ context and the air this process hosts (if any).
 * ------------------------------------------------------------------------------------------- */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static void *g_ctx;
static twin_air *g_air;
static char g_air_ep[256];
static int g_users;
static uint32_t g_made; /* devices made in this process (default seeds) */

/* ---------------------------------------------------------------------------------------------
 * AIRMETA_TWIN.
 * ------------------------------------------------------------------------------------------- */
typedef struct twin_cfg {
    char profile[32];
    uint64_t seed;
    int have_seed;
    char air[256]; /* "" = this process's private air; "@EP" host and bind EP; "EP" connect */
    double rate, loss_db, nf_db, pace, hold_s;
    int pps_none, ref_unlocked, gpsdo, paced;
    unsigned underflow; /* every underflow-th burst runs dry after its first packet (fault) */
    unsigned late;      /* every late-th timed burst reaches the device after its time (fault) */
    unsigned seq;       /* every seq-th burst loses a packet between host and device (fault) */
    unsigned rx_seq;    /* every rx_seq-th RX stream loses a packet between device and host */
    double time_offset; /* seconds by which every time latched at a PPS edge is off (fault) */
} twin_cfg;

static const char *const twin_keys =
    "profile, seed, air, rate, loss_db, nf_db, pace, paced, hold_s, pps, ref, gpsdo, time_offset, "
    "underflow, late, seq, rx_seq";

/* A decimal number: digits, sign, point and exponent only (strtod alone takes 0x10, " 5", inf) */
static int num(const char *v, double *out)
{
    char *e = NULL;
    if (!*v || v[strspn(v, "0123456789+-.eE")] != '\0')
        return 0;
    double x = strtod(v, &e);
    if (e == v || *e != '\0' || !isfinite(x))
        return 0;
    *out = x;
    return 1;
}

/* A whole decimal number lo..hi, ranged as a double before any cast to an integer type (a cast
 * of -5 or 1e300 to unsigned is undefined behaviour) */
static int whole(const char *v, double lo, double hi, double *out)
{
    double x = 0;
    if (!num(v, &x) || !(x >= lo && x <= hi) || x != floor(x))
        return 0;
    *out = x;
    return 1;
}

static uhd_error parse_cfg(twin_cfg *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->profile, sizeof c->profile, "b210-shared-ref");
    c->rate = 1e6;
    c->loss_db = 60;
    c->nf_db = 8;
    c->pace = 1;
    c->hold_s = 0.5;
    const char *env = getenv("AIRMETA_TWIN");
    if (!env)
        return ok();
    char buf[1024];
    if (strlen(env) >= sizeof buf)
        return err(UHD_ERROR_INVALID_DEVICE, "twin: AIRMETA_TWIN is longer than %zu characters",
                   sizeof buf - 1);
    snprintf(buf, sizeof buf, "%s", env);
    const char *seen[64];
    size_t nseen = 0;
    for (char *save = NULL, *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq)
            return err(UHD_ERROR_INVALID_DEVICE, "twin: AIRMETA_TWIN item '%s' is not key=value",
                       kv);
        *eq = '\0';
        const char *k = kv, *v = eq + 1;
        for (size_t i = 0; i < nseen; i++)
            if (strcmp(seen[i], k) == 0) /* which one would hold? */
                return err(UHD_ERROR_INVALID_DEVICE, "twin: AIRMETA_TWIN key '%s' given twice", k);
        if (nseen < sizeof seen / sizeof seen[0])
            seen[nseen++] = k;
        double x = 0;
        int good = 1;
        const char *want = NULL; /* what the key takes, said when refused */
        if (strcmp(k, "profile") == 0) {
            phy_impair_cfg pc;
            phy_impair_cfg_default(&pc);
            if (phy_impair_profile(v, &pc) != AM_OK)
                return err(UHD_ERROR_INVALID_DEVICE,
                           "twin: AIRMETA_TWIN profile='%s' is not one of %s", v,
                           phy_impair_profile_names());
            snprintf(c->profile, sizeof c->profile, "%s", v);
        } else if (strcmp(k, "seed") == 0) {
            want = "a whole number 0..9e15";
            if ((good = whole(v, 0, 9e15, &x)) != 0) {
                c->seed = (uint64_t)x;
                c->have_seed = 1;
            }
        } else if (strcmp(k, "air") == 0) {
            good = *v && strlen(v) < sizeof c->air;
            if (good)
                snprintf(c->air, sizeof c->air, "%s", v);
        } else if (strcmp(k, "rate") == 0) {
            want = "a whole number of samples/s 1000..61440000";
            good = whole(v, 1e3, 61.44e6, &c->rate);
        } else if (strcmp(k, "loss_db") == 0) {
            want = "a number 0..200";
            good = num(v, &c->loss_db) && c->loss_db >= 0 && c->loss_db <= 200;
        } else if (strcmp(k, "nf_db") == 0) {
            want = "a number 0..40";
            good = num(v, &c->nf_db) && c->nf_db >= 0 && c->nf_db <= 40;
        } else if (strcmp(k, "pace") == 0) {
            want = "a number 0.001..1000";
            good = num(v, &c->pace) && c->pace >= 1e-3 && c->pace <= 1e3;
        } else if (strcmp(k, "hold_s") == 0) {
            want = "a number 0..60";
            good = num(v, &c->hold_s) && c->hold_s >= 0 && c->hold_s <= 60;
        } else if (strcmp(k, "paced") == 0) {
            want = "yes or no";
            good = strcmp(v, "yes") == 0 || strcmp(v, "no") == 0;
            c->paced = strcmp(v, "yes") == 0;
        } else if (strcmp(k, "pps") == 0) {
            want = "yes or none";
            good = strcmp(v, "yes") == 0 || strcmp(v, "none") == 0;
            c->pps_none = strcmp(v, "none") == 0;
        } else if (strcmp(k, "ref") == 0) {
            want = "locked or unlocked";
            good = strcmp(v, "locked") == 0 || strcmp(v, "unlocked") == 0;
            c->ref_unlocked = strcmp(v, "unlocked") == 0;
        } else if (strcmp(k, "gpsdo") == 0) {
            want = "yes or no";
            good = strcmp(v, "yes") == 0 || strcmp(v, "no") == 0;
            c->gpsdo = strcmp(v, "yes") == 0;
        } else if (strcmp(k, "underflow") == 0) {
            want = "a whole number 1..1000000";
            if ((good = whole(v, 1, 1e6, &x)) != 0)
                c->underflow = (unsigned)x;
        } else if (strcmp(k, "rx_seq") == 0) {
            want = "a whole number 1..1000000";
            if ((good = whole(v, 1, 1e6, &x)) != 0)
                c->rx_seq = (unsigned)x;
        } else if (strcmp(k, "seq") == 0) {
            want = "a whole number 1..1000000";
            if ((good = whole(v, 1, 1e6, &x)) != 0)
                c->seq = (unsigned)x;
        } else if (strcmp(k, "late") == 0) {
            want = "a whole number 1..1000000";
            if ((good = whole(v, 1, 1e6, &x)) != 0)
                c->late = (unsigned)x;
        } else if (strcmp(k, "time_offset") == 0) {
            want = "a number -1e6..1e6 (seconds)";
            good = num(v, &c->time_offset) && fabs(c->time_offset) <= 1e6;
        } else {
            return err(UHD_ERROR_INVALID_DEVICE, "twin: AIRMETA_TWIN key '%s' unknown (keys: %s)",
                       k, twin_keys);
        }
        if (!good)
            return err(UHD_ERROR_INVALID_DEVICE, "twin: AIRMETA_TWIN %s='%s' is not valid%s%s", k,
                       v, want ? ": want " : "", want ? want : "");
    }
    return ok();
}

/* ---------------------------------------------------------------------------------------------
 * Handles.
 * ------------------------------------------------------------------------------------------- */
typedef struct async_ev {
    uhd_async_metadata_event_code_t code;
    int64_t due;   /* air tick from which it can be read */
    int64_t dtick; /* device tick it refers to */
} async_ev;

struct uhd_usrp {
    void *sock;
    uint32_t id;
    int64_t fs;   /* air rate, ticks per second */
    int64_t utc0; /* the UTC second of air tick 0 (GPS time = utc0 + the air's second) */
    twin_cfg cfg;
    char serial[64];
    uint64_t seed;
    /* settings */
    double mcr;
    int mcr_user;
    double tx_rate, rx_rate, tx_freq, rx_freq, tx_gain, rx_gain;
    char tx_ant[8], rx_ant[8];
    bool agc;
    char clock_src[16], time_src[16];
    /* time register: device tick = air tick + off */
    int64_t off;
    double sfo; /* 1 + the oscillator's offset (phy/impair ppm): device ticks per air tick */
    int pend_set;
    int64_t pend_edge, pend_ticks;
    int64_t pps_phase; /* internal PPS edge phase, air ticks */
    int64_t last_pps_latched;
    /* radio */
    phy_impair *imp;
    double imp_fc, imp_fs;
    am_rng noise;
    /* streams */
    struct uhd_rx_streamer *rx;
    struct uhd_tx_streamer *tx;
};

struct uhd_rx_streamer {
    struct uhd_usrp *u;
    size_t spp;
    int on, ended, late_pending, first;
    int ovf_pending;   /* an overflow to report once the samples before it are read */
    int64_t ovf_at;    /* air tick where the stream resumes */
    int64_t start_air; /* air tick of the stream's first sample */
    int64_t out_idx;   /* samples delivered since */
    unsigned nstreams; /* stream commands started */
    int seq_lose;      /* fault rx_seq: this stream's second packet is lost (not yet reported) */
    size_t seq_gone;   /* samples of it dropped so far */
    float complex *fifo;
    size_t flen, fcap;
    float complex *work;
    size_t wcap;
};

struct uhd_tx_streamer {
    struct uhd_usrp *u;
    size_t spp;
    int next_burst; /* underflow_policy=next_burst */
    float complex *burst;
    size_t blen, bcap, first_len;
    int in_burst, has_time;
    unsigned nbursts, ntimed;
    int64_t dtick; /* device tick of the burst's start */
    async_ev q[64];
    size_t qh, qn;
    float complex *work;
    size_t wcap;
};

struct uhd_rx_metadata_t {
    uhd_rx_metadata_error_code_t ec;
    bool has_time, oos, sob, eob;
    int64_t secs;
    double frac;
};

struct uhd_tx_metadata_t {
    bool has_time, sob, eob;
    int64_t secs;
    double frac;
};

struct uhd_async_metadata_t {
    uhd_async_metadata_event_code_t code;
    int64_t secs;
    double frac;
};

struct uhd_sensor_value_t {
    uhd_sensor_value_data_type_t type;
    bool b;
    int i;
    double r;
    char s[64];
};

/* ---------------------------------------------------------------------------------------------
 * Talking to the air.
 * ------------------------------------------------------------------------------------------- */
static uhd_error air_call(struct uhd_usrp *u,
                          twin_air_req q,
                          const void *data,
                          size_t len,
                          twin_air_rep *rep,
                          zmq_msg_t *payload)
{
    q.dev = u->id;
    if (zmq_send(u->sock, &q, sizeof q, len ? ZMQ_SNDMORE : 0) < 0 ||
        (len && zmq_send(u->sock, data, len, 0) < 0))
        return err(UHD_ERROR_IO, "twin: cannot reach the air at '%s': %s", u->cfg.air,
                   zmq_strerror(zmq_errno()));
    zmq_msg_t m;
    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, u->sock, 0) < 0) {
        zmq_msg_close(&m);
        return err(UHD_ERROR_IO, "twin: no answer from the air at '%s' within %d s", u->cfg.air,
                   TWIN_REPLY_MS / 1000);
    }
    int more = zmq_msg_more(&m);
    if (zmq_msg_size(&m) != sizeof *rep) {
        zmq_msg_close(&m);
        return err(UHD_ERROR_IO, "twin: malformed answer from the air");
    }
    memcpy(rep, zmq_msg_data(&m), sizeof *rep);
    zmq_msg_close(&m);
    zmq_msg_t p;
    zmq_msg_init(&p);
    if (more)
        zmq_msg_recv(&p, u->sock, 0);
    if (rep->status != 0) {
        uhd_error e = err(UHD_ERROR_RUNTIME, "RuntimeError: %.*s", (int)zmq_msg_size(&p),
                          (const char *)zmq_msg_data(&p));
        zmq_msg_close(&p);
        return e;
    }
    if (payload)
        *payload = p;
    else
        zmq_msg_close(&p);
    return UHD_ERROR_NONE;
}

static uhd_error air_now(struct uhd_usrp *u, int64_t *T)
{
    twin_air_rep rep;
    uhd_error e = air_call(u, (twin_air_req){.op = TWIN_AIR_NOW}, NULL, 0, &rep, NULL);
    *T = rep.t;
    return e;
}

/* ---------------------------------------------------------------------------------------------
 * Time register and PPS (fpga-notes/uhd-twin.md "Time").
 * ------------------------------------------------------------------------------------------- */
static int pps_external(const struct uhd_usrp *u)
{
    return strcmp(u->time_src, "internal") != 0;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* The device's clock counts sfo ticks per air tick (its reference's offset): raw ticks since the
 * air began; its time register is raw + off. */
static int64_t raw_of(const struct uhd_usrp *u, int64_t T)
{
    return (int64_t)floor((double)T * u->sfo);
}

static int64_t air_of_raw(const struct uhd_usrp *u, int64_t r)
{
    return (int64_t)ceil((double)r / u->sfo);
}

static int64_t dev_of(const struct uhd_usrp *u, int64_t T)
{
    return raw_of(u, T) + u->off;
}

static int64_t air_of_dev(const struct uhd_usrp *u, int64_t d)
{
    return air_of_raw(u, d - u->off);
}

/* The air tick of the last PPS edge at or before air tick T (next = 0) or of the first after it
 * (next = 1); INT64_MIN when this device sees no PPS. An external PPS (time=external, gpsdo) is
 * the air's whole seconds; the internal one ticks every fs of the device's own clock. */
static int64_t pps_edge(const struct uhd_usrp *u, int64_t T, int next)
{
    if (pps_external(u) && u->cfg.pps_none)
        return INT64_MIN;
    if (pps_external(u))
        return (floor_div(T, u->fs) + next) * u->fs;
    int64_t ph = u->pps_phase, r = raw_of(u, T);
    return air_of_raw(u, ph + (floor_div(r - ph, u->fs) + next) * u->fs);
}

static void apply_pending(struct uhd_usrp *u, int64_t T)
{
    if (u->pend_set && T >= u->pend_edge) {
        u->off =
            u->pend_ticks - raw_of(u, u->pend_edge) + llround(u->cfg.time_offset * (double)u->fs);
        u->pend_set = 0;
    }
}

static int64_t to_dticks(const struct uhd_usrp *u, int64_t secs, double frac)
{
    return secs * u->fs + llround(frac * (double)u->fs);
}

static void from_dticks(const struct uhd_usrp *u, int64_t t, int64_t *secs, double *frac)
{
    *secs = floor_div(t, u->fs);
    *frac = (double)(t - *secs * u->fs) / (double)u->fs;
}

/* ---------------------------------------------------------------------------------------------
 * Device.
 * ------------------------------------------------------------------------------------------- */
static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* "type=b200,serial=X,master_clock_rate=Y": UHD's device address; a twin is a B200/B210. */
static uhd_error parse_devargs(struct uhd_usrp *u, const char *args)
{
    char buf[512];
    if (!args)
        args = "";
    if (strlen(args) >= sizeof buf)
        return err(UHD_ERROR_INVALID_DEVICE, "twin: device args too long");
    snprintf(buf, sizeof buf, "%s", args);
    for (char *save = NULL, *kv = strtok_r(buf, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        const char *k = kv, *v = eq ? eq + 1 : "";
        if (eq)
            *eq = '\0';
        if (strcmp(k, "type") == 0 && strcmp(v, "b200") != 0)
            return err(UHD_ERROR_KEY,
                       "LookupError: KeyError: No devices found for ----->\nDevice Address:\n    "
                       "type: %s\n(the twin is a B200/B210: type=b200)",
                       v);
        if (strcmp(k, "serial") == 0)
            snprintf(u->serial, sizeof u->serial, "%s", v);
        if (strcmp(k, "master_clock_rate") == 0) {
            double m = 0;
            if (!num(v, &m) || m < TWIN_MCR_MIN || m > TWIN_MCR_MAX)
                return err(UHD_ERROR_VALUE,
                           "RuntimeError: master_clock_rate %s outside the AD9361's %g..%g Hz", v,
                           TWIN_MCR_MIN, TWIN_MCR_MAX);
            u->mcr = m;
            u->mcr_user = 1;
        }
    }
    return ok();
}

static uhd_error ctx_acquire(const twin_cfg *c)
{
    pthread_mutex_lock(&g_lock);
    uhd_error e = UHD_ERROR_NONE;
    if (!g_ctx && !(g_ctx = zmq_ctx_new()))
        e = err(UHD_ERROR_IO, "twin: cannot make a ZeroMQ context");
    const char *host = c->air[0] == '\0'  ? "inproc://airmeta-twin-air"
                       : c->air[0] == '@' ? c->air + 1
                                          : NULL;
    if (e == UHD_ERROR_NONE && host && !g_air) {
        twin_air_cfg ac = {.fs = c->rate,
                           .loss_db = c->loss_db,
                           .pace = c->pace,
                           .paced = c->paced,
                           .hold_s = c->hold_s};
        if (twin_air_start(g_ctx, host, &ac, &g_air) != AM_OK)
            e = err(UHD_ERROR_IO, "twin: %s", am_last_error());
        else
            snprintf(g_air_ep, sizeof g_air_ep, "%s", host);
    }
    if (e == UHD_ERROR_NONE)
        g_users++;
    else if (g_users == 0 && g_ctx && !g_air) {
        zmq_ctx_term(g_ctx);
        g_ctx = NULL;
    }
    pthread_mutex_unlock(&g_lock);
    return e;
}

static void ctx_release(void)
{
    pthread_mutex_lock(&g_lock);
    if (--g_users == 0) {
        twin_air_stop(g_air);
        g_air = NULL;
        zmq_ctx_term(g_ctx);
        g_ctx = NULL;
    }
    pthread_mutex_unlock(&g_lock);
}

static uhd_error ensure_impair(struct uhd_usrp *u);

static void usrp_destroy(struct uhd_usrp *u, int joined)
{
    if (u->sock) {
        if (joined) {
            twin_air_rep rep;
            air_call(u, (twin_air_req){.op = TWIN_AIR_LEAVE}, NULL, 0, &rep, NULL);
        }
        zmq_close(u->sock);
        ctx_release();
    }
    phy_impair_destroy(u->imp);
    free(u);
}

uhd_error uhd_usrp_make(uhd_usrp_handle *h, const char *args)
{
    if (!h)
        return err(UHD_ERROR_INVALID_DEVICE, "twin: NULL handle");
    *h = NULL;
    struct uhd_usrp *u = calloc(1, sizeof *u);
    if (!u)
        return err(UHD_ERROR_UNKNOWN, "twin: out of memory");
    uhd_error e = parse_cfg(&u->cfg);
    if (e == UHD_ERROR_NONE)
        e = parse_devargs(u, args);
    if (e != UHD_ERROR_NONE) {
        free(u);
        return e;
    }
    if ((e = ctx_acquire(&u->cfg)) != UHD_ERROR_NONE) {
        free(u);
        return e;
    }
    char ep[sizeof u->cfg.air];
    snprintf(ep, sizeof ep, "%s",
             u->cfg.air[0] == '\0'  ? "inproc://airmeta-twin-air"
             : u->cfg.air[0] == '@' ? u->cfg.air + 1
                                    : u->cfg.air);
    snprintf(u->cfg.air, sizeof u->cfg.air, "%s", ep); /* the endpoint, for messages */
    u->sock = zmq_socket(g_ctx, ZMQ_DEALER);
    int zero = 0, tmo = TWIN_REPLY_MS;
    if (u->sock) {
        zmq_setsockopt(u->sock, ZMQ_LINGER, &zero, sizeof zero);
        zmq_setsockopt(u->sock, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
    }
    if (!u->sock || zmq_connect(u->sock, ep) != 0) {
        e = err(UHD_ERROR_IO, "twin: cannot connect to the air at '%s'", ep);
        if (!u->sock)
            ctx_release();
        usrp_destroy(u, 0);
        return e;
    }
    twin_air_rep rep;
    if ((e = air_call(u, (twin_air_req){.op = TWIN_AIR_JOIN}, NULL, 0, &rep, NULL)) !=
        UHD_ERROR_NONE) {
        usrp_destroy(u, 0);
        return e;
    }
    u->id = rep.dev;
    u->fs = rep.a;
    u->utc0 = (int64_t)rep.n;
    pthread_mutex_lock(&g_lock);
    uint32_t ord = g_made++;
    pthread_mutex_unlock(&g_lock);
    char who[80];
    if (u->serial[0])
        snprintf(who, sizeof who, "serial:%s", u->serial);
    else
        snprintf(who, sizeof who, "device:%u", ord);
    u->seed = (u->cfg.have_seed ? u->cfg.seed : 1) ^ hash_str(who);
    am_rng rs;
    am_rng_seed2(&rs, u->seed, 7);
    u->pps_phase = (int64_t)am_rng_below(&rs, (uint32_t)(u->fs > 0 ? u->fs : 1));
    am_rng_seed2(&u->noise, u->seed, 11);
    /* B200 defaults after make */
    if (!u->mcr_user)
        u->mcr = 16e6;
    u->tx_rate = u->rx_rate = u->mcr / 16;
    u->tx_freq = u->rx_freq = 915e6;
    snprintf(u->tx_ant, sizeof u->tx_ant, "TX/RX");
    snprintf(u->rx_ant, sizeof u->rx_ant, "RX2");
    snprintf(u->clock_src, sizeof u->clock_src, "internal");
    snprintf(u->time_src, sizeof u->time_src, "internal");
    /* the oscillator (the profile's ppm), then the register: 0 at power-up (+ the fault offset) */
    u->sfo = 1;
    if ((e = ensure_impair(u)) != UHD_ERROR_NONE) {
        usrp_destroy(u, 1);
        return e;
    }
    u->off = -raw_of(u, rep.t);
    *h = u;
    return ok();
}

uhd_error uhd_usrp_free(uhd_usrp_handle *h)
{
    if (!h)
        return err(UHD_ERROR_INVALID_DEVICE, "twin: NULL handle");
    if (*h)
        usrp_destroy(*h, 1);
    *h = NULL;
    return ok();
}

uhd_error uhd_usrp_get_mboard_name(uhd_usrp_handle h, size_t mboard, char *out, size_t len)
{
    if (mboard != 0)
        return err(UHD_ERROR_INDEX, "IndexError: mboard %zu (a B210 has one)", mboard);
    (void)h;
    snprintf(out, len, "B210");
    return ok();
}

/* ---- rates: the B200 picks the master clock itself unless master_clock_rate was given ---- */
static uhd_error set_rate(struct uhd_usrp *u, double rate, double *dst)
{
    if (!(rate > 0) || !isfinite(rate))
        return err(UHD_ERROR_VALUE, "ValueError: rate %g", rate);
    if (!u->mcr_user) {
        /* the largest clock <= 61.44 MHz that is rate times a power of two */
        double m = rate;
        while (m * 2 <= TWIN_MCR_MAX)
            m *= 2;
        u->mcr = m < TWIN_MCR_MIN ? TWIN_MCR_MIN : m > TWIN_MCR_MAX ? TWIN_MCR_MAX : m;
    }
    double d = round(u->mcr / rate);
    if (d < 1)
        d = 1;
    if (d > 512)
        d = 512;
    *dst = u->mcr / d;
    return ok();
}

uhd_error uhd_usrp_set_tx_rate(uhd_usrp_handle h, double rate, size_t chan)
{
    (void)chan;
    return set_rate(h, rate, &h->tx_rate);
}
uhd_error uhd_usrp_set_rx_rate(uhd_usrp_handle h, double rate, size_t chan)
{
    (void)chan;
    return set_rate(h, rate, &h->rx_rate);
}
uhd_error uhd_usrp_get_tx_rate(uhd_usrp_handle h, size_t chan, double *out)
{
    (void)chan;
    *out = h->tx_rate;
    return ok();
}
uhd_error uhd_usrp_get_rx_rate(uhd_usrp_handle h, size_t chan, double *out)
{
    (void)chan;
    *out = h->rx_rate;
    return ok();
}
uhd_error uhd_usrp_get_master_clock_rate(uhd_usrp_handle h, size_t mboard, double *out)
{
    (void)mboard;
    *out = h->mcr;
    return ok();
}

/* ---- tuning: every tune leaves the AD9361's LOs at a new random phase ---- */
static uhd_error
tune(struct uhd_usrp *u, const uhd_tune_request_t *req, double *dst, uhd_tune_result_t *res)
{
    if (!req || !isfinite(req->target_freq))
        return err(UHD_ERROR_VALUE, "ValueError: tune request");
    double f = req->target_freq;
    f = f < TWIN_FREQ_MIN ? TWIN_FREQ_MIN : f > TWIN_FREQ_MAX ? TWIN_FREQ_MAX : f;
    *dst = f;
    if (res)
        *res = (uhd_tune_result_t){f, f, f, 0, 0};
    if (u->imp)
        phy_impair_retune(u->imp);
    return ok();
}

uhd_error uhd_usrp_set_tx_freq(uhd_usrp_handle h,
                               uhd_tune_request_t *req,
                               size_t chan,
                               uhd_tune_result_t *res)
{
    (void)chan;
    return tune(h, req, &h->tx_freq, res);
}
uhd_error uhd_usrp_set_rx_freq(uhd_usrp_handle h,
                               uhd_tune_request_t *req,
                               size_t chan,
                               uhd_tune_result_t *res)
{
    (void)chan;
    return tune(h, req, &h->rx_freq, res);
}
uhd_error uhd_usrp_get_tx_freq(uhd_usrp_handle h, size_t chan, double *out)
{
    (void)chan;
    *out = h->tx_freq;
    return ok();
}
uhd_error uhd_usrp_get_rx_freq(uhd_usrp_handle h, size_t chan, double *out)
{
    (void)chan;
    *out = h->rx_freq;
    return ok();
}

/* ---- gains, as the AD9361 takes them (ad9361_device_t::set_gain [UHD-AD9361]): a request clipped
 * to the range (0..89.75, 0..76 dB); TX is an attenuation of floor((89.75 - g) * 4) steps of
 * 0.25 dB below 89.75 (a gain between steps rounds up), RX a gain-table index of floor(g) 1-dB
 * steps; both are dB-linear: an amplitude of 10^(g/20) (the levels below) ---- */
static double tx_gain_taken(double g)
{
    if (!isfinite(g) || g < 0)
        g = 0;
    if (g > TWIN_TX_GAIN_MAX)
        g = TWIN_TX_GAIN_MAX;
    const double steps = floor((TWIN_TX_GAIN_MAX - g) * 4.0); /* uint32_t(atten * 4) */
    return TWIN_TX_GAIN_MAX - steps * TWIN_TX_GAIN_STEP;
}

static double rx_gain_taken(double g)
{
    if (!isfinite(g) || g < 0)
        g = 0;
    if (g > TWIN_RX_GAIN_MAX)
        g = TWIN_RX_GAIN_MAX;
    return floor(g); /* static_cast<int>(value) */
}

uhd_error uhd_usrp_set_tx_gain(uhd_usrp_handle h, double gain, size_t chan, const char *name)
{
    (void)chan;
    (void)name;
    h->tx_gain = tx_gain_taken(gain);
    return ok();
}
uhd_error uhd_usrp_set_rx_gain(uhd_usrp_handle h, double gain, size_t chan, const char *name)
{
    (void)chan;
    (void)name;
    h->rx_gain = rx_gain_taken(gain);
    return ok();
}
uhd_error uhd_usrp_get_tx_gain(uhd_usrp_handle h, size_t chan, const char *name, double *out)
{
    (void)chan;
    (void)name;
    *out = h->tx_gain;
    return ok();
}
uhd_error uhd_usrp_get_rx_gain(uhd_usrp_handle h, size_t chan, const char *name, double *out)
{
    (void)chan;
    (void)name;
    *out = h->rx_gain;
    return ok();
}
uhd_error uhd_usrp_set_rx_agc(uhd_usrp_handle h, bool enable, size_t chan)
{
    (void)chan;
    h->agc = enable;
    return ok();
}

uhd_error uhd_usrp_set_tx_antenna(uhd_usrp_handle h, const char *ant, size_t chan)
{
    (void)chan;
    if (!ant || strcmp(ant, "TX/RX") != 0)
        return err(UHD_ERROR_VALUE, "ValueError: TX antenna '%s' (the B210 has TX/RX)",
                   ant ? ant : "");
    snprintf(h->tx_ant, sizeof h->tx_ant, "%s", ant);
    return ok();
}
uhd_error uhd_usrp_set_rx_antenna(uhd_usrp_handle h, const char *ant, size_t chan)
{
    (void)chan;
    if (!ant || (strcmp(ant, "TX/RX") != 0 && strcmp(ant, "RX2") != 0))
        return err(UHD_ERROR_VALUE, "ValueError: RX antenna '%s' (the B210 has TX/RX, RX2)",
                   ant ? ant : "");
    snprintf(h->rx_ant, sizeof h->rx_ant, "%s", ant);
    return ok();
}

/* ---- sources and sensors ---- */
static uhd_error set_source(struct uhd_usrp *u, const char *src, char *dst, size_t cap)
{
    if (!src ||
        (strcmp(src, "internal") != 0 && strcmp(src, "external") != 0 && strcmp(src, "gpsdo") != 0))
        return err(UHD_ERROR_VALUE, "ValueError: source '%s' (internal, external, gpsdo)",
                   src ? src : "");
    if (strcmp(src, "gpsdo") == 0 && !u->cfg.gpsdo)
        return err(
            UHD_ERROR_VALUE,
            "ValueError: source 'gpsdo' but this B210 has no GPSDO (AIRMETA_TWIN gpsdo=yes)");
    snprintf(dst, cap, "%s", src);
    return ok();
}

uhd_error uhd_usrp_set_clock_source(uhd_usrp_handle h, const char *src, size_t mboard)
{
    (void)mboard;
    return set_source(h, src, h->clock_src, sizeof h->clock_src);
}
uhd_error uhd_usrp_set_time_source(uhd_usrp_handle h, const char *src, size_t mboard)
{
    (void)mboard;
    return set_source(h, src, h->time_src, sizeof h->time_src);
}

uhd_error uhd_sensor_value_make(uhd_sensor_value_handle *h)
{
    *h = calloc(1, sizeof **h);
    return *h ? ok() : err(UHD_ERROR_UNKNOWN, "twin: out of memory");
}
uhd_error uhd_sensor_value_free(uhd_sensor_value_handle *h)
{
    free(*h);
    *h = NULL;
    return ok();
}
uhd_error uhd_sensor_value_to_bool(uhd_sensor_value_handle h, bool *out)
{
    if (h->type != UHD_SENSOR_VALUE_BOOLEAN)
        return err(UHD_ERROR_VALUE, "ValueError: sensor value is not a boolean");
    *out = h->b;
    return ok();
}
uhd_error uhd_sensor_value_to_int(uhd_sensor_value_handle h, int *out)
{
    if (h->type != UHD_SENSOR_VALUE_INTEGER)
        return err(UHD_ERROR_VALUE, "ValueError: sensor value is not an integer");
    *out = h->i;
    return ok();
}

uhd_error uhd_usrp_get_mboard_sensor(uhd_usrp_handle h,
                                     const char *name,
                                     size_t mboard,
                                     uhd_sensor_value_handle *out)
{
    (void)mboard;
    struct uhd_sensor_value_t *v = *out;
    int64_t T = 0;
    uhd_error e = air_now(h, &T);
    if (e != UHD_ERROR_NONE)
        return e;
    if (strcmp(name, "ref_locked") == 0) {
        v->type = UHD_SENSOR_VALUE_BOOLEAN;
        v->b = strcmp(h->clock_src, "internal") == 0 ||
               (strcmp(h->clock_src, "external") == 0 && !h->cfg.ref_unlocked) ||
               strcmp(h->clock_src, "gpsdo") == 0;
        return ok();
    }
    if (h->cfg.gpsdo && strcmp(name, "gps_locked") == 0) {
        v->type = UHD_SENSOR_VALUE_BOOLEAN;
        v->b = true;
        return ok();
    }
    if (h->cfg.gpsdo && strcmp(name, "gps_time") == 0) {
        /* UHD's gps_ctrl waits for the next GPRMC sentence (up to 1.3 s, twice) and returns its
         * time, seconds since 1970: the GPSDO sends it after each PPS edge (here 0.1 s after,
         * assumed), naming that edge's second; the air's seconds are UTC seconds */
        const int64_t lat = h->fs / 10;
        for (int tries = 0; tries < 2; tries++) {
            int64_t k = floor_div(T - lat, h->fs) + 1, due = k * h->fs + lat;
            twin_air_rep rep;
            int64_t tmo = h->fs * 13 / 10;
            if ((e = air_call(h, (twin_air_req){.op = TWIN_AIR_WAIT, .a = due, .b = tmo}, NULL, 0,
                              &rep, NULL)) != UHD_ERROR_NONE)
                return e;
            T = rep.t;
            if (T >= due) {
                v->type = UHD_SENSOR_VALUE_INTEGER;
                v->i = (int)(h->utc0 + k);
                return ok();
            }
        }
        return err(UHD_ERROR_VALUE, "ValueError: get_time: Timeout after no valid message found");
    }
    return err(UHD_ERROR_LOOKUP, "LookupError: Path not found in tree: /mboards/0/sensors/%s",
               name);
}

/* ---- time ---- */
uhd_error uhd_usrp_get_time_now(uhd_usrp_handle h, size_t mboard, int64_t *secs, double *frac)
{
    (void)mboard;
    int64_t T = 0;
    uhd_error e = air_now(h, &T);
    if (e != UHD_ERROR_NONE)
        return e;
    apply_pending(h, T);
    from_dticks(h, dev_of(h, T), secs, frac);
    return ok();
}

uhd_error uhd_usrp_get_time_last_pps(uhd_usrp_handle h, size_t mboard, int64_t *secs, double *frac)
{
    (void)mboard;
    int64_t T = 0;
    uhd_error e = air_now(h, &T);
    if (e != UHD_ERROR_NONE)
        return e;
    apply_pending(h, T);
    int64_t E = pps_edge(h, T, 0);
    if (E != INT64_MIN)
        h->last_pps_latched = dev_of(h, E);
    from_dticks(h, h->last_pps_latched, secs, frac);
    return ok();
}

uhd_error uhd_usrp_set_time_now(uhd_usrp_handle h, int64_t secs, double frac, size_t mboard)
{
    (void)mboard;
    int64_t T = 0;
    uhd_error e = air_now(h, &T);
    if (e != UHD_ERROR_NONE)
        return e;
    h->pend_set = 0;
    h->off = to_dticks(h, secs, frac) - raw_of(h, T);
    return ok();
}

uhd_error uhd_usrp_set_time_next_pps(uhd_usrp_handle h, int64_t secs, double frac, size_t mboard)
{
    (void)mboard;
    int64_t T = 0;
    uhd_error e = air_now(h, &T);
    if (e != UHD_ERROR_NONE)
        return e;
    apply_pending(h, T);
    int64_t E = pps_edge(h, T, 1);
    h->pend_set = 1;
    h->pend_edge = E == INT64_MIN ? INT64_MAX : E; /* no PPS: never latched */
    h->pend_ticks = to_dticks(h, secs, frac);
    return ok();
}

/* ---------------------------------------------------------------------------------------------
 * Radio chains.
 * ------------------------------------------------------------------------------------------- */
static uhd_error ensure_impair(struct uhd_usrp *u)
{
    phy_impair_cfg c;
    phy_impair_cfg_default(&c);
    phy_impair_profile(u->cfg.profile, &c);
    if (phy_impair_cfg_is_ideal(&c)) {
        phy_impair_destroy(u->imp);
        u->imp = NULL;
        return ok();
    }
    if (u->imp && u->imp_fc == u->rx_freq && u->imp_fs == (double)u->fs)
        return ok();
    phy_impair_destroy(u->imp);
    u->imp = NULL;
    c.fs_hz = (double)u->fs;
    c.fc_hz = u->rx_freq;
    c.seed = u->seed;
    if (phy_impair_create(&c, &u->imp) != AM_OK)
        return err(UHD_ERROR_RUNTIME, "twin: %s", am_last_error());
    u->imp_fc = u->rx_freq;
    u->imp_fs = (double)u->fs;
    /* the RX level at which the ADC clips at full scale (sc16: |I|, |Q| <= 1) */
    phy_impair_state st;
    phy_impair_get_state(u->imp, &st);
    u->sfo = 1 + st.ppm * 1e-6;
    float g2 = crealf(st.g_rx * conjf(st.g_rx));
    phy_impair_set_rx_level(u->imp, (float)pow(10.0, -c.adc_backoff_db / 10.0) / (g2 > 0 ? g2 : 1));
    return ok();
}

static int grow(float complex **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 1;
    size_t c = *cap ? *cap : 4096;
    while (c < need)
        c *= 2;
    float complex *p = realloc(*buf, c * sizeof *p);
    if (!p)
        return 0;
    *buf = p;
    *cap = c;
    return 1;
}

static float clip1(float v)
{
    return v > 1.0f ? 1.0f : v < -1.0f ? -1.0f : v;
}

static size_t max_spp(const uhd_stream_args_t *sa)
{
    /* B210 on USB 3: UHD's B200_USB_DATA_DEFAULT_FRAME_SIZE 8176 bytes less the 16-byte CHDR
     * header, over the bytes per sample of the wire format (b200_io_impl.cpp) */
    const char *otw = sa && sa->otw_format && *sa->otw_format ? sa->otw_format : "sc16";
    return strcmp(otw, "sc8") == 0 ? 4080 : strcmp(otw, "sc12") == 0 ? 2720 : 2040;
}

static uhd_error check_stream_args(struct uhd_usrp *u, const uhd_stream_args_t *sa, double rate)
{
    if (!sa || !sa->cpu_format || strcmp(sa->cpu_format, "fc32") != 0)
        return err(UHD_ERROR_VALUE, "twin: only cpu_format fc32 is modelled");
    if (sa->otw_format && *sa->otw_format && strcmp(sa->otw_format, "sc16") != 0 &&
        strcmp(sa->otw_format, "sc12") != 0 && strcmp(sa->otw_format, "sc8") != 0)
        return err(UHD_ERROR_VALUE, "ValueError: otw_format '%s'", sa->otw_format);
    if (sa->n_channels != 1 || !sa->channel_list || sa->channel_list[0] > 1)
        return err(UHD_ERROR_VALUE, "twin: one channel (0 or 1) per streamer");
    if (fabs(rate - (double)u->fs) > 1e-6)
        return err(UHD_ERROR_VALUE,
                   "twin: this device streams at %.17g S/s but the air runs at %lld S/s (set "
                   "AIRMETA_TWIN rate=... where the air is made)",
                   rate, (long long)u->fs);
    return ensure_impair(u);
}

/* ---------------------------------------------------------------------------------------------
 * RX streamer.
 * ------------------------------------------------------------------------------------------- */
uhd_error uhd_rx_streamer_make(uhd_rx_streamer_handle *h)
{
    *h = calloc(1, sizeof **h);
    return *h ? ok() : err(UHD_ERROR_UNKNOWN, "twin: out of memory");
}

uhd_error uhd_rx_streamer_free(uhd_rx_streamer_handle *h)
{
    struct uhd_rx_streamer *s = *h;
    if (s) {
        if (s->u && s->on) {
            twin_air_rep rep;
            air_call(s->u, (twin_air_req){.op = TWIN_AIR_RXSTOP}, NULL, 0, &rep, NULL);
        }
        if (s->u && s->u->rx == s)
            s->u->rx = NULL;
        free(s->fifo);
        free(s->work);
        free(s);
    }
    *h = NULL;
    return ok();
}

uhd_error uhd_usrp_get_rx_stream(uhd_usrp_handle h, uhd_stream_args_t *sa, uhd_rx_streamer_handle s)
{
    uhd_error e = check_stream_args(h, sa, h->rx_rate);
    if (e != UHD_ERROR_NONE)
        return e;
    s->u = h;
    s->spp = max_spp(sa);
    h->rx = s;
    return ok();
}

uhd_error uhd_rx_streamer_max_num_samps(uhd_rx_streamer_handle h, size_t *out)
{
    *out = h->spp;
    return ok();
}

uhd_error uhd_rx_streamer_issue_stream_cmd(uhd_rx_streamer_handle s, const uhd_stream_cmd_t *cmd)
{
    struct uhd_usrp *u = s->u;
    if (!u)
        return err(UHD_ERROR_RUNTIME, "twin: streamer not made by uhd_usrp_get_rx_stream");
    twin_air_rep rep;
    uhd_error e;
    if (cmd->stream_mode == UHD_STREAM_MODE_STOP_CONTINUOUS) {
        e = air_call(u, (twin_air_req){.op = TWIN_AIR_RXSTOP}, NULL, 0, &rep, NULL);
        s->on = 0;
        s->flen = 0;
        return e != UHD_ERROR_NONE ? e : ok();
    }
    int64_t n = 0;
    if (cmd->stream_mode == UHD_STREAM_MODE_NUM_SAMPS_AND_DONE ||
        cmd->stream_mode == UHD_STREAM_MODE_NUM_SAMPS_AND_MORE) {
        /* rx_vita_core_3000::issue_stream_command: zero samples is ignored (a warning), more
         * than the 28-bit field an assertion error */
        if (cmd->num_samps == 0)
            return ok();
        if (cmd->num_samps > 0x0fffffff)
            return err(UHD_ERROR_ASSERTION,
                       "AssertionError: Invalid stream command: num_samps exceeds maximum value! "
                       "(Note: Chain multiple commands to request larger bursts)");
        n = (int64_t)cmd->num_samps;
    } else if (cmd->stream_mode != UHD_STREAM_MODE_START_CONTINUOUS) {
        return err(UHD_ERROR_VALUE, "ValueError: stream mode %d", (int)cmd->stream_mode);
    }
    int64_t at = -1;
    if (!cmd->stream_now) {
        int64_t T = 0;
        if ((e = air_now(u, &T)) != UHD_ERROR_NONE)
            return e;
        apply_pending(u, T);
        at = air_of_dev(u, to_dticks(u, cmd->time_spec_full_secs, cmd->time_spec_frac_secs));
        if (at < 0)
            at = 0; /* before the air began: late anyway */
    }
    if ((e = air_call(u, (twin_air_req){.op = TWIN_AIR_RXSTART, .a = at, .b = n}, NULL, 0, &rep,
                      NULL)) != UHD_ERROR_NONE)
        return e;
    s->flen = 0;
    if (rep.code == 1) {
        /* the device drops a late command and reports it in the stream (ERROR_CODE_LATE_COMMAND) */
        s->late_pending = 1;
        s->on = 0;
        return ok();
    }
    s->on = 1;
    s->ended = 0;
    s->first = 1;
    s->start_air = rep.a;
    s->out_idx = 0;
    /* fault: a packet lost between device and host (USB) in every rx_seq-th stream of more than
     * two packets: its second */
    s->nstreams++;
    s->seq_lose = u->cfg.rx_seq && s->nstreams % u->cfg.rx_seq == 0 &&
                  (n == 0 || n > 2 * (int64_t)s->spp);
    s->seq_gone = 0;
    if (u->imp) /* the sample stamped dev_of(rep.a) is taken at air time raw_of(rep.a) / sfo */
        phy_impair_start_frac(u->imp, PHY_IMPAIR_RX, (uint64_t)rep.a,
                              (double)raw_of(u, rep.a) / u->sfo - (double)rep.a);
    return ok();
}

uhd_error uhd_rx_metadata_make(uhd_rx_metadata_handle *h)
{
    *h = calloc(1, sizeof **h);
    return *h ? ok() : err(UHD_ERROR_UNKNOWN, "twin: out of memory");
}
uhd_error uhd_rx_metadata_free(uhd_rx_metadata_handle *h)
{
    free(*h);
    *h = NULL;
    return ok();
}
uhd_error uhd_rx_metadata_error_code(uhd_rx_metadata_handle h, uhd_rx_metadata_error_code_t *out)
{
    *out = h->ec;
    return ok();
}
uhd_error uhd_rx_metadata_has_time_spec(uhd_rx_metadata_handle h, bool *out)
{
    *out = h->has_time;
    return ok();
}
uhd_error uhd_rx_metadata_time_spec(uhd_rx_metadata_handle h, int64_t *secs, double *frac)
{
    *secs = h->secs;
    *frac = h->frac;
    return ok();
}
uhd_error uhd_rx_metadata_out_of_sequence(uhd_rx_metadata_handle h, bool *out)
{
    *out = h->oos;
    return ok();
}
uhd_error uhd_rx_metadata_strerror(uhd_rx_metadata_handle h, char *out, size_t len)
{
    static const char *const names[] = {
        [0x0] = "ERROR_CODE_NONE",         [0x1] = "ERROR_CODE_TIMEOUT",
        [0x2] = "ERROR_CODE_LATE_COMMAND", [0x4] = "ERROR_CODE_BROKEN_CHAIN",
        [0x8] = "ERROR_CODE_OVERFLOW",     [0xC] = "ERROR_CODE_ALIGNMENT",
        [0xF] = "ERROR_CODE_BAD_PACKET"};
    unsigned c = (unsigned)h->ec;
    snprintf(out, len, "%s", c < 16 && names[c] ? names[c] : "ERROR_CODE_UNKNOWN");
    return ok();
}

/* The antenna signal r (sqrt mW) of n samples -> the ADC's samples appended to the FIFO. */
static uhd_error rx_chain(struct uhd_rx_streamer *s, float complex *r, size_t n, int flush)
{
    struct uhd_usrp *u = s->u;
    double nvar = pow(10.0, (-174.0 + u->cfg.nf_db) / 10.0) * (double)u->fs; /* mW */
    float sn = (float)sqrt(nvar), g = (float)pow(10.0, (u->rx_gain - TWIN_RX_FS_DBM_AT_0) / 20.0);
    for (size_t i = 0; i < n; i++)
        r[i] = g * (r[i] + sn * am_rng_cnormal(&u->noise));
    size_t lat = u->imp && flush ? phy_impair_latency(u->imp, PHY_IMPAIR_RX) : 0;
    size_t room = u->imp ? phy_impair_max_out(u->imp, PHY_IMPAIR_RX, n) +
                               phy_impair_max_out(u->imp, PHY_IMPAIR_RX, lat + 1)
                         : n;
    if (!grow(&s->fifo, &s->fcap, s->flen + room))
        return err(UHD_ERROR_UNKNOWN, "twin: out of memory");
    size_t got = n;
    if (u->imp) {
        if (phy_impair_execute(u->imp, PHY_IMPAIR_RX, r, n, s->fifo + s->flen, s->fcap - s->flen,
                               &got) != AM_OK)
            return err(UHD_ERROR_RUNTIME, "twin: %s", am_last_error());
        if (lat) {
            float complex z[PHY_IMPAIR_M + 2] = {0};
            size_t g2 = 0;
            phy_impair_execute(u->imp, PHY_IMPAIR_RX, z, lat, s->fifo + s->flen + got,
                               s->fcap - s->flen - got, &g2);
            got += g2;
        }
    } else {
        memcpy(s->fifo + s->flen, r, n * sizeof *r);
    }
    for (size_t i = s->flen; i < s->flen + got; i++) /* sc16 full scale */
        s->fifo[i] = clip1(crealf(s->fifo[i])) + I * clip1(cimagf(s->fifo[i]));
    s->flen += got;
    return ok();
}

uhd_error uhd_rx_streamer_recv(uhd_rx_streamer_handle s,
                               void **buffs,
                               size_t n,
                               uhd_rx_metadata_handle *mdp,
                               double timeout,
                               bool one_packet,
                               size_t *items)
{
    struct uhd_usrp *u = s->u;
    struct uhd_rx_metadata_t *md = *mdp;
    memset(md, 0, sizeof *md);
    *items = 0;
    if (!u)
        return err(UHD_ERROR_RUNTIME, "twin: streamer not made by uhd_usrp_get_rx_stream");
    if (s->late_pending) {
        s->late_pending = 0;
        md->ec = UHD_RX_METADATA_ERROR_CODE_LATE_COMMAND;
        return ok();
    }
    if (one_packet && n > s->spp)
        n = s->spp;
    if (s->flen < n && s->on && !s->ovf_pending) {
        size_t lat = u->imp ? phy_impair_latency(u->imp, PHY_IMPAIR_RX) : 0;
        int64_t want = (int64_t)(n - s->flen) + (s->first ? (int64_t)lat : 0) + (u->imp ? 2 : 0);
        int64_t tmo = timeout > 0 ? (int64_t)ceil(timeout * (double)u->fs) : 0;
        twin_air_rep rep;
        zmq_msg_t p;
        uhd_error e =
            air_call(u, (twin_air_req){.op = TWIN_AIR_RX, .a = want, .b = tmo}, NULL, 0, &rep, &p);
        if (e != UHD_ERROR_NONE)
            return e;
        size_t m = zmq_msg_size(&p) / sizeof(float complex);
        if (m != rep.n) {
            zmq_msg_close(&p);
            return err(UHD_ERROR_IO, "twin: malformed RX span from the air");
        }
        if (m) {
            if (!grow(&s->work, &s->wcap, m)) {
                zmq_msg_close(&p);
                return err(UHD_ERROR_UNKNOWN, "twin: out of memory");
            }
            memcpy(s->work, zmq_msg_data(&p), m * sizeof *s->work);
            s->first = 0;
        }
        zmq_msg_close(&p);
        if (rep.code & 2) {
            s->ovf_pending = 1;
            s->ovf_at = rep.a;
        }
        if (rep.code & 1)
            s->on = 0, s->ended = 1;
        if (m || (s->ended && !(rep.code & 2)))
            if ((e = rx_chain(s, s->work, m, s->ended)) != UHD_ERROR_NONE)
                return e;
    }
    if (s->flen == 0 && s->ovf_pending) {
        /* UHD reports the overflow inline; the next samples carry the new time */
        s->ovf_pending = 0;
        s->start_air = s->ovf_at;
        s->out_idx = 0;
        s->first = 1;
        if (u->imp)
            phy_impair_start_frac(u->imp, PHY_IMPAIR_RX, (uint64_t)s->ovf_at,
                                  (double)raw_of(u, s->ovf_at) / u->sfo - (double)s->ovf_at);
        md->ec = UHD_RX_METADATA_ERROR_CODE_OVERFLOW;
        return ok();
    }
    if (s->flen == 0) {
        md->ec = UHD_RX_METADATA_ERROR_CODE_TIMEOUT;
        return ok();
    }
    if (s->seq_lose && s->out_idx == (int64_t)s->spp) {
        /* the lost packet: UHD's recv reports ERROR_CODE_OVERFLOW with out_of_sequence and the
         * time it was due, no samples; the next packet's samples carry their own time
         * (super_recv_packet_handler PACKET_SEQUENCE_ERROR [UHD-RXSEQ]) */
        size_t d = s->spp - s->seq_gone < s->flen ? s->spp - s->seq_gone : s->flen;
        memmove(s->fifo, s->fifo + d, (s->flen - d) * sizeof *s->fifo);
        s->flen -= d;
        s->seq_gone += d;
        if (s->seq_gone < s->spp) { /* the rest of it has not reached us yet */
            md->ec = UHD_RX_METADATA_ERROR_CODE_TIMEOUT;
            return ok();
        }
        s->seq_lose = 0;
        md->ec = UHD_RX_METADATA_ERROR_CODE_OVERFLOW;
        md->oos = true;
        md->has_time = true;
        from_dticks(u, dev_of(u, s->start_air) + s->out_idx, &md->secs, &md->frac);
        s->out_idx += (int64_t)s->spp;
        return ok();
    }
    size_t k = n < s->flen ? n : s->flen;
    if (s->seq_lose && s->out_idx < (int64_t)s->spp && k > s->spp - (size_t)s->out_idx)
        k = s->spp - (size_t)s->out_idx; /* packet 1 ends where the lost one begins */
    memcpy(buffs[0], s->fifo, k * sizeof *s->fifo);
    memmove(s->fifo, s->fifo + k, (s->flen - k) * sizeof *s->fifo);
    s->flen -= k;
    md->has_time = true;
    from_dticks(u, dev_of(u, s->start_air) + s->out_idx, &md->secs, &md->frac);
    md->sob = s->out_idx == 0;
    s->out_idx += (int64_t)k;
    md->eob = s->ended && s->flen == 0;
    *items = k;
    return ok();
}

/* ---------------------------------------------------------------------------------------------
 * TX streamer.
 * ------------------------------------------------------------------------------------------- */
uhd_error uhd_tx_streamer_make(uhd_tx_streamer_handle *h)
{
    *h = calloc(1, sizeof **h);
    return *h ? ok() : err(UHD_ERROR_UNKNOWN, "twin: out of memory");
}

uhd_error uhd_tx_streamer_free(uhd_tx_streamer_handle *h)
{
    struct uhd_tx_streamer *s = *h;
    if (s) {
        if (s->u && s->u->tx == s)
            s->u->tx = NULL;
        free(s->burst);
        free(s->work);
        free(s);
    }
    *h = NULL;
    return ok();
}

uhd_error uhd_usrp_get_tx_stream(uhd_usrp_handle h, uhd_stream_args_t *sa, uhd_tx_streamer_handle s)
{
    uhd_error e = check_stream_args(h, sa, h->tx_rate);
    if (e != UHD_ERROR_NONE)
        return e;
    /* tx_vita_core_3000: underflow_policy next_packet (the default), next_burst or wait */
    const char *pol = sa->args ? strstr(sa->args, "underflow_policy=") : NULL;
    s->next_burst = 0;
    if (pol) {
        pol += strlen("underflow_policy=");
        size_t len = strcspn(pol, ",");
        if (len == 10 && strncmp(pol, "next_burst", len) == 0)
            s->next_burst = 1;
        else if (!(len == 11 && strncmp(pol, "next_packet", len) == 0) &&
                 !(len == 4 && strncmp(pol, "wait", len) == 0))
            return err(UHD_ERROR_VALUE,
                       "ValueError: USRP TX cannot handle requested underflow policy: %.*s",
                       (int)len, pol);
    }
    s->u = h;
    s->spp = max_spp(sa);
    h->tx = s;
    return ok();
}

uhd_error uhd_tx_streamer_max_num_samps(uhd_tx_streamer_handle h, size_t *out)
{
    *out = h->spp;
    return ok();
}

uhd_error uhd_tx_metadata_make(uhd_tx_metadata_handle *h,
                               bool has_time_spec,
                               int64_t full_secs,
                               double frac_secs,
                               bool start_of_burst,
                               bool end_of_burst)
{
    *h = calloc(1, sizeof **h);
    if (!*h)
        return err(UHD_ERROR_UNKNOWN, "twin: out of memory");
    **h = (struct uhd_tx_metadata_t){has_time_spec, start_of_burst, end_of_burst, full_secs,
                                     frac_secs};
    return ok();
}
uhd_error uhd_tx_metadata_free(uhd_tx_metadata_handle *h)
{
    free(*h);
    *h = NULL;
    return ok();
}

static void
push_ev(struct uhd_tx_streamer *s, uhd_async_metadata_event_code_t c, int64_t due, int64_t dtick)
{
    if (s->qn == sizeof s->q / sizeof s->q[0]) { /* the device's queue is full: oldest lost */
        s->qh = (s->qh + 1) % (sizeof s->q / sizeof s->q[0]);
        s->qn--;
    }
    s->q[(s->qh + s->qn) % (sizeof s->q / sizeof s->q[0])] = (async_ev){c, due, dtick};
    s->qn++;
}

/* The whole burst through the DAC (sc16 saturation), the TX chain and the TX gain, to the air. */
static uhd_error tx_submit(struct uhd_tx_streamer *s)
{
    struct uhd_usrp *u = s->u;
    size_t n = s->blen;
    /* fault: the host fed this burst too slowly: the DAC ran dry for one packet after the first
     * (EVENT_CODE_UNDERFLOW); next_packet sends the rest when it comes (one packet later),
     * next_burst drops it */
    size_t dry = 0;
    s->nbursts++;
    if (u->cfg.underflow && s->nbursts % u->cfg.underflow == 0 && n > s->first_len) {
        dry = s->first_len;
        if (s->next_burst) {
            n = s->first_len;
        } else {
            if (!grow(&s->burst, &s->bcap, n + dry))
                return err(UHD_ERROR_UNKNOWN, "twin: out of memory");
            memmove(s->burst + 2 * dry, s->burst + dry, (n - dry) * sizeof *s->burst);
            memset(s->burst + dry, 0, dry * sizeof *s->burst);
            n += dry;
        }
    }
    /* fault: a packet lost between host and device (USB), in every seq-th burst of two packets or
     * more (not one that underflows): new_tx_control [UHD-TXC] finds a sequence number other than
     * the one it expects. A burst of three packets or more loses its second: packet 1 goes out,
     * the third arrives mid-burst (EVENT_CODE_SEQ_ERROR_IN_BURST at the end of packet 1) and is
     * dropped in the error state. A burst of two loses its first: the second, untimed, reaches the
     * idle device at once (EVENT_CODE_SEQ_ERROR) and is dropped with its end of burst: nothing goes
     * out, no ack. Mid-burst, next_burst drops up to the end of burst without an ack; next_packet
     * sends the fourth packet on at once (an ack at its end; none when the third ended the burst) */
    int seq_ev = 0; /* 0, or the event: SEQ_ERROR (nothing on air) or SEQ_ERROR_IN_BURST */
    int seq_ack = 1;
    const size_t pk = s->first_len;
    if (!dry && u->cfg.seq && s->nbursts % u->cfg.seq == 0 && pk && n > pk) {
        const size_t gone = n > 2 * pk ? 3 * pk : 2 * pk; /* through the dropped packet */
        const size_t keep = n > 2 * pk ? pk : 0;          /* packets before the lost one */
        seq_ev = n > 2 * pk ? UHD_ASYNC_METADATA_EVENT_CODE_SEQ_ERROR_IN_BURST
                            : UHD_ASYNC_METADATA_EVENT_CODE_SEQ_ERROR;
        if (s->next_burst || n <= gone) {
            n = keep;
            seq_ack = 0;
        } else {
            memmove(s->burst + keep, s->burst + gone, (n - gone) * sizeof *s->burst);
            n -= gone - keep;
        }
    }
    /* where it goes on the air (-1: now) */
    int64_t at = -1, T = 0;
    double frac = 0.0; /* the burst's first DAC sample is this many of them before air tick at */
    uhd_error e0 = air_now(u, &T);
    if (e0 != UHD_ERROR_NONE)
        return e0;
    if (seq_ev == UHD_ASYNC_METADATA_EVENT_CODE_SEQ_ERROR) {
        /* the first packet (the time) never came: the device saw the untimed second, its end of
         * burst, out of sequence now and dropped it; nothing goes out under either policy */
        push_ev(s, UHD_ASYNC_METADATA_EVENT_CODE_SEQ_ERROR, T, dev_of(u, T));
        return ok();
    }
    if (s->has_time) {
        apply_pending(u, T);
        at = air_of_dev(u, s->dtick);
        /* the device tick falls between air ticks: air time (dtick - off) / sfo exactly */
        frac = ((double)at - (double)(s->dtick - u->off) / u->sfo) * u->sfo;
        if (at < 0) {
            at = 0;
            frac = 0.0;
        }
        /* fault: the host handed this burst to the device after its time (a late first packet) */
        if (u->cfg.late && ++s->ntimed % u->cfg.late == 0 && at >= T) {
            at = T > 0 ? T - 1 : 0;
            frac = 0.0;
        }
    }
    for (size_t i = 0; i < n; i++)
        s->burst[i] = clip1(crealf(s->burst[i])) + I * clip1(cimagf(s->burst[i]));
    const float complex *y = s->burst;
    size_t ny = n;
    if (u->imp) {
        unsigned lat = phy_impair_latency(u->imp, PHY_IMPAIR_TX);
        size_t cap = phy_impair_max_out(u->imp, PHY_IMPAIR_TX, n) +
                     phy_impair_max_out(u->imp, PHY_IMPAIR_TX, lat + 1);
        if (!grow(&s->work, &s->wcap, cap))
            return err(UHD_ERROR_UNKNOWN, "twin: out of memory");
        /* the LO's carrier term runs on the air's time line (continuous across bursts) */
        phy_impair_start_frac(u->imp, PHY_IMPAIR_TX, (uint64_t)(at >= 0 ? at : T), frac);
        size_t a = 0, b = 0;
        if (phy_impair_execute(u->imp, PHY_IMPAIR_TX, s->burst, n, s->work, cap, &a) != AM_OK)
            return err(UHD_ERROR_RUNTIME, "twin: %s", am_last_error());
        if (lat) {
            float complex z[PHY_IMPAIR_M + 2] = {0};
            phy_impair_execute(u->imp, PHY_IMPAIR_TX, z, lat, s->work + a, cap - a, &b);
        }
        y = s->work;
        ny = a + b;
    } else {
        if (!grow(&s->work, &s->wcap, n))
            return err(UHD_ERROR_UNKNOWN, "twin: out of memory");
        memcpy(s->work, s->burst, n * sizeof *s->work);
        y = s->work;
    }
    float g = (float)pow(10.0, (u->tx_gain + TWIN_TX_DBM_AT_0) / 20.0);
    for (size_t i = 0; i < ny; i++)
        s->work[i] = g * y[i];
    if (ny == 0)
        return ok();
    if (ny > TWIN_AIR_TX_MAX) /* not reached: TWIN_AIR_TX_MAX bounds the chain's output */
        return err(UHD_ERROR_VALUE, "twin: a TX burst of %zu samples after the TX chain", ny);
    twin_air_rep rep;
    uhd_error e = air_call(u,
                           (twin_air_req){.op = TWIN_AIR_TX,
                                          .a = at,
                                          .b = (int64_t)s->first_len,
                                          .flags = s->next_burst ? TWIN_TX_NEXT_BURST : 0,
                                          .n = (uint32_t)ny},
                           s->work, ny * sizeof *s->work, &rep, NULL);
    if (e != UHD_ERROR_NONE)
        return e;
    if (rep.code == 1)
        push_ev(s, UHD_ASYNC_METADATA_EVENT_CODE_TIME_ERROR, rep.t, s->dtick);
    if (dry && rep.a >= 0)
        push_ev(s, UHD_ASYNC_METADATA_EVENT_CODE_UNDERFLOW, rep.a + (int64_t)dry,
                dev_of(u, rep.a + (int64_t)dry));
    if (dry && s->next_burst)
        return ok(); /* the rest and its end of burst were dropped: no ack */
    if (seq_ev == UHD_ASYNC_METADATA_EVENT_CODE_SEQ_ERROR_IN_BURST && rep.a >= 0 && rep.code != 1)
        push_ev(s, UHD_ASYNC_METADATA_EVENT_CODE_SEQ_ERROR_IN_BURST, rep.a + (int64_t)pk,
                dev_of(u, rep.a + (int64_t)pk));
    if (seq_ev && !seq_ack)
        return ok(); /* dropped up to its end of burst: no ack */
    if (rep.a >= 0) { /* the burst (or what was left of it) goes out: ack at its end */
        size_t out = rep.code == 1 ? ny - (s->first_len < ny ? s->first_len : ny) : ny;
        push_ev(s, UHD_ASYNC_METADATA_EVENT_CODE_BURST_ACK, rep.a + (int64_t)out,
                dev_of(u, rep.a + (int64_t)out));
    }
    return ok();
}

uhd_error uhd_tx_streamer_send(uhd_tx_streamer_handle s,
                               const void **buffs,
                               size_t n,
                               uhd_tx_metadata_handle *mdp,
                               double timeout,
                               size_t *items)
{
    (void)timeout;
    *items = 0;
    struct uhd_usrp *u = s->u;
    const struct uhd_tx_metadata_t *md = *mdp;
    if (!u)
        return err(UHD_ERROR_RUNTIME, "twin: streamer not made by uhd_usrp_get_tx_stream");
    if (!s->in_burst || md->sob) {
        s->in_burst = 1;
        s->blen = 0;
        s->first_len = n < s->spp ? n : s->spp;
        s->has_time = md->has_time; /* a time without has_time_spec is ignored, as by UHD */
        s->dtick = md->has_time ? to_dticks(u, md->secs, md->frac) : 0;
    }
    if (s->blen + n > TWIN_AIR_BURST_MAX)
        return err(UHD_ERROR_VALUE, "twin: a burst longer than 2^26 samples without end_of_burst");
    if (!grow(&s->burst, &s->bcap, s->blen + n))
        return err(UHD_ERROR_UNKNOWN, "twin: out of memory");
    if (n)
        memcpy(s->burst + s->blen, buffs[0], n * sizeof *s->burst);
    s->blen += n;
    *items = n;
    if (md->eob) {
        s->in_burst = 0;
        uhd_error e = s->blen ? tx_submit(s) : ok();
        s->blen = 0;
        return e;
    }
    return ok();
}

uhd_error uhd_async_metadata_make(uhd_async_metadata_handle *h)
{
    *h = calloc(1, sizeof **h);
    return *h ? ok() : err(UHD_ERROR_UNKNOWN, "twin: out of memory");
}
uhd_error uhd_async_metadata_free(uhd_async_metadata_handle *h)
{
    free(*h);
    *h = NULL;
    return ok();
}
uhd_error uhd_async_metadata_event_code(uhd_async_metadata_handle h,
                                        uhd_async_metadata_event_code_t *out)
{
    *out = h->code;
    return ok();
}

uhd_error uhd_tx_streamer_recv_async_msg(uhd_tx_streamer_handle s,
                                         uhd_async_metadata_handle *mdp,
                                         double timeout,
                                         bool *valid)
{
    *valid = false;
    struct uhd_usrp *u = s->u;
    if (!u)
        return err(UHD_ERROR_RUNTIME, "twin: streamer not made by uhd_usrp_get_tx_stream");
    int64_t T = 0;
    uhd_error e = air_now(u, &T);
    if (e != UHD_ERROR_NONE)
        return e;
    int64_t tmo = timeout > 0 ? (int64_t)ceil(timeout * (double)u->fs) : 0;
    int64_t until = T + tmo;
    if (s->qn && s->q[s->qh].due < until)
        until = s->q[s->qh].due;
    if (until > T) {
        twin_air_rep rep;
        if ((e = air_call(u, (twin_air_req){.op = TWIN_AIR_WAIT, .a = until, .b = tmo}, NULL, 0,
                          &rep, NULL)) != UHD_ERROR_NONE)
            return e;
        T = rep.t;
    }
    if (s->qn && s->q[s->qh].due <= T) {
        async_ev ev = s->q[s->qh];
        s->qh = (s->qh + 1) % (sizeof s->q / sizeof s->q[0]);
        s->qn--;
        (*mdp)->code = ev.code;
        from_dticks(u, ev.dtick, &(*mdp)->secs, &(*mdp)->frac);
        *valid = true;
    }
    return ok();
}
