/* fl/omniglot: Omniglot from the standard image folders (images_background/ALPHABET/characterNN/
 * *.png, images_evaluation/...), PNGs decoded with libpng and area-averaged to 28x28.
 * Issue 3 item 2. */
#include <dirent.h>
#include <errno.h>
#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dataset_priv.h"

#define OMNI_SIDE 28
#define OMNI_HINT                                                                                  \
    "point the data folder at the one holding Omniglot's images_background/ and "                  \
    "images_evaluation/ (github.com/brendenlake/omniglot, python/images_*.zip unzipped)"

typedef struct name_list {
    char **v;
    size_t n, cap;
} name_list;

static void names_free(name_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

static int names_push(name_list *l, const char *s)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        char **v = realloc(l->v, cap * sizeof *v);
        if (v == NULL)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n] = strdup(s);
    if (l->v[l->n] == NULL)
        return -1;
    l->n++;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t ns = strlen(s), nx = strlen(suffix);
    return ns >= nx && strcmp(s + ns - nx, suffix) == 0;
}

static am_status path_join(char *buf, size_t cap, const char *a, const char *b)
{
    int n = snprintf(buf, cap, "%s/%s", a, b);
    if (n < 0 || (size_t)n >= cap)
        return AM_FAIL(AM_EINVAL, "omniglot: path too long: %s/%s", a, b);
    return AM_OK;
}

/* Sorted names in dir: sub-folders (want_dirs) or regular files ending in ".png". */
static am_status list_dir(const char *dir, int want_dirs, name_list *out)
{
    DIR *d = opendir(dir);
    if (d == NULL) {
        if (errno == ENOENT || errno == ENOTDIR)
            return AM_FAIL(AM_ENOTFOUND, "%s: no such folder (%s)", dir, OMNI_HINT);
        return AM_FAIL(AM_EIO, "%s: %s", dir, strerror(errno));
    }
    am_status s = AM_OK;
    struct dirent *e;
    char path[4096];
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (!want_dirs && !ends_with(e->d_name, ".png"))
            continue;
        if ((s = path_join(path, sizeof path, dir, e->d_name)) != AM_OK)
            break;
        struct stat st;
        if (stat(path, &st) != 0)
            continue;
        if (want_dirs ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
            continue;
        if (names_push(out, e->d_name) != 0) {
            s = AM_FAIL(AM_ENOMEM, "omniglot: out of memory listing %s", dir);
            break;
        }
    }
    closedir(d);
    if (s != AM_OK)
        return s;
    if (out->n > 1)
        qsort(out->v, out->n, sizeof *out->v, cmp_str);
    return AM_OK;
}

/* Area average of an h x w grey image (0 = black) into OMNI_SIDE^2 bytes, inverted so that
 * ink = 255: output pixel (i, j) is the mean of 1 - grey/255 over the input area
 * [i*h/28, (i+1)*h/28) x [j*w/28, (j+1)*w/28), pixels weighted by their overlap. */
static void area_downsample(const uint8_t *in, unsigned h, unsigned w, uint8_t *out, float *tmp)
{
    /* rows first: tmp[i][x] = sum over input rows of overlap * ink */
    double sy = (double)h / OMNI_SIDE, sx = (double)w / OMNI_SIDE;
    for (unsigned i = 0; i < OMNI_SIDE; i++) {
        double y0 = i * sy, y1 = (i + 1) * sy;
        for (unsigned x = 0; x < w; x++)
            tmp[(size_t)i * w + x] = 0.0f;
        for (unsigned r = (unsigned)y0; r < h && (double)r < y1; r++) {
            double a = (double)r > y0 ? (double)r : y0, b = (double)(r + 1) < y1 ? r + 1.0 : y1;
            float wt = (float)(b - a);
            if (wt <= 0.0f)
                continue;
            for (unsigned x = 0; x < w; x++)
                tmp[(size_t)i * w + x] += wt * (1.0f - (float)in[(size_t)r * w + x] / 255.0f);
        }
    }
    for (unsigned i = 0; i < OMNI_SIDE; i++) {
        for (unsigned j = 0; j < OMNI_SIDE; j++) {
            double x0 = j * sx, x1 = (j + 1) * sx, acc = 0.0;
            for (unsigned c = (unsigned)x0; c < w && (double)c < x1; c++) {
                double a = (double)c > x0 ? (double)c : x0, b = (double)(c + 1) < x1 ? c + 1.0 : x1;
                if (b > a)
                    acc += (b - a) * tmp[(size_t)i * w + c];
            }
            double v = acc / (sx * sy);
            v = v < 0.0 ? 0.0 : v > 1.0 ? 1.0 : v;
            out[(size_t)i * OMNI_SIDE + j] = (uint8_t)(v * 255.0 + 0.5);
        }
    }
}

typedef struct omni_item {
    char *path;
    uint32_t cls;
} omni_item;

