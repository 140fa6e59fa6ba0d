/* host/round/replay: decode every burst of a SigMF capture (docs/air-interface.md §7) with the
 * streaming receiver (§5); recovered payloads to a float32 file, one JSON line per burst. Contract:
 * round/replay.h. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/file.h"
#include "phy/ota_rx.h"
#include "phy/sigmf.h"
#include "round/replay.h"

typedef struct replay_ctx {
    const replay_opts *opts;
    const char *capture;
    FILE *out;
    unsigned char *buf; /* L * 4 bytes: one payload as little-endian float32 */
    uint64_t bursts;
} replay_ctx;

static am_status print_json(FILE *f, const phy_ota_burst *b)
{
    cJSON *o = cJSON_CreateObject();
    int ok = o != NULL;
    ok = ok && cJSON_AddNumberToObject(o, "burst", (double)b->index);
    ok = ok && cJSON_AddNumberToObject(o, "start", (double)b->start);
    ok = ok && cJSON_AddNumberToObject(o, "cfo", (double)b->cfo);
    ok = ok && cJSON_AddNumberToObject(o, "snr_db", (double)b->snr_db);
    ok = ok && cJSON_AddNumberToObject(o, "n0", (double)b->n0);
    ok = ok && cJSON_AddNumberToObject(o, "active_mean", (double)b->active_mean);
    ok = ok && cJSON_AddNumberToObject(o, "metric", (double)b->metric);
    ok = ok && cJSON_AddNumberToObject(o, "payload_len", (double)b->payload_len);
    char *s = ok ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    if (!s)
        return AM_FAIL(AM_ENOMEM, "replay: out of memory printing JSON");
    int bad = fprintf(f, "%s\n", s) < 0;
    free(s);
    fflush(f);
    return bad ? AM_FAIL(AM_EIO, "replay: cannot write the JSON output") : AM_OK;
}

static am_status on_burst(const phy_ota_burst *b, void *user)
{
    replay_ctx *c = user;
    /* finite samples near the float32 range (3e38) overflow the receiver's sums: a payload that
     * is not finite is refused as the non-finite samples that would give it are (§7) */
    size_t bad = 0;
    for (size_t j = 0; j < b->payload_len; j++)
        bad += !isfinite(b->payload[j]);
    if (bad)
        return AM_FAIL(AM_EFORMAT,
                       "burst %" PRIu64 " at sample %" PRIu64 ": %zu of its %zu payload reals "
                       "decode to NaN/Inf (samples near the float32 range overflow the receiver); "
                       "capture refused",
                       b->index, b->start, bad, b->payload_len);
    c->bursts++;
    if (c->out) {
        for (size_t j = 0; j < b->payload_len; j++) {
            uint32_t u;
            memcpy(&u, &b->payload[j], 4);
            unsigned char *p = c->buf + 4 * j; /* little-endian whatever the host */
            p[0] = (unsigned char)(u & 0xffu);
            p[1] = (unsigned char)((u >> 8) & 0xffu);
            p[2] = (unsigned char)((u >> 16) & 0xffu);
            p[3] = (unsigned char)(u >> 24);
        }
        if (fwrite(c->buf, 4, b->payload_len, c->out) != b->payload_len)
            return AM_FAIL(AM_EIO, "replay: %s: write failed: %s", c->opts->out, strerror(errno));
    }
    if (c->opts->json) {
        am_status s = print_json(c->opts->json, b);
        if (s != AM_OK)
            return s;
    }
    if (c->opts->text)
        fprintf(c->opts->text,
                "burst %" PRIu64 ": start %" PRIu64 "  cfo %+.4f  snr %.1f dB  active %.2f\n",
                b->index, b->start, (double)b->cfo, (double)b->snr_db, (double)b->active_mean);
    return AM_OK;
}

