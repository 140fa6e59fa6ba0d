/* phy/frame: numerology, allocation and preamble values (docs/air-interface.md §1, §2). */
#include "phy/frame.h"

#include <liquid/liquid.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "phy/fft.h"

struct phy_frame {
    unsigned M, cp, n_used, n_data, n_pilot;
    unsigned char *sctype;
    unsigned *used, *data, *pilot;
    float complex *s0a, *s0b, *s1; /* frequency-domain preamble values, M each */
    float complex *preamble;       /* time domain, 3 (M + cp) */
};

void phy_frame_cfg_default(phy_frame_cfg *cfg)
{
    cfg->nfft = 256;
    cfg->cp_len = 0;
    cfg->sctype = NULL;
}

static am_status check_nfft(unsigned M)
{
    if (M < PHY_NFFT_MIN || M > PHY_NFFT_MAX)
        return AM_FAIL(AM_EINVAL,
                       "frame: FFT size M = %u outside %u..%u (docs/air-interface.md §1)", M,
                       PHY_NFFT_MIN, PHY_NFFT_MAX);
    if (M % 2)
        return AM_FAIL(AM_EINVAL,
                       "frame: FFT size M = %u is odd, must be even (docs/air-interface.md §1)", M);
    return AM_OK;
}

am_status phy_frame_default_sctype(unsigned nfft, unsigned char *sctype)
{
    am_status s = check_nfft(nfft);
    if (s != AM_OK)
        return s;
    if (!sctype)
        return AM_FAIL(AM_EINVAL, "frame: NULL allocation buffer");
    ofdmframe_init_default_sctype(nfft, sctype);
    return AM_OK;
}

/* Counts of an allocation, validated without liquid (liquid prints and exits on bad values). */
static am_status
check_sctype(const unsigned char *p, unsigned M, unsigned *n_pilot, unsigned *n_data)
{
    unsigned np = 0, nd = 0, n_even = 0;
    for (unsigned i = 0; i < M; i++) {
        if (p[i] > PHY_SCTYPE_DATA)
            return AM_FAIL(AM_EINVAL,
                           "frame: allocation entry %u has type %u (allowed 0 null, 1 pilot, "
                           "2 data)",
                           i, (unsigned)p[i]);
        np += p[i] == PHY_SCTYPE_PILOT;
        nd += p[i] == PHY_SCTYPE_DATA;
        n_even += p[i] != PHY_SCTYPE_NULL && i % 2 == 0;
    }
    if (np + nd == 0)
        return AM_FAIL(AM_EINVAL, "frame: allocation has no used bin (all %u are null)", M);
    if (np < 2)
        return AM_FAIL(AM_EINVAL, "frame: allocation has %u pilot bin(s), needs at least 2", np);
    if (nd < 1)
        return AM_FAIL(AM_EINVAL, "frame: allocation has no data bin");
    if (n_even < 1)
        return AM_FAIL(AM_EINVAL,
                       "frame: allocation has no used even bin (S0 occupies even bins only, §2)");
    *n_pilot = np;
    *n_data = nd;
    return AM_OK;
}

static am_status resolve(const phy_frame_cfg *cfg,
                         unsigned *cp,
                         unsigned char *sctype,
                         unsigned *n_pilot,
                         unsigned *n_data)
{
    if (!cfg)
        return AM_FAIL(AM_EINVAL, "frame: NULL configuration");
    am_status s = check_nfft(cfg->nfft);
    if (s != AM_OK)
        return s;
    unsigned M = cfg->nfft;
    unsigned c = cfg->cp_len ? cfg->cp_len : M / 8;
    if (c < 1 || c > M / 2)
        return AM_FAIL(AM_EINVAL,
                       "frame: cyclic prefix %u outside 1..M/2 = %u (docs/air-interface.md §1)", c,
                       M / 2);
    *cp = c;
    if (cfg->sctype)
        memcpy(sctype, cfg->sctype, M);
    else
        ofdmframe_init_default_sctype(M, sctype);
    return check_sctype(sctype, M, n_pilot, n_data);
}

