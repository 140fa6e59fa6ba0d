/* host/run/rundir: the run folder's lock and state (see rundir.h). */
#include "run/rundir.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "core/file.h"
#include "util/fsutil.h"

struct run_dir {
    int fd;
    char who[64];
    char dir[FS_PATH_MAX];
};

/* The mark's text (first line, at most cap - 1 bytes) */
static void read_mark(int fd, char *buf, size_t cap)
{
    ssize_t n = pread(fd, buf, cap - 1, 0);
    buf[n > 0 ? n : 0] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
}

static am_status write_mark(run_dir *d, const char *text, int sync)
{
    size_t n = strlen(text);
    if (ftruncate(d->fd, 0) != 0 || pwrite(d->fd, text, n, 0) != (ssize_t)n ||
        (sync && fsync(d->fd) != 0))
        return AM_FAIL(AM_EIO, "%s: cannot write %s: %s", d->dir, RUN_DIR_MARK, strerror(errno));
    return AM_OK;
}

am_status run_dir_open(const char *dir, unsigned flags, const char *who, run_dir **out)
{
    *out = NULL;
    am_status s = AM_OK;
    if (!(flags & RUN_DIR_RESUME) && (s = fs_mkdir_p(dir)) != AM_OK)
        return s;
    run_dir *d = calloc(1, sizeof *d);
    if (!d)
        return AM_FAIL(AM_ENOMEM, "%s: out of memory", dir);
    d->fd = -1;
    snprintf(d->who, sizeof d->who, "%s", who ? who : "airmeta");
    char path[FS_PATH_MAX];
    if ((s = fs_path_join(path, sizeof path, dir, RUN_DIR_MARK)) != AM_OK)
        goto fail;
    snprintf(d->dir, sizeof d->dir, "%s", dir); /* fits: shorter than path */
    if ((s = am_open_regular(path, O_RDWR | O_CREAT, &d->fd)) != AM_OK)
        goto fail;
    char mark[256];
    if (flock(d->fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        read_mark(d->fd, mark, sizeof mark);
        s = e == EWOULDBLOCK ? AM_FAIL(AM_EIO,
                                       "%s: in use by another run (%s): one run per folder; "
                                       "wait for it or choose another folder",
                                       dir, mark[0] ? mark : "starting")
                             : AM_FAIL(AM_EIO, "%s: cannot lock %s: %s", dir, RUN_DIR_MARK,
                                       strerror(e));
        goto fail;
    }
    read_mark(d->fd, mark, sizeof mark);
    if (!strncmp(mark, "finished", 8) &&
        !(flags & (RUN_DIR_FORCE | RUN_DIR_RESUME | RUN_DIR_REUSE))) {
        s = AM_FAIL(AM_EINVAL,
                    "%s holds a finished run (%s): give --force to replace it, or another "
                    "folder",
                    dir, mark + 9);
        goto fail;
    }
    char text[160];
    snprintf(text, sizeof text, "running %s pid %ld\n", d->who, (long)getpid());
    if ((s = write_mark(d, text, 0)) != AM_OK)
        goto fail;
    *out = d;
    return AM_OK;
fail:
    run_dir_close(d);
    return s;
}

am_status run_dir_finish(run_dir *d)
{
    if (!d)
        return AM_FAIL(AM_EINVAL, "run_dir_finish: NULL");
    char text[128];
    snprintf(text, sizeof text, "finished %s\n", d->who);
    return write_mark(d, text, 1);
}

void run_dir_close(run_dir *d)
{
    if (!d)
        return;
    if (d->fd >= 0)
        close(d->fd); /* drops the flock */
    free(d);
}
