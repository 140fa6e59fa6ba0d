/* fl/idx: reader of IDX files (the MNIST / Fashion-MNIST container), gzip'd or raw, via zlib.
 * Implements issue 3 item 2 (Fashion-MNIST from the Debian package dataset-fashion-mnist). */
#ifndef FL_IDX_H
#define FL_IDX_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

#define FL_IDX_MAX_DIMS 4

typedef struct fl_idx fl_idx; /* opaque: an unsigned-byte IDX array */

/* Reads path (gzip'd or plain; zlib reads both). Validated: magic 0x00 0x00 0x08 ndim (only the
 * unsigned-byte type 0x08 is supported), 1 <= ndim <= FL_IDX_MAX_DIMS, every dim > 0, product
 * of dims <= 2^31, exactly product-of-dims payload bytes and nothing after them, a sound gzip
 * stream. When expect_ndim != 0 the file must have that many dims. Errors: AM_ENOTFOUND (no
 * such file), AM_EIO (unreadable), AM_EFORMAT (anything above; message names the path),
 * AM_ENOMEM. */
am_status fl_idx_read(const char *path, unsigned expect_ndim, fl_idx **out);
void fl_idx_destroy(fl_idx *x); /* NULL is a no-op */

unsigned fl_idx_ndim(const fl_idx *x);
uint32_t fl_idx_dim(const fl_idx *x, unsigned i); /* 0 when i >= ndim */
size_t fl_idx_count(const fl_idx *x);             /* product of the dims */
const uint8_t *fl_idx_data(const fl_idx *x);      /* count bytes, row-major as in the file */

#endif
