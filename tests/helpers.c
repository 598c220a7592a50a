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

void test_expect_close(const test_layer *layer, const float *actual,
                       const double *expected, const double *magnitude) {
  size_t total = test_output_count(layer);
  size_t per_image = total / (size_t)layer->batch;
  size_t per_channel = per_image / (size_t)layer->num_output;

  for (size_t i = 0; i < total; i++) {
    double bound = 1e-6 + 3e-6 * magnitude[i];
    double error = fabs((double)actual[i] - expected[i]);

    /* NaN in actual fails the comparison too. */
    cr_assert(error <= bound,
              "%s: output (n=%zu, channel=%zu, position=%zu) is %.9g, "
              "expected %.9g (error %.3g > bound %.3g)",
              layer->name, i / per_image, (i % per_image) / per_channel,
              i % per_channel, (double)actual[i], expected[i], error, bound);
  }
}

/* ---- reference tensors with rounding bounds ------------------------------ */

static double *doubles_from(const float *data, size_t count, int absolute) {
  double *wide = malloc((count > 0 ? count : 1) * sizeof *wide);

  cr_assert_not_null(wide, "out of memory for %zu doubles", count);
  for (size_t i = 0; i < count; i++)
    wide[i] = absolute ? fabs((double)data[i]) : (double)data[i];
  return wide;
}

static double *doubles_filled(size_t count, double value) {
  double *wide = malloc((count > 0 ? count : 1) * sizeof *wide);

  cr_assert_not_null(wide, "out of memory for %zu doubles", count);
  for (size_t i = 0; i < count; i++)
    wide[i] = value;
  return wide;
}

static void expected_alloc(test_expected *e, size_t count) {
  e->count = count;
  e->value = doubles_filled(count, 0.0);
  e->magnitude = doubles_filled(count, 0.0);
  e->terms = doubles_filled(count, 0.0);
}

/* The operands of one evaluation: the data, its absolute values, or ones
 * (which count the terms of every sum). */
typedef struct operand_set {
  double *input, *weights, *bias, *grad_output;
} operand_set;

static operand_set operands_from(const test_layer *layer, const float *input,
                                 const float *weights, const float *bias,
                                 const float *grad_output, int absolute) {
  operand_set s;

  s.input = doubles_from(input, test_input_count(layer), absolute);
  s.weights = doubles_from(weights, test_weight_count(layer), absolute);
  s.bias = layer->bias_term
               ? doubles_from(bias, (size_t)layer->num_output, absolute)
               : NULL;
  s.grad_output =
      doubles_from(grad_output, test_output_count(layer), absolute);
  return s;
}

static operand_set operands_of_ones(const test_layer *layer) {
  operand_set s;

  s.input = doubles_filled(test_input_count(layer), 1.0);
  s.weights = doubles_filled(test_weight_count(layer), 1.0);
  s.bias = layer->bias_term ? doubles_filled((size_t)layer->num_output, 1.0)
                            : NULL;
  s.grad_output = doubles_filled(test_output_count(layer), 1.0);
  return s;
}

static void operands_free(operand_set *s) {
  free(s->input);
  free(s->weights);
  free(s->bias);
  free(s->grad_output);
}

/* Evaluates the forward pass and the gradients on one operand set into
 * the value, magnitude or terms arrays (`which` selects the member). */
static void evaluate(const test_layer *layer, const operand_set *s,
                     test_layer_expected *e, int which) {
  double *output = which == 0   ? e->output.value
                   : which == 1 ? e->output.magnitude
                                : e->output.terms;
  test_gradients g;

  g.input = which == 0   ? e->grad_input.value
            : which == 1 ? e->grad_input.magnitude
                         : e->grad_input.terms;
  g.weights = which == 0   ? e->grad_weights.value
              : which == 1 ? e->grad_weights.magnitude
                           : e->grad_weights.terms;
  g.bias = NULL;
  if (layer->bias_term)
    g.bias = which == 0   ? e->grad_bias.value
             : which == 1 ? e->grad_bias.magnitude
                          : e->grad_bias.terms;

  test_reference_forward_f64(layer, s->input, s->weights, s->bias, output);
  test_reference_backward(layer, s->input, s->weights, s->grad_output, &g);
}

