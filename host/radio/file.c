/* host/radio/file: SigMF recordings as a radio (DESIGN: "loopback file sink and SigMF captures";
 * srsRAN's always-built file RF). Uses phy/sigmf.h for every byte of the format
 * (docs/air-interface.md §7).
 *
 * TX, mode=stream (default): one recording per stream. Its sample 0 is the first burst's start;
 * later bursts go at their timestamps with zeros in between (at most max_gap seconds: a capture is
 * one contiguous stream) and each is annotated "airmeta-burst". A burst timed before what was
 * already written is late: dropped and counted. radio_tx_flush (and close) completes the
 * recording on disk (atomic rename); the next burst starts a new one at the same path.
 * TX, mode=burst: every burst is its own recording NAME-000000, NAME-000001, ...
 * RX: replays the capture rx=PATH (cf32_le or ci16_le) with its sample 0 at the RX start time.
 * At the end of the capture radio_rx returns AM_ETIMEOUT. When rx and tx name the same recording,
 * rx_start first completes the TX one (loopback file sink). */
#include "radio/file.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "radio/radio_impl.h"

#define FILE_PATH_MAX 4096
#define FILE_ZEROS 4096

typedef struct file_h {
    char tx_base[FILE_PATH_MAX], rx_base[FILE_PATH_MAX];
    int has_tx, has_rx, burst_mode;
    double max_gap;         /* seconds of zeros allowed between bursts of a stream */
    phy_sigmf_info meta;    /* §7 fields of new recordings */
    phy_sigmf_writer *w;    /* open stream recording */
    int64_t w_start;        /* tick of its sample 0 */
    uint64_t n_burst_files; /* burst mode: next index */
    char last[FILE_PATH_MAX + 64];
    phy_sigmf_reader *rd;
    int64_t rx_tick; /* tick of the next sample the reader returns */
    int64_t now;     /* handle clock, ticks */
    float complex zeros[FILE_ZEROS];
} file_h;

static const radio_arg_spec file_spec[] = {
    {"tx", RADIO_ARG_STR, 0, -1, NULL, "recording written by TX: NAME (NAME.sigmf-meta/-data)"},
    {"rx", RADIO_ARG_STR, 0, -1, NULL, "recording replayed by RX (cf32_le or ci16_le)"},
    {"mode", RADIO_ARG_CHOICE, 0, -1, "stream|burst",
     "stream: one recording per stream; burst: one per burst (default stream)"},
    {"rate", RADIO_ARG_DOUBLE, 1, 1e12, NULL,
     "sample rate, S/s (default 1e6, or the RX capture's)"},
    {"freq", RADIO_ARG_DOUBLE, 0, 1e12, NULL, "centre frequency written as core:frequency, Hz"},
    {"max_gap", RADIO_ARG_DOUBLE, 0, 3600, NULL, "longest silence inside a stream, s (default 1)"},
    {"fft_size", RADIO_ARG_INT, 64, 4096, NULL, "airmeta:fft_size M (default 256)"},
    {"cp_len", RADIO_ARG_INT, 1, 2048, NULL, "airmeta:cp_len (default 32)"},
    {"payload_len", RADIO_ARG_INT, 1, (double)PHY_SIGMF_MAX_PAYLOAD_LEN, NULL,
     "airmeta:payload_len L (default 1024)"},
    {"scale", RADIO_ARG_FLOAT, 1e-30, 1e30, NULL, "airmeta:scale eta (default 1)"},
    {"rho", RADIO_ARG_FLOAT, 1e-30, 1e30, NULL, "airmeta:rho (default 1)"},
    {"g_th", RADIO_ARG_FLOAT, 0, 1e30, NULL, "airmeta:g_th (default 0)"},
    {"agents", RADIO_ARG_INT, 1, 1e9, NULL, "airmeta:agents (optional)"},
    {"round", RADIO_ARG_INT, 0, 9e15, NULL, "airmeta:round (optional)"},
    {"tx_gain", RADIO_ARG_DOUBLE, -100, 100, NULL, "TX gain, dB (recorded only)"},
    {"rx_gain", RADIO_ARG_DOUBLE, -100, 100, NULL, "RX gain, dB (recorded only)"},
};

/* The meta written for a new recording: the §7 fields plus the radio's rate and frequency. */
static phy_sigmf_info rec_info(const radio *r, const file_h *h)
{
    phy_sigmf_info in = h->meta;
    in.sample_rate = r->info.rate;
    in.frequency = r->info.tx_freq > 0 ? r->info.tx_freq : NAN;
    if (!in.hw[0])
        snprintf(in.hw, sizeof in.hw, "airmeta radio 'file'");
    return in;
}

