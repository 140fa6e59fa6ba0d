/* fl/task: task families — agents with their own task distributions, training / new split.
 * docs/paper.md §1 (heterogeneous agents, new agents); issue 3 item 2. */
#include "fl/task.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fl/dataset.h"

#define SIN_AMP_MIN 0.1f /* MAML's sinusoid (Finn et al. 2017, §5.1) */
#define SIN_AMP_MAX 5.0f
#define SIN_PHASE_MAX ((float)M_PI)
#define SIN_X_MIN (-5.0)
#define SIN_X_MAX 5.0
#define MAX_AGENTS 1000000u
#define MAX_POINTS 1000000u
#define NEW_AGENT_STREAM ((uint64_t)1 << 32) /* new agent j uses stream 2^32 + j */
#define MAX_POOL 1000000u
/* Pool task i of training agent k draws from stream 2^63 + k * 2^20 + i (k < 2^20, i < 2^20):
 * apart from every agent's distribution stream above and from the callers' streams. */
#define POOL_STREAM ((uint64_t)1 << 63)
#define POOL_SHIFT 20

struct fl_task_family {
    fl_task_cfg cfg;
    char *data_dir;
    unsigned n_agents;
    size_t in_dim, out_dim;
    fl_image_set *sets[2]; /* [0]: training agents' split, [1]: new agents' split */
    /* sinusoid, per agent */
    float *amp_lo, *amp_hi, *ph_lo, *ph_hi;
    /* classification, per agent: pool[pool_off[a] .. pool_off[a] + pool_n[a]) */
    uint32_t *pool;
    size_t *pool_off;
    unsigned *pool_n;
};

void fl_task_cfg_default(fl_task_cfg *cfg, fl_task_kind kind)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->kind = kind;
    cfg->n_train_agents = 10;
    cfg->n_new_agents = 10;
    cfg->heterogeneity = 0.0f;
    cfg->seed = 1;
    cfg->data_dir = NULL;
    switch (kind) {
    case FL_TASK_SINUSOID:
        cfg->shots = 10;
        cfg->query = 10;
        cfg->ways = 1;
        break;
    case FL_TASK_FMNIST:
        cfg->ways = 5;
        cfg->shots = 5;
        cfg->query = 15;
        break;
    case FL_TASK_OMNIGLOT:
        cfg->ways = 5;
        cfg->shots = 1;
        cfg->query = 15;
        break;
    }
}

static uint64_t agent_stream(const fl_task_cfg *cfg, unsigned agent)
{
    return agent < cfg->n_train_agents ? (uint64_t)agent
                                       : NEW_AGENT_STREAM + (uint64_t)(agent - cfg->n_train_agents);
}

static int is_classification(fl_task_kind k)
{
    return k == FL_TASK_FMNIST || k == FL_TASK_OMNIGLOT;
}

/* Floyd's algorithm: k distinct values of 0..n-1 (uniform k-subset) into out[0..k), then
 * shuffled so that their order is uniform too. k <= n. Exactly k + k - 1 draws. */
