/*
 * Layer description and validation under Caffe's rules for the Convolution
 * layer. Every check names the values and the rule; nothing is clamped.
 */
#include "conv/conv.h"

#include "util/error.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Largest size accepted on any axis (Caffe stores sizes as 32-bit ints).
 * The products of sizes are bounded by GCL_MAX_ELEMENTS per tensor. */
#define GCL_MAX_EXTENT (((int64_t)1 << 31) - 1)

void gcl_conv_desc_init(gcl_conv_desc *desc, int spatial_dims,
                        int64_t channels, int64_t num_output,
                        int64_t kernel_size) {
  if (desc == NULL)
    return;
  memset(desc, 0, sizeof *desc);
  desc->spatial_dims = spatial_dims;
  desc->channels = channels;
  desc->num_output = num_output;
  desc->group = 1;
  desc->bias_term = 1;
  for (int axis = 0; axis < GCL_MAX_SPATIAL_DIMS; axis++) {
    desc->kernel[axis] = kernel_size;
    desc->stride[axis] = 1;
    desc->pad[axis] = 0;
    desc->dilation[axis] = 1;
  }
}

const char *gcl_axis_name(int spatial_dims, int axis) {
  static const char *const names[] = {"depth", "height", "width"};
  int offset = GCL_MAX_SPATIAL_DIMS - spatial_dims;

  if (spatial_dims < 1 || spatial_dims > GCL_MAX_SPATIAL_DIMS || axis < 0 ||
      axis >= spatial_dims)
    return "?";
  return names[offset + axis];
}

static const char *layer_kind(const gcl_conv_desc *desc) {
  return desc->transposed ? "deconvolution" : "convolution";
}

static gcl_status check_divisible(const gcl_conv_desc *desc) {
  int64_t group = desc->group;
  int channels_ok = desc->channels % group == 0;
  int outputs_ok = desc->num_output % group == 0;

  if (channels_ok && outputs_ok)
    return GCL_SUCCESS;
  if (!channels_ok && !outputs_ok)
    return gcl_fail(GCL_ERROR_INVALID_LAYER,
                    "invalid %s: %" PRId64
                    " input channels and %" PRId64
                    " output channels are not divisible by group %" PRId64
                    " (remainders %" PRId64 " and %" PRId64
                    "); group must divide both",
                    layer_kind(desc), desc->channels, desc->num_output, group,
                    desc->channels % group, desc->num_output % group);
  if (!channels_ok)
    return gcl_fail(GCL_ERROR_INVALID_LAYER,
                    "invalid %s: %" PRId64
                    " input channels are not divisible by group %" PRId64
                    " (%" PRId64 " = %" PRId64 " x %" PRId64 " + %" PRId64
                    "), while %" PRId64 " output channels are (%" PRId64
                    " per group); group must divide both",
                    layer_kind(desc), desc->channels, group, desc->channels,
                    desc->channels / group, group, desc->channels % group,
                    desc->num_output, desc->num_output / group);
  return gcl_fail(GCL_ERROR_INVALID_LAYER,
                  "invalid %s: %" PRId64
                  " output channels are not divisible by group %" PRId64
                  " (%" PRId64 " = %" PRId64 " x %" PRId64 " + %" PRId64
                  "), while %" PRId64 " input channels are (%" PRId64
                  " per group); group must divide both",
                  layer_kind(desc), desc->num_output, group, desc->num_output,
                  desc->num_output / group, group, desc->num_output % group,
                  desc->channels, desc->channels / group);
}

