/* fl/task: task families — a population of agents, each with its own task distribution
 * (sinusoid regression, Fashion-MNIST / Omniglot few-shot), split into training and new agents.
 * Implements docs/paper.md §1 (setting, heterogeneity, new agents) and issue 3 item 2. */
#ifndef FL_TASK_H
#define FL_TASK_H

#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"
#include "core/status.h"
#include "fl/batch.h"
#include "fl/dataset.h"

typedef struct fl_task_family fl_task_family; /* opaque; read-only after create (thread-safe) */

typedef enum fl_task_kind {
    FL_TASK_SINUSOID, /* y = A sin(x - phase), MAML's regression benchmark */
    FL_TASK_FMNIST,   /* N-way K-shot from Fashion-MNIST (Debian package dataset-fashion-mnist) */
    FL_TASK_OMNIGLOT  /* N-way K-shot from the Omniglot image folders the user provides */
} fl_task_kind;

/* Default Fashion-MNIST folder of the Debian package dataset-fashion-mnist. */
#define FL_FMNIST_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"

typedef struct fl_task_cfg {
    fl_task_kind kind;
    /* Agents 0..n_train_agents-1 are training agents; n_train_agents..n_train_agents+n_new_agents-1
     * are new agents, never seen in training, drawn from the same population of agents. */
    unsigned n_train_agents, n_new_agents;
    /* The heterogeneity knob in [0, 1]: 0 = every agent has the same task distribution (the whole
     * population), 1 = agents as different as the family allows. What it means per kind:
     *  sinusoid: each agent's amplitude range is a sub-interval of [0.1, 5] of width
     *            (1-h)*4.9 and its phase range a sub-interval of [0, pi] of width (1-h)*pi,
     *            placed uniformly at random inside the full range (h = 0: MAML's distribution
     *            for everyone; h = 1: each agent is a single sine).
     *  fmnist / omniglot: each agent draws a pool of class groups (fmnist: a group is a class;
     *            omniglot: a group is an alphabet) — round(G - h*(G-1)) of the G groups of its
     *            split, uniformly at random, enlarged group by group (in the same random order)
     *            until the pool holds >= ways classes. Tasks draw their N classes uniformly from
     *            the pool. (h = 0: every class for everyone; h = 1, fmnist: exactly `ways` classes
     *            per agent; h = 1, omniglot: one alphabet per agent.) */
    float heterogeneity;
    /* Support set: `shots` points (regression) or `shots` images per class (classification).
     * Query set:   `query` points (regression) or `query` images per class (classification). */
    unsigned shots, query;
    unsigned ways;        /* N of N-way (classification only; ignored for sinusoid) */
    const char *data_dir; /* fmnist: folder with {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz
                           *   (NULL = FL_FMNIST_DEFAULT_DIR);
                           * omniglot: folder holding images_background/ and images_evaluation/
                           *   (required). Copied at create. */
    uint64_t seed;        /* agents' distributions are drawn from it (one stream per agent) */
    /* Finite data per training agent (issue 13): 0 = none (every draw is a fresh task); N > 0 =
     * training agent k owns N tasks, drawn once from its distribution (task i: fixed amplitude,
     * phase and points; images: fixed classes and fixed support/query images), a function of
     * (seed, k, i) only (fl_task_sample_pool). New agents never have a pool. */
    unsigned pool;
} fl_task_cfg;

/* Defaults per kind: 10 training + 10 new agents, heterogeneity 0, seed 1, pool 0;
 * sinusoid 10 shots / 10 query (MAML); fmnist 5-way 5-shot, 15 query; omniglot 5-way 1-shot,
 * 15 query; data_dir NULL. */
void fl_task_cfg_default(fl_task_cfg *cfg, fl_task_kind kind);

/* Validates cfg, loads the data set (fmnist: both IDX pairs; omniglot: both folders) and draws
 * every agent's distribution. Errors: AM_EINVAL (bad cfg, e.g. ways > classes, shots+query more
 * than the images of a class), AM_ENOTFOUND (missing file/folder: the message names the path and
 * what to install), AM_EFORMAT (corrupt file), AM_ENOMEM.
 * Data split (documented choice): fmnist training agents sample images of the train file and new
 * agents images of the t10k file (same 10 classes, disjoint images); omniglot training agents use
 * the alphabets of images_background and new agents those of images_evaluation (disjoint
 * characters). Agent k's distribution depends only on (kind, data, seed, heterogeneity, k, ways):
 * changing shots/query or the number of agents of the other kind does not change it. */
am_status fl_task_family_create(const fl_task_cfg *cfg, fl_task_family **out);
void fl_task_family_destroy(fl_task_family *f); /* NULL is a no-op */

