#include "algo/im2col_gemm.h"

#include "util/alloc.h"
#include "util/cl_calls.h"
#include "util/cl_objects.h"
#include "util/error.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

/*
 * Held only for the host-side part of a CLBlast call: argument checks,
 * cache lookups and the enqueue, so the device still runs the SGEMMs of
 * several threads at once. A call that has to compile a CLBlast kernel
 * holds it for the compile, and other threads' SGEMM calls wait.
 */
static pthread_mutex_t clblast_lock = PTHREAD_MUTEX_INITIALIZER;

void gcl_clblast_lock(void) { pthread_mutex_lock(&clblast_lock); }

void gcl_clblast_unlock(void) { pthread_mutex_unlock(&clblast_lock); }

int64_t gcl_im2col_column_elements(const gcl_geometry *g) {
  return gcl_mul_saturated(gcl_mul_saturated(g->channels, g->kernel_size),
                           g->out_size);
}

int gcl_im2col_supports(const gcl_geometry *g, char *reason,
                        size_t reason_size) {
  int64_t input = g->batch * g->channels * g->in_size;
  int64_t output = g->batch * g->num_output * g->out_size;
  int64_t columns = gcl_im2col_column_elements(g);

  if (!gcl_convolution_only(g, "the im2col path", reason, reason_size))
    return 0;

  if (columns > GCL_INT_INDEX_LIMIT || input > GCL_INT_INDEX_LIMIT ||
      output > GCL_INT_INDEX_LIMIT) {
    snprintf(reason, reason_size,
             "the input (%lld floats), output (%lld) or column matrix "
             "(%lld) reach 2^31 elements, beyond the 32-bit indexing of "
             "the im2col and bias kernels",
             (long long)input, (long long)output, (long long)columns);
    return 0;
  }
  return 1;
}

size_t gcl_im2col_workspace_bytes(const gcl_geometry *g) {
  return (size_t)gcl_im2col_column_elements(g) * sizeof(float);
}

void gcl_im2col_release(gcl_im2col_state *state) {
  if (state == NULL)
    return;
  gcl_release_kernel(state->im2col);
  gcl_release_kernel(state->add_bias);
  gcl_release_mem(state->weights);
  gcl_release_mem(state->bias);
  gcl_release_mem(state->columns);
  gcl_free(state);
}

/* Builds kernels/im2col.cl and, with a bias, kernels/bias.cl. */
static gcl_status build_kernels(gcl_im2col_state *state, gcl_context *context,
                                size_t device_index) {
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

gcl_status gcl_im2col_prepare(const gcl_geometry *g, gcl_context *context,
                              size_t device_index, const float *weights,
                              const float *bias, gcl_im2col_state **result) {
  size_t weight_count =
      (size_t)(g->num_output * g->channels_per_group * g->kernel_size);
  gcl_im2col_state *state = gcl_calloc(1, sizeof *state);
  gcl_status status;

  *result = NULL;
  if (state == NULL)
    return gcl_fail(GCL_ERROR_OUT_OF_MEMORY,
                    "out of host memory for the im2col state");
  state->geometry = *g;
  gcl_context_note_clblast(context);

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
                               gcl_im2col_workspace_bytes(g), NULL,
                               "im2col workspace", &state->columns);
  if (status != GCL_SUCCESS) {
    gcl_im2col_release(state);
    return status;
  }
  *result = state;
  return GCL_SUCCESS;
}

gcl_status gcl_im2col_check_views(const gcl_im2col_state *state,
                                  const gcl_tensor_view *input,
                                  const gcl_tensor_view *output) {
  const gcl_geometry *g = &state->geometry;
  gcl_status status;

  status = gcl_check_view(input, g->batch, g->channels * g->in_size, "input",
                          NULL);
  if (status == GCL_SUCCESS)
    status = gcl_check_view(output, g->batch, g->num_output * g->out_size,
                            "output", NULL);
  return status;
}

gcl_status gcl_im2col_expand(gcl_im2col_state *state,
                             const gcl_launch *launch,
                             const gcl_tensor_view *input, int64_t image) {
  const gcl_geometry *g = &state->geometry;
  cl_int offset =
      (cl_int)(input->offset + (size_t)image * input->image_stride);
  size_t global[2] = {(size_t)g->out_size, (size_t)g->channels};
  cl_event *event = gcl_trace_event(launch->trace, "im2col");
  cl_int code;

  code = clSetKernelArg(state->im2col, 0, sizeof input->buffer,
                        &input->buffer);
  if (code == CL_SUCCESS)
    code = clSetKernelArg(state->im2col, 1, sizeof offset, &offset);
  if (code == CL_SUCCESS)
    code = clSetKernelArg(state->im2col, 2, sizeof state->columns,
                          &state->columns);
  if (code == CL_SUCCESS)
    code = gcl_clEnqueueNDRangeKernel(launch->queue, state->im2col, 2, NULL,
                                      global, NULL, 0, NULL, event);
  if (code == CL_SUCCESS)
    gcl_cl_event_created(event);
  if (code != CL_SUCCESS)
    return gcl_fail_cl(code, "enqueueing gcl_im2col for image %lld",
                       (long long)image);
  return GCL_SUCCESS;
}

gcl_status gcl_im2col_add_bias(gcl_im2col_state *state,
                               const gcl_launch *launch,
                               const gcl_tensor_view *output) {
  const gcl_geometry *g = &state->geometry;
  size_t global[3] = {(size_t)g->out_size, (size_t)g->num_output,
                      (size_t)g->batch};
  cl_int offset = (cl_int)output->offset;
  cl_int image_stride = (cl_int)output->image_stride;
  cl_event *event = gcl_trace_event(launch->trace, "bias");
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
    code = gcl_clEnqueueNDRangeKernel(launch->queue, state->add_bias, 3, NULL,
                                      global, NULL, 0, NULL, event);
  if (code == CL_SUCCESS)
    gcl_cl_event_created(event);
  if (code != CL_SUCCESS)
    return gcl_fail_cl(code, "enqueueing gcl_add_bias");
  return GCL_SUCCESS;
}

gcl_status gcl_clblast_failure(int code, const char *call, const char *unit,
                               long long index) {
  /* CLBlast passes OpenCL errors through; its own codes are -1024 and
   * below. */
  if (code > -1000)
    return gcl_fail_cl((cl_int)code, "%s for %s %lld", call, unit, index);
  return gcl_fail(GCL_ERROR_OPENCL,
                  "%s for %s %lld failed with CLBlast status %d", call, unit,
                  index, code);
}
