/* host/plot: PNG figures drawn by gnuplot (data and script written to a temporary folder, gnuplot
 * run as a child process). For sweeps and learning curves (issue 5 item 1, issue 4 item 4 plots).
 */
#ifndef AM_HOST_PLOT_H
#define AM_HOST_PLOT_H

#include <stddef.h>

#include "core/status.h"

typedef enum plot_style {
    PLOT_LINES = 0,  /* with err: yerrorlines */
    PLOT_POINTS,     /* with err: yerrorbars */
    PLOT_LINESPOINTS /* with err: yerrorlines with point markers */
} plot_style;

typedef struct plot_series {
    const char *title;   /* legend entry; NULL or "" = none */
    const double *x, *y; /* n points; a non-finite x or y leaves a gap (the line is broken) */
    const double *err;   /* n error-bar half-widths (non-finite = 0), or NULL for none */
    size_t n;
    plot_style style;
    int color;  /* 0 = gnuplot's next colour; k >= 1 = linetype k (same k, same colour) */
    int dashed; /* dashed line */
} plot_series;

typedef struct plot_panel {
    const char *title, *xlabel, *ylabel; /* NULL = none */
    int logx, logy;                      /* logarithmic axis (non-positive values are skipped) */
    const plot_series *series;
    size_t n_series; /* >= 1 */
} plot_panel;

typedef struct plot_cfg {
    unsigned width, height; /* pixels of the whole figure; 0 = 480 per panel column x 400 per row */
    unsigned columns;       /* panels per row; 0 = all panels in one row */
    const char *title;      /* title over all panels; NULL = none */
    const char *terminal;   /* NULL = pngcairo when gnuplot has it, else png (libgd);
                               "pngcairo" or "png" to force one */
} plot_cfg;

/* The gnuplot program: $AIRMETA_GNUPLOT if set (must be executable), else `gnuplot` searched in
 * PATH. AM_ENOTFOUND with a message naming the Debian package (gnuplot-nox) when there is none;
 * AM_EINVAL if cap is too small. */
am_status plot_find_gnuplot(char *path, size_t cap);

/* Draws the panels into png (written to a temporary file next to it, renamed into place only when
 * gnuplot succeeded and the file starts with the PNG signature). Titles are printed literally
 * (no enhanced-text markup). Errors: AM_EINVAL (bad arguments: no panel, a panel without series,
 * NULL arrays), AM_ENOTFOUND (no gnuplot), AM_EIO (temporary folder, writing, gnuplot failed: the
 * message quotes gnuplot's first error line). Leaves nothing behind on failure. */
am_status plot_png(const char *png, const plot_cfg *cfg, const plot_panel *panels, size_t n_panels);

#endif
