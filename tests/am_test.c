#include "am_test.h"

#include <ftw.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#define AM_TEST_MAX 512

static struct {
    const char *name;
    am_test_fn fn;
} cases[AM_TEST_MAX];
static int ncases;
int am_test_failures;
static int skipped;

void am_test_register(const char *name, am_test_fn fn)
{
    if (ncases < AM_TEST_MAX) {
        cases[ncases].name = name;
        cases[ncases].fn = fn;
        ncases++;
    }
}

void am_test_skip(const char *file, int line, const char *why)
{
    const char *ci = getenv("CI");
    if (ci && strcmp(ci, "true") == 0) {
        fprintf(stderr, "%s:%d: cannot run in CI (CI=true): %s\n", file, line, why);
        am_test_failures++;
    } else {
        fprintf(stderr, "%s:%d: SKIPPED: %s\n", file, line, why);
        skipped++;
    }
}

const char *am_test_source_dir(void)
{
    const char *d = getenv("AM_SOURCE_DIR");
    return d ? d : AM_SOURCE_DIR;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)flag, (void)f;
    remove(path);
    return 0;
}

static char tmp_dir[512];

/* the process's folder and what the cases left in it, at exit */
static void rm_tmp_dir(void)
{
    if (tmp_dir[0])
        nftw(tmp_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh folder of this process's own (mkdtemp: a name no other run has, even one that left its
 * folder behind under the same process id), removed at exit. */
const char *am_test_tmp_dir(void)
{
    if (!tmp_dir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(tmp_dir, sizeof tmp_dir, "%s/airmeta-test-%ld-XXXXXX", base ? base : "/tmp",
                 (long)getpid());
        if (!mkdtemp(tmp_dir)) {
            fprintf(stderr, "am_test: cannot make a folder %s\n", tmp_dir);
            exit(1);
        }
        atexit(rm_tmp_dir);
    }
    return tmp_dir;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--list") == 0) {
        for (int i = 0; i < ncases; i++)
            printf("%s\n", cases[i].name);
        return argc < 2 ? 2 : 0;
    }
    int ran = 0;
    for (int a = 1; a < argc; a++) {
        int found = 0;
        for (int i = 0; i < ncases; i++) {
            if (strcmp(cases[i].name, argv[a]) == 0 || strcmp(argv[a], "all") == 0) {
                int before = am_test_failures, skipped_before = skipped;
                cases[i].fn();
                fprintf(stderr, "%s: %s\n", cases[i].name,
                        am_test_failures != before  ? "FAILED"
                        : skipped != skipped_before ? "SKIPPED"
                                                    : "ok");
                found = 1;
                ran++;
            }
        }
        if (!found) {
            fprintf(stderr, "no test case named '%s'\n", argv[a]);
            return 2;
        }
    }
    if (am_test_failures)
        return 1;
    if (!ran)
        return 2;
    return skipped ? AM_TEST_SKIP_CODE : 0;
}
