/* host/run/runcfg: a run's configuration as the "flags" object of its config.json, shared by the
 * runs that resume (sim, server). A command describes its flags once (runcfg_class: which are not
 * stored, which are run control); from its option table (host/util/cli.h) this module writes the
 * flags as JSON, takes the configuration's CRC (what a checkpoint must match), turns a stored
 * "flags" object back into arguments for the command's own parser (so a config.json from outside
 * is validated as a command line is) and checks a flag given again on --resume against the run's. */
#ifndef AM_HOST_RUN_RUNCFG_H
#define AM_HOST_RUN_RUNCFG_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "util/cli.h"

typedef struct runcfg_class {
    const char *command;                 /* argv[0] of runcfg_argv ("sim", "server") */
    int (*unstored)(const cli_opt *op);  /* not in config.json (where the run is, test hooks) */
    int (*runctl)(const cli_opt *op);    /* stored, but how the run executes: not in the CRC */
    int (*crc_default)(const cli_opt *op); /* NULL or: left out of the CRC at its value now
                                              (a flag added later, at its default) */
    int (*added_later)(const char *name);  /* NULL or: may be missing from an older config.json */
    int (*omitted)(const cli_opt *op);     /* NULL or: not written to config.json at its value now
                                              (an added_later flag at its default: config.json
                                              keeps the bytes of a run before the flag) */
} runcfg_class;

/* A config.json's text (path for messages) parsed: AM_EFORMAT "PATH: not valid JSON", or naming
 * the byte where a string holds the escape \u0000 (cJSON ends its string there: "sinusoid\u0000x"
 * read as "sinusoid", a value the file does not say). On success *out (cJSON_Delete it). */
am_status runcfg_parse(const char *path, const char *text, cJSON **out);

/* Bytes of the value a flag of kind k points to. */
size_t runcfg_opt_size(cli_kind k);

/* The flag's value as JSON: numbers, strings (null when unset), booleans; a 64-bit integer a
 * double cannot hold exactly is a decimal string. NULL when out of memory. */
cJSON *runcfg_opt_json(const cli_opt *op);

/* {"agg": "stat", ...}: every stored flag of t in table order (science_only: without run control
 * and the crc_default flags). NULL when out of memory. */
cJSON *runcfg_flags_json(const runcfg_class *c, const cli_opt *t, size_t n, int science_only);

/* CRC-32 of the compact JSON of runcfg_flags_json(science_only), the flags taken in the order of
 * `order` (a stored "flags" object) when it is an object, else in table order: a run folder
 * written when the table had another order keeps its CRC. */
am_status runcfg_crc(const runcfg_class *c, const cli_opt *t, size_t n, const cJSON *order,
                     uint32_t *crc);

/* Arguments that reproduce a stored "flags" object: v[0] = c->command, then "--flag" "value" ...,
 * v[n] = NULL. Strings point into `flags` or into store. */
typedef struct runcfg_argv {
    char **v;
    int n;
    char *store;
} runcfg_argv;

/* AM_EFORMAT naming path and the flag for an unknown or repeated flag, a value of the wrong type,
 * or a stored flag missing (unless added_later). a is set even on failure: free it. */
am_status runcfg_argv_make(const runcfg_class *c, const char *path, const cJSON *flags,
                           const cli_opt *t, size_t nt, runcfg_argv *a);
void runcfg_argv_free(runcfg_argv *a);

/* given[k] = 1 for every option of t that argv names (after a successful cli_parse of it). */
void runcfg_given(const cli_opt *t, size_t n, int argc, char **argv, unsigned char *given);

/* A flag given again on --resume DIR (mine: its value now; run: the run's, read from path):
 * AM_OK when equal as JSON, else AM_EINVAL saying how to continue. */
am_status runcfg_same(const char *dir, const char *path, const cli_opt *mine, const cli_opt *run);

/* A flag given again on --resume DIR (mine: this session's, run: the run's from path), after the
 * command's own cases: --out must name DIR; a run-control flag takes this session's value; any
 * other must equal the run's (runcfg_same). run->dst is written (it points into the options). */
am_status runcfg_take_given(const runcfg_class *c, const char *dir, const char *path,
                            const cli_opt *mine, const cli_opt *run);

/* Keeps the leading complete lines of a JSON Lines file of a run (metrics.jsonl) whose "round" is
 * 1, 2, ... up to keep and cuts the rest (a line cut in half by a crash, rounds after the
 * checkpoint). strict: exactly keep such lines must be there (AM_EFORMAT "PATH:N: not round N's
 * line" or "PATH: holds N complete rounds ..."); not strict (a file of wall times): lines are kept
 * while their round is <= keep, a missing file is created. A line is read up to FS_JSONL_LINE_MAX
 * bytes (AM_EFORMAT "PATH:N: a line of more than ... bytes" beyond: a run never writes one). */
am_status runcfg_cut_rounds(const char *path, unsigned keep, int strict);

#endif
