/* fl/kernels (element-wise part): transductive batch-norm with its R-operator, ReLU, 2x2
 * max-pool, layout changes. Issue 3 item 1. No BLAS here; sums in double. */
#include "fl/kernels.h"

#include "clones.h"

#include <math.h>
#include <string.h>

/* mean = avg x, var = avg (x - mean)^2, rstd = 1/sqrt(var + eps), xhat = (x - mean) rstd,
 * y = gamma xhat + beta; per channel over m values. */
void fl_bn_forward(float *y,
                   float *xhat,
                   float *rstd,
                   const float *x,
                   const float *gamma,
                   const float *beta,
                   size_t c,
                   size_t m)
{
    for (size_t ci = 0; ci < c; ci++) {
        const float *xc = x + ci * m;
        float *yc = y + ci * m, *hc = xhat + ci * m;
        double s = 0.0;
        for (size_t j = 0; j < m; j++)
            s += xc[j];
        const double mean = s / (double)m;
        double v = 0.0;
        for (size_t j = 0; j < m; j++) {
            const double d = xc[j] - mean;
            v += d * d;
        }
        const float rs = (float)(1.0 / sqrt(v / (double)m + (double)FL_BN_EPS));
        const float mf = (float)mean, g = gamma[ci], bt = beta[ci];
        rstd[ci] = rs;
        for (size_t j = 0; j < m; j++) {
            const float h = (xc[j] - mf) * rs;
            hc[j] = h;
            yc[j] = g * h + bt;
        }
    }
}

/* With dxhat = gamma dy:  dx = rstd (dxhat - avg dxhat - xhat avg(dxhat xhat)). */
void fl_bn_backward(float *dx,
                    float *dgamma,
                    float *dbeta,
                    const float *dy,
                    const float *xhat,
                    const float *rstd,
                    const float *gamma,
                    size_t c,
                    size_t m)
{
    for (size_t ci = 0; ci < c; ci++) {
        const float *dyc = dy + ci * m, *hc = xhat + ci * m;
        double sdy = 0.0, sdyh = 0.0;
        for (size_t j = 0; j < m; j++) {
            sdy += dyc[j];
            sdyh += (double)dyc[j] * hc[j];
        }
        if (dgamma)
            dgamma[ci] += (float)sdyh;
        if (dbeta)
            dbeta[ci] += (float)sdy;
        if (dx) {
            const float g = gamma[ci], rs = rstd[ci];
            const float a = (float)(sdy / (double)m) * g, bb = (float)(sdyh / (double)m) * g;
            float *dxc = dx + ci * m;
            for (size_t j = 0; j < m; j++)
                dxc[j] += rs * (g * dyc[j] - a - hc[j] * bb);
        }
    }
}

/* R{xhat} = rstd (rx - avg rx - xhat avg(xhat rx)) (the Jacobian of xhat is symmetric);
 * R{y} = vgamma xhat + gamma R{xhat} + vbeta. */
void fl_bn_rforward(float *ry,
                    float *rxhat,
                    const float *rx,
                    const float *xhat,
                    const float *rstd,
                    const float *gamma,
                    const float *vgamma,
                    const float *vbeta,
                    size_t c,
                    size_t m)
{
    for (size_t ci = 0; ci < c; ci++) {
        const float *rxc = rx + ci * m, *hc = xhat + ci * m;
        float *ryc = ry + ci * m, *rhc = rxhat + ci * m;
        double s = 0.0, sh = 0.0;
        for (size_t j = 0; j < m; j++) {
            s += rxc[j];
            sh += (double)rxc[j] * hc[j];
        }
        const float mr = (float)(s / (double)m), mh = (float)(sh / (double)m);
        const float rs = rstd[ci], g = gamma[ci], vg = vgamma[ci], vb = vbeta[ci];
        for (size_t j = 0; j < m; j++) {
            const float rh = rs * (rxc[j] - mr - hc[j] * mh);
            rhc[j] = rh;
            ryc[j] = vg * hc[j] + g * rh + vb;
        }
    }
}

