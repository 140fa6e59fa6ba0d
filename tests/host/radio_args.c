/* tests of the --radio-args parser, the radio time arithmetic and backend selection (radio.h) */
#include "am_test.h"
#include "core/rng.h"
#include "radio/radio.h"
#include "util/cli.h"

static const radio_arg_spec spec[] = {
    {"rate", RADIO_ARG_DOUBLE, 1, 1e9, NULL, ""},
    {"n", RADIO_ARG_INT, 0, 10, NULL, ""},
    {"name", RADIO_ARG_STR, 0, -1, NULL, ""},
    {"clock", RADIO_ARG_CHOICE, 0, -1, "internal|external|gpsdo", ""},
    {"gain", RADIO_ARG_DOUBLE, 0, 100, NULL, ""},
    {"g_th", RADIO_ARG_FLOAT, 0, 1e30, NULL, ""},
    {"round", RADIO_ARG_INT, 0, 9e15, NULL, ""},
};
static const size_t nspec = sizeof spec / sizeof spec[0];

AM_TEST(parse_values, unit)
{
    radio_args a;
    AM_REQUIRE_OK(radio_args_parse(" rate = 2.5e6 ,n=7,name=tcp://127.0.0.1:5555, clock=gpsdo ",
                                   spec, nspec, "t", &a));
    AM_CHECK(a.n == 4, "n = %zu", a.n);
    AM_CHECK(radio_args_double(&a, "rate", 0) == 2.5e6, "rate");
    AM_CHECK(radio_args_int(&a, "n", -1) == 7, "n");
    AM_CHECK(strcmp(radio_args_str(&a, "name", ""), "tcp://127.0.0.1:5555") == 0, "name = %s",
             radio_args_str(&a, "name", ""));
    AM_CHECK(strcmp(radio_args_str(&a, "clock", ""), "gpsdo") == 0, "clock");
    AM_CHECK(radio_args_has(&a, "rate") && !radio_args_has(&a, "nope"), "has");
    AM_CHECK(radio_args_double(&a, "nope", 3.0) == 3.0, "default");
    AM_REQUIRE_OK(radio_args_parse("", spec, nspec, "t", &a));
    AM_CHECK(a.n == 0, "empty string gives no args");
    AM_REQUIRE_OK(radio_args_parse(NULL, spec, nspec, "t", &a));
    AM_CHECK(a.n == 0, "NULL gives no args");
}

/* Each bad input is AM_EINVAL and the message names what is wrong. */
static void bad(const char *s, const char *needle)
{
    radio_args a;
    am_status st = radio_args_parse(s, spec, nspec, "radio 'test'", &a);
    AM_CHECK(st == AM_EINVAL, "'%s' -> %s", s, am_status_str(st));
    AM_CHECK(strstr(am_last_error(), needle) != NULL, "'%s': message '%s' lacks '%s'", s,
             am_last_error(), needle);
    AM_CHECK(strstr(am_last_error(), "radio 'test'") != NULL, "owner named: %s", am_last_error());
}

AM_TEST(parse_errors, unit)
{
    bad("foo=1", "unknown key 'foo'");
    bad("rate=1e6,bogus=2", "unknown key 'bogus'");
    bad("rate=1e6,rate=2e6", "'rate' given twice");
    bad("rate", "'rate' needs a value");
    bad("name=", "'name' needs a value");
    bad("rate=1e6,", "empty key");
    bad(",rate=1e6", "empty key");
    bad("=5", "empty key");
    bad("rate=1e6x", "rate='1e6x' is not a finite number");
    bad("rate=nan", "rate='nan' is not a finite number");
    bad("rate=inf", "is not a finite number");
    bad("rate=0.5", "outside 1..1e+09");
    bad("n=11", "outside 0..10");
    bad("n=2.5", "n='2.5' is not a whole number");
    bad("clock=sun", "clock='sun' is not one of internal|external|gpsdo");
    char longv[400];
    memset(longv, 'x', sizeof longv);
    memcpy(longv, "name=", 5);
    longv[sizeof longv - 1] = '\0';
    bad(longv, "longer than");
}

/* A number key is read as the command line reads a flag (cli_whole, cli_real): for each value
 * both accept it or both refuse it, and the refusal reads the same after the name ("--gain: '5x'
 * is ..." and "radio 'test': gain='5x' is ..."). Before, gain=1e-400 and g_th=1e-50 were taken
 * (as 0, which --g-th refuses: 'too small to tell from 0'), n=99999999999999999999 was 'not a
 * whole number' and n= fell through to it. */
