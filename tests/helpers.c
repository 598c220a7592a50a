#include "helpers.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void test_fill(float *data, size_t count, uint64_t seed) {
  uint64_t state = seed * 6364136223846793005ULL + 1442695040888963407ULL;

  for (size_t i = 0; i < count; i++) {
    /* xorshift64*, reduced to 24 bits so the float is exact. */
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    data[i] = (float)((state * 2685821657736338717ULL) >> 40) / 8388608.0f -
              1.0f;
  }
}

gcl_context *test_context(void) {
  gcl_context *context = NULL;
  gcl_status status = gcl_context_create(NULL, &context);

  cr_assert_eq(status, GCL_SUCCESS, "gcl_context_create failed: %s",
               gcl_last_error());
  return context;
}

static const float guard_value = -12345.5f;

float *test_alloc_guarded(size_t count) {
  float *data = malloc((count + TEST_GUARD_COUNT) * sizeof *data);

  cr_assert_not_null(data, "out of memory for %zu floats", count);
  for (size_t i = 0; i < count + TEST_GUARD_COUNT; i++)
    data[i] = guard_value;
  return data;
}

void test_check_guard(const float *data, size_t count, const char *what) {
  for (size_t i = count; i < count + TEST_GUARD_COUNT; i++)
    cr_assert_eq(data[i], guard_value,
                 "%s: guard element %zu after the end was overwritten (%g)",
                 what, i - count, (double)data[i]);
}

void test_reference_with_magnitude(const test_layer *layer, const float *input,
                                   const float *weights, const float *bias,
                                   double *expected, double *magnitude) {
  size_t n_in = test_input_count(layer);
  size_t n_w = test_weight_count(layer);
  size_t n_b = (size_t)layer->num_output;
  float *abs_in = malloc(n_in * sizeof *abs_in);
  float *abs_w = malloc(n_w * sizeof *abs_w);
  float *abs_b = malloc(n_b * sizeof *abs_b);

  cr_assert(abs_in != NULL && abs_w != NULL && abs_b != NULL,
            "out of memory");
  for (size_t i = 0; i < n_in; i++)
    abs_in[i] = fabsf(input[i]);
  for (size_t i = 0; i < n_w; i++)
    abs_w[i] = fabsf(weights[i]);
  for (size_t i = 0; i < n_b; i++)
    abs_b[i] = bias != NULL ? fabsf(bias[i]) : 0.0f;

  test_reference_forward(layer, input, weights, bias, expected);
  test_reference_forward(layer, abs_in, abs_w, abs_b, magnitude);
  free(abs_in);
  free(abs_w);
  free(abs_b);
}

/* The bound of test_expect_close for an output of this magnitude. */
static double tolerance(double magnitude) { return 1e-6 + 3e-6 * magnitude; }

size_t test_first_mismatch(size_t count, const float *actual,
                           const double *expected, const double *magnitude) {
  for (size_t i = 0; i < count; i++) {
    /* Written so that a NaN in actual counts as a mismatch. */
    if (!(fabs((double)actual[i] - expected[i]) <= tolerance(magnitude[i])))
      return i;
  }
  return count;
}

void test_expect_close(const test_layer *layer, const float *actual,
                       const double *expected, const double *magnitude) {
  size_t total = test_output_count(layer);
  size_t per_image = total / (size_t)layer->batch;
  size_t per_channel = per_image / (size_t)layer->num_output;

  for (size_t i = 0; i < total; i++) {
    double bound = tolerance(magnitude[i]);
    double error = fabs((double)actual[i] - expected[i]);

    /* NaN in actual fails the comparison too. */
    cr_assert(error <= bound,
              "%s: output (n=%zu, channel=%zu, position=%zu) is %.9g, "
              "expected %.9g (error %.3g > bound %.3g)",
              layer->name, i / per_image, (i % per_image) / per_channel,
              i % per_channel, (double)actual[i], expected[i], error, bound);
  }
}
