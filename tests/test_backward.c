/*
 * The backward pass (gcl_plan_backward) and transposed layers on the
 * device, against the test reference in float64. Each table layer checks
 * the forward output and the input, weight and bias gradients. The table
 * covers convolutions and transposed layers over 1-D, 2-D and 3-D, groups
 * 1 to 32, depthwise layers, strides above the kernel, dilation with
 * stride, inputs smaller than the kernel, asymmetric pads and
 * output_padding. Further tests cover Caffe's accumulation of the weight
 * and bias gradients, requests for only some gradients, bitwise
 * repeatability, every placement of the scheduler and argument errors.
 *
 * Finite differences: gcl_plan_backward takes and returns float32 arrays
 * only, so a float64 finite-difference check on the device is impossible
 * even where it reports cl_khr_fp64 (gcl_device_info.has_fp64). Each layer's
 * reference gradients are therefore checked against central differences
 * of the float64 host reference first, and the device is then compared
 * with that reference.
 *
 * Under tests/two_devices.sh the context has two PoCL devices, and the
 * "devices" placement spreads the groups over both.
 */
#include "helpers.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the layers ---------------------------------------------------------- */

/* For convolutions the trailing fields are TEST_PLAIN_CONVOLUTION or
 * (0, pad_asymmetric, pad_after, {0}). For transposed layers they are
 * (1, pad_asymmetric, pad_after, output_padding). */
