/* phy/sigmf: SigMF recordings (docs/air-interface.md §7). JSON through cJSON; samples streamed.
 *
 * Every key the reader uses is checked for presence, type and range, and every message names the
 * file and the key. Sample data is converted from little-endian bytes explicitly (portable). */
#include "phy/sigmf.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/file.h"
#include "phy/frame.h"
#include "phy/ota_rx.h" /* PHY_OTA_RX_GAIN_POOL_MAX */
#include "phy/version.h"

#define SIGMF_PATH_MAX 4096
#define SIGMF_IO_SAMPLES 4096u   /* writer conversion buffer */
#define JSON_INT_MAX 9007199254740992.0 /* 2^53: integers exactly representable in a double */

void phy_sigmf_info_default(phy_sigmf_info *info)
{
    memset(info, 0, sizeof *info);
    info->sample_rate = 1e6;
    info->frequency = NAN;
    snprintf(info->description, sizeof info->description, "airmeta capture");
    info->version = 1;
    info->device_tick = -1;
    info->nfft = 256;
    info->cp_len = 32;
    info->payload_len = 1024;
    info->scale = 1.0f;
    info->rho = 1.0f;
    info->g_th = 0.0f;
    info->agents = -1;
    info->round = -1;
    info->pilot_level = 1.0f;
    info->has_sctype = 0;
    info->datatype = PHY_SIGMF_CF32_LE;
}

static int ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

am_status phy_sigmf_base(const char *path, char *base, size_t cap)
{
    if (!path || !*path)
        return AM_FAIL(AM_EINVAL, "sigmf: empty path");
    size_t n = strlen(path);
    static const char *const ext[] = {".sigmf-meta", ".sigmf-data", ".sigmf"};
    for (size_t i = 0; i < 3; i++)
        if (ends_with(path, n, ext[i])) {
            n -= strlen(ext[i]);
            break;
        }
    if (n == 0 || path[n - 1] == '/') /* DIR/: the hidden DIR/.sigmf-meta was written */
        return AM_FAIL(AM_EINVAL, "sigmf: '%s' has no base name", path);
    if (n + 16 > cap || n + 16 > SIGMF_PATH_MAX)
        return AM_FAIL(AM_EINVAL, "sigmf: path too long (%zu characters)", n);
    memcpy(base, path, n);
    base[n] = '\0';
    return AM_OK;
}

/* ---- shared validation of the §7 fields (writer input and reader result) ------------------ */

static am_status check_info(const phy_sigmf_info *in, const char *file)
{
    if (!(in->sample_rate >= 1.0 && in->sample_rate <= 1e12))
        return AM_FAIL(AM_EFORMAT, "%s: core:sample_rate: %g is not in 1..1e12 S/s", file,
                       in->sample_rate);
    if (!isnan(in->frequency) && !(fabs(in->frequency) <= 1e12))
        return AM_FAIL(AM_EFORMAT, "%s: core:frequency: %g is not in -1e12..1e12 Hz", file,
                       in->frequency);
    if (!phy_air_interface_supported(in->version))
        return AM_FAIL(AM_ENOTSUP,
                       "%s: airmeta:version: %u is not supported (this build reads versions "
                       "%u..%u)",
                       file, in->version, PHY_AIR_INTERFACE_MIN_VERSION, PHY_AIR_INTERFACE_VERSION);
    if (in->nfft < PHY_NFFT_MIN || in->nfft > PHY_NFFT_MAX || (in->nfft & 1u))
        return AM_FAIL(AM_EFORMAT, "%s: airmeta:fft_size: %u is not an even number in %u..%u",
                       file, in->nfft, PHY_NFFT_MIN, PHY_NFFT_MAX);
    if (in->cp_len < 1 || in->cp_len > in->nfft / 2)
        return AM_FAIL(AM_EFORMAT, "%s: airmeta:cp_len: %u is not in 1..%u", file, in->cp_len,
                       in->nfft / 2);
    if (in->payload_len < 1 || in->payload_len > PHY_SIGMF_MAX_PAYLOAD_LEN)
        return AM_FAIL(AM_EFORMAT, "%s: airmeta:payload_len: %llu is not in 1..%llu", file,
                       (unsigned long long)in->payload_len,
                       (unsigned long long)PHY_SIGMF_MAX_PAYLOAD_LEN);
    if (!isfinite(in->scale) || !(in->scale > 0))
        return AM_FAIL(AM_EFORMAT, "%s: airmeta:scale: %g is not a positive number", file,
                       (double)in->scale);
    if (!isfinite(in->rho) || !(in->rho > 0))
        return AM_FAIL(AM_EFORMAT, "%s: airmeta:rho: %g is not a positive number", file,
                       (double)in->rho);
    if (!isfinite(in->g_th) || in->g_th < 0)
        return AM_FAIL(AM_EFORMAT, "%s: airmeta:g_th: %g is not a number >= 0", file,
                       (double)in->g_th);
    if (in->agents != -1 && (in->agents < 1 || in->agents > 1000000000))
        return AM_FAIL(AM_EFORMAT, "%s: airmeta:agents: %lld is not in 1..1e9", file,
                       (long long)in->agents);
    if (in->round < -1 || in->round > (int64_t)JSON_INT_MAX - 1) /* a JSON number, exact */
        return AM_FAIL(AM_EFORMAT, "%s: airmeta:round: %lld is not in 0..2^53 - 1", file,
                       (long long)in->round);
    if (in->cal_slots > PHY_SIGMF_MAX_CAL_SLOTS)
        return AM_FAIL(AM_EFORMAT, "%s: airmeta:cal_slots: %u is not in 0..%u", file,
                       in->cal_slots, PHY_SIGMF_MAX_CAL_SLOTS);
    if (in->device_tick < -1 || in->device_tick > PHY_SIGMF_MAX_TICK)
        return AM_FAIL(AM_EFORMAT, "%s: airmeta:device_tick: %lld is not in 0..2^62", file,
                       (long long)in->device_tick);
    /* docs/air-interface.md §7.2: the version-2 keys need airmeta:version >= 2 */
    if (in->version < 2 && in->cal_slots > 0)
        return AM_FAIL(AM_EFORMAT, "%s: airmeta:cal_slots needs airmeta:version 2 (it is %u)",
                       file, in->version);
    if (in->version < 2 && in->device_tick >= 0)
        return AM_FAIL(AM_EFORMAT, "%s: airmeta:device_tick needs airmeta:version 2 (it is %u)",
                       file, in->version);
    if (in->mapping != PHY_MAP_COMPLEX && in->mapping != PHY_MAP_REAL)
        return AM_FAIL(AM_EFORMAT, "%s: airmeta:mapping: %d is not complex (0) or real (1)", file,
                       (int)in->mapping);
    if (in->version < 2 && in->mapping != PHY_MAP_COMPLEX)
        return AM_FAIL(AM_EFORMAT, "%s: airmeta:mapping needs airmeta:version 2 (it is %u)", file,
                       in->version);
    if (in->gain_pool > PHY_OTA_RX_GAIN_POOL_MAX)
        return AM_FAIL(AM_EFORMAT, "%s: airmeta:gain_pool: %u is not in 0..%u", file,
                       in->gain_pool, PHY_OTA_RX_GAIN_POOL_MAX);
    if (in->version < 2 && in->gain_pool > 0)
        return AM_FAIL(AM_EFORMAT, "%s: airmeta:gain_pool needs airmeta:version 2 (it is %u)",
                       file, in->version);
    if (!(in->pilot_level > 0.0f && in->pilot_level <= 1.0f))
        return AM_FAIL(AM_EFORMAT, "%s: airmeta:pilot_level: %g is not in (0, 1]", file,
                       (double)in->pilot_level);
    if (in->version < 2 && in->pilot_level != 1.0f)
        return AM_FAIL(AM_EFORMAT, "%s: airmeta:pilot_level needs airmeta:version 2 (it is %u)",
                       file, in->version);
    phy_frame_cfg fc;
    phy_frame_cfg_default(&fc);
    fc.nfft = in->nfft;
    fc.cp_len = in->cp_len;
    fc.sctype = in->has_sctype ? in->sctype : NULL;
    am_status s = phy_frame_validate(&fc);
    if (s != AM_OK)
        return am_error_wrap(AM_EFORMAT, "%s: %s", file,
                             in->has_sctype ? "airmeta:sctype" : "airmeta:fft_size/cp_len");
    return AM_OK;
}

