/* tests of host/plot (gnuplot runner): the PNG's own header says the size asked for (read here
 * independently of gnuplot's output path), both terminals work, gaps and log axes with
 * non-positive values do not stop gnuplot, and every failure (no gnuplot, gnuplot failing, bad
 * arguments, unwritable destination) is a status with a message and leaves no file behind. */
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "am_test.h"
#include "run/plot.h"

/* PNG signature + IHDR width/height (big-endian, bytes 16..23). */
static int png_size(const char *path, uint32_t *w, uint32_t *h)
{
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    unsigned char b[24];
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t n = fread(b, 1, sizeof b, f);
    fclose(f);
    if (n != sizeof b || memcmp(b, sig, 8) != 0 || memcmp(b + 12, "IHDR", 4) != 0)
        return 0;
    *w = (uint32_t)b[16] << 24 | (uint32_t)b[17] << 16 | (uint32_t)b[18] << 8 | b[19];
    *h = (uint32_t)b[20] << 24 | (uint32_t)b[21] << 16 | (uint32_t)b[22] << 8 | b[23];
    return 1;
}

/* Files in dir whose name starts with prefix (leftover temporaries). */
static int count_prefix(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    closedir(d);
    return n;
}

static int have_gnuplot(void)
{
    char p[4096];
    return plot_find_gnuplot(p, sizeof p) == AM_OK;
}

AM_TEST(two_panels_both_terminals, unit)
{
    if (!have_gnuplot())
        AM_SKIP("gnuplot is not installed (CI installs gnuplot-nox)");
    double x[50], y[50], e[50], y2[50];
    for (int i = 0; i < 50; i++) {
        x[i] = i + 1;
        y[i] = 100.0 / (i + 1);
        e[i] = 0.1 * y[i];
        y2[i] = i == 20 ? NAN : (i < 5 ? -1.0 : 2.0 + sin(i)); /* gap, and <= 0 on a log axis */
    }
    plot_series a[2] = {{"1/x, with 'errors'", x, y, e, 50, PLOT_LINES, 1, 0},
                        {"sin_x", x, y2, NULL, 50, PLOT_LINESPOINTS, 2, 1}};
    plot_series b[1] = {{NULL, x, y2, e, 50, PLOT_POINTS, 0, 0}};
    plot_panel p[2] = {{"loss", "round", "loss", 0, 1, a, 2}, {NULL, "x", NULL, 0, 0, b, 1}};
    const char *terms[3] = {NULL, "png", "pngcairo"};
    for (int t = 0; t < 3; t++) {
        char png[600];
        snprintf(png, sizeof png, "%s/two_%d.png", am_test_tmp_dir(), t);
        plot_cfg c = {640, 300, 0, "a title with 'quotes' and _underscores_", terms[t]};
        AM_REQUIRE_OK(plot_png(png, &c, p, 2));
        uint32_t w = 0, h = 0;
        AM_REQUIRE(png_size(png, &w, &h), "%s is not a PNG", png);
        AM_CHECK(w == 640 && h == 300, "terminal %s: %ux%u, expected 640x300",
                 terms[t] ? terms[t] : "auto", w, h);
    }
    /* default size: 480 per column, 400 per row (2 columns x 1 row, no title) */
    char png[600];
    snprintf(png, sizeof png, "%s/default.png", am_test_tmp_dir());
    plot_cfg c = {0, 0, 0, NULL, NULL};
    AM_REQUIRE_OK(plot_png(png, &c, p, 2));
    uint32_t w = 0, h = 0;
    AM_REQUIRE(png_size(png, &w, &h), "not a PNG");
    AM_CHECK(w == 960 && h == 400, "default size %ux%u, expected 960x400", w, h);
    /* one column: 2 rows */
    c.columns = 1;
    AM_REQUIRE_OK(plot_png(png, &c, p, 2));
    AM_REQUIRE(png_size(png, &w, &h), "not a PNG");
    AM_CHECK(w == 480 && h == 800, "one column %ux%u, expected 480x800", w, h);
    AM_CHECK(count_prefix(am_test_tmp_dir(), "default.png.") == 0, "temporary file left");
}

AM_TEST(panel_without_points_is_drawn_empty, unit)
{
    if (!have_gnuplot())
        AM_SKIP("gnuplot is not installed (CI installs gnuplot-nox)");
    double x[3] = {1, 2, 3}, y[3] = {NAN, NAN, NAN}, z[3] = {0, -1, 0};
    plot_series a[1] = {{"nothing", x, y, NULL, 3, PLOT_LINES, 0, 0}};
    plot_series b[1] = {{"non-positive on log y", x, z, NULL, 3, PLOT_LINES, 0, 0}};
    plot_panel p[2] = {{"empty", NULL, NULL, 0, 0, a, 1}, {"log", NULL, NULL, 0, 1, b, 1}};
    char png[600];
    snprintf(png, sizeof png, "%s/empty.png", am_test_tmp_dir());
    plot_cfg c = {400, 200, 0, NULL, NULL};
    AM_REQUIRE_OK(plot_png(png, &c, p, 2));
    uint32_t w = 0, h = 0;
    AM_CHECK(png_size(png, &w, &h) && w == 400 && h == 200, "empty panels: %ux%u", w, h);
}