/* Completes the open stream recording (atomic rename by phy_sigmf_writer_close). */
static am_status finish(file_h *h)
{
    if (!h->w)
        return AM_OK;
    phy_sigmf_writer *w = h->w;
    h->w = NULL;
    am_status s = phy_sigmf_writer_close(w);
    if (s != AM_OK)
        return am_error_wrap(s, "radio 'file': completing '%s'", h->tx_base);
    snprintf(h->last, sizeof h->last, "%.4040s.sigmf-meta", h->tx_base);
    return AM_OK;
}

static am_status open_reader(radio *r, file_h *h, int rate_given)
{
    phy_sigmf_reader_close(h->rd);
    h->rd = NULL;
    am_status s = phy_sigmf_reader_open(h->rx_base, &h->rd);
    if (s != AM_OK)
        return am_error_wrap(s, "radio 'file': rx=%s", h->rx_base);
    double cap_rate = phy_sigmf_reader_info(h->rd)->sample_rate;
    if (rate_given && cap_rate != r->info.rate) {
        phy_sigmf_reader_close(h->rd);
        h->rd = NULL;
        return AM_FAIL(AM_EINVAL,
                       "radio 'file': rx=%s is recorded at %.17g S/s, radio rate is %.17g",
                       h->rx_base, cap_rate, r->info.rate);
    }
    r->info.rate = cap_rate;
    double f = phy_sigmf_reader_info(h->rd)->frequency;
    if (!isnan(f))
        r->info.rx_freq = f;
    return AM_OK;
}

static void file_h_free(file_h *h)
{
    if (!h)
        return;
    phy_sigmf_writer_destroy(h->w);
    phy_sigmf_reader_close(h->rd);
    free(h);
}

static am_status file_open(radio *r, const radio_args *a)
{
    if (!radio_args_has(a, "tx") && !radio_args_has(a, "rx"))
        return AM_FAIL(AM_EINVAL, "radio 'file': give tx=RECORDING and/or rx=RECORDING");
    file_h *h = calloc(1, sizeof *h);
    if (!h)
        return AM_FAIL(AM_ENOMEM, "radio 'file': out of memory");
    am_status s = AM_OK;
    if (radio_args_has(a, "tx")) {
        s = phy_sigmf_base(radio_args_str(a, "tx", ""), h->tx_base, sizeof h->tx_base);
        h->has_tx = 1;
    }
    if (s == AM_OK && radio_args_has(a, "rx")) {
        s = phy_sigmf_base(radio_args_str(a, "rx", ""), h->rx_base, sizeof h->rx_base);
        h->has_rx = 1;
    }
    if (s != AM_OK) {
        free(h);
        return am_error_wrap(AM_EINVAL, "radio 'file'");
    }
    h->burst_mode = strcmp(radio_args_str(a, "mode", "stream"), "burst") == 0;
    h->max_gap = radio_args_double(a, "max_gap", 1.0);
    phy_sigmf_info_default(&h->meta);
    h->meta.nfft = (unsigned)radio_args_int(a, "fft_size", h->meta.nfft);
    h->meta.cp_len = (unsigned)radio_args_int(a, "cp_len", h->meta.nfft / 8);
    h->meta.payload_len = (uint64_t)radio_args_int(a, "payload_len", (int64_t)h->meta.payload_len);
    h->meta.scale = (float)radio_args_double(a, "scale", h->meta.scale);
    h->meta.rho = (float)radio_args_double(a, "rho", h->meta.rho);
    h->meta.g_th = (float)radio_args_double(a, "g_th", h->meta.g_th);
    h->meta.agents = radio_args_int(a, "agents", -1);
    h->meta.round = radio_args_int(a, "round", -1);
    r->impl = h;
    r->info.rate = radio_args_double(a, "rate", 1e6);
    radio_record_rf_args(r, a);
    r->info.max_burst = (size_t)1 << 28;
    snprintf(r->info.device, sizeof r->info.device, "SigMF tx=%.100s%s rx=%.100s",
             h->has_tx ? h->tx_base : "-", h->burst_mode ? " (one per burst)" : "",
             h->has_rx ? h->rx_base : "-");
    /* the writer's checks, now rather than at the first burst */
    if (h->has_tx) {
        phy_sigmf_info in = rec_info(r, h);
        s = radio_file_set_meta(r, &in);
    }
    /* an existing RX capture is checked now; one this radio will write is opened at rx_start */
    if (s == AM_OK && h->has_rx && !(h->has_tx && strcmp(h->tx_base, h->rx_base) == 0))
        s = open_reader(r, h, radio_args_has(a, "rate"));
    if (s != AM_OK) {
        file_h_free(h);
        r->impl = NULL;
    }
    return s;
}