/* Checks one per-axis parameter against its lower bound. */
static gcl_status check_axis_values(const gcl_conv_desc *desc,
                                    const int64_t *values, const char *what,
                                    int64_t minimum) {
  for (int axis = 0; axis < desc->spatial_dims; axis++) {
    if (values[axis] < minimum)
      return gcl_fail(GCL_ERROR_INVALID_LAYER,
                      "invalid %s: %s %" PRId64
                      " on the %s axis; it must be at least %" PRId64,
                      layer_kind(desc), what, values[axis],
                      gcl_axis_name(desc->spatial_dims, axis), minimum);
    if (values[axis] > GCL_MAX_EXTENT)
      return gcl_fail(GCL_ERROR_INVALID_LAYER,
                      "invalid %s: %s %" PRId64
                      " on the %s axis exceeds the limit %" PRId64,
                      layer_kind(desc), what, values[axis],
                      gcl_axis_name(desc->spatial_dims, axis), GCL_MAX_EXTENT);
  }
  return GCL_SUCCESS;
}

static gcl_status check_count(const gcl_conv_desc *desc, int64_t value,
                              const char *what) {
  if (value < 1)
    return gcl_fail(GCL_ERROR_INVALID_LAYER,
                    "invalid %s: %s is %" PRId64 "; it must be at least 1",
                    layer_kind(desc), what, value);
  if (value > GCL_MAX_EXTENT)
    return gcl_fail(GCL_ERROR_INVALID_LAYER,
                    "invalid %s: %s is %" PRId64 ", above the limit %" PRId64,
                    layer_kind(desc), what, value, GCL_MAX_EXTENT);
  return GCL_SUCCESS;
}

int64_t gcl_pad_after(const gcl_conv_desc *desc, int axis) {
  return desc->pad_asymmetric ? desc->pad_after[axis] : desc->pad[axis];
}

/*
 * output_padding lengthens a transposed output by positions that the last
 * input row still reaches through a filter tap. It must stay below the
 * stride or the dilation (as in PyTorch); a larger value would add
 * positions that no input reaches.
 */
static gcl_status check_output_padding(const gcl_conv_desc *desc) {
  for (int axis = 0; axis < desc->spatial_dims; axis++) {
    int64_t extra = desc->output_padding[axis];
    const char *name = gcl_axis_name(desc->spatial_dims, axis);

    if (extra == 0)
      continue;
    if (!desc->transposed)
      return gcl_fail(GCL_ERROR_INVALID_LAYER,
                      "invalid convolution: output_padding %" PRId64
                      " on the %s axis, but output_padding applies only to "
                      "transposed layers (Deconvolution); set it to 0",
                      extra, name);
    if (extra < 0)
      return gcl_fail(GCL_ERROR_INVALID_LAYER,
                      "invalid deconvolution: output_padding %" PRId64
                      " on the %s axis; it must be at least 0",
                      extra, name);
    if (extra >= desc->stride[axis] && extra >= desc->dilation[axis])
      return gcl_fail(GCL_ERROR_INVALID_LAYER,
                      "invalid deconvolution: output_padding %" PRId64
                      " on the %s axis must be smaller than the stride "
                      "%" PRId64 " or the dilation %" PRId64,
                      extra, name, desc->stride[axis], desc->dilation[axis]);
  }
  return GCL_SUCCESS;
}

/*
 * Multiplies the shape out into *count. Returns -1 as soon as the product
 * passes GCL_MAX_ELEMENTS, so it never overflows. Every entry must be at
 * least 1.
 */
static int count_elements(int rank, const int64_t *shape, int64_t *count) {
  *count = 1;
  for (int i = 0; i < rank; i++) {
    if (shape[i] > GCL_MAX_ELEMENTS / *count)
      return -1;
    *count *= shape[i];
  }
  return 0;
}

/* Rejects a weight tensor too large to address. */
static gcl_status check_weight_count(const gcl_conv_desc *desc) {
  int64_t shape[GCL_MAX_RANK];
  int64_t count;
  char text[160];

  shape[0] = desc->transposed ? desc->channels : desc->num_output;
  shape[1] = desc->transposed ? desc->num_output / desc->group
                              : desc->channels / desc->group;
  for (int axis = 0; axis < desc->spatial_dims; axis++)
    shape[2 + axis] = desc->kernel[axis];
  if (count_elements(desc->spatial_dims + 2, shape, &count) == 0)
    return GCL_SUCCESS;

  gcl_format_shape(desc->spatial_dims + 2, shape, text, sizeof text);
  return gcl_fail(GCL_ERROR_INVALID_LAYER,
                  "invalid convolution: the weights %s have more than %" PRId64
                  " elements, the limit that keeps their size in bytes "
                  "within 64 bits",
                  text, GCL_MAX_ELEMENTS);
}

