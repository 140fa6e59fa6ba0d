/* host/radio/uhd: USRP B210 through UHD's C API (the only airmeta file that includes <uhd.h>).
 * Follows UHD_NOTES.md and issue 11 part 2 (fpga-notes/timed-tx.md, fpga-notes/uhd-twin.md):
 * - one time base: the device time is UTC seconds, set at a PPS edge from the GPSDO (sync=gps) or
 *   from this host's NTP clock (sync=pps), then checked at the next edge against that reference: a
 *   radio whose time disagrees (a whole second off) is refused with one line;
 * - master_clock_rate is always pinned in the device args (UHD's B200 re-picks it otherwise), and
 *   tx_gain / rx_gain are required: the link budget depends on them;
 * - levels: every TX sample is scaled by 10^(-backoff_db/20) before the fc32 -> sc16 conversion
 *   and a burst that would still saturate it is refused (stats.tx_refused); RX samples are scaled
 *   back by the same factor (the digital link gain does not depend on backoff_db) and samples at
 *   the ADC's full scale are counted (stats.rx_clipped);
 * - streamers are made once at open, after the sources and the time (never in a round); TX with
 *   underflow_policy=next_burst, so a late or underflowing burst is dropped whole and every burst
 *   ends in exactly one async event (ack, late, underflow or sequence error), counted once;
 * - RX windows are exact counts (STREAM_MODE_NUM_SAMPS_AND_DONE): no stop command, no drain;
 * - every burst is timed (has_time_spec + full/fractional seconds) and sent in packets of the
 *   streamer's max_num_samps; RX timestamps are checked for continuity.
 * Every UHD error becomes AM_EDEVICE with UHD's message and the device arguments tried. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uhd.h>

#include "radio/radio_impl.h"
#include "util/monotime.h"

/* The B210's nominal levels (fpga-notes/uhd-twin.md "Levels"; the twin's model): 0 dBFS leaves
 * the TX antenna at +10 dBm at the maximum 89.75 dB gain, and -15 dBm at the RX antenna reaches
 * 0 dBFS at 0 dB gain. A radio measured on the bench gives its own (tx_ref_dbm, rx_ref_dbm); the
 * closed-loop calibration (docs/air-interface.md §8) measures what is left, per radio. */
#define UHD_TX_REF_DBM (-79.75)
#define UHD_RX_REF_DBM (-15.0)

typedef struct uhd_h {
    uhd_usrp_handle usrp;
    uhd_tx_streamer_handle tx;
    uhd_rx_streamer_handle rx;
    uhd_tx_metadata_handle md_mid, md_end; /* packets after the first of a burst */
    uhd_rx_metadata_handle rx_md;
    uhd_async_metadata_handle async_md;
    size_t tx_spp, rx_spp; /* max_num_samps of each streamer */
    float complex *stage;  /* tx_spp samples: one packet, scaled (and zero-padded if last) */
    float scale;    /* 10^(-backoff_db/20): fc32 1.0 is this fraction of the DAC's full scale */
    double backoff_db, tx_ref_dbm, rx_ref_dbm; /* the levels' terms (radio_info.tx_dbm, rx_dbm) */
    float fs_rx;    /* an RX sample component at or beyond this is at the ADC's full scale */
    size_t rx_left; /* exact-count window: samples still to come (0: none or continuous) */
    int rx_count;   /* the stream is an exact-count window */
    size_t chan;
    int pad;
    double lead;         /* schedule bursts this far ahead when no time is given, s */
    double lock_timeout; /* wait for the reference lock, s */
    char otw[8];
    char devargs[RADIO_ARG_VAL_MAX + 128];
    uint64_t bursts_sent, bursts_done; /* done = ended in one async event (ack or error) */
    int64_t rx_expect;
    int rx_have_expect;
    char sync[8]; /* how the device time was set at open (none|now|pps|gps) */
    char time_src[16];
} uhd_h;

static const radio_arg_spec uhd_spec[] = {
    {"serial", RADIO_ARG_STR, 0, -1, NULL, "USRP serial number (default: the first B2x0 found)"},
    {"type", RADIO_ARG_STR, 0, -1, NULL, "UHD device type (default b200: B200/B210)"},
    {"master_clock_rate", RADIO_ARG_DOUBLE, 5e6, 61.44e6, NULL,
     "AD9361 master clock, Hz (default: the largest rate x 2^k <= 61.44e6), pinned at open"},
    {"rate", RADIO_ARG_DOUBLE, 1e3, 61.44e6, NULL, "sample rate, S/s (default 1e6)"},
    {"freq", RADIO_ARG_DOUBLE, 70e6, 6e9, NULL, "TX and RX centre frequency, Hz"},
    {"tx_freq", RADIO_ARG_DOUBLE, 70e6, 6e9, NULL, "TX centre frequency, Hz"},
    {"rx_freq", RADIO_ARG_DOUBLE, 70e6, 6e9, NULL, "RX centre frequency, Hz"},
    {"tx_gain", RADIO_ARG_DOUBLE, 0, 89.8, NULL, "TX gain, dB (required)"},
    {"rx_gain", RADIO_ARG_DOUBLE, 0, 76, NULL, "RX gain, dB (required)"},
    {"backoff_db", RADIO_ARG_DOUBLE, 0, 40, NULL,
     "digital TX back-off below the DAC's full scale, dB (default 12; undone on RX)"},
    {"tx_ref_dbm", RADIO_ARG_DOUBLE, -150, 50, NULL,
     "power calibration: dBm at the TX antenna at 0 dBFS and 0 dB gain (default -79.75)"},
    {"rx_ref_dbm", RADIO_ARG_DOUBLE, -150, 50, NULL,
     "power calibration: dBm at the RX antenna that reaches 0 dBFS at 0 dB gain (default -15)"},
    {"tx_ant", RADIO_ARG_CHOICE, 0, -1, "TX/RX", "TX antenna"},
    {"rx_ant", RADIO_ARG_CHOICE, 0, -1, "TX/RX|RX2",
     "RX antenna (default TX/RX: TDD reciprocity needs one antenna both ways)"},
    {"clock", RADIO_ARG_CHOICE, 0, -1, RADIO_SOURCES, "10 MHz reference (default internal)"},
    {"time", RADIO_ARG_CHOICE, 0, -1, RADIO_SOURCES, "PPS source (default internal)"},
    {"sync", RADIO_ARG_CHOICE, 0, -1, "none|now|pps|gps",
     "set device time at open: now=0, pps=this host's UTC second at a PPS edge, gps=GPS time; "
     "pps and gps are checked at the next edge (default by time=)"},
    {"channel", RADIO_ARG_INT, 0, 1, NULL, "channel (B210: 0 or 1)"},
    {"otw", RADIO_ARG_CHOICE, 0, -1, "sc16|sc12|sc8", "over-the-wire format (default sc16)"},
    {"lead", RADIO_ARG_DOUBLE, 0.001, 10, NULL, "untimed bursts start this far ahead, s (0.1)"},
    {"pad", RADIO_ARG_CHOICE, 0, -1, "yes|no", "zero-pad bursts to whole packets (default yes)"},
    {"lock_timeout", RADIO_ARG_DOUBLE, 0, 60, NULL, "wait for ref_locked, s (default 3)"},
    {"log", RADIO_ARG_CHOICE, 0, -1, "trace|debug|info|warning|error|fatal|off",
     "UHD console log level (default warning, or $UHD_LOG_CONSOLE_LEVEL)"},
};

