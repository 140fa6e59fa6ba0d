/* host/fsutil: the file-system steps the airmeta program repeats: a folder with its missing parents
 * (mkdir -p), a path joined with a length check, a file replaced atomically (temp, fsync, rename).
 */
#ifndef AM_HOST_FSUTIL_H
#define AM_HOST_FSUTIL_H

#include <stddef.h>
#include <stdio.h>

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

/* The longest line the program reads from a JSON Lines file of a run (metrics.jsonl, wall.jsonl)
 * with its '\n': a real line is at most ~180 kB (sim: 3 lists of up to 10000 agent ids of up to
 * 6 bytes each, plus < 4 kB of fields; server: 6 lists of up to 4096), so 1 MiB has a margin of 5
 * and a line of any length (a gigabyte without a newline) is not read whole. */
#define FS_JSONL_LINE_MAX ((size_t)1 << 20)

/* The next line of f (path for messages; lineno its number from 1) with its '\n', NUL-terminated
 * in *line (grown with realloc as getline(3) does; *cap its size; free it when done), *len its
 * bytes: 0 at the end of the file; a last line without '\n' comes as it is. AM_EFORMAT
 * "PATH:LINENO: a line of more than MAX bytes" when max bytes are read without a '\n' (the rest is
 * not read), AM_EIO naming path on a read error, AM_ENOMEM. */
am_status fs_read_line(
    FILE *f, size_t max, const char *path, unsigned lineno, char **line, size_t *cap, size_t *len);

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
