/*
 * The gemm_batched algorithm: im2col, then one CLBlast strided-batched
 * SGEMM over all groups of an image, then the bias. Group g multiplies
 *   weights[g]   (m = outputs_per_group) x (k = channels_per_group * kernel_size)
 *   columns[g]   k x (n = out_size), rows g*k ... of the column matrix
 * into output channels g*m ... of the image. The groups' operands lie at
 * equal distances of m*k, k*n and m*n floats, as the strided batched call
 * needs. So each image costs two calls, where caffe_gemm makes one SGEMM
 * call per group.
 */
#include "algo/algo_common.h"

#include "util/error.h"

#include <clblast_c.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct gemm_batched_state {
  gcl_geometry geometry;
  cl_kernel im2col;
  cl_kernel add_bias; /* NULL without bias_term */
  cl_mem weights;     /* Caffe's layout: group g's matrix at g * m * k */
  cl_mem bias;
  cl_mem columns; /* [channels * kernel_size][out_size], one image */
} gemm_batched_state;

static int64_t column_elements(const gcl_geometry *g) {
  return g->channels * g->kernel_size * g->out_size;
}

static int gemm_batched_supports(const gcl_geometry *g,
                                 const gcl_device_info *device, char *reason,
                                 size_t reason_size) {
  (void)device;
  if (column_elements(g) > GCL_INT_INDEX_LIMIT ||
      g->batch * g->channels * g->in_size > GCL_INT_INDEX_LIMIT ||
      g->batch * g->num_output * g->out_size > GCL_INT_INDEX_LIMIT) {
    snprintf(reason, reason_size,
             "a tensor or the column matrix (%lld floats) has 2^31 or more "
             "elements, beyond the 32-bit indexing of the im2col and bias "
             "kernels",
             (long long)column_elements(g));
    return 0;
  }
  return 1;
}

/*
 * Estimates the run time as caffe_gemm's cost model does: SGEMM at 5% of
 * the device's arithmetic peak, plus about 10 microseconds per call, plus
 * the column matrix written and read once. CLBlast's SGEMM ran at 20-31
 * GFLOP/s on PoCL 3.1 on a 2-core AVX-512 CPU with a 500 GFLOP/s FMA peak.
 * The calls are one im2col and one SGEMM per image. Like caffe_gemm's
 * model, this one leaves out the bias launch.
 */
static double gemm_batched_estimate_seconds(const gcl_geometry *g,
                                            const gcl_device_info *device) {
  double flops = 2.0 * gcl_geometry_macs(g);
  double calls = 2.0 * (double)g->batch;
  double column_bytes = 8.0 * (double)g->batch * (double)column_elements(g);

  return flops / (0.05 * gcl_device_peak_flops(device)) + calls * 10e-6 +
         column_bytes / gcl_device_memory_bandwidth(device);
}

static size_t gemm_batched_workspace_bytes(const gcl_geometry *g) {
  return (size_t)column_elements(g) * sizeof(float);
}

