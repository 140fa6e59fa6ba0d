/* host/run/runcfg: see runcfg.h. */
#include "run/runcfg.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/file.h"
#include "util/crc32.h"
#include "util/fsutil.h"

size_t runcfg_opt_size(cli_kind k)
{
    switch (k) {
    case CLI_FLAG:
    case CLI_INT:
        return sizeof(int);
    case CLI_UINT:
        return sizeof(unsigned);
    case CLI_U64:
        return sizeof(uint64_t);
    case CLI_FLOAT:
        return sizeof(float);
    case CLI_DOUBLE:
        return sizeof(double);
    case CLI_STR:
    case CLI_CHOICE:
        return sizeof(const char *);
    }
    return 0;
}

cJSON *runcfg_opt_json(const cli_opt *op)
{
    switch (op->kind) {
    case CLI_FLAG:
        return cJSON_CreateBool(*(const int *)op->dst);
    case CLI_INT:
        return cJSON_CreateNumber(*(const int *)op->dst);
    case CLI_UINT:
        return cJSON_CreateNumber(*(const unsigned *)op->dst);
    case CLI_U64: {
        uint64_t v = *(const uint64_t *)op->dst;
        if (v <= (1ULL << 53))
            return cJSON_CreateNumber((double)v);
        char b[32];
        snprintf(b, sizeof b, "%" PRIu64, v);
        return cJSON_CreateString(b);
    }
    case CLI_FLOAT:
        return cJSON_CreateNumber((double)*(const float *)op->dst);
    case CLI_DOUBLE:
        return cJSON_CreateNumber(*(const double *)op->dst);
    case CLI_STR:
    case CLI_CHOICE: {
        const char *v = *(const char *const *)op->dst;
        return v ? cJSON_CreateString(v) : cJSON_CreateNull();
    }
    }
    return cJSON_CreateNull();
}

cJSON *runcfg_flags_json(const runcfg_class *c, const cli_opt *t, size_t n, int science_only)
{
    cJSON *f = cJSON_CreateObject();
    for (size_t k = 0; f && k < n; k++) {
        if (c->unstored(&t[k]) || (c->omitted && c->omitted(&t[k])) ||
            (science_only &&
             (c->runctl(&t[k]) || (c->crc_default && c->crc_default(&t[k])))))
            continue;
        cJSON *v = runcfg_opt_json(&t[k]);
        if (!v || !cJSON_AddItemToObject(f, t[k].name + 2, v)) {
            cJSON_Delete(v);
            cJSON_Delete(f);
            return NULL;
        }
    }
    return f;
}

am_status runcfg_parse(const char *path, const char *text, cJSON **out)
{
    *out = NULL;
    /* a backslash is an escape only inside strings (valid JSON has none elsewhere) */
    for (size_t i = 0; text && text[i]; i++) {
        if (text[i] != '\\')
            continue;
        if (text[i + 1] == 'u' && strncmp(text + i + 2, "0000", 4) == 0)
            return AM_FAIL(AM_EFORMAT, "%s: a string holds \\u0000 (a NUL) at byte %zu", path, i);
        if (text[i + 1])
            i++;
    }
    cJSON *j = text ? cJSON_Parse(text) : NULL;
    if (!j)
        return AM_FAIL(AM_EFORMAT, "%s: not valid JSON", path);
    *out = j;
    return AM_OK;
}

am_status runcfg_crc(const runcfg_class *c, const cli_opt *t, size_t n, const cJSON *order,
                     uint32_t *crc)
{
    cJSON *f = runcfg_flags_json(c, t, n, 1);
    if (f && cJSON_IsObject(order)) { /* the stored configuration's order, whatever the table's */
        cJSON *g = cJSON_CreateObject();
        const cJSON *it;
        cJSON_ArrayForEach(it, order)
        {
            cJSON *v = cJSON_DetachItemFromObjectCaseSensitive(f, it->string);
            if (v && g)
                cJSON_AddItemToObject(g, it->string, v);
            else
                cJSON_Delete(v);
        }
        cJSON_Delete(f);
        f = g;
    }
    char *s = f ? cJSON_PrintUnformatted(f) : NULL;
    cJSON_Delete(f);
    if (!s)
        return AM_FAIL(AM_ENOMEM, "config: out of memory");
    *crc = crc32_bytes(s, strlen(s));
    cJSON_free(s);
    return AM_OK;
}

