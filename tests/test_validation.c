/*
 * Caffe's rules for the Convolution layer, as gcl_conv_validate,
 * gcl_conv_output_shape, gcl_conv_weight_shape, gcl_conv_check_params and
 * gcl_conv_create apply them: the exact status of each rejection, and the
 * values that gcl_last_error() must name.
 */
#include "helpers.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Fails unless `actual` equals `expected`, printing both and the message. */
#define assert_status(actual, expected, label)                                 \
  cr_assert_eq((actual), (expected),                                           \
               "%s: status %d (%s), expected %d (%s); gcl_last_error(): %s",   \
               (label), (int)(actual), gcl_status_string(actual),              \
               (int)(expected), gcl_status_string(expected), gcl_last_error())

/* Fails unless gcl_last_error() contains `text`. */
#define assert_error_contains(text, label)                                     \
  cr_assert(strstr(gcl_last_error(), (text)) != NULL,                          \
            "%s: gcl_last_error() should contain \"%s\" but is \"%s\"",        \
            (label), (text), gcl_last_error())

/* Fails unless gcl_last_error() is the empty string. */
#define assert_error_empty(label)                                              \
  cr_assert_str_empty(gcl_last_error(),                                        \
                      "%s: gcl_last_error() should be \"\" but is \"%s\"",     \
                      (label), gcl_last_error())

#define MAX_FRAGMENTS 3

/* Checks every non-NULL fragment against gcl_last_error(). */
static void expect_fragments(const char *const *fragments, const char *label) {
  for (int i = 0; i < MAX_FRAGMENTS; i++) {
    if (fragments[i] != NULL)
      assert_error_contains(fragments[i], label);
  }
}

/*
 * Criterion runs each parameterized case in a newly executed copy of this
 * program, where string literals have other addresses, so a copied struct
 * with `const char *` members would point into nothing. The tests receive an
 * index into a static table instead.
 */
static size_t case_indices[64];

static struct criterion_test_params index_params(size_t count) {
  cr_assert_leq(count, sizeof case_indices / sizeof case_indices[0],
                "%zu cases, room for %zu indices", count,
                sizeof case_indices / sizeof case_indices[0]);
  for (size_t i = 0; i < count; i++)
    case_indices[i] = i;
  return cr_make_param_array(size_t, case_indices, count);
}

#define COUNT_OF(array) (sizeof(array) / sizeof((array)[0]))

/* ---- layer rules: one table, checked through every entry point --------- */

/* The per-axis parameter that a layer case overrides, if any. */
typedef enum axis_field {
  FIELD_NONE,
  FIELD_KERNEL,
  FIELD_STRIDE,
  FIELD_PAD,
  FIELD_DILATION
} axis_field;

typedef struct layer_case {
  const char *name;
  int spatial_dims;
  int64_t channels, num_output, group;
  axis_field field; /* set field[axis] = value on top of the defaults */
  int axis;
  int64_t value;
  int transposed;
  gcl_status status;
  const char *fragments[MAX_FRAGMENTS]; /* parts of the expected message */
} layer_case;

#define INVALID GCL_ERROR_INVALID_LAYER

/* Every layer starts from gcl_conv_desc_init with kernel size 3. */
static const layer_case layer_cases[] = {
    /* name, dims, C, K, group, field, axis, value, transposed, status,
       fragments */
    {"channels_not_divisible", 2, 10, 8, 4, FIELD_NONE, 0, 0, 0, INVALID,
     {"10 input channels are not divisible by group 4", "(10 = 2 x 4 + 2)",
      "8 output channels are (2 per group)"}},
    {"channels_below_group", 2, 4, 8, 8, FIELD_NONE, 0, 0, 0, INVALID,
     {"4 input channels are not divisible by group 8", "(4 = 0 x 8 + 4)",
      "8 output channels are (1 per group)"}},
    {"outputs_50_not_divisible_by_20", 2, 40, 50, 20, FIELD_NONE, 0, 0, 0,
     INVALID,
     {"50 output channels are not divisible by group 20",
      "(50 = 2 x 20 + 10)", "40 input channels are (2 per group)"}},
    {"both_not_divisible", 2, 10, 13, 4, FIELD_NONE, 0, 0, 0, INVALID,
     {"10 input channels and 13 output channels are not divisible by "
      "group 4",
      "remainders 2 and 1", NULL}},
    {"group_zero", 2, 4, 4, 0, FIELD_NONE, 0, 0, 0, INVALID,
     {"group is 0", "at least 1", NULL}},
    {"group_negative", 2, 4, 4, -2, FIELD_NONE, 0, 0, 0, INVALID,
     {"group is -2", "at least 1", NULL}},
    {"channels_zero", 2, 0, 4, 1, FIELD_NONE, 0, 0, 0, INVALID,
     {"input channels is 0", "at least 1", NULL}},
    {"num_output_zero", 2, 4, 0, 1, FIELD_NONE, 0, 0, 0, INVALID,
     {"num_output is 0", "at least 1", NULL}},
    {"num_output_negative", 2, 4, -6, 1, FIELD_NONE, 0, 0, 0, INVALID,
     {"num_output is -6", NULL, NULL}},
    {"spatial_dims_zero", 0, 4, 4, 1, FIELD_NONE, 0, 0, 0, INVALID,
     {"0 spatial axes", "1, 2 or 3", NULL}},
    {"spatial_dims_four", 4, 4, 4, 1, FIELD_NONE, 0, 0, 0, INVALID,
     {"4 spatial axes", "1, 2 or 3", NULL}},
    {"kernel_zero_width", 2, 4, 4, 1, FIELD_KERNEL, 1, 0, 0, INVALID,
     {"kernel size 0 on the width axis", "at least 1", NULL}},
    {"kernel_negative_depth", 3, 4, 4, 1, FIELD_KERNEL, 0, -3, 0, INVALID,
     {"kernel size -3 on the depth axis", NULL, NULL}},
    {"kernel_above_limit", 1, 4, 4, 1, FIELD_KERNEL, 0, ((int64_t)1 << 31) + 1,
     0, INVALID, {"kernel size 2147483649 on the width axis", "limit", NULL}},
    {"stride_zero_height", 2, 4, 4, 1, FIELD_STRIDE, 0, 0, 0, INVALID,
     {"stride 0 on the height axis", "at least 1", NULL}},
    {"stride_zero_width_1d", 1, 4, 4, 1, FIELD_STRIDE, 0, 0, 0, INVALID,
     {"stride 0 on the width axis", NULL, NULL}},
    {"dilation_zero_depth", 3, 4, 4, 1, FIELD_DILATION, 0, 0, 0, INVALID,
     {"dilation 0 on the depth axis", "at least 1", NULL}},
    {"dilation_zero_width", 2, 4, 4, 1, FIELD_DILATION, 1, 0, 0, INVALID,
     {"dilation 0 on the width axis", NULL, NULL}},
    {"pad_negative_height", 2, 4, 4, 1, FIELD_PAD, 0, -1, 0, INVALID,
     {"pad -1 on the height axis", "at least 0", NULL}},
    {"pad_negative_width", 1, 4, 4, 1, FIELD_PAD, 0, -1, 0, INVALID,
     {"pad -1 on the width axis", "at least 0", NULL}},
    {"pad_negative_depth", 3, 4, 4, 1, FIELD_PAD, 0, -1, 0, INVALID,
     {"pad -1 on the depth axis", "at least 0", NULL}},
    {"pad_negative_3d_width", 3, 4, 4, 1, FIELD_PAD, 2, -1, 0, INVALID,
     {"pad -1 on the width axis", NULL, NULL}},
    {"valid_transposed", 2, 4, 4, 1, FIELD_NONE, 0, 0, 1, GCL_SUCCESS,
     {NULL, NULL, NULL}},
    {"valid_transposed_group4_3d", 3, 8, 12, 4, FIELD_STRIDE, 1, 2, 1,
     GCL_SUCCESS, {NULL, NULL, NULL}},
    {"valid_40_60_group_20", 2, 40, 60, 20, FIELD_NONE, 0, 0, 0, GCL_SUCCESS,
     {NULL, NULL, NULL}},
    {"valid_depthwise_1d", 1, 8, 8, 8, FIELD_NONE, 0, 0, 0, GCL_SUCCESS,
     {NULL, NULL, NULL}},
    {"valid_depthwise_mult2_3d", 3, 3, 6, 3, FIELD_PAD, 0, 1, 0, GCL_SUCCESS,
     {NULL, NULL, NULL}},
    {"valid_pad_zero", 2, 6, 6, 3, FIELD_PAD, 1, 0, 0, GCL_SUCCESS,
     {NULL, NULL, NULL}},
};