static const test_layer backward_layers[] = {
    /* name, dims, N, C, K, group, in, kernel, stride, pad, dilation, bias,
       transposed, pad_asymmetric, pad_after, output_padding */
    {"1d_group2_stride2", 1, 2, 4, 6, 2, {16}, {3}, {2}, {1}, {1}, 1,
     TEST_PLAIN_CONVOLUTION},
    {"1d_stride5_above_kernel2", 1, 2, 4, 8, 4, {23}, {2}, {5}, {0}, {1}, 1,
     TEST_PLAIN_CONVOLUTION},
    {"1d_dilation3_stride2", 1, 1, 6, 6, 3, {20}, {3}, {2}, {2}, {3}, 0,
     TEST_PLAIN_CONVOLUTION},
    {"2d_group1_batch3", 2, 3, 3, 5, 1, {8, 8}, {3, 3}, {1, 1}, {1, 1},
     {1, 1}, 1, TEST_PLAIN_CONVOLUTION},
    {"2d_group3", 2, 1, 3, 6, 3, {9, 7}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, 1,
     TEST_PLAIN_CONVOLUTION},
    {"2d_group8", 2, 2, 16, 16, 8, {6, 6}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, 0,
     TEST_PLAIN_CONVOLUTION},
    {"2d_group32", 2, 2, 64, 64, 32, {7, 7}, {3, 3}, {1, 1}, {1, 1}, {1, 1},
     1, TEST_PLAIN_CONVOLUTION},
    {"2d_depthwise_stride2", 2, 2, 8, 8, 8, {9, 9}, {3, 3}, {2, 2}, {1, 1},
     {1, 1}, 1, TEST_PLAIN_CONVOLUTION},
    {"2d_depthwise_mult3_dilation2", 2, 1, 4, 12, 4, {7, 8}, {3, 3}, {1, 1},
     {2, 2}, {2, 2}, 1, TEST_PLAIN_CONVOLUTION},
    {"2d_dilation2_stride2", 2, 2, 4, 8, 2, {11, 11}, {3, 3}, {2, 2}, {2, 2},
     {2, 2}, 1, TEST_PLAIN_CONVOLUTION},
    {"2d_input_below_kernel_padded", 2, 2, 2, 3, 1, {2, 3}, {5, 5}, {1, 1},
     {2, 2}, {1, 1}, 1, TEST_PLAIN_CONVOLUTION},
    {"2d_asymmetric_pads_group2", 2, 2, 4, 4, 2, {8, 7}, {3, 3}, {2, 1},
     {0, 1}, {1, 1}, 1, 0, 1, {2, 0}, {0, 0}},
    {"2d_pointwise_group4", 2, 2, 8, 8, 4, {5, 5}, {1, 1}, {1, 1}, {0, 0},
     {1, 1}, 0, TEST_PLAIN_CONVOLUTION},
    {"1d_kernel15_group2", 1, 2, 4, 4, 2, {40}, {15}, {1}, {7}, {1}, 1,
     TEST_PLAIN_CONVOLUTION},
    {"2d_wide_rows_group2_k20", 2, 3, 4, 20, 2, {6, 37}, {3, 3}, {1, 1},
     {1, 1}, {1, 1}, 1, TEST_PLAIN_CONVOLUTION},
    {"1d_kernel16_group1", 1, 2, 2, 3, 1, {40}, {16}, {1}, {0}, {1}, 0,
     TEST_PLAIN_CONVOLUTION},
    {"2d_pad_above_kernel", 2, 1, 2, 2, 1, {3, 4}, {2, 2}, {2, 1}, {3, 2},
     {1, 1}, 1, TEST_PLAIN_CONVOLUTION},
    {"2d_pad_after_above_window", 2, 2, 2, 4, 1, {3, 4}, {2, 3}, {2, 3},
     {0, 4}, {2, 1}, 1, 0, 1, {5, 0}, {0, 0}},
    {"3d_group4", 3, 2, 4, 8, 4, {4, 5, 5}, {3, 3, 3}, {1, 1, 1}, {1, 1, 1},
     {1, 1, 1}, 1, TEST_PLAIN_CONVOLUTION},
    {"3d_depthwise_mult2_stride2", 3, 1, 3, 6, 3, {5, 6, 6}, {3, 3, 3},
     {1, 2, 2}, {2, 1, 1}, {2, 1, 1}, 0, TEST_PLAIN_CONVOLUTION},
    /* transposed layers (Deconvolution) */
    {"t1d_group2_output_padding", 1, 2, 4, 6, 2, {7}, {3}, {2}, {1}, {1}, 1,
     1, 0, {0}, {1}},
    {"t1d_input_below_kernel", 1, 2, 2, 4, 2, {1}, {3}, {1}, {1}, {1}, 1, 1,
     0, {0}, {0}},
    {"t1d_stride7_kernel1_output_pad6", 1, 2, 3, 3, 1, {5}, {1}, {7}, {0},
     {1}, 1, 1, 0, {0}, {6}},
    {"t1d_pad_above_kernel", 1, 2, 2, 2, 1, {4}, {2}, {2}, {3}, {1}, 1, 1, 0,
     {0}, {0}},
    {"t2d_group1_output_padding", 2, 2, 3, 4, 1, {5, 5}, {3, 3}, {2, 2},
     {1, 1}, {1, 1}, 1, 1, 0, {0, 0}, {1, 1}},
    {"t2d_group1_k40", 2, 1, 8, 40, 1, {3, 3}, {3, 3}, {2, 2}, {1, 1},
     {1, 1}, 1, 1, 0, {0, 0}, {1, 0}},
    {"t2d_group3_dilation_stride", 2, 1, 3, 6, 3, {5, 4}, {3, 3}, {2, 3},
     {2, 1}, {2, 2}, 1, 1, 0, {0, 0}, {1, 2}},
    {"t2d_group4_kernel4", 2, 1, 8, 8, 4, {4, 5}, {4, 4}, {2, 2}, {1, 1},
     {1, 1}, 1, 1, 0, {0, 0}, {1, 1}},
    {"t2d_group8_stride_above_kernel", 2, 1, 16, 8, 8, {4, 4}, {2, 2},
     {4, 3}, {0, 0}, {1, 1}, 1, 1, 0, {0, 0}, {3, 2}},
    {"t2d_wide_rows_group2_k20", 2, 2, 4, 20, 2, {3, 19}, {3, 3}, {1, 2},
     {1, 1}, {1, 1}, 1, 1, 0, {0, 0}, {0, 1}},
    {"t2d_group32", 2, 2, 64, 32, 32, {4, 4}, {2, 2}, {2, 2}, {0, 0},
     {1, 1}, 1, 1, 0, {0, 0}, {0, 0}},
    {"t2d_depthwise", 2, 1, 6, 6, 6, {5, 5}, {3, 3}, {1, 1}, {1, 1}, {1, 1},
     0, 1, 0, {0, 0}, {0, 0}},
    {"t2d_depthwise_mult2", 2, 2, 4, 8, 4, {6, 6}, {3, 3}, {2, 2}, {1, 1},
     {1, 1}, 1, 1, 0, {0, 0}, {1, 1}},
    {"t2d_output_padding_below_dilation", 2, 1, 4, 4, 2, {4, 5}, {3, 2},
     {2, 1}, {2, 1}, {3, 2}, 1, 1, 0, {0, 0}, {2, 1}},
    {"t2d_pads_above_kernel_asymmetric", 2, 2, 2, 4, 2, {3, 4}, {2, 3},
     {1, 2}, {3, 0}, {1, 1}, 1, 1, 1, {0, 4}, {0, 1}},
    {"t2d_asymmetric_pads", 2, 2, 4, 4, 1, {4, 3}, {3, 3}, {2, 2}, {1, 0},
     {1, 1}, 0, 1, 1, {0, 2}, {1, 1}},
    {"t3d_group2_output_padding", 3, 1, 4, 4, 2, {3, 3, 3}, {2, 2, 2},
     {2, 2, 2}, {0, 0, 0}, {1, 1, 1}, 1, 1, 0, {0, 0, 0}, {1, 0, 1}},
    {"t3d_stride_above_kernel", 3, 1, 2, 4, 2, {2, 3, 2}, {1, 2, 2},
     {3, 3, 2}, {0, 0, 1}, {1, 1, 1}, 1, 1, 0, {0, 0, 0}, {2, 1, 1}},
    {"t3d_depthwise_dilation2", 3, 2, 3, 3, 3, {2, 3, 3}, {3, 2, 2},
     {1, 2, 1}, {1, 1, 0}, {2, 1, 2}, 0, 1, 0, {0, 0, 0}, {0, 0, 0}},
};

#define LAYER_COUNT (sizeof backward_layers / sizeof backward_layers[0])