/* ---- writer ----------------------------------------------------------------------------- */

struct phy_sigmf_writer {
    phy_sigmf_info info;
    char base[SIGMF_PATH_MAX];
    char data_tmp[SIGMF_PATH_MAX + 32];
    FILE *data;
    uint64_t count;
    phy_sigmf_annotation *ann;
    size_t n_ann, cap_ann;
    unsigned char buf[SIGMF_IO_SAMPLES * 8];
};

static void put_le32(unsigned char *b, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    b[0] = (unsigned char)(u & 0xffu);
    b[1] = (unsigned char)((u >> 8) & 0xffu);
    b[2] = (unsigned char)((u >> 16) & 0xffu);
    b[3] = (unsigned char)(u >> 24);
}

static FILE *open_tmp(const char *final, char *tmp, size_t cap)
{
    int len = snprintf(tmp, cap, "%s.XXXXXX", final);
    if (len < 0 || (size_t)len >= cap) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    int fd = mkstemp(tmp);
    if (fd < 0)
        return NULL;
    (void)fchmod(fd, 0644); /* mkstemp creates 0600; recordings are meant to be shared */
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        close(fd);
        unlink(tmp);
    }
    return f;
}

am_status phy_sigmf_writer_create(const char *path,
                                  const phy_sigmf_info *info,
                                  phy_sigmf_writer **out)
{
    if (!out)
        return AM_FAIL(AM_EINVAL, "phy_sigmf_writer_create: out is NULL");
    *out = NULL;
    if (!path || !info)
        return AM_FAIL(AM_EINVAL, "phy_sigmf_writer_create: NULL argument");
    phy_sigmf_writer *w = calloc(1, sizeof *w);
    if (!w)
        return AM_FAIL(AM_ENOMEM, "phy_sigmf_writer_create: out of memory");
    am_status s = phy_sigmf_base(path, w->base, sizeof w->base);
    if (s != AM_OK) {
        free(w);
        return s;
    }
    w->info = *info;
    w->info.description[PHY_SIGMF_TEXT_MAX - 1] = '\0';
    w->info.hw[PHY_SIGMF_TEXT_MAX - 1] = '\0';
    w->info.datatype = PHY_SIGMF_CF32_LE;
    char meta[SIGMF_PATH_MAX + 16];
    snprintf(meta, sizeof meta, "%s.sigmf-meta", w->base);
    s = check_info(&w->info, meta);
    if (s == AM_OK && !w->info.description[0] && !w->info.hw[0])
        s = AM_FAIL(AM_EINVAL, "%s: needs core:description or core:hw (§7)", meta);
    if (s != AM_OK) {
        free(w);
        return s == AM_EFORMAT || s == AM_ENOTSUP ? AM_EINVAL : s;
    }
    char final[SIGMF_PATH_MAX + 16];
    snprintf(final, sizeof final, "%s.sigmf-data", w->base);
    /* the recording replaces its files by rename: a device, FIFO or link there is refused */
    if ((s = am_check_output(final)) != AM_OK || (s = am_check_output(meta)) != AM_OK) {
        free(w);
        return s;
    }
    w->data = open_tmp(final, w->data_tmp, sizeof w->data_tmp);
    if (!w->data) {
        int e = errno;
        free(w);
        return AM_FAIL(AM_EIO, "%s: cannot create a temporary file: %s", final, strerror(e));
    }
    *out = w;
    return AM_OK;
}

am_status phy_sigmf_writer_write(phy_sigmf_writer *w, const float complex *x, size_t n)
{
    if (!w || (!x && n))
        return AM_FAIL(AM_EINVAL, "phy_sigmf_writer_write: NULL argument");
    for (size_t t = 0; t < n; t++)
        if (!isfinite(crealf(x[t])) || !isfinite(cimagf(x[t])))
            return AM_FAIL(AM_EFORMAT, "%s.sigmf-data: sample %llu is not finite", w->base,
                           (unsigned long long)(w->count + t));
    for (size_t pos = 0; pos < n; pos += SIGMF_IO_SAMPLES) {
        size_t m = n - pos < SIGMF_IO_SAMPLES ? n - pos : SIGMF_IO_SAMPLES;
        for (size_t j = 0; j < m; j++) {
            put_le32(w->buf + 8 * j, crealf(x[pos + j]));
            put_le32(w->buf + 8 * j + 4, cimagf(x[pos + j]));
        }
        if (fwrite(w->buf, 8, m, w->data) != m)
            return AM_FAIL(AM_EIO, "%s.sigmf-data: write failed: %s", w->base, strerror(errno));
    }
    w->count += n;
    return AM_OK;
}

uint64_t phy_sigmf_writer_count(const phy_sigmf_writer *w)
{
    return w ? w->count : 0;
}

am_status phy_sigmf_writer_annotate(phy_sigmf_writer *w, uint64_t start, uint64_t count)
{
    if (!w)
        return AM_FAIL(AM_EINVAL, "phy_sigmf_writer_annotate: NULL writer");
    if (w->n_ann && start < w->ann[w->n_ann - 1].start)
        return AM_FAIL(AM_EINVAL, "annotation at %llu after one at %llu (SigMF wants them sorted)",
                       (unsigned long long)start, (unsigned long long)w->ann[w->n_ann - 1].start);
    if (start > (uint64_t)JSON_INT_MAX || (count != UINT64_MAX && count > (uint64_t)JSON_INT_MAX))
        return AM_FAIL(AM_EINVAL, "annotation start/count beyond 2^53");
    if (w->n_ann >= PHY_SIGMF_MAX_ANNOTATIONS)
        return AM_FAIL(AM_EINVAL, "more than %u annotations", PHY_SIGMF_MAX_ANNOTATIONS);
    if (w->n_ann == w->cap_ann) {
        size_t nc = w->cap_ann ? 2 * w->cap_ann : 16;
        phy_sigmf_annotation *a = realloc(w->ann, nc * sizeof *a);
        if (!a)
            return AM_FAIL(AM_ENOMEM, "phy_sigmf_writer_annotate: out of memory");
        w->ann = a;
        w->cap_ann = nc;
    }
    w->ann[w->n_ann].start = start;
    w->ann[w->n_ann].count = count;
    w->ann[w->n_ann].burst = 1;
    w->n_ann++;
    return AM_OK;
}

