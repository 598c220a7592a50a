/*
 * Tests of the algorithms. Each one runs the layers of the table it
 * supports against the test reference. Further tests check the automatic
 * choice, and run algorithms on tensor views inside larger buffers, as the
 * scheduler runs them on group and image ranges.
 */
#include "helpers.h"
#include "layer_table.h"

#include "algo/algo.h"
#include "algo/im2col_gemm.h"
#include "conv/conv.h"
#include "runtime/context.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The algorithms under test; GCL_ALGORITHM_AUTO is not one. */
static const gcl_algorithm tested_algorithms[] = {
    GCL_ALGORITHM_DEPTHWISE, GCL_ALGORITHM_POINTWISE, GCL_ALGORITHM_DIRECT,
    GCL_ALGORITHM_WINOGRAD, GCL_ALGORITHM_GEMM_BATCHED,
    GCL_ALGORITHM_CAFFE_GEMM};

#define TESTED_COUNT (sizeof tested_algorithms / sizeof tested_algorithms[0])

typedef struct algorithm_case {
  test_layer layer; /* named LAYER/ALGORITHM, cut to fit */
  gcl_algorithm algorithm;
} algorithm_case;

/* Test data of one layer: input, weights and bias from fixed seeds. */
typedef struct layer_data {
  float *input, *weights, *bias;
  size_t n_in, n_w, n_out;
} layer_data;

static void layer_data_open(layer_data *data, const test_layer *layer) {
  data->n_in = test_input_count(layer);
  data->n_w = test_weight_count(layer);
  data->n_out = test_output_count(layer);
  data->input = malloc(data->n_in * sizeof *data->input);
  data->weights = malloc(data->n_w * sizeof *data->weights);
  data->bias = malloc((size_t)layer->num_output * sizeof *data->bias);
  cr_assert(data->input && data->weights && data->bias, "out of memory");
  test_fill(data->input, data->n_in, 1);
  test_fill(data->weights, data->n_w, 2);
  test_fill(data->bias, (size_t)layer->num_output, 3);
}

static void layer_data_close(layer_data *data) {
  free(data->input);
  free(data->weights);
  free(data->bias);
}

/* Checks output against the reference of layer computed on data. */
static void expect_reference(const test_layer *layer, const layer_data *data,
                             const float *output) {
  double *expected = malloc(data->n_out * sizeof *expected);
  double *magnitude = malloc(data->n_out * sizeof *magnitude);

  cr_assert(expected && magnitude, "out of memory");
  test_reference_with_magnitude(layer, data->input, data->weights,
                                layer->bias_term ? data->bias : NULL,
                                expected, magnitude);
  test_expect_close(layer, output, expected, magnitude);
  free(expected);
  free(magnitude);
}

/* ---- every algorithm on the layer table ------------------------------- */

/*
 * Returns 1 if the algorithm is meant to run the layer, so that declining
 * it is a failure rather than a skip.
 */
static int must_support(const test_layer *layer, gcl_algorithm algorithm) {
  switch (algorithm) {
  case GCL_ALGORITHM_DEPTHWISE:
    return layer->group == layer->channels;
  case GCL_ALGORITHM_POINTWISE:
    for (int a = 0; a < layer->spatial_dims; a++) {
      if (layer->kernel[a] != 1 || layer->stride[a] != 1 ||
          layer->pad[a] != 0)
        return 0;
    }
    return 1;
  case GCL_ALGORITHM_WINOGRAD:
    /* Every 2-D 3x3 layer at stride 1 and dilation 1, any pad and group. */
    if (layer->spatial_dims != 2)
      return 0;
    for (int a = 0; a < 2; a++) {
      if (layer->kernel[a] != 3 || layer->stride[a] != 1 ||
          layer->dilation[a] != 1)
        return 0;
    }
    return 1;
  default:
    /* direct, gemm_batched and caffe_gemm run every 1-D, 2-D and 3-D layer
       of the table. */
    return 1;
  }
}

