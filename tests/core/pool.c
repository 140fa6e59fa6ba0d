/* core/pool: every worker runs each job exactly once, on distinct threads, and its writes are
 * seen by the caller when am_pool_run returns; many short jobs in a row (no lost wake-up, no job
 * run twice); bad thread counts refused. */
#include <pthread.h>
#include <string.h>

#include "am_test.h"
#include "core/pool.h"

typedef struct job {
    unsigned T;
    unsigned long long *sum; /* per worker: its running sum of job numbers */
    unsigned *calls;         /* per worker: jobs run */
    pthread_t *self;         /* per worker: the thread that ran the last job */
    unsigned long long job_no;
} job;

static void run(void *ctx, unsigned t)
{
    job *j = ctx;
    j->sum[t] += j->job_no;
    j->calls[t]++;
    j->self[t] = pthread_self();
}

static void check_threads(unsigned T, unsigned jobs)
{
    am_pool *p = NULL;
    AM_CHECK(am_pool_create(T, "test pool", &p) == AM_OK, "create %u: %s", T, am_last_error());
    if (!p)
        return;
    AM_CHECK(am_pool_threads(p) == T, "threads %u, expected %u", am_pool_threads(p), T);
    unsigned long long sum[16] = {0};
    unsigned calls[16] = {0};
    pthread_t self[16];
    memset(self, 0, sizeof self);
    job j = {T, sum, calls, self, 0};
    for (unsigned n = 1; n <= jobs; n++) {
        j.job_no = n;
        am_pool_run(p, run, &j);
        /* after each job every worker has run it once */
        for (unsigned t = 0; t < T; t++)
            AM_CHECK(calls[t] == n, "T=%u job %u: worker %u ran %u jobs", T, n, t, calls[t]);
    }
    const unsigned long long want = (unsigned long long)jobs * (jobs + 1) / 2;
    for (unsigned t = 0; t < T; t++)
        AM_CHECK(sum[t] == want, "T=%u worker %u: sum %llu, expected %llu", T, t, sum[t], want);
    AM_CHECK(pthread_equal(self[0], pthread_self()), "worker 0 is not the calling thread");
    for (unsigned a = 0; a < T; a++)
        for (unsigned b = a + 1; b < T; b++)
            AM_CHECK(!pthread_equal(self[a], self[b]), "T=%u: workers %u and %u share a thread", T,
                     a, b);
    am_pool_destroy(p);
}

AM_TEST(every_worker_once, unit)
{
    check_threads(1, 100);
    check_threads(2, 20000);
    check_threads(7, 2000);
    check_threads(16, 500);
}

AM_TEST(bad_counts, unit)
{
    am_pool *p = (am_pool *)1;
    AM_CHECK(am_pool_create(0, "test pool", &p) == AM_EINVAL && p == NULL, "0 threads accepted");
    AM_CHECK(strstr(am_last_error(), "test pool: 0 threads (1..256)") != NULL, "message: %s",
             am_last_error());
    AM_CHECK(am_pool_create(AM_POOL_MAX_THREADS + 1, NULL, &p) == AM_EINVAL, "257 accepted");
    am_pool_destroy(NULL);
}
