/* host/crc32: CRC-32 (zlib, IEEE 802.3) of a buffer of any length, the checksum of control-plane
 * messages (host/net/ctrl.h wire format), checkpoints and run configurations (host/run/checkpoint.h). */
#ifndef AM_HOST_CRC32_H
#define AM_HOST_CRC32_H

#include <stddef.h>
#include <stdint.h>

/* zlib's crc32 over n bytes (in pieces: zlib takes uInt lengths); "123456789" -> 0xcbf43926. */
uint32_t crc32_bytes(const void *p, size_t n);

#endif
