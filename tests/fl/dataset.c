/* tests/fl/dataset: the IDX reader on hand-made gzip files, Fashion-MNIST (hand-made folder and
 * the real Debian package), Omniglot folders generated here with libpng. */
#include "fl/dataset.h"

#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "am_test.h"
#include "core/status.h"
#include "fixtures.h"
#include "fl/idx.h"
#include "fl/task.h"

static char *tmp_path(const char *name)
{
    static char buf[8][1024];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", am_test_tmp_dir(), name);
    return buf[k];
}

/* Values and dims come back exactly; gzip'd and plain files read alike. */
AM_TEST(idx_values, unit)
{
    uint32_t dims[3] = {2, 3, 4};
    uint8_t data[24];
    for (int i = 0; i < 24; i++)
        data[i] = (uint8_t)(i * 37 + 5);
    for (int gz = 0; gz < 2; gz++) {
        const char *p = tmp_path(gz ? "v.idx.gz" : "v.idx");
        AM_REQUIRE(fx_write_idx(p, 0x08, 3, dims, data, 24, gz) == 0, "write %s", p);
        fl_idx *x = NULL;
        AM_REQUIRE_OK(fl_idx_read(p, 3, &x));
        AM_CHECK(fl_idx_ndim(x) == 3, "ndim %u", fl_idx_ndim(x));
        AM_CHECK(fl_idx_dim(x, 0) == 2 && fl_idx_dim(x, 1) == 3 && fl_idx_dim(x, 2) == 4,
                 "dims %u %u %u", fl_idx_dim(x, 0), fl_idx_dim(x, 1), fl_idx_dim(x, 2));
        AM_CHECK(fl_idx_dim(x, 3) == 0, "dim beyond ndim");
        AM_CHECK(fl_idx_count(x) == 24, "count %zu", fl_idx_count(x));
        AM_CHECK(memcmp(fl_idx_data(x), data, 24) == 0, "data differ (gz %d)", gz);
        fl_idx_destroy(x);
        remove(p);
    }
    /* expect_ndim 0 accepts any */
    const char *p = tmp_path("v1.idx.gz");
    uint32_t d1 = 5;
    AM_REQUIRE(fx_write_idx(p, 0x08, 1, &d1, data, 5, 1) == 0, "write");
    fl_idx *x = NULL;
    AM_CHECK_OK(fl_idx_read(p, 0, &x));
    AM_CHECK(x && fl_idx_count(x) == 5 && fl_idx_data(x)[4] == data[4], "1-d read");
    fl_idx_destroy(x);
    fl_idx_destroy(NULL);
    remove(p);
}

static void expect_idx_error(const char *p, unsigned nd, am_status want, const char *needle)
{
    fl_idx *x = (fl_idx *)1;
    am_status s = fl_idx_read(p, nd, &x);
    AM_CHECK(s == want, "%s: got %s (%s), want %s", p, am_status_str(s), am_last_error(),
             am_status_str(want));
    AM_CHECK(x == NULL, "out not cleared on error");
    AM_CHECK(strstr(am_last_error(), p) != NULL, "message does not name the path: %s",
             am_last_error());
    AM_CHECK(strstr(am_last_error(), needle) != NULL, "message lacks '%s': %s", needle,
             am_last_error());
}

