/* core/escape: text from outside (capture strings, paths, arguments) made safe to echo on one
 * terminal line. Used by every error message (core/status) and wherever such text is printed. */
#ifndef AM_CORE_ESCAPE_H
#define AM_CORE_ESCAPE_H

#include <stddef.h>

/* Copies s into out (capacity cap >= 4, always NUL-terminated) with newline, carriage return and
 * tab as \n \r \t and every other control byte (0x00-0x1f, 0x7f), C1 control (U+0080-U+009F)
 * and byte that is not part of well-formed UTF-8 as \xHH (ESC is \x1b). Printable ASCII (the
 * backslash too) and well-formed UTF-8 pass unchanged, so escaping twice changes nothing (messages
 * quote other messages). When the result does not fit it ends with "...". Returns out. */
const char *am_escape(char *out, size_t cap, const char *s);

#define AM_ESC_MAX 4096
/* am_escape into a buffer that lives until the end of the enclosing block: printf("%s", AM_ESC(p)) */
#define AM_ESC(s) am_escape((char[AM_ESC_MAX]){0}, AM_ESC_MAX, (s))

#endif
