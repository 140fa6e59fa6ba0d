/* tests/fuzz/runcfg: a run folder's config.json as `sim --resume DIR` reads it (host/run/sim.c
 * sim_config_parse -> host/run/runcfg.c: the flags rebuilt into an argument vector and parsed as
 * sim's own) and a sweep folder's sweep.json as `sweep --collect DIR` reads it (host/run/
 * sweep_plan.c sweep_plan_read_argv, then the sweep's flags checked). Input: byte 0 picks the file
 * (even: config.json, odd: sweep.json), the rest is its text. Properties: never crashes, leaks or
 * reads out of bounds (ASan, UBSan); a refusal is one line naming the file or a flag; an accepted
 * config.json holds every value inside its flag's range. */
#include <math.h>
#include <stdio.h>
#include <unistd.h>

#include "common.h"
#include "fuzz.h"
#include "run/sim.h"
#include "run/sweep_plan.h"

static const char *const tokens[] = {
    "0", "-1", "1e309", "-1e309", "1.5", "null", "true", "false", "\"\"", "[]", "{}", "\"x\"",
    "\\u0000", "\\u001b", "\\n", "18446744073709551616", "9007199254740993", "4294967296", "1e-400",
    ",", ":", "\"--\"", "\"--resume\"", "\"--rounds\"", "\"--agents\"", "\"agg\": \"iq\",",
    "\"rounds\": 4,", "\"seed\": \"18446744073709551615\",", "\"cal\": \"on\",",
    "\"radio\": \"loop\",", "\"radio-args\": \"rate=1e6\",", "\"command\": \"sim\",", NULL};
const char *const *fuzz_tokens = tokens;

static char dir_made[64], path[96];

static void cleanup(void) /* the driver returns from main: nothing left in /dev/shm */
{
    char p[96];
    snprintf(p, sizeof p, "%s/config.json", dir_made);
    unlink(p);
    snprintf(p, sizeof p, "%s/sweep.json", dir_made);
    unlink(p);
    rmdir(dir_made);
}

static void one_line(am_status s, const char *want)
{
    const char *e = am_last_error();
    if (s != AM_EINVAL && s != AM_EFORMAT && s != AM_EIO && s != AM_ENOTFOUND)
        fuzz_fail("refused with status %d: %s", s, e);
    if (strchr(e, '\n') || strchr(e, '\x1b') || (!strstr(e, want) && !strstr(e, "--")))
        fuzz_fail("message not one line naming %s or a flag: %s", want, e);
}

static void check_sim(const sim_opts *o)
{
    if (o->agents < 1 || o->agents > 10000 || o->rounds < 1 || o->rounds > 10000000 ||
        o->nfft < 64 || o->nfft > 4096 || o->cp < 1 || o->cp > 2048 || o->threads < 1 ||
        o->threads > 256 || o->checkpoint_every < 1 || !isfinite(o->chan.snr_db) ||
        o->chan.snr_db < -50 || o->chan.snr_db > 100 || !(o->cfo >= 0 && o->cfo <= 0.49) ||
        !o->agg || !o->impair || !o->cal || !o->mapping || !o->precoding)
        fuzz_fail("accepted config.json out of range (agents %u rounds %u nfft %u cp %u threads "
                  "%u snr %g cfo %g)",
                  o->agents, o->rounds, o->nfft, o->cp, o->threads, o->chan.snr_db, o->cfo);
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size)
{
    if (!dir_made[0]) {
        char dir[] = "/dev/shm/airmeta-fuzz-XXXXXX", dir2[] = "/tmp/airmeta-fuzz-XXXXXX";
        const char *d = mkdtemp(dir);
        if (!d && !(d = mkdtemp(dir2)))
            fuzz_fail("mkdtemp");
        snprintf(dir_made, sizeof dir_made, "%s", d);
        atexit(cleanup);
    }
    if (size < 1)
        return 0;
    const int sweep = in[0] & 1;
    snprintf(path, sizeof path, "%s/%s", dir_made, sweep ? "sweep.json" : "config.json");
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(in + 1, 1, size - 1, f) != size - 1)
        fuzz_fail("cannot write %s", path);
    fclose(f);
    if (sweep) {
        int argc = 0;
        char **argv = NULL;
        am_status s = sweep_plan_read_argv(dir_made, &argc, &argv);
        if (s != AM_OK) {
            one_line(s, "sweep.json");
            fuzz_outcome = 1000 + fuzz_error_line();
            return 0;
        }
        s = sweep_plan_check_pass(argc, argv);
        fuzz_outcome = s == AM_OK ? 2000 : 3000 + fuzz_error_line();
        if (s != AM_OK)
            one_line(s, "sweep.json");
        sweep_json_argv_free(argc, argv);
        return 0;
    }
    char *argv[] = {"sim", "--resume", dir_made, NULL};
    sim_config c;
    am_status s = sim_config_parse(&c, 3, argv, "fuzz");
    if (s != AM_OK) {
        one_line(s, "config.json");
        fuzz_outcome = 4000 + fuzz_error_line();
    } else {
        check_sim(&c.o);
        fuzz_outcome = 5000;
    }
    sim_config_free(&c);
    return 0;
}

