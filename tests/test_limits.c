/*
 * Memory and size limits. With GROUPCL_MAX_ALLOC_BYTES,
 * GROUPCL_GLOBAL_MEM_BYTES or POCL_MEMORY_LIMIT lowering what the device
 * offers, plans split over the batch and then over groups, and forward and
 * backward results still match the library's host reference. A lowered
 * 32-bit index limit forces group parts and view offsets beyond it. A
 * layer that cannot fit fails with the sizes in its message.
 *
 * Criterion runs every test in its own process, so each test sets its
 * environment before it creates a context.
 */
#define _POSIX_C_SOURCE 200809L
#include "helpers.h"

#include "algo/algo_common.h"
#include "conv/backward.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- layers and data ------------------------------------------------------ */

typedef struct limit_layer {
  gcl_conv_desc desc;
  int rank;
  int64_t shape[GCL_MAX_RANK];
} limit_layer;

/* 8 channels in 4 groups, 3x3 with pad 1 over 16x16. One image contains
 * 2048 floats (8 KiB) on each side, and one group 512 (2 KiB). */
static limit_layer grouped_layer(int64_t batch) {
  limit_layer layer;

  gcl_conv_desc_init(&layer.desc, 2, 8, 8, 3);
  layer.desc.group = 4;
  layer.desc.pad[0] = layer.desc.pad[1] = 1;
  layer.rank = 4;
  layer.shape[0] = batch;
  layer.shape[1] = 8;
  layer.shape[2] = 16;
  layer.shape[3] = 16;
  return layer;
}

/* A depthwise 1x1 layer: the host reference is cheap at any size. */
static limit_layer depthwise_1x1(int64_t batch, int64_t channels,
                                 int64_t side) {
  limit_layer layer;

  gcl_conv_desc_init(&layer.desc, 2, channels, channels, 1);
  layer.desc.group = channels;
  layer.rank = 4;
  layer.shape[0] = batch;
  layer.shape[1] = channels;
  layer.shape[2] = side;
  layer.shape[3] = side;
  return layer;
}

typedef struct layer_data {
  float *input, *weights, *bias, *output, *expected;
  size_t inputs, weight_count, outputs;
  int64_t output_shape[GCL_MAX_RANK];
} layer_data;

static size_t shape_count(int rank, const int64_t *shape) {
  size_t count = 1;

  for (int i = 0; i < rank; i++)
    count *= (size_t)shape[i];
  return count;
}

static float *floats(size_t count) {
  float *data = malloc((count > 0 ? count : 1) * sizeof *data);

  cr_assert_not_null(data, "out of host memory for %zu floats", count);
  return data;
}

/* Fills input, weights and bias, and computes the expected output with
 * gcl_conv_reference_forward when with_reference is set. */
static layer_data make_data(const limit_layer *layer, int with_reference) {
  int64_t weight_shape[GCL_MAX_RANK];
  layer_data d;

  memset(&d, 0, sizeof d);
  cr_assert_eq(gcl_conv_output_shape(&layer->desc, layer->rank, layer->shape,
                                     d.output_shape),
               GCL_SUCCESS, "%s", gcl_last_error());
  gcl_conv_weight_shape(&layer->desc, weight_shape);
  d.inputs = shape_count(layer->rank, layer->shape);
  d.weight_count = shape_count(layer->rank, weight_shape);
  d.outputs = shape_count(layer->rank, d.output_shape);
  d.input = floats(d.inputs);
  d.weights = floats(d.weight_count);
  d.bias = floats((size_t)layer->desc.num_output);
  d.output = floats(d.outputs);
  test_fill(d.input, d.inputs, 11);
  test_fill(d.weights, d.weight_count, 12);
  test_fill(d.bias, (size_t)layer->desc.num_output, 13);
  if (with_reference) {
    d.expected = floats(d.outputs);
    cr_assert_eq(gcl_conv_reference_forward(&layer->desc, layer->rank,
                                            layer->shape, d.input, d.weights,
                                            d.bias, d.expected),
                 GCL_SUCCESS, "%s", gcl_last_error());
  }
  return d;
}

static void free_data(layer_data *d) {
  free(d->input);
  free(d->weights);
  free(d->bias);
  free(d->output);
  free(d->expected);
}

/* Float sums of a few hundred terms in [-1, 1] stay well inside this. */
static void expect_close(const float *actual, const float *expected,
                         size_t count, float tolerance, const char *what) {
  for (size_t i = 0; i < count; i++) {
    float bound = tolerance * (1.0f + fabsf(expected[i]));

    cr_assert(fabsf(actual[i] - expected[i]) <= bound,
              "%s: element %zu is %.9g, expected %.9g", what, i,
              (double)actual[i], (double)expected[i]);
  }
}

