/* host/run/sweep_local: a sweep's jobs as child processes on this machine. */
#include "run/sweep_local.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/file.h"
#include "run/rundir.h"
#include "util/fsutil.h"
#include "util/monotime.h"

extern char **environ;

enum { RUN_PENDING, RUN_RUNNING, RUN_OK, RUN_FAILED, RUN_SKIPPED };

typedef struct local_job {
    sweep_argv a;
    pid_t pid;
    double t0;
    int state;
} local_job;

struct sweep_local {
    const sweep_plan *p;
    sweep_local_cfg cfg;
    local_job *jobs;
};

static am_status spawn(char *const *argv, const char *errpath, pid_t *pid)
{
    posix_spawn_file_actions_t fa;
    if (posix_spawn_file_actions_init(&fa) != 0)
        return AM_FAIL(AM_ENOMEM, "sweep: posix_spawn_file_actions_init failed");
    int e = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (!e)
        e = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    if (!e)
        e = posix_spawn_file_actions_addopen(&fa, 2, errpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    /* /proc/self/exe, not argv[0]: the very program that runs the sweep, even if the file at its
     * path is replaced (rebuilt) while the sweep runs */
    if (!e)
        e = posix_spawn(pid, "/proc/self/exe", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (e)
        return AM_FAIL(AM_EIO, "sweep: cannot start %s: %s", argv[0], strerror(e));
    return AM_OK;
}

static int exit_code_of(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* Last non-blank line of a child's stderr (its error message). */
static void last_line(const char *path, char *msg, size_t cap)
{
    snprintf(msg, cap, "(no message)");
    FILE *f = NULL;
    if (am_fopen_regular(path, "r", &f) != AM_OK)
        return;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n)
            snprintf(msg, cap, "%s", line);
    }
    fclose(f);
}

static am_status probe_one(const sweep_plan *p, size_t j, const sweep_local_cfg *cfg, int *code)
{
    char err[SWEEP_PATH + 32];
    snprintf(err, sizeof err, "%s/probe.err", cfg->dir);
    sweep_argv a;
    am_status s = sweep_plan_argv(p, j, cfg->self, NULL, SWEEP_ARGV_PROBE, &a);
    if (s != AM_OK)
        return s;
    pid_t pid = 0;
    s = spawn(a.v, err, &pid);
    if (s == AM_OK) {
        int status = 0;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
        *code = exit_code_of(status);
        if (*code != 0) {
            char msg[1024];
            last_line(err, msg, sizeof msg);
            s = AM_FAIL(AM_EINVAL, "sim refuses the configuration (exit %d): %s; command: %s",
                        *code, msg, a.cmdline);
        }
    }
    unlink(err);
    sweep_argv_free(&a);
    return s;
}

am_status sweep_local_probe(const sweep_plan *p, const sweep_local_cfg *cfg, int *code)
{
    *code = 0;
    for (unsigned a = 0; a < p->naggs; a++) {
        am_status s = probe_one(p, sweep_plan_first_job(p, a), cfg, code);
        if (s != AM_OK)
            return s;
    }
    return AM_OK;
}

/* NAME.cmd holds exactly the command line and the folder NAME/ reads whole (sim writes its run
 * folder in place; NAME.cmd is written only after sim succeeded). */
static int run_complete(sweep_local *q, size_t j, sweep_run *r)
{
    char path[SWEEP_PATH + 256];
    const char *cmdline = q->jobs[j].a.cmdline;
    snprintf(path, sizeof path, "%s/runs/%s.cmd", q->cfg.dir, q->p->jobs[j].name);
    char *cmd = NULL;
    (void)fs_read_text(path, 1 << 20, &cmd); /* none: not complete */
    int same = cmd && strncmp(cmd, cmdline, strlen(cmdline)) == 0 &&
               strcmp(cmd + strlen(cmdline), "\n") == 0;
    free(cmd);
    if (!same)
        return 0;
    snprintf(path, sizeof path, "%s/runs/%s", q->cfg.dir, q->p->jobs[j].name);
    return sweep_collect_read(q->p, j, path, 0, r) == AM_OK;
}

am_status sweep_local_create(const sweep_plan *p,
                             const sweep_local_cfg *cfg,
                             sweep_run *runs,
                             sweep_local **out,
                             size_t *skipped)
{
    *out = NULL;
    *skipped = 0;
    sweep_local *q = calloc(1, sizeof *q);
    local_job *jobs = calloc(p->njobs ? p->njobs : 1, sizeof *jobs);
    if (!q || !jobs) {
        free(q);
        free(jobs);
        return AM_FAIL(AM_ENOMEM, "sweep: out of memory");
    }
    q->p = p;
    q->cfg = *cfg;
    q->jobs = jobs;
    char rundir[SWEEP_PATH + 256];
    for (size_t j = 0; j < p->njobs; j++) {
        snprintf(rundir, sizeof rundir, "%s/runs/%s", cfg->dir, p->jobs[j].name);
        am_status s = sweep_plan_argv(p, j, cfg->self, rundir, 0, &jobs[j].a);
        if (s != AM_OK) {
            sweep_local_destroy(q);
            return s;
        }
    }
    for (size_t j = 0; j < p->njobs; j++)
        if (!cfg->force && run_complete(q, j, &runs[j])) {
            jobs[j].state = RUN_SKIPPED;
            (*skipped)++;
        }
    *out = q;
    return AM_OK;
}

void sweep_local_destroy(sweep_local *q)
{
    if (!q)
        return;
    for (size_t j = 0; j < q->p->njobs; j++)
        sweep_argv_free(&q->jobs[j].a);
    free(q->jobs);
    free(q);
}

static am_status start_run(sweep_local *q, size_t j)
{
    char path[SWEEP_PATH + 256];
    snprintf(path, sizeof path, "%s/runs/%s.cmd", q->cfg.dir, q->p->jobs[j].name);
    unlink(path); /* written again only when the run has finished */
    /* the sweep holds OUT's lock: the run's own sim may replace what a finished one left */
    snprintf(path, sizeof path, "%s/runs/%s/%s", q->cfg.dir, q->p->jobs[j].name, RUN_DIR_MARK);
    unlink(path);
    snprintf(path, sizeof path, "%s/runs/%s.err", q->cfg.dir, q->p->jobs[j].name);
    q->jobs[j].t0 = monotime_s();
    return spawn(q->jobs[j].a.v, path, &q->jobs[j].pid);
}

/* A child exited: read its results, then record its command line (the mark of a complete run). */
static am_status finish_run(sweep_local *q, size_t j, int status, sweep_run *r)
{
    char final[SWEEP_PATH + 256], cmd[SWEEP_PATH + 256], err[SWEEP_PATH + 256];
    const char *dir = q->cfg.dir, *name = q->p->jobs[j].name;
    snprintf(final, sizeof final, "%s/runs/%s", dir, name);
    snprintf(cmd, sizeof cmd, "%s/runs/%s.cmd", dir, name);
    snprintf(err, sizeof err, "%s/runs/%s.err", dir, name);
    const int code = exit_code_of(status);
    if (code != 0) {
        char msg[1024];
        last_line(err, msg, sizeof msg);
        return AM_FAIL(AM_EIO, "exit %d: %s", code, msg);
    }
    am_status s = sweep_collect_read(q->p, j, final, 0, r);
    if (s != AM_OK)
        return s;
    const char *cmdline = q->jobs[j].a.cmdline;
    size_t n = strlen(cmdline);
    char *t = malloc(n + 2);
    if (!t)
        return AM_FAIL(AM_ENOMEM, "sweep: out of memory");
    memcpy(t, cmdline, n);
    t[n] = '\n';
    t[n + 1] = '\0';
    s = sweep_write_text(cmd, t);
    free(t);
    if (s == AM_OK)
        unlink(err); /* nothing to keep from a clean run */
    return s;
}

/* The job whose child pid exited, or njobs. */
static size_t job_of(const sweep_local *q, pid_t pid)
{
    for (size_t j = 0; j < q->p->njobs; j++)
        if (q->jobs[j].state == RUN_RUNNING && q->jobs[j].pid == pid)
            return j;
    return q->p->njobs;
}

am_status sweep_local_run(
    sweep_local *q, sweep_run *runs, sweep_local_done_fn done_fn, void *ctx, size_t *failed)
{
    const size_t njobs = q->p->njobs;
    size_t next = 0, running = 0, done = 0;
    *failed = 0;
    for (size_t j = 0; j < njobs; j++)
        done += q->jobs[j].state == RUN_SKIPPED;
    for (;;) {
        while (running < q->cfg.jobs && next < njobs) {
            const size_t j = next++;
            if (q->jobs[j].state != RUN_PENDING)
                continue;
            am_status s = start_run(q, j);
            if (s != AM_OK) {
                q->jobs[j].state = RUN_FAILED;
                (*failed)++;
                done_fn(ctx, j, ++done, 0.0, s, 0, q->jobs[j].a.cmdline);
                continue;
            }
            q->jobs[j].state = RUN_RUNNING;
            running++;
        }
        if (!running)
            return AM_OK;
        int status = 0;
        pid_t pid = waitpid(-1, &status, 0);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            return AM_FAIL(AM_EIO, "sweep: waitpid: %s", strerror(errno));
        }
        const size_t j = job_of(q, pid);
        if (j == njobs)
            continue;
        running--;
        const double dt = monotime_s() - q->jobs[j].t0;
        am_status s = finish_run(q, j, status, &runs[j]);
        if (s != AM_OK) {
            q->jobs[j].state = RUN_FAILED;
            (*failed)++;
            sweep_run_clear(&runs[j]);
        } else {
            q->jobs[j].state = RUN_OK;
        }
        done_fn(ctx, j, ++done, dt, s, 1, q->jobs[j].a.cmdline);
    }
}
