/* host/fsutil: mkdir -p, path join, atomic file replacement (see fsutil.h). */
#include "util/fsutil.h"

#include "core/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

am_status fs_path_join(char *out, size_t cap, const char *dir, const char *name)
{
    if (!dir || !dir[0]) /* "" + "/name" would be a file in the root folder */
        return AM_FAIL(AM_EINVAL, "empty folder name");
    int n = snprintf(out, cap, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= cap)
        return AM_FAIL(AM_EINVAL, "%s: path too long", dir);
    return AM_OK;
}

am_status fs_mkdir_p(const char *dir)
{
    char p[FS_PATH_MAX];
    if (!dir || !dir[0])
        return AM_FAIL(AM_EINVAL, "empty folder name");
    if (strlen(dir) >= sizeof p)
        return AM_FAIL(AM_EINVAL, "%.64s...: path too long", dir);
    strcpy(p, dir);
    for (char *c = p + 1; *c; c++) { /* every parent, from the top */
        if (*c != '/')
            continue;
        *c = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST)
            return AM_FAIL(AM_EIO, "%s: cannot create %s: %s", dir, p, strerror(errno));
        *c = '/';
    }
    if (mkdir(p, 0755) != 0 && errno != EEXIST)
        return AM_FAIL(AM_EIO, "%s: %s", dir, strerror(errno));
    struct stat sb;
    if (stat(p, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return AM_FAIL(AM_EIO, "%s: not a folder", dir);
    return AM_OK;
}

am_status fs_read_text(const char *path, size_t max, char **out)
{
    *out = NULL;
    FILE *f = NULL;
    am_status st = am_fopen_regular(path, "rb", &f); /* a FIFO there must not block */
    if (st != AM_OK)
        return st;
    char *s = max < SIZE_MAX ? malloc(max + 1) : NULL;
    size_t n = s ? fread(s, 1, max + 1, f) : 0;
    int bad = s && ferror(f);
    fclose(f);
    if (!s)
        return AM_FAIL(AM_ENOMEM, "%s: out of memory for %zu bytes", path, max);
    if (bad || n > max) {
        free(s);
        return bad ? AM_FAIL(AM_EIO, "%s: read error", path)
                   : AM_FAIL(AM_EFORMAT, "%s: larger than %zu bytes", path, max);
    }
    const char *z = memchr(s, '\0', n); /* the parsers would stop there and miss the rest */
    if (z) {
        const size_t at = (size_t)(z - s);
        free(s);
        return AM_FAIL(AM_EFORMAT, "%s: a NUL byte at offset %zu: not a text file", path, at);
    }
    s[n] = '\0';
    *out = s;
    return AM_OK;
}

static int write_all(int fd, const void *p, size_t n)
{
    const unsigned char *b = p;
    while (n) {
        ssize_t w = write(fd, b, n > (size_t)1 << 30 ? (size_t)1 << 30 : n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

am_status fs_write_atomic(const char *path, const fs_part *parts, size_t nparts)
{
    if (!path || (!parts && nparts))
        return AM_FAIL(AM_EINVAL, "fs_write_atomic: missing path or content");
    for (size_t i = 0; i < nparts; i++)
        if (!parts[i].data && parts[i].n)
            return AM_FAIL(AM_EINVAL, "%s: piece %zu of the content is missing", path, i);
    char tmp[FS_PATH_MAX + 16], dir[FS_PATH_MAX];
    if (strlen(path) >= FS_PATH_MAX)
        return AM_FAIL(AM_EINVAL, "%.64s...: path too long", path);
    am_status st = am_check_output(path); /* rename would replace a device, FIFO or link */
    if (st != AM_OK)
        return st;
    snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return AM_FAIL(AM_EIO, "%s: cannot create a file beside it: %s", path, strerror(errno));
    const char *what = NULL;
    if (fchmod(fd, 0644) != 0) /* mkstemp made it 0600 */
        what = "chmod";
    for (size_t i = 0; !what && i < nparts; i++)
        if (write_all(fd, parts[i].data, parts[i].n) != 0)
            what = "write";
    if (!what && fsync(fd) != 0)
        what = "fsync";
    int e = errno;
    if (close(fd) != 0 && !what) {
        what = "close";
        e = errno;
    }
    if (!what && (st = am_check_output(path)) != AM_OK) { /* swapped in while writing */
        unlink(tmp);
        return st;
    }
    if (!what && rename(tmp, path) != 0) {
        what = "rename";
        e = errno;
    }
    if (what) {
        unlink(tmp);
        return AM_FAIL(AM_EIO, "%s: %s failed: %s", path, what, strerror(e));
    }
    /* the rename itself must reach the disk: fsync the folder */
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        strcpy(dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd < 0)
        return AM_FAIL(AM_EIO, "%s: cannot open folder %s: %s", path, dir, strerror(errno));
    int bad = fsync(dfd) != 0 && errno != EINVAL; /* some file systems do not sync folders */
    e = errno;
    close(dfd);
    if (bad)
        return AM_FAIL(AM_EIO, "%s: fsync of folder %s: %s", path, dir, strerror(e));
    return AM_OK;
}

am_status fs_read_line(
    FILE *f, size_t max, const char *path, unsigned lineno, char **line, size_t *cap, size_t *len)
{
    size_t n = 0;
    int c = 0;
    *len = 0;
    if (max == 0)
        return AM_FAIL(AM_EINVAL, "%s:%u: a line of at most 0 bytes", path, lineno);
    while (n < max && (c = getc(f)) != EOF) {
        if (n + 2 > *cap) { /* this byte and the NUL */
            size_t want = *cap ? 2 * *cap : 256;
            if (want > max + 1)
                want = max + 1;
            char *p = realloc(*line, want);
            if (!p)
                return AM_FAIL(AM_ENOMEM, "%s:%u: out of memory", path, lineno);
            *line = p;
            *cap = want;
        }
        (*line)[n++] = (char)c;
        if (c == '\n')
            break;
    }
    if (ferror(f))
        return AM_FAIL(AM_EIO, "%s:%u: %s", path, lineno, strerror(errno));
    if (n == max && (*line)[n - 1] != '\n')
        return AM_FAIL(AM_EFORMAT, "%s:%u: a line of more than %zu bytes", path, lineno, max);
    if (n)
        (*line)[n] = '\0';
    *len = n;
    return AM_OK;
}