static gcl_plan *plan_layer(gcl_conv *conv, const limit_layer *layer,
                            gcl_algorithm algorithm) {
  gcl_plan_options options;
  gcl_plan *plan = NULL;

  gcl_plan_options_init(&options);
  options.algorithm = algorithm;
  cr_assert_eq(gcl_plan_create(conv, layer->rank, layer->shape, &options,
                               &plan),
               GCL_SUCCESS, "%s: %s", gcl_algorithm_name(algorithm),
               gcl_last_error());
  return plan;
}

static gcl_split_info split_of(const gcl_plan *plan) {
  gcl_split_info info;

  cr_assert_eq(gcl_plan_split_info(plan, &info), GCL_SUCCESS, "%s",
               gcl_last_error());
  return info;
}

/* Plans the layer with one algorithm, runs the host-array forward pass
 * and compares it with the reference; returns the plan's split. */
static gcl_split_info forward_matches(gcl_context *context,
                                      const limit_layer *layer,
                                      layer_data *d,
                                      gcl_algorithm algorithm) {
  gcl_conv *conv = NULL;
  gcl_plan *plan;
  gcl_split_info info;

  cr_assert_eq(gcl_conv_create(context, &layer->desc, d->weights, d->bias,
                               &conv),
               GCL_SUCCESS, "%s", gcl_last_error());
  plan = plan_layer(conv, layer, algorithm);
  info = split_of(plan);
  memset(d->output, 0, d->outputs * sizeof *d->output);
  cr_assert_eq(gcl_plan_forward(plan, d->input, d->output), GCL_SUCCESS,
               "%s: %s", gcl_algorithm_name(algorithm), gcl_last_error());
  expect_close(d->output, d->expected, d->outputs, 1e-4f,
               gcl_algorithm_name(algorithm));
  gcl_plan_destroy(plan);
  gcl_conv_destroy(conv);
  return info;
}

/* ---- the batch split -------------------------------------------------------- */

Test(limits, unsplit_plan_reports_no_split) {
  limit_layer layer = grouped_layer(2);
  layer_data d = make_data(&layer, 1);
  gcl_context *context = test_context();
  gcl_split_info info = forward_matches(context, &layer, &d,
                                        GCL_ALGORITHM_DIRECT);

  cr_assert_eq(info.split, 0);
  cr_assert_eq(info.parts, 1);
  cr_assert_eq(info.steps, 1);
  cr_assert_eq(info.images_per_step, 2);
  cr_assert_str_empty(info.reason);
  cr_assert_gt(info.max_device_bytes, 2 * 2 * 8192);
  gcl_context_destroy(context);
  free_data(&d);
}

/*
 * 7 images of 8 KiB need 56 KiB of staging per side. With 24 KiB per
 * buffer, slices of 3 images fit, so the plan runs 3 steps of 3 images.
 * The last step starts at image 4 and computes image 4 a second time.
 */
Test(limits, batch_split_forward) {
  limit_layer layer = grouped_layer(7);
  layer_data d;
  gcl_context *context;
  gcl_split_info info;

  setenv("GROUPCL_MAX_ALLOC_BYTES", "24K", 1);
  d = make_data(&layer, 1);
  context = test_context();
  info = forward_matches(context, &layer, &d, GCL_ALGORITHM_DIRECT);
  cr_assert_eq(info.split, 1, "the plan did not split");
  cr_assert_eq(info.parts, 1, "one image fits, so groups stay whole");
  cr_assert_eq(info.groups_per_part, 4);
  cr_assert_eq(info.images_per_step, 3);
  cr_assert_eq(info.steps, 3);
  cr_assert(strstr(info.reason, "input tensor") != NULL, "reason: %s",
            info.reason);
  cr_assert(strstr(info.reason, "24576 bytes") != NULL, "reason: %s",
            info.reason);
  gcl_context_destroy(context);
  free_data(&d);
}

/* The same split through the caller's buffers: the steps run in place at
 * growing offsets into full tensors. */
