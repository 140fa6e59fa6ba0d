/* host/cli: table-driven command-line options for the airmeta subcommands.
 * Every flag is validated (type, range); a bad flag gets a message naming it. */
#ifndef AM_HOST_CLI_H
#define AM_HOST_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef enum cli_kind {
    CLI_FLAG,   /* int, set to 1 when present */
    CLI_INT,    /* int */
    CLI_UINT,   /* unsigned */
    CLI_U64,    /* uint64_t */
    CLI_FLOAT,  /* float */
    CLI_DOUBLE, /* double */
    CLI_STR,    /* const char * (points into argv) */
    CLI_CHOICE  /* const char *, must be one of choices ("a|b|c") */
} cli_kind;

typedef struct cli_opt {
    const char *name; /* "--snr-db" */
    cli_kind kind;
    void *dst;
    const char *help;    /* NULL: hidden from --help (test hooks) */
    double min, max;     /* numeric range, inclusive; ignored when min > max */
    const char *choices; /* CLI_CHOICE: "ideal|stat|iq" */
} cli_opt;

typedef struct cli_cmd {
    const char *name;    /* "airmeta replay" */
    const char *usage;   /* "CAPTURE.sigmf-meta --out V.f32 [--json]" */
    const char *summary; /* one paragraph */
    const cli_opt *opts;
    size_t nopts;
    size_t min_pos, max_pos; /* positional argument count */
} cli_cmd;

/* Parses argv[1..argc) (argv[0] is the subcommand). Positional arguments are stored in pos
 * (capacity max_pos). Returns AM_OK, AM_EINVAL with a message, or AM_ENOTFOUND when --help was
 * printed (the caller exits 0). */
am_status cli_parse(const cli_cmd *cmd, int argc, char **argv, const char **pos, size_t *npos);
void cli_print_help(const cli_cmd *cmd);

/* The number rules behind cli_parse, for other parsers of user text (--radio-args' key=value):
 * decimal only (no hex, blanks or '+'), finite, within min..max when min <= max, and not a number
 * that is not 0 read as 0 (1e-400; 1e-50 when single: it is stored as a float). Messages name the
 * value as "NAME: 'v' ..." or, with a key, "NAME: key='v' ...". A whole number is read into *sx
 * when is_signed (a leading '-' allowed), else into *ux. */
am_status cli_whole(const char *name, const char *key, const char *v, int is_signed, double min,
                    double max, long long *sx, unsigned long long *ux);
am_status cli_real(const char *name, const char *key, const char *v, int single, double min,
                   double max, double *out);

/* Print the thread's last error as "airmeta CMD: message" and return the exit code. */
int cli_fail(const char *cmd, am_status s);

/* A range bound as text: %g when it reads back as v (1e+07, 0.45), else the shortest exact form
 * (16777216, not %g's 1.67772e+07, which read "16777217 is outside 1..1.67772e+07"). */
const char *cli_num(char *buf, size_t cap, double v);
#define CLI_NUM_MAX 32
#define CLI_NUM(v) cli_num((char[CLI_NUM_MAX]){0}, CLI_NUM_MAX, (v))

/* Whether stdout is a terminal (progress bars) */
int cli_isatty_stdout(void);

#endif