gcl_status gcl_conv_validate(const gcl_conv_desc *desc) {
  gcl_status status;

  gcl_clear_error();
  if (desc == NULL)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "gcl_conv_validate: desc must not be NULL");
  if (desc->spatial_dims < 1 || desc->spatial_dims > GCL_MAX_SPATIAL_DIMS)
    return gcl_fail(GCL_ERROR_INVALID_LAYER,
                    "invalid convolution: %d spatial axes; groupcl supports "
                    "1, 2 or 3",
                    desc->spatial_dims);

  status = check_count(desc, desc->channels, "the number of input channels");
  if (status == GCL_SUCCESS)
    status = check_count(desc, desc->num_output, "num_output");
  if (status == GCL_SUCCESS)
    status = check_count(desc, desc->group, "group");
  if (status == GCL_SUCCESS)
    status = check_divisible(desc);
  if (status == GCL_SUCCESS)
    status = check_axis_values(desc, desc->kernel, "kernel size", 1);
  if (status == GCL_SUCCESS)
    status = check_axis_values(desc, desc->stride, "stride", 1);
  if (status == GCL_SUCCESS)
    status = check_axis_values(desc, desc->pad, "pad", 0);
  if (status == GCL_SUCCESS)
    status = check_axis_values(desc, desc->dilation, "dilation", 1);
  if (status == GCL_SUCCESS && desc->pad_asymmetric)
    status = check_axis_values(desc, desc->pad_after, "pad after", 0);
  if (status == GCL_SUCCESS)
    status = check_output_padding(desc);
  if (status == GCL_SUCCESS)
    status = check_weight_count(desc);
  return status;
}

/* Formats a shape as "(2, 3, 4)". */
void gcl_format_shape(int rank, const int64_t *shape, char *buffer,
                      size_t size) {
  size_t used = (size_t)snprintf(buffer, size, "(");

  for (int i = 0; i < rank && used < size; i++)
    used += (size_t)snprintf(buffer + used, size - used, "%s%" PRId64,
                             i > 0 ? ", " : "", shape[i]);
  if (used < size)
    snprintf(buffer + used, size - used, ")");
}

static gcl_status check_input_shape(const gcl_conv_desc *desc, int rank,
                                    const int64_t *input_shape) {
  static const char *const layouts[] = {
      "", "[batch][channels][width]", "[batch][channels][height][width]",
      "[batch][channels][depth][height][width]"};
  char text[160];

  if (rank != desc->spatial_dims + 2)
    return gcl_fail(GCL_ERROR_SHAPE_MISMATCH,
                    "input rank %d does not fit a convolution with %d "
                    "spatial axes, which needs rank %d: %s",
                    rank, desc->spatial_dims, desc->spatial_dims + 2,
                    layouts[desc->spatial_dims]);

  gcl_format_shape(rank, input_shape, text, sizeof text);
  if (input_shape[0] < 1 || input_shape[0] > GCL_MAX_EXTENT)
    return gcl_fail(GCL_ERROR_SHAPE_MISMATCH,
                    "input shape %s has batch size %" PRId64
                    "; it must be between 1 and %" PRId64,
                    text, input_shape[0], GCL_MAX_EXTENT);
  if (input_shape[1] != desc->channels)
    return gcl_fail(GCL_ERROR_SHAPE_MISMATCH,
                    "input shape %s has %" PRId64
                    " channels but the layer expects %" PRId64,
                    text, input_shape[1], desc->channels);
  for (int axis = 0; axis < desc->spatial_dims; axis++) {
    int64_t size = input_shape[2 + axis];

    if (size < 1 || size > GCL_MAX_EXTENT)
      return gcl_fail(GCL_ERROR_SHAPE_MISMATCH,
                      "input shape %s has size %" PRId64
                      " on the %s axis; it must be between 1 and %" PRId64,
                      text, size, gcl_axis_name(desc->spatial_dims, axis),
                      GCL_MAX_EXTENT);
  }

  int64_t count;
  if (count_elements(rank, input_shape, &count) != 0)
    return gcl_fail(GCL_ERROR_SHAPE_MISMATCH,
                    "input shape %s has more than %" PRId64
                    " elements, the limit that keeps its size in bytes "
                    "within 64 bits",
                    text, GCL_MAX_ELEMENTS);
  return GCL_SUCCESS;
}