static void layer_case_desc(const layer_case *c, gcl_conv_desc *desc) {
  gcl_conv_desc_init(desc, c->spatial_dims, c->channels, c->num_output, 3);
  desc->group = c->group;
  desc->transposed = c->transposed;
  switch (c->field) {
  case FIELD_KERNEL:
    desc->kernel[c->axis] = c->value;
    break;
  case FIELD_STRIDE:
    desc->stride[c->axis] = c->value;
    break;
  case FIELD_PAD:
    desc->pad[c->axis] = c->value;
    break;
  case FIELD_DILATION:
    desc->dilation[c->axis] = c->value;
    break;
  case FIELD_NONE:
    break;
  }
}

/* Checks the status and message of the latest call against a layer case. */
static void expect_layer_result(const layer_case *c, gcl_status status,
                                const char *entry_point) {
  char label[160];

  snprintf(label, sizeof label, "%s via %s", c->name, entry_point);
  assert_status(status, c->status, label);
  if (c->status == GCL_SUCCESS)
    assert_error_empty(label);
  else
    expect_fragments(c->fragments, label);
}

ParameterizedTestParameters(layer_rules, validate) {
  return index_params(COUNT_OF(layer_cases));
}

ParameterizedTest(size_t *index, layer_rules, validate) {
  const layer_case *c = &layer_cases[*index];
  gcl_conv_desc desc;

  layer_case_desc(c, &desc);
  expect_layer_result(c, gcl_conv_validate(&desc), "gcl_conv_validate");
}

ParameterizedTestParameters(layer_rules, shape_functions_agree) {
  return index_params(COUNT_OF(layer_cases));
}

/* The shape functions validate the layer first, with the same result. */
ParameterizedTest(size_t *index, layer_rules, shape_functions_agree) {
  const layer_case *c = &layer_cases[*index];
  int64_t input_shape[GCL_MAX_RANK + 2], output_shape[GCL_MAX_RANK + 2];
  int64_t weight_shape[GCL_MAX_RANK + 2];
  int64_t bias_shape[1] = {c->num_output};
  int rank = c->spatial_dims + 2;
  gcl_conv_desc desc;
  gcl_status status;

  layer_case_desc(c, &desc);
  input_shape[0] = 2;
  input_shape[1] = c->channels;
  for (int i = 2; i < GCL_MAX_RANK + 2; i++)
    input_shape[i] = 16;

  status = gcl_conv_output_shape(&desc, rank, input_shape, output_shape);
  expect_layer_result(c, status, "gcl_conv_output_shape");

  status = gcl_conv_weight_shape(&desc, weight_shape);
  expect_layer_result(c, status, "gcl_conv_weight_shape");

  /* For an invalid layer these shapes are never compared. */
  if (c->status != GCL_SUCCESS) {
    weight_shape[0] = c->num_output;
    for (int i = 1; i < GCL_MAX_RANK + 2; i++)
      weight_shape[i] = 1;
  }
  status = gcl_conv_check_params(&desc, rank, weight_shape, 1, bias_shape);
  expect_layer_result(c, status, "gcl_conv_check_params");
}

ParameterizedTestParameters(layer_rules, create_agrees) {
  return index_params(COUNT_OF(layer_cases));
}

ParameterizedTest(size_t *index, layer_rules, create_agrees) {
  const layer_case *c = &layer_cases[*index];
  /* Large enough for every valid layer in the table. */
  static float weights[4096];
  static float bias[256];
  gcl_context *context = test_context();
  gcl_conv_desc desc;
  gcl_conv *conv = (gcl_conv *)weights; /* any non-NULL value */
  gcl_status status;

  layer_case_desc(c, &desc);
  status = gcl_conv_create(context, &desc, weights, bias, &conv);
  expect_layer_result(c, status, "gcl_conv_create");
  if (c->status == GCL_SUCCESS)
    cr_assert_not_null(conv, "%s: gcl_conv_create returned no conv", c->name);
  else
    cr_assert_null(conv, "%s: a failed gcl_conv_create left conv at %p",
                   c->name, (void *)conv);
  gcl_conv_destroy(conv);
  gcl_context_destroy(context);
}

/* ---- output size: Caffe's formula ------------------------------------------ */

typedef struct shape_case {
  const char *name;
  int spatial_dims;
  int64_t in[3], kernel[3], stride[3], pad[3], dilation[3];
  int64_t expected[3]; /* worked out by hand, not with the formula */
} shape_case;

