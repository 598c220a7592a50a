#include "algo/single_kernel.h"

#include "util/alloc.h"
#include "util/cl_calls.h"
#include "util/cl_objects.h"
#include "util/error.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

/* Fixed cost of one kernel launch, as in the caffe_gemm cost model. */
#define LAUNCH_SECONDS 10e-6

/* Largest unrolled loop body, input rows times filter columns. */
#define MAX_UNROLLED_LOADS 2048

int gcl_single_kernel_fits(const gcl_geometry *g, char *reason,
                           size_t reason_size) {
  /* The kernel computes column and row indices, padding included, as
     ints. The limit of 2^30 leaves room for the vector span past a row. */
  for (int axis = 0; axis < 3; axis++) {
    int64_t reach = g->out[axis] * g->stride[axis] + g->pad[axis] +
                    g->pad_after[axis] +
                    (g->kernel[axis] - 1) * g->dilation[axis];

    if (reach + g->in[axis] >= ((int64_t)1 << 30)) {
      snprintf(reason, reason_size,
               "the %s axis spans %lld elements with its pad, stride and "
               "dilation, beyond the kernel's 32-bit indexing",
               gcl_axis_name(3, axis), (long long)(reach + g->in[axis]));
      return 0;
    }
  }
  return 1;
}

double gcl_single_kernel_seconds(const gcl_geometry *g,
                                 const gcl_device_info *device,
                                 double efficiency) {
  double flops = 2.0 * gcl_geometry_macs(g);
  double floats = (double)g->batch * (double)g->channels * (double)g->in_size +
                  (double)g->batch * (double)g->num_output *
                      (double)g->out_size +
                  (double)g->num_output * (double)g->channels_per_group *
                      (double)g->kernel_size;

  return flops / (efficiency * gcl_device_peak_flops(device)) +
         4.0 * floats / gcl_device_memory_bandwidth(device) + LAUNCH_SECONDS;
}

int64_t gcl_balanced_block(int64_t total, int64_t max) {
  int64_t blocks = (total + max - 1) / max;

  return (total + blocks - 1) / blocks;
}

int64_t gcl_vector_width(int64_t width) {
  if (width <= 4)
    return 4;
  return width <= 8 ? 8 : 16;
}

int gcl_unrolled_loads_fit(const gcl_geometry *g, int64_t rows, char *reason,
                           size_t reason_size) {
  int64_t input_rows =
      (rows - 1) * g->stride[1] + (g->kernel[1] - 1) * g->dilation[1] + 1;

  if (input_rows * g->kernel[2] > MAX_UNROLLED_LOADS) {
    snprintf(reason, reason_size,
             "the kernel unrolls its loads over the filter window, and "
             "%lld input rows of %lld filter columns exceed the %d it "
             "accepts; use gemm_batched",
             (long long)input_rows, (long long)g->kernel[2],
             MAX_UNROLLED_LOADS);
    return 0;
  }
  return 1;
}

double gcl_block_use(int64_t size, int64_t block) {
  int64_t blocks = (size + block - 1) / block;

  return (double)size / (double)(blocks * block);
}

float *gcl_pack_weight_blocks(const gcl_geometry *g, int64_t block,
                              const float *weights, size_t *count) {
  int64_t kg = g->outputs_per_group;
  int64_t cg = g->channels_per_group;
  int64_t taps = g->kernel_size;
  int64_t blocks = (kg + block - 1) / block;
  float *packed;

  *count = (size_t)(g->group * blocks * cg * taps * block);
  packed = gcl_calloc(*count, sizeof *packed);
  if (packed == NULL)
    return NULL;

  for (int64_t group = 0; group < g->group; group++)
    for (int64_t b = 0; b < blocks; b++)
      for (int64_t j = 0; j < block && b * block + j < kg; j++) {
        const float *filter =
            weights + (group * kg + b * block + j) * cg * taps;
        float *column = packed + (group * blocks + b) * cg * taps * block + j;

        /* filter[c][t] goes to column[(c * taps + t) * block]. */
        for (int64_t i = 0; i < cg * taps; i++)
          column[i * block] = filter[i];
      }
  return packed;
}

gcl_status gcl_single_kernel_create(const gcl_geometry *geometry,
                                    const char *label,
                                    gcl_single_kernel **state) {
  *state = gcl_calloc(1, sizeof **state);
  if (*state == NULL)
    return gcl_fail(GCL_ERROR_OUT_OF_MEMORY,
                    "out of host memory for the %s state", label);
  (*state)->geometry = *geometry;
  (*state)->label = label;
  return GCL_SUCCESS;
}

gcl_status gcl_single_kernel_build(gcl_single_kernel *state,
                                   gcl_context *context, size_t device_index,
                                   const char *file_name,
                                   const char *kernel_name,
                                   const char *tuning_options) {
  char geometry_options[1024];
  char options[1536];
  int length;

  gcl_geometry_build_options(&state->geometry, geometry_options,
                             sizeof geometry_options);
  length = snprintf(options, sizeof options, "%s -DHAS_BIAS=%d %s",
                    geometry_options, state->geometry.bias_term,
                    tuning_options);
  if (length < 0 || (size_t)length >= sizeof options)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "the build options of %s need %d characters, more than "
                    "the %zu reserved",
                    file_name, length, sizeof options - 1);
  return gcl_create_kernel(context, device_index, file_name, options,
                           kernel_name, &state->kernel);
}