/*
 * Criterion runs each parameterized case in a newly executed copy of this
 * program, so the cases receive an index into the static table, never a
 * pointer.
 */
static size_t layer_indices[LAYER_COUNT];

static struct criterion_test_params layer_params(void) {
  for (size_t i = 0; i < LAYER_COUNT; i++)
    layer_indices[i] = i;
  return cr_make_param_array(size_t, layer_indices, LAYER_COUNT);
}

/* The placements every gradient runs under. With more queues than groups
 * the placement splits the batch too. */
static const char *const placements[] = {"single", "queues:2", "queues:3",
                                         "queues:8", "devices"};

#define PLACEMENT_COUNT (sizeof placements / sizeof placements[0])

/* Samples per tensor for the finite differences on each table layer. */
#define DIFFERENCE_SAMPLES 12

/* ---- host data and the reference ----------------------------------------- */

typedef struct layer_data {
  const test_layer *layer;
  size_t n_in, n_w, n_out, n_b; /* n_b is 0 without a bias term */
  float *input, *weights, *bias, *grad_output;
  test_layer_expected expected;
} layer_data;

static float *filled(size_t count, uint64_t seed) {
  float *data = malloc((count > 0 ? count : 1) * sizeof *data);

  cr_assert_not_null(data, "out of memory for %zu floats", count);
  test_fill(data, count, seed);
  return data;
}

static void data_open(layer_data *d, const test_layer *layer) {
  memset(d, 0, sizeof *d);
  d->layer = layer;
  d->n_in = test_input_count(layer);
  d->n_w = test_weight_count(layer);
  d->n_out = test_output_count(layer);
  d->n_b = layer->bias_term ? (size_t)layer->num_output : 0;
  cr_assert_gt(d->n_out, 0, "%s: the table layer has an empty output",
               layer->name);
  d->input = filled(d->n_in, 61);
  d->weights = filled(d->n_w, 62);
  d->bias = layer->bias_term ? filled(d->n_b, 63) : NULL;
  d->grad_output = filled(d->n_out, 64);
  test_expected_compute(layer, d->input, d->weights, d->bias,
                        d->grad_output, &d->expected);
}

static void data_close(layer_data *d) {
  free(d->input);
  free(d->weights);
  free(d->bias);
  free(d->grad_output);
  test_expected_free(&d->expected);
}

/* ---- device runs --------------------------------------------------------- */

/* The gradients a call requests. */
enum {
  WANT_INPUT = 1,
  WANT_WEIGHTS = 2,
  WANT_BIAS = 4,
  WANT_ALL = WANT_INPUT | WANT_WEIGHTS | WANT_BIAS
};

/* Guarded host arrays for one run's results. */
typedef struct device_result {
  float *output, *grad_input, *grad_weights, *grad_bias;
} device_result;

static float *guarded_filled(size_t count, float value) {
  float *data = test_alloc_guarded(count);

  for (size_t i = 0; i < count; i++)
    data[i] = value;
  return data;
}

/* Allocates the arrays of a result, each filled with `value`. */
static device_result result_alloc(const layer_data *d, float value) {
  device_result r;

  r.output = guarded_filled(d->n_out, value);
  r.grad_input = guarded_filled(d->n_in, value);
  r.grad_weights = guarded_filled(d->n_w, value);
  r.grad_bias = d->n_b > 0 ? guarded_filled(d->n_b, value) : NULL;
  return r;
}

static void result_free(device_result *r) {
  free(r->output);
  free(r->grad_input);
  free(r->grad_weights);
  free(r->grad_bias);
}

typedef struct planned {
  gcl_conv *conv;
  gcl_plan *plan;
} planned;

/* Devices a context may have in these tests (two under two_devices.sh). */
#define MAX_TEST_DEVICES 8

/* Equal throughputs make the "devices" placement the same on every run
 * instead of following a measurement. */
static const double equal_throughput[MAX_TEST_DEVICES] = {
    1, 1, 1, 1, 1, 1, 1, 1};

static planned plan_layer(gcl_context *context, const layer_data *d,
                          const char *schedule, int prepare_backward) {
  const test_layer *layer = d->layer;
  int64_t input_shape[GCL_MAX_RANK], output_shape[GCL_MAX_RANK];
  gcl_plan_options options;
  gcl_conv_desc desc;
  planned p = {NULL, NULL};

  test_layer_desc(layer, &desc, input_shape);
  gcl_plan_options_init(&options);
  cr_assert_eq(gcl_schedule_parse(schedule, &options), GCL_SUCCESS,
               "%s: gcl_schedule_parse(%s): %s", layer->name, schedule,
               gcl_last_error());
  options.backward = prepare_backward;
  if (options.schedule == GCL_SCHEDULE_DEVICES) {
    cr_assert_leq(gcl_context_device_count(context), MAX_TEST_DEVICES,
                  "more devices than equal_throughput covers");
    options.device_throughput = equal_throughput;
  }

  cr_assert_eq(gcl_conv_create(context, &desc, d->weights, d->bias, &p.conv),
               GCL_SUCCESS, "%s: gcl_conv_create: %s", layer->name,
               gcl_last_error());
  cr_assert_eq(gcl_plan_create(p.conv, layer->spatial_dims + 2, input_shape,
                               &options, &p.plan),
               GCL_SUCCESS, "%s under %s: gcl_plan_create: %s", layer->name,
               schedule, gcl_last_error());

  cr_assert_eq(gcl_plan_output_shape(p.plan, output_shape), GCL_SUCCESS);
  for (int a = 0; a < layer->spatial_dims; a++)
    cr_assert_eq(output_shape[2 + a], test_layer_output_size(layer, a),
                 "%s: output size %lld on spatial axis %d, expected %lld",
                 layer->name, (long long)output_shape[2 + a], a,
                 (long long)test_layer_output_size(layer, a));
  if (layer->transposed)
    cr_assert_eq(gcl_plan_algorithm(p.plan), GCL_ALGORITHM_TRANSPOSED,
                 "%s: a transposed layer runs %s", layer->name,
                 gcl_algorithm_name(gcl_plan_algorithm(p.plan)));
  return p;
}