am_status phy_frame_validate(const phy_frame_cfg *cfg)
{
    unsigned char sct[PHY_NFFT_MAX];
    unsigned cp, np, nd;
    return resolve(cfg, &cp, sct, &np, &nd);
}

/* Frequency values of the last M samples of a liquid block (inverse of the §1 transform):
 * X[i] = sqrt(M_used)/M sum_t x[t] e^{-j 2 pi i t / M}; bins outside `keep` are exactly 0. */
static void block_to_freq(
    phy_fft *fwd, const float complex *block, const phy_frame *f, int even_only, float complex *X)
{
    unsigned M = f->M;
    memcpy(phy_fft_in(fwd), block + f->cp, M * sizeof(float complex));
    phy_fft_execute(fwd);
    const float complex *Y = phy_fft_out(fwd);
    float g = sqrtf((float)f->n_used) / (float)M;
    for (unsigned i = 0; i < M; i++) {
        int keep = f->sctype[i] != PHY_SCTYPE_NULL && (!even_only || i % 2 == 0);
        X[i] = keep ? g * Y[i] : 0.0f;
    }
}

am_status phy_frame_create(const phy_frame_cfg *cfg, phy_frame **out)
{
    if (!out)
        return AM_FAIL(AM_EINVAL, "frame: NULL output");
    *out = NULL;
    unsigned char sct[PHY_NFFT_MAX];
    unsigned cp, np, nd;
    am_status s = resolve(cfg, &cp, sct, &np, &nd);
    if (s != AM_OK)
        return s;
    unsigned M = cfg->nfft;
    phy_frame *f = calloc(1, sizeof *f);
    if (!f)
        return AM_FAIL(AM_ENOMEM, "frame: out of memory");
    f->M = M;
    f->cp = cp;
    f->n_pilot = np;
    f->n_data = nd;
    f->n_used = np + nd;
    size_t B = (size_t)M + cp;
    f->sctype = malloc(M);
    f->used = malloc(f->n_used * sizeof(unsigned));
    f->data = malloc(nd * sizeof(unsigned));
    f->pilot = malloc(np * sizeof(unsigned));
    f->s0a = phy_fft_alloc(M);
    f->s0b = phy_fft_alloc(M);
    f->s1 = phy_fft_alloc(M);
    f->preamble = phy_fft_alloc(3 * B);
    float complex *lq = malloc(3 * B * sizeof(float complex));
    if (!f->sctype || !f->used || !f->data || !f->pilot || !f->s0a || !f->s0b || !f->s1 ||
        !f->preamble || !lq) {
        free(lq);
        phy_frame_destroy(f);
        return AM_FAIL(AM_ENOMEM, "frame: out of memory (M = %u)", M);
    }
    memcpy(f->sctype, sct, M);
    unsigned nu = 0, ndd = 0, npp = 0;
    for (unsigned i = 0; i < M; i++) {
        if (sct[i] != PHY_SCTYPE_NULL)
            f->used[nu++] = i;
        if (sct[i] == PHY_SCTYPE_DATA)
            f->data[ndd++] = i;
        if (sct[i] == PHY_SCTYPE_PILOT)
            f->pilot[npp++] = i;
    }

    /* §2: the preamble is liquid's; derive its frequency values from liquid's own output (all
     * arguments validated above, so liquid neither prints nor exits) */
    phy_fft_init_threads(); /* liquid plans an FFTW transform inside ofdmframegen_create */
    ofdmframegen gen = ofdmframegen_create(M, cp, 0, sct);
    if (!gen) {
        free(lq);
        phy_frame_destroy(f);
        return AM_FAIL(AM_ENOTSUP, "frame: liquid-dsp refused M = %u, cp = %u", M, cp);
    }
    ofdmframegen_write_S0a(gen, lq);
    ofdmframegen_write_S0b(gen, lq + B);
    ofdmframegen_write_S1(gen, lq + 2 * B);
    ofdmframegen_destroy(gen);

    phy_fft *fwd = NULL, *bwd = NULL;
    phy_fft_cfg fc = {.n = M, .howmany = 1, .dir = PHY_FFT_FORWARD};
    s = phy_fft_create(&fc, &fwd);
    fc.dir = PHY_FFT_BACKWARD;
    if (s == AM_OK)
        s = phy_fft_create(&fc, &bwd);
    if (s != AM_OK) {
        free(lq);
        phy_fft_destroy(fwd);
        phy_frame_destroy(f);
        return s;
    }
    block_to_freq(fwd, lq, f, 1, f->s0a);
    block_to_freq(fwd, lq + B, f, 1, f->s0b);
    block_to_freq(fwd, lq + 2 * B, f, 0, f->s1);
    free(lq);

    /* our own §1 transform of those values (so the TX and the golden test exercise it) */
    const float complex *X[3] = {f->s0a, f->s0b, f->s1};
    float g = 1.0f / sqrtf((float)f->n_used);
    for (unsigned b = 0; b < 3; b++) {
        memcpy(phy_fft_in(bwd), X[b], M * sizeof(float complex));
        phy_fft_execute(bwd);
        const float complex *x = phy_fft_out(bwd);
        float complex *blk = f->preamble + b * B;
        for (unsigned t = 0; t < M; t++)
            blk[cp + t] = g * x[t];
        memcpy(blk, blk + M, cp * sizeof(float complex));
    }
    phy_fft_destroy(fwd);
    phy_fft_destroy(bwd);
    *out = f;
    return AM_OK;
}

