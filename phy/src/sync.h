/* phy/sync (internal): the synchroniser shared by the server receiver (ota_rx) and the agent's
 * beacon receiver: a bounded history buffer over the sample stream, Schmidl-Cox detection on S0,
 * carrier offset, fine timing and detection gate from S1's impulse response, and the preamble
 * estimates (composite gain / channel, noise). docs/air-interface.md §2, §5, §6. Not a public API.
 * Appended samples go through a DC tracker (removed in place once significant, §5.1); the
 * detector takes a tracked periodic background (DC, a tone) out of its metric (§5.1) and tracks
 * a tone in it, removed from its sums and, by the owner, from every FFT window (§5.7). */
#ifndef AM_PHY_SYNC_H
#define AM_PHY_SYNC_H

#include <complex.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "phy/frame.h"

#define PHY_SYNC_DEFAULT_THRESHOLD 0.35f
#define PHY_SYNC_NO_PIN INT64_MAX

typedef struct phy_sync phy_sync;

typedef struct phy_sync_result {
    int64_t start;    /* stream index of S0a's first sample (first path) */
    int64_t need_end; /* the decision used samples up to need_end - 1 */
    double cfo;       /* subcarrier spacings */
    float metric;     /* Schmidl-Cox metric at the plateau */
    float pmr;        /* S1 impulse-response peak-to-mean ratio (the gate) */
} phy_sync_result;

/* threshold in (0, 1) (0 = default). The frame must outlive the object. */
am_status phy_sync_create(const phy_frame *f, float threshold, phy_sync **out);
void phy_sync_destroy(phy_sync *q);
void phy_sync_reset(phy_sync *q);

/* The integer part of the carrier offset (docs/air-interface.md §5.1): with cfo_max > 0 the
 * detector looks for offsets up to cfo_max + PHY_SYNC_CFO_MARGIN subcarrier spacings, each the
 * fractional estimate (lag M/2, in (-1, 1]) plus an even number of spacings, the one S1's impulse
 * response picks; 0 (the default after create): the fraction alone (|offset| < 1). AM_EINVAL
 * outside 0..M/8. */
#define PHY_SYNC_CFO_MARGIN 0.25
am_status phy_sync_set_cfo_max(phy_sync *q, double cfo_max);
unsigned phy_sync_backoff(const phy_sync *q); /* FFT window advance into the CP, samples */
uint64_t phy_sync_rejected(const phy_sync *q);

/* Stream positions: samples [phy_sync_begin, phy_sync_end) are in the buffer. */
int64_t phy_sync_end(const phy_sync *q);
/* Append up to n samples (compacting the buffer first if needed); returns how many were taken
 * (> 0 whenever n > 0). */
size_t phy_sync_append(phy_sync *q, const float complex *x, size_t n);
/* Drop appended samples at and after `end` (they were never looked at). */
void phy_sync_truncate(phy_sync *q, int64_t end);
/* The owner needs samples from pos on (PHY_SYNC_NO_PIN: nothing). */
void phy_sync_pin(phy_sync *q, int64_t pos);
/* Pointer to samples [pos, pos + len) if all are in the buffer, else NULL. */
const float complex *phy_sync_at(const phy_sync *q, int64_t pos, size_t len);

/* Run detection on the buffered samples. 1: a preamble was synchronised, *r filled, detection
 * paused until phy_sync_resume. 0: more samples needed. */
int phy_sync_search(phy_sync *q, phy_sync_result *r);
void phy_sync_resume(phy_sync *q, int64_t pos);

/* Derotation table for a carrier offset: rot[t] = sqrt(M_used)/M e^{-j 2 pi cfo t / M}, t < M
 * (the §1 scaling folded in). */
void phy_sync_make_rot(const phy_sync *q, double cfo, float complex *rot);
/* R[i] = ph * sum_t w[t] rot[t] e^{-j 2 pi i t / M}: bin values (§1 scaling) of the FFT window
 * starting at w, derotated. Uses q's FFT and scratch. */
void phy_sync_block_fft(phy_sync *q,
                        const float complex *w,
                        const float complex *rot,
                        float complex ph,
                        float complex *R);
/* phy_sync_block_fft on the window w less the tone's samples (tone: NULL or M samples, §5.7),
 * corrected for the receiver's IQ image: v - iqw conj(v) (§5.7; iqw = 0 and tone NULL:
 * phy_sync_block_fft exactly). */
void phy_sync_block_fft_iq(phy_sync *q,
                           const float complex *w,
                           const float complex *rot,
                           float complex ph,
                           float complex iqw,
                           const float complex *tone,
                           float complex *R);

/* A narrowband interferer (docs/air-interface.md §5.7): while the detector sees a periodic
 * background, a tracker follows one tone in it (frequency and complex amplitude) over the
 * background between bursts. tone(n) = z e^{j 2 pi f (n - ref)} at stream index n. */
typedef struct phy_sync_tone {
    int on;   /* 0: no tone tracked (the other fields are 0) */
    double f; /* cycles per sample */
    double complex z;
    int64_t ref;
} phy_sync_tone;
/* The tracker as of the last background block that ended at or before s0 (a burst's start); the
 * tracker forgets the blocks after it (they were the burst's). */