/* Builds the .sigmf-meta JSON (NULL on allocation failure). */
static cJSON *build_meta(const phy_sigmf_writer *w)
{
    const phy_sigmf_info *in = &w->info;
    cJSON *root = cJSON_CreateObject();
    cJSON *g = cJSON_AddObjectToObject(root, "global");
    int ok = root && g;
    ok = ok && cJSON_AddStringToObject(g, "core:datatype", "cf32_le");
    ok = ok && cJSON_AddNumberToObject(g, "core:sample_rate", in->sample_rate);
    ok = ok && cJSON_AddStringToObject(g, "core:version", PHY_SIGMF_VERSION);
    ok = ok && cJSON_AddNumberToObject(g, "core:num_channels", 1);
    if (in->description[0])
        ok = ok && cJSON_AddStringToObject(g, "core:description", in->description);
    if (in->hw[0])
        ok = ok && cJSON_AddStringToObject(g, "core:hw", in->hw);
    ok = ok && cJSON_AddStringToObject(g, "core:recorder", "airmeta");
    cJSON *exts = ok ? cJSON_AddArrayToObject(g, "core:extensions") : NULL;
    cJSON *ext = cJSON_CreateObject();
    ok = ok && exts && ext && cJSON_AddItemToArray(exts, ext);
    if (!ok)
        cJSON_Delete(ext);
    ok = ok && cJSON_AddStringToObject(ext, "name", "airmeta");
    ok = ok && cJSON_AddStringToObject(ext, "version", PHY_SIGMF_EXT_VERSION);
    ok = ok && cJSON_AddFalseToObject(ext, "optional");
    /* §7 table */
    ok = ok && cJSON_AddNumberToObject(g, "airmeta:version", in->version);
    ok = ok && cJSON_AddNumberToObject(g, "airmeta:fft_size", in->nfft);
    ok = ok && cJSON_AddNumberToObject(g, "airmeta:cp_len", in->cp_len);
    ok = ok && cJSON_AddNumberToObject(g, "airmeta:payload_len", (double)in->payload_len);
    ok = ok && cJSON_AddNumberToObject(g, "airmeta:scale", (double)in->scale);
    ok = ok && cJSON_AddNumberToObject(g, "airmeta:rho", (double)in->rho);
    ok = ok && cJSON_AddNumberToObject(g, "airmeta:g_th", (double)in->g_th);
    if (in->agents >= 0)
        ok = ok && cJSON_AddNumberToObject(g, "airmeta:agents", (double)in->agents);
    if (in->round >= 0)
        ok = ok && cJSON_AddNumberToObject(g, "airmeta:round", (double)in->round);
    if (in->cal_slots > 0)
        ok = ok && cJSON_AddNumberToObject(g, "airmeta:cal_slots", in->cal_slots);
    if (in->mapping != PHY_MAP_COMPLEX) /* §7.2: absent = complex, so complex keeps its bytes */
        ok = ok && cJSON_AddStringToObject(g, "airmeta:mapping", phy_mapping_name(in->mapping));
    if (in->gain_pool > 0) /* §7.2: absent = 0 (per bin) */
        ok = ok && cJSON_AddNumberToObject(g, "airmeta:gain_pool", in->gain_pool);
    if (in->pilot_level != 1.0f) /* §7.2: absent = 1, so unit pilots keep their bytes */
        ok = ok && cJSON_AddNumberToObject(g, "airmeta:pilot_level", (double)in->pilot_level);
    if (in->has_sctype) {
        unsigned char def[PHY_NFFT_MAX];
        int is_default = phy_frame_default_sctype(in->nfft, def) == AM_OK &&
                         memcmp(def, in->sctype, in->nfft) == 0;
        if (!is_default) {
            char str[PHY_NFFT_MAX + 1];
            for (unsigned i = 0; i < in->nfft; i++)
                str[i] = (char)('0' + in->sctype[i]);
            str[in->nfft] = '\0';
            ok = ok && cJSON_AddStringToObject(g, "airmeta:sctype", str);
        }
    }
    cJSON *caps = ok ? cJSON_AddArrayToObject(root, "captures") : NULL;
    cJSON *cap = cJSON_CreateObject();
    ok = ok && caps && cap && cJSON_AddItemToArray(caps, cap);
    if (!ok)
        cJSON_Delete(cap);
    ok = ok && cJSON_AddNumberToObject(cap, "core:sample_start", 0);
    if (!isnan(in->frequency))
        ok = ok && cJSON_AddNumberToObject(cap, "core:frequency", in->frequency);
    /* docs/air-interface.md §7.2: a JSON number below 2^53 (exact in a double), a decimal string
     * from 2^53 on (a UTC time base above about 5 MS/s). The number is written as its digits:
     * cJSON prints a double with 15 significant digits when that reads back within its relative
     * epsilon, so 9007199254740991 would come out as 9.00719925474099e+15 */
    if (in->device_tick >= 0) {
        char t[24];
        snprintf(t, sizeof t, "%lld", (long long)in->device_tick);
        ok = ok && (in->device_tick < (int64_t)1 << 53
                        ? cJSON_AddRawToObject(cap, "airmeta:device_tick", t) != NULL
                        : cJSON_AddStringToObject(cap, "airmeta:device_tick", t) != NULL);
    }
    cJSON *anns = ok ? cJSON_AddArrayToObject(root, "annotations") : NULL;
    ok = ok && anns;
    for (size_t i = 0; ok && i < w->n_ann; i++) {
        cJSON *a = cJSON_CreateObject();
        ok = a && cJSON_AddItemToArray(anns, a);
        if (!ok) {
            cJSON_Delete(a);
            break;
        }
        ok = ok && cJSON_AddNumberToObject(a, "core:sample_start", (double)w->ann[i].start);
        if (w->ann[i].count != UINT64_MAX)
            ok = ok && cJSON_AddNumberToObject(a, "core:sample_count", (double)w->ann[i].count);
        ok = ok && cJSON_AddStringToObject(a, "core:label", "airmeta-burst");
    }
    if (!ok) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

static void writer_free(phy_sigmf_writer *w)
{
    if (w->data) {
        fclose(w->data);
        unlink(w->data_tmp);
    }
    free(w->ann);
    free(w);
}

void phy_sigmf_writer_destroy(phy_sigmf_writer *w)
{
    if (w)
        writer_free(w);
}

am_status phy_sigmf_writer_close(phy_sigmf_writer *w)
{
    if (!w)
        return AM_FAIL(AM_EINVAL, "phy_sigmf_writer_close: NULL writer");
    char data_final[SIGMF_PATH_MAX + 16], meta_final[SIGMF_PATH_MAX + 16],
        meta_tmp[SIGMF_PATH_MAX + 32];
    snprintf(data_final, sizeof data_final, "%s.sigmf-data", w->base);
    snprintf(meta_final, sizeof meta_final, "%s.sigmf-meta", w->base);
    for (size_t i = 0; i < w->n_ann; i++) {
        uint64_t end = w->ann[i].count == UINT64_MAX ? w->ann[i].start
                                                      : w->ann[i].start + w->ann[i].count;
        if (w->ann[i].start > w->count || end > w->count) {
            am_status s = AM_FAIL(AM_EINVAL,
                                  "%s: annotation %zu (%llu + %llu) beyond the %llu samples written",
                                  meta_final, i, (unsigned long long)w->ann[i].start,
                                  (unsigned long long)w->ann[i].count,
                                  (unsigned long long)w->count);
            writer_free(w);
            return s;
        }
    }
    if (fflush(w->data) != 0 || fsync(fileno(w->data)) != 0) {
        am_status s = AM_FAIL(AM_EIO, "%s: write failed: %s", data_final, strerror(errno));
        writer_free(w);
        return s;
    }
    cJSON *root = build_meta(w);
    char *text = root ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!text) {
        writer_free(w);
        return AM_FAIL(AM_ENOMEM, "%s: out of memory building the JSON", meta_final);
    }
    FILE *mf = open_tmp(meta_final, meta_tmp, sizeof meta_tmp);
    if (!mf) {
        am_status s = AM_FAIL(AM_EIO, "%s: cannot create a temporary file: %s", meta_final,
                              strerror(errno));
        free(text);
        writer_free(w);
        return s;
    }
    size_t len = strlen(text);
    int bad = fwrite(text, 1, len, mf) != len || fputc('\n', mf) == EOF || fflush(mf) != 0 ||
              fsync(fileno(mf)) != 0;
    int e = errno;
    bad |= fclose(mf) != 0;
    free(text);
    if (bad) {
        unlink(meta_tmp);
        writer_free(w);
        return AM_FAIL(AM_EIO, "%s: write failed: %s", meta_final, strerror(e));
    }
    /* still absent or regular files (not swapped for a device, FIFO or link since create) */
    am_status cs = am_check_output(data_final);
    if (cs == AM_OK)
        cs = am_check_output(meta_final);
    if (cs != AM_OK) {
        unlink(meta_tmp);
        writer_free(w);
        return cs;
    }
    /* data first, then meta: a .sigmf-meta in place always describes a complete data file */
    int dbad = fclose(w->data) != 0;
    w->data = NULL;
    if (dbad || rename(w->data_tmp, data_final) != 0) {
        e = errno;
        unlink(w->data_tmp);
        unlink(meta_tmp);
        writer_free(w);
        return AM_FAIL(AM_EIO, "%s: cannot move into place: %s", data_final, strerror(e));
    }
    if (rename(meta_tmp, meta_final) != 0) {
        e = errno;
        unlink(meta_tmp);
        writer_free(w);
        return AM_FAIL(AM_EIO, "%s: cannot move into place: %s", meta_final, strerror(e));
    }
    writer_free(w);
    return AM_OK;
}