am_status fl_omniglot_load(const char *dir, const char *subset, fl_image_set **out)
{
    if (out == NULL || dir == NULL || subset == NULL)
        return AM_FAIL(AM_EINVAL, "fl_omniglot_load: NULL argument");
    *out = NULL;
    char root[4096], apath[4096], cpath[4096], fpath[4096];
    am_status s = path_join(root, sizeof root, dir, subset);
    if (s != AM_OK)
        return s;

    name_list alphabets = {0};
    name_list chars = {0};
    name_list files = {0};
    omni_item *items = NULL;
    size_t n_items = 0, cap_items = 0;
    unsigned *class_group = NULL;
    size_t n_classes = 0, cap_classes = 0;
    fl_image_set *set = NULL;
    uint8_t *pixbuf = NULL;
    float *tmp = NULL;
    size_t pixcap = 0;
    size_t tmpcap = 0;

    if ((s = list_dir(root, 1, &alphabets)) != AM_OK)
        goto done;
    for (size_t a = 0; a < alphabets.n; a++) {
        if ((s = path_join(apath, sizeof apath, root, alphabets.v[a])) != AM_OK)
            goto done;
        names_free(&chars);
        if ((s = list_dir(apath, 1, &chars)) != AM_OK)
            goto done;
        for (size_t c = 0; c < chars.n; c++) {
            if ((s = path_join(cpath, sizeof cpath, apath, chars.v[c])) != AM_OK)
                goto done;
            names_free(&files);
            if ((s = list_dir(cpath, 0, &files)) != AM_OK)
                goto done;
            if (files.n == 0)
                continue;
            if (n_classes == cap_classes) {
                cap_classes = cap_classes ? 2 * cap_classes : 256;
                unsigned *g = realloc(class_group, cap_classes * sizeof *g);
                if (g == NULL) {
                    s = AM_FAIL(AM_ENOMEM, "omniglot: out of memory");
                    goto done;
                }
                class_group = g;
            }
            class_group[n_classes] = (unsigned)a;
            for (size_t f = 0; f < files.n; f++) {
                if ((s = path_join(fpath, sizeof fpath, cpath, files.v[f])) != AM_OK)
                    goto done;
                if (n_items == cap_items) {
                    cap_items = cap_items ? 2 * cap_items : 1024;
                    omni_item *it = realloc(items, cap_items * sizeof *it);
                    if (it == NULL) {
                        s = AM_FAIL(AM_ENOMEM, "omniglot: out of memory");
                        goto done;
                    }
                    items = it;
                }
                items[n_items].path = strdup(fpath);
                if (items[n_items].path == NULL) {
                    s = AM_FAIL(AM_ENOMEM, "omniglot: out of memory");
                    goto done;
                }
                items[n_items].cls = (uint32_t)n_classes;
                n_items++;
            }
            n_classes++;
        }
    }
    if (n_classes == 0) {
        s = AM_FAIL(AM_ENOTFOUND, "%s: no ALPHABET/CHARACTER/*.png images found (%s)", root,
                    OMNI_HINT);
        goto done;
    }
    if ((s = fl_image_set_alloc(n_items, OMNI_SIDE, OMNI_SIDE, (unsigned)n_classes,
                                (unsigned)alphabets.n, &set)) != AM_OK)
        goto done;
    for (size_t a = 0; a < alphabets.n; a++) {
        set->group_name[a] = alphabets.v[a];
        alphabets.v[a] = NULL; /* moved */
    }
    memcpy(set->class_group, class_group, n_classes * sizeof *class_group);

    for (size_t i = 0; i < n_items; i++) {
        png_image img;
        memset(&img, 0, sizeof img);
        img.version = PNG_IMAGE_VERSION;
        if (!png_image_begin_read_from_file(&img, items[i].path)) {
            s = AM_FAIL(AM_EFORMAT, "%s: not a readable PNG: %s", items[i].path, img.message);
            png_image_free(&img);
            goto done;
        }
        img.format = PNG_FORMAT_GRAY;
        if (img.width == 0 || img.height == 0 || img.width > 4096 || img.height > 4096) {
            s = AM_FAIL(AM_EFORMAT, "%s: PNG of %ux%u pixels (1..4096 supported)", items[i].path,
                        img.width, img.height);
            png_image_free(&img);
            goto done;
        }
        size_t need = PNG_IMAGE_SIZE(img);
        if (need > pixcap) {
            free(pixbuf);
            pixbuf = malloc(need);
            pixcap = pixbuf ? need : 0;
        }
        size_t tneed = (size_t)OMNI_SIDE * img.width;
        if (tneed > tmpcap) {
            free(tmp);
            tmp = malloc(tneed * sizeof *tmp);
            tmpcap = tmp ? tneed : 0;
        }
        if (pixbuf == NULL || tmp == NULL) {
            png_image_free(&img);
            s = AM_FAIL(AM_ENOMEM, "omniglot: out of memory");
            goto done;
        }
        memset(pixbuf, 255, need); /* an alpha channel is composited onto white paper */
        if (!png_image_finish_read(&img, NULL, pixbuf, 0, NULL)) {
            s = AM_FAIL(AM_EFORMAT, "%s: corrupt PNG: %s", items[i].path, img.message);
            png_image_free(&img);
            goto done;
        }
        area_downsample(pixbuf, img.height, img.width, set->pix + i * OMNI_SIDE * OMNI_SIDE, tmp);
        set->label[i] = items[i].cls;
    }
    s = fl_image_set_index(set, root);

done:
    names_free(&alphabets);
    names_free(&chars);
    names_free(&files);
    for (size_t i = 0; i < n_items; i++)
        free(items[i].path);
    free(items);
    free(class_group);
    free(pixbuf);
    free(tmp);
    if (s != AM_OK) {
        fl_image_set_destroy(set);
        return s;
    }
    *out = set;
    return AM_OK;
}