/* A run's config.json (sim, stat, 4 rounds) and a sweep's sweep.json, as the program writes them. */
size_t fuzz_seeds(uint8_t **bufs, size_t *lens, size_t max)
{
    static const char cfg[] =
        "{\n\t\"airmeta_version\":\t\"0.1.0\",\n\t\"air_interface_version\":\t2,\n\t\"command\":"
        "\t\"sim\",\n\t\"flags\":\t{\n\t\t\"agg\":\t\"stat\",\n\t\t\"task\":\t\"sinusoid\",\n\t\t"
        "\"data-dir\":\tnull,\n\t\t\"agents\":\t3,\n\t\t\"new-agents\":\t10,\n\t\t\"rounds\":\t6,"
        "\n\t\t\"snr-db\":\t20,\n\t\t\"g-th\":\t0.1,\n\t\t\"rho\":\t1,\n\t\t\"eta-rule\":\t\"rms\","
        "\n\t\t\"sparsity\":\t1,\n\t\t\"sparsify\":\t\"topk\",\n\t\t\"no-memory\":\tfalse,\n\t\t"
        "\"seed\":\t3,\n\t\t\"learner\":\t\"maml\",\n\t\t\"inner-steps\":\t1,\n\t\t\"alpha\":\t0.01,"
        "\n\t\t\"beta\":\t0.003,\n\t\t\"optimizer\":\t\"adam\",\n\t\t\"clip\":\t0,\n\t\t"
        "\"tasks-per-agent\":\t2,\n\t\t\"local-iters\":\t1,\n\t\t\"local-lr\":\t0.003,\n\t\t"
        "\"eval-every\":\t6,\n\t\t\"eval-tasks\":\t5,\n\t\t\"eval-steps\":\t1,\n\t\t\"eval-alpha\":"
        "\t0.01,\n\t\t\"ways\":\t5,\n\t\t\"shots\":\t10,\n\t\t\"query\":\t10,\n\t\t\"heterogeneity\":"
        "\t0,\n\t\t\"pool\":\t0,\n\t\t\"filters\":\t32,\n\t\t\"threads\":\t1,\n\t\t\"nfft\":\t256,"
        "\n\t\t\"cp\":\t32,\n\t\t\"taps\":\t4,\n\t\t\"delay-spread\":\t1,\n\t\t\"timing-offset\":\t8,"
        "\n\t\t\"cfo\":\t0,\n\t\t\"precoding\":\t\"inversion\",\n\t\t\"capture-dir\":\tnull,\n\t\t"
        "\"radio\":\tnull,\n\t\t\"radio-args\":\tnull,\n\t\t\"checkpoint-every\":\t2,\n\t\t"
        "\"no-plots\":\ttrue,\n\t\t\"quiet\":\ttrue,\n\t\t\"impair\":\t\"ideal\",\n\t\t"
        "\"gain-pool\":\t0\n\t},\n\t\"model\":\t\"mlp 1-40-40-1\",\n\t\"params\":\t1761,\n\t"
        "\"entries_sent\":\t1761,\n\t\"config_crc\":\t\"037db275\"\n}\n";
    static const char sw[] =
        "{\n\t\"argv\":\t[\"sweep\", \"--out\", \"sw\", \"--snr-db\", \"0,10\", \"--agents\", "
        "\"3\", \"--seeds\", \"2\", \"--rounds\", \"4\", \"--jobs\", \"2\", \"--no-plots\", \"--\", "
        "\"--tasks-per-agent\", \"2\", \"--eval-every\", \"4\", \"--eval-tasks\", \"5\"],\n\t"
        "\"snr_db\":\t\"0,10\",\n\t\"task\":\t\"sinusoid\",\n\t\"rounds\":\t4,\n\t\"runs\":\t6,\n\t"
        "\"version\":\t\"0.1.0\"\n}\n";
    const char *const text[2] = {cfg, sw};
    size_t k = 0;
    for (int i = 0; i < 2 && k < max; i++) {
        const size_t n = strlen(text[i]);
        uint8_t *b = malloc(n + 1);
        if (!b)
            break;
        b[0] = (uint8_t)i;
        memcpy(b + 1, text[i], n);
        bufs[k] = b;
        lens[k++] = n + 1;
    }
    return k;
}