static void sample_distinct(am_rng *rng, uint32_t n, uint32_t k, uint32_t *out)
{
    uint32_t cnt = 0;
    for (uint32_t j = n - k; j < n; j++) {
        uint32_t t = am_rng_below(rng, j + 1);
        int seen = 0;
        for (uint32_t i = 0; i < cnt; i++)
            if (out[i] == t) {
                seen = 1;
                break;
            }
        out[cnt++] = seen ? j : t;
    }
    for (uint32_t i = k; i > 1; i--) {
        uint32_t j = am_rng_below(rng, i);
        uint32_t tmp = out[i - 1];
        out[i - 1] = out[j];
        out[j] = tmp;
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static am_status draw_agents_sinusoid(fl_task_family *f)
{
    const fl_task_cfg *c = &f->cfg;
    f->amp_lo = malloc(f->n_agents * sizeof(float));
    f->amp_hi = malloc(f->n_agents * sizeof(float));
    f->ph_lo = malloc(f->n_agents * sizeof(float));
    f->ph_hi = malloc(f->n_agents * sizeof(float));
    if (!f->amp_lo || !f->amp_hi || !f->ph_lo || !f->ph_hi)
        return AM_FAIL(AM_ENOMEM, "task family: out of memory");
    double w = 1.0 - (double)c->heterogeneity; /* fraction of the full range each agent covers */
    double aw = w * (SIN_AMP_MAX - SIN_AMP_MIN), pw = w * SIN_PHASE_MAX;
    for (unsigned a = 0; a < f->n_agents; a++) {
        am_rng r;
        am_rng_seed2(&r, c->seed, agent_stream(c, a));
        double alo = SIN_AMP_MIN + am_rng_uniform(&r) * ((SIN_AMP_MAX - SIN_AMP_MIN) - aw);
        double plo = am_rng_uniform(&r) * (SIN_PHASE_MAX - pw);
        f->amp_lo[a] = (float)alo;
        f->amp_hi[a] = c->heterogeneity == 0.0f ? SIN_AMP_MAX : (float)(alo + aw);
        f->ph_lo[a] = (float)plo;
        f->ph_hi[a] = c->heterogeneity == 0.0f ? SIN_PHASE_MAX : (float)(plo + pw);
    }
    return AM_OK;
}

static am_status draw_agents_classes(fl_task_family *f)
{
    const fl_task_cfg *c = &f->cfg;
    f->pool_off = calloc(f->n_agents + 1, sizeof *f->pool_off);
    f->pool_n = calloc(f->n_agents, sizeof *f->pool_n);
    if (!f->pool_off || !f->pool_n)
        return AM_FAIL(AM_ENOMEM, "task family: out of memory");
    /* Largest pool is a whole split: bound the total before filling. */
    size_t total = 0;
    for (unsigned a = 0; a < f->n_agents; a++)
        total += fl_image_set_n_classes(f->sets[a >= c->n_train_agents]);
    f->pool = malloc(total * sizeof *f->pool);
    unsigned gmax = 0;
    for (int k = 0; k < 2; k++)
        if (fl_image_set_n_groups(f->sets[k]) > gmax)
            gmax = fl_image_set_n_groups(f->sets[k]);
    uint32_t *perm = malloc(gmax * sizeof *perm);
    unsigned char *chosen = malloc(gmax);
    if (!f->pool || !perm || !chosen) {
        free(perm);
        free(chosen);
        return AM_FAIL(AM_ENOMEM, "task family: out of memory");
    }
    size_t off = 0;
    for (unsigned a = 0; a < f->n_agents; a++) {
        const fl_image_set *s = f->sets[a >= c->n_train_agents];
        unsigned G = fl_image_set_n_groups(s), C = fl_image_set_n_classes(s);
        am_rng r;
        am_rng_seed2(&r, c->seed, agent_stream(c, a));
        for (uint32_t g = 0; g < G; g++)
            perm[g] = g;
        am_rng_partial_shuffle(&r, perm, G, G);
        unsigned m = (unsigned)lround((double)G - (double)c->heterogeneity * (double)(G - 1));
        if (m < 1)
            m = 1;
        memset(chosen, 0, G);
        unsigned used = 0, ncls = 0;
        /* classes per group */
        while (used < G && (used < m || ncls < c->ways)) {
            chosen[perm[used]] = 1;
            for (unsigned cl = 0; cl < C; cl++)
                if (fl_image_set_class_group(s, cl) == perm[used])
                    ncls++;
            used++;
        }
        f->pool_off[a] = off;
        for (unsigned cl = 0; cl < C; cl++)
            if (chosen[fl_image_set_class_group(s, cl)])
                f->pool[off++] = cl;
        f->pool_n[a] = (unsigned)(off - f->pool_off[a]);
        qsort(f->pool + f->pool_off[a], f->pool_n[a], sizeof *f->pool, cmp_u32);
    }
    f->pool_off[f->n_agents] = off;
    free(perm);
    free(chosen);
    return AM_OK;
}

static am_status check_split(const fl_task_family *f, const fl_image_set *s, const char *name)
{
    const fl_task_cfg *c = &f->cfg;
    unsigned C = fl_image_set_n_classes(s);
    if (c->ways > C)
        return AM_FAIL(AM_EINVAL, "task family: ways = %u but the %s split has only %u classes",
                       c->ways, name, C);
    uint32_t minsz = UINT32_MAX;
    unsigned argmin = 0;
    for (unsigned cl = 0; cl < C; cl++)
        if (fl_image_set_class_size(s, cl) < minsz) {
            minsz = fl_image_set_class_size(s, cl);
            argmin = cl;
        }
    if ((uint64_t)c->shots + c->query > minsz)
        return AM_FAIL(AM_EINVAL,
                       "task family: shots + query = %u per class but class %u of the %s split "
                       "has only %u images",
                       c->shots + c->query, argmin, name, minsz);
    return AM_OK;
}

am_status fl_task_family_create(const fl_task_cfg *cfg, fl_task_family **out)
{
    if (out == NULL || cfg == NULL)
        return AM_FAIL(AM_EINVAL, "fl_task_family_create: NULL argument");
    *out = NULL;
    if (cfg->kind != FL_TASK_SINUSOID && !is_classification(cfg->kind))
        return AM_FAIL(AM_EINVAL, "task family: unknown kind %d", (int)cfg->kind);
    if (cfg->n_train_agents < 1 || cfg->n_train_agents > MAX_AGENTS ||
        cfg->n_new_agents > MAX_AGENTS)
        return AM_FAIL(AM_EINVAL,
                       "task family: n_train_agents = %u, n_new_agents = %u (need 1..%u and "
                       "0..%u)",
                       cfg->n_train_agents, cfg->n_new_agents, MAX_AGENTS, MAX_AGENTS);
    if (!(cfg->heterogeneity >= 0.0f && cfg->heterogeneity <= 1.0f))
        return AM_FAIL(AM_EINVAL, "task family: heterogeneity = %g, need a number in [0, 1]",
                       (double)cfg->heterogeneity);
    if (cfg->shots < 1 || cfg->query < 1 || cfg->shots > MAX_POINTS || cfg->query > MAX_POINTS)
        return AM_FAIL(AM_EINVAL, "task family: shots = %u, query = %u (need 1..%u)", cfg->shots,
                       cfg->query, MAX_POINTS);
    if (cfg->pool > MAX_POOL)
        return AM_FAIL(AM_EINVAL, "task family: pool = %u tasks per agent, at most %u", cfg->pool,
                       MAX_POOL);
    if (is_classification(cfg->kind) && (cfg->ways < 2 || cfg->ways > 10000))
        return AM_FAIL(AM_EINVAL, "task family: ways = %u, need at least 2", cfg->ways);
    if (cfg->kind == FL_TASK_OMNIGLOT && (cfg->data_dir == NULL || cfg->data_dir[0] == '\0'))
        return AM_FAIL(AM_EINVAL, "task family: omniglot needs data_dir, the folder holding "
                                  "images_background/ and images_evaluation/");

    fl_task_family *f = calloc(1, sizeof *f);
    if (f == NULL)
        return AM_FAIL(AM_ENOMEM, "task family: out of memory");
    f->cfg = *cfg;
    f->n_agents = cfg->n_train_agents + cfg->n_new_agents;
    am_status s = AM_OK;
    if (cfg->kind == FL_TASK_SINUSOID) {
        f->cfg.ways = 1;
        f->cfg.data_dir = NULL;
        f->in_dim = 1;
        f->out_dim = 1;
        s = draw_agents_sinusoid(f);
    } else {
        const char *dir = cfg->data_dir ? cfg->data_dir : FL_FMNIST_DEFAULT_DIR;
        f->data_dir = strdup(dir);
        if (f->data_dir == NULL) {
            s = AM_FAIL(AM_ENOMEM, "task family: out of memory");
            goto done;
        }
        f->cfg.data_dir = f->data_dir;
        if (cfg->kind == FL_TASK_FMNIST) {
            if ((s = fl_fmnist_load(dir, FL_FMNIST_TRAIN, &f->sets[0])) != AM_OK)
                goto done;
            if ((s = fl_fmnist_load(dir, FL_FMNIST_TEST, &f->sets[1])) != AM_OK)
                goto done;
        } else {
            if ((s = fl_omniglot_load(dir, "images_background", &f->sets[0])) != AM_OK)
                goto done;
            if ((s = fl_omniglot_load(dir, "images_evaluation", &f->sets[1])) != AM_OK)
                goto done;
        }
        const char *names[2] = {cfg->kind == FL_TASK_FMNIST ? "train" : "images_background",
                                cfg->kind == FL_TASK_FMNIST ? "t10k" : "images_evaluation"};
        for (int k = 0; k < 2; k++)
            if ((s = check_split(f, f->sets[k], names[k])) != AM_OK)
                goto done;
        f->in_dim = (size_t)fl_image_set_rows(f->sets[0]) * fl_image_set_cols(f->sets[0]);
        f->out_dim = cfg->ways;
        s = draw_agents_classes(f);
    }
done:
    if (s != AM_OK) {
        fl_task_family_destroy(f);
        return s;
    }
    *out = f;
    return AM_OK;
}

void fl_task_family_destroy(fl_task_family *f)
{
    if (f == NULL)
        return;
    fl_image_set_destroy(f->sets[0]);
    fl_image_set_destroy(f->sets[1]);
    free(f->data_dir);
    free(f->amp_lo);
    free(f->amp_hi);
    free(f->ph_lo);
    free(f->ph_hi);
    free(f->pool);
    free(f->pool_off);
    free(f->pool_n);
    free(f);
}

const fl_task_cfg *fl_task_family_cfg(const fl_task_family *f)
{
    return &f->cfg;
}

unsigned fl_task_n_agents(const fl_task_family *f)
{
    return f->n_agents;
}

int fl_task_is_new_agent(const fl_task_family *f, unsigned agent)
{
    return agent >= f->cfg.n_train_agents && agent < f->n_agents;
}

size_t fl_task_in_dim(const fl_task_family *f)
{
    return f->in_dim;
}

size_t fl_task_out_dim(const fl_task_family *f)
{
    return f->out_dim;
}

void fl_task_in_shape(const fl_task_family *f,
                      unsigned *channels,
                      unsigned *height,
                      unsigned *width)
{
    *channels = 1;
    *height = f->sets[0] ? fl_image_set_rows(f->sets[0]) : 1;
    *width = f->sets[0] ? fl_image_set_cols(f->sets[0]) : 1;
}

fl_loss fl_task_loss(const fl_task_family *f)
{
    return f->cfg.kind == FL_TASK_SINUSOID ? FL_LOSS_MSE : FL_LOSS_XENT;
}

size_t fl_task_support_size(const fl_task_family *f)
{
    return (size_t)f->cfg.shots * (is_classification(f->cfg.kind) ? f->cfg.ways : 1);
}

size_t fl_task_query_size(const fl_task_family *f)
{
    return (size_t)f->cfg.query * (is_classification(f->cfg.kind) ? f->cfg.ways : 1);
}

am_status fl_task_agent_info_get(const fl_task_family *f, unsigned agent, fl_task_agent_info *out)
{
    if (f == NULL || out == NULL)
        return AM_FAIL(AM_EINVAL, "fl_task_agent_info_get: NULL argument");
    if (agent >= f->n_agents)
        return AM_FAIL(AM_EINVAL, "task family: agent %u out of range (%u agents)", agent,
                       f->n_agents);
    memset(out, 0, sizeof *out);
    out->is_new = fl_task_is_new_agent(f, agent);
    if (f->cfg.kind == FL_TASK_SINUSOID) {
        out->amp_lo = f->amp_lo[agent];
        out->amp_hi = f->amp_hi[agent];
        out->phase_lo = f->ph_lo[agent];
        out->phase_hi = f->ph_hi[agent];
    } else {
        out->n_classes = f->pool_n[agent];
        out->classes = f->pool + f->pool_off[agent];
    }
    return AM_OK;
}

const fl_image_set *fl_task_images(const fl_task_family *f, unsigned agent)
{
    if (f == NULL || f->cfg.kind == FL_TASK_SINUSOID || agent >= f->n_agents)
        return NULL;
    return f->sets[fl_task_is_new_agent(f, agent)];
}

am_status fl_task_buf_create(const fl_task_family *f, fl_task_buf **out)
{
    if (f == NULL || out == NULL)
        return AM_FAIL(AM_EINVAL, "fl_task_buf_create: NULL argument");
    *out = NULL;
    fl_task_buf *b = calloc(1, sizeof *b);
    if (b == NULL)
        return AM_FAIL(AM_ENOMEM, "task buffer: out of memory");
    size_t ns = fl_task_support_size(f), nq = fl_task_query_size(f);
    b->in_dim = f->in_dim;
    b->cap_support = ns;
    b->cap_query = nq;
    b->sx = malloc(ns * f->in_dim * sizeof(float));
    b->qx = malloc(nq * f->in_dim * sizeof(float));
    int ok = b->sx && b->qx;
    if (is_classification(f->cfg.kind)) {
        b->cap_ways = f->cfg.ways;
        b->cap_scratch =
            f->cfg.ways > f->cfg.shots + f->cfg.query ? f->cfg.ways : f->cfg.shots + f->cfg.query;
        b->slabel = malloc(ns * sizeof(int32_t));
        b->qlabel = malloc(nq * sizeof(int32_t));
        b->classes = malloc(b->cap_ways * sizeof(uint32_t));
        b->support_idx = malloc(ns * sizeof(uint32_t));
        b->query_idx = malloc(nq * sizeof(uint32_t));
        b->scratch = malloc(b->cap_scratch * sizeof(uint32_t));
        ok = ok && b->slabel && b->qlabel && b->classes && b->support_idx && b->query_idx &&
             b->scratch;
    } else {
        b->sy = malloc(ns * sizeof(float));
        b->qy = malloc(nq * sizeof(float));
        ok = ok && b->sy && b->qy;
    }
    if (!ok) {
        fl_task_buf_destroy(b);
        return AM_FAIL(AM_ENOMEM, "task buffer: out of memory");
    }
    b->support = (fl_batch){.x = b->sx, .y = b->sy, .label = b->slabel, .n = 0};
    b->query = (fl_batch){.x = b->qx, .y = b->qy, .label = b->qlabel, .n = 0};
    *out = b;
    return AM_OK;
}

void fl_task_buf_destroy(fl_task_buf *b)
{
    if (b == NULL)
        return;
    free(b->sx);
    free(b->sy);
    free(b->qx);
    free(b->qy);
    free(b->slabel);
    free(b->qlabel);
    free(b->classes);
    free(b->support_idx);
    free(b->query_idx);
    free(b->scratch);
    free(b);
}

static void sample_sinusoid(const fl_task_family *f, unsigned agent, am_rng *rng, fl_task_buf *b)
{
    double A = am_rng_uniform_range(rng, f->amp_lo[agent], f->amp_hi[agent]);
    double ph = am_rng_uniform_range(rng, f->ph_lo[agent], f->ph_hi[agent]);
    b->amplitude = (float)A;
    b->phase = (float)ph;
    size_t ns = f->cfg.shots, nq = f->cfg.query;
    for (size_t i = 0; i < ns + nq; i++) {
        float x = (float)am_rng_uniform_range(rng, SIN_X_MIN, SIN_X_MAX);
        float y = (float)((double)b->amplitude * sin((double)x - (double)b->phase));
        if (i < ns) {
            b->sx[i] = x;
            b->sy[i] = y;
        } else {
            b->qx[i - ns] = x;
            b->qy[i - ns] = y;
        }
    }
    b->support.n = ns;
    b->query.n = nq;
}

static void sample_classes(const fl_task_family *f, unsigned agent, am_rng *rng, fl_task_buf *b)
{
    const fl_image_set *s = f->sets[fl_task_is_new_agent(f, agent)];
    const uint32_t *pool = f->pool + f->pool_off[agent];
    unsigned N = f->cfg.ways, K = f->cfg.shots, Q = f->cfg.query;
    size_t D = f->in_dim;
    sample_distinct(rng, f->pool_n[agent], N, b->scratch);
    for (unsigned l = 0; l < N; l++)
        b->classes[l] = pool[b->scratch[l]];
    for (unsigned l = 0; l < N; l++) {
        uint32_t cls = b->classes[l];
        sample_distinct(rng, fl_image_set_class_size(s, cls), K + Q, b->scratch);
        for (unsigned j = 0; j < K + Q; j++) {
            uint32_t img = fl_image_set_class_image(s, cls, b->scratch[j]);
            size_t row;
            if (j < K) {
                row = (size_t)l * K + j;
                b->support_idx[row] = img;
                b->slabel[row] = (int32_t)l;
                fl_image_set_get(s, img, b->sx + row * D);
            } else {
                row = (size_t)l * Q + (j - K);
                b->query_idx[row] = img;
                b->qlabel[row] = (int32_t)l;
                fl_image_set_get(s, img, b->qx + row * D);
            }
        }
    }
    b->support.n = (size_t)N * K;
    b->query.n = (size_t)N * Q;
}

am_status fl_task_sample(const fl_task_family *f, unsigned agent, am_rng *rng, fl_task_buf *buf)
{
    if (f == NULL || rng == NULL || buf == NULL)
        return AM_FAIL(AM_EINVAL, "fl_task_sample: NULL argument");
    if (agent >= f->n_agents)
        return AM_FAIL(AM_EINVAL, "fl_task_sample: agent %u out of range (%u agents)", agent,
                       f->n_agents);
    int cls = is_classification(f->cfg.kind);
    if (buf->in_dim != f->in_dim || buf->cap_support < fl_task_support_size(f) ||
        buf->cap_query < fl_task_query_size(f) || (cls && buf->cap_ways < f->cfg.ways) ||
        (cls && buf->cap_scratch < f->cfg.shots + f->cfg.query) ||
        (cls && buf->cap_scratch < f->cfg.ways) || (cls && buf->slabel == NULL) ||
        (!cls && buf->sy == NULL))
        return AM_FAIL(AM_EINVAL, "fl_task_sample: buffer made for a family of another shape");
    buf->agent = agent;
    if (cls)
        sample_classes(f, agent, rng, buf);
    else
        sample_sinusoid(f, agent, rng, buf);
    return AM_OK;
}

am_status
fl_task_sample_pool(const fl_task_family *f, unsigned agent, unsigned index, fl_task_buf *buf)
{
    if (f == NULL || buf == NULL)
        return AM_FAIL(AM_EINVAL, "fl_task_sample_pool: NULL argument");
    if (agent >= f->cfg.n_train_agents)
        return AM_FAIL(AM_EINVAL, "fl_task_sample_pool: agent %u is not a training agent (%u)",
                       agent, f->cfg.n_train_agents);
    if (index >= f->cfg.pool)
        return AM_FAIL(AM_EINVAL, "fl_task_sample_pool: task %u of a pool of %u", index,
                       f->cfg.pool);
    am_rng r;
    am_rng_seed2(&r, f->cfg.seed, POOL_STREAM + ((uint64_t)agent << POOL_SHIFT) + index);
    return fl_task_sample(f, agent, &r, buf);
}

am_status
fl_task_sample_train(const fl_task_family *f, unsigned agent, am_rng *rng, fl_task_buf *buf)
{
    if (f == NULL || rng == NULL)
        return AM_FAIL(AM_EINVAL, "fl_task_sample_train: NULL argument");
    if (f->cfg.pool == 0)
        return fl_task_sample(f, agent, rng, buf);
    return fl_task_sample_pool(f, agent, am_rng_below(rng, f->cfg.pool), buf);
}
