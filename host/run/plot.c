/* host/plot: PNG figures drawn by gnuplot. Data and script go to a private temporary folder; the
 * figure is written next to its destination and renamed into place only when it is a PNG. */
#include "run/plot.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/file.h"

extern char **environ;

#define PLOT_PATH_MAX 4096

static int is_exec_file(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISREG(sb.st_mode) && access(p, X_OK) == 0;
}

am_status plot_find_gnuplot(char *path, size_t cap)
{
    if (!path || cap == 0)
        return AM_FAIL(AM_EINVAL, "plot: NULL path buffer");
    const char *env = getenv("AIRMETA_GNUPLOT");
    if (env && *env) {
        if (!is_exec_file(env))
            return AM_FAIL(AM_ENOTFOUND, "plot: AIRMETA_GNUPLOT=%s is not an executable file", env);
        if (strlen(env) >= cap)
            return AM_FAIL(AM_EINVAL, "plot: gnuplot path too long");
        strcpy(path, env);
        return AM_OK;
    }
    const char *p = getenv("PATH");
    while (p && *p) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        char cand[PLOT_PATH_MAX];
        if (len > 0 && len + 9 < sizeof cand) {
            memcpy(cand, p, len);
            strcpy(cand + len, "/gnuplot");
            if (is_exec_file(cand)) {
                if (strlen(cand) >= cap)
                    return AM_FAIL(AM_EINVAL, "plot: gnuplot path too long");
                strcpy(path, cand);
                return AM_OK;
            }
        }
        p = colon ? colon + 1 : NULL;
    }
    return AM_FAIL(AM_ENOTFOUND, "plot: gnuplot not found in PATH (install the Debian package "
                                 "gnuplot-nox, or set AIRMETA_GNUPLOT)");
}

/* A gnuplot single-quoted string: no escapes inside, a quote is doubled; newlines become spaces. */
static void gp_quote(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; s && *s; s++) {
        if (*s == '\'')
            fputs("''", f);
        else if (*s == '\n' || *s == '\r')
            fputc(' ', f);
        else
            fputc(*s, f);
    }
    fputc('\'', f);
}

static am_status check_panels(const plot_panel *panels, size_t n_panels)
{
    if (!panels || n_panels == 0)
        return AM_FAIL(AM_EINVAL, "plot: no panel");
    for (size_t p = 0; p < n_panels; p++) {
        if (!panels[p].series || panels[p].n_series == 0)
            return AM_FAIL(AM_EINVAL, "plot: panel %zu has no series", p);
        for (size_t s = 0; s < panels[p].n_series; s++) {
            const plot_series *q = &panels[p].series[s];
            if (q->n && (!q->x || !q->y))
                return AM_FAIL(AM_EINVAL, "plot: panel %zu series %zu: NULL x or y", p, s);
            if (q->style != PLOT_LINES && q->style != PLOT_POINTS && q->style != PLOT_LINESPOINTS)
                return AM_FAIL(AM_EINVAL, "plot: panel %zu series %zu: bad style", p, s);
            if (q->color < 0)
                return AM_FAIL(AM_EINVAL, "plot: panel %zu series %zu: negative colour", p, s);
        }
    }
    return AM_OK;
}

/* A point gnuplot can draw: finite, and positive on a logarithmic axis. */
static int point_ok(const plot_series *q, size_t i, int logx, int logy)
{
    return isfinite(q->x[i]) && isfinite(q->y[i]) && (!logx || q->x[i] > 0) &&
           (!logy || q->y[i] > 0);
}

static size_t n_drawable(const plot_series *q, int logx, int logy)
{
    size_t n = 0;
    for (size_t i = 0; i < q->n; i++)
        n += (size_t)point_ok(q, i, logx, logy);
    return n;
}

/* Series data: "x y [err]" per point; a blank line where a point cannot be drawn (breaks the
 * line). Returns the number of points written, or -1 on a write error. */
