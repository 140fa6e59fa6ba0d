#include "util/cli.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *cli_num(char *buf, size_t cap, double v)
{
    static const char *const fmt[] = {"%g", "%.15g", "%.17g"};
    for (size_t i = 0; i < sizeof fmt / sizeof fmt[0]; i++) {
        snprintf(buf, cap, fmt[i], v);
        if (strtod(buf, NULL) == v)
            break;
    }
    return buf;
}

void cli_print_help(const cli_cmd *cmd)
{
    printf("usage: %s %s\n\n%s\n", cmd->name, cmd->usage, cmd->summary);
    if (cmd->nopts)
        printf("\noptions:\n");
    for (size_t i = 0; i < cmd->nopts; i++) {
        const cli_opt *o = &cmd->opts[i];
        if (!o->help)
            continue; /* hidden: test hooks */
        const char *arg = "";
        switch (o->kind) {
        case CLI_FLAG: arg = ""; break;
        case CLI_INT:
        case CLI_UINT:
        case CLI_U64: arg = " N"; break;
        case CLI_FLOAT:
        case CLI_DOUBLE: arg = " X"; break;
        case CLI_STR: arg = " S"; break;
        case CLI_CHOICE: arg = " CHOICE"; break;
        }
        char head[64];
        snprintf(head, sizeof head, "%s%s", o->name, arg);
        printf("  %-22s %s", head, o->help);
        if (o->kind == CLI_CHOICE)
            printf(" (%s)", o->choices);
        else if (o->min <= o->max && o->kind != CLI_FLAG && o->kind != CLI_STR)
            printf(" [%s..%s]", CLI_NUM(o->min), CLI_NUM(o->max));
        printf("\n");
    }
    printf("  %-22s %s\n", "--help", "show this help");
}

/* Decimal digits only, '-' first when allowed: strtoll's base 0 would read 010 as 8 and 0x10 as 16,
 * and base 10 alone takes leading blanks and '+'. Leading zeros are decimal (010 is 10). */
static int is_decimal(const char *v, int sign_ok)
{
    if (sign_ok && *v == '-')
        v++;
    if (!*v)
        return 0;
    for (; *v; v++)
        if (*v < '0' || *v > '9')
            return 0;
    return 1;
}

/* A decimal real: digits, sign, point and exponent only (no hex floats such as 0x1p4) */
static int is_decimal_real(const char *v)
{
    return *v != '\0' && v[strspn(v, "0123456789+-.eE")] == '\0';
}

/* The value as messages name it: "--flag: '5'" or, with a key, "radio 'loop': ring='5'" */
#define VAL_FMT "%s: %s%s"
#define VAL_ARGS(name, key) (name), (key) ? (key) : "", (key) ? "=" : ""

am_status cli_whole(const char *name, const char *key, const char *v, int is_signed, double min,
                    double max, long long *sx, unsigned long long *ux)
{
    char *end = NULL;
    errno = 0;
    if (*v == '\0')
        return key ? AM_FAIL(AM_EINVAL, "%s: key '%s' needs a value", name, key)
                   : AM_FAIL(AM_EINVAL, "%s: empty value", name);
    if (!is_signed && *v == '-')
        return AM_FAIL(AM_EINVAL, VAL_FMT "'%s' is negative", VAL_ARGS(name, key), v);
    if (!is_decimal(v, is_signed))
        return AM_FAIL(AM_EINVAL, VAL_FMT "'%s' is not a whole number (decimal digits only)",
                       VAL_ARGS(name, key), v);
    double d;
    if (is_signed) {
        *sx = strtoll(v, &end, 10);
        d = (double)*sx;
    } else {
        *ux = strtoull(v, &end, 10);
        d = (double)*ux;
    }
    if (errno || *end != '\0')
        return AM_FAIL(AM_EINVAL, VAL_FMT "'%s' is out of range", VAL_ARGS(name, key), v);
    if (min <= max && (d < min || d > max))
        return AM_FAIL(AM_EINVAL, VAL_FMT "%s is outside %s..%s", VAL_ARGS(name, key), v,
                       CLI_NUM(min), CLI_NUM(max));
    return AM_OK;
}

am_status cli_real(const char *name, const char *key, const char *v, int single, double min,
                   double max, double *out)
{
    char *end = NULL;
    errno = 0;
    double x = strtod(v, &end); /* ERANGE: infinite (caught) or below DBL_MIN (ranged) */
    if (*v == '\0' || *end != '\0' || !isfinite(x))
        return AM_FAIL(AM_EINVAL, VAL_FMT "'%s' is not a finite number", VAL_ARGS(name, key), v);
    if (!is_decimal_real(v))
        return AM_FAIL(AM_EINVAL, VAL_FMT "'%s' is not a decimal number", VAL_ARGS(name, key), v);
    if (min <= max && (x < min || x > max))
        return AM_FAIL(AM_EINVAL, VAL_FMT "%s is outside %s..%s", VAL_ARGS(name, key), v,
                       CLI_NUM(min), CLI_NUM(max));
    /* a number that is not 0 read as 0 (1e-400; a float's 1e-50): not what was asked */
    if ((x == 0.0 && errno == ERANGE) || (single && x != 0.0 && (float)x == 0.0f))
        return AM_FAIL(AM_EINVAL, VAL_FMT "%s is too small to tell from 0", VAL_ARGS(name, key),
                       v);
    *out = x;
    return AM_OK;
}

