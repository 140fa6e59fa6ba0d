/* phy/sigmf: SigMF recordings of airmeta bursts (NAME.sigmf-meta JSON + NAME.sigmf-data samples).
 * Implements docs/air-interface.md §7 (writer: cf32_le; reader: cf32_le and ci16_le, one channel).
 */
#ifndef AM_PHY_SIGMF_H
#define AM_PHY_SIGMF_H

#include <complex.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "phy/ota_tx.h" /* phy_mapping */

#define PHY_SIGMF_VERSION "1.2.0"      /* core:version written */
#define PHY_SIGMF_EXT_VERSION "1.0.0"  /* version of the airmeta extension namespace */
#define PHY_SIGMF_MAX_META_BYTES (16u << 20)            /* larger .sigmf-meta files are refused */
#define PHY_SIGMF_MAX_DATA_BYTES ((uint64_t)1 << 36)     /* 64 GiB: larger .sigmf-data refused */
#define PHY_SIGMF_MAX_PAYLOAD_LEN ((uint64_t)1 << 28)    /* airmeta:payload_len cap (reals) */
#define PHY_SIGMF_MAX_ANNOTATIONS 1000000u
#define PHY_SIGMF_TEXT_MAX 1024u /* description / hw kept (longer texts are truncated) */
#define PHY_SIGMF_MAX_CAL_SLOTS 4096u /* airmeta:cal_slots cap (the control plane's agents) */
#define PHY_SIGMF_MAX_TICK ((int64_t)1 << 62) /* airmeta:device_tick cap (GO's ticks, §9.4) */

typedef enum phy_sigmf_datatype { PHY_SIGMF_CF32_LE = 0, PHY_SIGMF_CI16_LE = 1 } phy_sigmf_datatype;

/* The global and capture fields airmeta reads and writes (§7 table). */
typedef struct phy_sigmf_info {
    double sample_rate;    /* core:sample_rate, 1..1e12 */
    double frequency;      /* core:frequency of the first capture segment (Hz); NAN = absent */
    char description[PHY_SIGMF_TEXT_MAX]; /* core:description ("" = absent) */
    char hw[PHY_SIGMF_TEXT_MAX];          /* core:hw ("" = absent); writer needs one of the two */
    unsigned version;      /* airmeta:version: 1 or 2 (docs/air-interface.md §7.2: a recording
                              without version-2 keys is written as 1, readers accept both) */
    unsigned nfft;         /* airmeta:fft_size, M (even, 64..4096) */
    unsigned cp_len;       /* airmeta:cp_len, 1..M/2 */
    uint64_t payload_len;  /* airmeta:payload_len, L, 1..PHY_SIGMF_MAX_PAYLOAD_LEN */
    float scale;           /* airmeta:scale, eta > 0 */
    float rho;             /* airmeta:rho > 0 */
    float g_th;            /* airmeta:g_th >= 0 */
    int64_t agents;        /* airmeta:agents (>= 1), -1 = absent */
    int64_t round;         /* airmeta:round (>= 0), -1 = absent */
    int has_sctype;        /* airmeta:sctype present (non-default allocation) */
    unsigned char sctype[4096]; /* M values 0/1/2 when has_sctype */
    /* version 2 (docs/air-interface.md §7.2); each needs version 2 */
    unsigned cal_slots;    /* airmeta:cal_slots, calibration slots of §8, 0..4096; 0 = absent
                              (no calibration blocks) */
    int64_t device_tick;   /* airmeta:device_tick of the first capture segment: device time of
                              its first sample in ticks of sample_rate, 0..2^62 (PHY_SIGMF_MAX_TICK;
                              written as a JSON number below 2^53, a decimal string from 2^53 on,
                              docs/air-interface.md §7.2); -1 = absent */
    phy_mapping mapping;   /* airmeta:mapping "complex" or "real" (§3.3); written only when
                              real: absent = complex */
    unsigned gain_pool;    /* airmeta:gain_pool, the recording receiver's estimator of G (§5.2,
                              phy_ota_rx_cfg.gain_pool), 0..16; written only when > 0: absent =
                              0, per bin */
    float pilot_level;     /* airmeta:pilot_level, the pilots' level a of §2, 0 < a <= 1; written
                              only when not 1: absent = 1 (the version-1 pilots) */
    /* reader only */
    phy_sigmf_datatype datatype; /* core:datatype of the data file */
    uint64_t n_samples;          /* complex samples in the data file */
} phy_sigmf_info;

