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

/* Runs the test reference on a layer and also returns its magnitude. */
void test_reference_with_magnitude(const test_layer *layer, const float *input,
                                   const float *weights, const float *bias,
                                   double *expected, double *magnitude);

/* A reference tensor with what bounds the rounding of a float32 result. */
typedef struct test_expected {
  size_t count;
  double *value;     /* the reference, in double */
  double *magnitude; /* the same sums over absolute values */
  double *terms;     /* number of products (and bias terms) in each sum */
} test_expected;

/* The reference output and gradients of one layer. */
typedef struct test_layer_expected {
  test_expected output, grad_input, grad_weights, grad_bias;
} test_layer_expected;

/*
 * Computes the reference output and the gradients of
 * loss = sum(grad_output * output), with their magnitudes and term counts.
 * bias is ignored when the layer has no bias term, and grad_bias is then
 * empty (count 0).
 */
void test_expected_compute(const test_layer *layer, const float *input,
                           const float *weights, const float *bias,
                           const float *grad_output,
                           test_layer_expected *expected);
void test_expected_free(test_layer_expected *expected);

/*
 * Compares a float tensor with its reference element by element:
 *   |actual - value| <= 1e-6 + (3e-6 + 2^-24 * terms[i]) * magnitude[i].
 * The 2^-24 * terms part bounds the rounding of a float sum of that many
 * products in any order, so long reductions (weight gradients over the
 * batch) get a bound that grows with them. A failure names label and the
 * flat index.
 */
void test_expect_tensor_close(const char *label, const float *actual,
                              const test_expected *expected);

/*
 * Checks the test reference's gradients of a layer against central finite
 * differences of its double loss sum(grad_output * output), on up to
 * `samples` elements of the input, weights and bias, spread over each.
 * This proves the reference on that layer before it judges a device.
 */
void test_check_reference_by_differences(const test_layer *layer,
                                         const float *input,
                                         const float *weights,
                                         const float *bias,
                                         const float *grad_output,
                                         size_t samples);

#endif