static void file_close(radio *r)
{
    file_h *h = r->impl;
    if (!h)
        return;
    (void)finish(h); /* close cannot report: radio_tx_flush first to see errors */
    file_h_free(h);
    r->impl = NULL;
}

static am_status file_set_rate(radio *r, double sps)
{
    file_h *h = r->impl;
    if (h->w)
        return AM_FAIL(AM_EINVAL, "radio 'file': rate change inside a recording (flush first)");
    if (h->rd && phy_sigmf_reader_info(h->rd)->sample_rate != sps)
        return AM_FAIL(AM_EINVAL, "radio 'file': rx capture is recorded at %.17g S/s",
                       phy_sigmf_reader_info(h->rd)->sample_rate);
    r->info.rate = sps;
    return AM_OK;
}

static am_status file_set_time(radio *r, const radio_time *t, int next_pps)
{
    file_h *h = r->impl;
    int64_t ticks = radio_time_to_ticks(*t, r->info.rate);
    if (next_pps) {
        int64_t per = (int64_t)llround(r->info.rate);
        ticks -= (h->now / per + 1) * per - h->now;
    }
    h->now = ticks;
    return AM_OK;
}

static am_status file_get_time(radio *r, radio_time *t)
{
    *t = radio_time_from_ticks(((file_h *)r->impl)->now, r->info.rate);
    return AM_OK;
}

static am_status write_burst_file(radio *r, file_h *h, const float complex *x, size_t n, int64_t s)
{
    char path[FILE_PATH_MAX + 32];
    snprintf(path, sizeof path, "%.4000s-%06llu", h->tx_base, (unsigned long long)h->n_burst_files);
    phy_sigmf_info in = rec_info(r, h);
    radio_time t = radio_time_from_ticks(s, r->info.rate);
    if (!h->meta.description[0] || strcmp(h->meta.description, "airmeta capture") == 0)
        snprintf(in.description, sizeof in.description,
                 "airmeta burst at device time %lld+%.9f s (tick %lld)", (long long)t.secs, t.frac,
                 (long long)s);
    phy_sigmf_annotation ann = {0, n, 1};
    am_status st = phy_sigmf_write(path, &in, x, n, &ann, 1);
    if (st != AM_OK)
        return am_error_wrap(st, "radio 'file': burst recording '%s'", path);
    h->n_burst_files++;
    snprintf(h->last, sizeof h->last, "%.4040s.sigmf-meta", path);
    return AM_OK;
}

static am_status file_tx_burst(radio *r, const float complex *x, size_t n, const radio_time *at)
{
    file_h *h = r->impl;
    if (!h->has_tx)
        return AM_FAIL(AM_EINVAL, "radio 'file': no tx recording (give tx=...)");
    int64_t s = at ? radio_time_to_ticks(*at, r->info.rate) : h->now;
    am_status st = AM_OK;
    if (h->burst_mode) {
        st = write_burst_file(r, h, x, n, s);
    } else {
        if (!h->w) {
            phy_sigmf_info in = rec_info(r, h);
            st = phy_sigmf_writer_create(h->tx_base, &in, &h->w);
            if (st != AM_OK)
                return am_error_wrap(st, "radio 'file': tx=%s", h->tx_base);
            h->w_start = s;
        }
        int64_t pos = s - h->w_start, written = (int64_t)phy_sigmf_writer_count(h->w);
        if (pos < written) {
            radio_count(r, &r->stats.late, 1); /* time already written: like a late burst on air */
            return AM_OK;
        }
        if ((double)(pos - written) > h->max_gap * r->info.rate)
            return AM_FAIL(AM_EINVAL,
                           "radio 'file': burst starts %.6g s after the end of the recording "
                           "'%s' (max_gap=%g s): flush to start a new recording",
                           (double)(pos - written) / r->info.rate, h->tx_base, h->max_gap);
        for (int64_t z = pos - written; z > 0 && st == AM_OK;) {
            size_t k = z > FILE_ZEROS ? FILE_ZEROS : (size_t)z;
            st = phy_sigmf_writer_write(h->w, h->zeros, k);
            z -= (int64_t)k;
        }
        if (st == AM_OK)
            st = phy_sigmf_writer_annotate(h->w, (uint64_t)pos, n);
        if (st == AM_OK)
            st = phy_sigmf_writer_write(h->w, x, n);
        if (st != AM_OK)
            return am_error_wrap(st, "radio 'file': writing '%s'", h->tx_base);
    }
    if (s + (int64_t)n > h->now)
        h->now = s + (int64_t)n;
    pthread_mutex_lock(&r->lock);
    r->stats.tx_bursts++;
    r->stats.tx_samples += n;
    pthread_mutex_unlock(&r->lock);
    return AM_OK;
}