Test(limits, batch_split_on_caller_buffers) {
  limit_layer layer = grouped_layer(7);
  layer_data d;
  gcl_context *context;
  gcl_conv *conv = NULL;
  gcl_plan *plan;
  cl_mem input, output;
  cl_command_queue queue;
  cl_int code;

  setenv("GROUPCL_MAX_ALLOC_BYTES", "24K", 1);
  d = make_data(&layer, 1);
  context = test_context();
  cr_assert_eq(gcl_conv_create(context, &layer.desc, d.weights, d.bias,
                               &conv),
               GCL_SUCCESS, "%s", gcl_last_error());
  plan = plan_layer(conv, &layer, GCL_ALGORITHM_DIRECT);
  cr_assert_eq(split_of(plan).steps, 3);

  /* The caller's buffers may be larger than GROUPCL_MAX_ALLOC_BYTES,
   * which binds only groupcl's own allocations. */
  input = clCreateBuffer(gcl_context_cl_context(context, 0),
                         CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                         d.inputs * sizeof(float), d.input, &code);
  cr_assert_eq(code, CL_SUCCESS);
  output = clCreateBuffer(gcl_context_cl_context(context, 0),
                          CL_MEM_READ_WRITE, d.outputs * sizeof(float), NULL,
                          &code);
  cr_assert_eq(code, CL_SUCCESS);
  cr_assert_eq(gcl_plan_forward_cl(plan, input, output, 0, NULL, NULL),
               GCL_SUCCESS, "%s", gcl_last_error());
  queue = gcl_context_cl_queue(context, 0);
  cr_assert_eq(clEnqueueReadBuffer(queue, output, CL_TRUE, 0,
                                   d.outputs * sizeof(float), d.output, 0,
                                   NULL, NULL),
               CL_SUCCESS);
  expect_close(d.output, d.expected, d.outputs, 1e-4f, "in place");

  clReleaseMemObject(input);
  clReleaseMemObject(output);
  gcl_plan_destroy(plan);
  gcl_conv_destroy(conv);
  gcl_context_destroy(context);
  free_data(&d);
}

/* Two queues of one device each run their slot's steps through their own
 * slices. */
Test(limits, batch_split_on_two_queues) {
  limit_layer layer = grouped_layer(7);
  gcl_plan_options options;
  gcl_context *context;
  gcl_conv *conv = NULL;
  gcl_plan *plan = NULL;
  layer_data d;

  setenv("GROUPCL_MAX_ALLOC_BYTES", "12K", 1);
  d = make_data(&layer, 1);
  context = test_context();
  cr_assert_eq(gcl_conv_create(context, &layer.desc, d.weights, d.bias,
                               &conv),
               GCL_SUCCESS);
  gcl_plan_options_init(&options);
  options.algorithm = GCL_ALGORITHM_DIRECT;
  options.schedule = GCL_SCHEDULE_QUEUES;
  options.queues = 2;
  cr_assert_eq(gcl_plan_create(conv, layer.rank, layer.shape, &options,
                               &plan),
               GCL_SUCCESS, "%s", gcl_last_error());
  cr_assert_eq(gcl_plan_slot_count(plan), 2);
  cr_assert_eq(split_of(plan).split, 1);
  cr_assert_eq(gcl_plan_forward(plan, d.input, d.output), GCL_SUCCESS, "%s",
               gcl_last_error());
  expect_close(d.output, d.expected, d.outputs, 1e-4f, "two queues");
  gcl_plan_destroy(plan);
  gcl_conv_destroy(conv);
  gcl_context_destroy(context);
  free_data(&d);
}

/* ---- the group split ---------------------------------------------------------- */

/*
 * With 6 KiB per buffer not even one image (8 KiB) fits, so the groups
 * split: 2 parts of 2 groups take 4 KiB slices, one image per step.
 */
Test(limits, group_split_forward) {
  limit_layer layer = grouped_layer(7);
  layer_data d;
  gcl_context *context;
  gcl_split_info info;

  setenv("GROUPCL_MAX_ALLOC_BYTES", "6K", 1);
  d = make_data(&layer, 1);
  context = test_context();
  info = forward_matches(context, &layer, &d, GCL_ALGORITHM_DIRECT);
  cr_assert_eq(info.split, 1);
  cr_assert_eq(info.parts, 2, "4 groups should run in 2 parts");
  cr_assert_eq(info.groups_per_part, 2);
  cr_assert_eq(info.images_per_step, 1);
  cr_assert_eq(info.steps, 7);
  gcl_context_destroy(context);
  free_data(&d);
}

/*
 * Every algorithm under a cap that only group parts meet. The im2col
 * workspace of one image contains 8 channels x 9 taps x 256 positions (72
 * KiB), and under 20000 bytes only one group's (18 KiB) fits. Winograd's
 * product workspace of one image is 64 KiB for 4 groups and 32 KiB for 2.
 */
