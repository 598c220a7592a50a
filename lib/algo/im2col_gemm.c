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
  if (!gcl_convolution_only(g, "the im2col path", reason, reason_size))
    return 0;
  /* The plan checks the column matrix of each group part against the
   * index limit; one whose size does not even fit 64 bits (saturated)
   * cannot fit any split, so it is declined here. */
  if (gcl_im2col_column_elements(g) == INT64_MAX) {
    snprintf(reason, reason_size,
             "the column matrix (channels x kernel volume x output "
             "positions) exceeds 2^63 elements, beyond the indexing of the "
             "im2col kernel");
    return 0;
  }
  return 1;
}

/* Rounds a matrix dimension up to 128, taken as the largest tile CLBlast's
 * indirect GEMM pads to. */
static int64_t padded(int64_t size) { return (size + 127) / 128 * 128; }

/* Products of fewer multiply-accumulates than this are taken to run on
 * CLBlast's direct GEMM, which needs no temporary. */
#define DIRECT_GEMM_MACS ((int64_t)64 * 64 * 64)

/*
 * NOTE: CLBlast's temporaries are an estimate. Its indirect GEMM copies
 * each operand that is not a multiple of its tuned tiles into a padded
 * temporary, and this assumes tiles of at most 128 per dimension. CLBlast
 * runs products below a tuned size on its direct GEMM instead, which needs
 * no temporary. That size differs per device, so 64^3 is taken as the
 * least.
 */
void gcl_im2col_device_buffers(const gcl_geometry *g, int batched,
                               gcl_buffer_sizes *sizes) {
  int64_t m = g->outputs_per_group, n = g->out_size;
  int64_t k = g->channels_per_group * g->kernel_size;

  gcl_buffer_sizes_add(sizes, "weights", g->num_output * k);
  if (g->bias_term)
    gcl_buffer_sizes_add(sizes, "bias", g->num_output);
  gcl_buffer_sizes_add(sizes, "im2col workspace",
                       gcl_im2col_column_elements(g));

  if (m * n * k < DIRECT_GEMM_MACS)
    return;
  m = padded(m);
  n = padded(n);
  k = padded(k);
  if (!batched) {
    /* One temporary contains the three padded matrices of one group. */
    gcl_buffer_sizes_add(sizes, "CLBlast temporary (estimate)",
                         m * k + k * n + m * n);
    return;
  }
  gcl_buffer_sizes_add(sizes, "CLBlast weight temporary (estimate)",
                       g->group * m * k);
  gcl_buffer_sizes_add(sizes, "CLBlast column temporary (estimate)",
                       g->group * k * n);
  gcl_buffer_sizes_add(sizes, "CLBlast output temporary (estimate)",
                       g->group * m * n);
}

/* Returns the device's sub-buffer alignment in bytes. */
static gcl_status base_alignment(cl_command_queue queue, size_t *bytes) {
  cl_device_id device;
  cl_uint bits = 0;
  cl_int code;

  code = clGetCommandQueueInfo(queue, CL_QUEUE_DEVICE, sizeof device, &device,
                               NULL);
  if (code == CL_SUCCESS)
    code = clGetDeviceInfo(device, CL_DEVICE_MEM_BASE_ADDR_ALIGN, sizeof bits,
                           &bits, NULL);
  if (code != CL_SUCCESS)
    return gcl_fail_cl(code, "querying CL_DEVICE_MEM_BASE_ADDR_ALIGN");
  *bytes = bits / 8 > sizeof(float) ? bits / 8 : sizeof(float);
  return GCL_SUCCESS;
}

gcl_status gcl_blas_region_get(cl_command_queue queue, cl_mem buffer,
                               size_t offset, size_t elements,
                               gcl_blas_region *region) {
  cl_buffer_region part;
  size_t align = 0;
  gcl_status status;
  cl_int code;

  region->buffer = buffer;
  region->offset = offset;
  region->sub = NULL;
  if ((uint64_t)offset + elements <= (uint64_t)gcl_index_limit())
    return GCL_SUCCESS;

  status = base_alignment(queue, &align);
  if (status != GCL_SUCCESS)
    return status;
  part.origin = offset * sizeof(float) / align * align;
  part.size = (offset + elements) * sizeof(float) - part.origin;
  region->sub = clCreateSubBuffer(buffer, 0, CL_BUFFER_CREATE_TYPE_REGION,
                                  &part, &code);
  if (region->sub == NULL)
    return gcl_fail_cl(code, "creating a sub-buffer of %zu bytes at byte "
                             "%zu, because CLBlast takes offsets as 32-bit "
                             "ints",
                       part.size, part.origin);
  gcl_cl_object_created(GCL_CL_MEM);
  region->buffer = region->sub;
  region->offset = (offset * sizeof(float) - part.origin) / sizeof(float);
  if ((uint64_t)region->offset + elements > (uint64_t)gcl_index_limit()) {
    gcl_blas_region_release(region);
    return gcl_fail(GCL_ERROR_UNSUPPORTED,
                    "CLBlast cannot address %zu floats with its 32-bit "
                    "offsets (limit %lld)",
                    elements, (long long)gcl_index_limit());
  }
  return GCL_SUCCESS;
}

void gcl_blas_region_release(gcl_blas_region *region) {
  gcl_release_mem(region->sub);
  region->sub = NULL;
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
    status = gcl_create_buffer(
        context, device_index,
        (size_t)gcl_im2col_column_elements(g) * sizeof(float), NULL,
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
  cl_long offset =
      (cl_long)(input->offset + (size_t)image * input->image_stride);
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
  cl_long offset = (cl_long)output->offset;
  cl_long image_stride = (cl_long)output->image_stride;
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
