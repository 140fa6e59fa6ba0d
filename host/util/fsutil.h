/* host/fsutil: the file-system steps the airmeta program repeats: a folder with its missing parents
 * (mkdir -p), a path joined with a length check, a file replaced atomically (temp, fsync, rename).
 */
#ifndef AM_HOST_FSUTIL_H
#define AM_HOST_FSUTIL_H

#include <stddef.h>

#include "core/status.h"

#define FS_PATH_MAX 4096 /* longest path (with its NUL) the helpers handle */

/* out = dir "/" name. AM_EINVAL for an empty dir ("empty folder name": not the root folder's
 * /name) and naming dir when it does not fit in cap bytes. */
am_status fs_path_join(char *out, size_t cap, const char *dir, const char *name);

/* Creates dir and every missing parent (mode 0755 before the umask), like mkdir -p. AM_OK when
 * dir is (now) a folder; AM_EIO naming dir when a part cannot be created or dir exists but is not
 * a folder ("not a folder"); AM_EINVAL for an empty path or one of FS_PATH_MAX bytes or more. */
am_status fs_mkdir_p(const char *dir);

/* The whole file path, at most max bytes, NUL-terminated in *out (malloc'ed; the caller frees it).
 * AM_ENOTFOUND when it does not exist, AM_EIO when it cannot be read or is not a regular file (a
 * FIFO is refused without blocking, core/file.h), AM_EFORMAT when it is larger
 * than max bytes, AM_ENOMEM; each naming the file, *out = NULL then. */
am_status fs_read_text(const char *path, size_t max, char **out);

/* One piece of a file's content (fs_write_atomic writes the pieces one after the other). */
typedef struct fs_part {
    const void *data;
    size_t n;
} fs_part;

/* Replaces path by the concatenation of parts[0..nparts) atomically: a temporary file
 * path.tmp-XXXXXX in the same folder is written (mode 0644), fsync'ed and renamed over path, then
 * the folder is fsync'ed; a reader sees the old file or the new one, never a part of it. A path
 * that exists and is not a regular file (device, FIFO, folder, symbolic link) is refused, not
 * replaced (AM_EIO). AM_EIO naming path and the step that failed (the temporary file is removed); AM_EINVAL for a path too
 * long or a missing piece. */
am_status fs_write_atomic(const char *path, const fs_part *parts, size_t nparts);

#endif
