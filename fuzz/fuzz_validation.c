/*
 * Fuzz harness of layer validation.
 *
 * Input layout: the first sizeof(gcl_conv_desc) bytes are copied over a
 * whole descriptor, so fields added to the struct later are fuzzed too. The
 * next byte is the rank, as a signed byte, and the bytes after it are the
 * input shape as native-endian int64 values. Missing bytes count as zero.
 *
 * The harness calls the public checks (gcl_conv_validate, _output_shape,
 * _weight_shape, _check_params) and what gcl_plan_create runs before it
 * touches a device: gcl_geometry_init and each algorithm's supports and
 * estimate_seconds. Every call must return a gcl_status, with a message on
 * failure, and the calls must agree with gcl_conv_validate. A valid shape
 * must have an output of at least 1 per axis. On tiny layers the host
 * reference runs too and must write every output element.
 */
#include "fuzz.h"

#include <math.h>
#include <string.h>

#include "algo/algo.h"
#include "conv/conv.h"
#include "groupcl.h"

/* Entries of each shape array: enough for any rank a signed byte gives. */
#define SHAPE_CAPACITY 128

/* Tensors above this many elements skip the host reference. */
#define REFERENCE_MAX_ELEMENTS 4096

/* Layers above this many multiply-accumulates skip the host reference,
 * which keeps each input well under a millisecond. */
#define REFERENCE_MAX_MACS 65536

typedef struct fuzz_layer {
  gcl_conv_desc desc;
  int rank;
  int64_t input_shape[SHAPE_CAPACITY];
} fuzz_layer;

static void decode_layer(const uint8_t *data, size_t size,
                         fuzz_layer *layer) {
  memset(layer, 0, sizeof *layer);

  size_t used = size < sizeof layer->desc ? size : sizeof layer->desc;
  memcpy(&layer->desc, data, used);
  data += used;
  size -= used;

  if (size > 0) {
    int8_t rank;
    memcpy(&rank, data, 1);
    layer->rank = rank;
    data++;
    size--;
  }

  used = size < sizeof layer->input_shape ? size : sizeof layer->input_shape;
  memcpy(layer->input_shape, data, used);
}

/*
 * Multiplies the shape out, or returns limit + 1 as soon as the product
 * passes limit. Every entry must be at least 1.
 */
static int64_t bounded_count(int rank, const int64_t *shape, int64_t limit) {
  int64_t count = 1;

  for (int i = 0; i < rank; i++) {
    if (shape[i] > limit / count)
      return limit + 1;
    count *= shape[i];
  }
  return count;
}

static void check_status(gcl_status status, const char *call) {
  FUZZ_REQUIRE((int)status >= (int)GCL_SUCCESS &&
                   (int)status <= (int)GCL_ERROR_IO,
               "%s returned %d, which is no gcl_status", call, (int)status);
  if (status != GCL_SUCCESS)
    FUZZ_REQUIRE(gcl_last_error()[0] != '\0',
                 "%s failed (%s) without a message", call,
                 gcl_status_string(status));
}

/* Checks gcl_conv_weight_shape and returns its status. */
static gcl_status check_weight_shape(const gcl_conv_desc *desc,
                                     gcl_status valid,
                                     int64_t *weight_shape) {
  gcl_status status = gcl_conv_weight_shape(desc, weight_shape);

  check_status(status, "gcl_conv_weight_shape");
  FUZZ_REQUIRE(status == valid, "gcl_conv_weight_shape returned %d, "
               "gcl_conv_validate %d", (int)status, (int)valid);
  if (status != GCL_SUCCESS)
    return status;

  FUZZ_REQUIRE(weight_shape[0] == desc->num_output, "weights have %lld "
               "filters", (long long)weight_shape[0]);
  FUZZ_REQUIRE(weight_shape[1] >= 1 &&
                   weight_shape[1] * desc->group == desc->channels,
               "weights have %lld channels per filter",
               (long long)weight_shape[1]);
  for (int axis = 0; axis < desc->spatial_dims; axis++)
    FUZZ_REQUIRE(weight_shape[2 + axis] == desc->kernel[axis],
                 "weight axis %d is %lld", axis,
                 (long long)weight_shape[2 + axis]);
  FUZZ_REQUIRE(bounded_count(desc->spatial_dims + 2, weight_shape,
                             GCL_MAX_ELEMENTS) <= GCL_MAX_ELEMENTS,
               "valid weights have more than %lld elements",
               (long long)GCL_MAX_ELEMENTS);
  return status;
}

