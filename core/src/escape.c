/* core/escape: one line of printable text from any bytes (see escape.h). */
#include "core/escape.h"

#include <string.h>

/* Length of the well-formed UTF-8 sequence at p (2..4), 0 when it is not one or is a C1 control */
static size_t utf8_len(const unsigned char *p)
{
    unsigned c = p[0];
    size_t n;
    unsigned lo = 0x80, hi = 0xbf; /* allowed range of the second byte */
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0; /* overlong */
        else if (c == 0xed)
            hi = 0x9f; /* surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90; /* overlong */
        else if (c == 0xf4)
            hi = 0x8f; /* beyond U+10FFFF */
    } else
        return 0;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    if (c == 0xc2 && p[1] <= 0x9f)
        return 0; /* U+0080..U+009F: C1 controls (CSI is U+009B) */
    return n;
}

const char *am_escape(char *out, size_t cap, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    if (!out || cap < 4) {
        if (out && cap)
            out[0] = '\0';
        return out;
    }
    if (!s)
        s = "(null)";
    const unsigned char *p = (const unsigned char *)s;
    size_t o = 0, cut = 0; /* cut: where "..." goes if the rest does not fit */
    while (*p) {
        char tmp[4];
        const char *piece = tmp;
        size_t k = 1, step = 1;
        unsigned c = *p;
        if (c == '\n' || c == '\r' || c == '\t') {
            tmp[0] = '\\';
            tmp[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
            k = 2;
        } else if (c >= 0x20 && c < 0x7f) {
            tmp[0] = (char)c;
        } else if (c >= 0x80 && (step = utf8_len(p)) != 0) {
            piece = (const char *)p;
            k = step;
        } else {
            step = 1;
            tmp[0] = '\\';
            tmp[1] = 'x';
            tmp[2] = hex[c >> 4];
            tmp[3] = hex[c & 15];
            k = 4;
        }
        if (o + k >= cap) { /* no room: "..." after the last whole piece that leaves room for it */
            memcpy(out + cut, "...", 4);
            return out;
        }
        memcpy(out + o, piece, k);
        o += k;
        p += step;
        if (o + 4 <= cap)
            cut = o;
    }
    out[o] = '\0';
    return out;
}