/* UHD's per-thread message, one line, for our message. */
static void uhd_msg(char *buf, size_t cap)
{
    buf[0] = '\0';
    uhd_get_last_error(buf, cap);
    /* one line, runs of white space collapsed */
    size_t w = 0;
    for (size_t i = 0; buf[i]; i++) {
        int sp = buf[i] == ' ' || buf[i] == '\n' || buf[i] == '\r' || buf[i] == '\t';
        if (sp && (w == 0 || buf[w - 1] == ' '))
            continue;
        buf[w++] = sp ? ' ' : buf[i];
    }
    while (w && buf[w - 1] == ' ')
        w--;
    buf[w] = '\0';
}

static am_status fail(const uhd_h *h, uhd_error e, const char *call)
{
    char m[512];
    uhd_msg(m, sizeof m);
    return AM_FAIL(AM_EDEVICE, "radio 'uhd': %s failed (UHD error %d: %s) for device args '%s'",
                   call, (int)e, m, h->devargs);
}

#define UHD_CALL(h, fn, ...)                                                                       \
    do {                                                                                           \
        uhd_error e_ = fn(__VA_ARGS__);                                                            \
        if (e_ != UHD_ERROR_NONE)                                                                  \
            return fail((h), e_, #fn);                                                             \
    } while (0)

static void sleep_s(double s)
{
    struct timespec t = {(time_t)s, (long)((s - floor(s)) * 1e9)};
    nanosleep(&t, NULL);
}

/* Drops both streamers (close, or before they are made again after the sources or the time
 * changed). */
static void drop_streamers(uhd_h *h)
{
    if (h->tx)
        uhd_tx_streamer_free(&h->tx);
    if (h->rx)
        uhd_rx_streamer_free(&h->rx);
    if (h->md_mid)
        uhd_tx_metadata_free(&h->md_mid);
    if (h->md_end)
        uhd_tx_metadata_free(&h->md_end);
    if (h->rx_md)
        uhd_rx_metadata_free(&h->rx_md);
    if (h->async_md)
        uhd_async_metadata_free(&h->async_md);
    free(h->stage);
    h->tx = NULL;
    h->rx = NULL;
    h->stage = NULL;
    h->tx_spp = h->rx_spp = 0;
    h->rx_have_expect = 0;
    h->rx_left = 0;
    h->rx_count = 0;
    h->bursts_sent = h->bursts_done = 0;
}

static void uhd_h_free(uhd_h *h)
{
    if (!h)
        return;
    drop_streamers(h);
    if (h->usrp)
        uhd_usrp_free(&h->usrp);
    free(h);
}

/* A source or time change after open failed before the streamers were made again. */
static am_status no_streamers(const uhd_h *h)
{
    return AM_FAIL(AM_EDEVICE,
                   "radio 'uhd': no streamers (a clock, time source or time change failed) for "
                   "device args '%s'",
                   h->devargs);
}

/* TX: underflow_policy=next_burst (tx_vita_core_3000 reads it from the stream args; the B200's
 * default is next_packet, which sends the rest of a late burst at once): a late or underflowing
 * burst is dropped up to its end of burst, with one async event and no ack (the FPGA's
 * new_tx_control, fpga-notes/uhd-twin.md). */
static void make_stream_args(uhd_h *h, uhd_stream_args_t *sa, int tx)
{
    sa->cpu_format = "fc32";
    sa->otw_format = h->otw;
    sa->args = tx ? "underflow_policy=next_burst" : "";
    sa->channel_list = &h->chan;
    sa->n_channels = 1;
}

/* Both streamers, made once the sources, rate and time are set (UHD_NOTES "Order of setup
 * matters"; on the B200 each creation re-runs the AD9361's chain switching and TX calibration:
 * never inside a round). */
static am_status make_streamers(uhd_h *h)
{
    uhd_stream_args_t sa;
    make_stream_args(h, &sa, 1);
    UHD_CALL(h, uhd_tx_streamer_make, &h->tx);
    UHD_CALL(h, uhd_usrp_get_tx_stream, h->usrp, &sa, h->tx);
    UHD_CALL(h, uhd_tx_streamer_max_num_samps, h->tx, &h->tx_spp);
    if (h->tx_spp == 0)
        return AM_FAIL(AM_EDEVICE, "radio 'uhd': TX streamer reports 0 samples per packet");
    UHD_CALL(h, uhd_tx_metadata_make, &h->md_mid, false, 0, 0.0, false, false);
    UHD_CALL(h, uhd_tx_metadata_make, &h->md_end, false, 0, 0.0, false, true);
    UHD_CALL(h, uhd_async_metadata_make, &h->async_md);
    h->stage = calloc(h->tx_spp, sizeof *h->stage);
    if (!h->stage)
        return AM_FAIL(AM_ENOMEM, "radio 'uhd': TX staging buffer");
    make_stream_args(h, &sa, 0);
    UHD_CALL(h, uhd_rx_streamer_make, &h->rx);
    UHD_CALL(h, uhd_usrp_get_rx_stream, h->usrp, &sa, h->rx);
    UHD_CALL(h, uhd_rx_streamer_max_num_samps, h->rx, &h->rx_spp);
    UHD_CALL(h, uhd_rx_metadata_make, &h->rx_md);
    return AM_OK;
}

static am_status sensor_bool(uhd_h *h, const char *name, bool *v)
{
    uhd_sensor_value_handle sv = NULL;
    UHD_CALL(h, uhd_sensor_value_make, &sv);
    uhd_error e = uhd_usrp_get_mboard_sensor(h->usrp, name, 0, &sv);
    if (e == UHD_ERROR_NONE)
        e = uhd_sensor_value_to_bool(sv, v);
    am_status s = e == UHD_ERROR_NONE ? AM_OK : fail(h, e, name);
    uhd_sensor_value_free(&sv);
    return s;
}

static am_status wait_ref_lock(uhd_h *h, const char *src)
{
    if (strcmp(src, "internal") == 0)
        return AM_OK;
    double end = monotime_s() + h->lock_timeout;
    for (;;) {
        bool locked = false;
        am_status s = sensor_bool(h, "ref_locked", &locked);
        if (s != AM_OK)
            return s;
        if (locked)
            return AM_OK;
        if (monotime_s() >= end)
            return AM_FAIL(AM_EDEVICE,
                           "radio 'uhd': reference not locked after %g s with clock=%s (is the "
                           "10 MHz connected?) for device args '%s'",
                           h->lock_timeout, src, h->devargs);
        sleep_s(0.05);
    }
}

static am_status apply_clock(radio *r, uhd_h *h, const char *src)
{
    UHD_CALL(h, uhd_usrp_set_clock_source, h->usrp, src, 0);
    radio_strlcpy(r->info.clock_source, src, sizeof r->info.clock_source);
    return wait_ref_lock(h, src);
}

static am_status apply_time_source(radio *r, uhd_h *h, const char *src)
{
    UHD_CALL(h, uhd_usrp_set_time_source, h->usrp, src, 0);
    radio_strlcpy(r->info.time_source, src, sizeof r->info.time_source);
    radio_strlcpy(h->time_src, src, sizeof h->time_src);
    return AM_OK;
}

/* This host's UTC clock (NTP-disciplined on a run's hosts), s. */
static double utc_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Waits for the next PPS edge: the device's time at the last PPS changes (polled every 10 ms,
 * as UHD's sync_to_gps example polls get_time_last_pps). *edge = the time latched at it. */
static am_status wait_pps_edge(uhd_h *h, radio_time *edge)
{
    radio_time a = {0, 0}, b = {0, 0};
    UHD_CALL(h, uhd_usrp_get_time_last_pps, h->usrp, 0, &a.secs, &a.frac);
    double end = monotime_s() + 1.2;
    do {
        sleep_s(0.01);
        UHD_CALL(h, uhd_usrp_get_time_last_pps, h->usrp, 0, &b.secs, &b.frac);
    } while (b.secs == a.secs && b.frac == a.frac && monotime_s() < end);
    if (b.secs == a.secs && b.frac == a.frac)
        return AM_FAIL(AM_EDEVICE,
                       "radio 'uhd': no PPS edge seen in 1.2 s (is the PPS connected, time=%s?) "
                       "for device args '%s'",
                       h->time_src, h->devargs);
    if (edge)
        *edge = b;
    return AM_OK;
}

static am_status gps_second(uhd_h *h, int64_t *secs)
{
    uhd_sensor_value_handle sv = NULL;
    UHD_CALL(h, uhd_sensor_value_make, &sv);
    int gps = 0;
    uhd_error e = uhd_usrp_get_mboard_sensor(h->usrp, "gps_time", 0, &sv);
    if (e == UHD_ERROR_NONE)
        e = uhd_sensor_value_to_int(sv, &gps);
    uhd_sensor_value_free(&sv);
    if (e != UHD_ERROR_NONE)
        return fail(h, e, "uhd_usrp_get_mboard_sensor(gps_time)");
    *secs = gps;
    return AM_OK;
}

/* The second this host's clock gives the PPS edge just seen (nearest UTC second: a PPS aligned
 * to UTC, as a GPS-disciplined distribution gives, is read right whatever the NTP error below
 * 0.4 s). An edge seen near the half second cannot be named: refused. */
static am_status host_second(uhd_h *h, int64_t *secs)
{
    double t = utc_now(), ph = t - floor(t);
    if (fabs(ph - 0.5) < 0.1)
        return AM_FAIL(AM_EDEVICE,
                       "radio 'uhd': the PPS edge came %.3f s into this host's UTC second, too "
                       "near the half second to name it (sync=pps needs a PPS aligned to UTC "
                       "within 0.4 s and an NTP clock; or use sync=gps) for device args '%s'",
                       ph, h->devargs);
    *secs = (int64_t)llround(t);
    return AM_OK;
}

/* One time base for all radios: the device time is UTC seconds, set at the next PPS edge from the
 * GPSDO's gps_time (UHD's gps_ctrl returns the second of the GPSDO's next NMEA time, sent just
 * after an edge, so + 1 is the edge after it: UHD's sync_to_gps) or from this host's clock,
 * then checked at the edge where it latched: the device's time at that edge must be the
 * reference's second, whole. A radio whose time disagrees is refused. */
static am_status sync_time(uhd_h *h, const char *how)
{
    if (strcmp(how, "none") == 0)
        return AM_OK;
    if (strcmp(how, "now") == 0) {
        UHD_CALL(h, uhd_usrp_set_time_now, h->usrp, 0, 0.0, 0);
        return AM_OK;
    }
    int gps = strcmp(how, "gps") == 0;
    if (gps) {
        bool locked = false;
        am_status s = sensor_bool(h, "gps_locked", &locked);
        if (s != AM_OK)
            return s;
        if (!locked)
            return AM_FAIL(AM_EDEVICE,
                           "radio 'uhd': GPSDO not locked (sync=gps) for device args '%s'",
                           h->devargs);
    }
    /* just after an edge, so that the set reaches the device well before the next one */
    am_status s = wait_pps_edge(h, NULL);
    int64_t sec = 0;
    if (s == AM_OK)
        s = gps ? gps_second(h, &sec) : host_second(h, &sec);
    if (s != AM_OK)
        return s;
    UHD_CALL(h, uhd_usrp_set_time_next_pps, h->usrp, sec + 1, 0.0, 0);
    radio_time e;
    int64_t ref = 0;
    if ((s = wait_pps_edge(h, NULL)) != AM_OK)
        return s;
    /* the reference's second and the device's time at the same edge: gps_time waits for the
     * GPSDO's next sentence (after the edge), so it is read first and the last-PPS time after it
     * (as sync_to_gps checks); the host's clock is read right after the edge */
    if (gps && (s = gps_second(h, &ref)) != AM_OK)
        return s;
    UHD_CALL(h, uhd_usrp_get_time_last_pps, h->usrp, 0, &e.secs, &e.frac);
    if (!gps && (s = host_second(h, &ref)) != AM_OK)
        return s;
    if (e.secs != ref || e.frac != 0.0)
        return AM_FAIL(AM_EDEVICE,
                       "radio 'uhd': device time %lld+%.6f s at the PPS edge, but %s says %lld s "
                       "(%+lld s): this radio's time disagrees (sync=%s), refused, for device "
                       "args '%s'",
                       (long long)e.secs, e.frac, gps ? "the GPSDO" : "this host's UTC clock",
                       (long long)ref, (long long)(e.secs - ref), how, h->devargs);
    return AM_OK;
}

static am_status tune(radio *r, uhd_h *h, radio_dir dir, double hz)
{
    uhd_tune_request_t req = {.target_freq = hz,
                              .rf_freq_policy = UHD_TUNE_REQUEST_POLICY_AUTO,
                              .dsp_freq_policy = UHD_TUNE_REQUEST_POLICY_AUTO,
                              .args = ""};
    uhd_tune_result_t res;
    /* AD9361: every tune leaves a random LO phase (fpga-notes/lo-phase.md); the caller must not
     * retune between the beacon and the data burst. */
    if (dir & RADIO_TX) {
        UHD_CALL(h, uhd_usrp_set_tx_freq, h->usrp, &req, h->chan, &res);
        UHD_CALL(h, uhd_usrp_get_tx_freq, h->usrp, h->chan, &r->info.tx_freq);
    }
    if (dir & RADIO_RX) {
        UHD_CALL(h, uhd_usrp_set_rx_freq, h->usrp, &req, h->chan, &res);
        UHD_CALL(h, uhd_usrp_get_rx_freq, h->usrp, h->chan, &r->info.rx_freq);
    }
    return AM_OK;
}

static am_status set_rate(radio *r, uhd_h *h, double sps)
{
    double tx = 0, rx = 0;
    UHD_CALL(h, uhd_usrp_set_tx_rate, h->usrp, sps, h->chan);
    UHD_CALL(h, uhd_usrp_set_rx_rate, h->usrp, sps, h->chan);
    UHD_CALL(h, uhd_usrp_get_tx_rate, h->usrp, h->chan, &tx);
    UHD_CALL(h, uhd_usrp_get_rx_rate, h->usrp, h->chan, &rx);
    UHD_CALL(h, uhd_usrp_get_master_clock_rate, h->usrp, 0, &r->info.master_clock);
    /* All radios of a round must share one exact rate: refuse a coerced one. */
    if (fabs(tx - sps) > 1e-3 || fabs(rx - sps) > 1e-3)
        return AM_FAIL(AM_EINVAL,
                       "radio 'uhd': rate %.17g S/s became TX %.17g / RX %.17g on the device "
                       "(master clock %.17g Hz): choose master_clock_rate / rate as an integer "
                       "decimation",
                       sps, tx, rx, r->info.master_clock);
    r->info.rate = rx;
    return AM_OK;
}

/* The master clock pinned when the args give none: the largest rate x 2^k <= 61.44 MHz (what the
 * B200's automatic tick rate picks for one channel, so behaviour matches UHD's default), at
 * least 5 MHz (rate 1e6: 32 MHz). Pinned in the device args, UHD never re-picks it (b200_impl:
 * a master_clock_rate argument turns the automatic tick rate off). */
static double default_mcr(double rate)
{
    double m = rate;
    while (m * 2 <= 61.44e6)
        m *= 2;
    return m;
}

/* The radio's calibrated levels (radio.h, docs/air-interface.md §4.1 "Link budget") from the
 * gains the device took: fc32 of unit power is 10^(-backoff_db/10) of the DAC's full scale, which
 * leaves the antenna at tx_ref_dbm + tx_gain dBm (the AD9361's TX attenuation is dB-linear: 0.25 dB
 * steps below 89.75 dB, fpga-notes/uhd-twin.md "Levels"); the ADC's full scale is
 * rx_ref_dbm - rx_gain dBm at the antenna (1 dB gain-table steps), and RX samples are scaled back
 * by the back-off. */
static void set_levels(radio *r, const uhd_h *h)
{
    r->info.levels = 1;
    r->info.tx_dbm = h->tx_ref_dbm + r->info.tx_gain - h->backoff_db;
    r->info.rx_dbm = h->rx_ref_dbm - r->info.rx_gain - h->backoff_db;
}

static am_status uhd_open_(radio *r, const radio_args *a)
{
    /* gains are part of the link budget (fpga-notes/uhd-twin.md "Levels"): never a default */
    for (int k = 0; k < 2; k++) {
        const char *key = k ? "rx_gain" : "tx_gain";
        if (!radio_args_has(a, key))
            return AM_FAIL(AM_EINVAL,
                           "radio 'uhd': %s is required (dB; the link budget and the levels "
                           "depend on it: fpga-notes/uhd-twin.md \"Levels\")",
                           key);
    }
    /* UHD logs to the console by itself; quiet it unless asked. The C API has no log-level
     * call, only the environment variable read at UHD's first log line. */
    if (radio_args_has(a, "log"))
        setenv("UHD_LOG_CONSOLE_LEVEL", radio_args_str(a, "log", "warning"), 1);
    else
        setenv("UHD_LOG_CONSOLE_LEVEL", "warning", 0);

    uhd_h *h = calloc(1, sizeof *h);
    if (!h)
        return AM_FAIL(AM_ENOMEM, "radio 'uhd': out of memory");
    h->chan = (size_t)radio_args_int(a, "channel", 0);
    h->lead = radio_args_double(a, "lead", 0.1);
    h->lock_timeout = radio_args_double(a, "lock_timeout", 3.0);
    h->pad = strcmp(radio_args_str(a, "pad", "yes"), "yes") == 0;
    h->backoff_db = radio_args_double(a, "backoff_db", 12.0);
    h->scale = (float)pow(10.0, -h->backoff_db / 20.0);
    r->info.tx_peak_max = 1.0 / (double)h->scale; /* uhd_tx_burst refuses peak * scale > 1 */
    h->tx_ref_dbm = radio_args_double(a, "tx_ref_dbm", UHD_TX_REF_DBM);
    h->rx_ref_dbm = radio_args_double(a, "rx_ref_dbm", UHD_RX_REF_DBM);
    radio_strlcpy(h->otw, radio_args_str(a, "otw", "sc16"), sizeof h->otw);
    /* full scale of the wire format: UHD converts sc16 to fc32 as x / 32767 (sc12, sc8 alike) */
    h->fs_rx = strcmp(h->otw, "sc8") == 0    ? 126.5f / 127
               : strcmp(h->otw, "sc12") == 0 ? 2046.5f / 2047
                                             : 32766.5f / 32767;
    const double rate = radio_args_double(a, "rate", 1e6);
    const double mcr = radio_args_double(a, "master_clock_rate", default_mcr(rate));
    int w = snprintf(h->devargs, sizeof h->devargs, "type=%s", radio_args_str(a, "type", "b200"));
    if (radio_args_has(a, "serial"))
        w += snprintf(h->devargs + w, sizeof h->devargs - (size_t)w, ",serial=%s",
                      radio_args_str(a, "serial", ""));
    snprintf(h->devargs + w, sizeof h->devargs - (size_t)w, ",master_clock_rate=%.17g", mcr);

    uhd_error e = uhd_usrp_make(&h->usrp, h->devargs);
    if (e != UHD_ERROR_NONE) {
        char m[512];
        uhd_msg(m, sizeof m);
        am_status s;
        if (strstr(m, "No devices found"))
            s = AM_FAIL(AM_EDEVICE, "radio 'uhd': no USRP found for args '%s' (UHD: %s)",
                        h->devargs, m);
        else
            s = AM_FAIL(AM_EDEVICE,
                        "radio 'uhd': cannot open a USRP with args '%s' (UHD error %d: %s)",
                        h->devargs, (int)e, m);
        h->usrp = NULL;
        uhd_h_free(h);
        return s;
    }
    r->impl = h;

    /* UHD_NOTES "Order of setup matters": sources, rate, tuning, gains and time first, the
     * streamers last */
    const char *clock = radio_args_str(a, "clock", "internal");
    const char *tsrc = radio_args_str(a, "time", "internal");
    const char *dflt_sync = strcmp(tsrc, "external") == 0 ? "pps"
                            : strcmp(tsrc, "gpsdo") == 0  ? "gps"
                                                          : "now";
    am_status s = apply_clock(r, h, clock);
    if (s == AM_OK)
        s = apply_time_source(r, h, tsrc);
    if (s == AM_OK)
        s = set_rate(r, h, rate);
    if (s == AM_OK && fabs(r->info.master_clock - mcr) > 1e-3)
        s = AM_FAIL(AM_EDEVICE,
                    "radio 'uhd': master clock %.17g Hz asked, the device runs %.17g Hz (args "
                    "'%s')",
                    mcr, r->info.master_clock, h->devargs);
    if (s == AM_OK && (radio_args_has(a, "freq") || radio_args_has(a, "tx_freq")))
        s = tune(r, h, RADIO_TX, radio_args_double(a, "tx_freq", radio_args_double(a, "freq", 0)));
    if (s == AM_OK && (radio_args_has(a, "freq") || radio_args_has(a, "rx_freq")))
        s = tune(r, h, RADIO_RX, radio_args_double(a, "rx_freq", radio_args_double(a, "freq", 0)));
    if (s == AM_OK) {
        uhd_error ge =
            uhd_usrp_set_tx_gain(h->usrp, radio_args_double(a, "tx_gain", 0), h->chan, "");
        s = ge == UHD_ERROR_NONE ? AM_OK : fail(h, ge, "uhd_usrp_set_tx_gain");
    }
    if (s == AM_OK) {
        uhd_error ge =
            uhd_usrp_set_rx_gain(h->usrp, radio_args_double(a, "rx_gain", 0), h->chan, "");
        s = ge == UHD_ERROR_NONE ? AM_OK : fail(h, ge, "uhd_usrp_set_rx_gain");
    }
    if (s == AM_OK && radio_args_has(a, "tx_ant")) {
        uhd_error ge = uhd_usrp_set_tx_antenna(h->usrp, radio_args_str(a, "tx_ant", ""), h->chan);
        s = ge == UHD_ERROR_NONE ? AM_OK : fail(h, ge, "uhd_usrp_set_tx_antenna");
    }
    if (s == AM_OK) {
        uhd_error ge =
            uhd_usrp_set_rx_antenna(h->usrp, radio_args_str(a, "rx_ant", "TX/RX"), h->chan);
        s = ge == UHD_ERROR_NONE ? AM_OK : fail(h, ge, "uhd_usrp_set_rx_antenna");
    }
    if (s == AM_OK) {
        /* a constant RX gain for the whole round: the composite gain G[i] of docs/air-interface.md
         * §5 is estimated once per burst, an AGC would change it under the data */
        uhd_error ge = uhd_usrp_set_rx_agc(h->usrp, false, h->chan);
        s = ge == UHD_ERROR_NONE ? AM_OK : fail(h, ge, "uhd_usrp_set_rx_agc");
    }
    radio_strlcpy(h->sync, radio_args_str(a, "sync", dflt_sync), sizeof h->sync);
    if (s == AM_OK)
        s = sync_time(h, h->sync);
    if (s == AM_OK)
        s = make_streamers(h);
    if (s == AM_OK) {
        uhd_error ge = uhd_usrp_get_tx_gain(h->usrp, h->chan, "", &r->info.tx_gain);
        if (ge == UHD_ERROR_NONE)
            ge = uhd_usrp_get_rx_gain(h->usrp, h->chan, "", &r->info.rx_gain);
        s = ge == UHD_ERROR_NONE ? AM_OK : fail(h, ge, "uhd_usrp_get_gain");
        set_levels(r, h);
    }
    if (s == AM_OK) {
        char name[64] = "";
        uhd_usrp_get_mboard_name(h->usrp, 0, name, sizeof name);
        snprintf(r->info.device, sizeof r->info.device, "USRP %.60s (args '%.160s', channel %zu)",
                 name, h->devargs, h->chan);
        /* UHD fragments bursts into packets itself; bound one burst to ~1 s of samples so the
         * caller's buffers and our timeouts stay sane. */
        r->info.max_burst = (size_t)ceil(r->info.rate);
    }
    if (s != AM_OK) {
        uhd_h_free(h);
        r->impl = NULL;
    }
    return s;
}

static void uhd_close_(radio *r)
{
    uhd_h_free(r->impl);
    r->impl = NULL;
}

/* The master clock is pinned at open, so a new rate is an integer decimation of it or refused
 * (set_rate); the device time does not move. */
static am_status uhd_set_rate(radio *r, double sps)
{
    return set_rate(r, r->impl, sps);
}

static am_status uhd_set_freq(radio *r, radio_dir dir, double hz)
{
    return tune(r, r->impl, dir, hz);
}

static am_status uhd_set_gain(radio *r, radio_dir dir, double db)
{
    uhd_h *h = r->impl;
    if (dir & RADIO_TX) {
        UHD_CALL(h, uhd_usrp_set_tx_gain, h->usrp, db, h->chan, "");
        UHD_CALL(h, uhd_usrp_get_tx_gain, h->usrp, h->chan, "", &r->info.tx_gain);
    }
    if (dir & RADIO_RX) {
        UHD_CALL(h, uhd_usrp_set_rx_gain, h->usrp, db, h->chan, "");
        UHD_CALL(h, uhd_usrp_get_rx_gain, h->usrp, h->chan, "", &r->info.rx_gain);
    }
    set_levels(r, h);
    return AM_OK;
}

/* Sources or time changed after open: the streamers are made again at once, here (UHD_NOTES
 * "Order of setup matters"), never at the next burst. */
static am_status uhd_set_clock_source(radio *r, const char *src)
{
    uhd_h *h = r->impl;
    drop_streamers(h);
    am_status s = apply_clock(r, h, src);
    return s == AM_OK ? make_streamers(h) : s;
}

static am_status uhd_set_time_source(radio *r, const char *src)
{
    uhd_h *h = r->impl;
    drop_streamers(h);
    am_status s = apply_time_source(r, h, src);
    return s == AM_OK ? make_streamers(h) : s;
}

static am_status uhd_set_time(radio *r, const radio_time *t, int next_pps)
{
    uhd_h *h = r->impl;
    drop_streamers(h);
    am_status s = AM_OK;
    if (next_pps) {
        /* radio.h: t at the next edge; returns once it has latched */
        uhd_error e = uhd_usrp_set_time_next_pps(h->usrp, t->secs, t->frac, 0);
        s = e == UHD_ERROR_NONE ? wait_pps_edge(h, NULL) : fail(h, e, "uhd_usrp_set_time_next_pps");
    } else {
        uhd_error e = uhd_usrp_set_time_now(h->usrp, t->secs, t->frac, 0);
        s = e == UHD_ERROR_NONE ? AM_OK : fail(h, e, "uhd_usrp_set_time_now");
    }
    return s == AM_OK ? make_streamers(h) : s;
}

static am_status uhd_get_time(radio *r, radio_time *t)
{
    uhd_h *h = r->impl;
    UHD_CALL(h, uhd_usrp_get_time_now, h->usrp, 0, &t->secs, &t->frac);
    return AM_OK;
}

/* Reads async messages until none arrives within timeout_s, or, with until_done, until every
 * burst sent has ended. Under next_burst every burst ends in exactly one event: an ack, or the
 * error that dropped the rest of it (late, underflow, sequence error: new_tx_control goes to its
 * error state and drains to the end of burst without an ack), so each burst is counted once
 * (UHD_NOTES "Buffers and async events"). */
static am_status read_async(radio *r, uhd_h *h, double timeout_s, int until_done)
{
    double end = monotime_s() + timeout_s;
    while (!until_done || h->bursts_done < h->bursts_sent) {
        double left = end - monotime_s();
        bool valid = false;
        UHD_CALL(h, uhd_tx_streamer_recv_async_msg, h->tx, &h->async_md, left > 0 ? left : 0.0,
                 &valid);
        if (!valid)
            break;
        uhd_async_metadata_event_code_t ev;
        UHD_CALL(h, uhd_async_metadata_event_code, h->async_md, &ev);
        switch (ev) {
        case UHD_ASYNC_METADATA_EVENT_CODE_BURST_ACK:
            h->bursts_done++;
            break;
        case UHD_ASYNC_METADATA_EVENT_CODE_UNDERFLOW:
        case UHD_ASYNC_METADATA_EVENT_CODE_UNDERFLOW_IN_PACKET:
            radio_count(r, &r->stats.underflows, 1);
            h->bursts_done++;
            break;
        case UHD_ASYNC_METADATA_EVENT_CODE_SEQ_ERROR:
        case UHD_ASYNC_METADATA_EVENT_CODE_SEQ_ERROR_IN_BURST:
            radio_count(r, &r->stats.seq_errors, 1);
            h->bursts_done++;
            break;
        case UHD_ASYNC_METADATA_EVENT_CODE_TIME_ERROR:
            radio_count(r, &r->stats.late, 1);
            h->bursts_done++;
            break;
        default:
            break;
        }
    }
    if (until_done && h->bursts_done < h->bursts_sent)
        return AM_FAIL(AM_ETIMEOUT, "radio 'uhd': %llu burst(s) not acknowledged after %g s",
                       (unsigned long long)(h->bursts_sent - h->bursts_done), timeout_s);
    return AM_OK;
}

static am_status
send_all(uhd_h *h, const float complex *x, size_t n, uhd_tx_metadata_handle *md, double timeout)
{
    size_t done = 0;
    while (done < n) {
        const void *buf = x + done;
        size_t sent = 0;
        UHD_CALL(h, uhd_tx_streamer_send, h->tx, &buf, n - done, md, timeout, &sent);
        if (sent == 0)
            return AM_FAIL(AM_ETIMEOUT, "radio 'uhd': TX send timed out after %g s (args '%s')",
                           timeout, h->devargs);
        done += sent;
        md = &h->md_mid; /* the rest of a partly sent packet is not a new start */
    }
    return AM_OK;
}

static am_status uhd_tx_burst(radio *r, const float complex *x, size_t n, const radio_time *at)
{
    uhd_h *h = r->impl;
    if (!h->tx)
        return no_streamers(h);
    /* levels: after the back-off no component may reach the DAC's full scale (the fc32 -> sc16
     * conversion would saturate it): such a burst is refused whole, never clipped */
    const float peak = radio_burst_peak(x, n);
    if (!isfinite(peak)) {
        radio_count(r, &r->stats.tx_refused, 1);
        return AM_FAIL(AM_EINVAL, "radio 'uhd': burst has a NaN or infinite sample; not sent");
    }
    if (peak * h->scale > 1.0f) {
        radio_count(r, &r->stats.tx_refused, 1);
        return AM_FAIL(AM_EDEVICE,
                       "radio 'uhd': burst peak %.2f would saturate the DAC after the %.1f dB "
                       "back-off (%+.2f dBFS); not sent (raise backoff_db, and tx_gain by as much)",
                       (double)peak, -20 * log10((double)h->scale),
                       20 * log10((double)(peak * h->scale)));
    }
    am_status s = read_async(r, h, 0.0, 0); /* collect the verdicts of earlier bursts */
    if (s != AM_OK)
        return s;
    radio_time t;
    if (at) {
        t = *at;
    } else {
        UHD_CALL(h, uhd_usrp_get_time_now, h->usrp, 0, &t.secs, &t.frac);
        t = radio_time_add(t, h->lead);
    }
    /* UHD_NOTES: has_time_spec AND time_spec, full + fractional seconds, never one float */
    uhd_tx_metadata_handle first = NULL;
    size_t spp = h->tx_spp;
    size_t npk = (n + spp - 1) / spp;
    int single = npk == 1;
    UHD_CALL(h, uhd_tx_metadata_make, &first, true, t.secs, t.frac, true, single);
    double timeout = h->lead + 1.0 + (double)n / r->info.rate;
    for (size_t k = 0; k < npk && s == AM_OK; k++) {
        uhd_tx_metadata_handle *md = k == 0 ? &first : k + 1 == npk ? &h->md_end : &h->md_mid;
        size_t off = k * spp, len = n - off < spp ? n - off : spp;
        /* one packet, scaled; the last one zero-padded to a whole packet (UHD_NOTES "Buffers") */
        for (size_t i = 0; i < len; i++)
            h->stage[i] = h->scale * x[off + i];
        size_t m = len;
        if (len < spp && h->pad) {
            memset(h->stage + len, 0, (spp - len) * sizeof *h->stage);
            m = spp;
        }
        s = send_all(h, h->stage, m, md, timeout);
    }
    uhd_tx_metadata_free(&first);
    if (s != AM_OK)
        return s;
    h->bursts_sent++;
    pthread_mutex_lock(&r->lock);
    r->stats.tx_bursts++;
    r->stats.tx_samples += n;
    pthread_mutex_unlock(&r->lock);
    return AM_OK;
}

static am_status uhd_tx_flush(radio *r, double timeout_s)
{
    uhd_h *h = r->impl;
    return h->tx ? read_async(r, h, timeout_s, 1) : AM_OK;
}

static am_status start_stream(uhd_h *h, const radio_time *at, size_t n)
{
    if (!h->rx)
        return no_streamers(h);
    uhd_stream_cmd_t cmd = {.stream_mode = n ? UHD_STREAM_MODE_NUM_SAMPS_AND_DONE
                                             : UHD_STREAM_MODE_START_CONTINUOUS,
                            .num_samps = n,
                            .stream_now = at == NULL,
                            .time_spec_full_secs = at ? at->secs : 0,
                            .time_spec_frac_secs = at ? at->frac : 0.0};
    UHD_CALL(h, uhd_rx_streamer_issue_stream_cmd, h->rx, &cmd);
    h->rx_have_expect = 0;
    h->rx_count = n > 0;
    h->rx_left = n;
    return AM_OK;
}

static am_status uhd_rx_start(radio *r, const radio_time *at)
{
    return start_stream(r->impl, at, 0);
}

static am_status uhd_rx_start_n(radio *r, const radio_time *at, size_t n)
{
    if (n > 0x0fffffff) /* rx_vita_core_3000: num_samps is a 28-bit field */
        return AM_FAIL(AM_EINVAL, "radio 'uhd': a window of %zu samples (at most 268435455)", n);
    return start_stream(r->impl, at, n);
}

static am_status uhd_rx_stop(radio *r)
{
    uhd_h *h = r->impl;
    if (!h->rx)
        return AM_OK;
    if (h->rx_count && h->rx_left == 0) {
        h->rx_count = 0; /* the device stopped by itself after the last sample */
        return AM_OK;
    }
    uhd_stream_cmd_t cmd = {.stream_mode = UHD_STREAM_MODE_STOP_CONTINUOUS, .stream_now = true};
    UHD_CALL(h, uhd_rx_streamer_issue_stream_cmd, h->rx, &cmd);
    /* a continuous stream or a window left early: drain what was in flight so the next start
     * begins clean */
    float complex junk[512];
    void *buf = junk;
    for (int i = 0; i < 1000; i++) {
        size_t got = 0;
        UHD_CALL(h, uhd_rx_streamer_recv, h->rx, &buf, 512, &h->rx_md, 0.05, false, &got);
        if (got == 0)
            break;
    }
    h->rx_have_expect = 0;
    h->rx_count = 0;
    h->rx_left = 0;
    return AM_OK;
}

static am_status
uhd_rx(radio *r, float complex *x, size_t cap, size_t *n, radio_time *t0, double timeout_s)
{
    uhd_h *h = r->impl;
    double end = monotime_s() + timeout_s;
    if (h->rx_count && h->rx_left == 0)
        return AM_FAIL(AM_ETIMEOUT, "radio 'uhd': the RX window is complete");
    if (h->rx_count && cap > h->rx_left)
        cap = h->rx_left;
    for (;;) {
        void *buf = x;
        size_t got = 0;
        double left = end - monotime_s();
        UHD_CALL(h, uhd_rx_streamer_recv, h->rx, &buf, cap, &h->rx_md, left > 0 ? left : 0.0, false,
                 &got);
        uhd_rx_metadata_error_code_t ec;
        UHD_CALL(h, uhd_rx_metadata_error_code, h->rx_md, &ec);
        if (ec == UHD_RX_METADATA_ERROR_CODE_TIMEOUT)
            return AM_FAIL(AM_ETIMEOUT, "radio 'uhd': no RX samples within %g s", timeout_s);
        if (ec == UHD_RX_METADATA_ERROR_CODE_OVERFLOW) {
            bool oos = false;
            UHD_CALL(h, uhd_rx_metadata_out_of_sequence, h->rx_md, &oos);
            radio_count(r, oos ? &r->stats.seq_errors : &r->stats.overflows, 1);
            if (got == 0) {
                if (monotime_s() >= end)
                    return AM_FAIL(AM_ETIMEOUT, "radio 'uhd': RX overflow, then no samples");
                continue; /* the next packet carries the new timestamp: resync below */
            }
        } else if (ec == UHD_RX_METADATA_ERROR_CODE_LATE_COMMAND) {
            radio_count(r, &r->stats.late, 1);
            return AM_FAIL(AM_EDEVICE, "radio 'uhd': RX start time had already passed (args '%s')",
                           h->devargs);
        } else if (ec != UHD_RX_METADATA_ERROR_CODE_NONE) {
            char m[256] = "";
            uhd_rx_metadata_strerror(h->rx_md, m, sizeof m);
            return AM_FAIL(AM_EDEVICE, "radio 'uhd': RX error 0x%x: %s (args '%s')", (unsigned)ec,
                           m, h->devargs);
        }
        if (got == 0) {
            if (monotime_s() >= end)
                return AM_FAIL(AM_ETIMEOUT, "radio 'uhd': no RX samples within %g s", timeout_s);
            continue;
        }
        bool has_t = false;
        UHD_CALL(h, uhd_rx_metadata_has_time_spec, h->rx_md, &has_t);
        if (!has_t)
            return AM_FAIL(AM_EDEVICE, "radio 'uhd': RX packet without a timestamp");
        UHD_CALL(h, uhd_rx_metadata_time_spec, h->rx_md, &t0->secs, &t0->frac);
        /* UHD_NOTES "Long runs": trust timestamps, not sample counts */
        int64_t tick = radio_time_to_ticks(*t0, r->info.rate);
        if (h->rx_have_expect && tick != h->rx_expect)
            radio_count(r, &r->stats.timestamp_jumps, 1);
        h->rx_expect = tick + (int64_t)got;
        h->rx_have_expect = 1;
        if (h->rx_count)
            h->rx_left -= got < h->rx_left ? got : h->rx_left;
        /* levels: the ADC's full scale counted, the TX back-off undone */
        const float inv = 1.0f / h->scale;
        uint64_t clipped = 0;
        for (size_t i = 0; i < got; i++) {
            clipped += fabsf(crealf(x[i])) >= h->fs_rx || fabsf(cimagf(x[i])) >= h->fs_rx;
            x[i] *= inv;
        }
        if (clipped)
            radio_count(r, &r->stats.rx_clipped, clipped);
        *n = got;
        radio_count(r, &r->stats.rx_samples, got);
        return AM_OK;
    }
}

const radio_ops radio_uhd_ops = {
    .name = "uhd",
    .spec = uhd_spec,
    .nspec = sizeof uhd_spec / sizeof uhd_spec[0],
    .open = uhd_open_,
    .close = uhd_close_,
    .set_rate = uhd_set_rate,
    .set_freq = uhd_set_freq,
    .set_gain = uhd_set_gain,
    .set_clock_source = uhd_set_clock_source,
    .set_time_source = uhd_set_time_source,
    .set_time = uhd_set_time,
    .get_time = uhd_get_time,
    .tx_burst = uhd_tx_burst,
    .tx_flush = uhd_tx_flush,
    .rx_start = uhd_rx_start,
    .rx_start_n = uhd_rx_start_n,
    .rx_stop = uhd_rx_stop,
    .rx = uhd_rx,
};