static const shape_case shape_cases[] = {
    /* name, dims, in, kernel, stride, pad, dilation, expected */
    {"1d_plain", 1, {10}, {3}, {1}, {0}, {1}, {8}},
    {"1d_stride_floor", 1, {10}, {3}, {3}, {0}, {1}, {3}},
    {"1d_stride2_pad1", 1, {7}, {3}, {2}, {1}, {1}, {4}},
    {"1d_dilation2", 1, {10}, {3}, {1}, {0}, {2}, {6}},
    {"1d_window_equals_padded", 1, {3}, {5}, {1}, {1}, {1}, {1}},
    {"1d_dilated_window_equals_input", 1, {7}, {4}, {1}, {0}, {2}, {1}},
    {"2d_alexnet_224_floor", 2, {224, 224}, {11, 11}, {4, 4}, {0, 0},
     {1, 1}, {54, 54}},
    {"2d_alexnet_227", 2, {227, 227}, {11, 11}, {4, 4}, {0, 0}, {1, 1},
     {55, 55}},
    {"2d_per_axis_values", 2, {15, 9}, {3, 5}, {2, 1}, {2, 0}, {2, 1},
     {8, 5}},
    {"2d_stride_floor_per_axis", 2, {8, 8}, {3, 2}, {3, 3}, {0, 1}, {1, 1},
     {2, 3}},
    {"2d_stride_above_input", 2, {5, 5}, {2, 2}, {7, 7}, {0, 0}, {1, 1},
     {1, 1}},
    {"2d_window_equals_padded", 2, {4, 7}, {6, 3}, {1, 1}, {1, 0}, {1, 3},
     {1, 1}},
    {"3d_video", 3, {4, 8, 9}, {3, 3, 3}, {1, 2, 2}, {1, 1, 1}, {1, 1, 1},
     {4, 4, 5}},
    {"3d_depth_below_kernel_padded", 3, {2, 5, 6}, {3, 1, 3}, {1, 1, 1},
     {1, 0, 3}, {1, 1, 3}, {2, 5, 6}},
    {"3d_all_axes_different", 3, {9, 11, 13}, {2, 3, 5}, {2, 3, 4},
     {0, 2, 1}, {1, 2, 1}, {4, 4, 3}},
    {"3d_window_equals_padded", 3, {1, 3, 7}, {3, 5, 4}, {1, 2, 3},
     {1, 1, 0}, {1, 1, 2}, {1, 1, 1}},
};

ParameterizedTestParameters(output_shape, caffe_formula) {
  return index_params(COUNT_OF(shape_cases));
}

/* Fills a group-2 layer and its input shape (batch 3, 4 channels). */
static void shape_case_desc(const shape_case *c, gcl_conv_desc *desc,
                            int64_t *input_shape) {
  gcl_conv_desc_init(desc, c->spatial_dims, 4, 6, 1);
  desc->group = 2;
  input_shape[0] = 3;
  input_shape[1] = 4;
  for (int axis = 0; axis < c->spatial_dims; axis++) {
    desc->kernel[axis] = c->kernel[axis];
    desc->stride[axis] = c->stride[axis];
    desc->pad[axis] = c->pad[axis];
    desc->dilation[axis] = c->dilation[axis];
    input_shape[2 + axis] = c->in[axis];
  }
}

ParameterizedTest(size_t *index, output_shape, caffe_formula) {
  const shape_case *c = &shape_cases[*index];
  int64_t input_shape[GCL_MAX_RANK], output_shape[GCL_MAX_RANK];
  gcl_conv_desc desc;
  gcl_status status;

  shape_case_desc(c, &desc, input_shape);
  status = gcl_conv_output_shape(&desc, c->spatial_dims + 2, input_shape,
                                 output_shape);
  assert_status(status, GCL_SUCCESS, c->name);
  assert_error_empty(c->name);
  cr_assert_eq(output_shape[0], 3, "%s: batch %lld, expected 3", c->name,
               (long long)output_shape[0]);
  cr_assert_eq(output_shape[1], 6, "%s: channels %lld, expected 6", c->name,
               (long long)output_shape[1]);
  for (int axis = 0; axis < c->spatial_dims; axis++)
    cr_assert_eq(output_shape[2 + axis], c->expected[axis],
                 "%s: output size %lld on spatial axis %d, expected %lld",
                 c->name, (long long)output_shape[2 + axis], axis,
                 (long long)c->expected[axis]);
}

/* A window larger than the padded input is rejected, not given size 1. */
typedef struct empty_case {
  shape_case layer;
  const char *fragments[MAX_FRAGMENTS];
} empty_case;

static const empty_case empty_cases[] = {
    {{"1d_kernel_above_input", 1, {4}, {5}, {1}, {0}, {1}, {0}},
     {"width axis", "filter window 5 (kernel 5, dilation 1)",
      "padded input 4 (size 4 + 2 x pad 0)"}},
    {{"1d_one_short_with_pad", 1, {3}, {6}, {1}, {1}, {1}, {0}},
     {"width axis", "filter window 6 (kernel 6, dilation 1)",
      "padded input 5 (size 3 + 2 x pad 1)"}},
    {{"2d_dilated_height", 2, {6, 10}, {3, 3}, {1, 1}, {0, 0}, {3, 1}, {0}},
     {"height axis", "filter window 7 (kernel 3, dilation 3)",
      "padded input 6 (size 6 + 2 x pad 0)"}},
    {{"2d_width_with_stride", 2, {9, 2}, {3, 4}, {2, 2}, {1, 0}, {1, 1}, {0}},
     {"width axis", "filter window 4 (kernel 4, dilation 1)",
      "padded input 2 (size 2 + 2 x pad 0)"}},
    {{"3d_depth_too_small", 3, {2, 8, 8}, {5, 3, 3}, {1, 1, 1}, {1, 1, 1},
      {1, 1, 1}, {0}},
     {"depth axis", "filter window 5 (kernel 5, dilation 1)",
      "padded input 4 (size 2 + 2 x pad 1)"}},
    {{"3d_dilated_width", 3, {4, 8, 8}, {1, 3, 3}, {1, 1, 1}, {0, 0, 0},
      {1, 1, 5}, {0}},
     {"width axis", "filter window 11 (kernel 3, dilation 5)",
      "padded input 8 (size 8 + 2 x pad 0)"}},
};

ParameterizedTestParameters(output_shape, rejects_empty_output) {
  return index_params(COUNT_OF(empty_cases));
}

ParameterizedTest(size_t *index, output_shape, rejects_empty_output) {
  const empty_case *c = &empty_cases[*index];
  int64_t input_shape[GCL_MAX_RANK], output_shape[GCL_MAX_RANK];
  gcl_conv_desc desc;
  gcl_status status;

  shape_case_desc(&c->layer, &desc, input_shape);
  status = gcl_conv_output_shape(&desc, c->layer.spatial_dims + 2,
                                 input_shape, output_shape);
  assert_status(status, GCL_ERROR_INVALID_LAYER, c->layer.name);
  expect_fragments(c->fragments, c->layer.name);
}

/* ---- output size: input shape checks --------------------------------------- */

typedef struct input_case {
  const char *name;
  int spatial_dims;
  int rank;
  int64_t shape[GCL_MAX_RANK + 1];
  const char *fragments[MAX_FRAGMENTS];
} input_case;

