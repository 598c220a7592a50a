/*
 * Caffe's algorithm: for each image, im2col into a column matrix, then one
 * CLBlast SGEMM per group at the group's offsets, then the bias.
 *
 * Group g multiplies weights[g] (outputs_per_group x channels_per_group *
 * kernel_size) by rows g * channels_per_group * kernel_size ... of the
 * column matrix (out_size columns), writing output channels
 * g * outputs_per_group ... of the image. This is the reference baseline for
 * speed; its cost is one SGEMM call per group per image.
 */
#include "algo/algo_common.h"

#include "util/error.h"

#include <clblast_c.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct caffe_gemm_state {
  gcl_geometry geometry;
  cl_kernel im2col;
  cl_kernel add_bias; /* NULL without bias_term */
  cl_mem weights;
  cl_mem bias;
  cl_mem columns; /* [channels * kernel_size][out_size], one image */
} caffe_gemm_state;

static int64_t column_elements(const gcl_geometry *g) {
  return g->channels * g->kernel_size * g->out_size;
}

static int caffe_gemm_supports(const gcl_geometry *g,
                               const gcl_device_info *device, char *reason,
                               size_t reason_size) {
  int64_t input = g->batch * g->channels * g->in_size;
  int64_t output = g->batch * g->num_output * g->out_size;

  (void)device;
  if (column_elements(g) > GCL_INT_INDEX_LIMIT ||
      input > GCL_INT_INDEX_LIMIT || output > GCL_INT_INDEX_LIMIT) {
    snprintf(reason, reason_size,
             "the input (%lld floats), output (%lld) or column matrix "
             "(%lld) reach 2^31 elements, beyond the 32-bit indexing of "
             "the im2col kernel",
             (long long)input, (long long)output,
             (long long)column_elements(g));
    return 0;
  }
  return 1;
}

/*
 * Cost model: SGEMM at an assumed 5% of the device's arithmetic rate (the
 * rate CLBlast reached on PoCL), plus about 10 microseconds per SGEMM call
 * and per im2col launch, plus the im2col pass over memory.
 */
static double caffe_gemm_estimate_seconds(const gcl_geometry *g,
                                          const gcl_device_info *device) {
  double flops = 2.0 * gcl_geometry_macs(g);
  double peak = gcl_device_peak_flops(device);
  double calls = (double)g->batch * (double)(g->group + 1);
  double column_bytes = 8.0 * (double)g->batch * (double)g->channels *
                        (double)g->kernel_size * (double)g->out_size;

  return flops / (0.05 * peak) + calls * 10e-6 +
         column_bytes / gcl_device_memory_bandwidth(device);
}

static size_t caffe_gemm_workspace_bytes(const gcl_geometry *g) {
  return (size_t)column_elements(g) * sizeof(float);
}

static void caffe_gemm_release(void *opaque) {
  caffe_gemm_state *state = opaque;

  if (state == NULL)
    return;
  if (state->im2col != NULL)
    clReleaseKernel(state->im2col);
  if (state->add_bias != NULL)
    clReleaseKernel(state->add_bias);
  if (state->weights != NULL)
    clReleaseMemObject(state->weights);
  if (state->bias != NULL)
    clReleaseMemObject(state->bias);
  if (state->columns != NULL)
    clReleaseMemObject(state->columns);
  free(state);
}

static gcl_status create_kernels(caffe_gemm_state *state,
                                 gcl_context *context, size_t device_index) {
  char options[1024];
  gcl_status status;

  gcl_geometry_build_options(&state->geometry, options, sizeof options);
  status = gcl_create_kernel(context, device_index, "kernels/im2col.cl",
                             options, "gcl_im2col", &state->im2col);
  if (status == GCL_SUCCESS && state->geometry.bias_term) {
    char bias_options[128];

    snprintf(bias_options, sizeof bias_options,
             "-DNUM_OUTPUT=%lld -DOUT_SIZE=%lld",
             (long long)state->geometry.num_output,
             (long long)state->geometry.out_size);
    status = gcl_create_kernel(context, device_index, "kernels/bias.cl",
                               bias_options, "gcl_add_bias",
                               &state->add_bias);
  }
  return status;
}

static gcl_status caffe_gemm_prepare(const gcl_geometry *g,
                                     gcl_context *context,
                                     size_t device_index,
                                     const float *weights, const float *bias,
                                     void **opaque) {
  size_t weight_bytes = (size_t)(g->num_output * g->channels_per_group *
                                 g->kernel_size) *
                        sizeof(float);
  caffe_gemm_state *state = calloc(1, sizeof *state);
  gcl_status status;

  *opaque = NULL;
  if (state == NULL)
    return gcl_fail(GCL_ERROR_OUT_OF_MEMORY, "out of host memory");
  state->geometry = *g;

  status = create_kernels(state, context, device_index);
  if (status == GCL_SUCCESS)
    status = gcl_create_buffer(context, device_index, weight_bytes, weights,
                               "weights", &state->weights);
  if (status == GCL_SUCCESS && g->bias_term)
    status = gcl_create_buffer(context, device_index,
                               (size_t)g->num_output * sizeof(float), bias,
                               "bias", &state->bias);
  if (status == GCL_SUCCESS)
    status = gcl_create_buffer(context, device_index,
                               caffe_gemm_workspace_bytes(g), NULL,
                               "im2col workspace", &state->columns);
  if (status != GCL_SUCCESS) {
    caffe_gemm_release(state);
    return status;
  }
  *opaque = state;
  return GCL_SUCCESS;
}