/* One stored value as arguments: the flag (and its value, formatted into b when a number). */
static am_status put_value(const char *path, const cli_opt *op, const cJSON *it, char *b,
                           runcfg_argv *a)
{
    const int integral = op->kind == CLI_INT || op->kind == CLI_UINT || op->kind == CLI_U64;
    const int textual = op->kind == CLI_STR || op->kind == CLI_CHOICE;
    if (op->kind == CLI_FLAG) {
        if (!cJSON_IsBool(it))
            return AM_FAIL(AM_EFORMAT, "%s: \"%s\" must be true or false", path, it->string);
        if (cJSON_IsTrue(it))
            a->v[a->n++] = (char *)op->name;
    } else if (cJSON_IsNull(it)) {
        if (!textual)
            return AM_FAIL(AM_EFORMAT, "%s: \"%s\" is null", path, it->string);
    } else if (cJSON_IsString(it)) {
        if (!textual && op->kind != CLI_U64)
            return AM_FAIL(AM_EFORMAT, "%s: \"%s\" must be a number", path, it->string);
        a->v[a->n++] = (char *)op->name;
        a->v[a->n++] = it->valuestring;
    } else if (cJSON_IsNumber(it) && !textual) {
        const double x = it->valuedouble;
        if (integral && !(x == floor(x) && fabs(x) <= 9007199254740992.0))
            return AM_FAIL(AM_EFORMAT, "%s: \"%s\" is not a whole number", path, it->string);
        snprintf(b, 32, integral ? "%.0f" : "%.17g", x);
        a->v[a->n++] = (char *)op->name;
        a->v[a->n++] = b;
    } else {
        return AM_FAIL(AM_EFORMAT, "%s: \"%s\" has the wrong type", path, it->string);
    }
    return AM_OK;
}

am_status runcfg_argv_make(const runcfg_class *c, const char *path, const cJSON *flags,
                           const cli_opt *t, size_t nt, runcfg_argv *a)
{
    memset(a, 0, sizeof *a);
    if (!cJSON_IsObject(flags))
        return AM_FAIL(AM_EFORMAT, "%s: no \"flags\" object (a run of an older version cannot be "
                                   "resumed)",
                       path);
    a->v = calloc(2 * nt + 2, sizeof *a->v);
    a->store = calloc(nt ? nt : 1, 32);
    unsigned char *seen = calloc(nt ? nt : 1, 1);
    if (!a->v || !a->store || !seen) {
        free(seen);
        return AM_FAIL(AM_ENOMEM, "out of memory");
    }
    a->v[a->n++] = (char *)c->command;
    am_status s = AM_OK;
    const cJSON *it;
    cJSON_ArrayForEach(it, flags)
    {
        size_t k = 0;
        while (k < nt && (c->unstored(&t[k]) || strcmp(t[k].name + 2, it->string) != 0))
            k++;
        if (k == nt)
            s = AM_FAIL(AM_EFORMAT, "%s: unknown flag \"%s\"", path, it->string);
        else if (seen[k]++)
            s = AM_FAIL(AM_EFORMAT, "%s: flag \"%s\" given twice", path, it->string);
        else
            s = put_value(path, &t[k], it, a->store + 32 * k, a);
        if (s != AM_OK)
            break;
    }
    for (size_t k = 0; s == AM_OK && k < nt; k++)
        if (!c->unstored(&t[k]) && !seen[k] && !(c->added_later && c->added_later(t[k].name)))
            s = AM_FAIL(AM_EFORMAT, "%s: no value for %s", path, t[k].name);
    free(seen);
    a->v[a->n] = NULL;
    return s;
}

void runcfg_argv_free(runcfg_argv *a)
{
    if (!a)
        return;
    free(a->v);
    free(a->store);
    memset(a, 0, sizeof *a);
}