static void gemm_batched_release(void *opaque) {
  gemm_batched_state *state = opaque;

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

/* Builds kernels/im2col.cl and, with a bias, kernels/bias.cl. */
static gcl_status build_kernels(gemm_batched_state *state,
                                gcl_context *context, size_t device_index) {
  const gcl_geometry *g = &state->geometry;
  char options[1024];
  gcl_status status;

  gcl_geometry_build_options(g, options, sizeof options);
  status = gcl_create_kernel(context, device_index, "kernels/im2col.cl",
                             options, "gcl_im2col", &state->im2col);
  if (status != GCL_SUCCESS || !g->bias_term)
    return status;

  snprintf(options, sizeof options, "-DNUM_OUTPUT=%lld -DOUT_SIZE=%lld",
           (long long)g->num_output, (long long)g->out_size);
  return gcl_create_kernel(context, device_index, "kernels/bias.cl", options,
                           "gcl_add_bias", &state->add_bias);
}

static gcl_status gemm_batched_prepare(const gcl_geometry *g,
                                       gcl_context *context,
                                       size_t device_index,
                                       const float *weights,
                                       const float *bias, void **opaque) {
  size_t weight_count =
      (size_t)(g->num_output * g->channels_per_group * g->kernel_size);
  gemm_batched_state *state = calloc(1, sizeof *state);
  gcl_status status;

  *opaque = NULL;
  if (state == NULL)
    return gcl_fail(GCL_ERROR_OUT_OF_MEMORY,
                    "out of host memory for the gemm_batched state");
  state->geometry = *g;

  status = build_kernels(state, context, device_index);
  if (status == GCL_SUCCESS)
    status = gcl_create_buffer(context, device_index,
                               weight_count * sizeof(float), weights,
                               "weights", &state->weights);
  if (status == GCL_SUCCESS && g->bias_term)
    status = gcl_create_buffer(context, device_index,
                               (size_t)g->num_output * sizeof(float), bias,
                               "bias", &state->bias);
  if (status == GCL_SUCCESS)
    status = gcl_create_buffer(context, device_index,
                               gemm_batched_workspace_bytes(g), NULL,
                               "im2col workspace", &state->columns);
  if (status != GCL_SUCCESS) {
    gemm_batched_release(state);
    return status;
  }
  *opaque = state;
  return GCL_SUCCESS;
}

/* Returns an error unless every element the views reach fits an int, the
 * index type of the im2col and bias kernels. */
static gcl_status check_view(const gcl_tensor_view *view, int64_t batch,
                             int64_t image_elements, const char *what) {
  double end = (double)view->offset +
               (double)(batch - 1) * (double)view->image_stride +
               (double)image_elements;

  if (end > (double)INT_MAX)
    return gcl_fail(GCL_ERROR_UNSUPPORTED,
                    "the %s view ends at element %.0f, beyond the 32-bit "
                    "indexing of the im2col and bias kernels (2^31 - 1 "
                    "floats); run fewer images per call",
                    what, end);
  return GCL_SUCCESS;
}

static gcl_status run_im2col(gemm_batched_state *state,
                             const gcl_launch *launch,
                             const gcl_tensor_view *input, int64_t image) {
  const gcl_geometry *g = &state->geometry;
  cl_int offset =
      (cl_int)(input->offset + (size_t)image * input->image_stride);
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
    return gcl_fail_cl(code, "enqueueing gcl_im2col for image %lld",
                       (long long)image);
  return GCL_SUCCESS;
}

/* One strided-batched SGEMM: batch entry g is group g of the image. */
static gcl_status run_batched_gemm(gemm_batched_state *state,
                                   const gcl_launch *launch,
                                   const gcl_tensor_view *output,
                                   int64_t image) {
  const gcl_geometry *g = &state->geometry;
  size_t m = (size_t)g->outputs_per_group;
  size_t n = (size_t)g->out_size;
  size_t k = (size_t)(g->channels_per_group * g->kernel_size);
  size_t output_offset =
      output->offset + (size_t)image * output->image_stride;
  cl_command_queue queue = launch->queue;
  CLBlastStatusCode code;

  code = CLBlastSgemmStridedBatched(
      CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeNo, m, n, k,
      1.0f, state->weights, 0, k, m * k, state->columns, 0, n, k * n, 0.0f,
      output->buffer, output_offset, n, m * n, (size_t)g->group, &queue,
      gcl_trace_event(launch->trace, "sgemm_batched"));
  if (code == CLBlastSuccess)
    return GCL_SUCCESS;

  /* CLBlast passes OpenCL errors through; its own codes are -1024 and
     below. */
  if (code > -1000)
    return gcl_fail_cl((cl_int)code,
                       "CLBlastSgemmStridedBatched for image %lld",
                       (long long)image);
  return gcl_fail(GCL_ERROR_OPENCL,
                  "CLBlastSgemmStridedBatched for image %lld failed with "
                  "CLBlast status %d",
                  (long long)image, (int)code);
}

static gcl_status run_bias(gemm_batched_state *state,
                           const gcl_launch *launch,
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
 * image's SGEMM, which still reads the shared column buffer. */
static gcl_status gemm_batched_enqueue(void *opaque, const gcl_launch *launch,
                                       const gcl_tensor_view *input,
                                       const gcl_tensor_view *output) {
  gemm_batched_state *state = opaque;
  const gcl_geometry *g = &state->geometry;
  gcl_status status;

  status = check_view(input, g->batch, g->channels * g->in_size, "input");
  if (status == GCL_SUCCESS)
    status = check_view(output, g->batch, g->num_output * g->out_size,
                        "output");

  for (int64_t image = 0; image < g->batch && status == GCL_SUCCESS;
       image++) {
    status = run_im2col(state, launch, input, image);
    if (status == GCL_SUCCESS)
      status = run_batched_gemm(state, launch, output, image);
  }
  if (status == GCL_SUCCESS && g->bias_term)
    status = run_bias(state, launch, output);
  return status;
}

const gcl_algo gcl_algo_gemm_batched = {
    .id = GCL_ALGORITHM_GEMM_BATCHED,
    .name = "gemm_batched",
    .supports = gemm_batched_supports,
    .estimate_seconds = gemm_batched_estimate_seconds,
    .workspace_bytes = gemm_batched_workspace_bytes,
    .prepare = gemm_batched_prepare,
    .enqueue = gemm_batched_enqueue,
    .release = gemm_batched_release,
};