void test_expected_compute(const test_layer *layer, const float *input,
                           const float *weights, const float *bias,
                           const float *grad_output,
                           test_layer_expected *expected) {
  operand_set data =
      operands_from(layer, input, weights, bias, grad_output, 0);
  operand_set absolute =
      operands_from(layer, input, weights, bias, grad_output, 1);
  operand_set ones = operands_of_ones(layer);

  expected_alloc(&expected->output, test_output_count(layer));
  expected_alloc(&expected->grad_input, test_input_count(layer));
  expected_alloc(&expected->grad_weights, test_weight_count(layer));
  expected_alloc(&expected->grad_bias,
                 layer->bias_term ? (size_t)layer->num_output : 0);

  evaluate(layer, &data, expected, 0);
  evaluate(layer, &absolute, expected, 1);
  evaluate(layer, &ones, expected, 2);

  operands_free(&data);
  operands_free(&absolute);
  operands_free(&ones);
}

static void expected_release(test_expected *e) {
  free(e->value);
  free(e->magnitude);
  free(e->terms);
  memset(e, 0, sizeof *e);
}

void test_expected_free(test_layer_expected *expected) {
  expected_release(&expected->output);
  expected_release(&expected->grad_input);
  expected_release(&expected->grad_weights);
  expected_release(&expected->grad_bias);
}

void test_expect_tensor_close(const char *label, const float *actual,
                              const test_expected *expected) {
  const double unit_roundoff = 1.0 / 16777216.0; /* 2^-24, float32 */

  for (size_t i = 0; i < expected->count; i++) {
    double bound = 1e-6 + (3e-6 + unit_roundoff * expected->terms[i]) *
                              expected->magnitude[i];
    double error = fabs((double)actual[i] - expected->value[i]);

    /* NaN in actual fails the comparison too. */
    cr_assert(error <= bound,
              "%s: element %zu is %.9g, expected %.9g (error %.3g > bound "
              "%.3g, %g terms)",
              label, i, (double)actual[i], expected->value[i], error, bound,
              expected->terms[i]);
  }
}

/* ---- finite differences on the reference --------------------------------- */

/*
 * The loss is linear in every single element, so the step need not be
 * small. A step of 1/16 is exact in binary and keeps the cancellation
 * error of the difference (about 1e-16 x the loss's magnitude / step) far
 * below the tolerance.
 */
#define DIFFERENCE_STEP 0.0625

static void check_differences(const test_layer *layer, test_operands *point,
                              const double *grad_output, test_tensor tensor,
                              const double *analytic,
                              const double *magnitude, size_t count,
                              size_t samples) {
  static const char *const names[] = {"input", "weights", "bias"};
  size_t checks = count < samples ? count : samples;

  for (size_t j = 0; j < checks; j++) {
    /* Spread the samples and always include the last element. */
    size_t index = j + 1 == checks ? count - 1 : j * count / checks;
    double difference = test_reference_central_difference(
        layer, point, grad_output, tensor, index, DIFFERENCE_STEP);
    double error = fabs(difference - analytic[index]);

    cr_assert(error <= 1e-9 * (1.0 + magnitude[index]),
              "%s: reference gradient of the %s at %zu is %.12g, the "
              "central difference %.12g (error %.3g)",
              layer->name, names[tensor], index, analytic[index], difference,
              error);
  }
}

void test_check_reference_by_differences(const test_layer *layer,
                                         const float *input,
                                         const float *weights,
                                         const float *bias,
                                         const float *grad_output,
                                         size_t samples) {
  test_layer_expected e;
  operand_set data =
      operands_from(layer, input, weights, bias, grad_output, 0);
  test_operands point = {data.input, data.weights, data.bias};

  test_expected_compute(layer, input, weights, bias, grad_output, &e);
  check_differences(layer, &point, data.grad_output, TEST_TENSOR_INPUT,
                    e.grad_input.value, e.grad_input.magnitude,
                    e.grad_input.count, samples);
  check_differences(layer, &point, data.grad_output, TEST_TENSOR_WEIGHTS,
                    e.grad_weights.value, e.grad_weights.magnitude,
                    e.grad_weights.count, samples);
  if (layer->bias_term)
    check_differences(layer, &point, data.grad_output, TEST_TENSOR_BIAS,
                      e.grad_bias.value, e.grad_bias.magnitude,
                      e.grad_bias.count, samples);
  test_expected_free(&e);
  operands_free(&data);
}