Test(limits, group_split_every_algorithm) {
  static const struct {
    gcl_algorithm algorithm;
    const char *cap;
    int64_t parts;
    const char *reason;
  } cases[] = {
      {GCL_ALGORITHM_CAFFE_GEMM, "20000", 4, "im2col workspace"},
      {GCL_ALGORITHM_GEMM_BATCHED, "20000", 4, "im2col workspace"},
      {GCL_ALGORITHM_WINOGRAD, "40000", 2, "winograd product workspace"},
      {GCL_ALGORITHM_DIRECT, "6K", 2, "input tensor"},
  };
  limit_layer layer = grouped_layer(3);

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    layer_data d;
    gcl_context *context;
    gcl_split_info info;
    const char *name = gcl_algorithm_name(cases[i].algorithm);

    setenv("GROUPCL_MAX_ALLOC_BYTES", cases[i].cap, 1);
    d = make_data(&layer, 1);
    context = test_context();
    info = forward_matches(context, &layer, &d, cases[i].algorithm);
    cr_assert_eq(info.split, 1, "%s did not split", name);
    cr_assert_eq(info.parts, cases[i].parts, "%s: %lld group parts", name,
                 (long long)info.parts);
    cr_assert(strstr(info.reason, cases[i].reason) != NULL,
              "%s split for another reason: %s", name, info.reason);
    gcl_context_destroy(context);
    free_data(&d);
  }
}

/*
 * Depthwise, pointwise and transposed layers split their groups too. One
 * image of the depthwise layer contains 16 x 144 floats (9 KiB) and one of
 * the pointwise layer 8 x 256 (8 KiB), both above 4 KiB. One output image
 * of the transposed layer contains 8 x 31 x 31 floats (30 KiB), above 16
 * KiB.
 */
Test(limits, group_split_other_layers) {
  limit_layer depthwise = depthwise_1x1(3, 16, 12);
  limit_layer pointwise = grouped_layer(3);
  limit_layer transposed = grouped_layer(3);
  const struct {
    limit_layer *layer;
    gcl_algorithm algorithm;
    const char *cap;
  } cases[] = {{&depthwise, GCL_ALGORITHM_DEPTHWISE, "4K"},
               {&pointwise, GCL_ALGORITHM_POINTWISE, "4K"},
               {&transposed, GCL_ALGORITHM_TRANSPOSED, "16K"}};

  pointwise.desc.kernel[0] = pointwise.desc.kernel[1] = 1;
  pointwise.desc.pad[0] = pointwise.desc.pad[1] = 0;
  transposed.desc.transposed = 1;
  transposed.desc.stride[0] = transposed.desc.stride[1] = 2;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *name = gcl_algorithm_name(cases[i].algorithm);
    layer_data d;
    gcl_context *context;
    gcl_split_info info;

    setenv("GROUPCL_MAX_ALLOC_BYTES", cases[i].cap, 1);
    d = make_data(cases[i].layer, 1);
    context = test_context();
    info = forward_matches(context, cases[i].layer, &d, cases[i].algorithm);

    cr_assert_eq(info.split, 1, "%s did not split", name);
    cr_assert_gt(info.parts, 1, "%s did not split its groups", name);
    gcl_context_destroy(context);
    free_data(&d);
  }
}

/* ---- global memory ------------------------------------------------------------ */

/* A global memory cap splits the batch as a buffer cap does, and the
 * context counts a live plan against the next one. */
Test(limits, global_memory_split) {
  limit_layer layer = grouped_layer(7);
  layer_data d;
  gcl_context *context;
  gcl_conv *conv = NULL;
  gcl_plan *first, *second;
  gcl_split_info info;

  setenv("GROUPCL_GLOBAL_MEM_BYTES", "60000", 1);
  d = make_data(&layer, 1);
  context = test_context();
  info = forward_matches(context, &layer, &d, GCL_ALGORITHM_DIRECT);
  cr_assert_eq(info.split, 1);
  cr_assert_eq(info.parts, 1);
  cr_assert(strstr(info.reason, "global memory") != NULL, "reason: %s",
            info.reason);
  cr_assert_leq(info.max_device_bytes, 60000);

  /* While the first plan lives, a second plan of the same layer has less
   * memory left and takes smaller steps. */
  cr_assert_eq(gcl_conv_create(context, &layer.desc, d.weights, d.bias,
                               &conv),
               GCL_SUCCESS);
  first = plan_layer(conv, &layer, GCL_ALGORITHM_DIRECT);
  second = plan_layer(conv, &layer, GCL_ALGORITHM_DIRECT);
  cr_assert_lt(split_of(second).images_per_step,
               split_of(first).images_per_step,
               "the second plan did not count the first one's memory");
  cr_assert_eq(gcl_plan_forward(second, d.input, d.output), GCL_SUCCESS,
               "%s", gcl_last_error());
  expect_close(d.output, d.expected, d.outputs, 1e-4f, "second plan");
  gcl_plan_destroy(second);
  gcl_plan_destroy(first);
  gcl_conv_destroy(conv);
  gcl_context_destroy(context);
  free_data(&d);
}

/* ---- layers that cannot fit --------------------------------------------------- */

/* One group of one image needs 2 KiB slices; 1 KiB buffers cannot hold
 * them, and the message gives both sizes and the cap. */
