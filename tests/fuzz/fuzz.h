/* tests/fuzz: fuzz targets in libFuzzer's form (LLVMFuzzerTestOneInput) and a deterministic
 * mutation driver (driver.c) that runs one for a fixed time without clang (issue 12). */
#ifndef AM_FUZZ_H
#define AM_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* The target: must not crash, leak or read out of bounds on any input (the sanitizer build
 * checks); a broken property calls fuzz_fail. Returns 0 (libFuzzer's convention). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The target's starting inputs: up to max buffers (malloc'ed; the driver frees them). */
size_t fuzz_seeds(uint8_t **bufs, size_t *lens, size_t max);

/* Set by the target: what an input led to (a small number: a reject reason, a status), so that
 * the driver keeps the inputs reaching something new as further seeds. */
extern unsigned fuzz_outcome;

/* A broken property: prints why and the input (hex), then aborts. */
void fuzz_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Text fragments the driver inserts (JSON tokens for the SigMF target), NULL-terminated; may be
 * NULL. */
extern const char *const *fuzz_tokens;

#endif