/* The generated layers go only to the general algorithms and winograd:
 * few of them are depthwise or 1x1, and caffe_gemm is the slowest to run.
 * Winograd declines most of them quickly, and runs the 3x3 ones. */
static int runs_generated(gcl_algorithm algorithm) {
  return algorithm == GCL_ALGORITHM_DIRECT ||
         algorithm == GCL_ALGORITHM_WINOGRAD ||
         algorithm == GCL_ALGORITHM_GEMM_BATCHED;
}

static algorithm_case all_cases[TESTED_COUNT * TEST_LAYER_TABLE_MAX];

ParameterizedTestParameters(algorithms, layer_table) {
  size_t layer_count, hand_picked, count = 0;
  const test_layer *layers = test_layer_table(&layer_count, &hand_picked);

  for (size_t a = 0; a < TESTED_COUNT; a++) {
    gcl_algorithm algorithm = tested_algorithms[a];
    size_t used = runs_generated(algorithm) ? layer_count : hand_picked;

    for (size_t i = 0; i < used; i++) {
      algorithm_case *test_case = &all_cases[count++];

      test_case->layer = layers[i];
      snprintf(test_case->layer.name, sizeof test_case->layer.name,
               "%s/%s", layers[i].name, gcl_algorithm_name(algorithm));
      test_case->algorithm = algorithm;
    }
  }
  return cr_make_param_array(algorithm_case, all_cases, count);
}

ParameterizedTest(algorithm_case *test_case, algorithms, layer_table) {
  const test_layer *layer = &test_case->layer;
  int64_t input_shape[GCL_MAX_RANK];
  gcl_context *context = test_context();
  gcl_plan_options options;
  gcl_conv_desc desc;
  gcl_conv *conv = NULL;
  gcl_plan *plan = NULL;
  layer_data data;
  gcl_status status;
  float *output;

  layer_data_open(&data, layer);
  test_layer_desc(layer, &desc, input_shape);
  status = gcl_conv_create(context, &desc, data.weights,
                           layer->bias_term ? data.bias : NULL, &conv);
  cr_assert_eq(status, GCL_SUCCESS, "%s: gcl_conv_create: %s", layer->name,
               gcl_last_error());

  gcl_plan_options_init(&options);
  options.algorithm = test_case->algorithm;
  status = gcl_plan_create(conv, layer->spatial_dims + 2, input_shape,
                           &options, &plan);
  if (status == GCL_ERROR_UNSUPPORTED) {
    cr_assert_not(must_support(layer, test_case->algorithm),
                  "%s: the algorithm declined a layer it is meant to run: "
                  "%s",
                  layer->name, gcl_last_error());
    gcl_conv_destroy(conv);
    gcl_context_destroy(context);
    layer_data_close(&data);
    cr_skip_test("%s: declined: %s", layer->name, gcl_last_error());
  }
  cr_assert_eq(status, GCL_SUCCESS, "%s: gcl_plan_create: %s", layer->name,
               gcl_last_error());
  cr_assert_eq(gcl_plan_algorithm(plan), test_case->algorithm,
               "%s: the plan runs %s", layer->name,
               gcl_algorithm_name(gcl_plan_algorithm(plan)));

  output = test_alloc_guarded(data.n_out);
  status = gcl_plan_forward(plan, data.input, output);
  cr_assert_eq(status, GCL_SUCCESS, "%s: gcl_plan_forward: %s", layer->name,
               gcl_last_error());
  test_check_guard(output, data.n_out, layer->name);
  expect_reference(layer, &data, output);

  gcl_plan_destroy(plan);
  gcl_conv_destroy(conv);
  gcl_context_destroy(context);
  layer_data_close(&data);
  free(output);
}

/* ---- the automatic choice ------------------------------------------------ */

typedef struct choice_case {
  test_layer layer;
  gcl_algorithm expected;
} choice_case;

