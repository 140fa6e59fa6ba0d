/* fl/meta: meta-learners (MAML, first-order MAML, Reptile, Per-FedAvg FO/HF), an agent's local
 * meta-update and the server's outer optimiser (SGD, Adam). Implements docs/paper.md §1 and §3. */
#ifndef AM_FL_META_H
#define AM_FL_META_H

#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"
#include "core/status.h"
#include "fl/batch.h"
#include "fl/model.h"

/* Per-task meta-gradient g at parameters phi (support S, query Q, inner step alpha, n inner
 * steps phi_0 = phi, phi_{j+1} = phi_j - alpha grad L_S(phi_j)):
 *  MAML          g = (I - alpha H_S(phi_0)) ... (I - alpha H_S(phi_{n-1})) grad L_Q(phi_n)
 *                (exact gradient of L_Q(phi_n(phi)); Hessian-vector products from fl_model_hvp,
 *                chained from the last step back to the first)
 *  FOMAML        g = grad L_Q(phi_n)
 *  REPTILE       g = (phi - phi_n') / (alpha n), phi_n' after n steps on S (the query set only
 *                reports the loss). Reptile's direction phi - phi' in gradient units, so beta
 *                means the same for every learner (Reptile's epsilon = beta / (alpha n)).
 *  PERFEDAVG_FO  g = grad L_D'(phi_n), D = S, D' = Q: the per-task rule of first-order MAML
 *                (Fallah et al. 2020, Per-FedAvg FO; the federated local loop, which is what
 *                sets Per-FedAvg apart, is the local_iters knob every learner shares)
 *  PERFEDAVG_HF  g as MAML, but every H v is the difference of gradients on an independent
 *                batch D'': [grad L_D''(phi_j + d u) - grad L_D''(phi_j - d u)] ||v|| / (2 d),
 *                u = v / ||v||, d = hf_delta (Fallah et al. 2020, Per-FedAvg HF). D = S; the
 *                query set is split into D' and D'' by alternating samples (per class for
 *                classification), so each holds half the query samples (at least 2 needed). */
typedef enum fl_learner {
    FL_LEARNER_MAML = 0,
    FL_LEARNER_FOMAML,
    FL_LEARNER_REPTILE,
    FL_LEARNER_PERFEDAVG_FO,
    FL_LEARNER_PERFEDAVG_HF
} fl_learner;

/* "maml" | "fomaml" | "reptile" | "perfedavg-fo" | "perfedavg-hf" */
am_status fl_learner_parse(const char *name, fl_learner *out);
const char *fl_learner_name(fl_learner l);

typedef struct fl_meta_cfg {
    fl_learner learner;
    unsigned inner_steps; /* n >= 1 */
    float alpha;          /* inner step size, finite > 0 */
    float hf_delta;       /* PERFEDAVG_HF: norm of the finite-difference perturbation, > 0 */
    unsigned tasks;       /* meta-batch: tasks per local iteration, >= 1 */
    unsigned local_iters; /* L >= 1 local iterations per round */
    float local_lr;       /* step of the agent's local iterations (used only when L > 1), > 0 */
} fl_meta_cfg;

/* MAML defaults: maml, 1 inner step, alpha 0.01, hf_delta 1e-3, 25 tasks, 1 local iteration,
 * local_lr 1e-3 (MAML's sinusoid meta step size). */
void fl_meta_cfg_default(fl_meta_cfg *cfg);

/* Where an agent's tasks come from: fills *support and *query with one task of that agent,
 * drawn with rng. The batches must stay valid until the next call. Called from the thread that
 * runs the agent. */
typedef am_status (*fl_meta_sample_fn)(void *ctx,
                                       am_rng *rng,
                                       const fl_batch **support,
                                       const fl_batch **query);

/* Workspace of one thread: (inner_steps + 5) * D floats plus batch halves for PERFEDAVG_HF. */
typedef struct fl_meta fl_meta;

/* For model m (its parameter count D, max batch, input/output dims); m itself is not kept.
 * max_query: largest query set that will be passed (PERFEDAVG_HF copies its halves). */