am_status phy_sigmf_write(const char *path,
                          const phy_sigmf_info *info,
                          const float complex *x,
                          size_t n,
                          const phy_sigmf_annotation *ann,
                          size_t n_ann)
{
    phy_sigmf_writer *w = NULL;
    am_status s = phy_sigmf_writer_create(path, info, &w);
    if (s != AM_OK)
        return s;
    s = phy_sigmf_writer_write(w, x, n);
    for (size_t i = 0; s == AM_OK && i < n_ann; i++)
        s = phy_sigmf_writer_annotate(w, ann[i].start, ann[i].count);
    if (s != AM_OK) {
        phy_sigmf_writer_destroy(w);
        return s;
    }
    return phy_sigmf_writer_close(w);
}

/* ---- reader ----------------------------------------------------------------------------- */

struct phy_sigmf_reader {
    phy_sigmf_info info;
    char meta_path[SIGMF_PATH_MAX + 16];
    char data_path[SIGMF_PATH_MAX + 16];
    FILE *data;
    unsigned sample_bytes;
    uint64_t pos; /* next sample index */
    phy_sigmf_annotation *ann;
    size_t n_ann;
};

static const char *type_name(const cJSON *v)
{
    if (!v)
        return "nothing";
    if (cJSON_IsNumber(v))
        return "a number";
    if (cJSON_IsString(v))
        return "a string";
    if (cJSON_IsBool(v))
        return "a boolean";
    if (cJSON_IsNull(v))
        return "null";
    if (cJSON_IsArray(v))
        return "an array";
    if (cJSON_IsObject(v))
        return "an object";
    return "an invalid value";
}

/* Refuses an object with the same key twice (which one would count is ambiguous). */
static am_status check_dups(const cJSON *obj, const char *file, const char *where)
{
    const cJSON *a, *b;
    cJSON_ArrayForEach(a, obj)
    {
        for (b = a->next; b; b = b->next)
            if (a->string && b->string && strcmp(a->string, b->string) == 0)
                return AM_FAIL(AM_EFORMAT, "%s: %s: key %s appears twice", file, where,
                               a->string);
    }
    return AM_OK;
}

static cJSON_bool is_text(const cJSON *const v)
{
    return cJSON_IsString(v) && v->valuestring;
}

/* The value of key in *out, NULL when absent (AM_EFORMAT if required); *present (may be NULL)
 * says which. A value that fails is_type is refused as not being `expected`. */
static am_status get_item(const cJSON *obj,
                          const char *key,
                          int required,
                          cJSON_bool (*is_type)(const cJSON *const),
                          const char *expected,
                          const char *file,
                          const char *where,
                          const cJSON **out,
                          int *present)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *out = v;
    if (present)
        *present = v != NULL;
    if (!v && required)
        return AM_FAIL(AM_EFORMAT, "%s: %s: missing key %s", file, where, key);
    if (v && !is_type(v))
        return AM_FAIL(AM_EFORMAT, "%s: %s: %s is %s, expected %s", file, where, key, type_name(v),
                       expected);
    return AM_OK;
}

/* Integer key in lo..hi: *present = 0 when absent (AM_EFORMAT if required). */
static am_status get_int(const cJSON *obj, const char *key, int required, double lo, double hi,
                         const char *file, const char *where, int64_t *out, int *present)
{
    const cJSON *v;
    am_status s =
        get_item(obj, key, required, cJSON_IsNumber, "an integer", file, where, &v, present);
    if (s != AM_OK || !v)
        return s;
    double d = v->valuedouble;
    if (!isfinite(d) || d != floor(d))
        return AM_FAIL(AM_EFORMAT, "%s: %s: %s: %g is not an integer", file, where, key, d);
    if (d < lo || d > hi)
        return AM_FAIL(AM_EFORMAT, "%s: %s: %s: %.17g is not in %.17g..%.17g", file, where, key, d,
                       lo, hi);
    *out = (int64_t)d;
    return AM_OK;
}

/* docs/air-interface.md §7.2 airmeta:device_tick: a JSON integer 0..2^53 - 1 (a number at 2^53 or
 * above may be another integer rounded to a double, which the reader cannot tell), or a string of
 * decimal digits without sign or leading zero for any tick 0..2^62 (exact whatever its size). */
