/* core/pool: see core/pool.h. A generation counter starts a job; each worker runs it once and
 * counts itself done; the caller runs worker 0's share and waits for the others. */
#include "core/pool.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct pool_worker {
    struct am_pool *p;
    unsigned id;
    pthread_t th;
} pool_worker;

struct am_pool {
    unsigned T;
    pool_worker *w;
    pthread_mutex_t mu;
    pthread_cond_t cv_start, cv_done;
    unsigned gen, done, started;
    int stop;
    am_pool_fn fn;
    void *ctx;
};

static void *worker_main(void *arg)
{
    pool_worker *w = arg;
    am_pool *p = w->p;
    unsigned seen = 0;
    for (;;) {
        pthread_mutex_lock(&p->mu);
        while (!p->stop && p->gen == seen)
            pthread_cond_wait(&p->cv_start, &p->mu);
        if (p->stop) {
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
        seen = p->gen;
        am_pool_fn fn = p->fn;
        void *ctx = p->ctx;
        pthread_mutex_unlock(&p->mu);
        fn(ctx, w->id);
        pthread_mutex_lock(&p->mu);
        p->done++;
        pthread_cond_signal(&p->cv_done);
        pthread_mutex_unlock(&p->mu);
    }
}

am_status am_pool_create(unsigned threads, const char *who, am_pool **out)
{
    *out = NULL;
    if (!who)
        who = "pool";
    if (threads < 1 || threads > AM_POOL_MAX_THREADS)
        return AM_FAIL(AM_EINVAL, "%s: %u threads (1..%u)", who, threads, AM_POOL_MAX_THREADS);
    am_pool *p = calloc(1, sizeof *p);
    if (!p || !(p->w = calloc(threads, sizeof *p->w))) {
        free(p);
        return AM_FAIL(AM_ENOMEM, "%s: out of memory for %u threads", who, threads);
    }
    p->T = threads;
    if (threads == 1) {
        *out = p;
        return AM_OK;
    }
    if (pthread_mutex_init(&p->mu, NULL) != 0) {
        free(p->w);
        free(p);
        return AM_FAIL(AM_ENOMEM, "%s: mutex", who);
    }
    if (pthread_cond_init(&p->cv_start, NULL) != 0) {
        pthread_mutex_destroy(&p->mu);
        free(p->w);
        free(p);
        return AM_FAIL(AM_ENOMEM, "%s: condition variable", who);
    }
    if (pthread_cond_init(&p->cv_done, NULL) != 0) {
        pthread_cond_destroy(&p->cv_start);
        pthread_mutex_destroy(&p->mu);
        free(p->w);
        free(p);
        return AM_FAIL(AM_ENOMEM, "%s: condition variable", who);
    }
    for (unsigned t = 1; t < threads; t++) {
        p->w[t].p = p;
        p->w[t].id = t;
        if (pthread_create(&p->w[t].th, NULL, worker_main, &p->w[t]) != 0) {
            am_pool_destroy(p);
            return AM_FAIL(AM_ENOMEM, "%s: cannot start worker thread %u", who, t);
        }
        p->started = t;
    }
    *out = p;
    return AM_OK;
}

void am_pool_run(am_pool *p, am_pool_fn fn, void *ctx)
{
    if (p->T == 1) {
        fn(ctx, 0);
        return;
    }
    pthread_mutex_lock(&p->mu);
    p->fn = fn;
    p->ctx = ctx;
    p->done = 0;
    p->gen++;
    pthread_cond_broadcast(&p->cv_start);
    pthread_mutex_unlock(&p->mu);
    fn(ctx, 0);
    pthread_mutex_lock(&p->mu);
    while (p->done < p->T - 1)
        pthread_cond_wait(&p->cv_done, &p->mu);
    pthread_mutex_unlock(&p->mu);
}

unsigned am_pool_threads(const am_pool *p)
{
    return p->T;
}

void am_pool_destroy(am_pool *p)
{
    if (!p)
        return;
    if (p->T > 1) {
        pthread_mutex_lock(&p->mu);
        p->stop = 1;
        pthread_cond_broadcast(&p->cv_start);
        pthread_mutex_unlock(&p->mu);
        for (unsigned t = 1; t <= p->started; t++)
            pthread_join(p->w[t].th, NULL);
        pthread_cond_destroy(&p->cv_done);
        pthread_cond_destroy(&p->cv_start);
        pthread_mutex_destroy(&p->mu);
    }
    free(p->w);
    free(p);
}
