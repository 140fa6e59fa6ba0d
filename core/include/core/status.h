/* core/status: one status type for every fallible call and a per-thread last-error message.
 * Shared by phy, fl and host (STYLE.md "Errors"). */
#ifndef AM_CORE_STATUS_H
#define AM_CORE_STATUS_H

typedef enum am_status {
    AM_OK = 0,
    AM_EINVAL,   /* invalid argument or configuration */
    AM_ENOMEM,   /* allocation failed */
    AM_EIO,      /* file or socket I/O failed */
    AM_EFORMAT,  /* malformed input data (file, message, samples) */
    AM_ETIMEOUT, /* nothing arrived in time */
    AM_EDEVICE,  /* radio device missing or failed */
    AM_ENOTSUP,  /* valid but not supported */
    AM_ENOTFOUND /* a named thing (file, burst, key) is absent */
} am_status;

/* Record a message for the calling thread ("file:line: what: detail") and return s. */
am_status am_error_set(am_status s, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
#define AM_FAIL(st, ...) am_error_set((st), __FILE__, __LINE__, __VA_ARGS__)

/* Prepend context to the current message (keeps the original file:line). Returns s. */
am_status am_error_wrap(am_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The calling thread's last message ("" when none). */
const char *am_last_error(void);
void am_error_clear(void);
const char *am_status_str(am_status s);

/* Process exit code documented for each status (README "Exit codes"). */
int am_status_exit_code(am_status s);

#endif