/* The layers have 4 input channels and kernel size 1. */
static const input_case input_cases[] = {
    {"rank_3_for_2d", 2, 3, {1, 4, 8},
     {"input rank 3", "needs rank 4", "[batch][channels][height][width]"}},
    {"rank_5_for_2d", 2, 5, {1, 4, 8, 8, 8},
     {"input rank 5", "needs rank 4", NULL}},
    {"rank_4_for_1d", 1, 4, {1, 4, 8, 8},
     {"input rank 4", "needs rank 3", "[batch][channels][width]"}},
    {"rank_4_for_3d", 3, 4, {1, 4, 8, 8},
     {"needs rank 5", "[batch][channels][depth][height][width]", NULL}},
    {"channels_5_for_4", 2, 4, {1, 5, 8, 8},
     {"(1, 5, 8, 8)", "has 5 channels but the layer expects 4", NULL}},
    {"channels_1_for_4_3d", 3, 5, {2, 1, 3, 3, 3},
     {"has 1 channels but the layer expects 4", NULL, NULL}},
    {"batch_zero", 2, 4, {0, 4, 8, 8},
     {"(0, 4, 8, 8)", "batch size 0", NULL}},
    {"batch_negative", 1, 3, {-1, 4, 8}, {"batch size -1", NULL, NULL}},
    {"width_zero", 2, 4, {1, 4, 8, 0}, {"size 0 on the width axis", NULL,
                                        NULL}},
    {"depth_negative", 3, 5, {1, 4, -2, 8, 8},
     {"size -2 on the depth axis", NULL, NULL}},
    {"elements_above_limit", 3, 5, {1, 4, 2147483647, 2147483647, 65536},
     {"has more than 2305843009213693951 elements", "within 64 bits",
      NULL}},
};

ParameterizedTestParameters(output_shape, rejects_input_shape) {
  return index_params(COUNT_OF(input_cases));
}

ParameterizedTest(size_t *index, output_shape, rejects_input_shape) {
  const input_case *c = &input_cases[*index];
  int64_t output_shape[GCL_MAX_RANK + 1];
  gcl_conv_desc desc;
  gcl_status status;

  gcl_conv_desc_init(&desc, c->spatial_dims, 4, 8, 1);
  desc.group = 2;
  status = gcl_conv_output_shape(&desc, c->rank, c->shape, output_shape);
  assert_status(status, GCL_ERROR_SHAPE_MISMATCH, c->name);
  expect_fragments(c->fragments, c->name);
}

/* ---- tensor size limit -------------------------------------------------- */

/* Every tensor's size in bytes must fit in int64_t: 2^61 - 1 floats. */
Test(element_limit, accepts_input_below_limit) {
  const int64_t input_shape[4] = {1, 4, 2147483647, (int64_t)1 << 27};
  int64_t output_shape[4];
  gcl_conv_desc desc;

  gcl_conv_desc_init(&desc, 2, 4, 4, 1);
  assert_status(gcl_conv_output_shape(&desc, 4, input_shape, output_shape),
                GCL_SUCCESS, "input of 2^60 elements");
  cr_assert_eq(output_shape[3], (int64_t)1 << 27);
}

Test(element_limit, rejects_weights_above_limit) {
  gcl_conv_desc desc;

  gcl_conv_desc_init(&desc, 3, 1024, 1024, 1 << 20);
  assert_status(gcl_conv_validate(&desc), GCL_ERROR_INVALID_LAYER,
                "weights of 2^80 elements");
  assert_error_contains("the weights (1024, 1024, 1048576, 1048576, "
                        "1048576) have more than",
                        "weights of 2^80 elements");
}

Test(element_limit, rejects_output_above_limit) {
  /* Padding makes the output far larger than the 1x1x1 input. */
  const int64_t input_shape[5] = {1, 1, 1, 1, 1};
  int64_t output_shape[5];
  gcl_conv_desc desc;

  gcl_conv_desc_init(&desc, 3, 1, 1 << 30, 1);
  /* Each axis stays within the per-axis limit 2^31 - 1. */
  desc.pad[0] = desc.pad[1] = desc.pad[2] = (1 << 30) - 1;
  assert_status(gcl_conv_output_shape(&desc, 5, input_shape, output_shape),
                GCL_ERROR_INVALID_LAYER, "output of 2^123 elements");
  assert_error_contains("the output shape (1, 1073741824, 2147483647, "
                        "2147483647, 2147483647) has more than",
                        "output of 2^123 elements");
}

/* ---- weight shape ---------------------------------------------------------- */

typedef struct weight_case {
  int spatial_dims;
  int64_t channels, num_output, group;
  int64_t kernel[3];
  int64_t expected[GCL_MAX_RANK];
} weight_case;

Test(weight_shape, is_k_by_c_over_group_by_kernel) {
  static const weight_case cases[] = {
      {1, 6, 9, 3, {5}, {9, 2, 5}},
      {2, 40, 60, 20, {3, 5}, {60, 2, 3, 5}},
      {2, 8, 16, 1, {1, 1}, {16, 8, 1, 1}},
      {3, 8, 8, 8, {1, 3, 3}, {8, 1, 1, 3, 3}},
  };

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const weight_case *c = &cases[i];
    int64_t shape[GCL_MAX_RANK];
    gcl_conv_desc desc;
    gcl_status status;

    gcl_conv_desc_init(&desc, c->spatial_dims, c->channels, c->num_output, 1);
    desc.group = c->group;
    for (int axis = 0; axis < c->spatial_dims; axis++)
      desc.kernel[axis] = c->kernel[axis];
    status = gcl_conv_weight_shape(&desc, shape);
    assert_status(status, GCL_SUCCESS, "gcl_conv_weight_shape");
    for (int d = 0; d < c->spatial_dims + 2; d++)
      cr_assert_eq(shape[d], c->expected[d],
                   "case %zu: weight shape[%d] is %lld, expected %lld", i, d,
                   (long long)shape[d], (long long)c->expected[d]);
  }
}

/* ---- weight and bias shape checks ------------------------------------------ */

typedef struct params_case {
  const char *name;
  int bias_term;
  int weight_rank;
  int64_t weight[GCL_MAX_RANK];
  int bias_rank;
  int64_t bias[2];
  gcl_status status;
  const char *fragments[MAX_FRAGMENTS];
} params_case;

#define MISMATCH GCL_ERROR_SHAPE_MISMATCH

/* The layer: 2-D, 40 channels, 60 outputs, group 20, kernel 3 x 5. */
static const params_case params_cases[] = {
    {"matching_with_bias", 1, 4, {60, 2, 3, 5}, 1, {60}, GCL_SUCCESS,
     {NULL, NULL, NULL}},
    {"matching_without_bias", 0, 4, {60, 2, 3, 5}, 0, {0}, GCL_SUCCESS,
     {NULL, NULL, NULL}},
    {"weight_rank_3", 1, 3, {60, 2, 3}, 1, {60}, MISMATCH,
     {"weight shape (60, 2, 3) does not match", "expects (60, 2, 3, 5)",
      NULL}},
    {"weight_rank_5", 1, 5, {60, 2, 3, 5, 1}, 1, {60}, MISMATCH,
     {"weight shape (60, 2, 3, 5, 1) does not match", "(60, 2, 3, 5)",
      NULL}},
    {"weight_ungrouped_channels", 1, 4, {60, 40, 3, 5}, 1, {60}, MISMATCH,
     {"weight shape (60, 40, 3, 5) does not match", "expects (60, 2, 3, 5)",
      "channels / group"}},
    {"weight_wrong_num_output", 1, 4, {50, 2, 3, 5}, 1, {60}, MISMATCH,
     {"weight shape (50, 2, 3, 5)", "expects (60, 2, 3, 5)", NULL}},
    {"weight_kernel_swapped", 1, 4, {60, 2, 5, 3}, 1, {60}, MISMATCH,
     {"weight shape (60, 2, 5, 3)", "expects (60, 2, 3, 5)", NULL}},
    {"bias_wrong_length", 1, 4, {60, 2, 3, 5}, 1, {59}, MISMATCH,
     {"bias shape (59) does not match", "expects (60)", NULL}},
    {"bias_rank_2", 1, 4, {60, 2, 3, 5}, 2, {60, 1}, MISMATCH,
     {"bias shape (60, 1) does not match", "expects (60)", NULL}},
    {"bias_with_bias_term_0", 0, 4, {60, 2, 3, 5}, 1, {60}, MISMATCH,
     {"bias was given", "bias_term 0", NULL}},
    {"bias_missing_with_bias_term_1", 1, 4, {60, 2, 3, 5}, 0, {0}, MISMATCH,
     {"bias_term 1 but no bias was given", "(60)", NULL}},
};