/* Caffe's output size for one axis, or 0 when the window does not fit. */
static int64_t axis_output_size(const gcl_conv_desc *desc, int axis,
                                int64_t input) {
  int64_t window = desc->dilation[axis] * (desc->kernel[axis] - 1) + 1;
  int64_t padded = input + desc->pad[axis] + gcl_pad_after(desc, axis);

  if (desc->transposed)
    return desc->stride[axis] * (input - 1) + window - desc->pad[axis] -
           gcl_pad_after(desc, axis) + desc->output_padding[axis];
  if (padded < window)
    return 0;
  return (padded - window) / desc->stride[axis] + 1;
}

static gcl_status empty_output(const gcl_conv_desc *desc, int axis,
                               int64_t input) {
  int64_t before = desc->pad[axis], after = gcl_pad_after(desc, axis);
  int64_t window = desc->dilation[axis] * (desc->kernel[axis] - 1) + 1;
  char padding[96];

  if (desc->transposed)
    return gcl_fail(
        GCL_ERROR_INVALID_LAYER,
        "invalid deconvolution: on the %s axis the output size would be "
        "%" PRId64 " = stride %" PRId64 " x (input %" PRId64 " - 1) + "
        "window %" PRId64 " - pad %" PRId64 " - pad after %" PRId64
        " + output_padding %" PRId64 "; it must be at least 1, so use "
        "less padding",
        gcl_axis_name(desc->spatial_dims, axis),
        axis_output_size(desc, axis, input), desc->stride[axis], input,
        window, before, after, desc->output_padding[axis]);
  if (before == after)
    snprintf(padding, sizeof padding, "2 x pad %" PRId64, before);
  else
    snprintf(padding, sizeof padding,
             "pad %" PRId64 " before + %" PRId64 " after", before, after);
  return gcl_fail(
      GCL_ERROR_INVALID_LAYER,
      "invalid convolution: on the %s axis the filter window %" PRId64
      " (kernel %" PRId64 ", dilation %" PRId64
      ") is larger than the padded input %" PRId64 " (size %" PRId64
      " + %s), so the output would be empty; use a smaller kernel or "
      "dilation, or more padding",
      gcl_axis_name(desc->spatial_dims, axis), window, desc->kernel[axis],
      desc->dilation[axis], input + before + after, input, padding);
}

gcl_status gcl_conv_output_shape(const gcl_conv_desc *desc, int rank,
                                 const int64_t *input_shape,
                                 int64_t *output_shape) {
  gcl_status status = gcl_conv_validate(desc);

  if (status != GCL_SUCCESS)
    return status;
  if (input_shape == NULL || output_shape == NULL)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "gcl_conv_output_shape: input_shape and output_shape "
                    "must not be NULL");
  status = check_input_shape(desc, rank, input_shape);
  if (status != GCL_SUCCESS)
    return status;

  output_shape[0] = input_shape[0];
  output_shape[1] = desc->num_output;
  for (int axis = 0; axis < desc->spatial_dims; axis++) {
    int64_t input = input_shape[2 + axis];
    int64_t size = axis_output_size(desc, axis, input);

    if (size < 1)
      return empty_output(desc, axis, input);
    if (size > GCL_MAX_EXTENT)
      return gcl_fail(GCL_ERROR_INVALID_LAYER,
                      "invalid %s: the output size %" PRId64
                      " on the %s axis exceeds the limit %" PRId64,
                      layer_kind(desc), size,
                      gcl_axis_name(desc->spatial_dims, axis),
                      GCL_MAX_EXTENT);
    output_shape[2 + axis] = size;
  }

  int64_t count;
  if (count_elements(rank, output_shape, &count) != 0) {
    char text[160];
    gcl_format_shape(rank, output_shape, text, sizeof text);
    return gcl_fail(GCL_ERROR_INVALID_LAYER,
                    "invalid convolution: the output shape %s has more than "
                    "%" PRId64 " elements, the limit that keeps its size in "
                    "bytes within 64 bits",
                    text, GCL_MAX_ELEMENTS);
  }
  return GCL_SUCCESS;
}

