/*
 * Caffe shape inference. Each layer type has a function that checks its
 * parameters and bottoms the way Caffe's LayerSetUp and Reshape do and
 * writes the top shapes. Layers run in file order, phase TEST; a blob that a
 * layer writes in place replaces the earlier shape of that name.
 */
#define _POSIX_C_SOURCE 200809L

#include "net_shapes.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Maximum number of bottoms or tops of one layer. */
#define MAX_LAYER_BLOBS 64

typedef struct infer_context {
  const char *file_name;
  net_result *net;
  const ptx_node *layer;  /* the layer being evaluated */
  const char *layer_name;
  const char *layer_type;
  net_layer *record;
} infer_context;

/* ------------------------------------------------------------------------ */
/* Messages                                                                  */

/* Stops inference with "FILE:LINE:COLUMN: layer 'NAME' (TYPE): MESSAGE". */
static int fail_at(infer_context *ctx, const ptx_node *node,
                   const char *format, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static int fail_at(infer_context *ctx, const ptx_node *node,
                   const char *format, ...) {
  char message[400];
  va_list args;
  va_start(args, format);
  vsnprintf(message, sizeof message, format, args);
  va_end(args);

  if (node == NULL) {
    node = ctx->layer;
  }
  snprintf(ctx->net->stop_reason, sizeof ctx->net->stop_reason,
           "%s:%d:%d: layer '%s' (%s): %s", ctx->file_name, node->line,
           node->column, ctx->layer_name, ctx->layer_type, message);
  ctx->net->stopped = 1;
  return -1;
}

/* Copies a conversion error from the prototxt reader into stop_reason. */
static int fail_conversion(infer_context *ctx, const char *error) {
  snprintf(ctx->net->stop_reason, sizeof ctx->net->stop_reason, "%s (layer "
           "'%s')", error, ctx->layer_name);
  ctx->net->stopped = 1;
  return -1;
}

static const char *format_shape(const net_shape *shape, char *buffer,
                                size_t size) {
  size_t used = (size_t)snprintf(buffer, size, "[");
  for (int i = 0; i < shape->rank && used < size; i++) {
    used += (size_t)snprintf(buffer + used, size - used, "%s%" PRId64,
                             i > 0 ? ", " : "", shape->dims[i]);
  }
  if (used < size) {
    snprintf(buffer + used, size - used, "]");
  }
  return buffer;
}

/* ------------------------------------------------------------------------ */
/* Parameters                                                                */

static const ptx_node empty_message = {"", NULL, 0, 0, 0, NULL, NULL, NULL};

/* Returns the sub-message name of message, or an empty message. */
static const ptx_node *find_message(const ptx_node *message,
                                    const char *name) {
  const ptx_node *node = ptx_find(message, name);
  return node != NULL && node->value == NULL ? node : &empty_message;
}

static int read_int(infer_context *ctx, const ptx_node *node,
                    int64_t *value) {
  char error[400];
  if (ptx_int64(ctx->file_name, node, value, error, sizeof error) != 0) {
    return fail_conversion(ctx, error);
  }
  return 0;
}

/* Reads an optional integer field, keeping *value when it is absent. */
static int read_optional_int(infer_context *ctx, const ptx_node *message,
                             const char *name, int64_t *value) {
  const ptx_node *node = ptx_find(message, name);
  return node == NULL ? 0 : read_int(ctx, node, value);
}

static int read_optional_bool(infer_context *ctx, const ptx_node *message,
                              const char *name, int *value) {
  const ptx_node *node = ptx_find(message, name);
  char error[400];
  if (node != NULL &&
      ptx_bool(ctx->file_name, node, value, error, sizeof error) != 0) {
    return fail_conversion(ctx, error);
  }
  return 0;
}

/* Reads every `name: N` field of message into values, in order. */
static int read_repeated_int(infer_context *ctx, const ptx_node *message,
                             const char *name, int64_t *values, int capacity,
                             int *count) {
  *count = 0;
  for (const ptx_node *node = ptx_find(message, name); node != NULL;
       node = ptx_find_next(node)) {
    if (*count == capacity) {
      return fail_at(ctx, node, "more than %d %s values", capacity, name);
    }
    if (read_int(ctx, node, &values[*count]) != 0) {
      return -1;
    }
    (*count)++;
  }
  return 0;
}

/* Normalises a possibly negative axis index of a blob of the given rank. */
static int canonical_axis(infer_context *ctx, const ptx_node *node,
                          int64_t axis, int rank, int *result) {
  if (axis < -rank || axis >= rank) {
    return fail_at(ctx, node, "axis %" PRId64 " is out of range for a "
                   "bottom with %d axes", axis, rank);
  }
  *result = (int)(axis < 0 ? axis + rank : axis);
  return 0;
}

static int64_t product(const int64_t *dims, int begin, int end) {
  int64_t result = 1;
  for (int i = begin; i < end; i++) {
    result *= dims[i];
  }
  return result;
}

/* ------------------------------------------------------------------------ */
/* Spatial parameters of Convolution and Pooling                             */

/* How one spatial parameter is spelled: repeated form and _h/_w form. */
typedef struct axis_field {
  const char *repeated; /* kernel_size, pad, stride, dilation */
  const char *height;   /* kernel_h, ...; NULL for dilation */
  const char *width;
  int64_t default_value; /* used when no form is given */
  int required;          /* the kernel has no default */
} axis_field;

static int read_height_width(infer_context *ctx, const ptx_node *param,
                             const axis_field *field, int spatial_dims,
                             int64_t *values) {
  const ptx_node *height = ptx_find(param, field->height);
  const ptx_node *width = ptx_find(param, field->width);
  const ptx_node *given = height != NULL ? height : width;

  if (ptx_find(param, field->repeated) != NULL) {
    return fail_at(ctx, given, "%s cannot be combined with %s/%s. Give "
                   "only one form", field->repeated, field->height,
                   field->width);
  }
  if (height == NULL || width == NULL) {
    return fail_at(ctx, given, "%s and %s must be given together",
                   field->height, field->width);
  }
  if (spatial_dims != 2) {
    return fail_at(ctx, given, "%s/%s only apply to 2-D layers, but this "
                   "one has %d spatial axes", field->height, field->width,
                   spatial_dims);
  }
  if (read_int(ctx, height, &values[0]) != 0) {
    return -1;
  }
  return read_int(ctx, width, &values[1]);
}

/* Reads one value for all axes or one per axis, as Caffe does. */
static int read_axis_values(infer_context *ctx, const ptx_node *param,
                            const axis_field *field, int spatial_dims,
                            int64_t *values) {
  if (field->height != NULL && (ptx_find(param, field->height) != NULL ||
                                ptx_find(param, field->width) != NULL)) {
    return read_height_width(ctx, param, field, spatial_dims, values);
  }

  int64_t given[NET_MAX_RANK];
  int count = 0;
  if (read_repeated_int(ctx, param, field->repeated, given, NET_MAX_RANK,
                        &count) != 0) {
    return -1;
  }
  if (count == 0 && field->required) {
    return fail_at(ctx, NULL, "%s (or %s and %s) is missing",
                   field->repeated, field->height, field->width);
  }
  if (count > 1 && count != spatial_dims) {
    return fail_at(ctx, ptx_find(param, field->repeated),
                   "%s is given %d times. Give it once or once per spatial "
                   "axis (%d)", field->repeated, count, spatial_dims);
  }
  for (int axis = 0; axis < spatial_dims; axis++) {
    values[axis] = count == 0   ? field->default_value
                   : count == 1 ? given[0]
                                : given[axis];
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Convolution and Deconvolution                                             */

static const axis_field kernel_field = {"kernel_size", "kernel_h",
                                        "kernel_w", 0, 1};
static const axis_field pad_field = {"pad", "pad_h", "pad_w", 0, 0};
static const axis_field stride_field = {"stride", "stride_h", "stride_w", 1,
                                        0};
static const axis_field dilation_field = {"dilation", NULL, NULL, 1, 0};

/* Fills the layer's gcl_conv_desc from convolution_param and the bottom. */
static int read_conv_desc(infer_context *ctx, const ptx_node *param,
                          const net_shape *bottom, int axis,
                          gcl_conv_desc *desc) {
  const int spatial_dims = bottom->rank - axis - 1;
  int64_t values[4][NET_MAX_RANK];
  const axis_field *fields[4] = {&kernel_field, &pad_field, &stride_field,
                                 &dilation_field};
  for (int i = 0; i < 4; i++) {
    if (read_axis_values(ctx, param, fields[i], spatial_dims, values[i]) !=
        0) {
      return -1;
    }
  }

  int64_t num_output = 0;
  int64_t group = 1;
  int bias_term = 1;
  if (ptx_find(param, "num_output") == NULL) {
    return fail_at(ctx, NULL, "convolution_param { num_output } is missing");
  }
  if (read_optional_int(ctx, param, "num_output", &num_output) != 0 ||
      read_optional_int(ctx, param, "group", &group) != 0 ||
      read_optional_bool(ctx, param, "bias_term", &bias_term) != 0 ||
      read_optional_bool(ctx, param, "force_nd_im2col",
                         &ctx->record->force_nd_im2col) != 0) {
    return -1;
  }

  gcl_conv_desc_init(desc, spatial_dims, bottom->dims[axis], num_output, 1);
  desc->group = group;
  desc->bias_term = bias_term;
  for (int i = 0; i < spatial_dims; i++) {
    desc->kernel[i] = values[0][i];
    desc->pad[i] = values[1][i];
    desc->stride[i] = values[2][i];
    desc->dilation[i] = values[3][i];
  }
  return 0;
}

/* Marks the layer invalid; inference stops because its output is unknown. */
static int reject_conv(infer_context *ctx, const char *reason) {
  ctx->record->invalid_reason = strdup(reason);
  if (ctx->record->invalid_reason == NULL) {
    return fail_at(ctx, NULL, "out of memory");
  }
  return fail_at(ctx, NULL, "invalid layer: %s", reason);
}

/* Caffe's checks for a Deconvolution layer; the library rejects these. */
static int check_deconv(const gcl_conv_desc *desc, char *reason,
                        size_t size) {
  if (desc->num_output < 1 || desc->group < 1) {
    snprintf(reason, size, "num_output (%" PRId64 ") and group (%" PRId64
             ") must be at least 1", desc->num_output, desc->group);
    return -1;
  }
  if (desc->channels % desc->group != 0 ||
      desc->num_output % desc->group != 0) {
    snprintf(reason, size, "group %" PRId64 " must divide the input "
             "channels (%" PRId64 ") and num_output (%" PRId64 ")",
             desc->group, desc->channels, desc->num_output);
    return -1;
  }
  for (int axis = 0; axis < desc->spatial_dims; axis++) {
    if (desc->kernel[axis] < 1 || desc->stride[axis] < 1 ||
        desc->dilation[axis] < 1 || desc->pad[axis] < 0) {
      snprintf(reason, size, "spatial axis %d: kernel, stride and dilation "
               "must be at least 1 and pad at least 0", axis);
      return -1;
    }
  }
  return 0;
}

/* Deconvolution output: stride*(in-1) + dilation*(kernel-1) + 1 - 2*pad. */
static int deconv_output_shape(const gcl_conv_desc *desc,
                               const int64_t *input, int64_t *output,
                               char *reason, size_t size) {
  output[0] = input[0];
  output[1] = desc->num_output;
  for (int axis = 0; axis < desc->spatial_dims; axis++) {
    const int64_t extent = desc->stride[axis] * (input[2 + axis] - 1) +
                           desc->dilation[axis] * (desc->kernel[axis] - 1) +
                           1 - 2 * desc->pad[axis];
    if (extent < 1) {
      snprintf(reason, size, "spatial axis %d: the output size %" PRId64
               " is below 1; reduce pad", axis, extent);
      return -1;
    }
    output[2 + axis] = extent;
  }
  return 0;
}

/* Computes the output of the gcl layer [batch, C, spatial...]. */
static int conv_output(infer_context *ctx, net_layer *record,
                       const int64_t *input, int64_t *output) {
  char reason[400];
  if (record->transposed) {
    if (check_deconv(&record->desc, reason, sizeof reason) != 0 ||
        deconv_output_shape(&record->desc, input, output, reason,
                            sizeof reason) != 0) {
      return reject_conv(ctx, reason);
    }
    return 0;
  }

  const int rank = record->desc.spatial_dims + 2;
  gcl_status status = gcl_conv_validate(&record->desc);
  if (status == GCL_SUCCESS) {
    status = gcl_conv_output_shape(&record->desc, rank, input, output);
  }
  if (status != GCL_SUCCESS) {
    return reject_conv(ctx, gcl_last_error());
  }
  return 0;
}

static int infer_convolution(infer_context *ctx, const net_shape *bottoms,
                             int bottom_count, net_shape *tops,
                             int top_count) {
  const ptx_node *param = find_message(ctx->layer, "convolution_param");
  const net_shape *bottom = &bottoms[0];
  int64_t axis_value = 1;
  int axis = 0;
  (void)bottom_count;
  if (read_optional_int(ctx, param, "axis", &axis_value) != 0 ||
      canonical_axis(ctx, param, axis_value, bottom->rank, &axis) != 0) {
    return -1;
  }

  const int spatial_dims = bottom->rank - axis - 1;
  if (spatial_dims < 1 || spatial_dims > GCL_MAX_SPATIAL_DIMS) {
    return fail_at(ctx, NULL, "the bottom has %d spatial axes after the "
                   "channel axis; groupcl handles 1 to %d",
                   spatial_dims, GCL_MAX_SPATIAL_DIMS);
  }

  net_layer *record = ctx->record;
  record->is_conv = 1;
  record->transposed = strcmp(ctx->layer_type, "Deconvolution") == 0;
  record->batch = product(bottom->dims, 0, axis);
  if (read_conv_desc(ctx, param, bottom, axis, &record->desc) != 0) {
    return -1;
  }

  int64_t input[GCL_MAX_RANK];
  int64_t output[GCL_MAX_RANK];
  input[0] = record->batch;
  memcpy(input + 1, bottom->dims + axis, (size_t)(spatial_dims + 1) *
                                             sizeof *input);
  if (conv_output(ctx, record, input, output) != 0) {
    return -1;
  }

  /* Caffe applies the same layer to every bottom; tops keep outer axes. */
  for (int i = 0; i < top_count; i++) {
    tops[i] = *bottom;
    memcpy(tops[i].dims + axis, output + 1, (size_t)(spatial_dims + 1) *
                                                 sizeof *output);
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Pooling                                                                   */

/* Caffe's pooled size: ceil by default, clipped so a window starts inside. */
static int64_t pooled_size(int64_t input, int64_t kernel, int64_t pad,
                           int64_t stride, int round_up) {
  const int64_t span = input + 2 * pad - kernel;
  int64_t output = (round_up ? (span + stride - 1) / stride : span / stride) +
                   1;
  if (pad > 0 && (output - 1) * stride >= input + pad) {
    output--;
  }
  return output;
}

/* Reads ceil_mode (a field of some Caffe forks) and round_mode. */
static int read_round_up(infer_context *ctx, const ptx_node *param,
                         int *round_up) {
  *round_up = 1;
  if (read_optional_bool(ctx, param, "ceil_mode", round_up) != 0) {
    return -1;
  }
  const ptx_node *mode = ptx_find(param, "round_mode");
  if (mode != NULL && mode->value != NULL) {
    if (strcmp(mode->value, "FLOOR") == 0) {
      *round_up = 0;
    } else if (strcmp(mode->value, "CEIL") != 0) {
      return fail_at(ctx, mode, "round_mode must be CEIL or FLOOR, not %s",
                     mode->value);
    }
  }
  return 0;
}

static int infer_pooling(infer_context *ctx, const net_shape *bottoms,
                         int bottom_count, net_shape *tops, int top_count) {
  const ptx_node *param = find_message(ctx->layer, "pooling_param");
  const net_shape *bottom = &bottoms[0];
  (void)bottom_count;
  if (bottom->rank != 4) {
    return fail_at(ctx, NULL, "Pooling needs a bottom with 4 axes, not %d",
                   bottom->rank);
  }

  int global = 0;
  int round_up = 1;
  if (read_optional_bool(ctx, param, "global_pooling", &global) != 0 ||
      read_round_up(ctx, param, &round_up) != 0) {
    return -1;
  }

  int64_t kernel[2] = {bottom->dims[2], bottom->dims[3]};
  int64_t pad[2];
  int64_t stride[2];
  axis_field kernel_spec = kernel_field;
  kernel_spec.required = !global;
  if (global && (ptx_find(param, "kernel_size") != NULL ||
                 ptx_find(param, "kernel_h") != NULL)) {
    return fail_at(ctx, param, "global_pooling covers the whole input, so "
                   "remove the kernel size");
  }
  if ((!global && read_axis_values(ctx, param, &kernel_spec, 2, kernel) != 0) ||
      read_axis_values(ctx, param, &pad_field, 2, pad) != 0 ||
      read_axis_values(ctx, param, &stride_field, 2, stride) != 0) {
    return -1;
  }

  tops[0] = *bottom;
  for (int axis = 0; axis < 2; axis++) {
    if (kernel[axis] < 1 || stride[axis] < 1 || pad[axis] < 0 ||
        pad[axis] >= kernel[axis]) {
      return fail_at(ctx, param, "pooling needs kernel and stride of at "
                     "least 1 and 0 <= pad < kernel");
    }
    tops[0].dims[2 + axis] = global ? 1 : pooled_size(bottom->dims[2 + axis],
                                                      kernel[axis], pad[axis],
                                                      stride[axis], round_up);
  }
  /* A second top of max pooling is the mask, of the same shape. */
  for (int i = 1; i < top_count; i++) {
    tops[i] = tops[0];
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Other layers                                                              */

static int infer_same_shape(infer_context *ctx, const net_shape *bottoms,
                            int bottom_count, net_shape *tops,
                            int top_count) {
  (void)ctx;
  for (int i = 0; i < top_count; i++) {
    tops[i] = bottoms[i < bottom_count ? i : 0];
  }
  return 0;
}

static int infer_inner_product(infer_context *ctx, const net_shape *bottoms,
                               int bottom_count, net_shape *tops,
                               int top_count) {
  const ptx_node *param = find_message(ctx->layer, "inner_product_param");
  int64_t num_output = 0;
  int64_t axis_value = 1;
  int axis = 0;
  (void)bottom_count;
  (void)top_count;
  if (ptx_find(param, "num_output") == NULL) {
    return fail_at(ctx, NULL, "inner_product_param { num_output } is "
                   "missing");
  }
  if (read_optional_int(ctx, param, "num_output", &num_output) != 0 ||
      read_optional_int(ctx, param, "axis", &axis_value) != 0 ||
      canonical_axis(ctx, param, axis_value, bottoms[0].rank, &axis) != 0) {
    return -1;
  }

  tops[0] = bottoms[0];
  tops[0].rank = axis + 1;
  tops[0].dims[axis] = num_output;
  return 0;
}

static int check_same_shape(infer_context *ctx, const net_shape *a,
                            const net_shape *b, int skip_axis) {
  int same = a->rank == b->rank;
  for (int i = 0; same && i < a->rank; i++) {
    same = i == skip_axis || a->dims[i] == b->dims[i];
  }
  if (!same) {
    char first[160];
    char second[160];
    return fail_at(ctx, NULL, "bottom shapes %s and %s do not match",
                   format_shape(a, first, sizeof first),
                   format_shape(b, second, sizeof second));
  }
  return 0;
}

static int infer_eltwise(infer_context *ctx, const net_shape *bottoms,
                         int bottom_count, net_shape *tops, int top_count) {
  (void)top_count;
  for (int i = 1; i < bottom_count; i++) {
    if (check_same_shape(ctx, &bottoms[0], &bottoms[i], -1) != 0) {
      return -1;
    }
  }
  tops[0] = bottoms[0];
  return 0;
}

static int infer_concat(infer_context *ctx, const net_shape *bottoms,
                        int bottom_count, net_shape *tops, int top_count) {
  const ptx_node *param = find_message(ctx->layer, "concat_param");
  int64_t axis_value = 1;
  int axis = 0;
  (void)top_count;
  if (read_optional_int(ctx, param, "concat_dim", &axis_value) != 0 ||
      read_optional_int(ctx, param, "axis", &axis_value) != 0 ||
      canonical_axis(ctx, param, axis_value, bottoms[0].rank, &axis) != 0) {
    return -1;
  }

  tops[0] = bottoms[0];
  for (int i = 1; i < bottom_count; i++) {
    if (check_same_shape(ctx, &bottoms[0], &bottoms[i], axis) != 0) {
      return -1;
    }
    tops[0].dims[axis] += bottoms[i].dims[axis];
  }
  return 0;
}

static int infer_slice(infer_context *ctx, const net_shape *bottoms,
                       int bottom_count, net_shape *tops, int top_count) {
  const ptx_node *param = find_message(ctx->layer, "slice_param");
  int64_t axis_value = 1;
  int axis = 0;
  int64_t points[MAX_LAYER_BLOBS];
  int point_count = 0;
  (void)bottom_count;
  if (read_optional_int(ctx, param, "slice_dim", &axis_value) != 0 ||
      read_optional_int(ctx, param, "axis", &axis_value) != 0 ||
      canonical_axis(ctx, param, axis_value, bottoms[0].rank, &axis) != 0 ||
      read_repeated_int(ctx, param, "slice_point", points, MAX_LAYER_BLOBS,
                        &point_count) != 0) {
    return -1;
  }

  const int64_t extent = bottoms[0].dims[axis];
  if (point_count > 0 && point_count != top_count - 1) {
    return fail_at(ctx, param, "%d slice_point values need %d tops, not %d",
                   point_count, point_count + 1, top_count);
  }
  if (point_count == 0 && extent % top_count != 0) {
    return fail_at(ctx, NULL, "axis %d of size %" PRId64 " cannot be split "
                   "equally into %d tops", axis, extent, top_count);
  }

  int64_t previous = 0;
  for (int i = 0; i < top_count; i++) {
    const int64_t end = point_count == 0 ? extent / top_count * (i + 1)
                        : i < point_count ? points[i]
                                          : extent;
    if (end <= previous || end > extent) {
      return fail_at(ctx, param, "slice_point values must increase inside "
                     "(0, %" PRId64 ")", extent);
    }
    tops[i] = bottoms[0];
    tops[i].dims[axis] = end - previous;
    previous = end;
  }
  return 0;
}

static int infer_flatten(infer_context *ctx, const net_shape *bottoms,
                         int bottom_count, net_shape *tops, int top_count) {
  const ptx_node *param = find_message(ctx->layer, "flatten_param");
  const net_shape *bottom = &bottoms[0];
  int64_t axis_value = 1;
  int64_t end_value = -1;
  int axis = 0;
  int end_axis = 0;
  (void)bottom_count;
  (void)top_count;
  if (read_optional_int(ctx, param, "axis", &axis_value) != 0 ||
      read_optional_int(ctx, param, "end_axis", &end_value) != 0 ||
      canonical_axis(ctx, param, axis_value, bottom->rank, &axis) != 0 ||
      canonical_axis(ctx, param, end_value, bottom->rank, &end_axis) != 0) {
    return -1;
  }

  net_shape *top = &tops[0];
  top->rank = 0;
  for (int i = 0; i < axis; i++) {
    top->dims[top->rank++] = bottom->dims[i];
  }
  top->dims[top->rank++] = product(bottom->dims, axis, end_axis + 1);
  for (int i = end_axis + 1; i < bottom->rank; i++) {
    top->dims[top->rank++] = bottom->dims[i];
  }
  return 0;
}

/* Builds the replaced axes of a Reshape: 0 copies, -1 is inferred. */
static int reshape_axes(infer_context *ctx, const net_shape *bottom,
                        int start, int end, const int64_t *dims, int count,
                        net_shape *top) {
  const int rank = start + count + (bottom->rank - end);
  if (rank > NET_MAX_RANK) {
    return fail_at(ctx, NULL, "the top would have %d axes; at most %d are "
                   "handled", rank, NET_MAX_RANK);
  }

  int inferred = -1;
  int64_t known = 1;
  top->rank = 0;
  for (int i = 0; i < start; i++) {
    top->dims[top->rank++] = bottom->dims[i];
  }
  for (int i = 0; i < count; i++) {
    int64_t dim = dims[i];
    if (dim == 0) {
      if (start + i >= bottom->rank) {
        return fail_at(ctx, NULL, "dim %d is 0 but the bottom has no axis "
                       "%d to copy", i, start + i);
      }
      dim = bottom->dims[start + i];
    } else if (dim == -1) {
      if (inferred >= 0) {
        return fail_at(ctx, NULL, "only one dim may be -1");
      }
      inferred = top->rank;
      dim = 1;
    } else if (dim < 1) {
      return fail_at(ctx, NULL, "dim %" PRId64 " is invalid; use -1, 0 or "
                     "a positive size", dim);
    }
    known *= dim;
    top->dims[top->rank++] = dim;
  }
  for (int i = end; i < bottom->rank; i++) {
    top->dims[top->rank++] = bottom->dims[i];
  }

  const int64_t replaced = product(bottom->dims, start, end);
  if (inferred >= 0) {
    if (replaced % known != 0) {
      return fail_at(ctx, NULL, "%" PRId64 " elements cannot be reshaped "
                     "with the fixed dims", replaced);
    }
    top->dims[inferred] = replaced / known;
  } else if (known != replaced) {
    return fail_at(ctx, NULL, "the new shape has %" PRId64 " elements in "
                   "place of %" PRId64, known, replaced);
  }
  return 0;
}

static int infer_reshape(infer_context *ctx, const net_shape *bottoms,
                         int bottom_count, net_shape *tops, int top_count) {
  const ptx_node *param = find_message(ctx->layer, "reshape_param");
  const net_shape *bottom = &bottoms[0];
  int64_t dims[NET_MAX_RANK];
  int count = 0;
  int64_t axis_value = 0;
  int64_t num_axes = -1;
  (void)bottom_count;
  (void)top_count;
  if (read_repeated_int(ctx, find_message(param, "shape"), "dim", dims,
                        NET_MAX_RANK, &count) != 0 ||
      read_optional_int(ctx, param, "axis", &axis_value) != 0 ||
      read_optional_int(ctx, param, "num_axes", &num_axes) != 0) {
    return -1;
  }

  /* axis may equal the rank (append axes); negative counts from the end. */
  const int64_t start = axis_value < 0 ? axis_value + bottom->rank + 1
                                       : axis_value;
  const int64_t end = num_axes == -1 ? bottom->rank : start + num_axes;
  if (start < 0 || start > bottom->rank || num_axes < -1 ||
      end > bottom->rank) {
    return fail_at(ctx, param, "axis %" PRId64 " and num_axes %" PRId64
                   " do not fit a bottom with %d axes", axis_value, num_axes,
                   bottom->rank);
  }
  return reshape_axes(ctx, bottom, (int)start, (int)end, dims, count,
                      &tops[0]);
}

static int infer_permute(infer_context *ctx, const net_shape *bottoms,
                         int bottom_count, net_shape *tops, int top_count) {
  const ptx_node *param = find_message(ctx->layer, "permute_param");
  const net_shape *bottom = &bottoms[0];
  int64_t order[NET_MAX_RANK];
  int count = 0;
  int used[NET_MAX_RANK] = {0};
  (void)bottom_count;
  (void)top_count;
  if (read_repeated_int(ctx, param, "order", order, NET_MAX_RANK, &count) !=
      0) {
    return -1;
  }

  tops[0].rank = bottom->rank;
  for (int i = 0; i < count; i++) {
    if (order[i] < 0 || order[i] >= bottom->rank || used[order[i]]) {
      return fail_at(ctx, param, "order must list distinct axes below %d",
                     bottom->rank);
    }
    used[order[i]] = 1;
    tops[0].dims[i] = bottom->dims[order[i]];
  }
  /* Axes the order leaves out follow in their original order. */
  for (int axis = 0, i = count; axis < bottom->rank; axis++) {
    if (!used[axis]) {
      tops[0].dims[i++] = bottom->dims[axis];
    }
  }
  return 0;
}

static int infer_crop(infer_context *ctx, const net_shape *bottoms,
                      int bottom_count, net_shape *tops, int top_count) {
  const ptx_node *param = find_message(ctx->layer, "crop_param");
  int64_t axis_value = 2;
  int axis = 0;
  int64_t offsets[NET_MAX_RANK];
  int offset_count = 0;
  (void)top_count;
  if (bottom_count != 2) {
    return fail_at(ctx, NULL, "Crop needs 2 bottoms, not %d", bottom_count);
  }
  if (read_optional_int(ctx, param, "axis", &axis_value) != 0 ||
      canonical_axis(ctx, param, axis_value, bottoms[0].rank, &axis) != 0 ||
      read_repeated_int(ctx, param, "offset", offsets, NET_MAX_RANK,
                        &offset_count) != 0) {
    return -1;
  }
  if (offset_count > 1 && offset_count != bottoms[0].rank - axis) {
    return fail_at(ctx, param, "give one offset or one per cropped axis "
                   "(%d)", bottoms[0].rank - axis);
  }
  if (bottoms[1].rank != bottoms[0].rank) {
    return fail_at(ctx, NULL, "both bottoms need the same number of axes");
  }

  tops[0] = bottoms[0];
  for (int i = axis; i < bottoms[0].rank; i++) {
    const int64_t offset = offset_count == 0   ? 0
                           : offset_count == 1 ? offsets[0]
                                               : offsets[i - axis];
    if (offset + bottoms[1].dims[i] > bottoms[0].dims[i]) {
      return fail_at(ctx, param, "axis %d: offset %" PRId64 " plus size %"
                     PRId64 " exceeds the bottom size %" PRId64, i, offset,
                     bottoms[1].dims[i], bottoms[0].dims[i]);
    }
    tops[0].dims[i] = bottoms[1].dims[i];
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Layer table                                                               */

typedef int (*infer_function)(infer_context *ctx, const net_shape *bottoms,
                              int bottom_count, net_shape *tops,
                              int top_count);

typedef struct layer_kind {
  const char *type;
  const char *legacy_type; /* V1 `layers { type: ENUM }` name, or NULL */
  infer_function infer;
} layer_kind;

static const layer_kind layer_kinds[] = {
    {"Convolution", "CONVOLUTION", infer_convolution},
    {"DepthwiseConvolution", NULL, infer_convolution},
    {"Deconvolution", "DECONVOLUTION", infer_convolution},
    {"Pooling", "POOLING", infer_pooling},
    {"InnerProduct", "INNER_PRODUCT", infer_inner_product},
    {"Eltwise", "ELTWISE", infer_eltwise},
    {"Concat", "CONCAT", infer_concat},
    {"Split", "SPLIT", infer_same_shape},
    {"Slice", "SLICE", infer_slice},
    {"Flatten", "FLATTEN", infer_flatten},
    {"Reshape", NULL, infer_reshape},
    {"Permute", NULL, infer_permute},
    {"Crop", NULL, infer_crop},
    {"ReLU", "RELU", infer_same_shape},
    {"PReLU", NULL, infer_same_shape},
    {"Sigmoid", "SIGMOID", infer_same_shape},
    {"TanH", "TANH", infer_same_shape},
    {"ELU", NULL, infer_same_shape},
    {"BNLL", "BNLL", infer_same_shape},
    {"BatchNorm", NULL, infer_same_shape},
    {"Scale", NULL, infer_same_shape},
    {"Bias", NULL, infer_same_shape},
    {"Dropout", "DROPOUT", infer_same_shape},
    {"LRN", "LRN", infer_same_shape},
    {"Power", "POWER", infer_same_shape},
    {"AbsVal", "ABSVAL", infer_same_shape},
    {"Softmax", "SOFTMAX", infer_same_shape},
    {"ShuffleChannel", NULL, infer_same_shape},
};

static const layer_kind *find_kind(const char *type, int legacy) {
  for (size_t i = 0; i < sizeof layer_kinds / sizeof layer_kinds[0]; i++) {
    const char *name = legacy ? layer_kinds[i].legacy_type
                              : layer_kinds[i].type;
    if (name != NULL && strcmp(name, type) == 0) {
      return &layer_kinds[i];
    }
  }
  return NULL;
}

/* ------------------------------------------------------------------------ */
/* Blobs and records                                                         */

static net_blob *find_blob(net_result *net, const char *name) {
  for (size_t i = net->blob_count; i > 0; i--) {
    if (strcmp(net->blobs[i - 1].name, name) == 0) {
      return &net->blobs[i - 1];
    }
  }
  return NULL;
}

const net_shape *net_find_blob(const net_result *net, const char *name) {
  const net_blob *blob = find_blob((net_result *)net, name);
  return blob == NULL ? NULL : &blob->shape;
}

/* Grows an array of element_size items to hold one more. */
static int reserve_one(void **items, size_t count, size_t *capacity,
                       size_t element_size) {
  if (count < *capacity) {
    return 0;
  }
  const size_t grown = *capacity * 2 + 16;
  void *larger = realloc(*items, grown * element_size);
  if (larger == NULL) {
    return -1;
  }
  *items = larger;
  *capacity = grown;
  return 0;
}

static int set_blob(net_result *net, const char *name,
                    const net_shape *shape) {
  net_blob *blob = find_blob(net, name);
  if (blob != NULL) {
    blob->shape = *shape;
    return 0;
  }
  if (reserve_one((void **)&net->blobs, net->blob_count, &net->blob_capacity,
                  sizeof *net->blobs) != 0) {
    return -1;
  }
  blob = &net->blobs[net->blob_count];
  blob->name = strdup(name);
  if (blob->name == NULL) {
    return -1;
  }
  blob->shape = *shape;
  net->blob_count++;
  return 0;
}

static net_layer *add_record(net_result *net, const char *name,
                             const char *type, const ptx_node *node) {
  if (reserve_one((void **)&net->layers, net->layer_count,
                  &net->layer_capacity, sizeof *net->layers) != 0) {
    return NULL;
  }
  net_layer *record = &net->layers[net->layer_count];
  memset(record, 0, sizeof *record);
  record->name = strdup(name);
  record->type = strdup(type);
  record->line = node->line;
  record->column = node->column;
  if (record->name == NULL || record->type == NULL) {
    free(record->name);
    free(record->type);
    return NULL;
  }
  net->layer_count++;
  return record;
}

static int out_of_memory(net_result *net) {
  snprintf(net->stop_reason, sizeof net->stop_reason, "out of memory");
  net->stopped = 1;
  return -1;
}

/* ------------------------------------------------------------------------ */
/* Inputs                                                                    */

/* Reads `dim` fields of a BlobShape message into shape. */
static int read_blob_shape(infer_context *ctx, const ptx_node *message,
                           net_shape *shape) {
  return read_repeated_int(ctx, message, "dim", shape->dims, NET_MAX_RANK,
                           &shape->rank);
}

/*
 * Reads the network-level inputs: `input` names with one `input_shape`
 * each, or four `input_dim` values each (the legacy form).
 */
static int read_net_inputs(infer_context *ctx, const ptx_node *root) {
  const size_t input_count = ptx_count(root, "input");
  const size_t shape_count = ptx_count(root, "input_shape");
  int64_t legacy_dims[4 * MAX_LAYER_BLOBS];
  int legacy_count = 0;
  ctx->layer = root;
  ctx->layer_name = "(network inputs)";
  ctx->layer_type = "input";
  if (read_repeated_int(ctx, root, "input_dim", legacy_dims,
                        4 * MAX_LAYER_BLOBS, &legacy_count) != 0) {
    return -1;
  }

  const ptx_node *input = ptx_find(root, "input");
  const ptx_node *shape_node = ptx_find(root, "input_shape");
  for (size_t i = 0; input != NULL; i++, input = ptx_find_next(input)) {
    net_shape shape = {0, {0}};
    if (shape_count == input_count) {
      if (read_blob_shape(ctx, shape_node, &shape) != 0) {
        return -1;
      }
      shape_node = ptx_find_next(shape_node);
    } else if ((size_t)legacy_count == 4 * input_count) {
      shape.rank = 4;
      memcpy(shape.dims, legacy_dims + 4 * i, sizeof(int64_t) * 4);
    } else {
      return fail_at(ctx, input, "input '%s' needs one input_shape or four "
                     "input_dim values", input->value);
    }
    if (set_blob(ctx->net, input->value, &shape) != 0) {
      return out_of_memory(ctx->net);
    }
  }
  return 0;
}

/* Reads the tops of an Input or Data layer from their declared shapes. */
static int infer_input_layer(infer_context *ctx, net_shape *tops,
                             int top_count) {
  const ptx_node *param = find_message(ctx->layer, "input_param");
  const size_t shape_count = ptx_count(param, "shape");
  if (shape_count == 0) {
    return fail_at(ctx, NULL, "the layer gives no input shape (input_param "
                   "{ shape { dim: ... } }), and groupcl does not read "
                   "data sources. Replace it with an Input layer.");
  }
  if (shape_count != 1 && shape_count != (size_t)top_count) {
    return fail_at(ctx, param, "give one shape or one per top");
  }

  const ptx_node *shape = ptx_find(param, "shape");
  for (int i = 0; i < top_count; i++) {
    if (read_blob_shape(ctx, shape, &tops[i]) != 0) {
      return -1;
    }
    if (shape_count > 1) {
      shape = ptx_find_next(shape);
    }
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Layers                                                                    */

/* Decides whether a layer runs in phase TEST from its include/exclude. */
static int rule_matches_test(const ptx_node *rule) {
  const ptx_node *phase = ptx_find(rule, "phase");
  /* NOTE: stage and level conditions are ignored; they are rarely used. */
  return phase == NULL || (phase->value != NULL &&
                           strcmp(phase->value, "TEST") == 0);
}

static int layer_runs_in_test(const ptx_node *layer) {
  const ptx_node *rule = ptx_find(layer, "include");
  if (rule != NULL) {
    int included = 0;
    for (; rule != NULL; rule = ptx_find_next(rule)) {
      included = included || rule_matches_test(rule);
    }
    return included;
  }
  for (rule = ptx_find(layer, "exclude"); rule != NULL;
       rule = ptx_find_next(rule)) {
    if (rule_matches_test(rule)) {
      return 0;
    }
  }
  return 1;
}

/* Collects the shapes of the layer's bottoms. */
static int gather_bottoms(infer_context *ctx, net_shape *bottoms,
                          int *count) {
  *count = 0;
  for (const ptx_node *bottom = ptx_find(ctx->layer, "bottom");
       bottom != NULL; bottom = ptx_find_next(bottom)) {
    if (*count == MAX_LAYER_BLOBS) {
      return fail_at(ctx, bottom, "more than %d bottoms", MAX_LAYER_BLOBS);
    }
    const net_shape *shape = net_find_blob(ctx->net, bottom->value);
    if (shape == NULL) {
      return fail_at(ctx, bottom, "bottom '%s' is not the top of any "
                     "earlier layer or a network input", bottom->value);
    }
    bottoms[(*count)++] = *shape;
  }
  return 0;
}

static int infer_typed_layer(infer_context *ctx, const layer_kind *kind,
                             const net_shape *bottoms, int bottom_count,
                             net_shape *tops, int top_count) {
  const int is_input = strcmp(ctx->layer_type, "Input") == 0 ||
                       strcmp(ctx->layer_type, "Data") == 0 ||
                       strcmp(ctx->layer_type, "DATA") == 0;
  if (is_input) {
    return infer_input_layer(ctx, tops, top_count);
  }
  if (kind == NULL) {
    return fail_at(ctx, ptx_find(ctx->layer, "type"), "unknown layer type "
                   "'%s', so the layers after it are not inferred",
                   ctx->layer_type);
  }
  if (bottom_count == 0) {
    return fail_at(ctx, NULL, "the layer has no bottom");
  }
  return kind->infer(ctx, bottoms, bottom_count, tops, top_count);
}

/* Evaluates one `layer` or legacy `layers` message. */
static int infer_layer(infer_context *ctx, const ptx_node *layer,
                       int legacy) {
  const ptx_node *name = ptx_find(layer, "name");
  const ptx_node *type = ptx_find(layer, "type");
  ctx->layer = layer;
  ctx->layer_name = name != NULL && name->value != NULL ? name->value : "";
  ctx->layer_type = "?";
  if (type == NULL || type->value == NULL) {
    return fail_at(ctx, NULL, "the layer has no type");
  }
  ctx->layer_type = type->value;
  if (!layer_runs_in_test(layer)) {
    return 0;
  }

  const layer_kind *kind = find_kind(type->value, legacy);
  ctx->record = add_record(ctx->net, ctx->layer_name,
                           kind != NULL ? kind->type : type->value, layer);
  if (ctx->record == NULL) {
    return out_of_memory(ctx->net);
  }

  net_shape bottoms[MAX_LAYER_BLOBS];
  net_shape tops[MAX_LAYER_BLOBS];
  int bottom_count = 0;
  const size_t top_count = ptx_count(layer, "top");
  if (top_count == 0 || top_count > MAX_LAYER_BLOBS) {
    return fail_at(ctx, NULL, "a layer needs 1 to %d tops", MAX_LAYER_BLOBS);
  }
  memset(tops, 0, sizeof tops);
  if (gather_bottoms(ctx, bottoms, &bottom_count) != 0) {
    return -1;
  }
  if (bottom_count > 0) {
    ctx->record->input = bottoms[0];
  }
  if (infer_typed_layer(ctx, kind, bottoms, bottom_count, tops,
                        (int)top_count) != 0) {
    return -1;
  }

  ctx->record->output = tops[0];
  int i = 0;
  for (const ptx_node *top = ptx_find(layer, "top"); top != NULL;
       top = ptx_find_next(top), i++) {
    if (set_blob(ctx->net, top->value, &tops[i]) != 0) {
      return out_of_memory(ctx->net);
    }
  }
  return 0;
}

int net_infer(const char *file_name, const ptx_node *root, net_result *net) {
  memset(net, 0, sizeof *net);
  infer_context ctx = {file_name, net, root, "", "", NULL};
  if (read_net_inputs(&ctx, root) != 0) {
    return strcmp(net->stop_reason, "out of memory") == 0 ? -1 : 1;
  }

  for (const ptx_node *node = root->first_child; node != NULL;
       node = node->next) {
    const int legacy = strcmp(node->name, "layers") == 0;
    if (!legacy && strcmp(node->name, "layer") != 0) {
      continue;
    }
    if (infer_layer(&ctx, node, legacy) != 0) {
      return strcmp(net->stop_reason, "out of memory") == 0 ? -1 : 1;
    }
  }
  return 0;
}

void net_result_free(net_result *net) {
  for (size_t i = 0; i < net->layer_count; i++) {
    free(net->layers[i].name);
    free(net->layers[i].type);
    free(net->layers[i].invalid_reason);
  }
  for (size_t i = 0; i < net->blob_count; i++) {
    free(net->blobs[i].name);
  }
  free(net->layers);
  free(net->blobs);
  memset(net, 0, sizeof *net);
}

const net_layer *net_find_layer(const net_result *net, const char *name) {
  for (size_t i = net->layer_count; i > 0; i--) {
    if (strcmp(net->layers[i - 1].name, name) == 0) {
      return &net->layers[i - 1];
    }
  }
  return NULL;
}

/* ------------------------------------------------------------------------ */
/* Cost                                                                      */

static int multiply(uint64_t *value, int64_t factor) {
  if (factor < 0 || (factor != 0 && *value > UINT64_MAX / (uint64_t)factor)) {
    return -1;
  }
  *value *= (uint64_t)factor;
  return 0;
}

int net_conv_cost(const net_layer *layer, int64_t group_override,
                  uint64_t *weights, uint64_t *macs) {
  const gcl_conv_desc *desc = &layer->desc;
  const int64_t group = group_override > 0 ? group_override : desc->group;
  const int axis = layer->input.rank - desc->spatial_dims - 1;
  int failed = 0;

  /* Weights: K * (C/group) * prod(kernel), for both directions. */
  *weights = 1;
  failed |= multiply(weights, desc->num_output);
  failed |= multiply(weights, desc->channels / group);
  for (int i = 0; i < desc->spatial_dims; i++) {
    failed |= multiply(weights, desc->kernel[i]);
  }

  /*
   * A convolution does one weight pass per output position, a transposed
   * one per input position.
   */
  const net_shape *positions = layer->transposed ? &layer->input
                                                 : &layer->output;
  *macs = *weights;
  failed |= multiply(macs, layer->batch);
  for (int i = axis + 1; i < positions->rank; i++) {
    failed |= multiply(macs, positions->dims[i]);
  }
  return failed ? -1 : 0;
}
