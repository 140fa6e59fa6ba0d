/* Test fixtures for tests/fl: hand-made gzip'd IDX files (zlib) and PNG images (libpng), written
 * by the tests themselves into a scratch folder instead of shipping binaries. */
#ifndef AM_TESTS_FL_FIXTURES_H
#define AM_TESTS_FL_FIXTURES_H

#include <ftw.h>
#include <png.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

/* Writes raw bytes gzip'd (gz != 0) or plain. Returns 0 on success. */
static inline int fx_write_bytes(const char *path, const void *data, size_t n, int gz)
{
    if (gz) {
        gzFile g = gzopen(path, "wb");
        if (g == NULL)
            return -1;
        int ok = n == 0 || gzwrite(g, data, (unsigned)n) == (int)n;
        return gzclose(g) == Z_OK && ok ? 0 : -1;
    }
    FILE *fp = fopen(path, "wb");
    if (fp == NULL)
        return -1;
    int ok = fwrite(data, 1, n, fp) == n;
    return fclose(fp) == 0 && ok ? 0 : -1;
}

/* IDX header (magic 00 00 type ndim, big-endian dims) followed by `payload` bytes of data
 * (payload may differ from the product of dims to make broken files). */
static inline int fx_write_idx(const char *path,
                               uint8_t type,
                               unsigned ndim,
                               const uint32_t *dims,
                               const uint8_t *data,
                               size_t payload,
                               int gz)
{
    size_t n = 4 + 4 * (size_t)ndim + payload;
    uint8_t *buf = malloc(n);
    if (buf == NULL)
        return -1;
    buf[0] = 0;
    buf[1] = 0;
    buf[2] = type;
    buf[3] = (uint8_t)ndim;
    for (unsigned i = 0; i < ndim; i++) {
        buf[4 + 4 * i] = (uint8_t)(dims[i] >> 24);
        buf[5 + 4 * i] = (uint8_t)(dims[i] >> 16);
        buf[6 + 4 * i] = (uint8_t)(dims[i] >> 8);
        buf[7 + 4 * i] = (uint8_t)dims[i];
    }
    if (payload)
        memcpy(buf + 4 + 4 * ndim, data, payload);
    int r = fx_write_bytes(path, buf, n, gz);
    free(buf);
    return r;
}

/* Writes a w x h PNG from 8-bit grey pixels (0 = black, 255 = white) with libpng's low-level
 * API: bit_depth 1 (pixel >= 128 -> white, as Omniglot's files) or 8; rgb != 0 writes 8-bit RGB
 * with R = G = B. Returns 0 on success. */
static inline int
fx_write_png(const char *path, const uint8_t *grey, unsigned w, unsigned h, int bit_depth, int rgb)
{
    FILE *fp = fopen(path, "wb");
    if (fp == NULL)
        return -1;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    uint8_t *row = malloc((size_t)w * 3 + 8);
    if (png == NULL || info == NULL || row == NULL) {
        png_destroy_write_struct(&png, &info);
        free(row);
        fclose(fp);
        return -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(row);
        fclose(fp);
        return -1;
    }
    png_init_io(png, fp);
    png_set_IHDR(png, info, w, h, rgb ? 8 : bit_depth,
                 rgb ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (unsigned y = 0; y < h; y++) {
        const uint8_t *g = grey + (size_t)y * w;
        if (rgb) {
            for (unsigned x = 0; x < w; x++)
                row[3 * x] = row[3 * x + 1] = row[3 * x + 2] = g[x];
        } else if (bit_depth == 1) {
            memset(row, 0, (w + 7) / 8);
            for (unsigned x = 0; x < w; x++)
                if (g[x] >= 128)
                    row[x / 8] |= (uint8_t)(0x80 >> (x % 8));
        } else {
            memcpy(row, g, w);
        }
        png_write_row(png, row);
    }
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(row);
    return fclose(fp) == 0 ? 0 : -1;
}

/* mkdir -p for a path inside the scratch folder. */
static inline int fx_mkdirs(const char *path)
{
    char tmp[4096];
    size_t n = strlen(path);
    if (n >= sizeof tmp)
        return -1;
    memcpy(tmp, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] == '/' || tmp[i] == '\0') {
            char c = tmp[i];
            tmp[i] = '\0';
            mkdir(tmp, 0755);
            tmp[i] = c;
        }
    }
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
}

/* Synthetic Omniglot tree: root/images_background/Alpha_X/characterNN/NN_MM.png.
 * Background: n_bg alphabets with bg_chars[a] characters each; evaluation likewise.
 * Each image is 105x105, white, with a black block whose position encodes (alphabet, character,
 * drawing) so that images differ. Returns 0 on success. */
static inline int fx_write_omniglot(const char *root,
                                    unsigned n_bg,
                                    const unsigned *bg_chars,
                                    unsigned n_ev,
                                    const unsigned *ev_chars,
                                    unsigned drawings)
{
    static uint8_t img[105 * 105];
    char path[4096];
    for (int split = 0; split < 2; split++) {
        unsigned na = split ? n_ev : n_bg;
        const unsigned *nc = split ? ev_chars : bg_chars;
        for (unsigned a = 0; a < na; a++) {
            for (unsigned c = 0; c < nc[a]; c++) {
                snprintf(path, sizeof path, "%s/%s/Alpha_%c/character%02u", root,
                         split ? "images_evaluation" : "images_background", 'A' + (int)a, c + 1);
                if (fx_mkdirs(path) != 0)
                    return -1;
                for (unsigned d = 0; d < drawings; d++) {
                    memset(img, 255, sizeof img);
                    unsigned y0 = (a * 7 + c * 3 + d) % 90, x0 = (c * 11 + d * 5) % 90;
                    for (unsigned y = y0; y < y0 + 15; y++)
                        for (unsigned x = x0; x < x0 + 15; x++)
                            img[y * 105 + x] = 0;
                    snprintf(path, sizeof path, "%s/%s/Alpha_%c/character%02u/%02u_%02u.png", root,
                             split ? "images_evaluation" : "images_background", 'A' + (int)a, c + 1,
                             c + 1, d + 1);
                    if (fx_write_png(path, img, 105, 105, 1, 0) != 0)
                        return -1;
                }
            }
        }
    }
    return 0;
}

static inline int fx_rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

/* rm -rf of a folder the test made. */
static inline void fx_rmtree(const char *path)
{
    nftw(path, fx_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
