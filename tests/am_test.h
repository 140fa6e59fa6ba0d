/* am_test: a minimal CTest-driven test harness. Each AM_TEST(case, label) in a file
 * tests/<module>/<object>.c becomes one CTest entry "<module>.<object>.<case>" with that label
 * (unit, e2e, slow, hardware); tests/CMakeLists.txt discovers the cases from the source. */
#ifndef AM_TEST_H
#define AM_TEST_H

#include <complex.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef void (*am_test_fn)(void);
void am_test_register(const char *name, am_test_fn fn);
extern int am_test_failures;
#define AM_TEST_SKIP_CODE 77 /* a skipped case's exit code: SKIP_RETURN_CODE in CMakeLists.txt */
void am_test_skip(const char *file, int line, const char *why);

#define AM_TEST(name, label)                                                                      \
    static void am_test_##name(void);                                                             \
    __attribute__((constructor)) static void am_test_reg_##name(void)                             \
    {                                                                                             \
        am_test_register(#name, am_test_##name);                                                  \
    }                                                                                             \
    static void am_test_##name(void)

/* A failed check prints where and why and marks the case failed; the case goes on. */
#define AM_CHECK(cond, ...)                                                                       \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);              \
            fprintf(stderr, __VA_ARGS__);                                                         \
            fputc('\n', stderr);                                                                  \
            am_test_failures++;                                                                   \
        }                                                                                         \
    } while (0)

/* Fatal check: the case stops here (use when later code would dereference a failed result). */
#define AM_REQUIRE(cond, ...)                                                                     \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            fprintf(stderr, "%s:%d: requirement failed: %s: ", __FILE__, __LINE__, #cond);        \
            fprintf(stderr, __VA_ARGS__);                                                         \
            fputc('\n', stderr);                                                                  \
            am_test_failures++;                                                                   \
            return;                                                                               \
        }                                                                                         \
    } while (0)

#define AM_CHECK_NEAR(a, b, tol)                                                                  \
    do {                                                                                          \
        double am_a_ = (double)(a), am_b_ = (double)(b), am_t_ = (double)(tol);                   \
        AM_CHECK(fabs(am_a_ - am_b_) <= am_t_, "%s = %.9g, %s = %.9g, |diff| = %.3g > %.3g", #a,  \
                 am_a_, #b, am_b_, fabs(am_a_ - am_b_), am_t_);                                   \
    } while (0)

/* Checks that a call returned AM_OK, printing the library's message otherwise. */
#define AM_CHECK_OK(call)                                                                         \
    do {                                                                                          \
        am_status am_s_ = (call);                                                                 \
        AM_CHECK(am_s_ == AM_OK, "%s -> %s: %s", #call, am_status_str(am_s_), am_last_error());   \
    } while (0)
#define AM_REQUIRE_OK(call)                                                                       \
    do {                                                                                          \
        am_status am_s_ = (call);                                                                 \
        AM_REQUIRE(am_s_ == AM_OK, "%s -> %s: %s", #call, am_status_str(am_s_), am_last_error()); \
    } while (0)

/* A case that cannot run without an external tool (e.g. gnuplot) ends here: reported as SKIPPED
 * (the program exits AM_TEST_SKIP_CODE, which CTest shows as skipped, never as passed), or as
 * FAILED when the environment has CI=true (CI installs every tool: .ci/install-deps). */
#define AM_SKIP(why)                                                                              \
    do {                                                                                          \
        am_test_skip(__FILE__, __LINE__, (why));                                                  \
        return;                                                                                   \
    } while (0)

/* Path of the repository's source tree (for shipped data) and a scratch directory. */
const char *am_test_source_dir(void);
const char *am_test_tmp_dir(void);

#endif
