/* fl/fmnist: Fashion-MNIST from the Debian package dataset-fashion-mnist (gzip IDX files).
 * Issue 3 item 2. */
#include <stdio.h>
#include <string.h>

#include "dataset_priv.h"
#include "fl/idx.h"

#define FMNIST_HINT "install the Debian package dataset-fashion-mnist"
#define FMNIST_CLASSES 10
#define FMNIST_SIDE 28

static const char *const fmnist_names[FMNIST_CLASSES] = {
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

am_status fl_fmnist_load(const char *dir, fl_fmnist_split split, fl_image_set **out)
{
    if (out == NULL || dir == NULL)
        return AM_FAIL(AM_EINVAL, "fl_fmnist_load: NULL argument");
    *out = NULL;
    if (split != FL_FMNIST_TRAIN && split != FL_FMNIST_TEST)
        return AM_FAIL(AM_EINVAL, "fl_fmnist_load: bad split %d", (int)split);
    const char *stem = split == FL_FMNIST_TRAIN ? "train" : "t10k";
    char ipath[4096], lpath[4096];
    int ni = snprintf(ipath, sizeof ipath, "%s/%s-images-idx3-ubyte.gz", dir, stem);
    int nl = snprintf(lpath, sizeof lpath, "%s/%s-labels-idx1-ubyte.gz", dir, stem);
    if (ni < 0 || nl < 0 || (size_t)ni >= sizeof ipath || (size_t)nl >= sizeof lpath)
        return AM_FAIL(AM_EINVAL, "fashion-mnist: folder path too long: %s", dir);

    fl_idx *img = NULL, *lab = NULL;
    fl_image_set *s = NULL;
    am_status st = fl_idx_read(ipath, 3, &img);
    if (st != AM_OK)
        return am_error_wrap(st, "fashion-mnist (%s)", FMNIST_HINT);
    st = fl_idx_read(lpath, 1, &lab);
    if (st != AM_OK) {
        am_error_wrap(st, "fashion-mnist (%s)", FMNIST_HINT);
        goto fail;
    }
    if (fl_idx_dim(img, 1) != FMNIST_SIDE || fl_idx_dim(img, 2) != FMNIST_SIDE) {
        st = AM_FAIL(AM_EFORMAT, "%s: images are %ux%u, expected 28x28 (%s)", ipath,
                     fl_idx_dim(img, 1), fl_idx_dim(img, 2), FMNIST_HINT);
        goto fail;
    }
    size_t n = fl_idx_dim(img, 0);
    if (fl_idx_dim(lab, 0) != n) {
        st = AM_FAIL(AM_EFORMAT, "%s has %zu images but %s has %u labels (%s)", ipath, n, lpath,
                     fl_idx_dim(lab, 0), FMNIST_HINT);
        goto fail;
    }
    st = fl_image_set_alloc(n, FMNIST_SIDE, FMNIST_SIDE, FMNIST_CLASSES, FMNIST_CLASSES, &s);
    if (st != AM_OK)
        goto fail;
    const uint8_t *lb = fl_idx_data(lab);
    for (size_t i = 0; i < n; i++) {
        if (lb[i] >= FMNIST_CLASSES) {
            st = AM_FAIL(AM_EFORMAT, "%s: label %u of image %zu outside 0..9 (%s)", lpath, lb[i], i,
                         FMNIST_HINT);
            goto fail;
        }
        s->label[i] = lb[i];
    }
    memcpy(s->pix, fl_idx_data(img), n * FMNIST_SIDE * FMNIST_SIDE);
    for (unsigned c = 0; c < FMNIST_CLASSES; c++) {
        s->class_group[c] = c;
        s->group_name[c] = strdup(fmnist_names[c]);
        if (s->group_name[c] == NULL) {
            st = AM_FAIL(AM_ENOMEM, "fashion-mnist: out of memory");
            goto fail;
        }
    }
    st = fl_image_set_index(s, lpath);
    if (st != AM_OK) {
        am_error_wrap(st, "fashion-mnist (%s)", FMNIST_HINT);
        goto fail;
    }
    fl_idx_destroy(img);
    fl_idx_destroy(lab);
    *out = s;
    return AM_OK;
fail:
    fl_idx_destroy(img);
    fl_idx_destroy(lab);
    fl_image_set_destroy(s);
    return st;
}