static void plan_close(planned *p) {
  gcl_plan_destroy(p->plan);
  gcl_conv_destroy(p->conv);
}

static void run_forward(gcl_plan *plan, const layer_data *d,
                        device_result *r, const char *label) {
  cr_assert_eq(gcl_plan_forward(plan, d->input, r->output), GCL_SUCCESS,
               "%s: gcl_plan_forward: %s", label, gcl_last_error());
  test_check_guard(r->output, d->n_out, label);
}

/* Requests the gradients in `want` (bias only where the layer has one);
 * the forward input is passed only when the weight gradient needs it. */
static void run_backward(gcl_plan *plan, const layer_data *d,
                         device_result *r, int want, int overwrite,
                         const char *label) {
  gcl_backward_args args;

  memset(&args, 0, sizeof args);
  args.grad_output = d->grad_output;
  args.overwrite = overwrite;
  if (want & WANT_INPUT)
    args.grad_input = r->grad_input;
  if (want & WANT_WEIGHTS) {
    args.input = d->input;
    args.grad_weights = r->grad_weights;
  }
  if ((want & WANT_BIAS) && d->n_b > 0)
    args.grad_bias = r->grad_bias;

  cr_assert_eq(gcl_plan_backward(plan, &args), GCL_SUCCESS,
               "%s: gcl_plan_backward: %s", label, gcl_last_error());
  test_check_guard(r->grad_input, d->n_in, label);
  test_check_guard(r->grad_weights, d->n_w, label);
  if (d->n_b > 0)
    test_check_guard(r->grad_bias, d->n_b, label);
}

/* Compares the requested gradients with the reference. */
static void expect_gradients(const layer_data *d, const device_result *r,
                             int want, const char *label) {
  char what[192];

  if (want & WANT_INPUT) {
    snprintf(what, sizeof what, "%s: grad_input", label);
    test_expect_tensor_close(what, r->grad_input, &d->expected.grad_input);
  }
  if (want & WANT_WEIGHTS) {
    snprintf(what, sizeof what, "%s: grad_weights", label);
    test_expect_tensor_close(what, r->grad_weights,
                             &d->expected.grad_weights);
  }
  if ((want & WANT_BIAS) && d->n_b > 0) {
    snprintf(what, sizeof what, "%s: grad_bias", label);
    test_expect_tensor_close(what, r->grad_bias, &d->expected.grad_bias);
  }
}

static void expect_bitwise(const float *actual, const float *expected,
                           size_t count, const char *label,
                           const char *what) {
  for (size_t i = 0; i < count; i++)
    cr_assert_eq(memcmp(&actual[i], &expected[i], sizeof(float)), 0,
                 "%s: %s[%zu] is %.9g, expected bitwise %.9g", label, what, i,
                 (double)actual[i], (double)expected[i]);
}

/* Compares the requested gradients of two runs bit for bit. */
static void expect_same_gradients(const layer_data *d,
                                  const device_result *actual,
                                  const device_result *expected, int want,
                                  const char *label) {
  if (want & WANT_INPUT)
    expect_bitwise(actual->grad_input, expected->grad_input, d->n_in, label,
                   "grad_input");
  if (want & WANT_WEIGHTS)
    expect_bitwise(actual->grad_weights, expected->grad_weights, d->n_w,
                   label, "grad_weights");
  if ((want & WANT_BIAS) && d->n_b > 0)
    expect_bitwise(actual->grad_bias, expected->grad_bias, d->n_b, label,
                   "grad_bias");
}

/* ---- against the reference ----------------------------------------------- */

ParameterizedTestParameters(backward, matches_reference) {
  return layer_params();
}

/* Odd table rows prepare the backward pass at plan time, even ones on the
 * first gcl_plan_backward call. The gradient arrays start as NaN, which an
 * overwriting call must replace everywhere. */