/* Sample rate 1 MS/s, no frequency, description "airmeta capture", version 1 (no version-2 key),
 * M 256, cp 32,
 * L 1024, eta 1, rho 1, g_th 0, agents/round absent, default allocation, no version-2 key. */
void phy_sigmf_info_default(phy_sigmf_info *info);

typedef struct phy_sigmf_annotation {
    uint64_t start; /* core:sample_start */
    uint64_t count; /* core:sample_count; UINT64_MAX = absent (to the end of the capture) */
    int burst;      /* core:label is "airmeta-burst" */
} phy_sigmf_annotation;

/* Base path of a recording: strips a trailing ".sigmf-meta", ".sigmf-data" or ".sigmf". */
am_status phy_sigmf_base(const char *path, char *base, size_t cap);

/* ---- writer: samples streamed to a temporary file, both files renamed into place at close. */
typedef struct phy_sigmf_writer phy_sigmf_writer; /* opaque */

/* Validates info (every §7 field, as the reader would), creates NAME.sigmf-data.tmp. path: NAME,
 * NAME.sigmf-meta or NAME.sigmf-data. */
am_status phy_sigmf_writer_create(const char *path,
                                  const phy_sigmf_info *info,
                                  phy_sigmf_writer **out);
/* Appends n samples as cf32_le. AM_EFORMAT (nothing written) if one is not finite. */
am_status phy_sigmf_writer_write(phy_sigmf_writer *w, const float complex *x, size_t n);
/* Samples written so far (the stream index of the next one). */
uint64_t phy_sigmf_writer_count(const phy_sigmf_writer *w);
/* Adds an annotation (label "airmeta-burst"); annotations must come in increasing start. */
am_status phy_sigmf_writer_annotate(phy_sigmf_writer *w, uint64_t start, uint64_t count);
/* Writes the .sigmf-meta and moves data then meta into place (each by rename: readers never
 * see a partial file). On failure nothing is left behind. The writer is destroyed either way. */
am_status phy_sigmf_writer_close(phy_sigmf_writer *w);
/* Abandons the recording (removes the temporary files). NULL is a no-op. */
void phy_sigmf_writer_destroy(phy_sigmf_writer *w);

/* One-shot: the whole recording from memory. */
am_status phy_sigmf_write(const char *path,
                          const phy_sigmf_info *info,
                          const float complex *x,
                          size_t n,
                          const phy_sigmf_annotation *ann,
                          size_t n_ann);

/* ---- reader: validates the whole .sigmf-meta and the data file size at open; samples are then
 * streamed in caller-sized chunks (memory does not grow with the recording). */
typedef struct phy_sigmf_reader phy_sigmf_reader; /* opaque */

/* AM_EFORMAT / AM_ENOTSUP / AM_EIO / AM_ENOTFOUND with a message naming the file and the key. */
am_status phy_sigmf_reader_open(const char *path, phy_sigmf_reader **out);
void phy_sigmf_reader_close(phy_sigmf_reader *r); /* NULL is a no-op */
const phy_sigmf_info *phy_sigmf_reader_info(const phy_sigmf_reader *r);
size_t phy_sigmf_reader_n_annotations(const phy_sigmf_reader *r);
const phy_sigmf_annotation *phy_sigmf_reader_annotations(const phy_sigmf_reader *r);
const char *phy_sigmf_reader_data_path(const phy_sigmf_reader *r);

/* Reads up to cap next samples as complex float (ci16_le: value / 32768). *n = 0 at the end.
 * AM_EFORMAT naming the file and the sample index on a non-finite sample (nothing returned for
 * the chunk), AM_EIO if the file shrank or a read failed. Does not allocate. */
am_status phy_sigmf_reader_read(phy_sigmf_reader *r, float complex *x, size_t cap, size_t *n);
/* Restart from the first sample. */
am_status phy_sigmf_reader_rewind(phy_sigmf_reader *r);

#endif
