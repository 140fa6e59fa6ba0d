/* host/checkpoint: a run's state in one file, written atomically (temporary file, fsync, rename,
 * fsync of the folder) and validated on load (magic, version, CRCs, sizes, dimensions). Issue 4
 * item 4 (`airmeta sim --out DIR` checkpoints, `--resume DIR`). */
#ifndef AM_HOST_CHECKPOINT_H
#define AM_HOST_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* File layout (little-endian header, 64 bytes, then the state blob):
 *    0  8 magic "AMCKPT\r\n"
 *    8  4 version 1
 *   12  4 header length 64
 *   16  4 round        rounds completed (the next round's index)
 *   20  4 agents       K
 *   24  8 dim          D
 *   32  8 n            state bytes after the header (the file is exactly 64 + n bytes)
 *   40  8 elapsed_s    wall time of the rounds so far (IEEE double; not part of the state)
 *   48  4 config_crc   CRC-32 of the run's canonical configuration (which run it belongs to)
 *   52  4 state_crc    CRC-32 (zlib) of the n state bytes
 *   56  4 reserved     0
 *   60  4 header_crc   CRC-32 of bytes 0..59
 * The state blob is the model's own format (fl_airfl_state_save: this machine's byte order). */
#define CHECKPOINT_MAGIC "AMCKPT\r\n"
#define CHECKPOINT_VERSION 1u
#define CHECKPOINT_HDR_LEN 64u

typedef struct checkpoint_info {
    uint32_t round, agents;
    uint64_t dim;
    uint32_t config_crc;
    double elapsed_s;
} checkpoint_info;

/* Writes header + state to path atomically: a temporary file in the same folder (path.tmp-XXXXXX)
 * is written, fsync'ed and renamed over path, then the folder is fsync'ed; a reader sees the old
 * file or the new one, never a part. AM_EIO naming the file on any failure (the temporary file is
 * removed). */
am_status
checkpoint_write(const char *path, const checkpoint_info *info, const void *state, size_t n);

/* Reads path and validates it: AM_ENOTFOUND when it does not exist; AM_EFORMAT naming the file on a
 * short file, a wrong magic, version or header length, a header CRC mismatch, a size that is not
 * the file's, a state CRC mismatch, or (expect != NULL) agents, dim, config_crc other than
 * expected. expect->round and elapsed_s are not compared. On success *state (malloc'ed, *n bytes;
 * the caller frees it) and *info. max_n bounds the state size it accepts (AM_EFORMAT above). */
am_status checkpoint_read(const char *path,
                          const checkpoint_info *expect,
                          size_t max_n,
                          checkpoint_info *info,
                          void **state,
                          size_t *n);

#endif