ParameterizedTest(size_t *index, backward, matches_reference) {
  const test_layer *layer = &backward_layers[*index];
  gcl_context *context = test_context();
  layer_data d;
  device_result r;
  planned p;
  char label[96];

  data_open(&d, layer);
  test_check_reference_by_differences(layer, d.input, d.weights, d.bias,
                                      d.grad_output, DIFFERENCE_SAMPLES);

  p = plan_layer(context, &d, "single", (int)(*index % 2));
  r = result_alloc(&d, NAN);
  snprintf(label, sizeof label, "%s: output", layer->name);
  run_forward(p.plan, &d, &r, label);
  test_expect_tensor_close(label, r.output, &d.expected.output);
  snprintf(label, sizeof label, "%s", layer->name);
  run_backward(p.plan, &d, &r, WANT_ALL, 1, label);
  expect_gradients(&d, &r, WANT_ALL, label);

  result_free(&r);
  plan_close(&p);
  data_close(&d);
  gcl_context_destroy(context);
}

/* ---- accumulate or overwrite --------------------------------------------- */

ParameterizedTestParameters(backward, accumulates_unless_overwrite) {
  return layer_params();
}

/*
 * Caffe adds the weight and bias gradients to what the arrays contain, so
 * that several passes sum up. The input gradient is always overwritten.
 * The library adds its float sum to the caller's value, so the result is
 * bitwise previous + gradient.
 */
ParameterizedTest(size_t *index, backward, accumulates_unless_overwrite) {
  const test_layer *layer = &backward_layers[*index];
  gcl_context *context = test_context();
  layer_data d;
  device_result over, acc;
  float *previous_weights, *previous_bias = NULL;
  planned p;

  data_open(&d, layer);
  p = plan_layer(context, &d, "single", 0);

  over = result_alloc(&d, NAN);
  run_backward(p.plan, &d, &over, WANT_ALL, 1, layer->name);
  expect_gradients(&d, &over, WANT_ALL, layer->name);

  /* Known previous values; grad_input starts as NaN. */
  acc = result_alloc(&d, NAN);
  previous_weights = filled(d.n_w, 65);
  memcpy(acc.grad_weights, previous_weights, d.n_w * sizeof(float));
  if (d.n_b > 0) {
    previous_bias = filled(d.n_b, 66);
    memcpy(acc.grad_bias, previous_bias, d.n_b * sizeof(float));
  }

  run_backward(p.plan, &d, &acc, WANT_ALL, 0, layer->name);
  expect_bitwise(acc.grad_input, over.grad_input, d.n_in, layer->name,
                 "accumulating grad_input (always overwritten)");
  for (size_t i = 0; i < d.n_w; i++)
    cr_assert_eq(acc.grad_weights[i],
                 previous_weights[i] + over.grad_weights[i],
                 "%s: grad_weights[%zu] is %.9g after accumulating onto "
                 "%.9g, expected %.9g + %.9g",
                 layer->name, i, (double)acc.grad_weights[i],
                 (double)previous_weights[i], (double)previous_weights[i],
                 (double)over.grad_weights[i]);
  for (size_t i = 0; i < d.n_b; i++)
    cr_assert_eq(acc.grad_bias[i], previous_bias[i] + over.grad_bias[i],
                 "%s: grad_bias[%zu] is %.9g after accumulating onto %.9g, "
                 "expected %.9g + %.9g",
                 layer->name, i, (double)acc.grad_bias[i],
                 (double)previous_bias[i], (double)previous_bias[i],
                 (double)over.grad_bias[i]);

  /* A second pass adds the same gradient again. */
  memcpy(previous_weights, acc.grad_weights, d.n_w * sizeof(float));
  if (d.n_b > 0)
    memcpy(previous_bias, acc.grad_bias, d.n_b * sizeof(float));
  run_backward(p.plan, &d, &acc, WANT_WEIGHTS | WANT_BIAS, 0, layer->name);
  for (size_t i = 0; i < d.n_w; i++)
    cr_assert_eq(acc.grad_weights[i],
                 previous_weights[i] + over.grad_weights[i],
                 "%s: grad_weights[%zu] after the second pass is %.9g, "
                 "expected %.9g",
                 layer->name, i, (double)acc.grad_weights[i],
                 (double)(previous_weights[i] + over.grad_weights[i]));
  for (size_t i = 0; i < d.n_b; i++)
    cr_assert_eq(acc.grad_bias[i], previous_bias[i] + over.grad_bias[i],
                 "%s: grad_bias[%zu] after the second pass is %.9g, "
                 "expected %.9g",
                 layer->name, i, (double)acc.grad_bias[i],
                 (double)(previous_bias[i] + over.grad_bias[i]));

  free(previous_weights);
  free(previous_bias);
  result_free(&over);
  result_free(&acc);
  plan_close(&p);
  data_close(&d);
  gcl_context_destroy(context);
}

/* ---- some gradients only ------------------------------------------------- */

ParameterizedTestParameters(backward, partial_requests) {
  return layer_params();
}

/* Each subset of the gradients, with NULL for the others (and for the
 * forward input unless the weight gradient needs it), gives bitwise what
 * the full request gives. */