static void same_as_flag(const char *key, cli_kind kind, double min, double max, const char *v,
                         int ok)
{
    union {
        double d;
        float f;
        int i;
    } dst;
    const cli_opt opt = {"--flag", kind, &dst, "", min, max, NULL};
    const cli_cmd cmd = {"t", "", "", &opt, 1, 0, 0};
    char arg[300];
    snprintf(arg, sizeof arg, "--flag=%s", v);
    char *argv[] = {"t", arg, NULL};
    const char *pos[1];
    size_t npos = 0;
    am_status sc = cli_parse(&cmd, 2, argv, pos, &npos);
    char flag_msg[512];
    snprintf(flag_msg, sizeof flag_msg, "%s", am_last_error());
    char rs[300];
    snprintf(rs, sizeof rs, "%s=%s", key, v);
    radio_args a;
    am_status sr = radio_args_parse(rs, spec, nspec, "radio 'test'", &a);
    AM_CHECK((sc == AM_OK) == ok && (sr == AM_OK) == ok, "'%s': flag %s, radio arg %s, expected %s",
             rs, am_status_str(sc), am_status_str(sr), ok ? "ok" : "refused");
    if (ok || sc == AM_OK || sr == AM_OK)
        return;
    /* "--flag: '5x' is ..." vs "radio 'test': key='5x' is ..." */
    char head[300];
    snprintf(head, sizeof head, "radio 'test': %s=", key);
    const char *ft = strstr(flag_msg, "--flag: "), *rt = strstr(am_last_error(), head);
    AM_CHECK(ft && rt && strcmp(rt + strlen(head), ft + strlen("--flag: ")) == 0,
             "'%s': radio arg says '%s', the flag '%s'", rs, am_last_error(), flag_msg);
}

AM_TEST(numbers_as_flags, unit)
{
    static const char *const refused_real[] = {
        "1e-400", "-1e-400", "0x1p4", "1e6x", "nan", "inf", "-inf", "1e400", "+", ".", "e5", "101",
        "-0.5"};
    for (size_t i = 0; i < sizeof refused_real / sizeof *refused_real; i++)
        same_as_flag("gain", CLI_DOUBLE, 0, 100, refused_real[i], 0);
    static const char *const taken_real[] = {"0", "1e-320", "100", "5.", ".5", "+5", "1E2"};
    for (size_t i = 0; i < sizeof taken_real / sizeof *taken_real; i++)
        same_as_flag("gain", CLI_DOUBLE, 0, 100, taken_real[i], 1);
    /* a float: 1e-50 reads as 0, 1e-40 is a float denormal */
    same_as_flag("g_th", CLI_FLOAT, 0, 1e30, "1e-50", 0);
    same_as_flag("g_th", CLI_FLOAT, 0, 1e30, "1e-40", 1);
    same_as_flag("g_th", CLI_FLOAT, 0, 1e30, "1e31", 0);
    static const char *const refused_whole[] = {"-1", "11", "010x", "0x10", "+5", "2.5", "1e1",
                                                "99999999999999999999", "-"};
    for (size_t i = 0; i < sizeof refused_whole / sizeof *refused_whole; i++)
        same_as_flag("n", CLI_INT, 0, 10, refused_whole[i], 0);
    same_as_flag("n", CLI_INT, 0, 10, "010", 1); /* decimal 10, as the flag */
    /* the messages themselves */
    bad("gain=1e-400", "gain=1e-400 is too small to tell from 0");
    bad("g_th=1e-50", "g_th=1e-50 is too small to tell from 0");
    bad("n=99999999999999999999", "n='99999999999999999999' is out of range");
    bad("n=", "key 'n' needs a value");
    bad("gain= ", "key 'gain' needs a value");
    bad("round=9000000000000001", "round=9000000000000001 is outside 0..9e+15");
    radio_args a;
    AM_REQUIRE_OK(radio_args_parse("round=9000000000000000,gain=1e-320", spec, nspec, "t", &a));
    AM_CHECK(radio_args_int(&a, "round", -1) == 9000000000000000LL, "round");
    AM_CHECK(radio_args_double(&a, "gain", -1) == 1e-320, "a denormal is a number");
}

