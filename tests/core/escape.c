/* core/escape: the exact text echoed for control bytes, C1 controls, bad UTF-8 and long input;
 * error messages carry it (issue 12 finding 8). */
#include "am_test.h"
#include "core/escape.h"
#include "core/status.h"

static void check(const char *in, const char *want)
{
    char out[256];
    am_escape(out, sizeof out, in);
    AM_CHECK(strcmp(out, want) == 0, "escape gave '%s', expected '%s'", out, want);
    char again[256]; /* idempotent: messages quote messages */
    am_escape(again, sizeof again, out);
    AM_CHECK(strcmp(again, out) == 0, "escaping '%s' again gave '%s'", out, again);
}

AM_TEST(bytes, unit)
{
    check("plain/path-1.sigmf-meta", "plain/path-1.sigmf-meta");
    check("a\nb", "a\\nb");
    check("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m");
    check("t\tr\r\x7f\x01", "t\\tr\\r\\x7f\\x01");
    check("back\\slash", "back\\slash");
    check("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa1", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x93\xa1");
    check("csi \xc2\x9b" "2J", "csi \\xc2\\x9b2J");          /* U+009B, a C1 control */
    check("bad \xff\xc3(", "bad \\xff\\xc3(");                /* invalid lead, cut sequence */
    check("overlong \xc0\xaf \xe0\x80\xaf", "overlong \\xc0\\xaf \\xe0\\x80\\xaf");
    check("surrogate \xed\xa0\x80", "surrogate \\xed\\xa0\\x80");
    check("", "");
}

AM_TEST(truncated, unit)
{
    char out[8];
    am_escape(out, sizeof out, "abcdefghij");
    AM_CHECK(strcmp(out, "abcd...") == 0, "got '%s'", out);
    am_escape(out, sizeof out, "abc\n\n\n");
    AM_CHECK(strcmp(out, "abc...") == 0, "an escape is not cut in half: '%s'", out);
    am_escape(out, sizeof out, "abcdefg");
    AM_CHECK(strcmp(out, "abcdefg") == 0, "exactly fitting: '%s'", out);
    char big[AM_ESC_MAX * 2];
    memset(big, '\n', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    const char *e = AM_ESC(big);
    size_t n = strlen(e);
    AM_CHECK(n < AM_ESC_MAX && n > AM_ESC_MAX - 8 && strcmp(e + n - 3, "...") == 0, "%zu", n);
}

AM_TEST(error_messages, unit)
{
    am_status s = AM_FAIL(AM_EFORMAT, "%s: core:description '%s'", "x\n.sigmf-meta", "\x1b]0;t\x07");
    AM_CHECK(s == AM_EFORMAT, "status");
    AM_CHECK(strchr(am_last_error(), '\n') == NULL && strchr(am_last_error(), '\x1b') == NULL,
             "raw control bytes in '%s'", am_last_error());
    AM_CHECK(strstr(am_last_error(), "x\\n.sigmf-meta: core:description '\\x1b]0;t\\x07'") != NULL,
             "message: %s", am_last_error());
    am_error_wrap(s, "--out %s", "d\ne");
    AM_CHECK(strncmp(am_last_error(), "--out d\\ne: ", 12) == 0, "wrapped: %s", am_last_error());
    AM_CHECK(strstr(am_last_error(), "x\\n.sigmf-meta") != NULL, "inner kept once: %s",
             am_last_error());
}