Test(limits, layer_too_large_fails_with_sizes) {
  limit_layer layer = grouped_layer(2);
  layer_data d;
  gcl_context *context;
  gcl_conv *conv = NULL;
  gcl_plan *plan = NULL;
  gcl_plan_options options;
  const char *message;

  setenv("GROUPCL_MAX_ALLOC_BYTES", "1K", 1);
  d = make_data(&layer, 0);
  context = test_context();
  cr_assert_eq(gcl_conv_create(context, &layer.desc, d.weights, d.bias,
                               &conv),
               GCL_SUCCESS);
  gcl_plan_options_init(&options);
  options.algorithm = GCL_ALGORITHM_DIRECT;
  cr_assert_eq(gcl_plan_create(conv, layer.rank, layer.shape, &options,
                               &plan),
               GCL_ERROR_OUT_OF_MEMORY, "%s", gcl_last_error());
  cr_assert_null(plan);
  message = gcl_last_error();
  cr_assert(strstr(message, "input slice needs 2048 bytes") != NULL, "%s",
            message);
  cr_assert(strstr(message, "(1024 bytes") != NULL, "%s", message);
  cr_assert(strstr(message, "down to 1 image") != NULL, "%s", message);
  cr_assert(strstr(message, "down to 1 group") != NULL, "%s", message);
  cr_assert(strstr(message, "GROUPCL_MAX_ALLOC_BYTES=1K") != NULL, "%s",
            message);

  /* The automatic choice fails the same way, as no algorithm fits. */
  options.algorithm = GCL_ALGORITHM_AUTO;
  cr_assert_eq(gcl_plan_create(conv, layer.rank, layer.shape, &options,
                               &plan),
               GCL_ERROR_OUT_OF_MEMORY, "%s", gcl_last_error());
  cr_assert(strstr(gcl_last_error(), "2048 bytes") != NULL, "%s",
            gcl_last_error());
  gcl_conv_destroy(conv);
  gcl_context_destroy(context);
  free_data(&d);
}

Test(limits, invalid_cap_is_rejected) {
  gcl_context *context = NULL;

  setenv("GROUPCL_MAX_ALLOC_BYTES", "lots", 1);
  cr_assert_eq(gcl_context_create(NULL, &context), GCL_ERROR_INVALID_ARGUMENT);
  cr_assert_null(context);
  cr_assert(strstr(gcl_last_error(), "GROUPCL_MAX_ALLOC_BYTES is 'lots'") !=
                NULL,
            "%s", gcl_last_error());
}

/* ---- the backward pass ----------------------------------------------------------- */

/* Runs every gradient under the environment's caps and compares each with
 * gcl_conv_reference_backward. Returns the plan's split, and in *stepped
 * whether the weight and bias gradients ran in steps. */
static gcl_split_info backward_matches(const limit_layer *layer,
                                       int *stepped) {
  layer_data d = make_data(layer, 0);
  gcl_context *context = test_context();
  size_t bias_count = (size_t)layer->desc.num_output;
  float *grad_output = floats(d.outputs);
  float *expected[3] = {floats(d.inputs), floats(d.weight_count),
                        floats(bias_count)};
  float *actual[3] = {floats(d.inputs), floats(d.weight_count),
                      floats(bias_count)};
  gcl_backward_args args = {d.input, grad_output, actual[0], actual[1],
                            actual[2], 1};
  gcl_conv *conv = NULL;
  gcl_plan *plan;
  gcl_split_info info;

  test_fill(grad_output, d.outputs, 14);
  cr_assert_eq(gcl_conv_reference_backward(
                   &layer->desc, layer->rank, layer->shape, d.input,
                   d.weights, grad_output, expected[0], expected[1],
                   expected[2]),
               GCL_SUCCESS, "%s", gcl_last_error());
  cr_assert_eq(gcl_conv_create(context, &layer->desc, d.weights, d.bias,
                               &conv),
               GCL_SUCCESS);
  plan = plan_layer(conv, layer,
                    layer->desc.transposed ? GCL_ALGORITHM_TRANSPOSED
                                           : GCL_ALGORITHM_DIRECT);
  info = split_of(plan);
  cr_assert_eq(gcl_plan_backward(plan, &args), GCL_SUCCESS, "%s",
               gcl_last_error());
  *stepped = plan->backward->split != NULL;
  expect_close(actual[0], expected[0], d.inputs, 1e-4f, "input gradient");
  expect_close(actual[1], expected[1], d.weight_count, 1e-4f,
               "weight gradient");
  expect_close(actual[2], expected[2], bias_count, 1e-4f, "bias gradient");

  /* The steps add in a fixed order: a second call gives the same bits. */
  memcpy(expected[1], actual[1], d.weight_count * sizeof(float));
  cr_assert_eq(gcl_plan_backward(plan, &args), GCL_SUCCESS, "%s",
               gcl_last_error());
  cr_assert_arr_eq(actual[1], expected[1], d.weight_count * sizeof(float),
                   "the weight gradient changed between calls");

  gcl_plan_destroy(plan);
  gcl_conv_destroy(conv);
  gcl_context_destroy(context);
  for (int i = 0; i < 3; i++) {
    free(expected[i]);
    free(actual[i]);
  }
  free(grad_output);
  free_data(&d);
  return info;
}

