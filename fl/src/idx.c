/* fl/idx: IDX reader (gzip'd or plain) on zlib. Issue 3 item 2 (Fashion-MNIST). */
#include "fl/idx.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/file.h"

struct fl_idx {
    unsigned ndim;
    uint32_t dims[FL_IDX_MAX_DIMS];
    size_t count;
    uint8_t *data;
};

#define IDX_MAX_COUNT ((size_t)1 << 31)
#define IDX_FIRST_CHUNK ((size_t)1 << 20)

/* Reads exactly n bytes; returns the count read (< n at end of data) or -1 on a zlib error. */
static long long gz_read_all(gzFile g, void *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        size_t chunk = n - got;
        if (chunk > ((size_t)1 << 30))
            chunk = (size_t)1 << 30;
        int r = gzread(g, (uint8_t *)buf + got, (unsigned)chunk);
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (long long)got;
}

static am_status gz_fail(gzFile g, const char *path, const char *what)
{
    int errnum = 0;
    const char *msg = gzerror(g, &errnum);
    return AM_FAIL(AM_EFORMAT, "%s: %s (%s)", path, what,
                   errnum == Z_OK || msg == NULL ? "short file" : msg);
}

am_status fl_idx_read(const char *path, unsigned expect_ndim, fl_idx **out)
{
    if (out == NULL || path == NULL)
        return AM_FAIL(AM_EINVAL, "fl_idx_read: NULL argument");
    *out = NULL;
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return AM_FAIL(AM_ENOTFOUND, "%s: no such file", path);
        return AM_FAIL(AM_EIO, "%s: %s", path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode))
        return AM_FAIL(AM_EIO, "%s: not a regular file", path);
    int fd = -1; /* O_NONBLOCK and fstat: a FIFO swapped in since the stat does not block */
    am_status os = am_open_regular(path, O_RDONLY, &fd);
    if (os != AM_OK)
        return os;
    gzFile g = gzdopen(fd, "rb");
    if (g == NULL) {
        close(fd);
        return AM_FAIL(AM_EIO, "%s: cannot open: %s", path, errno ? strerror(errno) : "zlib");
    }

    am_status s = AM_OK;
    fl_idx *x = NULL;
    uint8_t hdr[4];
    long long r = gz_read_all(g, hdr, 4);
    if (r != 4) {
        s = gz_fail(g, path, "truncated IDX header");
        goto done;
    }
    if (hdr[0] != 0 || hdr[1] != 0) {
        s = AM_FAIL(AM_EFORMAT, "%s: bad IDX magic %02x %02x %02x %02x (expected 00 00 08 nd)",
                    path, hdr[0], hdr[1], hdr[2], hdr[3]);
        goto done;
    }
    if (hdr[2] != 0x08) {
        s = AM_FAIL(AM_EFORMAT, "%s: IDX data type 0x%02x not supported (only unsigned byte 0x08)",
                    path, hdr[2]);
        goto done;
    }
    unsigned nd = hdr[3];
    if (nd < 1 || nd > FL_IDX_MAX_DIMS) {
        s = AM_FAIL(AM_EFORMAT, "%s: IDX with %u dimensions (1..%d supported)", path, nd,
                    FL_IDX_MAX_DIMS);
        goto done;
    }
    if (expect_ndim != 0 && nd != expect_ndim) {
        s = AM_FAIL(AM_EFORMAT, "%s: IDX has %u dimensions, expected %u", path, nd, expect_ndim);
        goto done;
    }
    x = calloc(1, sizeof *x);
    if (x == NULL) {
        s = AM_FAIL(AM_ENOMEM, "%s: out of memory", path);
        goto done;
    }
    x->ndim = nd;
    uint8_t dimb[4 * FL_IDX_MAX_DIMS];
    r = gz_read_all(g, dimb, 4 * nd);
    if (r != (long long)(4 * nd)) {
        s = gz_fail(g, path, "truncated IDX header");
        goto done;
    }
    size_t count = 1;
    for (unsigned i = 0; i < nd; i++) {
        uint32_t d = (uint32_t)dimb[4 * i] << 24 | (uint32_t)dimb[4 * i + 1] << 16 |
                     (uint32_t)dimb[4 * i + 2] << 8 | (uint32_t)dimb[4 * i + 3];
        if (d == 0) {
            s = AM_FAIL(AM_EFORMAT, "%s: IDX dimension %u is 0", path, i);
            goto done;
        }
        x->dims[i] = d;
        if (count > IDX_MAX_COUNT / d) {
            s = AM_FAIL(AM_EFORMAT, "%s: IDX size exceeds 2^31 entries", path);
            goto done;
        }
        count *= d;
    }
    x->count = count;
    /* The header's size is a claim: the buffer grows with the data that arrives (doubling from
     * 1 MiB), so a short file claiming 2^31 bytes costs what it holds, not 2 GiB. */
    size_t got = 0, cap = 0;
    for (;;) {
        if (got == cap) {
            size_t nc = cap ? 2 * cap : IDX_FIRST_CHUNK;
            nc = nc < count ? nc : count;
            uint8_t *nd8 = realloc(x->data, nc);
            if (nd8 == NULL) {
                s = AM_FAIL(AM_ENOMEM, "%s: out of memory for %zu bytes", path, nc);
                goto done;
            }
            x->data = nd8;
            cap = nc;
        }
        r = gz_read_all(g, x->data + got, cap - got);
        if (r < 0) {
            s = gz_fail(g, path, "corrupt data");
            goto done;
        }
        got += (size_t)r;
        if (got < cap || got == count)
            break; /* the end of the data, or all the header announces */
    }
    if (got != count) {
        s = AM_FAIL(AM_EFORMAT, "%s: truncated: header announces %zu data bytes, file has %zu",
                    path, count, got);
        goto done;
    }
    /* Reading past the payload also makes zlib verify the gzip trailer (CRC, length). */
    uint8_t extra;
    r = gz_read_all(g, &extra, 1);
    if (r < 0) {
        s = gz_fail(g, path, "corrupt data");
        goto done;
    }
    if (r != 0) {
        s = AM_FAIL(AM_EFORMAT, "%s: trailing bytes after the %zu data bytes the header announces",
                    path, count);
        goto done;
    }
done:
    if (gzclose_r(g) != Z_OK && s == AM_OK)
        s = AM_FAIL(AM_EFORMAT, "%s: corrupt gzip stream", path);
    if (s != AM_OK) {
        fl_idx_destroy(x);
        return s;
    }
    *out = x;
    return AM_OK;
}

void fl_idx_destroy(fl_idx *x)
{
    if (x == NULL)
        return;
    free(x->data);
    free(x);
}

unsigned fl_idx_ndim(const fl_idx *x)
{
    return x->ndim;
}

uint32_t fl_idx_dim(const fl_idx *x, unsigned i)
{
    return i < x->ndim ? x->dims[i] : 0;
}

size_t fl_idx_count(const fl_idx *x)
{
    return x->count;
}

const uint8_t *fl_idx_data(const fl_idx *x)
{
    return x->data;
}
