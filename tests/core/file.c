/* core/file: regular files only, and nothing blocks on a FIFO (issue 12 finding 7). Each case
 * would hang on a plain fopen of the FIFO without a peer; an alarm turns that into a failure. */
#include <sys/stat.h>
#include <unistd.h>

#include "am_test.h"
#include "core/file.h"

static char dir[64];

static const char *at(const char *name)
{
    static char p[128];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/airmeta-file-%d-XXXXXX", (int)getpid());
        if (!mkdtemp(dir))
            dir[0] = '\0';
    }
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return p;
}

AM_TEST(fifo_refused, unit)
{
    alarm(20); /* a regression blocks on the FIFO: SIGALRM ends the case as a failure */
    char fifo[128];
    snprintf(fifo, sizeof fifo, "%s", at("fifo"));
    AM_REQUIRE(mkfifo(fifo, 0600) == 0, "mkfifo %s", fifo);
    const char *modes[] = {"r", "rb", "w", "a", "a+", "r+"};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        FILE *f = (FILE *)1;
        am_status s = am_fopen_regular(fifo, modes[i], &f);
        AM_CHECK(s == AM_EIO && f == NULL, "mode %s: %s", modes[i], am_status_str(s));
        AM_CHECK(strstr(am_last_error(), "fifo: not a regular file (a FIFO)") != NULL, "%s",
                 am_last_error());
    }
    AM_CHECK(am_check_output(fifo) == AM_EIO, "a FIFO is not an output to replace");
    struct stat sb;
    AM_CHECK(lstat(fifo, &sb) == 0 && S_ISFIFO(sb.st_mode), "the FIFO is still there");
    unlink(fifo);
    rmdir(dir);
    alarm(0);
}

AM_TEST(links_devices_folders, unit)
{
    char file[128], link[128];
    snprintf(file, sizeof file, "%s", at("file"));
    snprintf(link, sizeof link, "%s", at("link"));
    FILE *f = NULL;
    AM_CHECK(am_fopen_regular(file, "r", &f) == AM_ENOTFOUND, "absent for reading");
    AM_REQUIRE(am_fopen_regular(file, "w", &f) == AM_OK && f, "%s", am_last_error());
    fputs("abc", f);
    fclose(f);
    AM_REQUIRE(symlink(file, link) == 0, "symlink");
    /* reading through a link is fine; writing through one is refused, the target kept */
    AM_CHECK(am_fopen_regular(link, "r", &f) == AM_OK && f, "read through a link: %s",
             am_last_error());
    if (f) {
        char b[8] = "";
        AM_CHECK(fgets(b, sizeof b, f) && !strcmp(b, "abc"), "read '%s'", b);
        fclose(f);
        f = NULL;
    }
    AM_CHECK(am_fopen_regular(link, "w", &f) == AM_EIO && !f, "write through a link");
    AM_CHECK(strstr(am_last_error(), "link: not a regular file (a symbolic link)"), "%s",
             am_last_error());
    AM_CHECK(am_fopen_regular(link, "a", &f) == AM_EIO && !f, "append through a link");
    AM_CHECK(am_check_output(link) == AM_EIO, "a link is not an output to replace");
    AM_CHECK(am_check_output(file) == AM_OK && am_check_output(at("absent")) == AM_OK,
             "regular and absent outputs");
    AM_CHECK(am_fopen_regular("/dev/null", "r", &f) == AM_EIO && !f, "device read");
    AM_CHECK(strstr(am_last_error(), "(a character device)"), "%s", am_last_error());
    AM_CHECK(am_check_output("/dev/null") == AM_EIO, "device output");
    AM_CHECK(am_fopen_regular(dir, "r", &f) == AM_EIO && !f, "folder");
    AM_CHECK(strstr(am_last_error(), "(a folder)"), "%s", am_last_error());
    /* appending keeps what is there */
    AM_REQUIRE(am_fopen_regular(file, "a", &f) == AM_OK && f, "%s", am_last_error());
    fputs("d", f);
    fclose(f);
    AM_REQUIRE(am_fopen_regular(file, "rb", &f) == AM_OK && f, "%s", am_last_error());
    char b[8] = "";
    AM_CHECK(fgets(b, sizeof b, f) && !strcmp(b, "abcd"), "appended: '%s'", b);
    fclose(f);
    unlink(link);
    unlink(file);
    rmdir(dir);
}
