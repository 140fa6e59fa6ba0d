/* host/learner: task kind by name, the model of a task family (see learner.h). */
#include "round/learner.h"

#include <string.h>

am_status learner_task_kind(const char *name, fl_task_kind *out)
{
    if (name && strcmp(name, "sinusoid") == 0)
        *out = FL_TASK_SINUSOID;
    else if (name && strcmp(name, "fmnist") == 0)
        *out = FL_TASK_FMNIST;
    else if (name && strcmp(name, "omniglot") == 0)
        *out = FL_TASK_OMNIGLOT;
    else
        return AM_FAIL(AM_EINVAL, "task '%s': expected sinusoid, fmnist or omniglot",
                       name ? name : "(null)");
    return AM_OK;
}

am_status learner_model_create(const fl_task_family *fam, unsigned filters, fl_model **out)
{
    if (!fam || !out)
        return AM_FAIL(AM_EINVAL, "learner_model_create: NULL argument");
    size_t nb = fl_task_support_size(fam), nq = fl_task_query_size(fam);
    size_t batch = nb > nq ? nb : nq;
    if (fl_task_family_cfg(fam)->kind == FL_TASK_SINUSOID) {
        const unsigned w[] = {1, 40, 40, 1}; /* MAML's sinusoid network and its init */
        fl_mlp_cfg mc = {w, 4, batch, FL_INIT_MAML};
        return fl_model_create_mlp(&mc, out);
    }
    fl_cnn_cfg cc;
    fl_cnn_cfg_default(&cc);
    unsigned ch, h, w;
    fl_task_in_shape(fam, &ch, &h, &w);
    cc.in_channels = ch;
    cc.height = h;
    cc.width = w;
    cc.filters = filters;
    cc.n_classes = (unsigned)fl_task_out_dim(fam);
    cc.max_batch = batch;
    return fl_model_create_cnn(&cc, out);
}