AM_TEST(idx_errors, unit)
{
    uint32_t dims[2] = {3, 4};
    uint8_t data[64] = {0};
    const char *p = tmp_path("e.idx.gz");
    expect_idx_error(tmp_path("nonexistent.gz"), 0, AM_ENOTFOUND, "no such file");

    AM_REQUIRE(fx_write_idx(p, 0x08, 2, dims, data, 12, 1) == 0, "write");
    expect_idx_error(p, 3, AM_EFORMAT, "expected 3");

    uint8_t bad[16] = {0x1f, 0x00, 0x08, 0x02, 0, 0, 0, 3, 0, 0, 0, 4};
    AM_REQUIRE(fx_write_bytes(p, bad, 12, 1) == 0, "write");
    expect_idx_error(p, 0, AM_EFORMAT, "bad IDX magic");

    AM_REQUIRE(fx_write_idx(p, 0x0D, 2, dims, data, 12 * 4, 1) == 0, "write"); /* float type */
    expect_idx_error(p, 0, AM_EFORMAT, "not supported");

    AM_REQUIRE(fx_write_idx(p, 0x08, 0, dims, data, 0, 1) == 0, "write");
    expect_idx_error(p, 0, AM_EFORMAT, "dimensions");

    uint32_t zd[2] = {3, 0};
    AM_REQUIRE(fx_write_idx(p, 0x08, 2, zd, data, 0, 1) == 0, "write");
    expect_idx_error(p, 0, AM_EFORMAT, "is 0");

    uint32_t huge[2] = {65536, 65536};
    AM_REQUIRE(fx_write_idx(p, 0x08, 2, huge, data, 12, 1) == 0, "write");
    expect_idx_error(p, 0, AM_EFORMAT, "2^31");

    AM_REQUIRE(fx_write_idx(p, 0x08, 2, dims, data, 11, 1) == 0, "write"); /* one byte short */
    expect_idx_error(p, 0, AM_EFORMAT, "truncated");

    AM_REQUIRE(fx_write_idx(p, 0x08, 2, dims, data, 13, 1) == 0, "write"); /* one byte extra */
    expect_idx_error(p, 0, AM_EFORMAT, "trailing");

    bad[0] = 0x00;
    AM_REQUIRE(fx_write_bytes(p, bad, 6, 1) == 0, "write"); /* header cut inside the dims */
    expect_idx_error(p, 0, AM_EFORMAT, "truncated IDX header");

    /* A damaged gzip stream: a real file cut in half, and one with its CRC flipped. */
    uint8_t big[4000];
    for (int i = 0; i < 4000; i++)
        big[i] = (uint8_t)((i * 2654435761u) >> 13);
    uint32_t bd[1] = {4000};
    const char *q = tmp_path("big.idx.gz");
    AM_REQUIRE(fx_write_idx(q, 0x08, 1, bd, big, 4000, 1) == 0, "write");
    FILE *fp = fopen(q, "rb");
    AM_REQUIRE(fp != NULL, "open");
    uint8_t gzb[8192];
    size_t gzn = fread(gzb, 1, sizeof gzb, fp);
    fclose(fp);
    AM_REQUIRE(gzn > 100 && gzn < sizeof gzb, "gz size %zu", gzn);
    AM_REQUIRE(fx_write_bytes(p, gzb, gzn / 2, 0) == 0, "write");
    expect_idx_error(p, 0, AM_EFORMAT, p);
    gzb[gzn - 6] ^= 0xFF; /* inside the CRC32 of the trailer */
    AM_REQUIRE(fx_write_bytes(p, gzb, gzn, 0) == 0, "write");
    expect_idx_error(p, 0, AM_EFORMAT, p);

    AM_CHECK(fl_idx_read(NULL, 0, &(fl_idx *){NULL}) == AM_EINVAL, "NULL path");
    remove(p);
    remove(q);
}

#if defined(__SANITIZE_ADDRESS__)
/* Under AddressSanitizer an address-space limit cannot be set (its shadow memory is terabytes of
 * address space): idx_lying_size's limit is then ASan's own, an allocation over 1 GiB returning
 * NULL (the other cases here allocate < 100 MB). ASAN_OPTIONS from the environment still apply
 * over these defaults. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "allocator_may_return_null=1:max_allocation_size_mb=1024";
}
#endif

/* A header's size is a claim: a 10-byte file announcing 2^31 - 2^16 bytes is refused as truncated
 * having allocated what it holds. The reader once allocated the announced 2 GiB first: under an
 * address-space limit 512 MiB above the process's size (under ASan: its 1 GiB allocation limit,
 * above) it failed "out of memory" instead. */
