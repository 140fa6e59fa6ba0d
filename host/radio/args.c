/* host/radio/args: the "key=value,..." parser behind --radio-args (radio.h "Arguments"). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "radio/radio.h"
#include "util/cli.h"

static void trim(const char **b, const char **e)
{
    while (*b < *e && isspace((unsigned char)**b))
        (*b)++;
    while (*e > *b && isspace((unsigned char)(*e)[-1]))
        (*e)--;
}

static void known_keys(const radio_arg_spec *spec, size_t nspec, char *buf, size_t cap)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < nspec && used + 1 < cap; i++) {
        int w = snprintf(buf + used, cap - used, "%s%s", i ? ", " : "", spec[i].key);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

/* Numbers follow the command line's rules (cli_whole, cli_real): the same strictness and words */
static am_status check_value(const radio_arg_spec *sp, const char *v, const char *what)
{
    switch (sp->kind) {
    case RADIO_ARG_STR: return AM_OK;
    case RADIO_ARG_CHOICE: {
        size_t n = strlen(v);
        for (const char *c = sp->choices; c && *c;) {
            const char *bar = strchr(c, '|');
            size_t len = bar ? (size_t)(bar - c) : strlen(c);
            if (len == n && strncmp(c, v, n) == 0)
                return AM_OK;
            c = bar ? bar + 1 : NULL;
        }
        return AM_FAIL(AM_EINVAL, "%s: %s='%s' is not one of %s", what, sp->key, v, sp->choices);
    }
    case RADIO_ARG_INT: {
        long long x;
        unsigned long long ux;
        return cli_whole(what, sp->key, v, 1, sp->min, sp->max, &x, &ux);
    }
    case RADIO_ARG_DOUBLE:
    case RADIO_ARG_FLOAT: {
        double x;
        return cli_real(what, sp->key, v, sp->kind == RADIO_ARG_FLOAT, sp->min, sp->max, &x);
    }
    }
    return AM_FAIL(AM_EINVAL, "%s: key '%s' has an unknown kind", what, sp->key);
}

am_status radio_args_parse(
    const char *s, const radio_arg_spec *spec, size_t nspec, const char *what, radio_args *out)
{
    if (!out || (nspec && !spec))
        return AM_FAIL(AM_EINVAL, "radio_args_parse: NULL argument");
    if (!what)
        what = "radio args";
    out->n = 0;
    if (!s)
        return AM_OK;
    const char *p = s;
    {
        const char *e = s + strlen(s);
        trim(&p, &e);
        if (p == e)
            return AM_OK;
    }
    for (;;) {
        const char *comma = strchr(p, ',');
        const char *ie = comma ? comma : p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(ie - p));
        const char *kb = p, *ke = eq ? eq : ie;
        trim(&kb, &ke);
        if (kb == ke)
            return AM_FAIL(AM_EINVAL, "%s: empty key in '%s' (expected key=value,...)", what, s);
        size_t klen = (size_t)(ke - kb);
        const radio_arg_spec *sp = NULL;
        for (size_t i = 0; i < nspec; i++)
            if (strlen(spec[i].key) == klen && strncmp(spec[i].key, kb, klen) == 0)
                sp = &spec[i];
        if (!sp) {
            char keys[512];
            known_keys(spec, nspec, keys, sizeof keys);
            return AM_FAIL(AM_EINVAL, "%s: unknown key '%.*s' (known: %s)", what, (int)klen, kb,
                           nspec ? keys : "none");
        }
        if (!eq)
            return AM_FAIL(AM_EINVAL, "%s: key '%s' needs a value (%s=...)", what, sp->key,
                           sp->key);
        const char *vb = eq + 1, *ve = ie;
        trim(&vb, &ve);
        size_t vlen = (size_t)(ve - vb);
        if (vlen == 0)
            return AM_FAIL(AM_EINVAL, "%s: key '%s' needs a value", what, sp->key);
        if (vlen >= RADIO_ARG_VAL_MAX)
            return AM_FAIL(AM_EINVAL, "%s: value of '%s' is longer than %d characters", what,
                           sp->key, RADIO_ARG_VAL_MAX - 1);
        for (size_t i = 0; i < out->n; i++)
            if (strcmp(out->kv[i].key, sp->key) == 0)
                return AM_FAIL(AM_EINVAL, "%s: key '%s' given twice", what, sp->key);
        if (out->n >= RADIO_ARGS_MAX)
            return AM_FAIL(AM_EINVAL, "%s: more than %d keys", what, RADIO_ARGS_MAX);
        if (strlen(sp->key) >= RADIO_ARG_KEY_MAX)
            return AM_FAIL(AM_EINVAL, "%s: key '%s' too long", what, sp->key);
        char val[RADIO_ARG_VAL_MAX];
        memcpy(val, vb, vlen);
        val[vlen] = '\0';
        am_status st = check_value(sp, val, what);
        if (st != AM_OK)
            return st;
        strcpy(out->kv[out->n].key, sp->key);
        strcpy(out->kv[out->n].val, val);
        out->n++;
        if (!comma)
            break;
        p = comma + 1;
    }
    return AM_OK;
}

static const char *find(const radio_args *a, const char *key)
{
    if (!a || !key)
        return NULL;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->kv[i].key, key) == 0)
            return a->kv[i].val;
    return NULL;
}

int radio_args_has(const radio_args *a, const char *key)
{
    return find(a, key) != NULL;
}

const char *radio_args_str(const radio_args *a, const char *key, const char *dflt)
{
    const char *v = find(a, key);
    return v ? v : dflt;
}

double radio_args_double(const radio_args *a, const char *key, double dflt)
{
    const char *v = find(a, key);
    return v ? strtod(v, NULL) : dflt;
}

int64_t radio_args_int(const radio_args *a, const char *key, int64_t dflt)
{
    const char *v = find(a, key);
    return v ? (int64_t)strtoll(v, NULL, 10) : dflt; /* checked decimal by radio_args_parse */
}
