/* fl/airfl: Air-meta-pFL rounds — local meta-updates of K agents (in parallel), error-feedback
 * memory, sparsification, aggregation through fl_agg and the server's update. docs/paper.md §2-§3.
 */
#ifndef AM_FL_AIRFL_H
#define AM_FL_AIRFL_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "fl/agg.h"
#include "fl/meta.h"
#include "fl/model.h"
#include "fl/sparse.h"
#include "fl/task.h"

typedef struct fl_airfl_cfg {
    unsigned agents;         /* K training agents: task-family agents 0..K-1, K >= 1 */
    fl_meta_cfg meta;        /* learner, inner steps, alpha, tasks per local iteration, ... */
    fl_opt_cfg opt;          /* server: SGD or Adam with step beta */
    fl_sparse_kind sparsify; /* none | topk | randk */
    double keep;             /* fraction of entries sent, (0, 1] (k = ceil(keep * D)) */
    int memory;              /* 1: error-feedback memory m_k (docs/paper.md §3); 0: none */
    float rho, g_th;         /* announced power factor and truncation threshold (§4) */
    fl_eta_rule eta_rule;    /* how the server picks eta each round (fl_agg_eta) */
    unsigned threads;        /* worker threads, >= 1 (agents are spread over them) */
    uint64_t seed;           /* agent k draws from stream am_rng_seed2(seed, k) */
} fl_airfl_cfg;

/* K 10, MAML defaults (fl_meta_cfg_default), Adam 1e-3, no sparsification, memory on,
 * rho 1, g_th 0 (no truncation), eta rule rms, 1 thread, seed 1. */
void fl_airfl_cfg_default(fl_airfl_cfg *cfg);

/* What one round measured. */
typedef struct fl_airfl_stats {
    unsigned round;
    double train_loss;  /* mean over agents of the post-adaptation query loss of their tasks */
    double agg_nmse;    /* ||estimate - exact average of the x_k||^2 / ||exact average||^2 */
    double mean_active; /* mean over entries of the number of agents that reached the sum */
    double eta;         /* the announced payload scale */
    double memory_norm; /* mean over agents of ||m_k|| after the round */
    size_t k;           /* entries each agent sends */
} fl_airfl_stats;

typedef struct fl_airfl fl_airfl;

/* Clones `proto` once per thread, allocates every workspace (O(K*D) floats: per agent the memory,
 * the transmitted vector and what was delivered; per thread O(D)) and starts the worker threads.
 * theta starts at fl_model_init(proto) drawn from seed (overwrite it with fl_airfl_theta).
 * The family is not kept: pass the same (or a same-shaped) one to every round. Errors: AM_EINVAL
 * (bad cfg; model not fitting the family; K above the family's training agents), AM_ENOMEM. */
am_status fl_airfl_create(const fl_airfl_cfg *cfg,
                          const fl_model *proto,
                          const fl_task_family *fam,
                          fl_airfl **out);
void fl_airfl_destroy(fl_airfl *q); /* NULL is a no-op; joins the threads */

/* The meta-model theta (D floats), read/write between rounds. */
float *fl_airfl_theta(fl_airfl *q);
size_t fl_airfl_dim(const fl_airfl *q);
unsigned fl_airfl_round_index(const fl_airfl *q);
/* Agent k's error memory (D floats, read-only). */
const float *fl_airfl_memory(const fl_airfl *q, unsigned agent);

/* ---- state for checkpoints (a run resumed from it continues bit for bit) ----
 * Everything a later round depends on: the round index, theta, the server optimiser's state
 * (Adam's step count and moments), every agent's error memory m_k and every agent's RNG stream.
 * Nothing else carries over between rounds (workspaces are overwritten; the task family is fixed
 * by its seed; the in-library aggregators draw from (seed, round) only).
 * Blob layout, this machine's byte order (fields packed, no padding):
 *   u32 magic 0x54534641 ("AFST"), u32 version 1, u32 K, u32 optimiser kind (0 sgd, 1 adam),
 *   u64 D, u64 round, u64 optimiser steps t,
 *   f32 theta[D], (Adam) f32 m[D], f32 v[D], f32 memory[K][D], u64 rng[K][4]. */
#define FL_AIRFL_STATE_MAGIC 0x54534641u
#define FL_AIRFL_STATE_VERSION 1u
size_t fl_airfl_state_size(const fl_airfl *q);
/* Writes the state into buf (cap >= fl_airfl_state_size, else AM_EINVAL). Call between rounds. */
am_status fl_airfl_state_save(const fl_airfl *q, void *buf, size_t cap);
/* Restores a state written by fl_airfl_state_save of an object made with the same K, D and
 * optimiser kind. Everything is validated before anything is changed: AM_EFORMAT with a message
 * on a wrong magic/version, size, K, D, optimiser, a non-finite theta/moment/memory entry or an
 * all-zero RNG state (so a failed load leaves the object as it was). */
am_status fl_airfl_state_load(fl_airfl *q, const void *buf, size_t n);

/* One round (docs/paper.md §3): every agent k, in parallel, computes u_k (fl_meta_local_update from
 * theta on its own tasks), v_k = u_k + m_k, x_k = sparsify(v_k); the server picks eta from the
 * x_k (cfg eta_rule; on the air this needs each agent's peak/power reported on the control plane
 * before the round), aggregates through agg, then m_k = v_k - delivered_k (or 0 without memory)
 * and theta <- optimiser step on the estimate. Results depend on seed only, not on the number of
 * threads. Does not allocate. Errors: of the model (a diverged loss), AM_EFORMAT when an update is
 * not finite, and the aggregator's; after an error the agents' memories are half-updated, so
 * destroy the object. stats may be NULL. */
am_status
fl_airfl_round(fl_airfl *q, const fl_task_family *fam, fl_agg *agg, fl_airfl_stats *stats);

#endif