static am_status get_tick(const cJSON *c, const char *file, const char *where, int64_t *out,
                          int *present)
{
    static const char key[] = "airmeta:device_tick";
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(c, key);
    *present = v != NULL;
    if (!v)
        return AM_OK;
    if (cJSON_IsNumber(v))
        return get_int(c, key, 0, 0, JSON_INT_MAX - 1, file, where, out, NULL);
    if (!is_text(v))
        return AM_FAIL(AM_EFORMAT, "%s: %s: %s is %s, expected an integer or a decimal string",
                       file, where, key, type_name(v));
    const char *t = v->valuestring;
    const size_t n = strlen(t);
    int digits = n >= 1 && n <= 19 && (t[0] != '0' || n == 1);
    uint64_t x = 0;
    for (size_t i = 0; digits && i < n; i++) {
        digits = t[i] >= '0' && t[i] <= '9';
        x = x * 10 + (uint64_t)(t[i] - '0'); /* 19 digits < 2^64: no wrap */
    }
    if (!digits || x > (uint64_t)PHY_SIGMF_MAX_TICK)
        return AM_FAIL(AM_EFORMAT,
                       "%s: %s: %s: \"%.24s\" is not a decimal tick 0..2^62 (digits, no sign, no "
                       "leading zero)",
                       file, where, key, t);
    *out = (int64_t)x;
    return AM_OK;
}

static am_status get_num(const cJSON *obj, const char *key, int required, const char *file,
                         const char *where, double *out, int *present)
{
    const cJSON *v;
    am_status s =
        get_item(obj, key, required, cJSON_IsNumber, "a number", file, where, &v, present);
    if (s != AM_OK || !v)
        return s;
    if (!isfinite(v->valuedouble))
        return AM_FAIL(AM_EFORMAT, "%s: %s: %s is not a finite number", file, where, key);
    *out = v->valuedouble;
    return AM_OK;
}

static am_status get_float(const cJSON *obj, const char *key, const char *file, float *out)
{
    double d = 0;
    am_status s = get_num(obj, key, 1, file, "global", &d, NULL);
    if (s != AM_OK)
        return s;
    if (fabs(d) > FLT_MAX || (d != 0 && (float)d == 0)) /* 1e-300 read as 0 named so */
        return AM_FAIL(AM_EFORMAT, "%s: global: %s: %g is out of float range", file, key, d);
    *out = (float)d;
    return AM_OK;
}

static am_status get_str(const cJSON *obj, const char *key, int required, const char *file,
                         const char *where, const char **out)
{
    const cJSON *v;
    am_status s = get_item(obj, key, required, is_text, "a string", file, where, &v, NULL);
    *out = s == AM_OK && v ? v->valuestring : NULL;
    return s;
}