AM_TEST(idx_lying_size, unit)
{
    uint32_t dims[2] = {32767, 65536};
    const uint8_t data[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    for (int gz = 0; gz < 2; gz++) {
        const char *p = tmp_path(gz ? "lie.idx.gz" : "lie.idx");
        AM_REQUIRE(fx_write_idx(p, 0x08, 2, dims, data, sizeof data, gz) == 0, "write");
        fflush(NULL);
        pid_t pid = fork();
        AM_REQUIRE(pid >= 0, "fork");
        if (pid == 0) {
#if !defined(__SANITIZE_ADDRESS__)
            long pages = 0;
            FILE *f = fopen("/proc/self/statm", "r");
            if (!f || fscanf(f, "%ld", &pages) != 1)
                _exit(3);
            fclose(f);
            const rlim_t lim = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + ((rlim_t)512 << 20);
            struct rlimit rl = {lim, lim};
            if (setrlimit(RLIMIT_AS, &rl) != 0)
                _exit(3);
#endif
            fl_idx *x = NULL;
            am_status st = fl_idx_read(p, 0, &x);
            _exit(st == AM_EFORMAT && strstr(am_last_error(), "truncated") ? 0
                  : st == AM_ENOMEM                                        ? 1
                                                                           : 2);
        }
        int status = 0;
        AM_REQUIRE(waitpid(pid, &status, 0) == pid && WIFEXITED(status), "child");
        AM_CHECK(WEXITSTATUS(status) == 0, "%s: exit %d (1: out of memory on the claimed size)",
                 p, WEXITSTATUS(status));
        remove(p);
    }
}

/* A hand-made Fashion-MNIST folder: 20 images, 2 per class, pixel (i, r, c) = (i + r + c) % 256. */
static int write_fake_fmnist(
    const char *dir, const char *stem, uint32_t n, uint32_t side, uint32_t nlabels, int label_bad)
{
    if (fx_mkdirs(dir) != 0)
        return -1;
    size_t np = (size_t)n * side * side;
    uint8_t *pix = malloc(np), lab[64];
    if (pix == NULL)
        return -1;
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t k = 0; k < side * side; k++)
            pix[(size_t)i * side * side + k] = (uint8_t)((i + k / side + k % side) % 256);
    for (uint32_t i = 0; i < nlabels && i < 64; i++)
        lab[i] = (uint8_t)(i % 10);
    if (label_bad)
        lab[3] = 10;
    char p[2048];
    uint32_t dims[3] = {n, side, side};
    snprintf(p, sizeof p, "%s/%s-images-idx3-ubyte.gz", dir, stem);
    int r = fx_write_idx(p, 0x08, 3, dims, pix, np, 1);
    snprintf(p, sizeof p, "%s/%s-labels-idx1-ubyte.gz", dir, stem);
    r |= fx_write_idx(p, 0x08, 1, &nlabels, lab, nlabels, 1);
    free(pix);
    return r;
}

AM_TEST(fmnist_fake, unit)
{
    const char *dir = tmp_path("fm_ok");
    AM_REQUIRE(write_fake_fmnist(dir, "t10k", 20, 28, 20, 0) == 0, "write");
    fl_image_set *s = NULL;
    AM_REQUIRE_OK(fl_fmnist_load(dir, FL_FMNIST_TEST, &s));
    AM_CHECK(fl_image_set_size(s) == 20, "size %zu", fl_image_set_size(s));
    AM_CHECK(fl_image_set_rows(s) == 28 && fl_image_set_cols(s) == 28, "shape");
    AM_CHECK(fl_image_set_n_classes(s) == 10 && fl_image_set_n_groups(s) == 10, "classes");
    float img[784];
    for (uint32_t i = 0; i < 20; i++) {
        AM_CHECK(fl_image_set_label(s, i) == i % 10, "label %u", i);
        fl_image_set_get(s, i, img);
        for (int k = 0; k < 784; k += 97)
            AM_CHECK(img[k] == (float)((i + (uint32_t)k / 28 + (uint32_t)k % 28) % 256) / 255.0f,
                     "pixel %u,%d = %g", i, k, (double)img[k]);
    }
    for (unsigned c = 0; c < 10; c++) {
        AM_CHECK(fl_image_set_class_size(s, c) == 2, "class %u size", c);
        AM_CHECK(fl_image_set_class_image(s, c, 0) == c &&
                     fl_image_set_class_image(s, c, 1) == c + 10,
                 "class %u members", c);
        AM_CHECK(fl_image_set_class_group(s, c) == c, "group");
    }
    AM_CHECK(strcmp(fl_image_set_group_name(s, 9), "Ankle boot") == 0, "name %s",
             fl_image_set_group_name(s, 9));
    fl_image_set_destroy(s);
    fx_rmtree(dir);
}