/*
 * Checks the layer's own weight and bias shapes, which must pass when the
 * layer is valid, then the fuzzed input shape in their place.
 */
static void check_params(const fuzz_layer *layer, gcl_status valid,
                         const int64_t *weight_shape) {
  const gcl_conv_desc *desc = &layer->desc;
  gcl_status status;

  if (valid == GCL_SUCCESS) {
    const int64_t bias_shape[1] = {desc->num_output};
    status = gcl_conv_check_params(desc, desc->spatial_dims + 2,
                                   weight_shape, desc->bias_term ? 1 : 0,
                                   bias_shape);
    check_status(status, "gcl_conv_check_params");
    FUZZ_REQUIRE(status == GCL_SUCCESS, "the layer's own shapes failed: %s",
                 gcl_last_error());
  }

  /* Both arrays hold SHAPE_CAPACITY entries, more than any rank here. */
  status = gcl_conv_check_params(desc, layer->rank, layer->input_shape,
                                 desc->bias_term ? 1 : 0,
                                 layer->input_shape + 1);
  check_status(status, "gcl_conv_check_params");
  if (valid != GCL_SUCCESS)
    FUZZ_REQUIRE(status == valid, "gcl_conv_check_params returned %d for "
                 "a layer that fails validation with %d", (int)status,
                 (int)valid);
}

/* Checks an output shape that gcl_conv_output_shape accepted. */
static void check_output_axes(const fuzz_layer *layer,
                              const int64_t *output_shape) {
  const gcl_conv_desc *desc = &layer->desc;

  FUZZ_REQUIRE(output_shape[0] == layer->input_shape[0],
               "batch changed from %lld to %lld",
               (long long)layer->input_shape[0], (long long)output_shape[0]);
  FUZZ_REQUIRE(output_shape[1] == desc->num_output,
               "output has %lld channels", (long long)output_shape[1]);
  FUZZ_REQUIRE(bounded_count(layer->rank, layer->input_shape,
                             GCL_MAX_ELEMENTS) <= GCL_MAX_ELEMENTS &&
                   bounded_count(layer->rank, output_shape,
                                 GCL_MAX_ELEMENTS) <= GCL_MAX_ELEMENTS,
               "an accepted input or output has more than %lld elements",
               (long long)GCL_MAX_ELEMENTS);
  for (int axis = 0; axis < desc->spatial_dims; axis++) {
    /* Validation bounds every term by 2^31 - 1, so the sum cannot wrap. */
    int64_t padded = layer->input_shape[2 + axis] + 2 * desc->pad[axis];
    int64_t size = output_shape[2 + axis];

    FUZZ_REQUIRE(size >= 1, "output axis %d has size %lld", axis,
                 (long long)size);
    FUZZ_REQUIRE(size <= padded, "output axis %d has size %lld, above the "
                 "padded input %lld", axis, (long long)size,
                 (long long)padded);
  }
}

/*
 * Calls each algorithm's supports, and for a supported layer its
 * estimate_seconds and workspace_bytes, as gcl_plan_create does.
 */
static void check_algorithms(const gcl_geometry *geometry,
                             cl_device_type type) {
  const gcl_algo *list[GCL_ALGORITHM_COUNT];
  size_t count = gcl_algo_list(list, GCL_ALGORITHM_COUNT);
  gcl_device_info device;
  char reason[256];

  memset(&device, 0, sizeof device);
  device.type = type;
  device.compute_units = 8;
  device.global_mem_bytes = (cl_ulong)1 << 32;
  device.max_alloc_bytes = (cl_ulong)1 << 30;
  device.local_mem_bytes = (cl_ulong)1 << 15;

  for (size_t i = 0; i < count && i < GCL_ALGORITHM_COUNT; i++) {
    reason[0] = '\0';
    if (!list[i]->supports(geometry, &device, reason, sizeof reason)) {
      FUZZ_REQUIRE(reason[0] != '\0', "%s declined without a reason",
                   list[i]->name);
      continue;
    }
    double seconds = list[i]->estimate_seconds(geometry, &device);
    FUZZ_REQUIRE(seconds >= 0.0 && !isnan(seconds),
                 "%s estimated %g s", list[i]->name, seconds);
    gcl_buffer_sizes sizes;

    memset(&sizes, 0, sizeof sizes);
    list[i]->device_buffers(geometry, &device, &sizes);
    FUZZ_REQUIRE(sizes.count <= GCL_MAX_STATE_BUFFERS,
                 "%s listed %zu device buffers", list[i]->name, sizes.count);
  }
}