am_status replay_capture(const char *capture, const replay_opts *opts, replay_result *res)
{
    if (!capture || !opts || !res)
        return AM_FAIL(AM_EINVAL, "replay_capture: NULL argument");
    memset(res, 0, sizeof *res);
    phy_sigmf_reader *r = NULL;
    phy_ota_rx *rx = NULL;
    float complex *x = NULL;
    char *tmp = NULL;
    replay_ctx c = {.opts = opts, .capture = capture};
    am_status s = phy_sigmf_reader_open(capture, &r);
    if (s != AM_OK)
        return s;
    const phy_sigmf_info *in = phy_sigmf_reader_info(r);
    res->samples = in->n_samples;
    phy_ota_rx_cfg cfg;
    phy_ota_rx_cfg_default(&cfg);
    cfg.frame.nfft = in->nfft;
    cfg.frame.cp_len = in->cp_len;
    cfg.frame.sctype = in->has_sctype ? in->sctype : NULL;
    cfg.payload_len = (size_t)in->payload_len;
    cfg.eta = in->scale;
    cfg.rho = in->rho;
    cfg.threshold = opts->threshold;
    /* §5.2, §7.2: as the recording receiver did unless the caller says */
    cfg.gain_pool = opts->gain_pool == REPLAY_GAIN_POOL_CAPTURE ? in->gain_pool : opts->gain_pool;
    cfg.cal_slots = in->cal_slots; /* §2, §8: Nc calibration blocks after S1 */
    cfg.mapping = in->mapping;     /* §3.3, §7.2: absent = complex */
    cfg.pilot_level = in->pilot_level; /* §2, §7.2: absent = 1 */
    cfg.callback = on_burst;
    cfg.user = &c;
    if ((s = phy_ota_rx_create(&cfg, &rx)) != AM_OK) {
        am_error_wrap(s, "%s", capture);
        goto out;
    }
    /* every burst annotation holds at least one burst of airmeta:payload_len reals (§7): with a
     * payload_len too large for its bursts the receiver decodes the noise after them (issue 12
     * finding 11). Longer is fine: the file radio annotates what was sent, channel tails included. */
    const size_t blen = phy_ota_rx_burst_len(rx);
    const phy_sigmf_annotation *ann = phy_sigmf_reader_annotations(r);
    for (size_t i = 0; i < phy_sigmf_reader_n_annotations(r); i++)
        if (ann[i].burst && ann[i].count != UINT64_MAX && ann[i].count < blen) {
            s = AM_FAIL(AM_EFORMAT,
                        "%s: annotations[%zu]: core:sample_count %" PRIu64
                        " is shorter than a burst of airmeta:payload_len %" PRIu64 " reals (%zu "
                        "samples with fft_size %u, cp_len %u)",
                        capture, i, ann[i].count, in->payload_len, blen, in->nfft, in->cp_len);
            goto out;
        }
    size_t chunk = opts->chunk ? opts->chunk : 65536;
    x = malloc(chunk * sizeof *x);
    c.buf = malloc((size_t)in->payload_len * 4);
    if (!x || !c.buf) {
        s = AM_FAIL(AM_ENOMEM, "replay: out of memory");
        goto out;
    }
    if (opts->out) {
        /* the output is renamed into place: /dev/null, a FIFO or a link there is refused */
        if ((s = am_check_output(opts->out)) != AM_OK) {
            am_error_wrap(s, "--out");
            goto out;
        }
        size_t n = strlen(opts->out) + 16;
        tmp = malloc(n);
        if (!tmp) {
            s = AM_FAIL(AM_ENOMEM, "replay: out of memory");
            goto out;
        }
        snprintf(tmp, n, "%s.XXXXXX", opts->out);
        int fd = mkstemp(tmp);
        if (fd >= 0)
            (void)fchmod(fd, 0644); /* mkstemp makes 0600; the output is an ordinary file */
        if (fd < 0 || !(c.out = fdopen(fd, "wb"))) {
            s = AM_FAIL(AM_EIO, "replay: --out %s: cannot create a file beside it: %s", opts->out,
                        strerror(errno));
            if (fd >= 0)
                close(fd);
            free(tmp);
            tmp = NULL;
            goto out;
        }
    }
    for (;;) {
        size_t n = 0;
        if ((s = phy_sigmf_reader_read(r, x, chunk, &n)) != AM_OK)
            goto out;
        if (n == 0)
            break;
        if ((s = phy_ota_rx_execute(rx, x, n)) != AM_OK) {
            am_error_wrap(s, "%s", capture);
            goto out;
        }
    }
    phy_ota_rx_stats st;
    phy_ota_rx_get_stats(rx, &st);
    res->bursts = c.bursts;
    res->rejected = st.rejected;
    if (c.bursts == 0) {
        s = AM_FAIL(AM_ENOTFOUND, "%s: no burst found in %" PRIu64 " samples (%" PRIu64
                                  " detector triggers rejected)",
                    capture, in->n_samples, st.rejected);
        goto out;
    }
    if (c.out) {
        int bad = fflush(c.out) != 0;
        bad |= fclose(c.out) != 0;
        c.out = NULL;
        if (!bad && (s = am_check_output(opts->out)) != AM_OK) { /* swapped in meanwhile */
            am_error_wrap(s, "--out");
            goto out;
        }
        if (bad || rename(tmp, opts->out) != 0) {
            s = AM_FAIL(AM_EIO, "replay: cannot write %s: %s", opts->out, strerror(errno));
            goto out;
        }
        free(tmp);
        tmp = NULL;
    }
out:
    if (c.out)
        fclose(c.out);
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    free(c.buf);
    free(x);
    phy_ota_rx_destroy(rx);
    phy_sigmf_reader_close(r);
    return s;
}
