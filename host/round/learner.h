/* host/learner: the learner set-up `airmeta sim`, `server` and `agent` share: the task family by
 * name and the model each family trains (docs/paper.md §5 experiments). */
#ifndef AM_HOST_LEARNER_H
#define AM_HOST_LEARNER_H

#include "core/status.h"
#include "fl/model.h"
#include "fl/task.h"

/* "sinusoid" | "fmnist" | "omniglot"; AM_EINVAL naming it otherwise. */
am_status learner_task_kind(const char *name, fl_task_kind *out);

/* The model for fam, sized for its largest batch (support or query): MAML's MLP 1-40-40-1 for the
 * sinusoid family (MAML's init: truncated normal sd 0.01, zero biases), the conv net with `filters`
 * per block for the image families. */
am_status learner_model_create(const fl_task_family *fam, unsigned filters, fl_model **out);

#endif
