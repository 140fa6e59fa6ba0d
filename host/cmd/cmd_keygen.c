/* airmeta keygen: a CURVE key pair for a process of a multi-process run (issue 12): NAME.key (the
 * secret, mode 0600) and NAME.pub (the public key for the server's --allow list). Formats:
 * host/net/auth.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/commands.h"
#include "net/auth.h"
#include "util/cli.h"
#include "util/fsutil.h"
#include "util/zctx.h"

/* Writes text to path, created with mode; refused when the file exists unless force. */
static am_status write_new(const char *path, const char *text, int mode, int force)
{
    if (force && unlink(path) != 0 && errno != ENOENT)
        return AM_FAIL(AM_EIO, "%s: cannot replace it: %s", path, strerror(errno));
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        return AM_FAIL(AM_EIO, "%s: %s%s", path, strerror(errno),
                       errno == EEXIST ? " (give --force to replace it)" : "");
    size_t n = strlen(text);
    int bad = write(fd, text, n) != (ssize_t)n || fchmod(fd, (mode_t)mode) != 0 || fsync(fd) != 0;
    int e = errno;
    if (close(fd) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if (bad) {
        unlink(path);
        return AM_FAIL(AM_EIO, "%s: write failed: %s", path, strerror(e));
    }
    return AM_OK;
}

int cmd_keygen(int argc, char **argv)
{
    const char *out = NULL;
    int force = 0;
    const cli_opt opts[] = {
        {"--out", CLI_STR, &out, "writes NAME.key (secret, mode 0600) and NAME.pub (public)", 1, 0,
         NULL},
        {"--force", CLI_FLAG, &force, "replace existing NAME.key / NAME.pub", 0, 0, NULL},
    };
    const cli_cmd cmd = {
        "airmeta keygen",
        "--out NAME [--force]",
        "A CURVE key pair (ZeroMQ's CurveZMQ: authentication and encryption) for one process of\n"
        "a multi-process run. Give NAME.key to that process (--key); list NAME.pub in the\n"
        "server's --allow file ('agent ID PUBKEY' or 'chan PUBKEY', one per line) and give the\n"
        "server's NAME.pub to the agents and the chan (--server-key). Existing files are not\n"
        "replaced without --force.",
        opts,
        sizeof opts / sizeof opts[0],
        0,
        0};
    size_t npos = 0;
    am_status st = cli_parse(&cmd, argc, argv, NULL, &npos);
    if (st == AM_ENOTFOUND)
        return 0;
    if (st != AM_OK)
        return cli_fail("keygen", st);
    if (!out)
        return cli_fail("keygen", AM_FAIL(AM_EINVAL, "--out is required (see --help)"));
    const size_t on = strlen(out);
    if (on == 0 || out[on - 1] == '/') /* wrote the hidden files .key and .pub (DIR/.key) */
        return cli_fail("keygen", AM_FAIL(AM_EINVAL, "--out '%s': NAME is empty (NAME.key and "
                                                     "NAME.pub; e.g. --out keys/server)",
                                          out));
    char pub[ZCTX_Z85_LEN + 2], sec[ZCTX_Z85_LEN + 2];
    if ((st = zctx_keypair(pub, sec)) != AM_OK)
        return cli_fail("keygen", st);
    char kpath[FS_PATH_MAX], ppath[FS_PATH_MAX];
    if (snprintf(kpath, sizeof kpath, "%s.key", out) >= (int)sizeof kpath ||
        snprintf(ppath, sizeof ppath, "%s.pub", out) >= (int)sizeof ppath)
        return cli_fail("keygen", AM_FAIL(AM_EINVAL, "--out: path too long"));
    strcat(pub, "\n");
    strcat(sec, "\n");
    st = write_new(kpath, sec, 0600, force);
    memset(sec, 0, sizeof sec);
    if (st == AM_OK && (st = write_new(ppath, pub, 0644, force)) != AM_OK)
        unlink(kpath);
    if (st != AM_OK)
        return cli_fail("keygen", st);
    printf("%s", pub);
    return 0;
}