static am_status file_tx_flush(radio *r, double timeout_s)
{
    (void)timeout_s;
    return finish(r->impl);
}

static am_status file_rx_start(radio *r, const radio_time *at)
{
    file_h *h = r->impl;
    if (!h->has_rx)
        return AM_FAIL(AM_EINVAL, "radio 'file': no rx recording (give rx=...)");
    am_status s = AM_OK;
    if (h->has_tx && strcmp(h->tx_base, h->rx_base) == 0) {
        /* loopback file sink: what TX wrote so far is what RX replays */
        s = finish(h);
        if (s == AM_OK)
            s = open_reader(r, h, 1);
    } else if (h->rd) {
        s = phy_sigmf_reader_rewind(h->rd);
    } else {
        s = open_reader(r, h, 0);
    }
    if (s != AM_OK)
        return s;
    h->rx_tick = at ? radio_time_to_ticks(*at, r->info.rate) : h->now;
    return AM_OK;
}

static am_status file_rx_stop(radio *r)
{
    (void)r;
    return AM_OK;
}

static am_status
file_rx(radio *r, float complex *x, size_t cap, size_t *n, radio_time *t0, double timeout_s)
{
    (void)timeout_s; /* a file has no later: the end is the end */
    file_h *h = r->impl;
    size_t k = 0;
    am_status s = phy_sigmf_reader_read(h->rd, x, cap, &k);
    if (s != AM_OK)
        return am_error_wrap(s, "radio 'file': rx=%s", h->rx_base);
    if (k == 0)
        return AM_FAIL(AM_ETIMEOUT, "radio 'file': end of the capture '%s'", h->rx_base);
    *t0 = radio_time_from_ticks(h->rx_tick, r->info.rate);
    *n = k;
    h->rx_tick += (int64_t)k;
    if (h->rx_tick > h->now)
        h->now = h->rx_tick;
    radio_count(r, &r->stats.rx_samples, k);
    return AM_OK;
}

am_status radio_file_set_meta(radio *r, const phy_sigmf_info *info)
{
    if (!r || !info || r->ops != &radio_file_ops)
        return AM_FAIL(AM_EINVAL, "radio_file_set_meta: not a 'file' radio");
    file_h *h = r->impl;
    if (!h->has_tx)
        return AM_FAIL(AM_EINVAL, "radio 'file': no tx recording to describe");
    phy_sigmf_info in = *info;
    in.sample_rate = r->info.rate;
    in.frequency = r->info.tx_freq > 0 ? r->info.tx_freq : NAN;
    if (!in.hw[0] && !in.description[0])
        snprintf(in.hw, sizeof in.hw, "airmeta radio 'file'");
    /* validate exactly as the writer will: create it on a scratch path and abandon it */
    char scratch[FILE_PATH_MAX + 32];
    snprintf(scratch, sizeof scratch, "%.4000s.check", h->tx_base);
    phy_sigmf_writer *w = NULL;
    am_status s = phy_sigmf_writer_create(scratch, &in, &w);
    phy_sigmf_writer_destroy(w);
    if (s != AM_OK)
        return am_error_wrap(s == AM_EIO ? AM_EIO : AM_EINVAL, "radio 'file': tx=%s", h->tx_base);
    h->meta = in;
    return AM_OK;
}

const char *radio_file_last_recording(const radio *r)
{
    if (!r || r->ops != &radio_file_ops || !r->impl)
        return "";
    return ((const file_h *)r->impl)->last;
}

const radio_ops radio_file_ops = {
    .name = "file",
    .spec = file_spec,
    .nspec = sizeof file_spec / sizeof file_spec[0],
    .open = file_open,
    .close = file_close,
    .set_rate = file_set_rate,
    .set_freq = radio_record_freq,
    .set_gain = radio_record_gain,
    .set_clock_source = radio_record_clock_source,
    .set_time_source = radio_record_time_source,
    .set_time = file_set_time,
    .get_time = file_get_time,
    .tx_burst = file_tx_burst,
    .tx_flush = file_tx_flush,
    .rx_start = file_rx_start,
    .rx_stop = file_rx_stop,
    .rx = file_rx,
};