static am_status parse_value(const cli_opt *o, const char *v)
{
    switch (o->kind) {
    case CLI_FLAG: *(int *)o->dst = 1; return AM_OK;
    case CLI_STR: *(const char **)o->dst = v; return AM_OK;
    case CLI_CHOICE: {
        size_t n = strlen(v);
        const char *c = o->choices;
        while (c && *c) {
            const char *bar = strchr(c, '|');
            size_t len = bar ? (size_t)(bar - c) : strlen(c);
            if (len == n && strncmp(c, v, n) == 0) {
                *(const char **)o->dst = v;
                return AM_OK;
            }
            c = bar ? bar + 1 : NULL;
        }
        return AM_FAIL(AM_EINVAL, "%s: '%s' is not one of %s", o->name, v, o->choices);
    }
    case CLI_INT:
    case CLI_UINT:
    case CLI_U64: {
        long long x = 0;
        unsigned long long ux = 0;
        am_status s = cli_whole(o->name, NULL, v, o->kind == CLI_INT, o->min, o->max, &x, &ux);
        if (s != AM_OK)
            return s;
        if (o->kind == CLI_INT) {
            if (x < -2147483647LL || x > 2147483647LL)
                return AM_FAIL(AM_EINVAL, "%s: %s is out of range", o->name, v);
            *(int *)o->dst = (int)x;
        } else if (o->kind == CLI_UINT) {
            if (ux > 4294967295ULL)
                return AM_FAIL(AM_EINVAL, "%s: %s is out of range", o->name, v);
            *(unsigned *)o->dst = (unsigned)ux;
        } else {
            *(uint64_t *)o->dst = (uint64_t)ux;
        }
        return AM_OK;
    }
    case CLI_FLOAT:
    case CLI_DOUBLE: {
        double x = 0;
        am_status s = cli_real(o->name, NULL, v, o->kind == CLI_FLOAT, o->min, o->max, &x);
        if (s != AM_OK)
            return s;
        if (o->kind == CLI_FLOAT)
            *(float *)o->dst = (float)x;
        else
            *(double *)o->dst = x;
        return AM_OK;
    }
    }
    return AM_FAIL(AM_EINVAL, "%s: unknown option kind", o->name);
}

am_status cli_parse(const cli_cmd *cmd, int argc, char **argv, const char **pos, size_t *npos)
{
    *npos = 0;
    int only_pos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!only_pos && strcmp(a, "--") == 0) {
            only_pos = 1;
            continue;
        }
        if (!only_pos && (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)) {
            cli_print_help(cmd);
            return AM_ENOTFOUND;
        }
        if (!only_pos && a[0] == '-' && a[1] == '-') {
            const char *eq = strchr(a, '=');
            size_t len = eq ? (size_t)(eq - a) : strlen(a);
            const cli_opt *o = NULL;
            for (size_t k = 0; k < cmd->nopts; k++)
                if (strlen(cmd->opts[k].name) == len && strncmp(cmd->opts[k].name, a, len) == 0)
                    o = &cmd->opts[k];
            if (!o)
                return AM_FAIL(AM_EINVAL, "unknown option '%.*s' (see %s --help)", (int)len, a,
                               cmd->name);
            const char *v = NULL;
            if (o->kind == CLI_FLAG) {
                if (eq)
                    return AM_FAIL(AM_EINVAL, "%s takes no value", o->name);
            } else if (eq) {
                v = eq + 1;
            } else {
                if (i + 1 >= argc)
                    return AM_FAIL(AM_EINVAL, "%s needs a value", o->name);
                v = argv[++i];
            }
            am_status s = parse_value(o, v);
            if (s != AM_OK)
                return s;
            continue;
        }
        if (*npos >= cmd->max_pos)
            return AM_FAIL(AM_EINVAL, "unexpected argument '%s' (see %s --help)", a, cmd->name);
        pos[(*npos)++] = a;
    }
    if (*npos < cmd->min_pos)
        return AM_FAIL(AM_EINVAL, "missing argument: usage: %s %s", cmd->name, cmd->usage);
    return AM_OK;
}

int cli_fail(const char *cmd, am_status s)
{
    fprintf(stderr, "airmeta %s: %s\n", cmd, am_last_error());
    return am_status_exit_code(s);
}

int cli_isatty_stdout(void)
{
    return isatty(STDOUT_FILENO);
}