ParameterizedTestParameters(check_params, weight_and_bias) {
  return index_params(COUNT_OF(params_cases));
}

ParameterizedTest(size_t *index, check_params, weight_and_bias) {
  const params_case *c = &params_cases[*index];
  gcl_conv_desc desc;
  gcl_status status;

  gcl_conv_desc_init(&desc, 2, 40, 60, 3);
  desc.group = 20;
  desc.kernel[1] = 5;
  desc.bias_term = c->bias_term;
  status = gcl_conv_check_params(&desc, c->weight_rank, c->weight,
                                 c->bias_rank,
                                 c->bias_rank > 0 ? c->bias : NULL);
  assert_status(status, c->status, c->name);
  if (c->status == GCL_SUCCESS)
    assert_error_empty(c->name);
  else
    expect_fragments(c->fragments, c->name);
}

/* ---- deconvolution (transposed layers) ------------------------------------- */

typedef struct deconv_case {
  const char *name;
  int spatial_dims;
  int64_t channels, num_output, group;
  int64_t stride, dilation; /* on every axis */
  int axis;                 /* the axis the next three fields apply to */
  int64_t output_padding;
  int64_t pad;
  int64_t pad_after; /* sets pad_asymmetric when nonzero */
  int transposed;
  gcl_status status;
  const char *fragments[MAX_FRAGMENTS];
} deconv_case;

/* Every layer starts from gcl_conv_desc_init with kernel size 3. */
static const deconv_case deconv_cases[] = {
    /* name, dims, C, K, group, stride, dilation, axis, output_padding, pad,
       pad_after, transposed, status, fragments */
    {"channels_not_divisible", 2, 10, 8, 4, 1, 1, 0, 0, 0, 0, 1, INVALID,
     {"invalid deconvolution: 10 input channels are not divisible by "
      "group 4",
      "(10 = 2 x 4 + 2)", "8 output channels are (2 per group)"}},
    {"num_output_not_divisible", 2, 8, 6, 4, 1, 1, 0, 0, 0, 0, 1, INVALID,
     {"invalid deconvolution: 6 output channels are not divisible by "
      "group 4",
      "(6 = 1 x 4 + 2)", "8 input channels are (2 per group)"}},
    {"both_not_divisible", 1, 10, 13, 4, 1, 1, 0, 0, 0, 0, 1, INVALID,
     {"invalid deconvolution: 10 input channels and 13 output channels",
      "remainders 2 and 1", NULL}},
    {"output_padding_equals_stride", 2, 4, 4, 1, 2, 1, 1, 2, 0, 0, 1,
     INVALID,
     {"invalid deconvolution: output_padding 2 on the width axis",
      "must be smaller than the stride 2 or the dilation 1", NULL}},
    {"output_padding_equals_dilation", 2, 4, 4, 1, 1, 2, 0, 2, 0, 0, 1,
     INVALID,
     {"output_padding 2 on the height axis",
      "smaller than the stride 1 or the dilation 2", NULL}},
    {"output_padding_above_both", 3, 4, 4, 2, 2, 2, 0, 3, 0, 0, 1, INVALID,
     {"output_padding 3 on the depth axis",
      "smaller than the stride 2 or the dilation 2", NULL}},
    {"output_padding_one_on_unit_stride", 1, 4, 4, 1, 1, 1, 0, 1, 0, 0, 1,
     INVALID,
     {"output_padding 1 on the width axis",
      "smaller than the stride 1 or the dilation 1", NULL}},
    {"output_padding_negative", 2, 4, 4, 1, 2, 1, 1, -1, 0, 0, 1, INVALID,
     {"invalid deconvolution: output_padding -1 on the width axis",
      "at least 0", NULL}},
    {"output_padding_on_convolution", 2, 4, 4, 1, 2, 1, 1, 1, 0, 0, 0,
     INVALID,
     {"invalid convolution: output_padding 1 on the width axis",
      "only to transposed layers (Deconvolution)", "set it to 0"}},
    {"pad_after_negative", 2, 4, 4, 1, 1, 1, 0, 0, 1, -1, 1, INVALID,
     {"invalid deconvolution: pad after -1 on the height axis",
      "at least 0", NULL}},
    {"pad_after_negative_convolution", 3, 4, 4, 1, 1, 1, 2, 0, 0, -2, 0,
     INVALID,
     {"invalid convolution: pad after -2 on the width axis", "at least 0",
      NULL}},
    {"pad_negative", 1, 4, 4, 1, 2, 1, 0, 1, -1, 0, 1, INVALID,
     {"invalid deconvolution: pad -1 on the width axis", "at least 0",
      NULL}},
    {"valid_output_padding_below_stride", 2, 4, 4, 2, 2, 1, 1, 1, 1, 0, 1,
     GCL_SUCCESS, {NULL, NULL, NULL}},
    {"valid_output_padding_below_dilation", 2, 4, 4, 1, 1, 3, 0, 2, 0, 0, 1,
     GCL_SUCCESS, {NULL, NULL, NULL}},
    {"valid_asymmetric_pads", 3, 6, 3, 3, 2, 1, 2, 1, 2, 1, 1, GCL_SUCCESS,
     {NULL, NULL, NULL}},
};

static void deconv_case_desc(const deconv_case *c, gcl_conv_desc *desc) {
  gcl_conv_desc_init(desc, c->spatial_dims, c->channels, c->num_output, 3);
  desc->group = c->group;
  desc->transposed = c->transposed;
  for (int axis = 0; axis < c->spatial_dims; axis++) {
    desc->stride[axis] = c->stride;
    desc->dilation[axis] = c->dilation;
  }
  desc->output_padding[c->axis] = c->output_padding;
  desc->pad[c->axis] = c->pad;
  if (c->pad_after != 0) {
    desc->pad_asymmetric = 1;
    desc->pad_after[c->axis] = c->pad_after;
  }
}

static void expect_deconv_result(const deconv_case *c, gcl_status status,
                                 const char *entry_point) {
  char label[160];

  snprintf(label, sizeof label, "%s via %s", c->name, entry_point);
  assert_status(status, c->status, label);
  if (c->status == GCL_SUCCESS)
    assert_error_empty(label);
  else
    expect_fragments(c->fragments, label);
}

