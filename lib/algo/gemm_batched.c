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
#include "algo/im2col_gemm.h"

#include "util/cl_calls.h"
#include "util/cl_objects.h"
#include "util/error.h"

#include <clblast_c.h>

static int gemm_batched_supports(const gcl_geometry *g,
                                 const gcl_device_info *device, char *reason,
                                 size_t reason_size) {
  (void)device;
  return gcl_im2col_supports(g, reason, reason_size);
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
  double column_bytes =
      8.0 * (double)g->batch * (double)gcl_im2col_column_elements(g);

  return flops / (0.05 * gcl_device_peak_flops(device)) + calls * 10e-6 +
         column_bytes / gcl_device_memory_bandwidth(device);
}

static gcl_status gemm_batched_prepare(const gcl_geometry *g,
                                       gcl_context *context,
                                       size_t device_index,
                                       const float *weights,
                                       const float *bias, void **opaque) {
  gcl_im2col_state *state = NULL;
  gcl_status status = gcl_im2col_prepare(g, context, device_index, weights,
                                         bias, &state);

  *opaque = state;
  return status;
}

static void gemm_batched_release(void *opaque) {
  gcl_im2col_release(opaque);
}

static void gemm_batched_device_buffers(const gcl_geometry *g,
                                        const gcl_device_info *device,
                                        gcl_buffer_sizes *sizes) {
  (void)device;
  gcl_im2col_device_buffers(g, 1, sizes);
}

/* One strided-batched SGEMM: batch entry g is group g of the image. */
static gcl_status run_batched_gemm(gcl_im2col_state *state,
                                   const gcl_launch *launch,
                                   const gcl_tensor_view *output,
                                   int64_t image) {
  const gcl_geometry *g = &state->geometry;
  size_t m = (size_t)g->outputs_per_group;
  size_t n = (size_t)g->out_size;
  size_t k = (size_t)(g->channels_per_group * g->kernel_size);
  cl_command_queue queue = launch->queue;
  cl_event *event = gcl_trace_event(launch->trace, "sgemm_batched");
  gcl_blas_region region;
  CLBlastStatusCode code;
  gcl_status status;

  /* CLBlast's offsets are ints; region keeps the image addressable. */
  status = gcl_blas_region_get(
      queue, output->buffer,
      output->offset + (size_t)image * output->image_stride,
      (size_t)g->num_output * n, &region);
  if (status != GCL_SUCCESS)
    return status;
  gcl_clblast_lock();
  code = gcl_CLBlastSgemmStridedBatched(
      CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeNo, m, n, k,
      1.0f, state->weights, 0, k, m * k, state->columns, 0, n, k * n, 0.0f,
      region.buffer, region.offset, n, m * n, (size_t)g->group, &queue,
      event);
  gcl_clblast_unlock();
  if (code == CLBlastSuccess)
    gcl_cl_event_created(event);
  gcl_blas_region_release(&region);
  if (code != CLBlastSuccess)
    return gcl_clblast_failure(code, "CLBlastSgemmStridedBatched", "image",
                               (long long)image);
  return GCL_SUCCESS;
}

/* The queue is in order, so each image's im2col waits for the previous
 * image's SGEMM, which still reads the shared column buffer. */
static gcl_status gemm_batched_enqueue(void *opaque, const gcl_launch *launch,
                                       const gcl_tensor_view *input,
                                       const gcl_tensor_view *output) {
  gcl_im2col_state *state = opaque;
  const gcl_geometry *g = &state->geometry;
  gcl_status status = gcl_im2col_check_views(state, input, output);

  for (int64_t image = 0; image < g->batch && status == GCL_SUCCESS;
       image++) {
    status = gcl_im2col_expand(state, launch, input, image);
    if (status == GCL_SUCCESS)
      status = run_batched_gemm(state, launch, output, image);
  }
  if (status == GCL_SUCCESS && g->bias_term)
    status = gcl_im2col_add_bias(state, launch, output);
  return status;
}

const gcl_algo gcl_algo_gemm_batched = {
    .id = GCL_ALGORITHM_GEMM_BATCHED,
    .name = "gemm_batched",
    .supports = gemm_batched_supports,
    .estimate_seconds = gemm_batched_estimate_seconds,
    .device_buffers = gemm_batched_device_buffers,
    .prepare = gemm_batched_prepare,
    .enqueue = gemm_batched_enqueue,
    .release = gemm_batched_release,
};