static void copy_text(char *dst, const char *src)
{
    if (!src) {
        dst[0] = '\0';
        return;
    }
    size_t n = strnlen(src, PHY_SIGMF_TEXT_MAX - 1);
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* "X.Y.Z" as Semantic Versioning writes a version: three decimal numbers separated by dots, each
 * digits only (no sign, blank or suffix) without a leading zero ("0" alone), nothing after Z
 * (docs/air-interface.md §7.1: core:version and the airmeta extension's version). 1 when s is one
 * and its X is 1. *well_formed tells a malformed version from another major. */
static int semver_1(const char *s, int *well_formed)
{
    const char *p = s;
    for (int part = 0; part < 3; part++) {
        const char *b = p;
        while (*p >= '0' && *p <= '9')
            p++;
        if (p == b || (*b == '0' && p - b > 1) || *p != (part < 2 ? '.' : '\0')) {
            *well_formed = 0;
            return 0;
        }
        p += part < 2;
    }
    *well_formed = 1;
    return s[0] == '1' && s[1] == '.';
}

static am_status parse_extensions(const cJSON *g, const char *file)
{
    const cJSON *exts = cJSON_GetObjectItemCaseSensitive(g, "core:extensions");
    if (!exts)
        return AM_FAIL(AM_EFORMAT, "%s: global: missing key core:extensions (the airmeta "
                                   "namespace must be declared, §7)", file);
    if (!cJSON_IsArray(exts))
        return AM_FAIL(AM_EFORMAT, "%s: global: core:extensions is %s, expected an array", file,
                       type_name(exts));
    int found = 0, i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, exts)
    {
        char where[64];
        snprintf(where, sizeof where, "core:extensions[%d]", i++);
        if (!cJSON_IsObject(e))
            return AM_FAIL(AM_EFORMAT, "%s: %s is %s, expected an object", file, where,
                           type_name(e));
        const char *name, *ver;
        am_status s = get_str(e, "name", 1, file, where, &name);
        if (s == AM_OK)
            s = get_str(e, "version", 1, file, where, &ver);
        if (s != AM_OK)
            return s;
        const cJSON *opt;
        if ((s = get_item(e, "optional", 1, cJSON_IsBool, "a boolean", file, where, &opt, NULL)) !=
            AM_OK)
            return s;
        if (strcmp(name, "airmeta") == 0) {
            int wf;
            if (!semver_1(ver, &wf))
                return wf ? AM_FAIL(AM_ENOTSUP,
                                    "%s: %s: airmeta extension version '%.40s' is not supported "
                                    "(1.Y.Z)", file, where, ver)
                          : AM_FAIL(AM_EFORMAT,
                                    "%s: %s: airmeta extension version '%.40s' is not X.Y.Z",
                                    file, where, ver);
            found = 1;
        } else if (cJSON_IsFalse(opt)) {
            return AM_FAIL(AM_ENOTSUP, "%s: %s: the recording requires extension '%s'", file,
                           where, name);
        }
    }
    if (!found)
        return AM_FAIL(AM_EFORMAT, "%s: global: core:extensions does not declare the airmeta "
                                   "namespace (§7)", file);
    return AM_OK;
}

static am_status parse_global(const cJSON *g, const char *file, phy_sigmf_info *in)
{
    am_status s = check_dups(g, file, "global");
    if (s != AM_OK)
        return s;
    const char *str;
    int64_t iv;
    int present;
    /* what decides whether the data can be read at all comes first */
    if ((s = get_str(g, "core:datatype", 1, file, "global", &str)) != AM_OK)
        return s;
    if (strcmp(str, "cf32_le") == 0)
        in->datatype = PHY_SIGMF_CF32_LE;
    else if (strcmp(str, "ci16_le") == 0)
        in->datatype = PHY_SIGMF_CI16_LE;
    else
        return AM_FAIL(AM_ENOTSUP,
                       "%s: global: core:datatype '%.40s' is not supported (airmeta reads "
                       "cf32_le and ci16_le)", file, str);
    if ((s = get_int(g, "core:num_channels", 0, 0, JSON_INT_MAX, file, "global", &iv,
                     &present)) != AM_OK)
        return s;
    if (present && iv != 1)
        return AM_FAIL(AM_ENOTSUP, "%s: global: core:num_channels is %lld: airmeta reads one "
                                   "channel", file, (long long)iv);
    if ((s = get_str(g, "core:version", 1, file, "global", &str)) != AM_OK)
        return s;
    int wf;
    if (!semver_1(str, &wf))
        return wf ? AM_FAIL(AM_ENOTSUP, "%s: global: core:version %.40s is not SigMF 1.x", file,
                            str)
                  : AM_FAIL(AM_EFORMAT, "%s: global: core:version '%.40s' is not X.Y.Z", file,
                            str);
    const cJSON *v;
    if ((s = get_item(g, "core:metadata_only", 0, cJSON_IsBool, "a boolean", file, "global", &v,
                      NULL)) != AM_OK)
        return s;
    if (v && cJSON_IsTrue(v))
        return AM_FAIL(AM_ENOTSUP, "%s: global: core:metadata_only: the recording has no data",
                       file);
    if (cJSON_GetObjectItemCaseSensitive(g, "core:dataset"))
        return AM_FAIL(AM_ENOTSUP, "%s: global: core:dataset (non-conforming dataset) is not "
                                   "supported", file);
    if ((s = get_int(g, "core:trailing_bytes", 0, 0, JSON_INT_MAX, file, "global", &iv,
                     &present)) != AM_OK)
        return s;
    if (present && iv != 0)
        return AM_FAIL(AM_ENOTSUP, "%s: global: core:trailing_bytes is not supported", file);
    if ((s = get_int(g, "core:offset", 0, 0, JSON_INT_MAX, file, "global", &iv, NULL)) != AM_OK)
        return s;
    if ((s = get_num(g, "core:sample_rate", 1, file, "global", &in->sample_rate, NULL)) != AM_OK)
        return s;
    if (!(in->sample_rate >= 1.0 && in->sample_rate <= 1e12))
        return AM_FAIL(AM_EFORMAT, "%s: global: core:sample_rate: %g is not in 1..1e12 S/s", file,
                       in->sample_rate);
    const char *desc, *hw;
    if ((s = get_str(g, "core:description", 0, file, "global", &desc)) != AM_OK ||
        (s = get_str(g, "core:hw", 0, file, "global", &hw)) != AM_OK)
        return s;
    if (!desc && !hw)
        return AM_FAIL(AM_EFORMAT, "%s: global: missing key core:description or core:hw (§7)",
                       file);
    copy_text(in->description, desc);
    copy_text(in->hw, hw);
    if ((s = parse_extensions(g, file)) != AM_OK)
        return s;

    /* the airmeta namespace (§7 table) */
    const cJSON *it;
    cJSON_ArrayForEach(it, g)
    {
        static const char *const known[] = {
            "airmeta:version", "airmeta:fft_size", "airmeta:cp_len", "airmeta:payload_len",
            "airmeta:scale",   "airmeta:rho",      "airmeta:g_th",   "airmeta:agents",
            "airmeta:round",   "airmeta:sctype",   "airmeta:cal_slots", "airmeta:mapping",
            "airmeta:gain_pool", "airmeta:pilot_level"};
        if (!it->string || strncmp(it->string, "airmeta:", 8) != 0)
            continue;
        int ok = 0;
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
            ok |= strcmp(it->string, known[k]) == 0;
        if (!ok)
            return AM_FAIL(AM_EFORMAT, "%s: global: unknown key %.60s (air interface version %u)",
                           file, it->string, PHY_AIR_INTERFACE_VERSION);
    }
    if ((s = get_int(g, "airmeta:version", 1, 0, 1e9, file, "global", &iv, NULL)) != AM_OK)
        return s;
    if (!phy_air_interface_supported(iv))
        return AM_FAIL(AM_ENOTSUP,
                       "%s: global: airmeta:version %lld is not supported (this build reads "
                       "versions %u..%u)",
                       file, (long long)iv, PHY_AIR_INTERFACE_MIN_VERSION,
                       PHY_AIR_INTERFACE_VERSION);
    in->version = (unsigned)iv;
    if ((s = get_int(g, "airmeta:fft_size", 1, PHY_NFFT_MIN, PHY_NFFT_MAX, file, "global", &iv,
                     NULL)) != AM_OK)
        return s;
    in->nfft = (unsigned)iv;
    if ((s = get_int(g, "airmeta:cp_len", 1, 1, in->nfft / 2, file, "global", &iv, NULL)) !=
        AM_OK)
        return s;
    in->cp_len = (unsigned)iv;
    if ((s = get_int(g, "airmeta:payload_len", 1, 1, (double)PHY_SIGMF_MAX_PAYLOAD_LEN, file,
                     "global", &iv, NULL)) != AM_OK)
        return s;
    in->payload_len = (uint64_t)iv;
    if ((s = get_float(g, "airmeta:scale", file, &in->scale)) != AM_OK ||
        (s = get_float(g, "airmeta:rho", file, &in->rho)) != AM_OK ||
        (s = get_float(g, "airmeta:g_th", file, &in->g_th)) != AM_OK)
        return s;
    if ((s = get_int(g, "airmeta:agents", 0, 1, 1e9, file, "global", &iv, &present)) != AM_OK)
        return s;
    in->agents = present ? iv : -1;
    /* 0..2^53 - 1: a number at 2^53 or above may be another integer rounded to a double */
    if ((s = get_int(g, "airmeta:round", 0, 0, JSON_INT_MAX - 1, file, "global", &iv, &present)) !=
        AM_OK)
        return s;
    in->round = present ? iv : -1;
    if ((s = get_int(g, "airmeta:cal_slots", 0, 0, PHY_SIGMF_MAX_CAL_SLOTS, file, "global", &iv,
                     &present)) != AM_OK)
        return s;
    in->cal_slots = present ? (unsigned)iv : 0;
    if ((s = get_int(g, "airmeta:gain_pool", 0, 0, PHY_OTA_RX_GAIN_POOL_MAX, file, "global", &iv,
                     &present)) != AM_OK)
        return s;
    in->gain_pool = present ? (unsigned)iv : 0;
    if ((s = get_str(g, "airmeta:mapping", 0, file, "global", &str)) != AM_OK)
        return s;
    in->mapping = PHY_MAP_COMPLEX; /* absent: the version-1 mapping */
    if (str && phy_mapping_parse(str, &in->mapping) != AM_OK)
        return AM_FAIL(AM_EFORMAT, "%s: global: airmeta:mapping '%.40s' is not complex or real",
                       file, str);
    double pl = 1.0; /* absent: the version-1 pilots, +1 */
    if ((s = get_num(g, "airmeta:pilot_level", 0, file, "global", &pl, NULL)) != AM_OK)
        return s;
    if (!(pl > 0.0 && pl <= 1.0) || (float)pl == 0.0f) /* 1e-50: the float 0 */
        return AM_FAIL(AM_EFORMAT, "%s: global: airmeta:pilot_level %.17g is not in (0, 1]%s", file,
                       pl, pl > 0.0 && pl <= 1.0 ? " as a float" : "");
    in->pilot_level = (float)pl;
    if ((s = get_str(g, "airmeta:sctype", 0, file, "global", &str)) != AM_OK)
        return s;
    in->has_sctype = str != NULL;
    if (str) {
        size_t n = strlen(str);
        if (n != in->nfft)
            return AM_FAIL(AM_EFORMAT, "%s: global: airmeta:sctype has %zu characters, "
                                       "airmeta:fft_size is %u", file, n, in->nfft);
        for (size_t i = 0; i < n; i++) {
            if (str[i] < '0' || str[i] > '2')
                return AM_FAIL(AM_EFORMAT, "%s: global: airmeta:sctype[%zu] is '%c', expected "
                                           "0, 1 or 2", file, i, str[i]);
            in->sctype[i] = (unsigned char)(str[i] - '0');
        }
    }
    return check_info(in, file);
}

static am_status parse_captures(const cJSON *caps, const char *file, phy_sigmf_info *in,
                                uint64_t n_samples)
{
    if (!cJSON_IsArray(caps))
        return AM_FAIL(AM_EFORMAT, "%s: captures is %s, expected an array", file,
                       type_name(caps));
    int i = 0;
    int64_t prev = -1;
    const cJSON *c;
    in->frequency = NAN;
    in->device_tick = -1;
    cJSON_ArrayForEach(c, caps)
    {
        char where[48];
        snprintf(where, sizeof where, "captures[%d]", i);
        if (!cJSON_IsObject(c))
            return AM_FAIL(AM_EFORMAT, "%s: %s is %s, expected an object", file, where,
                           type_name(c));
        am_status s = check_dups(c, file, where);
        int64_t start, hb;
        int present;
        double f = 0.0;
        const char *str;
        if (s == AM_OK)
            s = get_int(c, "core:sample_start", 1, 0, JSON_INT_MAX, file, where, &start, NULL);
        if (s != AM_OK)
            return s;
        if (start < prev)
            return AM_FAIL(AM_EFORMAT, "%s: %s: core:sample_start %lld is before the previous "
                                       "segment's %lld (SigMF wants them sorted)",
                           file, where, (long long)start, (long long)prev);
        if ((uint64_t)start >= n_samples && n_samples > 0)
            return AM_FAIL(AM_EFORMAT, "%s: %s: core:sample_start %lld is beyond the data file "
                                       "(%llu samples): data file shorter than declared",
                           file, where, (long long)start, (unsigned long long)n_samples);
        prev = start;
        if ((s = get_num(c, "core:frequency", 0, file, where, &f, &present)) != AM_OK)
            return s;
        if (present && !(fabs(f) <= 1e12))
            return AM_FAIL(AM_EFORMAT, "%s: %s: core:frequency %g is not in -1e12..1e12 Hz", file,
                           where, f);
        if (present && i == 0)
            in->frequency = f;
        if ((s = get_int(c, "core:header_bytes", 0, 0, JSON_INT_MAX, file, where, &hb,
                         &present)) != AM_OK)
            return s;
        if (present && hb != 0)
            return AM_FAIL(AM_ENOTSUP, "%s: %s: core:header_bytes is not supported", file, where);
        if ((s = get_int(c, "core:global_index", 0, 0, JSON_INT_MAX, file, where, &hb, NULL)) !=
                AM_OK ||
            (s = get_str(c, "core:datetime", 0, file, where, &str)) != AM_OK)
            return s;
        /* docs/air-interface.md §7.2: device time of the segment's first sample (version 2) */
        const cJSON *it;
        cJSON_ArrayForEach(it, c)
        {
            if (it->string && strncmp(it->string, "airmeta:", 8) == 0 &&
                strcmp(it->string, "airmeta:device_tick") != 0)
                return AM_FAIL(AM_EFORMAT, "%s: %s: unknown key %.60s (air interface version %u)",
                               file, where, it->string, PHY_AIR_INTERFACE_VERSION);
        }
        if ((s = get_tick(c, file, where, &hb, &present)) != AM_OK)
            return s;
        if (present && in->version < 2)
            return AM_FAIL(AM_EFORMAT, "%s: %s: airmeta:device_tick needs airmeta:version 2 (it "
                                       "is %u)",
                           file, where, in->version);
        if (present && i == 0)
            in->device_tick = hb;
        i++;
    }
    return AM_OK;
}

static am_status parse_annotations(const cJSON *anns, const char *file, phy_sigmf_reader *r)
{
    if (!cJSON_IsArray(anns))
        return AM_FAIL(AM_EFORMAT, "%s: annotations is %s, expected an array", file,
                       type_name(anns));
    int n = cJSON_GetArraySize(anns);
    if (n < 0 || (unsigned)n > PHY_SIGMF_MAX_ANNOTATIONS)
        return AM_FAIL(AM_EFORMAT, "%s: annotations: %d entries is more than %u", file, n,
                       PHY_SIGMF_MAX_ANNOTATIONS);
    if (n == 0)
        return AM_OK;
    r->ann = calloc((size_t)n, sizeof *r->ann);
    if (!r->ann)
        return AM_FAIL(AM_ENOMEM, "%s: annotations: out of memory", file);
    uint64_t total = r->info.n_samples;
    int64_t prev = -1;
    const cJSON *a;
    cJSON_ArrayForEach(a, anns)
    {
        char where[48];
        snprintf(where, sizeof where, "annotations[%zu]", r->n_ann);
        if (!cJSON_IsObject(a))
            return AM_FAIL(AM_EFORMAT, "%s: %s is %s, expected an object", file, where,
                           type_name(a));
        am_status s = check_dups(a, file, where);
        int64_t start, count;
        int has_count;
        const char *label;
        if (s == AM_OK)
            s = get_int(a, "core:sample_start", 1, 0, JSON_INT_MAX, file, where, &start, NULL);
        if (s == AM_OK)
            s = get_int(a, "core:sample_count", 0, 0, JSON_INT_MAX, file, where, &count,
                        &has_count);
        if (s == AM_OK)
            s = get_str(a, "core:label", 0, file, where, &label);
        if (s != AM_OK)
            return s;
        if (start < prev)
            return AM_FAIL(AM_EFORMAT, "%s: %s: core:sample_start %lld is before the previous "
                                       "annotation's %lld (SigMF wants them sorted)",
                           file, where, (long long)start, (long long)prev);
        prev = start;
        uint64_t end = (uint64_t)start + (has_count ? (uint64_t)count : 0);
        if (end > total || (uint64_t)start > total)
            return AM_FAIL(AM_EFORMAT, "%s: %s: samples %lld..%llu declared but the data file "
                                       "holds %llu samples: data file shorter than declared",
                           file, where, (long long)start, (unsigned long long)end,
                           (unsigned long long)total);
        phy_sigmf_annotation *o = &r->ann[r->n_ann++];
        o->start = (uint64_t)start;
        o->count = has_count ? (uint64_t)count : UINT64_MAX;
        o->burst = label && strcmp(label, "airmeta-burst") == 0;
    }
    return AM_OK;
}

/* Reads the whole .sigmf-meta (bounded) and parses it. */
static am_status load_json(const char *path, cJSON **out)
{
    *out = NULL;
    FILE *f = NULL;
    am_status os = am_fopen_regular(path, "rb", &f); /* a FIFO in its place must not block */
    if (os != AM_OK)
        return os;
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        fclose(f);
        return AM_FAIL(AM_EIO, "%s: %s", path, strerror(errno));
    }
    if ((uint64_t)st.st_size > PHY_SIGMF_MAX_META_BYTES) {
        fclose(f);
        return AM_FAIL(AM_EFORMAT, "%s: %lld bytes is larger than the %u-byte cap for a "
                                   ".sigmf-meta", path, (long long)st.st_size,
                       PHY_SIGMF_MAX_META_BYTES);
    }
    size_t n = (size_t)st.st_size;
    char *buf = malloc(n + 1);
    if (!buf) {
        fclose(f);
        return AM_FAIL(AM_ENOMEM, "%s: out of memory", path);
    }
    size_t got = fread(buf, 1, n, f);
    int err = ferror(f);
    fclose(f);
    if (got != n || err) {
        free(buf);
        return AM_FAIL(AM_EIO, "%s: read failed", path);
    }
    buf[n] = '\0';
    size_t nul = strlen(buf);
    if (nul != n) {
        free(buf);
        return AM_FAIL(AM_EFORMAT, "%s: not JSON (NUL byte at offset %zu)", path, nul);
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(buf, &end, 1);
    if (!root) {
        size_t off = end && end >= buf && end <= buf + n ? (size_t)(end - buf) : 0;
        free(buf);
        return AM_FAIL(AM_EFORMAT, "%s: not JSON (parse error near byte %zu)", path, off);
    }
    free(buf);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return AM_FAIL(AM_EFORMAT, "%s: the top level is %s, expected an object", path,
                       type_name(root));
    }
    *out = root;
    return AM_OK;
}