ParameterizedTestParameters(deconv_rules, every_entry_point) {
  return index_params(COUNT_OF(deconv_cases));
}

/* Validation, the shape functions and gcl_conv_create agree on each case. */
ParameterizedTest(size_t *index, deconv_rules, every_entry_point) {
  const deconv_case *c = &deconv_cases[*index];
  static float weights[4096];
  static float bias[256];
  int64_t input_shape[GCL_MAX_RANK], output_shape[GCL_MAX_RANK];
  int64_t weight_shape[GCL_MAX_RANK];
  gcl_context *context = test_context();
  gcl_conv *conv = NULL;
  gcl_conv_desc desc;

  deconv_case_desc(c, &desc);
  expect_deconv_result(c, gcl_conv_validate(&desc), "gcl_conv_validate");

  input_shape[0] = 1;
  input_shape[1] = c->channels;
  for (int axis = 0; axis < c->spatial_dims; axis++)
    input_shape[2 + axis] = 8;
  expect_deconv_result(c,
                       gcl_conv_output_shape(&desc, c->spatial_dims + 2,
                                             input_shape, output_shape),
                       "gcl_conv_output_shape");
  expect_deconv_result(c, gcl_conv_weight_shape(&desc, weight_shape),
                       "gcl_conv_weight_shape");
  expect_deconv_result(c, gcl_conv_create(context, &desc, weights, bias,
                                          &conv),
                       "gcl_conv_create");
  if (c->status == GCL_SUCCESS)
    cr_assert_not_null(conv, "%s: gcl_conv_create returned no conv",
                       c->name);
  else
    cr_assert_null(conv, "%s: a failed gcl_conv_create left a conv",
                   c->name);
  gcl_conv_destroy(conv);
  gcl_context_destroy(context);
}

/* The output size of a transposed layer, worked out by hand from the
 * uncropped length stride * (in - 1) + window. */
typedef struct deconv_shape_case {
  const char *name;
  int spatial_dims;
  int64_t in[3], kernel[3], stride[3], pad[3], pad_after[3], dilation[3];
  int64_t output_padding[3];
  int asymmetric;
  int64_t expected[3];
} deconv_shape_case;

static const deconv_shape_case deconv_shape_cases[] = {
    /* 2 * 3 + 3 = 9 uncropped, less 1 at each end, plus 1. */
    {"1d_stride2_pad1_output_padding1", 1, {4}, {3}, {2}, {1}, {0}, {1},
     {1}, 0, {8}},
    /* Height: 3 * 2 + 2 = 8, plus 2. Width: 4 + 5 (window of kernel 3,
     * dilation 2) = 9, less 1 at each end. */
    {"2d_per_axis", 2, {3, 5}, {2, 3}, {3, 1}, {0, 1}, {0, 0}, {1, 2},
     {2, 0}, 0, {10, 7}},
    /* 2 * 4 + 4 = 12 uncropped, less 2 before, plus 1. */
    {"1d_asymmetric_pads", 1, {5}, {4}, {2}, {2}, {0}, {1}, {1}, 1, {11}},
    /* Each axis: 1 + 4 (window of kernel 2, dilation 3), plus 2. */
    {"3d_output_padding_below_dilation", 3, {2, 2, 2}, {2, 2, 2}, {1, 1, 1},
     {0, 0, 0}, {0, 0, 0}, {3, 3, 3}, {2, 2, 2}, 0, {7, 7, 7}},
    /* The smallest output: 0 + 3 uncropped, less 1 at each end. */
    {"1d_output_size_1", 1, {1}, {3}, {1}, {1}, {0}, {1}, {0}, 0, {1}},
};

/* A group-2 transposed layer (4 input channels, 6 outputs), batch 3. */
static void deconv_shape_desc(const deconv_shape_case *c, gcl_conv_desc *desc,
                              int64_t *input_shape) {
  gcl_conv_desc_init(desc, c->spatial_dims, 4, 6, 1);
  desc->group = 2;
  desc->transposed = 1;
  desc->pad_asymmetric = c->asymmetric;
  input_shape[0] = 3;
  input_shape[1] = 4;
  for (int axis = 0; axis < c->spatial_dims; axis++) {
    desc->kernel[axis] = c->kernel[axis];
    desc->stride[axis] = c->stride[axis];
    desc->pad[axis] = c->pad[axis];
    desc->pad_after[axis] = c->pad_after[axis];
    desc->dilation[axis] = c->dilation[axis];
    desc->output_padding[axis] = c->output_padding[axis];
    input_shape[2 + axis] = c->in[axis];
  }
}

ParameterizedTestParameters(output_shape, deconvolution_formula) {
  return index_params(COUNT_OF(deconv_shape_cases));
}

ParameterizedTest(size_t *index, output_shape, deconvolution_formula) {
  const deconv_shape_case *c = &deconv_shape_cases[*index];
  int64_t input_shape[GCL_MAX_RANK], output_shape[GCL_MAX_RANK];
  gcl_conv_desc desc;

  deconv_shape_desc(c, &desc, input_shape);
  assert_status(gcl_conv_output_shape(&desc, c->spatial_dims + 2,
                                      input_shape, output_shape),
                GCL_SUCCESS, c->name);
  cr_assert_eq(output_shape[0], 3, "%s: batch %lld", c->name,
               (long long)output_shape[0]);
  cr_assert_eq(output_shape[1], 6, "%s: channels %lld", c->name,
               (long long)output_shape[1]);
  for (int axis = 0; axis < c->spatial_dims; axis++)
    cr_assert_eq(output_shape[2 + axis], c->expected[axis],
                 "%s: output size %lld on spatial axis %d, expected %lld",
                 c->name, (long long)output_shape[2 + axis], axis,
                 (long long)c->expected[axis]);
}

typedef struct deconv_empty_case {
  deconv_shape_case layer;
  const char *fragments[MAX_FRAGMENTS];
} deconv_empty_case;

/* Padding can crop a transposed output to nothing, which is rejected. */
static const deconv_empty_case deconv_empty_cases[] = {
    {{"1d_pads_crop_all", 1, {1}, {1}, {1}, {1}, {0}, {1}, {0}, 0, {0}},
     {"invalid deconvolution: on the width axis the output size would be "
      "-1",
      "stride 1 x (input 1 - 1) + window 1 - pad 1 - pad after 1 + "
      "output_padding 0",
      "at least 1"}},
    {{"2d_pad_after_crops_height", 2, {3, 2}, {2, 2}, {1, 1}, {0, 0},
      {4, 0}, {1, 1}, {0, 0}, 1, {0}},
     {"on the height axis the output size would be 0",
      "stride 1 x (input 3 - 1) + window 2 - pad 0 - pad after 4 + "
      "output_padding 0",
      "use less padding"}},
    {{"3d_depth_with_output_padding", 3, {1, 4, 4}, {2, 2, 2}, {2, 2, 2},
      {2, 0, 0}, {0}, {1, 1, 1}, {1, 0, 0}, 0, {0}},
     {"on the depth axis the output size would be -1",
      "stride 2 x (input 1 - 1) + window 2 - pad 2 - pad after 2 + "
      "output_padding 1",
      NULL}},
};

