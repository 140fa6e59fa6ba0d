/* host/fsutil: mkdir -p creates every missing parent and accepts an existing folder, refuses a file
 * in the way naming it; a path that does not fit is refused; an atomic write replaces the file by
 * exactly its pieces (mode 0644, no temporary file left) and leaves the old file on failure; a
 * text read is bounded (max bytes fit, one more is refused) and a missing file is AM_ENOTFOUND. */
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "am_test.h"
#include "util/fsutil.h"

static int is_dir(const char *p)
{
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static size_t slurp(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return (size_t)-1;
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

/* temporary files (NAME.tmp-XXXXXX) left in dir */
static size_t count_tmp(const char *dir)
{
    char pat[1200];
    snprintf(pat, sizeof pat, "%s/*.tmp-*", dir);
    glob_t g;
    size_t n = glob(pat, 0, NULL, &g) == 0 ? g.gl_pathc : 0;
    globfree(&g);
    return n;
}

AM_TEST(mkdir_p, unit)
{
    char top[1024], deep[1200], file[1200], under[1300];
    snprintf(top, sizeof top, "%s/fs_mk", am_test_tmp_dir());
    snprintf(deep, sizeof deep, "%s/a/b//c/", top);
    AM_CHECK(!is_dir(top), "%s exists before the test", top);
    AM_REQUIRE_OK(fs_mkdir_p(deep));
    AM_CHECK(is_dir(deep), "%s not created", deep);
    AM_CHECK_OK(fs_mkdir_p(deep)); /* exists: fine */
    /* a file where a folder should go: refused, naming the path */
    snprintf(file, sizeof file, "%s/f", top);
    FILE *f = fopen(file, "w");
    AM_REQUIRE(f, "cannot create %s", file);
    fclose(f);
    AM_CHECK(fs_mkdir_p(file) == AM_EIO, "a file taken for a folder");
    AM_CHECK(strstr(am_last_error(), "not a folder") && strstr(am_last_error(), file),
             "message: %s", am_last_error());
    snprintf(under, sizeof under, "%s/x/y", file);
    AM_CHECK(fs_mkdir_p(under) == AM_EIO, "a folder under a file");
    AM_CHECK(strstr(am_last_error(), under), "message: %s", am_last_error());
    AM_CHECK(fs_mkdir_p("") == AM_EINVAL, "empty name");
    char *lng = malloc(FS_PATH_MAX + 10);
    AM_REQUIRE(lng, "alloc");
    memset(lng, 'a', FS_PATH_MAX + 9);
    lng[FS_PATH_MAX + 9] = '\0';
    AM_CHECK(fs_mkdir_p(lng) == AM_EINVAL, "path too long");
    free(lng);
}

AM_TEST(path_join, unit)
{
    char p[16];
    AM_REQUIRE_OK(fs_path_join(p, sizeof p, "runs/a", "x.json"));
    AM_CHECK(strcmp(p, "runs/a/x.json") == 0, "joined '%s'", p);
    AM_REQUIRE_OK(fs_path_join(p, sizeof p, "runs/a", "xx.jsonl")); /* 15 characters + NUL */
    AM_CHECK(fs_path_join(p, sizeof p, "runs/a", "xxx.jsonl") == AM_EINVAL, "16 characters");
    AM_CHECK(strstr(am_last_error(), "runs/a: path too long"), "message: %s", am_last_error());
}

AM_TEST(write_atomic, unit)
{
    char dir[1024], path[1100], buf[64];
    snprintf(dir, sizeof dir, "%s/fs_wa", am_test_tmp_dir());
    AM_REQUIRE_OK(fs_mkdir_p(dir));
    snprintf(path, sizeof path, "%s/cfg.json", dir);
    const fs_part two[] = {{"{\"a\": 1}", 8}, {"\n", 1}};
    AM_REQUIRE_OK(fs_write_atomic(path, two, 2));
    size_t n = slurp(path, buf, sizeof buf);
    AM_CHECK(n == 9 && memcmp(buf, "{\"a\": 1}\n", 9) == 0, "content (%zu bytes)", n);
    struct stat sb;
    AM_REQUIRE(stat(path, &sb) == 0, "stat");
    AM_CHECK((sb.st_mode & 0777) == 0644, "mode %o (fchmod: no umask)",
             (unsigned)(sb.st_mode & 0777));
    /* replaced, not appended; an empty piece and no piece at all are fine */
    const fs_part one[] = {{"xyz", 3}, {NULL, 0}};
    AM_REQUIRE_OK(fs_write_atomic(path, one, 2));
    n = slurp(path, buf, sizeof buf);
    AM_CHECK(n == 3 && memcmp(buf, "xyz", 3) == 0, "replaced content (%zu bytes)", n);
    AM_CHECK(count_tmp(dir) == 0, "temporary files left in %s", dir);
    /* a missing piece and a folder that does not exist: refused, the old file stays */
    const fs_part bad[] = {{NULL, 4}};
    AM_CHECK(fs_write_atomic(path, bad, 1) == AM_EINVAL, "missing piece");
    char nodir[1200];
    snprintf(nodir, sizeof nodir, "%s/none/cfg.json", dir);
    AM_CHECK(fs_write_atomic(nodir, one, 1) == AM_EIO, "missing folder");
    AM_CHECK(strstr(am_last_error(), nodir), "message does not name the file: %s", am_last_error());
    n = slurp(path, buf, sizeof buf);
    AM_CHECK(n == 3 && memcmp(buf, "xyz", 3) == 0, "old content kept");
    AM_CHECK(count_tmp(dir) == 0, "temporary files left in %s", dir);
}

AM_TEST(read_text, unit)
{
    char dir[1024], path[1100], none[1100];
    snprintf(dir, sizeof dir, "%s/fs_rt", am_test_tmp_dir());
    AM_REQUIRE_OK(fs_mkdir_p(dir));
    snprintf(path, sizeof path, "%s/t.json", dir);
    const fs_part part = {"{\"k\": 12}\n", 10};
    AM_REQUIRE_OK(fs_write_atomic(path, &part, 1));
    char *t = NULL;
    AM_REQUIRE_OK(fs_read_text(path, 10, &t)); /* exactly max bytes */
    AM_CHECK(t && strcmp(t, "{\"k\": 12}\n") == 0, "text '%s'", t ? t : "(null)");
    free(t);
    AM_CHECK(fs_read_text(path, 9, &t) == AM_EFORMAT && t == NULL, "one byte over max");
    AM_CHECK(strstr(am_last_error(), path) && strstr(am_last_error(), "larger than 9 bytes"),
             "message: %s", am_last_error());
    snprintf(none, sizeof none, "%s/none.json", dir);
    AM_CHECK(fs_read_text(none, 10, &t) == AM_ENOTFOUND && t == NULL, "missing file");
    AM_CHECK(strstr(am_last_error(), none), "message: %s", am_last_error());
    AM_CHECK(fs_read_text(dir, 10, &t) != AM_OK && t == NULL, "a folder is not a text file");
    /* a NUL byte: the text stopped there and the lines after it were silently ignored (an --allow
     * file 'chan KEY\n\0agent 0 KEY' listed no agent and said nothing) */
    const fs_part nul = {"chan x\n\0agent 0 y\n", 19};
    AM_REQUIRE_OK(fs_write_atomic(path, &nul, 1));
    AM_CHECK(fs_read_text(path, 100, &t) == AM_EFORMAT && t == NULL, "NUL byte accepted");
    AM_CHECK(strstr(am_last_error(), path) && strstr(am_last_error(), "a NUL byte at offset 7"),
             "message: %s", am_last_error());
}

/* fs_read_line: lines as getline(3) gives them, but none of more than max bytes is read whole
 * (a metrics.jsonl line of a gigabyte without a newline was read into memory on --resume) */
AM_TEST(read_line, unit)
{
    char dir[1024], path[1100];
    snprintf(dir, sizeof dir, "%s/fs_rl", am_test_tmp_dir());
    AM_REQUIRE_OK(fs_mkdir_p(dir));
    snprintf(path, sizeof path, "%s/m.jsonl", dir);
    const fs_part part = {"ab\ncdef\ngh", 10};
    AM_REQUIRE_OK(fs_write_atomic(path, &part, 1));
    FILE *f = fopen(path, "r");
    AM_REQUIRE(f, "open %s", path);
    char *line = NULL;
    size_t cap = 0, len = 0;
    const char *want[] = {"ab\n", "cdef\n", "gh", ""}; /* "cdef\n": exactly max (5) bytes */
    for (unsigned i = 0; i < 4; i++) {
        AM_CHECK(fs_read_line(f, 5, path, i + 1, &line, &cap, &len) == AM_OK, "line %u: %s", i + 1,
                 am_last_error());
        AM_CHECK(len == strlen(want[i]) && (len == 0 || strcmp(line, want[i]) == 0),
                 "line %u: %zu bytes '%s', expected '%s'", i + 1, len, len ? line : "", want[i]);
    }
    rewind(f);
    AM_CHECK(fs_read_line(f, 4, path, 1, &line, &cap, &len) == AM_OK && len == 3, "line 1 of 4");
    AM_CHECK(fs_read_line(f, 4, path, 2, &line, &cap, &len) == AM_EFORMAT, "'cdef\\n' is 5 > 4");
    char msg[1200];
    snprintf(msg, sizeof msg, "%s:2: a line of more than 4 bytes", path);
    AM_CHECK(strstr(am_last_error(), msg), "message: %s", am_last_error());
    fclose(f);
    free(line);
    /* 3 MiB without a newline: refused at FS_JSONL_LINE_MAX, the buffer no larger than that */
    const size_t big = 3u << 20;
    char *b = malloc(big);
    AM_REQUIRE(b, "out of memory");
    memset(b, '7', big);
    const fs_part bp = {b, big};
    AM_REQUIRE_OK(fs_write_atomic(path, &bp, 1));
    free(b);
    f = fopen(path, "r");
    AM_REQUIRE(f, "open %s", path);
    line = NULL;
    cap = 0;
    AM_CHECK(fs_read_line(f, FS_JSONL_LINE_MAX, path, 1, &line, &cap, &len) == AM_EFORMAT,
             "a 3 MiB line read");
    AM_CHECK(cap <= FS_JSONL_LINE_MAX + 1, "buffer of %zu bytes", cap);
    AM_CHECK(ftell(f) == (long)FS_JSONL_LINE_MAX, "read %ld bytes", ftell(f));
    snprintf(msg, sizeof msg, "%s:1: a line of more than 1048576 bytes", path);
    AM_CHECK(strstr(am_last_error(), msg), "message: %s", am_last_error());
    fclose(f);
    free(line);
}
