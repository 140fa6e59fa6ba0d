/* core/file: files opened only when they are regular files, never blocking on what stands in their
 * place (a FIFO, a device, a folder, a symbolic link for outputs). Shared by phy (SigMF) and host. */
#ifndef AM_CORE_FILE_H
#define AM_CORE_FILE_H

#include <stdio.h>

#include "core/status.h"

/* Like fopen(path, mode) for mode "r", "w", "a" with an optional "+" and "b", but: the file is
 * opened O_NONBLOCK (a FIFO without a peer does not block) and O_CLOEXEC, and must be a regular
 * file (checked before opening and again with fstat on the open file); for "w" and "a" a final
 * symbolic link is refused too (O_NOFOLLOW), so an output never writes through a link, a device
 * or a FIFO. Blocking is restored once the file is known to be regular. AM_ENOTFOUND (reading an
 * absent file), AM_EIO "PATH: not a regular file (a FIFO)" and the like, or AM_EIO with errno's
 * text; each message names path. *out = NULL on failure. */
am_status am_fopen_regular(const char *path, const char *mode, FILE **out);

/* The same as a descriptor: flags are open(2)'s access and creation flags (O_RDONLY, O_WRONLY |
 * O_CREAT | O_TRUNC, ...); O_NONBLOCK, O_CLOEXEC and, when writing, O_NOFOLLOW are added. */
am_status am_open_regular(const char *path, int flags, int *fd);

/* For an output that is about to be replaced by rename(2) (which would replace a device node, a
 * FIFO or a link as well): AM_OK when path is absent or a regular file; AM_EIO "PATH: not a regular
 * file (a symbolic link): refusing to replace it" otherwise. Symbolic links are not followed. */
am_status am_check_output(const char *path);

#endif
