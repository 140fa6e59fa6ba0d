/* host/checkpoint: round trip of header and state; atomic replacement (a concurrent reader only
 * ever sees a whole old or a whole new file, no temporary file is left); every corruption
 * (truncation at any length, any flipped header bit, a flipped state bit, wrong magic/version,
 * other dimensions or configuration) is refused with AM_EFORMAT and a message naming the file. */
#include <dirent.h>
#include <signal.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <unistd.h>

#include "am_test.h"
#include "run/checkpoint.h"
#include "util/crc32.h"

static void fill(unsigned char *p, size_t n, unsigned seed)
{
    uint32_t x = seed * 2654435761u + 1u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (unsigned char)x;
    }
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(len > 0 ? (size_t)len : 1);
    *n = b ? fread(b, 1, (size_t)len, f) : 0;
    fclose(f);
    return b;
}

static int spit(const char *path, const unsigned char *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int ok = fwrite(b, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static int count_tmp(const char *dir)
{
    DIR *d = opendir(dir);
    int c = 0;
    struct dirent *e;
    while (d && (e = readdir(d)))
        c += strstr(e->d_name, ".tmp-") != NULL;
    if (d)
        closedir(d);
    return c;
}

AM_TEST(round_trip, unit)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/ck_rt.bin", am_test_tmp_dir());
    unsigned char st[1000];
    fill(st, sizeof st, 1);
    checkpoint_info in = {
        .round = 17, .agents = 5, .dim = 1761, .config_crc = 0xdeadbeef, .elapsed_s = 12.25};
    AM_REQUIRE_OK(checkpoint_write(path, &in, st, sizeof st));
    size_t n = 0;
    unsigned char *file = slurp(path, &n);
    AM_REQUIRE(file, "cannot read back %s", path);
    AM_CHECK(n == CHECKPOINT_HDR_LEN + sizeof st, "file of %zu bytes", n);
    AM_CHECK(memcmp(file, "AMCKPT\r\n", 8) == 0, "magic");
    /* header fields little-endian at their documented offsets; CRCs against zlib's */
    AM_CHECK(file[16] == 17 && file[17] == 0 && file[20] == 5, "round / agents bytes");
    AM_CHECK(file[24] == (1761 & 0xff) && file[25] == (1761 >> 8), "dim bytes");
    AM_CHECK(file[48] == 0xef && file[51] == 0xde, "config crc bytes");
    uint32_t scrc = (uint32_t)file[52] | (uint32_t)file[53] << 8 | (uint32_t)file[54] << 16 |
                    (uint32_t)file[55] << 24;
    AM_CHECK(scrc == crc32_bytes(st, sizeof st), "state CRC field 0x%08x", scrc);
    /* CRC-32 check value of "123456789" (IEEE 802.3): 0xcbf43926 */
    AM_CHECK(crc32_bytes("123456789", 9) == 0xcbf43926u, "crc32 check value");
    free(file);
    checkpoint_info out, ex = in;
    ex.round = 0; /* not compared */
    ex.elapsed_s = 0;
    void *got = NULL;
    AM_REQUIRE_OK(checkpoint_read(path, &ex, 1 << 20, &out, &got, &n));
    AM_CHECK(n == sizeof st && memcmp(got, st, n) == 0, "state differs");
    AM_CHECK(out.round == 17 && out.agents == 5 && out.dim == 1761 &&
                 out.config_crc == 0xdeadbeef && out.elapsed_s == 12.25,
             "info differs");
    free(got);
    AM_CHECK(count_tmp(am_test_tmp_dir()) == 0, "temporary file left behind");
    /* an empty state is legal */
    AM_REQUIRE_OK(checkpoint_write(path, &in, NULL, 0));
    AM_REQUIRE_OK(checkpoint_read(path, NULL, 0, &out, &got, &n));
    AM_CHECK(n == 0, "empty state read as %zu bytes", n);
    free(got);
    remove(path);
}

static void
expect_format(const char *path, const checkpoint_info *ex, const char *what, const char *needle)
{
    checkpoint_info out;
    void *got = NULL;
    size_t n = 0;
    am_status s = checkpoint_read(path, ex, 1 << 20, &out, &got, &n);
    AM_CHECK(s == AM_EFORMAT, "%s: status %d (%s)", what, (int)s, am_last_error());
    AM_CHECK(got == NULL, "%s: state returned", what);
    AM_CHECK(strstr(am_last_error(), path) != NULL, "%s: message does not name the file: %s", what,
             am_last_error());
    AM_CHECK(!needle || strstr(am_last_error(), needle), "%s: message lacks '%s': %s", what, needle,
             am_last_error());
    free(got);
}

AM_TEST(rejects_corruption, unit)
{
    char path[4200], bad[4300];
    snprintf(path, sizeof path, "%s/ck_bad.bin", am_test_tmp_dir());
    snprintf(bad, sizeof bad, "%s/ck_bad_copy.bin", am_test_tmp_dir());
    unsigned char st[300];
    fill(st, sizeof st, 2);
    checkpoint_info in = {.round = 3, .agents = 4, .dim = 75, .config_crc = 0x1234, .elapsed_s = 1};
    AM_REQUIRE_OK(checkpoint_write(path, &in, st, sizeof st));
    size_t n = 0;
    unsigned char *good = slurp(path, &n);
    AM_REQUIRE(good && n == CHECKPOINT_HDR_LEN + sizeof st, "read back");
    unsigned char *b = malloc(n);
    AM_REQUIRE(b, "out of memory");
    /* truncated at every length */
    for (size_t len = 0; len < n; len++) {
        AM_REQUIRE(spit(bad, good, len) == 0, "write %s", bad);
        expect_format(bad, &in, "truncated", NULL);
    }
    /* padded by one byte */
    AM_REQUIRE(spit(bad, good, n) == 0, "write");
    FILE *fa = fopen(bad, "ab");
    AM_REQUIRE(fa && fputc(0, fa) == 0 && fclose(fa) == 0, "append");
    expect_format(bad, &in, "padded", "truncated or padded");
    /* every single-bit flip of the header, and some of the state */
    for (size_t bit = 0; bit < 8 * CHECKPOINT_HDR_LEN; bit++) {
        memcpy(b, good, n);
        b[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        AM_REQUIRE(spit(bad, b, n) == 0, "write");
        expect_format(bad, &in, "header bit flip", NULL);
    }
    for (size_t i = CHECKPOINT_HDR_LEN; i < n; i += 37) {
        memcpy(b, good, n);
        b[i] ^= 0x10;
        AM_REQUIRE(spit(bad, b, n) == 0, "write");
        expect_format(bad, &in, "state bit flip", "state CRC");
    }
    /* wrong magic / a text file */
    AM_REQUIRE(spit(bad,
                    (const unsigned char *)"{\"not\": \"a checkpoint\"}\n........................"
                                           "...................................",
                    80) == 0,
               "write");
    expect_format(bad, &in, "wrong magic", "magic");
    /* consistent header of another version (its CRC recomputed): the version is named */
    memcpy(b, good, n);
    b[8] = 2;
    uint32_t c = crc32_bytes(b, 60);
    for (int i = 0; i < 4; i++)
        b[60 + i] = (unsigned char)(c >> (8 * i));
    AM_REQUIRE(spit(bad, b, n) == 0, "write");
    expect_format(bad, &in, "version 2", "version 2");
    /* a consistent header (CRCs right) whose wall time is not a number >= 0: it went to
     * wall.jsonl as null and into every later checkpoint */
    const double elapsed[3] = {NAN, INFINITY, -1.0};
    for (int i = 0; i < 3; i++) {
        checkpoint_info e = in;
        e.elapsed_s = elapsed[i];
        AM_REQUIRE_OK(checkpoint_write(bad, &e, st, sizeof st));
        expect_format(bad, &in, "elapsed_s", "elapsed_s");
    }
    /* a valid file of other dimensions or another configuration */
    checkpoint_info other = in;
    other.agents = 5;
    expect_format(path, &other, "other K", "made for 4 agents x 75 parameters");
    other = in;
    other.dim = 76;
    expect_format(path, &other, "other D", "this run has 4 x 76");
    other = in;
    other.config_crc = 0x4321;
    expect_format(path, &other, "other config", "another configuration");
    /* bigger than the caller accepts */
    checkpoint_info out;
    void *got = NULL;
    AM_CHECK(checkpoint_read(path, &in, 299, &out, &got, &n) == AM_EFORMAT, "max_n ignored");
    /* missing file */
    AM_CHECK(checkpoint_read("/nonexistent-airmeta/ck.bin", NULL, 100, &out, &got, &n) ==
                 AM_ENOTFOUND,
             "missing file");
    /* the good file still reads */
    AM_CHECK_OK(checkpoint_read(path, &in, 1 << 20, &out, &got, &n));
    free(got);
    free(good);
    free(b);
    remove(path);
    remove(bad);
}

/* A reader polling the file while it is replaced 40 times only ever sees a whole old or a whole
 * new checkpoint (the write goes to a temporary file renamed into place). */
AM_TEST(atomic_replace, unit)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/ck_atomic.bin", am_test_tmp_dir());
    enum { N = 1 << 20 };
    unsigned char *s0 = malloc(N), *s1 = malloc(N);
    AM_REQUIRE(s0 && s1, "out of memory");
    fill(s0, N, 10);
    fill(s1, N, 11);
    checkpoint_info in = {.round = 0, .agents = 1, .dim = N / 4, .config_crc = 7};
    AM_REQUIRE_OK(checkpoint_write(path, &in, s0, N));
    int pipefd[2];
    AM_REQUIRE(pipe(pipefd) == 0, "pipe");
    pid_t pid = fork();
    AM_REQUIRE(pid >= 0, "fork");
    if (pid == 0) { /* reader: read until the writer closes the pipe */
        close(pipefd[1]);
        int reads = 0;
        for (;;) {
            checkpoint_info out;
            void *got = NULL;
            size_t n = 0;
            if (checkpoint_read(path, &in, N, &out, &got, &n) != AM_OK) {
                fprintf(stderr, "reader: %s\n", am_last_error());
                _exit(1);
            }
            const unsigned char *want = out.round % 2 ? s1 : s0;
            if (n != N || memcmp(got, want, N) != 0)
                _exit(2);
            free(got);
            reads++;
            char ch;
            struct timeval tv = {0, 0};
            fd_set fds;
            FD_ZERO(&fds);
            FD_SET(pipefd[0], &fds);
            if (select(pipefd[0] + 1, &fds, NULL, NULL, &tv) > 0 && read(pipefd[0], &ch, 1) <= 0)
                break;
        }
        _exit(reads > 0 ? 0 : 3);
    }
    close(pipefd[0]);
    for (uint32_t r = 1; r <= 40; r++) {
        in.round = r;
        AM_CHECK_OK(checkpoint_write(path, &in, r % 2 ? s1 : s0, N));
    }
    close(pipefd[1]);
    int status = 0;
    waitpid(pid, &status, 0);
    AM_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
             "reader saw a partial or mixed checkpoint (status %d)", status);
    AM_CHECK(count_tmp(am_test_tmp_dir()) == 0, "temporary file left behind");
    /* a folder that does not exist: AM_EIO naming the path, nothing created */
    AM_CHECK(checkpoint_write("/nonexistent-airmeta/ck.bin", &in, s0, 16) == AM_EIO,
             "write into a missing folder");
    AM_CHECK(strstr(am_last_error(), "/nonexistent-airmeta/ck.bin") != NULL, "message: %s",
             am_last_error());
    free(s0);
    free(s1);
    remove(path);
}
