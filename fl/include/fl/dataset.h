/* fl/dataset: labelled grey-image sets for few-shot tasks — Fashion-MNIST (IDX via fl_idx) and
 * Omniglot (PNG folders via libpng, downsampled to 28x28). Implements issue 3 item 2. */
#ifndef FL_DATASET_H
#define FL_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* An immutable set of images with class labels; classes may be grouped (Omniglot: a group is an
 * alphabet; Fashion-MNIST: each class is its own group). Pixels stored as bytes, 0 = background,
 * 255 = ink; fl_image_set_get scales them to [0, 1]. Read-only after load (thread-safe). */
typedef struct fl_image_set fl_image_set;

typedef enum fl_fmnist_split { FL_FMNIST_TRAIN, FL_FMNIST_TEST } fl_fmnist_split;

/* Loads dir/{train,t10k}-images-idx3-ubyte.gz and the matching labels-idx1 file. Validated: IDX
 * format (fl_idx_read), images ndim 3 with 28x28 images, labels ndim 1, equal counts, labels in
 * 0..9, every class present. Fashion-MNIST is stored with 0 = background, so pixels are kept as is.
 * Errors: AM_ENOTFOUND / AM_EIO / AM_EFORMAT with a message naming the path and
 * "install the Debian package dataset-fashion-mnist"; AM_EINVAL for NULL; AM_ENOMEM. */
am_status fl_fmnist_load(const char *dir, fl_fmnist_split split, fl_image_set **out);

/* Loads dir/subset/ALPHABET/CHARACTER/NAME.png (the standard Omniglot layout, subset e.g.
 * "images_background" or "images_evaluation"). Every PNG (any bit depth / colour type; colour is
 * converted to grey) is inverted so that ink = 1 (Omniglot draws dark strokes on white) and
 * area-averaged to 28x28. Alphabets and characters are sorted by name (strcmp) so class ids are
 * reproducible; class = one character, group = its alphabet. Files not ending in ".png" are
 * ignored; character folders without PNGs are skipped.
 * Errors: AM_ENOTFOUND (missing folder, or no character found: message names the path and says
 * to download Omniglot's images_background/ images_evaluation), AM_EFORMAT (corrupt PNG: names
 * the file), AM_EIO, AM_ENOMEM. */
am_status fl_omniglot_load(const char *dir, const char *subset, fl_image_set **out);

void fl_image_set_destroy(fl_image_set *s); /* NULL is a no-op */

size_t fl_image_set_size(const fl_image_set *s);   /* number of images */
unsigned fl_image_set_rows(const fl_image_set *s); /* 28 */
unsigned fl_image_set_cols(const fl_image_set *s); /* 28 */
unsigned fl_image_set_n_classes(const fl_image_set *s);
unsigned fl_image_set_n_groups(const fl_image_set *s);
unsigned fl_image_set_class_group(const fl_image_set *s, unsigned cls);
const char *fl_image_set_group_name(const fl_image_set *s, unsigned group); /* alphabet or "0".. */
uint32_t fl_image_set_label(const fl_image_set *s, size_t i);               /* class of image i */
uint32_t fl_image_set_class_size(const fl_image_set *s, unsigned cls);      /* images of a class */
/* j-th image (0 <= j < class_size) of class cls, as an image index. */
uint32_t fl_image_set_class_image(const fl_image_set *s, unsigned cls, uint32_t j);
const uint8_t *fl_image_set_pixels(const fl_image_set *s, size_t i); /* rows*cols bytes */
void fl_image_set_get(const fl_image_set *s, size_t i, float *out);  /* rows*cols in [0, 1] */

#endif