AM_TEST(failures_leave_nothing, unit)
{
    double x[2] = {1, 2}, y[2] = {1, 2};
    plot_series a[1] = {{"a", x, y, NULL, 2, PLOT_LINES, 0, 0}};
    plot_panel p[1] = {{"t", "x", "y", 0, 0, a, 1}};
    plot_cfg c = {300, 200, 0, NULL, NULL};
    char dir[600], png[700];
    snprintf(dir, sizeof dir, "%s", am_test_tmp_dir());
    snprintf(png, sizeof png, "%s/fail.png", dir);
    char *old = getenv("AIRMETA_GNUPLOT") ? strdup(getenv("AIRMETA_GNUPLOT")) : NULL;

    /* no gnuplot where it is said to be */
    setenv("AIRMETA_GNUPLOT", "/nonexistent/gnuplot", 1);
    char gp[4096];
    AM_CHECK(plot_find_gnuplot(gp, sizeof gp) == AM_ENOTFOUND, "missing gnuplot found");
    AM_CHECK(strstr(am_last_error(), "/nonexistent/gnuplot") != NULL, "message: %s",
             am_last_error());
    AM_CHECK(plot_png(png, &c, p, 1) == AM_ENOTFOUND, "plot without gnuplot");
    /* a "gnuplot" that fails */
    setenv("AIRMETA_GNUPLOT", "/bin/false", 1);
    AM_CHECK(plot_png(png, &c, p, 1) == AM_EIO, "failing gnuplot not reported");
    AM_CHECK(strstr(am_last_error(), "exit 1") != NULL, "message: %s", am_last_error());
    /* a "gnuplot" that succeeds without drawing: not a PNG, refused */
    setenv("AIRMETA_GNUPLOT", "/bin/true", 1);
    AM_CHECK(plot_png(png, &c, p, 1) == AM_EIO, "missing PNG not noticed");
    AM_CHECK(strstr(am_last_error(), "no PNG") != NULL, "message: %s", am_last_error());
    AM_CHECK(access(png, F_OK) != 0, "a failed plot left %s", png);
    AM_CHECK(count_prefix(dir, "fail.png") == 0, "temporary file left");
    /* an empty PATH and no override: not found, naming the package */
    unsetenv("AIRMETA_GNUPLOT");
    char *path = getenv("PATH") ? strdup(getenv("PATH")) : NULL;
    setenv("PATH", "/nonexistent-airmeta", 1);
    AM_CHECK(plot_find_gnuplot(gp, sizeof gp) == AM_ENOTFOUND, "gnuplot found in an empty PATH");
    AM_CHECK(strstr(am_last_error(), "gnuplot-nox") != NULL, "message: %s", am_last_error());
    if (path) {
        setenv("PATH", path, 1);
        free(path);
    }
    if (old) {
        setenv("AIRMETA_GNUPLOT", old, 1);
        free(old);
    }

    /* bad arguments */
    AM_CHECK(plot_png(png, &c, p, 0) == AM_EINVAL, "no panel accepted");
    plot_panel q = {"t", NULL, NULL, 0, 0, NULL, 0};
    AM_CHECK(plot_png(png, &c, &q, 1) == AM_EINVAL, "panel without series accepted");
    plot_series bad = {"a", NULL, y, NULL, 2, PLOT_LINES, 0, 0};
    plot_panel r = {"t", NULL, NULL, 0, 0, &bad, 1};
    AM_CHECK(plot_png(png, &c, &r, 1) == AM_EINVAL, "NULL x accepted");
    plot_cfg ct = {300, 200, 0, NULL, "svg"};
    AM_CHECK(plot_png(png, &ct, p, 1) == AM_EINVAL, "terminal svg accepted");
    if (have_gnuplot()) {
        AM_CHECK(plot_png("/nonexistent-airmeta-dir/x.png", &c, p, 1) == AM_EIO,
                 "unwritable destination accepted");
        AM_CHECK(strstr(am_last_error(), "/nonexistent-airmeta-dir/x.png") != NULL, "message: %s",
                 am_last_error());
    }
}

/* A TMPDIR that is not there, or too long for a path: the message names it (it said 'cannot
 * create a temporary folder: No such file or directory'); nothing is left. */
AM_TEST(tmpdir_named, unit)
{
    if (!have_gnuplot())
        AM_SKIP("gnuplot is not installed (CI installs gnuplot-nox)");
    double x[2] = {1, 2}, y[2] = {1, 2};
    plot_series a[1] = {{"a", x, y, NULL, 2, PLOT_LINES, 0, 0}};
    plot_panel p[1] = {{"t", "x", "y", 0, 0, a, 1}};
    plot_cfg c = {300, 200, 0, NULL, NULL};
    char png[700];
    snprintf(png, sizeof png, "%s/tmpdir.png", am_test_tmp_dir());
    char *tmpdir = getenv("TMPDIR") ? strdup(getenv("TMPDIR")) : NULL;
    setenv("TMPDIR", "/nonexistent-airmeta-tmp", 1);
    am_status s = plot_png(png, &c, p, 1);
    AM_CHECK(s == AM_EIO && strstr(am_last_error(), "cannot create a temporary folder in "
                                                    "TMPDIR=/nonexistent-airmeta-tmp: No such "
                                                    "file") != NULL,
             "%s: %s", am_status_str(s), am_last_error());
    static char longdir[5000];
    memset(longdir, 'a', sizeof longdir - 1);
    longdir[0] = '/';
    setenv("TMPDIR", longdir, 1);
    s = plot_png(png, &c, p, 1);
    AM_CHECK(s == AM_EINVAL && strstr(am_last_error(), "TMPDIR of 4999 characters is too long"),
             "%s: %s", am_status_str(s), am_last_error());
    AM_CHECK(access(png, F_OK) != 0, "a failed plot left %s", png);
    if (tmpdir)
        setenv("TMPDIR", tmpdir, 1);
    else
        unsetenv("TMPDIR");
    free(tmpdir);
}