static void expect_fm_error(const char *dir, fl_fmnist_split sp, am_status want, const char *needle)
{
    fl_image_set *s = (fl_image_set *)1;
    am_status st = fl_fmnist_load(dir, sp, &s);
    AM_CHECK(st == want, "%s: got %s (%s), want %s", dir, am_status_str(st), am_last_error(),
             am_status_str(want));
    AM_CHECK(s == NULL, "out not cleared");
    AM_CHECK(strstr(am_last_error(), dir) != NULL, "message does not name %s: %s", dir,
             am_last_error());
    AM_CHECK(strstr(am_last_error(), "install the Debian package dataset-fashion-mnist") != NULL,
             "message lacks the package: %s", am_last_error());
    AM_CHECK(strstr(am_last_error(), needle) != NULL, "message lacks '%s': %s", needle,
             am_last_error());
}

AM_TEST(fmnist_errors, unit)
{
    expect_fm_error(tmp_path("fm_missing"), FL_FMNIST_TRAIN, AM_ENOTFOUND,
                    "train-images-idx3-ubyte.gz");
    const char *d1 = tmp_path("fm_count");
    AM_REQUIRE(write_fake_fmnist(d1, "train", 20, 28, 19, 0) == 0, "write");
    expect_fm_error(d1, FL_FMNIST_TRAIN, AM_EFORMAT, "19 labels");
    const char *d2 = tmp_path("fm_label");
    AM_REQUIRE(write_fake_fmnist(d2, "train", 20, 28, 20, 1) == 0, "write");
    expect_fm_error(d2, FL_FMNIST_TRAIN, AM_EFORMAT, "label 10");
    const char *d3 = tmp_path("fm_side");
    AM_REQUIRE(write_fake_fmnist(d3, "train", 20, 27, 20, 0) == 0, "write");
    expect_fm_error(d3, FL_FMNIST_TRAIN, AM_EFORMAT, "27x27");
    const char *d4 = tmp_path("fm_class");
    AM_REQUIRE(write_fake_fmnist(d4, "train", 9, 28, 9, 0) == 0, "write"); /* class 9 absent */
    expect_fm_error(d4, FL_FMNIST_TRAIN, AM_EFORMAT, "class 9 has no image");
    /* labels file missing only */
    char p[2048];
    snprintf(p, sizeof p, "%s/train-labels-idx1-ubyte.gz", d1);
    remove(p);
    expect_fm_error(d1, FL_FMNIST_TRAIN, AM_ENOTFOUND, "train-labels-idx1-ubyte.gz");
    fx_rmtree(d1);
    fx_rmtree(d2);
    fx_rmtree(d3);
    fx_rmtree(d4);
    AM_CHECK(fl_fmnist_load(NULL, FL_FMNIST_TRAIN, &(fl_image_set *){NULL}) == AM_EINVAL, "NULL");
}

/* The real Debian data set: closed-form facts of Fashion-MNIST — 60000 / 10000 images of 28x28,
 * exactly 6000 / 1000 per class, and the training pixels' mean 0.2860 and std 0.3530 that every
 * Fashion-MNIST normalisation uses (mean 72.94/255). */
AM_TEST(fmnist_real, unit)
{
    for (int sp = 0; sp < 2; sp++) {
        fl_image_set *s = NULL;
        AM_REQUIRE_OK(
            fl_fmnist_load(FL_FMNIST_DEFAULT_DIR, sp ? FL_FMNIST_TEST : FL_FMNIST_TRAIN, &s));
        size_t n = sp ? 10000 : 60000;
        AM_CHECK(fl_image_set_size(s) == n, "size %zu", fl_image_set_size(s));
        AM_CHECK(fl_image_set_rows(s) == 28 && fl_image_set_cols(s) == 28, "shape");
        AM_CHECK(fl_image_set_n_classes(s) == 10, "classes");
        for (unsigned c = 0; c < 10; c++)
            AM_CHECK(fl_image_set_class_size(s, c) == n / 10, "split %d class %u: %u", sp, c,
                     fl_image_set_class_size(s, c));
        if (sp == 0) {
            double sum = 0, sum2 = 0;
            for (size_t i = 0; i < n; i++) {
                const uint8_t *p = fl_image_set_pixels(s, i);
                for (int k = 0; k < 784; k++) {
                    double v = p[k] / 255.0;
                    sum += v;
                    sum2 += v * v;
                }
            }
            double m = sum / ((double)n * 784.0), sd = sqrt(sum2 / ((double)n * 784.0) - m * m);
            AM_CHECK_NEAR(m, 0.2860, 5e-4);
            AM_CHECK_NEAR(sd, 0.3530, 5e-4);
        }
        fl_image_set_destroy(s);
    }
}