am_status phy_sigmf_reader_open(const char *path, phy_sigmf_reader **out)
{
    if (!out)
        return AM_FAIL(AM_EINVAL, "phy_sigmf_reader_open: out is NULL");
    *out = NULL;
    char base[SIGMF_PATH_MAX];
    am_status s = phy_sigmf_base(path, base, sizeof base);
    if (s != AM_OK)
        return s;
    phy_sigmf_reader *r = calloc(1, sizeof *r);
    if (!r)
        return AM_FAIL(AM_ENOMEM, "phy_sigmf_reader_open: out of memory");
    phy_sigmf_info_default(&r->info);
    snprintf(r->meta_path, sizeof r->meta_path, "%s.sigmf-meta", base);
    snprintf(r->data_path, sizeof r->data_path, "%s.sigmf-data", base);
    const char *file = r->meta_path;
    cJSON *root = NULL;
    s = load_json(file, &root);
    if (s == AM_OK)
        s = check_dups(root, file, "top level");
    const cJSON *g = NULL, *caps = NULL, *anns = NULL;
    if (s == AM_OK) {
        g = cJSON_GetObjectItemCaseSensitive(root, "global");
        caps = cJSON_GetObjectItemCaseSensitive(root, "captures");
        anns = cJSON_GetObjectItemCaseSensitive(root, "annotations");
        if (!g)
            s = AM_FAIL(AM_EFORMAT, "%s: missing key global", file);
        else if (!cJSON_IsObject(g))
            s = AM_FAIL(AM_EFORMAT, "%s: global is %s, expected an object", file, type_name(g));
        else if (!caps)
            s = AM_FAIL(AM_EFORMAT, "%s: missing key captures", file);
        else if (!anns)
            s = AM_FAIL(AM_EFORMAT, "%s: missing key annotations", file);
    }
    if (s == AM_OK)
        s = parse_global(g, file, &r->info);
    /* the data file: size checks before anything is read */
    if (s == AM_OK) {
        r->sample_bytes = r->info.datatype == PHY_SIGMF_CF32_LE ? 8u : 4u;
        struct stat st;
        if ((s = am_fopen_regular(r->data_path, "rb", &r->data)) != AM_OK) {
            /* message set: missing, or not a regular file (a FIFO does not block) */
        } else if (fstat(fileno(r->data), &st) != 0) {
            s = AM_FAIL(AM_EIO, "%s: %s", r->data_path, strerror(errno));
        } else if ((uint64_t)st.st_size > PHY_SIGMF_MAX_DATA_BYTES) {
            s = AM_FAIL(AM_EFORMAT, "%s: %lld bytes is larger than the %llu-byte cap",
                        r->data_path, (long long)st.st_size,
                        (unsigned long long)PHY_SIGMF_MAX_DATA_BYTES);
        } else if ((uint64_t)st.st_size % r->sample_bytes != 0) {
            s = AM_FAIL(AM_EFORMAT, "%s: %lld bytes is not a whole number of %s samples (%u bytes "
                                    "each)", r->data_path, (long long)st.st_size,
                        r->info.datatype == PHY_SIGMF_CF32_LE ? "cf32_le" : "ci16_le",
                        r->sample_bytes);
        } else if (st.st_size == 0) {
            s = AM_FAIL(AM_EFORMAT, "%s: the data file holds no samples", r->data_path);
        } else {
            r->info.n_samples = (uint64_t)st.st_size / r->sample_bytes;
        }
    }
    if (s == AM_OK)
        s = parse_captures(caps, file, &r->info, r->info.n_samples);
    if (s == AM_OK)
        s = parse_annotations(anns, file, r);
    cJSON_Delete(root);
    if (s != AM_OK) {
        phy_sigmf_reader_close(r);
        return s;
    }
    *out = r;
    return AM_OK;
}