ParameterizedTest(size_t *index, backward, partial_requests) {
  static const int subsets[] = {WANT_INPUT, WANT_WEIGHTS, WANT_BIAS,
                                WANT_WEIGHTS | WANT_BIAS,
                                WANT_INPUT | WANT_BIAS};
  const test_layer *layer = &backward_layers[*index];
  gcl_context *context = test_context();
  layer_data d;
  device_result full;
  planned p;

  data_open(&d, layer);
  p = plan_layer(context, &d, "single", 0);
  full = result_alloc(&d, NAN);
  run_backward(p.plan, &d, &full, WANT_ALL, 1, layer->name);

  for (size_t s = 0; s < sizeof subsets / sizeof subsets[0]; s++) {
    device_result part = result_alloc(&d, NAN);
    char label[128];

    if (subsets[s] == WANT_BIAS && d.n_b == 0) {
      result_free(&part);
      continue;
    }
    snprintf(label, sizeof label, "%s requesting%s%s%s", layer->name,
             (subsets[s] & WANT_INPUT) ? " grad_input" : "",
             (subsets[s] & WANT_WEIGHTS) ? " grad_weights" : "",
             (subsets[s] & WANT_BIAS) ? " grad_bias" : "");
    run_backward(p.plan, &d, &part, subsets[s], 1, label);
    expect_same_gradients(&d, &part, &full, subsets[s], label);
    result_free(&part);
  }

  result_free(&full);
  plan_close(&p);
  data_close(&d);
  gcl_context_destroy(context);
}

/* ---- repeatability ------------------------------------------------------- */

ParameterizedTestParameters(backward, repeats_bitwise) {
  return layer_params();
}

/* The weight-gradient reduction over the batch runs in a fixed order, also
 * when queues:8 splits the batch and the host adds the slots' parts. The
 * second run reuses the plan and the third uses a new one. */
ParameterizedTest(size_t *index, backward, repeats_bitwise) {
  static const char *const schedules[] = {"single", "queues:8"};
  const test_layer *layer = &backward_layers[*index];
  gcl_context *context = test_context();
  layer_data d;

  data_open(&d, layer);
  for (size_t s = 0; s < sizeof schedules / sizeof schedules[0]; s++) {
    planned p = plan_layer(context, &d, schedules[s], 1);
    device_result first = result_alloc(&d, NAN);
    char label[128];

    snprintf(label, sizeof label, "%s under %s", layer->name, schedules[s]);
    run_backward(p.plan, &d, &first, WANT_ALL, 1, label);
    for (int run = 2; run <= 3; run++) {
      device_result again = result_alloc(&d, NAN);
      char run_label[160];

      if (run == 3) {
        plan_close(&p);
        p = plan_layer(context, &d, schedules[s], 0);
      }
      snprintf(run_label, sizeof run_label, "%s, run %d%s", label, run,
               run == 3 ? " on a new plan" : "");
      run_backward(p.plan, &d, &again, WANT_ALL, 1, run_label);
      expect_same_gradients(&d, &again, &first, WANT_ALL, run_label);
      result_free(&again);
    }
    result_free(&first);
    plan_close(&p);
  }
  data_close(&d);
  gcl_context_destroy(context);
}

/* ---- every placement ----------------------------------------------------- */

/* What a plan's placement does with the layer. */
typedef struct placement_shape {
  size_t slots;
  size_t devices;  /* distinct devices among the slots */
  int batch_split; /* some slot holds only part of the batch */
} placement_shape;

static placement_shape describe_placement(const gcl_plan *plan,
                                          const test_layer *layer) {
  placement_shape shape = {gcl_plan_slot_count(plan), 0, 0};
  int used[MAX_TEST_DEVICES] = {0};

  for (size_t s = 0; s < shape.slots; s++) {
    gcl_slot_info info;

    cr_assert_eq(gcl_plan_slot_info(plan, s, &info), GCL_SUCCESS, "%s",
                 gcl_last_error());
    if (info.batch_begin != 0 || info.batch_end != layer->batch)
      shape.batch_split = 1;
    cr_assert_lt(info.device_index, MAX_TEST_DEVICES);
    if (!used[info.device_index])
      shape.devices++;
    used[info.device_index] = 1;
  }
  return shape;
}

/* Checks that queues:8 splits the batch when there are fewer groups than
 * slots, and that "devices" uses every device when there is enough work. */
static void expect_placement(const placement_shape *shape,
                             const test_layer *layer, const char *schedule,
                             size_t device_count) {
  if (strcmp(schedule, "queues:8") == 0 && layer->group < 8 &&
      layer->batch > 1)
    cr_assert(shape->batch_split,
              "%s under queues:8: %lld groups on %zu slots, yet no slot "
              "splits the batch of %lld",
              layer->name, (long long)layer->group, shape->slots,
              (long long)layer->batch);
  if (strcmp(schedule, "devices") == 0 &&
      layer->group * layer->batch >= (int64_t)device_count)
    cr_assert_eq(shape->devices, device_count,
                 "%s under devices: %zu of %zu devices used", layer->name,
                 shape->devices, device_count);
}

ParameterizedTestParameters(backward, every_placement) {
  return layer_params();
}

/*
 * A slot's groups need only their own channels, so no gradient needs a
 * reduction across slots or devices. The forward output and the input
 * gradient are therefore bitwise those of the single schedule under every
 * placement. So are the weight and bias gradients, unless the placement
 * splits the batch. The host then adds the slots' partial sums, in another
 * order than one slot would.
 */