/* Differentiating dx = rstd (dxhat - A - xhat B), dxhat = g dy, A = avg dxhat,
 * B = avg(dxhat xhat), with R{rstd} = -rstd^2 avg(xhat rx):
 *   R{dx} = R{rstd}/rstd dx + rstd (R{dxhat} - R{A} - R{xhat} B - xhat R{B}),
 *   R{dxhat} = vg dy + g rdy, R{A} = avg R{dxhat}, R{B} = avg(R{dxhat} xhat + dxhat R{xhat});
 *   R{dgamma} = sum(rdy xhat + dy R{xhat}), R{dbeta} = sum rdy. */
void fl_bn_rbackward(float *rdx,
                     float *rdgamma,
                     float *rdbeta,
                     const float *dy,
                     const float *rdy,
                     const float *xhat,
                     const float *rxhat,
                     const float *rx,
                     const float *rstd,
                     const float *gamma,
                     const float *vgamma,
                     size_t c,
                     size_t m)
{
    for (size_t ci = 0; ci < c; ci++) {
        const float *dyc = dy + ci * m, *rdyc = rdy + ci * m, *hc = xhat + ci * m;
        const float *rhc = rxhat + ci * m, *rxc = rx + ci * m;
        const float g = gamma[ci], vg = vgamma[ci], rs = rstd[ci];
        double sdy = 0.0, sdyh = 0.0, srdy = 0.0, srdyh = 0.0, sdyrh = 0.0, shrx = 0.0;
        for (size_t j = 0; j < m; j++) {
            sdy += dyc[j];
            sdyh += (double)dyc[j] * hc[j];
            srdy += rdyc[j];
            srdyh += (double)rdyc[j] * hc[j];
            sdyrh += (double)dyc[j] * rhc[j];
            shrx += (double)hc[j] * rxc[j];
        }
        if (rdgamma)
            rdgamma[ci] += (float)(srdyh + sdyrh);
        if (rdbeta)
            rdbeta[ci] += (float)srdy;
        if (!rdx)
            continue;
        const double inv = 1.0 / (double)m;
        const float A = (float)(g * sdy * inv), B = (float)(g * sdyh * inv);
        /* R{dxhat} = vg dy + g rdy */
        const float RA = (float)((vg * sdy + g * srdy) * inv);
        const float RB = (float)((vg * sdyh + g * srdyh + g * sdyrh) * inv);
        const float rr = (float)(-(double)rs * shrx * inv); /* R{rstd}/rstd */
        float *rdxc = rdx + ci * m;
        for (size_t j = 0; j < m; j++) {
            const float dxj = rs * (g * dyc[j] - A - hc[j] * B);
            const float rdxhat = vg * dyc[j] + g * rdyc[j];
            rdxc[j] += rr * dxj + rs * (rdxhat - RA - rhc[j] * B - hc[j] * RB);
        }
    }
}

/* Both ReLU kernels select by masking the bits (x & all-ones or x & 0): no data-dependent
 * branch (signs are random, a branch mispredicts half the time) and the loop vectorises.
 * NaN propagates through the forward (x < 0 is false for NaN), so diverged parameters show up
 * in the loss. */
static inline float keep_if(float x, int keep)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    u &= (uint32_t)0 - (uint32_t)keep;
    memcpy(&x, &u, sizeof u);
    return x;
}

FL_CLONES void fl_relu_forward(float *y, const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const float v = x[i];
        y[i] = keep_if(v, !(v < 0.0f));
    }
}

FL_CLONES void fl_relu_mask(float *out, const float *in, const float *y, size_t n)
{
    for (size_t i = 0; i < n; i++)
        out[i] = keep_if(in[i], y[i] > 0.0f);
}