/*
 * The cost models' efficiencies come from measurements on PoCL on a CPU,
 * so these choices are what a CPU device must get.
 */
static choice_case choice_cases[] = {
    {L2("mobilenet_dw1", 1, 32, 32, 32, 112, 112, 3, 3, 1, 1, 1, 1, 1, 1, 1),
     GCL_ALGORITHM_DEPTHWISE},
    {L2("mobilenet_dw2_stride2", 1, 64, 64, 64, 112, 112, 3, 3, 2, 2, 1, 1,
        1, 1, 1),
     GCL_ALGORITHM_DEPTHWISE},
    {L2("shufflenet_1x1_g8", 1, 384, 96, 8, 28, 28, 1, 1, 1, 1, 0, 0, 1, 1,
        1),
     GCL_ALGORITHM_POINTWISE},
    {L2("resnext50_3x3_g32", 1, 128, 128, 32, 56, 56, 3, 3, 1, 1, 1, 1, 1, 1,
        1),
     GCL_ALGORITHM_DIRECT},
    {L2("alexnet_conv2_g2", 1, 96, 256, 2, 27, 27, 5, 5, 1, 1, 2, 2, 1, 1, 1),
     GCL_ALGORITHM_DIRECT},
};

ParameterizedTestParameters(auto_choice, cpu_layers) {
  return cr_make_param_array(choice_case, choice_cases,
                             sizeof choice_cases / sizeof choice_cases[0]);
}

ParameterizedTest(choice_case *test_case, auto_choice, cpu_layers) {
  const test_layer *layer = &test_case->layer;
  int64_t input_shape[GCL_MAX_RANK];
  gcl_context *context = test_context();
  gcl_device_info info;
  gcl_conv_desc desc;
  gcl_conv *conv = NULL;
  gcl_plan *plan = NULL;
  float *weights = calloc(test_weight_count(layer), sizeof *weights);
  float *bias = calloc((size_t)layer->num_output, sizeof *bias);

  cr_assert(weights && bias, "out of memory");
  cr_assert_eq(gcl_context_device_info(context, 0, &info), GCL_SUCCESS);
  if (!(info.type & CL_DEVICE_TYPE_CPU)) {
    gcl_context_destroy(context);
    cr_skip_test("the expected choices are for CPU devices");
  }

  test_layer_desc(layer, &desc, input_shape);
  cr_assert_eq(gcl_conv_create(context, &desc, weights, bias, &conv),
               GCL_SUCCESS, "%s", gcl_last_error());
  cr_assert_eq(gcl_plan_create(conv, 4, input_shape, NULL, &plan),
               GCL_SUCCESS, "%s: %s", layer->name, gcl_last_error());
  cr_expect_eq(gcl_plan_algorithm(plan), test_case->expected,
               "%s: auto chose %s, expected %s", layer->name,
               gcl_algorithm_name(gcl_plan_algorithm(plan)),
               gcl_algorithm_name(test_case->expected));

  gcl_plan_destroy(plan);
  gcl_conv_destroy(conv);
  gcl_context_destroy(context);
  free(weights);
  free(bias);
}

/* Returns the supported algorithm with the smallest estimate, and writes
 * whether depthwise and pointwise support the layer. */
static const gcl_algo *fastest_estimate(const gcl_geometry *geometry,
                                        const gcl_device_info *device,
                                        int *depthwise, int *pointwise) {
  const gcl_algo *list[GCL_ALGORITHM_COUNT];
  size_t count = gcl_algo_list(list, GCL_ALGORITHM_COUNT);
  const gcl_algo *best = NULL;
  double best_seconds = 0.0;
  char reason[256];

  *depthwise = 0;
  *pointwise = 0;
  for (size_t i = 0; i < count && i < GCL_ALGORITHM_COUNT; i++) {
    double seconds;

    if (!list[i]->supports(geometry, device, reason, sizeof reason))
      continue;
    if (list[i]->id == GCL_ALGORITHM_DEPTHWISE)
      *depthwise = 1;
    if (list[i]->id == GCL_ALGORITHM_POINTWISE)
      *pointwise = 1;
    seconds = list[i]->estimate_seconds(geometry, device);
    if (best == NULL || seconds < best_seconds) {
      best = list[i];
      best_seconds = seconds;
    }
  }
  return best;
}

