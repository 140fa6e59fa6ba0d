/* host/run/rundir: one run per run folder at a time, and a finished run is not silently replaced
 * (issue 12 finding 6). The folder's RUN_DIR_MARK file is flock'ed for the whole run and says
 * "running ..." or "finished ..."; the kernel drops the lock when the process ends, even by kill -9.
 */
#ifndef AM_HOST_RUNDIR_H
#define AM_HOST_RUNDIR_H

#include "core/status.h"

#define RUN_DIR_MARK ".airmeta-run" /* in the run folder: the lock and the run's state */

typedef struct run_dir run_dir; /* opaque */

enum {
    RUN_DIR_FORCE = 1u << 0,  /* a finished run may be replaced (--force) */
    RUN_DIR_RESUME = 1u << 1, /* the run there is continued (--resume): it must exist */
    RUN_DIR_REUSE = 1u << 2,  /* the command reuses what a finished run left (sweep) */
};

/* Creates dir (mkdir -p; not with RUN_DIR_RESUME) and takes its lock for who ("airmeta sim").
 * AM_EIO "DIR: in use by another run (...)" when another process holds it; AM_EINVAL "DIR holds a
 * finished run ..." when the folder's last run finished and flags has none of FORCE, RESUME,
 * REUSE; AM_EIO when the mark is not a regular file or cannot be written. Each message names dir.
 * The mark then says "running WHO pid N". */
am_status run_dir_open(const char *dir, unsigned flags, const char *who, run_dir **out);

/* The run completed: the mark says "finished WHO" (fsync'ed). The lock is kept until close. */
am_status run_dir_finish(run_dir *d);

/* Releases the lock. NULL is a no-op. */
void run_dir_close(run_dir *d);

#endif
