/* phy/frame: numerology, subcarrier allocation and preamble values of one air-interface burst.
 * Implements docs/air-interface.md §1 (numerology, allocation, transform) and §2 (preamble, burst
 * length).
 */
#ifndef AM_PHY_FRAME_H
#define AM_PHY_FRAME_H

#include <complex.h>
#include <stddef.h>

#include "core/status.h"

#define PHY_SCTYPE_NULL 0u  /* liquid OFDMFRAME_SCTYPE_NULL */
#define PHY_SCTYPE_PILOT 1u /* liquid OFDMFRAME_SCTYPE_PILOT */
#define PHY_SCTYPE_DATA 2u  /* liquid OFDMFRAME_SCTYPE_DATA */

#define PHY_NFFT_MIN 64u
#define PHY_NFFT_MAX 4096u

typedef struct phy_frame_cfg {
    unsigned nfft;               /* M: even, 64..4096 (§1) */
    unsigned cp_len;             /* cyclic prefix 1..M/2; 0 = default M/8 (§1) */
    const unsigned char *sctype; /* M entries 0/1/2 (null/pilot/data); NULL = liquid-dsp's
                                    ofdmframe_init_default_sctype(M). Copied at create. */
} phy_frame_cfg;

/* M = 256, cp = 0 (-> M/8), default allocation. */
void phy_frame_cfg_default(phy_frame_cfg *cfg);

/* Checks cfg as create does (without creating anything, never calls liquid with bad values):
 * M even in 64..4096, cp in 1..M/2 (0 = M/8), sctype values 0/1/2 only, >= 2 pilot bins,
 * >= 1 data bin, >= 1 used even bin (S0 lives on even bins). AM_EINVAL with a message naming the
 * bad value otherwise. */
am_status phy_frame_validate(const phy_frame_cfg *cfg);

/* liquid-dsp's default allocation for M (validated M first): sctype[0..M). */
am_status phy_frame_default_sctype(unsigned nfft, unsigned char *sctype);

typedef struct phy_frame phy_frame; /* opaque, immutable after create (safe to share read-only) */

/* Validates, copies cfg and derives the preamble values from liquid's ofdmframegen (§2).
 * Calls liquid (which plans an FFT): create/destroy on the setup thread (see phy/fft.h). */
am_status phy_frame_create(const phy_frame_cfg *cfg, phy_frame **out);
void phy_frame_destroy(phy_frame *f); /* NULL is a no-op */

unsigned phy_frame_nfft(const phy_frame *f);    /* M */
unsigned phy_frame_cp_len(const phy_frame *f);  /* cp (resolved, never 0) */
unsigned phy_frame_n_used(const phy_frame *f);  /* M_used = pilot + data */
unsigned phy_frame_n_data(const phy_frame *f);  /* M_data */
unsigned phy_frame_n_pilot(const phy_frame *f); /* M_pilot */
size_t phy_frame_block_len(const phy_frame *f); /* M + cp: one block of §2 */

/* The allocation (M entries) and bin index lists, each in increasing bin index (§3 order). */
const unsigned char *phy_frame_sctype(const phy_frame *f);
const unsigned *phy_frame_used_bins(const phy_frame *f);  /* n_used entries */
const unsigned *phy_frame_data_bins(const phy_frame *f);  /* n_data entries */
const unsigned *phy_frame_pilot_bins(const phy_frame *f); /* n_pilot entries */

/* Frequency-domain preamble values X[i], i = 0..M-1 (0 on null bins; S0a/S0b nonzero on even used
 * bins only): the §1 transform of X reproduces the last M samples of liquid's S0a / S0b / S1
 * blocks. X[i] = sqrt(M_used)/M sum_t x[t] e^{-j 2 pi i t / M}. */
const float complex *phy_frame_s0a(const phy_frame *f);
const float complex *phy_frame_s0b(const phy_frame *f);
const float complex *phy_frame_s1(const phy_frame *f);

/* The un-precoded time-domain preamble S0a|S0b|S1 (3 (M+cp) samples, with CPs), exactly liquid's
 * ofdmframegen_write_S0a/_S0b/_S1 output (taper 0). */
const float complex *phy_frame_preamble(const phy_frame *f);
size_t phy_frame_preamble_len(const phy_frame *f); /* 3 (M + cp) */

/* §2: N = ceil((L/2) / M_data) data symbols for a payload of L reals (L = 0 gives 0). */
size_t phy_frame_nsym(const phy_frame *f, size_t payload_len);
/* (3 + N) (M + cp) samples. */
size_t phy_frame_burst_len(const phy_frame *f, size_t payload_len);

#endif
