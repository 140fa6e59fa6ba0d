/* host/checkpoint: atomic, validated run-state files (see checkpoint.h for the layout). */
#include "run/checkpoint.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/file.h"
#include "util/crc32.h"
#include "util/fsutil.h"

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static void make_header(unsigned char h[CHECKPOINT_HDR_LEN],
                        const checkpoint_info *in,
                        const void *state,
                        size_t n)
{
    memset(h, 0, CHECKPOINT_HDR_LEN);
    memcpy(h, CHECKPOINT_MAGIC, 8);
    put_u32(h + 8, CHECKPOINT_VERSION);
    put_u32(h + 12, CHECKPOINT_HDR_LEN);
    put_u32(h + 16, in->round);
    put_u32(h + 20, in->agents);
    put_u64(h + 24, in->dim);
    put_u64(h + 32, (uint64_t)n);
    uint64_t e;
    memcpy(&e, &in->elapsed_s, sizeof e);
    put_u64(h + 40, e);
    put_u32(h + 48, in->config_crc);
    put_u32(h + 52, crc32_bytes(state, n));
    put_u32(h + 60, crc32_bytes(h, 60));
}

am_status
checkpoint_write(const char *path, const checkpoint_info *info, const void *state, size_t n)
{
    if (!path || !info || (!state && n))
        return AM_FAIL(AM_EINVAL, "checkpoint: missing path, info or state");
    unsigned char h[CHECKPOINT_HDR_LEN];
    make_header(h, info, state, n);
    const fs_part parts[2] = {{h, sizeof h}, {state, n}};
    am_status s = fs_write_atomic(path, parts, 2);
    return s == AM_OK ? AM_OK : am_error_wrap(s, "checkpoint");
}

am_status checkpoint_read(const char *path,
                          const checkpoint_info *expect,
                          size_t max_n,
                          checkpoint_info *info,
                          void **state,
                          size_t *n)
{
    if (!path || !info || !state || !n)
        return AM_FAIL(AM_EINVAL, "checkpoint: missing argument");
    *state = NULL;
    *n = 0;
    FILE *f = NULL;
    am_status os = am_fopen_regular(path, "rb", &f); /* a FIFO in its place must not block */
    if (os != AM_OK)
        return am_error_wrap(os, "checkpoint");
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) {
        fclose(f);
        return AM_FAIL(AM_EIO, "checkpoint %s: %s", path, strerror(errno));
    }
    const uint64_t fsize = (uint64_t)sb.st_size;
    unsigned char h[CHECKPOINT_HDR_LEN];
    am_status s = AM_OK;
    if (fsize < CHECKPOINT_HDR_LEN || fread(h, 1, sizeof h, f) != sizeof h) {
        s = AM_FAIL(AM_EFORMAT,
                    "checkpoint %s: truncated (%llu bytes, shorter than the %u-byte "
                    "header)",
                    path, (unsigned long long)fsize, CHECKPOINT_HDR_LEN);
    } else if (memcmp(h, CHECKPOINT_MAGIC, 8) != 0) {
        s = AM_FAIL(AM_EFORMAT, "checkpoint %s: not an airmeta checkpoint (bad magic)", path);
    } else if (get_u32(h + 8) != CHECKPOINT_VERSION) {
        s = AM_FAIL(AM_EFORMAT, "checkpoint %s: version %u, this build reads version %u", path,
                    (unsigned)get_u32(h + 8), CHECKPOINT_VERSION);
    } else if (get_u32(h + 60) != crc32_bytes(h, 60)) {
        s = AM_FAIL(AM_EFORMAT, "checkpoint %s: header CRC mismatch (corrupt header)", path);
    } else if (get_u32(h + 12) != CHECKPOINT_HDR_LEN) {
        s = AM_FAIL(AM_EFORMAT, "checkpoint %s: header length %u, expected %u", path,
                    (unsigned)get_u32(h + 12), CHECKPOINT_HDR_LEN);
    }
    if (s != AM_OK) {
        fclose(f);
        return s;
    }
    info->round = get_u32(h + 16);
    info->agents = get_u32(h + 20);
    info->dim = get_u64(h + 24);
    const uint64_t len = get_u64(h + 32);
    uint64_t e = get_u64(h + 40);
    memcpy(&info->elapsed_s, &e, sizeof e);
    info->config_crc = get_u32(h + 48);
    const uint32_t scrc = get_u32(h + 52);
    if (!isfinite(info->elapsed_s) || info->elapsed_s < 0)
        s = AM_FAIL(AM_EFORMAT, "checkpoint %s: elapsed_s %g is not a finite number >= 0", path,
                    info->elapsed_s);
    else if (len != fsize - CHECKPOINT_HDR_LEN)
        s = AM_FAIL(AM_EFORMAT,
                    "checkpoint %s: truncated or padded (%llu state bytes after the header, the "
                    "header says %llu)",
                    path, (unsigned long long)(fsize - CHECKPOINT_HDR_LEN),
                    (unsigned long long)len);
    else if (expect && (info->agents != expect->agents || info->dim != expect->dim))
        s = AM_FAIL(AM_EFORMAT,
                    "checkpoint %s: made for %u agents x %llu parameters, this run has %u x %llu",
                    path, (unsigned)info->agents, (unsigned long long)info->dim,
                    (unsigned)expect->agents, (unsigned long long)expect->dim);
    else if (expect && info->config_crc != expect->config_crc)
        s = AM_FAIL(AM_EFORMAT,
                    "checkpoint %s: made by another configuration (config CRC 0x%08x, this run's "
                    "0x%08x)",
                    path, (unsigned)info->config_crc, (unsigned)expect->config_crc);
    else if (len > max_n)
        s = AM_FAIL(AM_EFORMAT, "checkpoint %s: %llu state bytes, at most %zu expected", path,
                    (unsigned long long)len, max_n);
    if (s != AM_OK) {
        fclose(f);
        return s;
    }
    void *buf = malloc(len ? (size_t)len : 1);
    if (!buf) {
        fclose(f);
        return AM_FAIL(AM_ENOMEM, "checkpoint %s: out of memory for %llu bytes", path,
                       (unsigned long long)len);
    }
    size_t got = fread(buf, 1, (size_t)len, f);
    fclose(f);
    if (got != len)
        s = AM_FAIL(AM_EIO, "checkpoint %s: read %zu of %llu bytes", path, got,
                    (unsigned long long)len);
    else if (crc32_bytes(buf, (size_t)len) != scrc)
        s = AM_FAIL(AM_EFORMAT, "checkpoint %s: state CRC mismatch (corrupt data)", path);
    if (s != AM_OK) {
        free(buf);
        return s;
    }
    *state = buf;
    *n = (size_t)len;
    return AM_OK;
}
