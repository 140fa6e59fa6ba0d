/* tests/fuzz/driver: runs a fuzz target for a fixed time with a seeded mutation loop (bit flips,
 * interesting bytes and integers, inserted/deleted/duplicated ranges, splices, tokens). Inputs
 * reaching a new outcome join the corpus. usage: fuzz_NAME SECONDS [SEED] | fuzz_NAME -r FILE...
 * Prints the iterations, the outcomes seen and the corpus size. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fuzz.h"

#define MAX_CORPUS 4096
#define MAX_INPUT (1u << 16)
#define MAX_OUTCOMES 4096

unsigned fuzz_outcome;
static const uint8_t *cur;
static size_t cur_n;

void fuzz_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fuzz: property broken: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nfuzz: input (%zu bytes):", cur_n);
    for (size_t i = 0; i < cur_n && i < 4096; i++)
        fprintf(stderr, "%s%02x", i % 32 ? "" : "\n", cur[i]);
    fprintf(stderr, "\n");
    abort();
}

static uint64_t rs;
static uint64_t rnd(void) /* xorshift64* */
{
    rs ^= rs >> 12;
    rs ^= rs << 25;
    rs ^= rs >> 27;
    return rs * 2685821657736338717ULL;
}
static size_t below(size_t n)
{
    return n ? (size_t)(rnd() % n) : 0;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef struct input {
    uint8_t *b;
    size_t n;
} input;

/* One mutation of b[0..*n) in place (capacity MAX_INPUT). */
static void mutate(uint8_t *b, size_t *n, const input *corpus, size_t nc)
{
    static const int64_t interesting[] = {0,   1,    -1,    2,     7,     8,    16,   31,
                                          32,  64,   127,   128,   255,   256,  1000, 4096,
                                          65535, 65536, 0x7fffffff, -0x80000000LL,
                                          0xffffffffLL, 1LL << 53};
    const size_t ni = sizeof interesting / sizeof interesting[0];
    switch (below(8)) {
    case 0: /* flip a bit */
        if (*n)
            b[below(*n)] ^= (uint8_t)(1u << below(8));
        break;
    case 1: /* an interesting byte */
        if (*n)
            b[below(*n)] = (uint8_t)interesting[below(ni)];
        break;
    case 2: { /* an interesting little-endian integer of 2, 4 or 8 bytes */
        size_t w = (size_t)1 << (1 + below(3));
        if (*n >= w) {
            int64_t v = interesting[below(ni)];
            memcpy(b + below(*n - w + 1), &v, w);
        }
        break;
    }
    case 3: { /* delete a range */
        if (!*n)
            break;
        size_t at = below(*n), k = 1 + below(*n - at < 64 ? *n - at : 64);
        memmove(b + at, b + at + k, *n - at - k);
        *n -= k;
        break;
    }
    case 4: { /* duplicate a range somewhere */
        if (!*n)
            break;
        size_t from = below(*n), k = 1 + below(*n - from < 64 ? *n - from : 64), to = below(*n + 1);
        if (*n + k > MAX_INPUT)
            break;
        uint8_t tmp[64];
        memcpy(tmp, b + from, k);
        memmove(b + to + k, b + to, *n - to);
        memcpy(b + to, tmp, k);
        *n += k;
        break;
    }
    case 5: { /* splice: the tail of another corpus entry */
        const input *o = &corpus[below(nc)];
        size_t at = below(*n + 1), from = below(o->n + 1), k = o->n - from;
        if (at + k > MAX_INPUT)
            k = MAX_INPUT - at;
        memcpy(b + at, o->b + from, k);
        *n = at + k;
        break;
    }
    case 6: { /* a token */
        if (!fuzz_tokens || !fuzz_tokens[0])
            break;
        size_t nt = 0;
        while (fuzz_tokens[nt])
            nt++;
        const char *t = fuzz_tokens[below(nt)];
        size_t k = strlen(t), at = below(*n + 1);
        if (*n + k > MAX_INPUT)
            break;
        memmove(b + at + k, b + at, *n - at);
        memcpy(b + at, t, k);
        *n += k;
        break;
    }
    default: /* random bytes */
        if (*n) {
            size_t at = below(*n), k = 1 + below(*n - at < 8 ? *n - at : 8);
            for (size_t i = 0; i < k; i++)
                b[at + i] = (uint8_t)rnd();
        }
    }
}

static int replay(int argc, char **argv)
{
    for (int i = 2; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            perror(argv[i]);
            return 2;
        }
        static uint8_t b[MAX_INPUT];
        size_t n = fread(b, 1, sizeof b, f);
        fclose(f);
        cur = b;
        cur_n = n;
        LLVMFuzzerTestOneInput(b, n);
        printf("%s: outcome %u\n", argv[i], fuzz_outcome);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "-r") == 0)
        return replay(argc, argv);
    if (argc < 2 || atof(argv[1]) <= 0) {
        fprintf(stderr, "usage: %s SECONDS [SEED] | %s -r FILE...\n", argv[0], argv[0]);
        return 2;
    }
    const double secs = atof(argv[1]);
    rs = argc > 2 ? strtoull(argv[2], NULL, 10) : 1;
    if (!rs)
        rs = 1;
    static input corpus[MAX_CORPUS];
    uint8_t *sb[256];
    size_t sl[256];
    size_t nc = fuzz_seeds(sb, sl, 256);
    if (nc == 0) {
        fprintf(stderr, "fuzz: the target has no seeds\n");
        return 2;
    }
    for (size_t i = 0; i < nc; i++)
        corpus[i] = (input){sb[i], sl[i]};
    static unsigned char seen[MAX_OUTCOMES];
    unsigned nseen = 0;
    uint8_t *b = malloc(MAX_INPUT);
    if (!b)
        return 8;
    unsigned long long iters = 0;
    const double t0 = now(), t_end = t0 + secs;
    for (; (iters & 63) || now() < t_end; iters++) {
        const input *src = &corpus[below(nc)];
        size_t n = src->n;
        memcpy(b, src->b, n);
        for (size_t k = 1 + below(4); k > 0; k--)
            mutate(b, &n, corpus, nc);
        /* an allocation of exactly n bytes (as libFuzzer): ASan sees a read one byte past it */
        uint8_t *exact = malloc(n ? n : 1);
        if (!exact)
            return 8;
        memcpy(exact, b, n);
        cur = exact;
        cur_n = n;
        fuzz_outcome = 0;
        LLVMFuzzerTestOneInput(exact, n);
        free(exact);
        unsigned o = fuzz_outcome % MAX_OUTCOMES;
        if (!seen[o]) {
            seen[o] = 1;
            nseen++;
            if (nc < MAX_CORPUS && (corpus[nc].b = malloc(n ? n : 1)) != NULL) {
                memcpy(corpus[nc].b, b, n);
                corpus[nc++].n = n;
            }
        }
    }
    printf("{\"iterations\": %llu, \"seconds\": %.1f, \"outcomes\": %u, \"corpus\": %zu}\n", iters,
           now() - t0, nseen, nc);
    for (size_t i = 0; i < nc; i++)
        free(corpus[i].b);
    free(b);
    return 0;
}