/*
 * The estimates must prefer the most specialised algorithm on every layer
 * of the table: depthwise where it applies, then pointwise, then direct.
 */
Test(auto_choice, specialised_first_in_table) {
  size_t count;
  const test_layer *layers = test_layer_table(&count, NULL);
  gcl_context *context = test_context();
  const gcl_device_info *device = &context->devices[0].info;

  for (size_t i = 0; i < count; i++) {
    int64_t input_shape[GCL_MAX_RANK];
    int depthwise, pointwise;
    gcl_algorithm expected;
    gcl_geometry geometry;
    gcl_conv_desc desc;
    const gcl_algo *best;

    test_layer_desc(&layers[i], &desc, input_shape);
    cr_assert_eq(gcl_geometry_init(&desc, layers[i].spatial_dims + 2,
                                   input_shape, &geometry),
                 GCL_SUCCESS, "%s: %s", layers[i].name, gcl_last_error());
    best = fastest_estimate(&geometry, device, &depthwise, &pointwise);
    cr_assert_not_null(best, "%s: no algorithm supports it", layers[i].name);

    if (depthwise)
      expected = GCL_ALGORITHM_DEPTHWISE;
    else
      expected = pointwise ? GCL_ALGORITHM_POINTWISE : GCL_ALGORITHM_DIRECT;
    cr_expect_eq(best->id, expected,
                 "%s: the estimates prefer %s, expected %s", layers[i].name,
                 best->name, gcl_algorithm_name(expected));
  }
  gcl_context_destroy(context);
}

/* ---- size arithmetic -------------------------------------------------------- */

Test(sizes, multiplication_saturates) {
  cr_assert_eq(gcl_mul_saturated(3, 5), 15);
  cr_assert_eq(gcl_mul_saturated(0, INT64_MAX), 0);
  cr_assert_eq(gcl_mul_saturated(INT64_MAX, 1), INT64_MAX);
  cr_assert_eq(gcl_mul_saturated((int64_t)1 << 31, (int64_t)1 << 32),
               INT64_MAX);
}

/*
 * A valid layer whose tensors are small enough to address but whose im2col
 * column matrix, channels x kernel volume x output positions, has about
 * 2^80 elements. Its size must saturate, and im2col must decline it.
 */
Test(sizes, column_matrix_beyond_int64) {
  const int64_t input_shape[5] = {1, (int64_t)1 << 20, 1, 1, 1};
  gcl_geometry geometry;
  gcl_conv_desc desc;
  char reason[256] = "";

  gcl_conv_desc_init(&desc, 3, (int64_t)1 << 20, 1, 1024);
  desc.pad[0] = desc.pad[1] = desc.pad[2] = 1024;
  cr_assert_eq(gcl_geometry_init(&desc, 5, input_shape, &geometry),
               GCL_SUCCESS, "%s", gcl_last_error());
  cr_assert_eq(gcl_im2col_column_elements(&geometry), INT64_MAX);
  cr_assert_eq(gcl_im2col_supports(&geometry, reason, sizeof reason), 0);
  cr_assert(strstr(reason, "column matrix") != NULL, "reason: %s", reason);
}

/* ---- tensor views ----------------------------------------------------------- */

/*
 * A run of one algorithm on part of a layer: groups [group_begin,
 * group_end) of images [image_begin, image_end). The run reads and writes
 * them in place inside the whole tensors, which start at element
 * TENSOR_OFFSET of their buffers.
 */
typedef struct view_case {
  test_layer layer;
  gcl_algorithm algorithm;
  int64_t group_begin, group_end;
  int64_t image_begin, image_end;
} view_case;

