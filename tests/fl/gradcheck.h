/* Central finite-difference checks for tests/fl/model.c and tests/fl/kernels.c: compare an
 * analytic derivative with (f(p + eps e) - f(p - eps e)) / (2 eps), entry by entry and along
 * random directions. f evaluates in float; the tolerances below are sized for that. */
#ifndef AM_TESTS_FL_GRADCHECK_H
#define AM_TESTS_FL_GRADCHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "am_test.h"
#include "core/rng.h"

typedef double (*gc_fn)(void *ctx);

static void gc_fill(float *p, size_t n, am_rng *r, double lo, double hi)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (float)am_rng_uniform_range(r, lo, hi);
}

static void gc_fill_normal(float *p, size_t n, am_rng *r, double sd)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (float)(sd * am_rng_normal(r));
}

static double gc_dot(const float *a, const float *b, size_t n)
{
    double s = 0.0;
    for (size_t i = 0; i < n; i++)
        s += (double)a[i] * b[i];
    return s;
}

static double gc_maxabs(const float *a, size_t n)
{
    double m = 0.0;
    for (size_t i = 0; i < n; i++)
        m = fabs(a[i]) > m ? fabs(a[i]) : m;
    return m;
}

/* |a - b| <= rtol (|a| + |b|) + atol */
static int gc_close(double a, double b, double rtol, double atol)
{
    return fabs(a - b) <= rtol * (fabs(a) + fabs(b)) + atol;
}

static double gc_fd(gc_fn f, void *ctx, float *p, double eps)
{
    const float p0 = *p;
    *p = (float)(p0 + eps);
    const double fp = f(ctx);
    const double step0 = *p;
    *p = (float)(p0 - eps);
    const double fm = f(ctx);
    const double step = step0 - *p; /* the step actually taken in float */
    *p = p0;
    return (fp - fm) / step;
}

/* Entry-wise: every p[i] is perturbed by +-eps (restored after). Mismatches are those failing
 * gc_close(g[i], fd, rtol, atol_rel * max|g| + 1e-5) at eps AND at eps/4: a kink of a ReLU or a
 * max-pool switch inside +-eps spoils a central difference, and the smaller step is the retry.
 * Returns the number of mismatches and prints the first few. Fractions are asserted by the
 * caller (piecewise-linear models: a few entries may still sit on a kink; smooth: 0). */
static size_t gc_entries(const char *what,
                         gc_fn f,
                         void *ctx,
                         float *p,
                         size_t n,
                         const float *g,
                         double eps,
                         double rtol,
                         double atol_rel)
{
    const double atol = atol_rel * gc_maxabs(g, n) + 1e-5;
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        const double fd = gc_fd(f, ctx, p + i, eps);
        if (!gc_close(g[i], fd, rtol, atol) &&
            !gc_close(g[i], gc_fd(f, ctx, p + i, eps / 4), rtol, atol)) {
            if (bad < 5)
                fprintf(stderr, "  %s[%zu]: analytic %.7g, finite difference %.7g\n", what, i,
                        (double)g[i], fd);
            bad++;
        }
    }
    return bad;
}

/* Along a random direction u (unit norm): FD of f vs <g, u>. Returns 1 when they agree. */
static int gc_direction(const char *what,
                        gc_fn f,
                        void *ctx,
                        float *p,
                        size_t n,
                        const float *g,
                        double eps,
                        double rtol,
                        am_rng *r)
{
    float *p0 = malloc(n * sizeof *p0), *u = malloc(n * sizeof *u);
    if (!p0 || !u) {
        free(p0);
        free(u);
        return 0;
    }
    gc_fill_normal(u, n, r, 1.0);
    const double nu = sqrt(gc_dot(u, u, n));
    for (size_t i = 0; i < n; i++)
        u[i] = (float)(u[i] / nu);
    for (size_t i = 0; i < n; i++)
        p0[i] = p[i];
    for (size_t i = 0; i < n; i++)
        p[i] = (float)(p0[i] + eps * u[i]);
    const double fp = f(ctx);
    for (size_t i = 0; i < n; i++)
        p[i] = (float)(p0[i] - eps * u[i]);
    const double fm = f(ctx);
    for (size_t i = 0; i < n; i++)
        p[i] = p0[i];
    const double fd = (fp - fm) / (2.0 * eps), an = gc_dot(g, u, n);
    const int ok = gc_close(an, fd, rtol, 1e-5 + 1e-3 * sqrt(gc_dot(g, g, n)));
    if (!ok)
        fprintf(stderr, "  %s along a random direction: analytic %.7g, finite difference %.7g\n",
                what, an, fd);
    free(p0);
    free(u);
    return ok;
}

#endif
