/* Shared test utilities: data, tolerances, guard bands, contexts. */
#ifndef GCL_TESTS_HELPERS_H
#define GCL_TESTS_HELPERS_H

#include "reference.h"

#include <groupcl.h>
#include <stddef.h>
#include <stdint.h>

/* Fills data with reproducible values in [-1, 1) from seed. */
void test_fill(float *data, size_t count, uint64_t seed);

/* Creates a context on GROUPCL_DEVICES (or auto); fails the test if none. */
gcl_context *test_context(void);

/* Number of floats after each guarded buffer that must stay untouched. */
#define TEST_GUARD_COUNT 64

/* Allocates count floats followed by a guard band of a known pattern. */
float *test_alloc_guarded(size_t count);

/* Fails the test if the guard band after count floats was written. */
void test_check_guard(const float *data, size_t count, const char *what);

/*
 * Compares a float result with the double reference element by element:
 * |actual - expected| <= 1e-6 + 3e-6 * magnitude[i], where magnitude is the
 * reference computed on absolute values (the sum of |x * w| + |b| behind
 * each output), so the bound scales with the rounding a float sum can make.
 * A failure names the layer and the index (n, channel, position).
 */
void test_expect_close(const test_layer *layer, const float *actual,
                       const double *expected, const double *magnitude);

/*
 * Returns the index of the first of count outputs outside the bound of
 * test_expect_close, or count when all are inside. It never asserts, so
 * threads other than the test's own may call it.
 */
size_t test_first_mismatch(size_t count, const float *actual,
                           const double *expected, const double *magnitude);

/* Runs the test reference on a layer and also returns its magnitude. */
void test_reference_with_magnitude(const test_layer *layer, const float *input,
                                   const float *weights, const float *bias,
                                   double *expected, double *magnitude);

#endif