void phy_frame_destroy(phy_frame *f)
{
    if (!f)
        return;
    free(f->sctype);
    free(f->used);
    free(f->data);
    free(f->pilot);
    phy_fft_free(f->s0a);
    phy_fft_free(f->s0b);
    phy_fft_free(f->s1);
    phy_fft_free(f->preamble);
    free(f);
}

unsigned phy_frame_nfft(const phy_frame *f)
{
    return f->M;
}
unsigned phy_frame_cp_len(const phy_frame *f)
{
    return f->cp;
}
unsigned phy_frame_n_used(const phy_frame *f)
{
    return f->n_used;
}
unsigned phy_frame_n_data(const phy_frame *f)
{
    return f->n_data;
}
unsigned phy_frame_n_pilot(const phy_frame *f)
{
    return f->n_pilot;
}
size_t phy_frame_block_len(const phy_frame *f)
{
    return (size_t)f->M + f->cp;
}
const unsigned char *phy_frame_sctype(const phy_frame *f)
{
    return f->sctype;
}
const unsigned *phy_frame_used_bins(const phy_frame *f)
{
    return f->used;
}
const unsigned *phy_frame_data_bins(const phy_frame *f)
{
    return f->data;
}
const unsigned *phy_frame_pilot_bins(const phy_frame *f)
{
    return f->pilot;
}
const float complex *phy_frame_s0a(const phy_frame *f)
{
    return f->s0a;
}
const float complex *phy_frame_s0b(const phy_frame *f)
{
    return f->s0b;
}
const float complex *phy_frame_s1(const phy_frame *f)
{
    return f->s1;
}
const float complex *phy_frame_preamble(const phy_frame *f)
{
    return f->preamble;
}
size_t phy_frame_preamble_len(const phy_frame *f)
{
    return 3 * phy_frame_block_len(f);
}

size_t phy_frame_nsym(const phy_frame *f, size_t payload_len)
{
    size_t nc = payload_len / 2 + payload_len % 2; /* complex values, last odd entry padded (§3) */
    return (nc + f->n_data - 1) / f->n_data;
}

size_t phy_frame_burst_len(const phy_frame *f, size_t payload_len)
{
    return (3 + phy_frame_nsym(f, payload_len)) * phy_frame_block_len(f);
}