Test(limits, backward_batch_split) {
  limit_layer layer = grouped_layer(7);
  gcl_split_info info;

  int stepped = 0;

  setenv("GROUPCL_MAX_ALLOC_BYTES", "24K", 1);
  info = backward_matches(&layer, &stepped);
  cr_assert_eq(info.split, 1);
  cr_assert_eq(info.parts, 1);
  cr_assert_gt(info.steps, 1);
  cr_assert(stepped, "the weight gradient did not run in steps");
}

Test(limits, backward_group_split) {
  limit_layer layer = grouped_layer(7);
  gcl_split_info info;

  int stepped = 0;

  setenv("GROUPCL_MAX_ALLOC_BYTES", "6K", 1);
  info = backward_matches(&layer, &stepped);
  cr_assert_eq(info.parts, 2);
  cr_assert(stepped, "the weight gradient did not run in steps");
}

/*
 * The forward plan fits whole (115 KB of staging), and so does the input
 * gradient's plan. The full copies that the unsplit weight gradient would
 * add do not fit what remains of 250000 bytes. So the weight and bias
 * gradients run in steps although the plan is not split.
 */
Test(limits, backward_steps_when_forward_fits) {
  limit_layer layer = grouped_layer(7);
  gcl_split_info info;

  int stepped = 0;

  setenv("GROUPCL_GLOBAL_MEM_BYTES", "250000", 1);
  info = backward_matches(&layer, &stepped);
  cr_assert_eq(info.split, 0, "the forward plan should fit whole");
  cr_assert(stepped, "the weight gradient did not run in steps");
}

/* Without limits the backward pass keeps its unsplit path. */
Test(limits, backward_unsplit_without_limits) {
  limit_layer layer = grouped_layer(3);
  int stepped = 1;

  backward_matches(&layer, &stepped);
  cr_assert_not(stepped, "the weight gradient ran in steps");
}

/* One output image of the layer holds 30 KiB; 16 KiB buffers split it. */
Test(limits, backward_group_split_transposed) {
  limit_layer layer = grouped_layer(3);
  gcl_split_info info;

  layer.desc.transposed = 1;
  layer.desc.stride[0] = layer.desc.stride[1] = 2;
  int stepped = 0;

  setenv("GROUPCL_MAX_ALLOC_BYTES", "16K", 1);
  info = backward_matches(&layer, &stepped);
  cr_assert_gt(info.parts, 1);
  cr_assert(stepped, "the weight gradient did not run in steps");
}

/* ---- two devices ------------------------------------------------------------------ */

/* A split plan on two PoCL devices: the second device's slot runs its
 * units through its own slices, one unit at a time. */
Test(limits, split_on_two_devices) {
  limit_layer layer = grouped_layer(7);
  const double even[2] = {1.0, 1.0};
  gcl_plan_options options;
  gcl_context *context;
  gcl_conv *conv = NULL;
  gcl_plan *plan = NULL;
  layer_data d;

  setenv("POCL_DEVICES", "pthread pthread", 1);
  setenv("GROUPCL_DEVICES", "all", 1);
  setenv("GROUPCL_MAX_ALLOC_BYTES", "3K", 1);
  context = test_context();
  if (gcl_context_device_count(context) < 2) {
    gcl_context_destroy(context);
    cr_skip_test("POCL_DEVICES did not give two devices");
  }
  d = make_data(&layer, 1);
  cr_assert_eq(gcl_conv_create(context, &layer.desc, d.weights, d.bias,
                               &conv),
               GCL_SUCCESS);
  gcl_plan_options_init(&options);
  options.algorithm = GCL_ALGORITHM_DIRECT;
  options.schedule = GCL_SCHEDULE_DEVICES;
  options.device_throughput = even;
  cr_assert_eq(gcl_plan_create(conv, layer.rank, layer.shape, &options,
                               &plan),
               GCL_SUCCESS, "%s", gcl_last_error());
  cr_assert_eq(gcl_plan_slot_count(plan), 2);
  cr_assert_eq(split_of(plan).groups_per_part, 1);
  cr_assert_eq(gcl_plan_forward(plan, d.input, d.output), GCL_SUCCESS, "%s",
               gcl_last_error());
  expect_close(d.output, d.expected, d.outputs, 1e-4f, "two devices");
  gcl_plan_destroy(plan);
  gcl_conv_destroy(conv);
  gcl_context_destroy(context);
  free_data(&d);
}