static void fill_values(float *values, int64_t count, int seed) {
  for (int64_t i = 0; i < count; i++)
    values[i] = (float)((i * 7 + seed) % 13 - 6) * 0.125f;
}

/* Runs the host reference and checks that it wrote every output element. */
static void run_reference(const fuzz_layer *layer,
                          const int64_t *weight_shape,
                          const int64_t *output_shape) {
  const gcl_conv_desc *desc = &layer->desc;
  const int64_t limit = REFERENCE_MAX_ELEMENTS;
  int64_t input_count = bounded_count(layer->rank, layer->input_shape, limit);
  int64_t weight_count = bounded_count(layer->rank, weight_shape, limit);
  int64_t output_count = bounded_count(layer->rank, output_shape, limit);

  if (input_count > limit || weight_count > limit || output_count > limit)
    return;
  /* Each output element takes weight_count / num_output MACs. */
  if (output_count * (weight_count / desc->num_output) > REFERENCE_MAX_MACS)
    return;

  float *input = malloc((size_t)input_count * sizeof *input);
  float *weights = malloc((size_t)weight_count * sizeof *weights);
  float *bias = malloc((size_t)desc->num_output * sizeof *bias);
  float *output = malloc((size_t)output_count * sizeof *output);
  FUZZ_REQUIRE(input != NULL && weights != NULL && bias != NULL &&
                   output != NULL,
               "out of memory for a layer of %lld output elements",
               (long long)output_count);

  fill_values(input, input_count, 1);
  fill_values(weights, weight_count, 2);
  fill_values(bias, desc->num_output, 3);
  for (int64_t i = 0; i < output_count; i++)
    output[i] = NAN;

  gcl_status status = gcl_conv_reference_forward(
      desc, layer->rank, layer->input_shape, input, weights,
      desc->bias_term ? bias : NULL, output);
  check_status(status, "gcl_conv_reference_forward");
  FUZZ_REQUIRE(status == GCL_SUCCESS, "the reference failed on a valid "
               "layer: %s", gcl_last_error());
  for (int64_t i = 0; i < output_count; i++)
    FUZZ_REQUIRE(isfinite(output[i]), "output element %lld is %g",
                 (long long)i, (double)output[i]);

  free(input);
  free(weights);
  free(bias);
  free(output);
}

static void check_input_shape(const fuzz_layer *layer, gcl_status valid,
                              const int64_t *weight_shape) {
  int64_t output_shape[SHAPE_CAPACITY];
  gcl_status status = gcl_conv_output_shape(&layer->desc, layer->rank,
                                            layer->input_shape, output_shape);

  check_status(status, "gcl_conv_output_shape");
  if (valid != GCL_SUCCESS)
    FUZZ_REQUIRE(status == valid, "gcl_conv_output_shape returned %d for "
                 "a layer that fails validation with %d", (int)status,
                 (int)valid);

  gcl_geometry geometry;
  gcl_status geometry_status = gcl_geometry_init(
      &layer->desc, layer->rank, layer->input_shape, &geometry);
  check_status(geometry_status, "gcl_geometry_init");
  FUZZ_REQUIRE(geometry_status == status, "gcl_geometry_init returned %d, "
               "gcl_conv_output_shape %d", (int)geometry_status,
               (int)status);
  if (status != GCL_SUCCESS)
    return;

  check_output_axes(layer, output_shape);
  check_algorithms(&geometry, CL_DEVICE_TYPE_CPU);
  check_algorithms(&geometry, CL_DEVICE_TYPE_GPU);
  run_reference(layer, weight_shape, output_shape);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_layer layer;
  int64_t weight_shape[GCL_MAX_RANK];

  decode_layer(data, size, &layer);

  gcl_status valid = gcl_conv_validate(&layer.desc);
  check_status(valid, "gcl_conv_validate");
  check_weight_shape(&layer.desc, valid, weight_shape);
  check_params(&layer, valid, weight_shape);
  check_input_shape(&layer, valid, weight_shape);
  return 0;
}