ParameterizedTestParameters(output_shape, rejects_empty_deconvolution) {
  return index_params(COUNT_OF(deconv_empty_cases));
}

ParameterizedTest(size_t *index, output_shape, rejects_empty_deconvolution) {
  const deconv_empty_case *c = &deconv_empty_cases[*index];
  int64_t input_shape[GCL_MAX_RANK], output_shape[GCL_MAX_RANK];
  gcl_conv_desc desc;

  deconv_shape_desc(&c->layer, &desc, input_shape);
  assert_status(gcl_conv_validate(&desc), GCL_SUCCESS, c->layer.name);
  assert_status(gcl_conv_output_shape(&desc, c->layer.spatial_dims + 2,
                                      input_shape, output_shape),
                GCL_ERROR_INVALID_LAYER, c->layer.name);
  expect_fragments(c->fragments, c->layer.name);
}

/* Caffe's Deconvolution stores weights as (channels, num_output / group,
 * kernel...), the other way round from a convolution. */
Test(weight_shape, transposed_is_c_by_k_over_group_by_kernel) {
  static const weight_case cases[] = {
      {1, 6, 9, 3, {5}, {6, 3, 5}},
      {2, 8, 12, 4, {3, 3}, {8, 3, 3, 3}},
      {2, 32, 64, 32, {2, 2}, {32, 2, 2, 2}},
      {3, 4, 8, 2, {1, 3, 2}, {4, 4, 1, 3, 2}},
  };

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const weight_case *c = &cases[i];
    int64_t shape[GCL_MAX_RANK];
    gcl_conv_desc desc;

    gcl_conv_desc_init(&desc, c->spatial_dims, c->channels, c->num_output, 1);
    desc.group = c->group;
    desc.transposed = 1;
    for (int axis = 0; axis < c->spatial_dims; axis++)
      desc.kernel[axis] = c->kernel[axis];
    assert_status(gcl_conv_weight_shape(&desc, shape), GCL_SUCCESS,
                  "gcl_conv_weight_shape");
    for (int d = 0; d < c->spatial_dims + 2; d++)
      cr_assert_eq(shape[d], c->expected[d],
                   "case %zu: transposed weight shape[%d] is %lld, expected "
                   "%lld",
                   i, d, (long long)shape[d], (long long)c->expected[d]);
  }
}

Test(check_params, transposed_rejects_convolution_order) {
  const int64_t transposed_order[4] = {8, 3, 3, 3};
  const int64_t convolution_order[4] = {12, 2, 3, 3};
  const int64_t bias_shape[1] = {12};
  gcl_conv_desc desc;

  gcl_conv_desc_init(&desc, 2, 8, 12, 3);
  desc.group = 4;
  desc.transposed = 1;
  assert_status(gcl_conv_check_params(&desc, 4, transposed_order, 1,
                                      bias_shape),
                GCL_SUCCESS, "(8, 3, 3, 3)");
  assert_status(gcl_conv_check_params(&desc, 4, convolution_order, 1,
                                      bias_shape),
                MISMATCH, "(12, 2, 3, 3)");
  assert_error_contains("weight shape (12, 2, 3, 3) does not match",
                        "(12, 2, 3, 3)");
  assert_error_contains(
      "expects (8, 3, 3, 3) = (channels, num_output / group, kernel...)",
      "(12, 2, 3, 3)");
}

/* ---- gcl_conv_create: bias and NULL arguments ------------------------------ */

static void layer_40_60_20(gcl_conv_desc *desc) {
  gcl_conv_desc_init(desc, 2, 40, 60, 3);
  desc->group = 20;
}

Test(conv_create, accepts_valid_layer) {
  static float weights[60 * 2 * 3 * 3];
  static float bias[60];
  gcl_context *context = test_context();
  gcl_conv *conv = NULL;
  gcl_conv_desc desc;
  gcl_status status;

  layer_40_60_20(&desc);
  status = gcl_conv_create(context, &desc, weights, bias, &conv);
  assert_status(status, GCL_SUCCESS, "gcl_conv_create");
  cr_assert_not_null(conv, "gcl_conv_create succeeded without a conv");
  assert_error_empty("gcl_conv_create");
  gcl_conv_destroy(conv);
  gcl_context_destroy(context);
}

Test(conv_create, rejects_missing_bias) {
  static float weights[60 * 2 * 3 * 3];
  gcl_context *context = test_context();
  gcl_conv *conv = NULL;
  gcl_conv_desc desc;
  gcl_status status;

  layer_40_60_20(&desc);
  status = gcl_conv_create(context, &desc, weights, NULL, &conv);
  assert_status(status, GCL_ERROR_INVALID_ARGUMENT, "bias NULL");
  assert_error_contains("bias_term 1 but bias is NULL", "bias NULL");
  assert_error_contains("60 bias values", "bias NULL");
  cr_assert_null(conv, "conv is %p after a failure", (void *)conv);
  gcl_context_destroy(context);
}

Test(conv_create, rejects_unexpected_bias) {
  static float weights[60 * 2 * 3 * 3];
  static float bias[60];
  gcl_context *context = test_context();
  gcl_conv *conv = NULL;
  gcl_conv_desc desc;
  gcl_status status;

  layer_40_60_20(&desc);
  desc.bias_term = 0;
  status = gcl_conv_create(context, &desc, weights, bias, &conv);
  assert_status(status, GCL_ERROR_INVALID_ARGUMENT, "bias with bias_term 0");
  assert_error_contains("bias_term 0", "bias with bias_term 0");
  cr_assert_null(conv, "conv is %p after a failure", (void *)conv);
  gcl_context_destroy(context);
}

Test(conv_create, rejects_null_arguments) {
  static float weights[60 * 2 * 3 * 3];
  static float bias[60];
  gcl_context *context = test_context();
  gcl_conv *conv = NULL;
  gcl_conv_desc desc;

  layer_40_60_20(&desc);
  for (int missing = 0; missing < 4; missing++) {
    static const char *const names[] = {"context", "desc", "weights",
                                        "conv"};
    gcl_status status = gcl_conv_create(
        missing == 0 ? NULL : context, missing == 1 ? NULL : &desc,
        missing == 2 ? NULL : weights, bias, missing == 3 ? NULL : &conv);

    assert_status(status, GCL_ERROR_INVALID_ARGUMENT, names[missing]);
    assert_error_contains("must not be NULL", names[missing]);
    cr_assert_null(conv, "%s NULL: conv is %p", names[missing], (void *)conv);
  }
  gcl_conv_destroy(NULL);
  gcl_context_destroy(context);
}

/* ---- NULL arguments to the shape functions --------------------------------- */

