/* fl/dataset: the image-set container shared by the Fashion-MNIST and Omniglot loaders.
 * Issue 3 item 2. */
#include "dataset_priv.h"

#include <stdlib.h>

am_status fl_image_set_alloc(size_t n,
                             unsigned rows,
                             unsigned cols,
                             unsigned n_classes,
                             unsigned n_groups,
                             fl_image_set **out)
{
    *out = NULL;
    fl_image_set *s = calloc(1, sizeof *s);
    if (s == NULL)
        return AM_FAIL(AM_ENOMEM, "image set: out of memory");
    s->n = n;
    s->rows = rows;
    s->cols = cols;
    s->n_classes = n_classes;
    s->n_groups = n_groups;
    s->pix = malloc(n * rows * cols);
    s->label = calloc(n, sizeof *s->label);
    s->by_class = calloc(n, sizeof *s->by_class);
    s->class_group = calloc(n_classes, sizeof *s->class_group);
    s->class_start = calloc(n_classes, sizeof *s->class_start);
    s->class_size = calloc(n_classes, sizeof *s->class_size);
    s->group_name = calloc(n_groups, sizeof *s->group_name);
    if (!s->pix || !s->label || !s->by_class || !s->class_group || !s->class_start ||
        !s->class_size || !s->group_name) {
        fl_image_set_destroy(s);
        return AM_FAIL(AM_ENOMEM, "image set of %zu images: out of memory", n);
    }
    *out = s;
    return AM_OK;
}

am_status fl_image_set_index(fl_image_set *s, const char *what)
{
    for (unsigned c = 0; c < s->n_classes; c++)
        s->class_size[c] = 0;
    for (size_t i = 0; i < s->n; i++)
        s->class_size[s->label[i]]++;
    uint32_t off = 0;
    for (unsigned c = 0; c < s->n_classes; c++) {
        if (s->class_size[c] == 0)
            return AM_FAIL(AM_EFORMAT, "%s: class %u has no image", what, c);
        s->class_start[c] = off;
        off += s->class_size[c];
        s->class_size[c] = 0; /* refilled below */
    }
    for (size_t i = 0; i < s->n; i++) {
        uint32_t c = s->label[i];
        s->by_class[s->class_start[c] + s->class_size[c]++] = (uint32_t)i;
    }
    return AM_OK;
}

void fl_image_set_destroy(fl_image_set *s)
{
    if (s == NULL)
        return;
    if (s->group_name)
        for (unsigned g = 0; g < s->n_groups; g++)
            free(s->group_name[g]);
    free(s->group_name);
    free(s->pix);
    free(s->label);
    free(s->by_class);
    free(s->class_group);
    free(s->class_start);
    free(s->class_size);
    free(s);
}

size_t fl_image_set_size(const fl_image_set *s)
{
    return s->n;
}

unsigned fl_image_set_rows(const fl_image_set *s)
{
    return s->rows;
}

unsigned fl_image_set_cols(const fl_image_set *s)
{
    return s->cols;
}

unsigned fl_image_set_n_classes(const fl_image_set *s)
{
    return s->n_classes;
}

unsigned fl_image_set_n_groups(const fl_image_set *s)
{
    return s->n_groups;
}

unsigned fl_image_set_class_group(const fl_image_set *s, unsigned cls)
{
    return cls < s->n_classes ? s->class_group[cls] : 0;
}

const char *fl_image_set_group_name(const fl_image_set *s, unsigned group)
{
    return group < s->n_groups && s->group_name[group] ? s->group_name[group] : "";
}

uint32_t fl_image_set_label(const fl_image_set *s, size_t i)
{
    return s->label[i];
}

uint32_t fl_image_set_class_size(const fl_image_set *s, unsigned cls)
{
    return cls < s->n_classes ? s->class_size[cls] : 0;
}

uint32_t fl_image_set_class_image(const fl_image_set *s, unsigned cls, uint32_t j)
{
    return s->by_class[s->class_start[cls] + j];
}

const uint8_t *fl_image_set_pixels(const fl_image_set *s, size_t i)
{
    return s->pix + i * s->rows * s->cols;
}

void fl_image_set_get(const fl_image_set *s, size_t i, float *out)
{
    const uint8_t *p = fl_image_set_pixels(s, i);
    size_t np = (size_t)s->rows * s->cols;
    for (size_t k = 0; k < np; k++)
        out[k] = (float)p[k] / 255.0f;
}