const fl_task_cfg *fl_task_family_cfg(const fl_task_family *f); /* the copied cfg */
unsigned fl_task_n_agents(const fl_task_family *f);             /* n_train_agents + n_new_agents */
int fl_task_is_new_agent(const fl_task_family *f, unsigned agent);

size_t fl_task_in_dim(const fl_task_family *f);  /* 1 (sinusoid) or channels*height*width */
size_t fl_task_out_dim(const fl_task_family *f); /* 1 (sinusoid) or ways */
/* Input shape for convolutional models: sinusoid 1x1x1, images 1x28x28 (channels-first). */
void fl_task_in_shape(const fl_task_family *f,
                      unsigned *channels,
                      unsigned *height,
                      unsigned *width);
fl_loss fl_task_loss(const fl_task_family *f);        /* FL_LOSS_MSE or FL_LOSS_XENT */
size_t fl_task_support_size(const fl_task_family *f); /* shots or ways*shots samples */
size_t fl_task_query_size(const fl_task_family *f);   /* query or ways*query samples */

/* What an agent's task distribution is (for tests, logs and plots). */
typedef struct fl_task_agent_info {
    int is_new;               /* 1 for new agents */
    float amp_lo, amp_hi;     /* sinusoid: the agent's amplitude range (inside [0.1, 5]) */
    float phase_lo, phase_hi; /* sinusoid: the agent's phase range (inside [0, pi]) */
    unsigned n_classes;       /* classification: size of the agent's class pool */
    const uint32_t *classes;  /* classification: the pool, class ids of fl_task_images() */
} fl_task_agent_info;
am_status fl_task_agent_info_get(const fl_task_family *f, unsigned agent, fl_task_agent_info *out);

/* The image set an agent's tasks are drawn from (train/background for training agents,
 * t10k/evaluation for new agents); NULL for sinusoid. Owned by the family. */
const fl_image_set *fl_task_images(const fl_task_family *f, unsigned agent);

/* Storage for one task (owned buffers sized for the family) plus what fl_task_sample drew.
 * Fields are read-only for callers. */
typedef struct fl_task_buf {
    fl_batch support; /* x: n x in_dim row-major; regression: y n x 1, label NULL;      */
    fl_batch query;   /* classification: label in 0..ways-1 (relabelled per task), y NULL */
    /* Last draw: */
    unsigned agent;
    float amplitude, phase; /* sinusoid: the task's A and phase (y = A sin(x - phase)) */
    uint32_t *classes;      /* classification, [ways]: class id (in fl_task_images) of label l */
    uint32_t *support_idx;  /* classification, [support n]: image index of each support sample */
    uint32_t *query_idx;    /* classification, [query n]: image index of each query sample */
    /* Storage (private): */
    float *sx, *sy, *qx, *qy;
    int32_t *slabel, *qlabel;
    uint32_t *scratch;
    size_t in_dim, cap_support, cap_query, cap_ways, cap_scratch;
} fl_task_buf;

am_status fl_task_buf_create(const fl_task_family *f, fl_task_buf **out);
void fl_task_buf_destroy(fl_task_buf *b); /* NULL is a no-op */

/* Samples one task of `agent` into buf (created for a family of the same shape). Does not
 * allocate; reads f only, so threads may share f with one buf and one rng each.
 * Regression: support/query x ~ U[-5, 5] independently, y = A sin(x - phase) with (A, phase)
 * uniform on the agent's ranges. Classification: N distinct classes uniform from the agent's
 * pool, in random order (label l = classes[l]); per class shots+query distinct images uniform
 * from the class (so query and support are disjoint); samples class-major (class 0's shots,
 * class 1's shots, ...); pixels in [0, 1], 1 = ink.
 * Errors: AM_EINVAL (agent out of range, buf of another shape, NULL). */
am_status fl_task_sample(const fl_task_family *f, unsigned agent, am_rng *rng, fl_task_buf *buf);

/* Task `index` (0..pool-1) of training agent `agent`'s own data set (cfg pool > 0): the draw of
 * fl_task_sample from a generator seeded by (seed, agent, index) alone, so the same task every
 * time, in every process, before and after --resume. Regenerated on each call (no storage: as
 * cheap as a fresh draw). Errors: AM_EINVAL (no pool, a new agent, index >= pool, buf of another
 * shape, NULL). */
am_status
fl_task_sample_pool(const fl_task_family *f, unsigned agent, unsigned index, fl_task_buf *buf);

/* One task of training agent `agent`'s pool, uniform: index = am_rng_below(rng, pool), then
 * fl_task_sample_pool. With pool 0 it is fl_task_sample (the same draws). Local iterations use
 * this (fl_airfl). */
am_status
fl_task_sample_train(const fl_task_family *f, unsigned agent, am_rng *rng, fl_task_buf *buf);

#endif