static gcl_status clblast_failure(CLBlastStatusCode code, long long group) {
  /* CLBlast passes OpenCL errors through; its own codes are -1024 and below. */
  if (code > -1000)
    return gcl_fail_cl((cl_int)code, "CLBlastSgemm for group %lld", group);
  return gcl_fail(GCL_ERROR_OPENCL,
                  "CLBlastSgemm for group %lld failed with CLBlast status %d",
                  group, (int)code);
}

static gcl_status run_im2col(caffe_gemm_state *state, const gcl_launch *launch,
                             const gcl_tensor_view *input, int64_t image) {
  const gcl_geometry *g = &state->geometry;
  cl_int offset = (cl_int)(input->offset + (size_t)image * input->image_stride);
  size_t global[2] = {(size_t)g->out_size, (size_t)g->channels};
  cl_int code;

  code = clSetKernelArg(state->im2col, 0, sizeof input->buffer,
                        &input->buffer);
  if (code == CL_SUCCESS)
    code = clSetKernelArg(state->im2col, 1, sizeof offset, &offset);
  if (code == CL_SUCCESS)
    code = clSetKernelArg(state->im2col, 2, sizeof state->columns,
                          &state->columns);
  if (code == CL_SUCCESS)
    code = clEnqueueNDRangeKernel(launch->queue, state->im2col, 2, NULL,
                                  global, NULL, 0, NULL,
                                  gcl_trace_event(launch->trace, "im2col"));
  if (code != CL_SUCCESS)
    return gcl_fail_cl(code, "enqueueing gcl_im2col");
  return GCL_SUCCESS;
}

static gcl_status run_group_gemms(caffe_gemm_state *state,
                                  const gcl_launch *launch,
                                  const gcl_tensor_view *output,
                                  int64_t image) {
  const gcl_geometry *g = &state->geometry;
  size_t m = (size_t)g->outputs_per_group;
  size_t n = (size_t)g->out_size;
  size_t k = (size_t)(g->channels_per_group * g->kernel_size);

  for (int64_t group = 0; group < g->group; group++) {
    size_t weight_offset = (size_t)group * m * k;
    size_t column_offset = (size_t)group * k * n;
    size_t output_offset = output->offset +
                           (size_t)image * output->image_stride +
                           (size_t)group * m * n;
    cl_command_queue queue = launch->queue;
    CLBlastStatusCode code = CLBlastSgemm(
        CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeNo, m, n,
        k, 1.0f, state->weights, weight_offset, k, state->columns,
        column_offset, n, 0.0f, output->buffer, output_offset, n, &queue,
        gcl_trace_event(launch->trace, "sgemm"));

    if (code != CLBlastSuccess)
      return clblast_failure(code, (long long)group);
  }
  return GCL_SUCCESS;
}

static gcl_status run_bias(caffe_gemm_state *state, const gcl_launch *launch,
                           const gcl_tensor_view *output) {
  const gcl_geometry *g = &state->geometry;
  size_t global[3] = {(size_t)g->out_size, (size_t)g->num_output,
                      (size_t)g->batch};
  cl_int offset = (cl_int)output->offset;
  cl_int image_stride = (cl_int)output->image_stride;
  cl_int code;

  code = clSetKernelArg(state->add_bias, 0, sizeof output->buffer,
                        &output->buffer);
  if (code == CL_SUCCESS)
    code = clSetKernelArg(state->add_bias, 1, sizeof offset, &offset);
  if (code == CL_SUCCESS)
    code = clSetKernelArg(state->add_bias, 2, sizeof image_stride,
                          &image_stride);
  if (code == CL_SUCCESS)
    code = clSetKernelArg(state->add_bias, 3, sizeof state->bias,
                          &state->bias);
  if (code == CL_SUCCESS)
    code = clEnqueueNDRangeKernel(launch->queue, state->add_bias, 3, NULL,
                                  global, NULL, 0, NULL,
                                  gcl_trace_event(launch->trace, "bias"));
  if (code != CL_SUCCESS)
    return gcl_fail_cl(code, "enqueueing gcl_add_bias");
  return GCL_SUCCESS;
}

/* The queue is in order, so each image's im2col waits for the previous
 * image's SGEMMs, which still read the shared column buffer. */
static gcl_status caffe_gemm_enqueue(void *opaque, const gcl_launch *launch,
                                     const gcl_tensor_view *input,
                                     const gcl_tensor_view *output) {
  caffe_gemm_state *state = opaque;
  gcl_status status = GCL_SUCCESS;

  for (int64_t image = 0;
       image < state->geometry.batch && status == GCL_SUCCESS; image++) {
    status = run_im2col(state, launch, input, image);
    if (status == GCL_SUCCESS)
      status = run_group_gemms(state, launch, output, image);
  }
  if (status == GCL_SUCCESS && state->geometry.bias_term)
    status = run_bias(state, launch, output);
  return status;
}

const gcl_algo gcl_algo_caffe_gemm = {
    .id = GCL_ALGORITHM_CAFFE_GEMM,
    .name = "caffe_gemm",
    .supports = caffe_gemm_supports,
    .estimate_seconds = caffe_gemm_estimate_seconds,
    .workspace_bytes = caffe_gemm_workspace_bytes,
    .prepare = caffe_gemm_prepare,
    .enqueue = caffe_gemm_enqueue,
    .release = caffe_gemm_release,
};