AM_TEST(open_rejects_bad_backend_and_keys, unit)
{
    radio *r = (radio *)1;
    AM_CHECK(radio_open("nope", "", &r) == AM_EINVAL && r == NULL, "unknown backend");
    AM_CHECK(strstr(am_last_error(), "unknown backend 'nope'") != NULL, "%s", am_last_error());
    AM_CHECK(radio_open("loop", "rate=1e6,tx=tcp://127.0.0.1:1", &r) == AM_EINVAL && !r, "key");
    AM_CHECK(strstr(am_last_error(), "radio 'loop': unknown key 'tx'") != NULL, "%s",
             am_last_error());
    AM_CHECK(radio_open("zmq", "rate=1e6", &r) == AM_EINVAL && !r, "zmq needs an endpoint");
    AM_CHECK(strstr(am_last_error(), "tx=ENDPOINT") != NULL, "%s", am_last_error());
    /* backends are listed with their keys */
    int seen_loop = 0, seen_zmq = 0;
    for (const char *const *b = radio_backends(); *b; b++) {
        const radio_arg_spec *sp;
        size_t n;
        AM_CHECK_OK(radio_backend_keys(*b, &sp, &n));
        AM_CHECK(n > 0, "%s has keys", *b);
        seen_loop |= strcmp(*b, "loop") == 0;
        seen_zmq |= strcmp(*b, "zmq") == 0;
    }
    AM_CHECK(seen_loop && seen_zmq, "loop and zmq compiled in");
    radio_close(NULL); /* no-op */
}

AM_TEST(time_ticks_closed_form, unit)
{
    /* 61.44 MS/s: 5.5 s is tick 337920000 */
    radio_time t = radio_time_from_ticks(337920000, 61.44e6);
    AM_CHECK(t.secs == 5 && t.frac == 0.5, "%lld + %.17g", (long long)t.secs, t.frac);
    AM_CHECK(radio_time_to_ticks(t, 61.44e6) == 337920000, "back");
    /* negative ticks: floor semantics, frac in [0, 1) */
    t = radio_time_from_ticks(-250000, 1e6);
    AM_CHECK(t.secs == -1 && t.frac == 0.75, "%lld + %.17g", (long long)t.secs, t.frac);
    /* a day at 61.44 MS/s keeps every tick (a double of seconds would not: UHD_NOTES) */
    int64_t day = (int64_t)86400 * 61440000 + 1;
    t = radio_time_from_ticks(day, 61.44e6);
    AM_CHECK(t.secs == 86400, "secs %lld", (long long)t.secs);
    AM_CHECK(radio_time_to_ticks(t, 61.44e6) == day, "tick kept");
    /* add and normalise */
    radio_time a = {10, 0.75};
    radio_time b = radio_time_add(a, 0.5);
    AM_CHECK(b.secs == 11 && b.frac == 0.25, "%lld + %.17g", (long long)b.secs, b.frac);
    b = radio_time_add(a, -1.0);
    AM_CHECK(b.secs == 9 && b.frac == 0.75, "%lld + %.17g", (long long)b.secs, b.frac);
    b = radio_time_add(a, -0.875);
    AM_CHECK(b.secs == 9 && b.frac == 0.875, "%lld + %.17g", (long long)b.secs, b.frac);
    AM_CHECK(radio_time_cmp(a, b) == 1 && radio_time_cmp(b, a) == -1 && radio_time_cmp(a, a) == 0,
             "cmp");
    AM_CHECK_NEAR(radio_time_diff(a, b), 0.875, 1e-15);
}

AM_TEST(time_ticks_round_trip, unit)
{
    const double rates[] = {1e6, 61.44e6, 30.72e6, 1e6 / 3.0, 7.68e6, 250e3, 56e6};
    am_rng g;
    am_rng_seed(&g, 7);
    for (size_t k = 0; k < sizeof rates / sizeof rates[0]; k++) {
        for (int i = 0; i < 20000; i++) {
            int64_t tick = (int64_t)(am_rng_u64(&g) >> 12) - ((int64_t)1 << 51);
            radio_time t = radio_time_from_ticks(tick, rates[k]);
            AM_REQUIRE(t.frac >= 0 && t.frac < 1, "frac %.17g", t.frac);
            int64_t back = radio_time_to_ticks(t, rates[k]);
            AM_REQUIRE(back == tick, "rate %g tick %lld -> %lld", rates[k], (long long)tick,
                       (long long)back);
            /* adding n samples' worth of seconds lands on tick + n */
            int64_t nsamp = (int64_t)am_rng_below(&g, 100000);
            radio_time u = radio_time_add(t, (double)nsamp / rates[k]);
            AM_REQUIRE(radio_time_to_ticks(u, rates[k]) == tick + nsamp, "add %lld samples",
                       (long long)nsamp);
        }
    }
}