void phy_sigmf_reader_close(phy_sigmf_reader *r)
{
    if (!r)
        return;
    if (r->data)
        fclose(r->data);
    free(r->ann);
    free(r);
}

const phy_sigmf_info *phy_sigmf_reader_info(const phy_sigmf_reader *r)
{
    return r ? &r->info : NULL;
}

size_t phy_sigmf_reader_n_annotations(const phy_sigmf_reader *r)
{
    return r ? r->n_ann : 0;
}

const phy_sigmf_annotation *phy_sigmf_reader_annotations(const phy_sigmf_reader *r)
{
    return r ? r->ann : NULL;
}

const char *phy_sigmf_reader_data_path(const phy_sigmf_reader *r)
{
    return r ? r->data_path : NULL;
}

static float get_lef32(const unsigned char *b)
{
    uint32_t u = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    float v;
    memcpy(&v, &u, 4);
    return v;
}

static float get_lei16(const unsigned char *b)
{
    int16_t v = (int16_t)(uint16_t)((uint16_t)b[0] | (uint16_t)((uint16_t)b[1] << 8));
    return (float)v / 32768.0f; /* §7: full scale 32768 = 1.0 */
}

am_status phy_sigmf_reader_read(phy_sigmf_reader *r, float complex *x, size_t cap, size_t *n)
{
    if (!r || !n || (!x && cap))
        return AM_FAIL(AM_EINVAL, "phy_sigmf_reader_read: NULL argument");
    *n = 0;
    uint64_t left = r->info.n_samples - r->pos;
    size_t want = left < cap ? (size_t)left : cap;
    if (want == 0)
        return AM_OK;
    /* read raw bytes into the caller's buffer (8 bytes per output sample >= sample_bytes), then
     * convert in place; ci16 expands, so it is converted from the last sample down */
    unsigned char *raw = (unsigned char *)x;
    size_t got = fread(raw, r->sample_bytes, want, r->data);
    uint64_t base = r->pos;
    r->pos += got; /* stays in step with the file position, even on a refused chunk */
    if (got != want)
        return AM_FAIL(AM_EIO, "%s: read failed at sample %llu (file shrank?)", r->data_path,
                       (unsigned long long)(base + got));
    if (r->info.datatype == PHY_SIGMF_CF32_LE) {
        for (size_t j = 0; j < want; j++) {
            float re = get_lef32(raw + 8 * j), im = get_lef32(raw + 8 * j + 4);
            if (!isfinite(re) || !isfinite(im))
                return AM_FAIL(AM_EFORMAT, "%s: sample %llu is not finite (NaN or Inf)",
                               r->data_path, (unsigned long long)(base + j));
            x[j] = CMPLXF(re, im);
        }
    } else {
        for (size_t j = want; j-- > 0;) {
            float re = get_lei16(raw + 4 * j), im = get_lei16(raw + 4 * j + 2);
            x[j] = CMPLXF(re, im);
        }
    }
    *n = want;
    return AM_OK;
}

am_status phy_sigmf_reader_rewind(phy_sigmf_reader *r)
{
    if (!r)
        return AM_FAIL(AM_EINVAL, "phy_sigmf_reader_rewind: NULL reader");
    if (fseeko(r->data, 0, SEEK_SET) != 0)
        return AM_FAIL(AM_EIO, "%s: seek failed: %s", r->data_path, strerror(errno));
    r->pos = 0;
    return AM_OK;
}