gcl_status gcl_conv_weight_shape(const gcl_conv_desc *desc,
                                 int64_t *weight_shape) {
  gcl_status status = gcl_conv_validate(desc);

  if (status != GCL_SUCCESS)
    return status;
  if (weight_shape == NULL)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "gcl_conv_weight_shape: weight_shape must not be NULL");

  weight_shape[0] = desc->transposed ? desc->channels : desc->num_output;
  weight_shape[1] = desc->transposed ? desc->num_output / desc->group
                                     : desc->channels / desc->group;
  for (int axis = 0; axis < desc->spatial_dims; axis++)
    weight_shape[2 + axis] = desc->kernel[axis];
  return GCL_SUCCESS;
}

static gcl_status check_bias_shape(const gcl_conv_desc *desc, int bias_rank,
                                   const int64_t *bias_shape) {
  char text[160];

  if (!desc->bias_term) {
    if (bias_rank != 0)
      return gcl_fail(GCL_ERROR_SHAPE_MISMATCH,
                      "a bias was given but the layer has bias_term 0");
    return GCL_SUCCESS;
  }
  if (bias_rank > 0 && bias_shape == NULL)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "gcl_conv_check_params: bias_rank is %d but bias_shape "
                    "is NULL",
                    bias_rank);
  if (bias_rank == 0)
    return gcl_fail(GCL_ERROR_SHAPE_MISMATCH,
                    "the layer has bias_term 1 but no bias was given; pass "
                    "a bias of shape (%" PRId64 ") or set bias_term 0",
                    desc->num_output);
  if (bias_rank != 1 || bias_shape[0] != desc->num_output) {
    gcl_format_shape(bias_rank, bias_shape, text, sizeof text);
    return gcl_fail(GCL_ERROR_SHAPE_MISMATCH,
                    "bias shape %s does not match the layer, which expects "
                    "(%" PRId64 ") = (num_output)",
                    text, desc->num_output);
  }
  return GCL_SUCCESS;
}

gcl_status gcl_conv_check_params(const gcl_conv_desc *desc, int weight_rank,
                                 const int64_t *weight_shape, int bias_rank,
                                 const int64_t *bias_shape) {
  int64_t expected[GCL_MAX_RANK];
  char given_text[160], expected_text[160];
  gcl_status status = gcl_conv_weight_shape(desc, expected);
  int rank;

  if (status != GCL_SUCCESS)
    return status;
  if (weight_shape == NULL && weight_rank > 0)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "gcl_conv_check_params: weight_shape must not be NULL");

  rank = desc->spatial_dims + 2;
  gcl_format_shape(rank, expected, expected_text, sizeof expected_text);
  gcl_format_shape(weight_rank, weight_shape, given_text, sizeof given_text);
  if (weight_rank != rank ||
      memcmp(weight_shape, expected, (size_t)rank * sizeof *expected) != 0)
    return gcl_fail(GCL_ERROR_SHAPE_MISMATCH,
                    "weight shape %s does not match the layer, which expects "
                    "%s = %s",
                    given_text, expected_text,
                    desc->transposed
                        ? "(channels, num_output / group, kernel...)"
                        : "(num_output, channels / group, kernel...)");
  return check_bias_shape(desc, bias_rank, bias_shape);
}