static long write_series(const char *path, const plot_series *q, int logx, int logy)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    long good = 0;
    for (size_t i = 0; i < q->n; i++) {
        if (!point_ok(q, i, logx, logy)) {
            fputc('\n', f);
            continue;
        }
        if (q->err) {
            double e = isfinite(q->err[i]) ? fabs(q->err[i]) : 0.0;
            fprintf(f, "%.10g %.10g %.10g\n", q->x[i], q->y[i], e);
        } else {
            fprintf(f, "%.10g %.10g\n", q->x[i], q->y[i]);
        }
        good++;
    }
    int bad = ferror(f);
    bad |= fclose(f) != 0;
    return bad ? -1 : good;
}

static void series_clause(FILE *f, const char *dat, const plot_series *q)
{
    gp_quote(f, dat);
    if (q->err)
        fputs(q->style == PLOT_POINTS ? " u 1:2:3 w yerrorbars" : " u 1:2:3 w yerrorlines", f);
    else
        fputs(q->style == PLOT_POINTS        ? " u 1:2 w points"
              : q->style == PLOT_LINESPOINTS ? " u 1:2 w linespoints"
                                             : " u 1:2 w lines",
              f);
    if (q->color > 0)
        fprintf(f, " lt %d", q->color);
    fputs(q->style == PLOT_LINES ? " lw 2" : " lw 1.5", f);
    if (q->err && q->style == PLOT_LINES)
        fputs(" pt 0", f); /* error bars on a line without markers */
    if (q->style != PLOT_LINES)
        fputs(" pt 7 ps 0.8", f);
    if (q->dashed)
        fputs(" dt 2", f);
    if (q->title && *q->title) {
        fputs(" title ", f);
        gp_quote(f, q->title);
    } else {
        fputs(" notitle", f);
    }
}

/* Last non-blank line of gnuplot's log that is not a caret marker: its error message. */
static void log_tail(const char *log, char *msg, size_t cap)
{
    snprintf(msg, cap, "(no message)");
    FILE *f = fopen(log, "r");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
            line[--n] = '\0';
        const char *s = line + strspn(line, " \t");
        if (*s && strcmp(s, "^") != 0)
            snprintf(msg, cap, "%s", s);
    }
    fclose(f);
}

static int png_signature_ok(const char *path)
{
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    unsigned char b[8];
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    size_t n = fread(b, 1, 8, f);
    fclose(f);
    return n == 8 && memcmp(b, sig, 8) == 0;
}

typedef struct plot_tmp {
    char dir[PLOT_PATH_MAX];
} plot_tmp;

static void tmp_name(const plot_tmp *t, char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", t->dir, name);
}

static void tmp_cleanup(plot_tmp *t, size_t n_data)
{
    if (!t->dir[0])
        return;
    char p[PLOT_PATH_MAX + 32];
    for (size_t i = 0; i < n_data; i++) {
        char name[32];
        snprintf(name, sizeof name, "s%zu.dat", i);
        tmp_name(t, p, sizeof p, name);
        unlink(p);
    }
    tmp_name(t, p, sizeof p, "plot.gp");
    unlink(p);
    tmp_name(t, p, sizeof p, "gnuplot.log");
    unlink(p);
    rmdir(t->dir);
    t->dir[0] = '\0';
}