FL_CLONES void fl_bias_relu(float *y, const float *b, size_t n, size_t out)
{
    for (size_t i = 0; i < n; i++) {
        float *yi = y + i * out;
        for (size_t j = 0; j < out; j++) {
            const float v = yi[j] + b[j];
            yi[j] = keep_if(v, !(v < 0.0f));
        }
    }
}

FL_CLONES void fl_bias_mask(float *r, const float *b, const float *y, size_t n, size_t out)
{
    for (size_t i = 0; i < n; i++) {
        float *ri = r + i * out;
        const float *yi = y + i * out;
        for (size_t j = 0; j < out; j++)
            ri[j] = keep_if(ri[j] + b[j], yi[j] > 0.0f);
    }
}

/* Branch-free selects (random data makes the comparisons unpredictable); strict '>' keeps the
 * first maximum on ties, in the order (0,0), (0,1), (1,0), (1,1). */
void fl_maxpool2_forward(float *y, int32_t *idx, const float *x, size_t p, size_t h, size_t w)
{
    const size_t ho = h / 2, wo = w / 2;
    for (size_t pi = 0; pi < p; pi++) {
        const float *xp = x + pi * h * w;
        float *yp = y + pi * ho * wo;
        int32_t *ip = idx + pi * ho * wo;
        for (size_t oy = 0; oy < ho; oy++) {
            const float *r0 = xp + 2 * oy * w, *r1 = r0 + w;
            const int32_t base = (int32_t)(2 * oy * w);
            for (size_t ox = 0; ox < wo; ox++) {
                const int32_t j = base + (int32_t)(2 * ox);
                float m = r0[2 * ox];
                int32_t im = j;
                const float b = r0[2 * ox + 1], c = r1[2 * ox], d = r1[2 * ox + 1];
                im = b > m ? j + 1 : im;
                m = b > m ? b : m;
                im = c > m ? j + (int32_t)w : im;
                m = c > m ? c : m;
                im = d > m ? j + (int32_t)w + 1 : im;
                m = d > m ? d : m;
                yp[oy * wo + ox] = m;
                ip[oy * wo + ox] = im;
            }
        }
    }
}

void fl_maxpool2_backward(
    float *dx, const float *dy, const int32_t *idx, size_t p, size_t h, size_t w)
{
    const size_t no = (h / 2) * (w / 2);
    memset(dx, 0, p * h * w * sizeof *dx);
    for (size_t pi = 0; pi < p; pi++) {
        float *dxp = dx + pi * h * w;
        const float *dyp = dy + pi * no;
        const int32_t *ip = idx + pi * no;
        for (size_t j = 0; j < no; j++)
            dxp[ip[j]] = dyp[j]; /* windows do not overlap: one write per input */
    }
}

void fl_maxpool2_gather(
    float *ry, const float *rx, const int32_t *idx, size_t p, size_t h, size_t w)
{
    const size_t no = (h / 2) * (w / 2);
    for (size_t pi = 0; pi < p; pi++) {
        const float *rxp = rx + pi * h * w;
        float *ryp = ry + pi * no;
        const int32_t *ip = idx + pi * no;
        for (size_t j = 0; j < no; j++)
            ryp[j] = rxp[ip[j]];
    }
}

void fl_nchw_to_cnhw(float *dst, const float *src, size_t n, size_t c, size_t hw)
{
    for (size_t ni = 0; ni < n; ni++)
        for (size_t ci = 0; ci < c; ci++)
            memcpy(dst + (ci * n + ni) * hw, src + (ni * c + ci) * hw, hw * sizeof *dst);
}

void fl_cnhw_to_nchw(float *dst, const float *src, size_t n, size_t c, size_t hw)
{
    for (size_t ni = 0; ni < n; ni++)
        for (size_t ci = 0; ci < c; ci++)
            memcpy(dst + (ni * c + ci) * hw, src + (ci * n + ni) * hw, hw * sizeof *dst);
}
