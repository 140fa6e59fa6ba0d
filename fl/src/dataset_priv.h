/* fl/dataset internals shared by the loaders (fmnist.c, omniglot.c) and dataset.c. */
#ifndef FL_DATASET_PRIV_H
#define FL_DATASET_PRIV_H

#include "fl/dataset.h"

struct fl_image_set {
    size_t n;
    unsigned rows, cols;
    uint8_t *pix;    /* n x rows x cols, 0 = background, 255 = ink */
    uint32_t *label; /* n */
    unsigned n_classes, n_groups;
    unsigned *class_group; /* n_classes */
    uint32_t *class_start; /* n_classes: offset into by_class */
    uint32_t *class_size;  /* n_classes */
    uint32_t *by_class;    /* n: image indices grouped by class, ascending within a class */
    char **group_name;     /* n_groups */
};

/* Allocates a set with every array (group names NULL); AM_ENOMEM. */
am_status fl_image_set_alloc(size_t n,
                             unsigned rows,
                             unsigned cols,
                             unsigned n_classes,
                             unsigned n_groups,
                             fl_image_set **out);
/* Builds class_start/class_size/by_class from label (labels must be < n_classes);
 * AM_EFORMAT if a class has no image. */
am_status fl_image_set_index(fl_image_set *s, const char *what);

#endif
