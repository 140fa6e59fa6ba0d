/* core/file: regular files only, opened without blocking (see file.h). */
#include "core/file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *kind(mode_t m)
{
    if (S_ISDIR(m))
        return "a folder";
    if (S_ISFIFO(m))
        return "a FIFO";
    if (S_ISCHR(m))
        return "a character device";
    if (S_ISBLK(m))
        return "a block device";
    if (S_ISSOCK(m))
        return "a socket";
    if (S_ISLNK(m))
        return "a symbolic link";
    return "not a plain file";
}

am_status am_check_output(const char *path)
{
    struct stat sb;
    if (!path || !path[0])
        return AM_FAIL(AM_EINVAL, "empty output path");
    if (lstat(path, &sb) != 0)
        return errno == ENOENT ? AM_OK
                               : AM_FAIL(AM_EIO, "%s: cannot check: %s", path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return AM_FAIL(AM_EIO, "%s: not a regular file (%s): refusing to replace it", path,
                       kind(sb.st_mode));
    return AM_OK;
}

am_status am_open_regular(const char *path, int flags, int *fd)
{
    *fd = -1;
    if (!path || !path[0])
        return AM_FAIL(AM_EINVAL, "empty file name");
    const int writing = (flags & O_ACCMODE) != O_RDONLY;
    /* refuse before opening: opening a device may have effects of its own */
    struct stat sb;
    int e = writing ? lstat(path, &sb) : stat(path, &sb);
    if (e == 0 && !S_ISREG(sb.st_mode))
        return AM_FAIL(AM_EIO, "%s: not a regular file (%s)", path, kind(sb.st_mode));
    if (e != 0 && !(writing && (flags & O_CREAT) && errno == ENOENT))
        return AM_FAIL(errno == ENOENT ? AM_ENOTFOUND : AM_EIO, "%s: cannot open: %s", path,
                       strerror(errno));
    int f = open(path, flags | O_NONBLOCK | O_CLOEXEC | (writing ? O_NOFOLLOW : 0), 0666);
    if (f < 0) {
        e = errno;
        if (e == ELOOP || e == ENXIO) /* swapped in since the check: a link, or a FIFO */
            return AM_FAIL(AM_EIO, "%s: not a regular file (%s)", path,
                           e == ELOOP ? "a symbolic link" : "a FIFO");
        return AM_FAIL(e == ENOENT ? AM_ENOTFOUND : AM_EIO, "%s: cannot open: %s", path,
                       strerror(e));
    }
    if (fstat(f, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        e = errno;
        close(f);
        return AM_FAIL(AM_EIO, "%s: not a regular file (%s)", path,
                       e ? strerror(e) : kind(sb.st_mode));
    }
    int fl = fcntl(f, F_GETFL);
    if (fl < 0 || fcntl(f, F_SETFL, fl & ~O_NONBLOCK) != 0) {
        e = errno;
        close(f);
        return AM_FAIL(AM_EIO, "%s: fcntl: %s", path, strerror(e));
    }
    *fd = f;
    return AM_OK;
}

am_status am_fopen_regular(const char *path, const char *mode, FILE **out)
{
    *out = NULL;
    int flags;
    switch (mode ? mode[0] : 0) {
    case 'r': flags = 0; break;
    case 'w': flags = O_CREAT | O_TRUNC; break;
    case 'a': flags = O_CREAT | O_APPEND; break;
    default: return AM_FAIL(AM_EINVAL, "%s: bad fopen mode '%s'", path, mode ? mode : "");
    }
    const int plus = strchr(mode, '+') != NULL;
    flags |= plus ? O_RDWR : mode[0] == 'r' ? O_RDONLY : O_WRONLY;
    int fd = -1;
    am_status s = am_open_regular(path, flags, &fd);
    if (s != AM_OK)
        return s;
    FILE *f = fdopen(fd, mode);
    if (!f) {
        int e = errno;
        close(fd);
        return AM_FAIL(AM_EIO, "%s: fdopen: %s", path, strerror(e));
    }
    *out = f;
    return AM_OK;
}