void runcfg_given(const cli_opt *t, size_t n, int argc, char **argv, unsigned char *given)
{
    memset(given, 0, n);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--") == 0)
            break;
        if (a[0] != '-' || a[1] != '-')
            continue;
        const char *eq = strchr(a, '=');
        size_t len = eq ? (size_t)(eq - a) : strlen(a);
        for (size_t k = 0; k < n; k++)
            if (strlen(t[k].name) == len && strncmp(t[k].name, a, len) == 0) {
                given[k] = 1;
                if (t[k].kind != CLI_FLAG && !eq)
                    i++;
                break;
            }
    }
}

am_status runcfg_same(const char *dir, const char *path, const cli_opt *mine, const cli_opt *run)
{
    cJSON *a = runcfg_opt_json(mine), *b = runcfg_opt_json(run);
    const int same = a && b && cJSON_Compare(a, b, 1);
    char *sa = a ? cJSON_PrintUnformatted(a) : NULL, *sb = b ? cJSON_PrintUnformatted(b) : NULL;
    am_status s = AM_OK;
    if (!same)
        s = AM_FAIL(AM_EINVAL,
                    "--resume %s: %s %s conflicts with the run's %s (%s); leave it out to "
                    "continue the run as configured, or start a new run with --out",
                    dir, run->name, sa ? sa : "?", sb ? sb : "?", path);
    cJSON_free(sa);
    cJSON_free(sb);
    cJSON_Delete(a);
    cJSON_Delete(b);
    return s;
}

am_status runcfg_take_given(const runcfg_class *c, const char *dir, const char *path,
                            const cli_opt *mine, const cli_opt *run)
{
    if (!strcmp(run->name, "--out")) {
        const char *out = *(const char *const *)mine->dst;
        if (!out || strcmp(out, dir) != 0)
            return AM_FAIL(AM_EINVAL,
                           "--resume %s continues in that folder: --out %s conflicts with it", dir,
                           out ? out : "?");
        return AM_OK;
    }
    if (c->runctl(run)) { /* this session's choice */
        memcpy(run->dst, mine->dst, runcfg_opt_size(run->kind));
        return AM_OK;
    }
    return runcfg_same(dir, path, mine, run);
}

am_status runcfg_cut_rounds(const char *path, unsigned keep, int strict)
{
    FILE *f = NULL; /* regular files only: a FIFO there must not block */
    am_status os = am_fopen_regular(path, strict ? "r" : "a+", &f);
    if (os == AM_ENOTFOUND && strict && keep == 0)
        os = am_fopen_regular(path, "w+", &f);
    if (os != AM_OK)
        return os;
    rewind(f);
    char *line = NULL;
    size_t cap = 0, len = 0;
    unsigned have = 0;
    off_t off = 0;
    am_status s = AM_OK;
    while (have < keep &&
           (s = fs_read_line(f, FS_JSONL_LINE_MAX, path, have + 1, &line, &cap, &len)) == AM_OK &&
           len > 0) {
        if (line[len - 1] != '\n')
            break; /* cut by the crash */
        cJSON *o = cJSON_ParseWithLength(line, len);
        const cJSON *r = cJSON_GetObjectItemCaseSensitive(o, "round");
        double rd = cJSON_IsNumber(r) ? r->valuedouble : -1;
        cJSON_Delete(o);
        if (rd != (double)(have + 1)) {
            if (strict)
                s = AM_FAIL(AM_EFORMAT, "%s:%u: not round %u's line", path, have + 1, have + 1);
            break;
        }
        have++;
        off += (off_t)len;
    }
    free(line);
    fclose(f);
    if (s == AM_OK && strict && have < keep)
        s = AM_FAIL(AM_EFORMAT,
                    "%s: holds %u complete rounds, the checkpoint is at round %u (rounds are "
                    "missing; start a new run)",
                    path, have, keep);
    if (s == AM_OK && truncate(path, off) != 0)
        s = AM_FAIL(AM_EIO, "%s: cannot truncate: %s", path, strerror(errno));
    return s;
}