void phy_sync_tone_at(phy_sync *q, int64_t s0, phy_sync_tone *t);
/* out[k] = tone(pos + k), k < M. */
void phy_sync_tone_window(const phy_sync_tone *t, int64_t pos, unsigned M, float complex *out);
/* Phase of the derotation at window start `pos` for a burst anchored at `anchor` (S0a start). */
float complex phy_sync_phase(const phy_sync *q, double cfo, int64_t pos, int64_t anchor);

/* Preamble estimates from the burst whose S0a starts at x0[0] (3 (M + cp) samples readable):
 * G[i] = composite gain on used bins (maximum-ratio combination of S1 and, on even bins, S0a and
 * S0b; 0 on null bins); *n0 = mean power of the noise-only bins (odd used bins of S0a, S0b;
 * null bins if there are none). Windows start `backoff` samples before each block's body. */
void phy_sync_preamble(phy_sync *q,
                       const float complex *x0,
                       const float complex *rot,
                       double cfo,
                       unsigned backoff,
                       float complex *G,
                       float *n0);

/* The server's preamble estimates (docs/air-interface.md §5.2): phy_sync_preamble on the windows
 * corrected by iqw (phy_sync_block_fft_iq), with
 * - declipping: the rail samples of the three windows sitting at their rail's extreme value (taken
 *   by at least 3 samples: an ADC's clip level) are replaced by what the current G predicts when
 *   that is beyond the level, then G and N0 again, up to PHY_SYNC_DECLIP_ITER times;
 * - the residual image: on even used bins i with -i used, Y_b[i] = G[i] X_b[i] +
 *   w conj(G[-i] X_b[-i]) over b in {S0a, S0b, S1}, the least-squares w = iq_num / iq_den with G[i]
 *   free (var(w) = N0 / iq_den). */
typedef struct phy_sync_pre_info {
    unsigned clipped;      /* window samples found with a clipped rail (0: not declipped) */
    float peak;            /* the largest rail magnitude in the windows */
    float level;           /* with clipped: the clip level found (rails at +-level) */
    double complex iq_num; /* residual image statistics (above) */
    double iq_den;
} phy_sync_pre_info;
#define PHY_SYNC_DECLIP_ITER 16u /* at most, stopping once no rail moves by TOL x the level */
#define PHY_SYNC_DECLIP_TOL 1e-3f
/* phy_sync_symbol_rx: with at most this many clipped samples in a window, the iterations run on
 * those samples alone (the same iteration in closed form, O(marks^2) each) */
#define PHY_SYNC_SPARSE_MAX 48u
/* At most n (<= PHY_SYNC_SPARSE_MAX) clipped samples take the closed form, more the FFT form
 * (tests: 0 is the FFT form always). */
void phy_sync_set_sparse_max(phy_sync *q, unsigned n);
void phy_sync_preamble_rx(phy_sync *q,
                          const float complex *x0,
                          const float complex *rot,
                          double cfo,
                          unsigned backoff,
                          float complex iqw,
                          const phy_sync_tone *tone,
                          int64_t pos0,
                          float complex *G,
                          float *n0,
                          phy_sync_pre_info *info);

/* The ADC's values of the M-sample window *w at stream position pos, for declipping (§5.7): the
 * DC tracker (phy_sync_append) subtracts its estimate from the samples after the ADC clipped
 * them, which moves the rails off +-level by that DC. When it subtracted a DC from any sample of
 * the window, wbuf = *w + that DC and tbuf = *tone + that DC (*tone NULL: the DC alone), *w and
 * *tone point there (the transform of *w - *tone is the same window) and it returns 1; else 0,
 * nothing touched (a stream whose DC tracker never turned on decodes bit for bit as without). */
#define PHY_SYNC_NOT_STREAM INT64_MIN /* pos0 of phy_sync_preamble_rx: x0 is not the stream's */
int phy_sync_adc_window(const phy_sync *q,
                        int64_t pos,
                        const float complex **w,
                        const float complex **tone,
                        float complex *wbuf,
                        float complex *tbuf);

/* A data symbol's bin values (phy_sync_block_fft_iq), declipped when the window w has clipped
 * rails: with `clipped` (the preamble clipped at `level`), the rails within 1e-3 of +-level;
 * else, once a rail reaches `level` (the preamble's peak: the loudest part of a burst clips
 * first), as phy_sync_preamble_rx finds them. The prediction is G times the pilots' value
 * `pilot` (the level a of §2, at the symbol's common phase) on pilot bins, 0 on null bins and the
 * current values on data bins; PHY_SYNC_DECLIP_ITER times. Returns the samples found clipped. Uses
 * q's scratch. */
unsigned phy_sync_symbol_rx(phy_sync *q,
                            const float complex *w,
                            const float complex *rot,
                            float complex ph,
                            float complex iqw,
                            const float complex *tone,
                            const float complex *G,
                            float pilot,
                            float level,
                            int clipped,
                            float complex *R);

#endif