/* An odd offset, so that no vector load of the kernels is aligned. */
#define TENSOR_OFFSET 5

/* Value of the output elements outside the view, which must stay. */
#define UNTOUCHED -7.25f

#define VIEW_GROUPED                                                          \
  L2("view_grouped", 3, 8, 12, 4, 9, 11, 3, 3, 1, 1, 1, 1, 1, 1, 1)
#define VIEW_DEPTHWISE                                                        \
  L2("view_depthwise", 3, 4, 8, 4, 9, 11, 3, 3, 1, 1, 1, 1, 1, 1, 1)
#define VIEW_1X1 L2("view_1x1", 3, 8, 12, 4, 9, 11, 1, 1, 1, 1, 0, 0, 1, 1, 1)

static view_case view_cases[] = {
    {VIEW_GROUPED, GCL_ALGORITHM_DIRECT, 2, 4, 0, 3},
    {VIEW_GROUPED, GCL_ALGORITHM_DIRECT, 0, 4, 1, 3},
    {VIEW_GROUPED, GCL_ALGORITHM_GEMM_BATCHED, 2, 4, 0, 3},
    {VIEW_GROUPED, GCL_ALGORITHM_GEMM_BATCHED, 1, 3, 1, 2},
    {VIEW_GROUPED, GCL_ALGORITHM_CAFFE_GEMM, 2, 4, 1, 3},
    {VIEW_GROUPED, GCL_ALGORITHM_WINOGRAD, 2, 4, 0, 3},
    {VIEW_GROUPED, GCL_ALGORITHM_WINOGRAD, 1, 3, 1, 2},
    {VIEW_DEPTHWISE, GCL_ALGORITHM_DEPTHWISE, 2, 4, 0, 3},
    {VIEW_DEPTHWISE, GCL_ALGORITHM_DEPTHWISE, 1, 2, 2, 3},
    {VIEW_1X1, GCL_ALGORITHM_POINTWISE, 2, 4, 0, 3},
    {VIEW_1X1, GCL_ALGORITHM_POINTWISE, 0, 3, 1, 2},
};

ParameterizedTestParameters(views, part_of_layer) {
  return cr_make_param_array(view_case, view_cases,
                             sizeof view_cases / sizeof view_cases[0]);
}

/* Returns the part of the layer that the case runs, as a layer itself. */
static test_layer part_layer(const view_case *test_case) {
  const test_layer *whole = &test_case->layer;
  int64_t groups = test_case->group_end - test_case->group_begin;
  test_layer part = *whole;

  part.batch = test_case->image_end - test_case->image_begin;
  part.group = groups;
  part.channels = whole->channels / whole->group * groups;
  part.num_output = whole->num_output / whole->group * groups;
  return part;
}

/* Copies the part's slice out of a whole tensor of `channels` channels per
 * image: the `part_channels` channels from channel `first` on. */
static void copy_slice(float *part, const float *whole, int64_t images,
                       int64_t channels, int64_t part_channels, int64_t first,
                       int64_t plane) {
  for (int64_t n = 0; n < images; n++)
    memcpy(part + n * part_channels * plane,
           whole + (n * channels + first) * plane,
           (size_t)(part_channels * plane) * sizeof *part);
}

static cl_mem create_buffer(gcl_context *context, size_t count,
                            const float *data) {
  cl_int code;
  cl_mem buffer = clCreateBuffer(
      gcl_context_cl_context(context, 0),
      CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, count * sizeof(float),
      (void *)data, &code);

  cr_assert_eq(code, CL_SUCCESS, "clCreateBuffer: %d", code);
  return buffer;
}

