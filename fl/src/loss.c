/* fl/loss: mean-squared error and softmax cross-entropy with their gradients and R-operators
 * (fl/batch.h fl_loss). Issue 3 item 1. Sums in double. */
#include "fl/kernels.h"

#include <math.h>

float fl_mse_forward_backward(float *dout, const float *out, const float *y, size_t n, size_t k)
{
    const size_t nk = n * k;
    const float scale = 2.0f / (float)nk;
    double s = 0.0;
    for (size_t i = 0; i < nk; i++) {
        const float d = out[i] - y[i];
        s += (double)d * d;
        if (dout)
            dout[i] = scale * d;
    }
    return (float)(s / (double)nk);
}

void fl_mse_rbackward(float *rdout, const float *rout, size_t n, size_t k)
{
    const size_t nk = n * k;
    const float scale = 2.0f / (float)nk;
    for (size_t i = 0; i < nk; i++)
        rdout[i] = scale * rout[i];
}

float fl_xent_forward_backward(
    float *dlogits, float *prob, const float *logits, const int32_t *label, size_t n, size_t k)
{
    double total = 0.0;
    const float invn = 1.0f / (float)n;
    for (size_t i = 0; i < n; i++) {
        const float *z = logits + i * k;
        float *p = prob + i * k;
        float mx = z[0];
        for (size_t j = 1; j < k; j++)
            if (z[j] > mx)
                mx = z[j];
        double s = 0.0;
        for (size_t j = 0; j < k; j++) {
            p[j] = expf(z[j] - mx);
            s += p[j];
        }
        const float inv = (float)(1.0 / s);
        for (size_t j = 0; j < k; j++)
            p[j] *= inv;
        const size_t lab = (size_t)label[i];
        total += (double)mx + log(s) - (double)z[lab];
        if (dlogits) {
            float *d = dlogits + i * k;
            for (size_t j = 0; j < k; j++)
                d[j] = p[j] * invn;
            d[lab] -= invn;
        }
    }
    return (float)(total / (double)n);
}

/* d/dz of softmax: R{p} = p * (rz - <p, rz>) */
void fl_xent_rbackward(float *rdlogits, const float *prob, const float *rlogits, size_t n, size_t k)
{
    const float invn = 1.0f / (float)n;
    for (size_t i = 0; i < n; i++) {
        const float *p = prob + i * k, *rz = rlogits + i * k;
        float dot = 0.0f;
        for (size_t j = 0; j < k; j++)
            dot += p[j] * rz[j];
        float *r = rdlogits + i * k;
        for (size_t j = 0; j < k; j++)
            r[j] = p[j] * (rz[j] - dot) * invn;
    }
}