/* Omniglot folder written here: sorted alphabets/characters, class and group counts, and the
 * 105 -> 28 area average against its closed form. */
AM_TEST(omniglot_synthetic, unit)
{
    const char *root = tmp_path("omni");
    unsigned bg[3] = {3, 2, 4}, ev[2] = {2, 3};
    AM_REQUIRE(fx_write_omniglot(root, 3, bg, 2, ev, 5) == 0, "write omniglot");
    /* an extra folder without PNGs and a non-PNG file are ignored */
    char p[2048];
    snprintf(p, sizeof p, "%s/images_background/Alpha_B/character99", root);
    AM_REQUIRE(fx_mkdirs(p) == 0, "mkdir");
    snprintf(p, sizeof p, "%s/images_background/Alpha_B/character01/notes.txt", root);
    AM_REQUIRE(fx_write_bytes(p, "x", 1, 0) == 0, "write");

    fl_image_set *s = NULL;
    AM_REQUIRE_OK(fl_omniglot_load(root, "images_background", &s));
    AM_CHECK(fl_image_set_n_groups(s) == 3, "groups %u", fl_image_set_n_groups(s));
    AM_CHECK(fl_image_set_n_classes(s) == 9, "classes %u", fl_image_set_n_classes(s));
    AM_CHECK(fl_image_set_size(s) == 45, "images %zu", fl_image_set_size(s));
    AM_CHECK(strcmp(fl_image_set_group_name(s, 0), "Alpha_A") == 0 &&
                 strcmp(fl_image_set_group_name(s, 2), "Alpha_C") == 0,
             "group names %s %s", fl_image_set_group_name(s, 0), fl_image_set_group_name(s, 2));
    unsigned want_group[9] = {0, 0, 0, 1, 1, 2, 2, 2, 2};
    for (unsigned c = 0; c < 9; c++) {
        AM_CHECK(fl_image_set_class_group(s, c) == want_group[c], "class %u group %u", c,
                 fl_image_set_class_group(s, c));
        AM_CHECK(fl_image_set_class_size(s, c) == 5, "class %u size", c);
    }
    /* Image 0: alphabet A, character 1, drawing 1: black block rows 0..14, cols 0..14 of 105.
     * 15 input pixels = 4 output pixels exactly (105/28 = 3.75), so output rows/cols 0..3 = ink
     * 255 and everything else 0. */
    const uint8_t *px = fl_image_set_pixels(s, 0);
    int bad = 0;
    for (int r = 0; r < 28; r++)
        for (int c = 0; c < 28; c++)
            bad += px[r * 28 + c] != ((r < 4 && c < 4) ? 255 : 0);
    AM_CHECK(bad == 0, "%d pixels differ from the block", bad);
    /* Image 1: drawing 2: block rows 1..15, cols 5..19. Output row 0 covers input rows [0, 3.75):
     * ink 2.75/3.75; row 4 covers [15, 18.75): ink 1/3.75. Column 1 covers [3.75, 7.5):
     * ink 2.5/3.75; column 5 covers [18.75, 22.5): ink 1.25/3.75 (a quarter of column 18, all of
     * 19). Pixel (0, 1) = both fractions. */
    px = fl_image_set_pixels(s, 1);
    AM_CHECK(px[0 * 28 + 1] == (uint8_t)(2.75 / 3.75 * 2.5 / 3.75 * 255 + 0.5), "(0,1) = %u",
             px[1]);
    AM_CHECK(px[4 * 28 + 5] == (uint8_t)(1 / 3.75 * 1.25 / 3.75 * 255 + 0.5), "(4,5) = %u",
             px[4 * 28 + 5]);
    AM_CHECK(px[2 * 28 + 3] == 255, "(2,3) = %u", px[2 * 28 + 3]);
    AM_CHECK(px[2 * 28 + 0] == 0, "(2,0) = %u", px[2 * 28 + 0]);
    fl_image_set_destroy(s);

    AM_REQUIRE_OK(fl_omniglot_load(root, "images_evaluation", &s));
    AM_CHECK(fl_image_set_n_groups(s) == 2 && fl_image_set_n_classes(s) == 5, "eval %u %u",
             fl_image_set_n_groups(s), fl_image_set_n_classes(s));
    fl_image_set_destroy(s);
    fx_rmtree(root);
}