Test(shape_functions, reject_null_arguments) {
  int64_t input_shape[4] = {1, 4, 8, 8}, output_shape[4];
  int64_t weight_shape[4] = {8, 2, 3, 3}, bias_shape[1] = {8};
  gcl_conv_desc desc;
  struct {
    const char *name;
    gcl_status status;
  } calls[7];

  gcl_conv_desc_init(&desc, 2, 4, 8, 3);
  desc.group = 2;
  calls[0].name = "gcl_conv_validate(NULL)";
  calls[0].status = gcl_conv_validate(NULL);
  calls[1].name = "gcl_conv_output_shape(NULL desc)";
  calls[1].status = gcl_conv_output_shape(NULL, 4, input_shape, output_shape);
  calls[2].name = "gcl_conv_output_shape(NULL input_shape)";
  calls[2].status = gcl_conv_output_shape(&desc, 4, NULL, output_shape);
  calls[3].name = "gcl_conv_output_shape(NULL output_shape)";
  calls[3].status = gcl_conv_output_shape(&desc, 4, input_shape, NULL);
  calls[4].name = "gcl_conv_weight_shape(NULL desc)";
  calls[4].status = gcl_conv_weight_shape(NULL, output_shape);
  calls[5].name = "gcl_conv_weight_shape(NULL weight_shape)";
  calls[5].status = gcl_conv_weight_shape(&desc, NULL);
  calls[6].name = "gcl_conv_check_params(NULL weight_shape)";
  calls[6].status = gcl_conv_check_params(&desc, 4, NULL, 1, bias_shape);

  for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++)
    assert_status(calls[i].status, GCL_ERROR_INVALID_ARGUMENT, calls[i].name);

  /* The message belongs to the latest call only. */
  assert_error_contains("weight_shape must not be NULL", calls[6].name);
  cr_assert_eq(gcl_conv_check_params(NULL, 4, weight_shape, 1, bias_shape),
               GCL_ERROR_INVALID_ARGUMENT,
               "gcl_conv_check_params(NULL desc): %s", gcl_last_error());
  assert_error_contains("desc must not be NULL",
                        "gcl_conv_check_params(NULL desc)");
}

/* ---- defaults, status strings, message lifetime ---------------------------- */

Test(desc_init, sets_caffe_defaults) {
  for (int dims = 1; dims <= GCL_MAX_SPATIAL_DIMS; dims++) {
    gcl_conv_desc desc;

    memset(&desc, 0x5a, sizeof desc);
    gcl_conv_desc_init(&desc, dims, 12, 18, 5);
    cr_assert_eq(desc.spatial_dims, dims, "spatial_dims %d, expected %d",
                 desc.spatial_dims, dims);
    cr_assert_eq(desc.channels, 12, "channels %lld",
                 (long long)desc.channels);
    cr_assert_eq(desc.num_output, 18, "num_output %lld",
                 (long long)desc.num_output);
    cr_assert_eq(desc.group, 1, "group %lld, expected 1",
                 (long long)desc.group);
    cr_assert_eq(desc.bias_term, 1, "bias_term %d, expected 1",
                 desc.bias_term);
    cr_assert_eq(desc.transposed, 0, "transposed %d, expected 0",
                 desc.transposed);
    for (int axis = 0; axis < GCL_MAX_SPATIAL_DIMS; axis++) {
      cr_assert_eq(desc.kernel[axis], 5, "dims %d: kernel[%d] %lld", dims,
                   axis, (long long)desc.kernel[axis]);
      cr_assert_eq(desc.stride[axis], 1, "dims %d: stride[%d] %lld", dims,
                   axis, (long long)desc.stride[axis]);
      cr_assert_eq(desc.pad[axis], 0, "dims %d: pad[%d] %lld", dims, axis,
                   (long long)desc.pad[axis]);
      cr_assert_eq(desc.dilation[axis], 1, "dims %d: dilation[%d] %lld",
                   dims, axis, (long long)desc.dilation[axis]);
    }
    assert_status(gcl_conv_validate(&desc), GCL_SUCCESS, "defaults");
  }
  gcl_conv_desc_init(NULL, 2, 1, 1, 1); /* must not crash */
}

Test(status_string, distinct_and_non_empty) {
  static const gcl_status all[] = {
      GCL_SUCCESS,
      GCL_ERROR_INVALID_ARGUMENT,
      GCL_ERROR_INVALID_LAYER,
      GCL_ERROR_SHAPE_MISMATCH,
      GCL_ERROR_INVALID_STATE,
      GCL_ERROR_UNSUPPORTED,
      GCL_ERROR_OUT_OF_MEMORY,
      GCL_ERROR_DEVICE_NOT_FOUND,
      GCL_ERROR_BUILD_FAILED,
      GCL_ERROR_OPENCL,
      GCL_ERROR_IO,
  };
  const size_t count = sizeof all / sizeof all[0];

  for (size_t i = 0; i < count; i++) {
    const char *text = gcl_status_string(all[i]);

    cr_assert_not_null(text, "status %d has a NULL string", (int)all[i]);
    cr_assert_str_not_empty(text, "status %d has an empty string",
                            (int)all[i]);
    for (size_t j = 0; j < i; j++)
      cr_assert_str_neq(text, gcl_status_string(all[j]),
                        "statuses %d and %d share the string \"%s\"",
                        (int)all[i], (int)all[j], text);
  }
  cr_assert_str_not_empty(gcl_status_string((gcl_status)99),
                          "an unknown status has an empty string");
}

Test(last_error, empty_after_success) {
  int64_t input_shape[4] = {1, 4, 8, 8}, output_shape[4];
  int64_t weight_shape[4] = {8, 2, 3, 3}, bias_shape[1] = {8};
  gcl_conv_desc bad, good;
  gcl_status status;

  gcl_conv_desc_init(&good, 2, 4, 8, 3);
  good.group = 2;
  bad = good;
  bad.group = 3;

  status = gcl_conv_validate(&bad);
  assert_status(status, GCL_ERROR_INVALID_LAYER, "group 3");
  cr_assert_str_not_empty(gcl_last_error(), "a failure left no message");
  cr_assert_eq(gcl_last_cl_error(), CL_SUCCESS,
               "a layer error set the OpenCL code %d", gcl_last_cl_error());
  status = gcl_conv_validate(&good);
  assert_status(status, GCL_SUCCESS, "gcl_conv_validate");
  assert_error_empty("gcl_conv_validate");

  gcl_conv_validate(&bad);
  status = gcl_conv_output_shape(&good, 4, input_shape, output_shape);
  assert_status(status, GCL_SUCCESS, "gcl_conv_output_shape");
  assert_error_empty("gcl_conv_output_shape");

  gcl_conv_validate(&bad);
  status = gcl_conv_weight_shape(&good, weight_shape);
  assert_status(status, GCL_SUCCESS, "gcl_conv_weight_shape");
  assert_error_empty("gcl_conv_weight_shape");

  gcl_conv_validate(&bad);
  status = gcl_conv_check_params(&good, 4, weight_shape, 1, bias_shape);
  assert_status(status, GCL_SUCCESS, "gcl_conv_check_params");
  assert_error_empty("gcl_conv_check_params");
}