ParameterizedTest(size_t *index, backward, every_placement) {
  const test_layer *layer = &backward_layers[*index];
  gcl_context *context = test_context();
  size_t device_count = gcl_context_device_count(context);
  layer_data d;
  device_result single;
  planned p;

  data_open(&d, layer);
  p = plan_layer(context, &d, placements[0], 0);
  single = result_alloc(&d, NAN);
  run_forward(p.plan, &d, &single, layer->name);
  run_backward(p.plan, &d, &single, WANT_ALL, 1, layer->name);
  plan_close(&p);

  for (size_t i = 1; i < PLACEMENT_COUNT; i++) {
    device_result r = result_alloc(&d, NAN);
    placement_shape shape;
    char label[128];

    p = plan_layer(context, &d, placements[i], (int)(i % 2));
    shape = describe_placement(p.plan, layer);
    snprintf(label, sizeof label, "%s under %s (%zu slots on %zu devices%s)",
             layer->name, placements[i], shape.slots, shape.devices,
             shape.batch_split ? ", batch split" : "");
    expect_placement(&shape, layer, placements[i], device_count);

    run_forward(p.plan, &d, &r, label);
    run_backward(p.plan, &d, &r, WANT_ALL, 1, label);
    test_expect_tensor_close(label, r.output, &d.expected.output);
    expect_gradients(&d, &r, WANT_ALL, label);

    expect_bitwise(r.output, single.output, d.n_out, label,
                   "output against single");
    expect_same_gradients(&d, &r, &single,
                          shape.batch_split ? WANT_INPUT : WANT_ALL, label);
    result_free(&r);
    plan_close(&p);
  }

  result_free(&single);
  data_close(&d);
  gcl_context_destroy(context);
}

/* ---- output_padding ------------------------------------------------------ */

static const test_layer *find_layer(const char *name) {
  for (size_t i = 0; i < LAYER_COUNT; i++)
    if (strcmp(backward_layers[i].name, name) == 0)
      return &backward_layers[i];
  cr_assert_fail("no layer %s in the table", name);
  return NULL;
}

/*
 * With pad 1 the last row and column that output_padding restores are
 * still reached by the last input row and column through the last tap, so
 * they contain filter taps plus the bias, not zeros or the bias alone.
 */
Test(transposed, output_padding_holds_taps_and_bias) {
  const test_layer *layer = find_layer("t2d_group1_output_padding");
  gcl_context *context = test_context();
  int64_t out_h = test_layer_output_size(layer, 0);
  int64_t out_w = test_layer_output_size(layer, 1);
  layer_data d;
  device_result r;
  planned p;

  cr_assert_eq(layer->output_padding[0], 1);
  cr_assert_eq(layer->output_padding[1], 1);
  data_open(&d, layer);
  p = plan_layer(context, &d, "single", 0);
  r = result_alloc(&d, NAN);
  run_forward(p.plan, &d, &r, layer->name);

  for (int64_t n = 0; n < layer->batch; n++)
    for (int64_t k = 0; k < layer->num_output; k++)
      for (int64_t y = 0; y < out_h; y++)
        for (int64_t x = 0; x < out_w; x++) {
          size_t i = (size_t)(((n * layer->num_output + k) * out_h + y) *
                                  out_w +
                              x);
          double taps = d.expected.output.terms[i] - 1.0; /* less the bias */
          double from_taps = (double)r.output[i] - (double)d.bias[k];

          if (y != out_h - 1 && x != out_w - 1)
            continue;
          cr_assert_gt(taps, 0.0,
                       "reference: output (n=%lld, k=%lld, y=%lld, x=%lld) "
                       "in the output_padding band has no taps",
                       (long long)n, (long long)k, (long long)y,
                       (long long)x);
          cr_assert(fabs(from_taps) > 1e-4,
                    "output (n=%lld, k=%lld, y=%lld, x=%lld) is %.9g, the "
                    "bias alone (%.9g): the taps are missing",
                    (long long)n, (long long)k, (long long)y, (long long)x,
                    (double)r.output[i], (double)d.bias[k]);
          cr_assert(fabs((double)r.output[i] - d.expected.output.value[i]) <=
                        1e-5 * (1.0 + d.expected.output.magnitude[i]),
                    "output (n=%lld, k=%lld, y=%lld, x=%lld) is %.9g, "
                    "expected taps + bias = %.9g",
                    (long long)n, (long long)k, (long long)y, (long long)x,
                    (double)r.output[i], d.expected.output.value[i]);
        }

  result_free(&r);
  plan_close(&p);
  data_close(&d);
  gcl_context_destroy(context);
}

/* ---- argument errors ----------------------------------------------------- */

typedef struct args_fixture {
  gcl_context *context;
  layer_data data;
  planned planned;
  device_result result;
} args_fixture;

/* Plans a small 1-D layer with or without a bias and fills the result
 * arrays with 7. */
static void args_open(args_fixture *f, int with_bias) {
  const test_layer *layer = find_layer(with_bias ? "1d_group2_stride2"
                                                 : "1d_dilation3_stride2");

  cr_assert_eq(layer->bias_term, with_bias, "%s", layer->name);
  f->context = test_context();
  data_open(&f->data, layer);
  f->planned = plan_layer(f->context, &f->data, "single", 0);
  f->result = result_alloc(&f->data, 7.0f);
}