/* ---- tuning ------------------------------------------------------------------------- */

/* Tuning times each algorithm on one unit of its split, so it never
 * allocates more than the cap either. */
Test(limits, tuning_respects_the_cap) {
  limit_layer layer = grouped_layer(7);
  gcl_tuning_result results[GCL_ALGORITHM_COUNT];
  gcl_plan_options options;
  gcl_context *context;
  gcl_conv *conv = NULL;
  gcl_plan *plan = NULL;
  size_t count = 0, timed = 0;
  layer_data d;

  setenv("GROUPCL_MAX_ALLOC_BYTES", "20000", 1);
  setenv("GROUPCL_CACHE", "off", 1);
  d = make_data(&layer, 1);
  context = test_context();
  cr_assert_eq(gcl_conv_create(context, &layer.desc, d.weights, d.bias,
                               &conv),
               GCL_SUCCESS);
  gcl_plan_options_init(&options);
  options.tune = 1;
  cr_assert_eq(gcl_plan_create(conv, layer.rank, layer.shape, &options,
                               &plan),
               GCL_SUCCESS, "%s", gcl_last_error());
  cr_assert_eq(gcl_plan_tuning_results(plan, results, GCL_ALGORITHM_COUNT,
                                       &count),
               GCL_SUCCESS);
  for (size_t i = 0; i < count; i++)
    timed += results[i].seconds > 0.0;
  cr_assert_geq(timed, 3, "only %zu algorithms were timed", timed);
  cr_assert_eq(split_of(plan).split, 1);
  cr_assert_eq(gcl_plan_forward(plan, d.input, d.output), GCL_SUCCESS, "%s",
               gcl_last_error());
  expect_close(d.output, d.expected, d.outputs, 1e-4f, "tuned");
  gcl_plan_destroy(plan);
  gcl_conv_destroy(conv);
  gcl_context_destroy(context);
  free_data(&d);
}

/* ---- the 32-bit index limit and 64-bit offsets ------------------------------------ */

/* Runs the layer in place on the caller's buffers, whose views lie at
 * offsets up to the whole tensor, and compares with the reference. */
static void forward_in_place_matches(gcl_context *context,
                                     const limit_layer *layer, layer_data *d,
                                     gcl_plan *plan, const char *what) {
  cl_context cl_ctx = gcl_context_cl_context(context, 0);
  cl_mem input, output;
  cl_int code;

  input = clCreateBuffer(cl_ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                         d->inputs * sizeof(float), d->input, &code);
  cr_assert_eq(code, CL_SUCCESS);
  output = clCreateBuffer(cl_ctx, CL_MEM_READ_WRITE,
                          d->outputs * sizeof(float), NULL, &code);
  cr_assert_eq(code, CL_SUCCESS);
  cr_assert_eq(gcl_plan_forward_cl(plan, input, output, 0, NULL, NULL),
               GCL_SUCCESS, "%s: %s", what, gcl_last_error());
  memset(d->output, 0, d->outputs * sizeof *d->output);
  cr_assert_eq(clEnqueueReadBuffer(gcl_context_cl_queue(context, 0), output,
                                   CL_TRUE, 0, d->outputs * sizeof(float),
                                   d->output, 0, NULL, NULL),
               CL_SUCCESS);
  expect_close(d->output, d->expected, d->outputs, 1e-4f, what);
  clReleaseMemObject(input);
  clReleaseMemObject(output);
  (void)layer;
}

/*
 * With the index limit lowered to a few thousand floats, one image of the
 * layer (2048 floats) or its im2col workspace exceeds it, so the plan
 * splits the groups. The in-place views of later images and parts then lie
 * at offsets of up to 13824 floats, far beyond the limit. Every 32-bit
 * kernel argument goes through gcl_int_argument, which rejects values
 * above the limit, and CLBlast's int offsets go through a sub-buffer. So
 * an offset passed as, or cut to, an int on these paths fails the call or
 * misplaces an image, and the comparison with the reference catches both.
 */
