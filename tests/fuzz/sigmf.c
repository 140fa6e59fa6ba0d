/* tests/fuzz/sigmf: the SigMF reader (phy/src/sigmf.c) on any .sigmf-meta text and data size.
 * Input: byte 0 picks the data file's length (0..255 x 64 bytes of cf32 samples, some NaN when
 * bit 0 of byte 1 is set), the rest is the .sigmf-meta. Properties: never crashes, leaks or reads
 * out of bounds (ASan); a refusal is AM_EFORMAT / AM_ENOTSUP / AM_EIO / AM_ENOTFOUND with a
 * one-line message naming the file; an accepted recording's info is in range and reading it
 * returns exactly n_samples samples. */
#include <complex.h>
#include <math.h>
#include <stdio.h>
#include <unistd.h>

#include "common.h"
#include "fuzz.h"
#include "phy/sigmf.h"

static const char *const tokens[] = {
    "0",   "-1",   "1e309", "1.5",  "null", "true", "\"\"", "[]",   "{}",    "\"x\"", "\\u0000",
    "\\u001b", "18446744073709551616", "9007199254740993", ",", ":", "{\"core:sample_start\": 0}",
    "\"airmeta:payload_len\": 1,", "\"core:sample_count\": 0,", "\"core:datatype\": \"ci16_le\",",
    "\"airmeta:sctype\": \"0\",", "\"core:extensions\": [],", NULL};
const char *const *fuzz_tokens = tokens;

static char dir_made[64], base[64], meta[80], data[80];

static void cleanup(void) /* the driver returns from main: nothing left in /dev/shm */
{
    unlink(meta);
    unlink(data);
    rmdir(dir_made);
}

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n)
        fuzz_fail("cannot write %s", path);
    fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size)
{
    if (!base[0]) {
        char dir[] = "/dev/shm/airmeta-fuzz-XXXXXX", dir2[] = "/tmp/airmeta-fuzz-XXXXXX";
        const char *d = mkdtemp(dir); /* memory: 20x the iterations of a disk */
        if (!d && !(d = mkdtemp(dir2)))
            fuzz_fail("mkdtemp");
        snprintf(dir_made, sizeof dir_made, "%s", d);
        snprintf(base, sizeof base, "%s/c", d);
        snprintf(meta, sizeof meta, "%s.sigmf-meta", base);
        snprintf(data, sizeof data, "%s.sigmf-data", base);
        atexit(cleanup);
    }
    if (size < 2)
        return 0;
    static float samples[255 * 16];
    const size_t nbytes = (size_t)in[0] * 64;
    for (size_t i = 0; i < nbytes / 4; i++)
        samples[i] = (in[1] & 1) && i % 97 == 5 ? NAN : (float)((int)(i % 13) - 6) * 0.1f;
    write_file(data, samples, nbytes);
    write_file(meta, in + 2, size - 2);
    phy_sigmf_reader *r = NULL;
    am_status s = phy_sigmf_reader_open(meta, &r);
    if (s != AM_OK) {
        const char *e = am_last_error();
        if (s != AM_EFORMAT && s != AM_ENOTSUP && s != AM_EIO && s != AM_ENOTFOUND)
            fuzz_fail("refused with status %d: %s", s, e);
        if (strchr(e, '\n') || strchr(e, '\x1b') || !strstr(e, "airmeta-fuzz-"))
            fuzz_fail("message not one line naming the file: %s", e);
        fuzz_outcome = fuzz_error_line();
        return 0;
    }
    const phy_sigmf_info *info = phy_sigmf_reader_info(r);
    if (info->nfft < 64 || info->nfft > 4096 || info->cp_len < 1 || info->cp_len > info->nfft ||
        info->payload_len < 1 || info->payload_len > PHY_SIGMF_MAX_PAYLOAD_LEN ||
        !(info->scale > 0) || info->n_samples * (info->datatype == PHY_SIGMF_CF32_LE ? 8 : 4) !=
                                  nbytes)
        fuzz_fail("accepted info out of range (nfft %u, cp %u, L %llu, %llu samples)", info->nfft,
                  info->cp_len, (unsigned long long)info->payload_len,
                  (unsigned long long)info->n_samples);
    if (info->version < 1 || info->version > 2 || info->cal_slots > PHY_SIGMF_MAX_CAL_SLOTS ||
        (info->mapping != PHY_MAP_COMPLEX && info->mapping != PHY_MAP_REAL) ||
        info->device_tick < -1 || info->device_tick > PHY_SIGMF_MAX_TICK ||
        (info->version < 2 && (info->cal_slots || info->mapping != PHY_MAP_COMPLEX)))
        fuzz_fail("accepted version-2 keys out of range (version %u, cal_slots %u, mapping %d, "
                  "device_tick %lld)",
                  info->version, info->cal_slots, (int)info->mapping,
                  (long long)info->device_tick);
    const phy_sigmf_annotation *a = phy_sigmf_reader_annotations(r);
    for (size_t i = 0; i < phy_sigmf_reader_n_annotations(r); i++)
        if (a[i].start > info->n_samples ||
            (a[i].count != UINT64_MAX && a[i].start + a[i].count > info->n_samples))
            fuzz_fail("annotation %zu beyond the data", i);
    float complex x[100];
    uint64_t got = 0;
    size_t n = 0;
    fuzz_outcome = 3000;
    while ((s = phy_sigmf_reader_read(r, x, 100, &n)) == AM_OK && n)
        got += n;
    if (s == AM_OK && got != info->n_samples)
        fuzz_fail("read %llu samples of %llu", (unsigned long long)got,
                  (unsigned long long)info->n_samples);
    if (s != AM_OK)
        fuzz_outcome = 3001;
    phy_sigmf_reader_close(r);
    return 0;
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    uint8_t *b = f ? malloc(1u << 16) : NULL;
    *n = b ? fread(b + 2, 1, (1u << 16) - 2, f) : 0;
    if (f)
        fclose(f);
    if (!*n) {
        free(b);
        return NULL;
    }
    *n += 2;
    return b;
}

