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
#include "algo/im2col_gemm.h"

#include "util/cl_calls.h"
#include "util/cl_objects.h"
#include "util/error.h"

#include <clblast_c.h>

static int caffe_gemm_supports(const gcl_geometry *g,
                               const gcl_device_info *device, char *reason,
                               size_t reason_size) {
  (void)device;
  return gcl_im2col_supports(g, reason, reason_size);
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
  double column_bytes =
      8.0 * (double)g->batch * (double)gcl_im2col_column_elements(g);

  return flops / (0.05 * peak) + calls * 10e-6 +
         column_bytes / gcl_device_memory_bandwidth(device);
}

static gcl_status caffe_gemm_prepare(const gcl_geometry *g,
                                     gcl_context *context,
                                     size_t device_index,
                                     const float *weights, const float *bias,
                                     void **opaque) {
  gcl_im2col_state *state = NULL;
  gcl_status status = gcl_im2col_prepare(g, context, device_index, weights,
                                         bias, &state);

  *opaque = state;
  return status;
}

static void caffe_gemm_release(void *opaque) { gcl_im2col_release(opaque); }

static void caffe_gemm_device_buffers(const gcl_geometry *g,
                                      const gcl_device_info *device,
                                      gcl_buffer_sizes *sizes) {
  (void)device;
  gcl_im2col_device_buffers(g, 0, sizes);
}

/* Runs one SGEMM per group on the image's output, which `region` makes
 * addressable with CLBlast's 32-bit offsets. */
static gcl_status run_group_gemms(gcl_im2col_state *state,
                                  const gcl_launch *launch,
                                  const gcl_blas_region *region) {
  const gcl_geometry *g = &state->geometry;
  size_t m = (size_t)g->outputs_per_group;
  size_t n = (size_t)g->out_size;
  size_t k = (size_t)(g->channels_per_group * g->kernel_size);

  for (int64_t group = 0; group < g->group; group++) {
    size_t weight_offset = (size_t)group * m * k;
    size_t column_offset = (size_t)group * k * n;
    size_t output_offset = region->offset + (size_t)group * m * n;
    cl_command_queue queue = launch->queue;
    cl_event *event = gcl_trace_event(launch->trace, "sgemm");
    CLBlastStatusCode code;

    gcl_clblast_lock();
    code = gcl_CLBlastSgemm(
        CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeNo, m, n, k,
        1.0f, state->weights, weight_offset, k, state->columns, column_offset,
        n, 0.0f, region->buffer, output_offset, n, &queue, event);
    gcl_clblast_unlock();

    if (code == CLBlastSuccess)
      gcl_cl_event_created(event);
    if (code != CLBlastSuccess)
      return gcl_clblast_failure(code, "CLBlastSgemm", "group",
                                 (long long)group);
  }
  return GCL_SUCCESS;
}

static gcl_status run_image_gemms(gcl_im2col_state *state,
                                  const gcl_launch *launch,
                                  const gcl_tensor_view *output,
                                  int64_t image) {
  const gcl_geometry *g = &state->geometry;
  gcl_blas_region region;
  gcl_status status;

  status = gcl_blas_region_get(
      launch->queue, output->buffer,
      output->offset + (size_t)image * output->image_stride,
      (size_t)(g->num_output * g->out_size), &region);
  if (status == GCL_SUCCESS)
    status = run_group_gemms(state, launch, &region);
  gcl_blas_region_release(&region);
  return status;
}

/* The queue is in order, so each image's im2col waits for the previous
 * image's SGEMMs, which still read the shared column buffer. */
static gcl_status caffe_gemm_enqueue(void *opaque, const gcl_launch *launch,
                                     const gcl_tensor_view *input,
                                     const gcl_tensor_view *output) {
  gcl_im2col_state *state = opaque;
  gcl_status status = gcl_im2col_check_views(state, input, output);

  for (int64_t image = 0;
       image < state->geometry.batch && status == GCL_SUCCESS; image++) {
    status = gcl_im2col_expand(state, launch, input, image);
    if (status == GCL_SUCCESS)
      status = run_image_gemms(state, launch, output, image);
  }
  if (status == GCL_SUCCESS && state->geometry.bias_term)
    status = gcl_im2col_add_bias(state, launch, output);
  return status;
}

const gcl_algo gcl_algo_caffe_gemm = {
    .id = GCL_ALGORITHM_CAFFE_GEMM,
    .name = "caffe_gemm",
    .supports = caffe_gemm_supports,
    .estimate_seconds = caffe_gemm_estimate_seconds,
    .device_buffers = caffe_gemm_device_buffers,
    .prepare = caffe_gemm_prepare,
    .enqueue = caffe_gemm_enqueue,
    .release = caffe_gemm_release,
};