gcl_status gcl_single_kernel_upload(gcl_single_kernel *state,
                                    gcl_context *context, size_t device_index,
                                    const float *weights,
                                    size_t weight_elements,
                                    const float *bias) {
  gcl_status status;

  status = gcl_create_buffer(context, device_index,
                             weight_elements * sizeof(float), weights,
                             "weights", &state->weights);
  if (status == GCL_SUCCESS && state->geometry.bias_term)
    status = gcl_create_buffer(
        context, device_index,
        (size_t)state->geometry.num_output * sizeof(float), bias, "bias",
        &state->bias);
  return status;
}

gcl_status gcl_single_kernel_upload_blocks(gcl_single_kernel *state,
                                           gcl_context *context,
                                           size_t device_index, int64_t block,
                                           const float *weights,
                                           const float *bias) {
  size_t count;
  float *packed =
      gcl_pack_weight_blocks(&state->geometry, block, weights, &count);
  gcl_status status;

  if (packed == NULL)
    return gcl_fail(GCL_ERROR_OUT_OF_MEMORY,
                    "out of host memory for the repacked weights (%zu "
                    "floats)",
                    count);
  status = gcl_single_kernel_upload(state, context, device_index, packed,
                                    count, bias);
  gcl_free(packed);
  return status;
}

/* Sets the nine kernel arguments; offsets, strides and the element count
 * are 64-bit. */
static cl_int set_arguments(gcl_single_kernel *state,
                            const gcl_tensor_view *input,
                            cl_long input_elements,
                            const gcl_tensor_view *output) {
  cl_long input_offset = (cl_long)input->offset;
  cl_long input_stride = (cl_long)input->image_stride;
  cl_long output_offset = (cl_long)output->offset;
  cl_long output_stride = (cl_long)output->image_stride;
  cl_kernel kernel = state->kernel;
  cl_int code;

  code = clSetKernelArg(kernel, 0, sizeof input->buffer, &input->buffer);
  if (code == CL_SUCCESS)
    code = clSetKernelArg(kernel, 1, sizeof input_offset, &input_offset);
  if (code == CL_SUCCESS)
    code = clSetKernelArg(kernel, 2, sizeof input_stride, &input_stride);
  if (code == CL_SUCCESS)
    code = clSetKernelArg(kernel, 3, sizeof input_elements, &input_elements);
  if (code == CL_SUCCESS)
    code = clSetKernelArg(kernel, 4, sizeof state->weights, &state->weights);
  /* Without bias_term, state->bias is NULL, which OpenCL passes as a NULL
     pointer. The kernel is then built with HAS_BIAS=0 and never reads it. */
  if (code == CL_SUCCESS)
    code = clSetKernelArg(kernel, 5, sizeof state->bias, &state->bias);
  if (code == CL_SUCCESS)
    code = clSetKernelArg(kernel, 6, sizeof output->buffer, &output->buffer);
  if (code == CL_SUCCESS)
    code = clSetKernelArg(kernel, 7, sizeof output_offset, &output_offset);
  if (code == CL_SUCCESS)
    code = clSetKernelArg(kernel, 8, sizeof output_stride, &output_stride);
  return code;
}

gcl_status gcl_single_kernel_enqueue(void *opaque, const gcl_launch *launch,
                                     const gcl_tensor_view *input,
                                     const gcl_tensor_view *output) {
  gcl_single_kernel *state = opaque;
  const gcl_geometry *g = &state->geometry;
  const size_t *local = state->local[0] > 0 ? state->local : NULL;
  cl_long input_elements, output_elements;
  cl_event *event;
  gcl_status status;
  cl_int code;

  status = gcl_check_view(input, g->batch, g->channels * g->in_size, "input",
                          &input_elements);
  if (status == GCL_SUCCESS)
    status = gcl_check_view(output, g->batch, g->num_output * g->out_size,
                            "output", &output_elements);
  if (status != GCL_SUCCESS)
    return status;

  code = set_arguments(state, input, input_elements, output);
  if (code != CL_SUCCESS)
    return gcl_fail_cl(code, "setting the arguments of the %s kernel",
                       state->label);

  event = gcl_trace_event(launch->trace, state->label);
  code = gcl_clEnqueueNDRangeKernel(launch->queue, state->kernel, 3, NULL,
                                    state->global, local, 0, NULL, event);
  if (code == CL_SUCCESS)
    gcl_cl_event_created(event);
  if (code != CL_SUCCESS)
    return gcl_fail_cl(code, "enqueueing the %s kernel", state->label);
  return GCL_SUCCESS;
}

void gcl_single_kernel_release(void *opaque) {
  gcl_single_kernel *state = opaque;

  if (state == NULL)
    return;
  gcl_release_kernel(state->kernel);
  gcl_release_mem(state->weights);
  gcl_release_mem(state->bias);
  gcl_free(state);
}