/* 8-bit grey and RGB PNGs of other sizes read alike (libpng converts); a 56x56 grey image with
 * a mid-grey half downsamples by exactly 2x2. */
AM_TEST(omniglot_formats, unit)
{
    const char *root = tmp_path("omni_fmt");
    char d[1024], p[2048];
    snprintf(d, sizeof d, "%s/images_background/Alpha/character01", root);
    AM_REQUIRE(fx_mkdirs(d) == 0, "mkdir");
    static uint8_t img[56 * 56];
    for (int r = 0; r < 56; r++)
        for (int c = 0; c < 56; c++)
            img[r * 56 + c] = c < 28 ? 255 : (uint8_t)(r % 2 ? 51 : 153); /* mean 102 */
    snprintf(p, sizeof p, "%s/a.png", d);
    AM_REQUIRE(fx_write_png(p, img, 56, 56, 8, 0) == 0, "write");
    snprintf(p, sizeof p, "%s/b.png", d);
    AM_REQUIRE(fx_write_png(p, img, 56, 56, 8, 1) == 0, "write");
    fl_image_set *s = NULL;
    AM_REQUIRE_OK(fl_omniglot_load(root, "images_background", &s));
    AM_REQUIRE(fl_image_set_size(s) == 2, "size");
    for (size_t i = 0; i < 2; i++) {
        const uint8_t *px = fl_image_set_pixels(s, i);
        /* ink = 1 - 102/255 = 0.6 -> 153 */
        AM_CHECK(px[5 * 28 + 3] == 0 && px[5 * 28 + 20] == 153, "image %zu: %u %u", i,
                 px[5 * 28 + 3], px[5 * 28 + 20]);
    }
    fl_image_set_destroy(s);
    fx_rmtree(root);
}

AM_TEST(omniglot_errors, unit)
{
    const char *root = tmp_path("omni_err");
    fl_image_set *s = (fl_image_set *)1;
    am_status st = fl_omniglot_load(root, "images_background", &s);
    AM_CHECK(st == AM_ENOTFOUND, "missing: %s", am_status_str(st));
    AM_CHECK(s == NULL, "out not cleared");
    AM_CHECK(strstr(am_last_error(), root) && strstr(am_last_error(), "images_background"),
             "message does not name the path: %s", am_last_error());

    char d[1024], p[2048];
    snprintf(d, sizeof d, "%s/images_background", root);
    AM_REQUIRE(fx_mkdirs(d) == 0, "mkdir");
    st = fl_omniglot_load(root, "images_background", &s);
    AM_CHECK(st == AM_ENOTFOUND && strstr(am_last_error(), "no ALPHABET"), "empty: %s %s",
             am_status_str(st), am_last_error());

    snprintf(d, sizeof d, "%s/images_background/Alpha/character01", root);
    AM_REQUIRE(fx_mkdirs(d) == 0, "mkdir");
    static uint8_t img[105 * 105];
    memset(img, 200, sizeof img);
    snprintf(p, sizeof p, "%s/good.png", d);
    AM_REQUIRE(fx_write_png(p, img, 105, 105, 8, 0) == 0, "write");
    AM_CHECK_OK(fl_omniglot_load(root, "images_background", &s));
    fl_image_set_destroy(s);

    /* garbage under a .png name */
    snprintf(p, sizeof p, "%s/zbad.png", d);
    AM_REQUIRE(fx_write_bytes(p, "this is not a PNG file at all", 29, 0) == 0, "write");
    st = fl_omniglot_load(root, "images_background", &s);
    AM_CHECK(st == AM_EFORMAT && strstr(am_last_error(), p), "garbage: %s %s", am_status_str(st),
             am_last_error());
    /* a real PNG cut in half */
    snprintf(p, sizeof p, "%s/good.png", d);
    FILE *fp = fopen(p, "rb");
    AM_REQUIRE(fp != NULL, "open");
    static uint8_t buf[65536];
    size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    snprintf(p, sizeof p, "%s/zbad.png", d);
    AM_REQUIRE(fx_write_bytes(p, buf, n / 2, 0) == 0, "write");
    st = fl_omniglot_load(root, "images_background", &s);
    AM_CHECK(st == AM_EFORMAT && strstr(am_last_error(), p), "truncated: %s %s", am_status_str(st),
             am_last_error());
    AM_CHECK(s == NULL, "out not cleared");
    fx_rmtree(root);
}