ParameterizedTest(view_case *test_case, views, part_of_layer) {
  const test_layer *whole = &test_case->layer;
  test_layer part = part_layer(test_case);
  int64_t input_shape[GCL_MAX_RANK];
  int64_t cg = whole->channels / whole->group;
  int64_t kg = whole->num_output / whole->group;
  const gcl_algo *algo = gcl_algo_find(test_case->algorithm);
  gcl_context *context = test_context();
  layer_data data, part_data;
  gcl_geometry geometry;
  gcl_conv_desc desc;
  char reason[256];
  void *state = NULL;
  int64_t in_plane, out_plane;
  size_t in_total, out_total;
  float *input_buffer, *output_buffer, *output;
  cl_mem input, output_mem;

  cr_assert_not_null(algo);
  layer_data_open(&data, whole);
  in_plane = (int64_t)(data.n_in / (size_t)(whole->batch * whole->channels));
  out_plane =
      (int64_t)(data.n_out / (size_t)(whole->batch * whole->num_output));

  /* The part's own data, for its reference. */
  memset(&part_data, 0, sizeof part_data);
  part_data.n_in = test_input_count(&part);
  part_data.n_w = test_weight_count(&part);
  part_data.n_out = test_output_count(&part);
  part_data.input = malloc(part_data.n_in * sizeof(float));
  cr_assert_not_null(part_data.input);
  copy_slice(part_data.input,
             data.input + test_case->image_begin * whole->channels * in_plane,
             part.batch, whole->channels, part.channels,
             test_case->group_begin * cg, in_plane);
  part_data.weights = data.weights + test_case->group_begin * kg *
                                         (int64_t)(data.n_w /
                                                   (size_t)whole->num_output);
  part_data.bias = data.bias + test_case->group_begin * kg;

  /* Prepare the algorithm for the part alone. */
  test_layer_desc(&part, &desc, input_shape);
  cr_assert_eq(gcl_geometry_init(&desc, part.spatial_dims + 2, input_shape,
                                 &geometry),
               GCL_SUCCESS, "%s", gcl_last_error());
  cr_assert(algo->supports(&geometry, &context->devices[0].info, reason,
                           sizeof reason),
            "%s declines the part: %s", algo->name, reason);
  cr_assert_eq(algo->prepare(&geometry, context, 0, part_data.weights,
                             part.bias_term ? part_data.bias : NULL, &state),
               GCL_SUCCESS, "%s prepare: %s", algo->name, gcl_last_error());

  /* The whole tensors start at TENSOR_OFFSET, and the output around the
     view is set to UNTOUCHED. */
  in_total = TENSOR_OFFSET + data.n_in + TEST_GUARD_COUNT;
  out_total = TENSOR_OFFSET + data.n_out + TEST_GUARD_COUNT;
  input_buffer = calloc(in_total, sizeof(float));
  output_buffer = malloc(out_total * sizeof(float));
  cr_assert(input_buffer && output_buffer, "out of memory");
  memcpy(input_buffer + TENSOR_OFFSET, data.input,
         data.n_in * sizeof(float));
  for (size_t i = 0; i < out_total; i++)
    output_buffer[i] = UNTOUCHED;
  input = create_buffer(context, in_total, input_buffer);
  output_mem = create_buffer(context, out_total, output_buffer);

  {
    size_t in_image = (size_t)(whole->channels * in_plane);
    size_t out_image = (size_t)(whole->num_output * out_plane);
    gcl_launch launch = {gcl_context_cl_queue(context, 0), NULL};
    gcl_tensor_view input_view = {
        input,
        TENSOR_OFFSET + (size_t)test_case->image_begin * in_image +
            (size_t)(test_case->group_begin * cg * in_plane),
        in_image};
    gcl_tensor_view output_view = {
        output_mem,
        TENSOR_OFFSET + (size_t)test_case->image_begin * out_image +
            (size_t)(test_case->group_begin * kg * out_plane),
        out_image};

    cr_assert_eq(algo->enqueue(state, &launch, &input_view, &output_view),
                 GCL_SUCCESS, "%s enqueue: %s", algo->name,
                 gcl_last_error());
    cr_assert_eq(clEnqueueReadBuffer(launch.queue, output_mem, CL_TRUE, 0,
                                     out_total * sizeof(float),
                                     output_buffer, 0, NULL, NULL),
                 CL_SUCCESS);
  }

  /* Outside the view, every element keeps its value. */
  for (size_t i = 0; i < out_total; i++) {
    int64_t index = (int64_t)i - TENSOR_OFFSET;
    int64_t image = index / (whole->num_output * out_plane);
    int64_t channel = index / out_plane % whole->num_output;
    int inside = index >= 0 && (size_t)index < data.n_out &&
                 image >= test_case->image_begin &&
                 image < test_case->image_end &&
                 channel >= test_case->group_begin * kg &&
                 channel < test_case->group_end * kg;

    if (!inside)
      cr_assert_eq(output_buffer[i], UNTOUCHED,
                   "%s: element %zu of the output buffer, outside the view, "
                   "changed to %g",
                   algo->name, i, (double)output_buffer[i]);
  }

  /* Inside, the part's own reference. */
  output = malloc(part_data.n_out * sizeof *output);
  cr_assert_not_null(output);
  copy_slice(output,
             output_buffer + TENSOR_OFFSET +
                 test_case->image_begin * whole->num_output * out_plane,
             part.batch, whole->num_output, part.num_output,
             test_case->group_begin * kg, out_plane);
  expect_reference(&part, &part_data, output);

  algo->release(state);
  clReleaseMemObject(input);
  clReleaseMemObject(output_mem);
  gcl_context_destroy(context);
  free(part_data.input);
  layer_data_close(&data);
  free(input_buffer);
  free(output_buffer);
  free(output);
}

