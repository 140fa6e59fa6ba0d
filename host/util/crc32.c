/* host/crc32: zlib's CRC-32 over any length (see crc32.h). */
#include "util/crc32.h"

#include <zlib.h>

uint32_t crc32_bytes(const void *p, size_t n)
{
    uLong c = crc32(0L, Z_NULL, 0);
    const unsigned char *b = p;
    while (n) { /* zlib takes uInt lengths */
        uInt m = n > 0x40000000u ? 0x40000000u : (uInt)n;
        c = crc32(c, b, m);
        b += m;
        n -= m;
    }
    return (uint32_t)c;
}