Test(limits, index_limit_forces_parts_and_long_offsets) {
  static const struct {
    gcl_algorithm algorithm;
    int64_t limit;
  } cases[] = {
      {GCL_ALGORITHM_DIRECT, 1500},
      {GCL_ALGORITHM_CAFFE_GEMM, 5000},
      {GCL_ALGORITHM_GEMM_BATCHED, 5000},
      {GCL_ALGORITHM_WINOGRAD, 4100},
  };
  limit_layer layer = grouped_layer(7);
  layer_data d = make_data(&layer, 1);
  gcl_context *context = test_context();
  gcl_conv *conv = NULL;
  int64_t image = 8 * 16 * 16;
  cl_int argument;

  cr_assert_eq(gcl_conv_create(context, &layer.desc, d.weights, d.bias,
                               &conv),
               GCL_SUCCESS);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *name = gcl_algorithm_name(cases[i].algorithm);
    gcl_plan *plan;
    gcl_split_info info;

    gcl_set_index_limit(cases[i].limit);
    plan = plan_layer(conv, &layer, cases[i].algorithm);
    info = split_of(plan);
    cr_assert_eq(info.split, 1, "%s did not split", name);
    cr_assert_gt(info.parts, 1, "%s did not split its groups", name);
    cr_assert(strstr(info.reason, "32-bit ints") != NULL, "%s: %s", name,
              info.reason);
    /* The last image's view starts far beyond the limit. */
    cr_assert_gt(6 * image, 2 * cases[i].limit);
    forward_in_place_matches(context, &layer, &d, plan, name);
    cr_assert_eq(gcl_plan_forward(plan, d.input, d.output), GCL_SUCCESS,
                 "%s: %s", name, gcl_last_error());
    expect_close(d.output, d.expected, d.outputs, 1e-4f, name);
    gcl_plan_destroy(plan);

    /* The guard the kernels' remaining int arguments pass through. */
    cr_assert_eq(gcl_int_argument(cases[i].limit + 1, "test value",
                                  &argument),
                 GCL_ERROR_UNSUPPORTED);
  }
  gcl_set_index_limit(0);
  gcl_conv_destroy(conv);
  gcl_context_destroy(context);
  free_data(&d);
}

/* One group of one image above the index limit cannot be split further. */
Test(limits, image_beyond_index_limit_fails) {
  limit_layer layer = grouped_layer(1);
  layer_data d = make_data(&layer, 0);
  gcl_context *context = test_context();
  gcl_conv *conv = NULL;
  gcl_plan *plan = NULL;
  gcl_plan_options options;

  gcl_set_index_limit(400); /* one group's image holds 512 floats */
  cr_assert_eq(gcl_conv_create(context, &layer.desc, d.weights, d.bias,
                               &conv),
               GCL_SUCCESS);
  gcl_plan_options_init(&options);
  options.algorithm = GCL_ALGORITHM_DIRECT;
  cr_assert_eq(gcl_plan_create(conv, layer.rank, layer.shape, &options,
                               &plan),
               GCL_ERROR_UNSUPPORTED);
  cr_assert(strstr(gcl_last_error(),
                   "input image of one part holds 512 floats") != NULL,
            "%s", gcl_last_error());
  gcl_set_index_limit(0);
  gcl_conv_destroy(conv);
  gcl_context_destroy(context);
  free_data(&d);
}

/* ---- PoCL's own memory limit ----------------------------------------------------- */

/*
 * POCL_MEMORY_LIMIT=1 makes PoCL 3.1 report 1 GiB of global memory and a
 * largest allocation of a quarter of it. It rejects larger buffers with
 * CL_INVALID_BUFFER_SIZE, but does not stop the total from passing 1 GiB,
 * so groupcl's own count is what keeps plans inside it. 140 images of 2
 * MiB (280 MiB) exceed the 256 MiB allocation, so the batch splits.
 */
Test(limits, pocl_memory_limit_splits_batch) {
  limit_layer layer = depthwise_1x1(140, 32, 128);
  gcl_device_info info;
  gcl_split_info split;
  gcl_context *context;
  layer_data d;

  setenv("POCL_MEMORY_LIMIT", "1", 1);
  context = test_context();
  cr_assert_eq(gcl_context_device_info(context, 0, &info), GCL_SUCCESS);
  if (strstr(info.platform_name, "Portable Computing Language") == NULL) {
    gcl_context_destroy(context);
    cr_skip_test("POCL_MEMORY_LIMIT is a PoCL variable; the device is on "
                 "'%s'",
                 info.platform_name);
  }
  cr_assert_leq(info.global_mem_bytes, (cl_ulong)1 << 30,
                "POCL_MEMORY_LIMIT=1 left %llu bytes of global memory",
                (unsigned long long)info.global_mem_bytes);
  cr_assert_lt(info.max_alloc_bytes, (cl_ulong)280 << 20);

  d = make_data(&layer, 1);
  split = forward_matches(context, &layer, &d, GCL_ALGORITHM_DEPTHWISE);
  cr_assert_eq(split.split, 1);
  cr_assert_eq(split.parts, 1);
  cr_assert_gt(split.steps, 1);
  cr_assert_leq(split.max_device_bytes, info.global_mem_bytes);
  gcl_context_destroy(context);
  free_data(&d);
}