/* ---- through the scheduler ---------------------------------------------- */

typedef struct schedule_case {
  test_layer layer;
  gcl_algorithm algorithm;
} schedule_case;

static schedule_case schedule_cases[] = {
    {VIEW_GROUPED, GCL_ALGORITHM_DIRECT},
    {VIEW_GROUPED, GCL_ALGORITHM_GEMM_BATCHED},
    {VIEW_GROUPED, GCL_ALGORITHM_WINOGRAD},
    {VIEW_DEPTHWISE, GCL_ALGORITHM_DEPTHWISE},
    {VIEW_1X1, GCL_ALGORITHM_POINTWISE},
};

ParameterizedTestParameters(views, three_queues) {
  return cr_make_param_array(schedule_case, schedule_cases,
                             sizeof schedule_cases / sizeof schedule_cases[0]);
}

/* Three queues split four groups unevenly, so every slot runs a view. */
ParameterizedTest(schedule_case *test_case, views, three_queues) {
  const test_layer *layer = &test_case->layer;
  int64_t input_shape[GCL_MAX_RANK];
  gcl_context *context = test_context();
  gcl_plan_options options;
  gcl_conv_desc desc;
  gcl_conv *conv = NULL;
  gcl_plan *plan = NULL;
  layer_data data;
  float *output;

  layer_data_open(&data, layer);
  test_layer_desc(layer, &desc, input_shape);
  cr_assert_eq(gcl_conv_create(context, &desc, data.weights, data.bias,
                               &conv),
               GCL_SUCCESS, "%s", gcl_last_error());
  gcl_plan_options_init(&options);
  options.algorithm = test_case->algorithm;
  options.schedule = GCL_SCHEDULE_QUEUES;
  options.queues = 3;
  cr_assert_eq(gcl_plan_create(conv, 4, input_shape, &options, &plan),
               GCL_SUCCESS, "%s: %s", layer->name, gcl_last_error());

  output = test_alloc_guarded(data.n_out);
  cr_assert_eq(gcl_plan_forward(plan, data.input, output), GCL_SUCCESS,
               "%s: %s", layer->name, gcl_last_error());
  test_check_guard(output, data.n_out, layer->name);
  expect_reference(layer, &data, output);

  gcl_plan_destroy(plan);
  gcl_conv_destroy(conv);
  gcl_context_destroy(context);
  layer_data_close(&data);
  free(output);
}