am_status
fl_meta_create(const fl_meta_cfg *cfg, const fl_model *m, size_t max_query, fl_meta **out);
void fl_meta_destroy(fl_meta *q); /* NULL is a no-op */
const fl_meta_cfg *fl_meta_get_cfg(const fl_meta *q);

/* Meta-gradient of one task at phi (see fl_learner) into g (D floats, OVERWRITTEN, may not alias
 * phi). *qloss = query loss at the adapted parameters phi_n (MAML's post-update loss; for HF the
 * loss on D'). m: a model of the same shape, used by this thread only. Does not allocate.
 * Errors: those of fl_model (AM_EFORMAT when the losses diverge), AM_EINVAL on a bad batch. */
am_status fl_meta_task_grad(fl_meta *q,
                            fl_model *m,
                            const float *phi,
                            const fl_batch *support,
                            const fl_batch *query,
                            fl_loss loss,
                            float *g,
                            float *qloss);

/* An agent's local meta-update u (D floats, OVERWRITTEN) from the broadcast theta:
 *   phi_0 = theta;  for l = 1..L:  g_l = mean over `tasks` sampled tasks of the task meta-gradient
 *   at phi_{l-1};  phi_l = phi_{l-1} - local_lr * g_l;    u = (1/L) sum_l g_l
 * i.e. the mean meta-gradient along the agent's local trajectory (theta - phi_L = L local_lr u).
 * With L = 1, u is the agent's meta-batch gradient at theta, so theta - beta * mean_k u_k is
 * exactly MAML's outer step over all agents' tasks. *loss = mean post-adaptation query loss of the
 * tasks. Does not allocate. */
am_status fl_meta_local_update(fl_meta *q,
                               fl_model *m,
                               const float *theta,
                               fl_loss loss,
                               fl_meta_sample_fn sample,
                               void *ctx,
                               am_rng *rng,
                               float *u,
                               float *loss_out);

/* ---- outer optimiser (the server, docs/paper.md §3: theta_{t+1} = theta_t - beta_t * estimate)
 * ---- */

typedef enum fl_opt_kind { FL_OPT_SGD = 0, FL_OPT_ADAM } fl_opt_kind;
am_status fl_opt_kind_parse(const char *name, fl_opt_kind *out); /* "sgd" | "adam" */

typedef struct fl_opt_cfg {
    fl_opt_kind kind;
    float lr;           /* beta, finite > 0 */
    float beta1, beta2; /* Adam moments, [0, 1) */
    float eps;          /* Adam, > 0 */
    /* Gradient-norm clipping (issue 13): when ||g||_2 > clip the step uses g * clip / ||g||_2;
     * 0 = off. With SGD the channel noise in g reaches theta (Adam divides it out), and clipping
     * bounds the step that a noisy estimate can take, so SGD does not diverge at useful beta. */
    float clip;
} fl_opt_cfg;
/* Adam, lr 1e-3, beta1 0.9, beta2 0.999, eps 1e-8 (MAML's outer optimiser), clip 0 (off). */
void fl_opt_cfg_default(fl_opt_cfg *cfg);

typedef struct fl_opt fl_opt; /* SGD: no state; Adam: 2 D floats of moments */
am_status fl_opt_create(const fl_opt_cfg *cfg, size_t dim, fl_opt **out);
void fl_opt_destroy(fl_opt *o); /* NULL is a no-op */
void fl_opt_reset(fl_opt *o);   /* zero moments and step count */
/* theta -= lr * g (SGD) or the bias-corrected Adam step on g (g clipped to norm clip first when
 * clip > 0). Does not allocate. */
void fl_opt_step(fl_opt *o, float *theta, const float *g);

/* The state a checkpoint needs: steps taken t (Adam's bias correction) and, for Adam, the first
 * and second moments (dim floats each; *m = *v = NULL for SGD). */
const fl_opt_cfg *fl_opt_get_cfg(const fl_opt *o);
void fl_opt_get_state(const fl_opt *o, uint64_t *t, const float **m, const float **v);
/* Restores it (copies; m and v ignored for SGD). AM_EFORMAT when a moment is not finite or a second
 * moment is negative (the state is left unchanged then). */
am_status fl_opt_set_state(fl_opt *o, uint64_t t, const float *m, const float *v);

#endif
