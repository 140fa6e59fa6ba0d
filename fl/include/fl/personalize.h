/* fl/personalize: personalised fine-tuning of an agent from the meta-model (a few SGD steps on
 * its support set) and evaluation before/after, for training and new agents, with the
 * generalisation gap. Implements docs/paper.md §1 (fine-tuning, generalisation) and issue 3 item 5.
 */
#ifndef FL_PERSONALIZE_H
#define FL_PERSONALIZE_H

#include <stddef.h>

#include "core/rng.h"
#include "core/status.h"
#include "fl/batch.h"
#include "fl/model.h"
#include "fl/task.h"

typedef struct fl_personalizer fl_personalizer; /* opaque; workspace for one thread */

typedef enum fl_agent_set {
    FL_AGENTS_TRAIN, /* agents 0..n_train_agents-1 */
    FL_AGENTS_NEW,   /* agents n_train_agents..n_agents-1, never seen in training */
    FL_AGENTS_OWN    /* training agents on the tasks of their own pools (cfg pool > 0): the
                      * empirical meta-training loss of docs/paper.md §4's generalisation gap */
} fl_agent_set;

typedef struct fl_personalize_cfg {
    unsigned steps;   /* SGD steps on the support set (0 = evaluate theta as is) */
    float alpha;      /* SGD step size */
    unsigned n_tasks; /* tasks per agent set; task i goes to agent first + (i mod set size) */
} fl_personalize_cfg;

/* Means over tasks and their standard errors (sample std / sqrt(n)). Accuracy is the fraction
 * of query samples classified correctly; NaN for regression families. */
typedef struct fl_eval_stats {
    unsigned n_tasks;
    double loss_before, loss_before_se; /* query loss at theta */
    double loss_after, loss_after_se;   /* query loss at the fine-tuned parameters */
    double acc_before, acc_before_se;
    double acc_after, acc_after_se;
} fl_eval_stats;

typedef struct fl_personalize_report {
    fl_eval_stats train;  /* training agents, new tasks of theirs */
    fl_eval_stats fresh;  /* new agents */
    fl_eval_stats own;    /* training agents, their own pool's tasks (n_tasks 0 without a pool) */
    double gap_loss;      /* fresh.loss_after - train.loss_after ("gap_fresh": new agents against
                           * fresh tasks of the training agents' distributions) */
    double gap_acc;       /* train.acc_after - fresh.acc_after (NaN for regression) */
    double gap_paper;     /* fresh.loss_after - own.loss_after: the paper's gap, new agents against
                           * the training agents' own data (NaN without a pool) */
    double gap_paper_acc; /* own.acc_after - fresh.acc_after (NaN for regression / no pool) */
} fl_personalize_report;

/* Defaults: steps 1, alpha 0.01, n_tasks 100 (MAML's sinusoid fine-tuning step size). */
void fl_personalize_cfg_default(fl_personalize_cfg *cfg);

/* Allocates all workspace for model m (its parameter count) and family f (a task buffer).
 * m and f are not kept: pass the same (or same-shaped) ones to every call. Errors: AM_EINVAL
 * (NULL; model input/output dims or max batch do not fit the family's tasks), AM_ENOMEM. */
am_status fl_personalizer_create(const fl_model *m, const fl_task_family *f, fl_personalizer **out);
void fl_personalizer_destroy(fl_personalizer *p); /* NULL is a no-op */

/* Fine-tunes: phi = theta, then `steps` times phi -= alpha * grad L_support(phi) (gradient from
 * fl_model_loss_grad with loss). phi has fl_model_nparams(m) floats and may not alias theta.
 * Does not allocate. Errors: AM_EINVAL (NULL, support larger than the model's max batch,
 * non-finite alpha). */
am_status fl_personalize_adapt(fl_personalizer *p,
                               fl_model *m,
                               const float *theta,
                               const fl_batch *support,
                               fl_loss loss,
                               unsigned steps,
                               float alpha,
                               float *phi);

/* Samples cfg->n_tasks tasks of agents of `set` (rng draws the tasks), fine-tunes each from
 * theta and evaluates the query set before and after. FL_AGENTS_OWN draws nothing: it evaluates
 * min(n_tasks, n_train_agents * pool) pool tasks, task t = agent t mod n_train_agents, pool index
 * t / n_train_agents (every agent's whole pool when n_tasks allows; AM_EINVAL without a pool). Does
 * not allocate. Errors: AM_EINVAL (NULL, n_tasks 0, empty agent set, non-finite theta or alpha,
 * model/family shaped unlike at create). */
am_status fl_personalize_eval(fl_personalizer *p,
                              fl_model *m,
                              const fl_task_family *f,
                              const float *theta,
                              fl_agent_set set,
                              const fl_personalize_cfg *cfg,
                              am_rng *rng,
                              fl_eval_stats *out);

/* Both agent sets (training first, then new, same rng), with a pool also the training agents'
 * own data (last, no rng), and the generalisation gaps. */
am_status fl_personalize_report_get(fl_personalizer *p,
                                    fl_model *m,
                                    const fl_task_family *f,
                                    const float *theta,
                                    const fl_personalize_cfg *cfg,
                                    am_rng *rng,
                                    fl_personalize_report *out);

#endif
