#include "core/status.h"

#include "core/escape.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char am_errbuf[1024];

am_status am_error_set(am_status s, const char *file, int line, const char *fmt, ...)
{
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    int n = snprintf(am_errbuf, sizeof am_errbuf, "%s:%d: ", base, line);
    if (n < 0 || (size_t)n >= sizeof am_errbuf)
        n = 0;
    /* what was formatted may quote captures, paths and arguments: one printable line */
    char raw[sizeof am_errbuf];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    am_escape(am_errbuf + n, sizeof am_errbuf - (size_t)n, raw);
    return s;
}

am_status am_error_wrap(am_status s, const char *fmt, ...)
{
    char raw[512], prefix[512], old[sizeof am_errbuf];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof raw, fmt, ap);
    va_end(ap);
    am_escape(prefix, sizeof prefix, raw); /* the old message is escaped already */
    memcpy(old, am_errbuf, sizeof old);
    size_t np = strlen(prefix);
    if (np > sizeof am_errbuf - 3)
        np = sizeof am_errbuf - 3;
    memcpy(am_errbuf, prefix, np);
    memcpy(am_errbuf + np, ": ", 2);
    size_t room = sizeof am_errbuf - np - 3;
    size_t no = strnlen(old, room);
    memcpy(am_errbuf + np + 2, old, no);
    am_errbuf[np + 2 + no] = '\0';
    return s;
}

const char *am_last_error(void)
{
    return am_errbuf;
}

void am_error_clear(void)
{
    am_errbuf[0] = '\0';
}

const char *am_status_str(am_status s)
{
    switch (s) {
    case AM_OK: return "ok";
    case AM_EINVAL: return "invalid argument";
    case AM_ENOMEM: return "out of memory";
    case AM_EIO: return "I/O error";
    case AM_EFORMAT: return "malformed input";
    case AM_ETIMEOUT: return "timeout";
    case AM_EDEVICE: return "device error";
    case AM_ENOTSUP: return "not supported";
    case AM_ENOTFOUND: return "not found";
    }
    return "unknown status";
}

int am_status_exit_code(am_status s)
{
    switch (s) {
    case AM_OK: return 0;
    case AM_EINVAL: return 2;
    case AM_EFORMAT: return 3;
    case AM_EIO: return 4;
    case AM_ENOTFOUND: return 4;
    case AM_EDEVICE: return 5;
    case AM_ETIMEOUT: return 6;
    case AM_ENOTSUP: return 7;
    case AM_ENOMEM: return 8;
    }
    return 1;
}