static void args_close(args_fixture *f) {
  result_free(&f->result);
  plan_close(&f->planned);
  data_close(&f->data);
  gcl_context_destroy(f->context);
}

/* A rejected call must leave every caller array as it was. */
static void expect_untouched(const args_fixture *f, const char *label) {
  const float seven = 7.0f;
  const layer_data *d = &f->data;

  for (size_t i = 0; i < d->n_in; i++)
    cr_assert_eq(memcmp(&f->result.grad_input[i], &seven, sizeof seven), 0,
                 "%s: grad_input[%zu] changed to %g", label, i,
                 (double)f->result.grad_input[i]);
  for (size_t i = 0; i < d->n_w; i++)
    cr_assert_eq(memcmp(&f->result.grad_weights[i], &seven, sizeof seven), 0,
                 "%s: grad_weights[%zu] changed to %g", label, i,
                 (double)f->result.grad_weights[i]);
  for (size_t i = 0; i < d->n_b; i++)
    cr_assert_eq(memcmp(&f->result.grad_bias[i], &seven, sizeof seven), 0,
                 "%s: grad_bias[%zu] changed to %g", label, i,
                 (double)f->result.grad_bias[i]);
}

static gcl_backward_args full_args(args_fixture *f) {
  gcl_backward_args args;

  memset(&args, 0, sizeof args);
  args.input = f->data.input;
  args.grad_output = f->data.grad_output;
  args.grad_input = f->result.grad_input;
  args.grad_weights = f->result.grad_weights;
  args.grad_bias = f->result.grad_bias;
  return args;
}

static void expect_rejected(gcl_status status, const char *fragment,
                            const char *label) {
  cr_assert_eq(status, GCL_ERROR_INVALID_ARGUMENT,
               "%s: status %d (%s), expected invalid argument; message: %s",
               label, (int)status, gcl_status_string(status),
               gcl_last_error());
  cr_assert(strstr(gcl_last_error(), fragment) != NULL,
            "%s: gcl_last_error() should contain \"%s\" but is \"%s\"", label,
            fragment, gcl_last_error());
}

Test(backward_args, rejects_null_grad_output) {
  args_fixture f;
  gcl_backward_args args;

  args_open(&f, 1);
  args = full_args(&f);
  args.grad_output = NULL;
  expect_rejected(gcl_plan_backward(f.planned.plan, &args),
                  "args->grad_output must not be NULL", "NULL grad_output");
  expect_untouched(&f, "NULL grad_output");
  args_close(&f);
}

Test(backward_args, rejects_null_plan_and_args) {
  args_fixture f;
  gcl_backward_args args;

  args_open(&f, 1);
  args = full_args(&f);
  expect_rejected(gcl_plan_backward(NULL, &args), "must not be NULL",
                  "NULL plan");
  expect_rejected(gcl_plan_backward(f.planned.plan, NULL),
                  "must not be NULL", "NULL args");
  expect_untouched(&f, "NULL plan or args");
  args_close(&f);
}

Test(backward_args, rejects_weights_without_input) {
  args_fixture f;
  gcl_backward_args args;

  args_open(&f, 1);
  args = full_args(&f);
  args.input = NULL;
  expect_rejected(gcl_plan_backward(f.planned.plan, &args),
                  "grad_weights needs the forward input; set args->input",
                  "grad_weights without input");
  expect_untouched(&f, "grad_weights without input");
  args_close(&f);
}

Test(backward_args, rejects_bias_gradient_without_bias) {
  args_fixture f;
  gcl_backward_args args;
  float grad_bias[8] = {7, 7, 7, 7, 7, 7, 7, 7};

  args_open(&f, 0);
  cr_assert_leq(f.data.layer->num_output, 8);
  args = full_args(&f);
  args.grad_bias = grad_bias;
  expect_rejected(gcl_plan_backward(f.planned.plan, &args),
                  "grad_bias is given but the layer has bias_term 0",
                  "grad_bias without a bias term");
  expect_untouched(&f, "grad_bias without a bias term");
  for (int i = 0; i < 8; i++)
    cr_assert_eq(grad_bias[i], 7.0f, "grad_bias[%d] changed to %g", i,
                 (double)grad_bias[i]);
  args_close(&f);
}

/* After a rejected call the plan still works, and the message clears. */
Test(backward_args, plan_usable_after_rejection) {
  args_fixture f;
  gcl_backward_args args;

  args_open(&f, 1);
  args = full_args(&f);
  args.grad_output = NULL;
  cr_assert_neq(gcl_plan_backward(f.planned.plan, &args), GCL_SUCCESS);
  args = full_args(&f);
  args.overwrite = 1;
  cr_assert_eq(gcl_plan_backward(f.planned.plan, &args), GCL_SUCCESS, "%s",
               gcl_last_error());
  cr_assert_str_empty(gcl_last_error(), "message after success: %s",
                      gcl_last_error());
  expect_gradients(&f.data, &f.result, WANT_ALL, "after a rejected call");
  args_close(&f);
}