/* Three small recordings made by the writer (whose data fits the fuzzer's sizes; the third with
 * the version-2 keys) and the SigMF project's example. */
size_t fuzz_seeds(uint8_t **bufs, size_t *lens, size_t max)
{
    char dir[] = "/tmp/airmeta-fuzz-seed-XXXXXX", name[64];
    if (!mkdtemp(dir))
        return 0;
    snprintf(name, sizeof name, "%s/s", dir);
    static float complex x[1000];
    for (size_t i = 0; i < 1000; i++)
        x[i] = 0.01f * (float)(i % 7) - 0.02f * I;
    size_t k = 0;
    for (int v = 0; v < 3 && k < max; v++) {
        phy_sigmf_info in;
        phy_sigmf_info_default(&in);
        in.nfft = 64;
        in.cp_len = 16;
        in.payload_len = 40;
        if (v) {
            in.agents = 3;
            in.round = 7;
            in.frequency = 915e6;
        }
        if (v == 2) { /* the version-2 keys (docs/air-interface.md §7.2) */
            in.version = 2;
            in.cal_slots = 3;
            in.mapping = PHY_MAP_REAL;
            in.device_tick = ((int64_t)1 << 60) + 7; /* written as a decimal string */
        }
        const phy_sigmf_annotation ann[2] = {{10, 300, 1}, {400, 300, 1}};
        if (phy_sigmf_write(name, &in, x, 1000, ann, 2) != AM_OK) {
            fprintf(stderr, "fuzz seed: %s\n", am_last_error());
            continue;
        }
        char meta_path[80];
        snprintf(meta_path, sizeof meta_path, "%s.sigmf-meta", name);
        size_t n = 0;
        uint8_t *b = slurp(meta_path, &n);
        if (!b)
            continue;
        b[0] = 1000 * 8 / 64; /* the data size written */
        b[1] = 0;
        bufs[k] = b;
        lens[k++] = n;
    }
    snprintf(name, sizeof name, "%s/s.sigmf-meta", dir);
    unlink(name);
    snprintf(name, sizeof name, "%s/s.sigmf-data", dir);
    unlink(name);
    rmdir(dir);
    char logo[1024];
    snprintf(logo, sizeof logo, "%s/tests/data/sigmf/sigmf_logo.sigmf-meta", AM_SOURCE_DIR);
    size_t n = 0;
    uint8_t *b = k < max ? slurp(logo, &n) : NULL;
    if (b) {
        b[0] = 16;
        b[1] = 0;
        bufs[k] = b;
        lens[k++] = n;
    }
    return k;
}