static am_status run_gnuplot(const char *gp, const char *script, const char *log, int *status)
{
    posix_spawn_file_actions_t fa;
    if (posix_spawn_file_actions_init(&fa) != 0)
        return AM_FAIL(AM_ENOMEM, "plot: posix_spawn_file_actions_init failed");
    int e = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (!e)
        e = posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (!e)
        e = posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid = 0;
    char *argv[] = {"gnuplot", (char *)script, NULL};
    if (!e)
        e = posix_spawn(&pid, gp, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (e)
        return AM_FAIL(AM_EIO, "plot: cannot run %s: %s", gp, strerror(e));
    while (waitpid(pid, status, 0) < 0) {
        if (errno != EINTR)
            return AM_FAIL(AM_EIO, "plot: waitpid: %s", strerror(errno));
    }
    return AM_OK;
}

am_status plot_png(const char *png, const plot_cfg *cfg, const plot_panel *panels, size_t n_panels)
{
    if (!png || !*png || !cfg)
        return AM_FAIL(AM_EINVAL, "plot: NULL or empty output path / cfg");
    am_status s = check_panels(panels, n_panels);
    if (s != AM_OK)
        return s;
    if (cfg->terminal && strcmp(cfg->terminal, "png") != 0 &&
        strcmp(cfg->terminal, "pngcairo") != 0)
        return AM_FAIL(AM_EINVAL, "plot: terminal '%s' is not png or pngcairo", cfg->terminal);
    char gp[PLOT_PATH_MAX];
    if ((s = plot_find_gnuplot(gp, sizeof gp)) != AM_OK)
        return s;

    const unsigned cols =
        cfg->columns && cfg->columns < n_panels ? cfg->columns : (unsigned)n_panels;
    const unsigned rows = (unsigned)((n_panels + cols - 1) / cols);
    const unsigned W = cfg->width ? cfg->width : 480 * cols;
    const unsigned H = cfg->height ? cfg->height : 400 * rows + (cfg->title ? 30 : 0);

    size_t n_data = 0;
    for (size_t p = 0; p < n_panels; p++)
        n_data += panels[p].n_series;

    plot_tmp t = {{0}};
    const char *td = getenv("TMPDIR");
    const int env = td && *td;
    const int nd = snprintf(t.dir, sizeof t.dir, "%s/airmeta-plot-XXXXXX", env ? td : "/tmp");
    if (nd < 0 || (size_t)nd >= sizeof t.dir) { /* a cut template has no XXXXXX */
        t.dir[0] = '\0';
        return AM_FAIL(AM_EINVAL, "plot: TMPDIR of %zu characters is too long", strlen(td));
    }
    if (!mkdtemp(t.dir)) {
        int err = errno;
        t.dir[0] = '\0';
        return AM_FAIL(AM_EIO, "plot: cannot create a temporary folder in %s%s: %s",
                       env ? "TMPDIR=" : "", env ? td : "/tmp", strerror(err));
    }
    char out_tmp[PLOT_PATH_MAX];
    out_tmp[0] = '\0';
    char script[PLOT_PATH_MAX + 32], log[PLOT_PATH_MAX + 32], dat[PLOT_PATH_MAX + 32];
    tmp_name(&t, script, sizeof script, "plot.gp");
    tmp_name(&t, log, sizeof log, "gnuplot.log");
    FILE *f = NULL;

    if (strlen(png) + 16 > sizeof out_tmp) {
        s = AM_FAIL(AM_EINVAL, "plot: output path too long");
        goto out;
    }
    snprintf(out_tmp, sizeof out_tmp, "%s.XXXXXX", png);
    int fd = mkstemp(out_tmp);
    if (fd < 0) {
        s = AM_FAIL(AM_EIO, "plot: %s: cannot create a file beside it: %s", png, strerror(errno));
        out_tmp[0] = '\0';
        goto out;
    }
    (void)fchmod(fd, 0644);
    close(fd);

    if (!(f = fopen(script, "w"))) {
        s = AM_FAIL(AM_EIO, "plot: cannot write %s: %s", script, strerror(errno));
        goto out;
    }
    /* The terminal: pngcairo (antialiased) when this gnuplot has it, else libgd's png. */
    if (cfg->terminal && strcmp(cfg->terminal, "png") == 0)
        fprintf(f, "set terminal png size %u,%u noenhanced\n", W, H);
    else if (cfg->terminal)
        fprintf(f, "set terminal pngcairo size %u,%u noenhanced font ',10'\n", W, H);
    else
        fprintf(f,
                "if (strstrt(GPVAL_TERMINALS, ' pngcairo ') > 0) {\n"
                "  set terminal pngcairo size %u,%u noenhanced font ',10'\n"
                "} else {\n"
                "  set terminal png size %u,%u noenhanced\n"
                "}\n",
                W, H, W, H);
    fputs("set output ", f);
    gp_quote(f, out_tmp);
    fputs("\nset grid\nset key top right samplen 2 spacing 1.1\nset bars small\n", f);
    if (n_panels > 1 || cfg->title) {
        fprintf(f, "set multiplot layout %u,%u", rows, cols);
        if (cfg->title) {
            fputs(" title ", f);
            gp_quote(f, cfg->title);
        }
        fputc('\n', f);
    }
    size_t k = 0;
    for (size_t p = 0; p < n_panels; p++) {
        const plot_panel *pa = &panels[p];
        /* a little room left and right so end-point error bars are not on the frame */
        fputs("unset logscale\nunset label 99\nset autoscale xfix\n"
              "set offsets graph 0.03, graph 0.03, 0, 0\n"
              "set title ",
              f);
        gp_quote(f, pa->title ? pa->title : "");
        fputs("\nset xlabel ", f);
        gp_quote(f, pa->xlabel ? pa->xlabel : "");
        fputs("\nset ylabel ", f);
        gp_quote(f, pa->ylabel ? pa->ylabel : "");
        fputc('\n', f);
        if (pa->logx)
            fputs("set logscale x\n", f);
        if (pa->logy)
            fputs("set logscale y\n", f);
        /* data first: a series without a finite point is left out (gnuplot stops on an empty
         * data set); a panel with none is drawn as an empty frame saying so */
        const size_t k0 = k;
        size_t drawable = 0;
        for (size_t q = 0; q < pa->n_series; q++, k++) {
            char name[32];
            snprintf(name, sizeof name, "s%zu.dat", k);
            tmp_name(&t, dat, sizeof dat, name);
            long good = write_series(dat, &pa->series[q], pa->logx, pa->logy);
            if (good < 0) {
                s = AM_FAIL(AM_EIO, "plot: cannot write %s: %s", dat, strerror(errno));
                goto out;
            }
            drawable += good > 0;
        }
        if (!drawable) {
            fputs("unset logscale\nset label 99 'no data' at graph 0.5,0.5 center\n"
                  "plot [0:1][0:1] -1 notitle\n",
                  f);
            continue;
        }
        fputs("plot ", f);
        int first = 1;
        for (size_t q = 0; q < pa->n_series; q++) {
            const plot_series *se = &pa->series[q];
            if (!n_drawable(se, pa->logx, pa->logy))
                continue;
            char name[32];
            snprintf(name, sizeof name, "s%zu.dat", k0 + q);
            tmp_name(&t, dat, sizeof dat, name);
            if (!first)
                fputs(", \\\n     ", f);
            series_clause(f, dat, se);
            first = 0;
        }
        fputc('\n', f);
    }
    if (n_panels > 1 || cfg->title)
        fputs("unset multiplot\n", f);
    fputs("set output\n", f);
    int bad = ferror(f);
    bad |= fclose(f) != 0;
    f = NULL;
    if (bad) {
        s = AM_FAIL(AM_EIO, "plot: cannot write %s", script);
        goto out;
    }
    int status = 0;
    if ((s = run_gnuplot(gp, script, log, &status)) != AM_OK)
        goto out;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        char msg[512];
        log_tail(log, msg, sizeof msg);
        if (WIFEXITED(status))
            s = AM_FAIL(AM_EIO, "plot: gnuplot failed (exit %d) drawing %s: %s",
                        WEXITSTATUS(status), png, msg);
        else
            s = AM_FAIL(AM_EIO, "plot: gnuplot killed by signal %d drawing %s", WTERMSIG(status),
                        png);
        goto out;
    }
    if (!png_signature_ok(out_tmp)) {
        char msg[512];
        log_tail(log, msg, sizeof msg);
        s = AM_FAIL(AM_EIO, "plot: gnuplot wrote no PNG for %s: %s", png, msg);
        goto out;
    }
    if ((s = am_check_output(png)) != AM_OK) /* a device, FIFO or link is not replaced */
        goto out;
    if (rename(out_tmp, png) != 0) {
        s = AM_FAIL(AM_EIO, "plot: cannot rename to %s: %s", png, strerror(errno));
        goto out;
    }
    out_tmp[0] = '\0';
out:
    if (f)
        fclose(f);
    if (out_tmp[0])
        unlink(out_tmp);
    tmp_cleanup(&t, n_data);
    return s;
}
