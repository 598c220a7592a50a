#include "tune/measure.h"

#include "algo/algo_common.h"
#include "util/cl_calls.h"
#include "util/cl_objects.h"
#include "util/error.h"

#include <time.h>

static double seconds_now(void) {
  struct timespec now;

  timespec_get(&now, TIME_UTC);
  return (double)now.tv_sec + 1e-9 * (double)now.tv_nsec;
}

static gcl_status zero_buffer(cl_command_queue queue, cl_mem buffer,
                              size_t bytes) {
  const float zero = 0.0f;
  cl_int code = gcl_clEnqueueFillBuffer(queue, buffer, &zero, sizeof zero, 0,
                                        bytes, 0, NULL, NULL);

  if (code != CL_SUCCESS)
    return gcl_fail_cl(code, "clearing a timing buffer");
  return GCL_SUCCESS;
}

gcl_status gcl_time_algorithm(const gcl_algo *algo,
                              const gcl_geometry *geometry,
                              gcl_context *context, size_t device_index,
                              const float *weights, const float *bias,
                              int runs, double *seconds) {
  gcl_launch launch = {context->devices[device_index].queue, NULL};
  gcl_tensor_view input = {NULL, 0, 0}, output = {NULL, 0, 0};
  size_t input_bytes, output_bytes;
  void *state = NULL;
  double best = -1.0;
  gcl_status status;

  input.image_stride = (size_t)(geometry->channels * geometry->in_size);
  output.image_stride = (size_t)(geometry->num_output * geometry->out_size);
  input_bytes = input.image_stride * (size_t)geometry->batch * sizeof(float);
  output_bytes = output.image_stride * (size_t)geometry->batch * sizeof(float);

  status = algo->prepare(geometry, context, device_index, weights, bias,
                         &state);
  if (status == GCL_SUCCESS)
    status = gcl_create_buffer(context, device_index, input_bytes, NULL,
                               "timing input", &input.buffer);
  if (status == GCL_SUCCESS)
    status = gcl_create_buffer(context, device_index, output_bytes, NULL,
                               "timing output", &output.buffer);
  if (status == GCL_SUCCESS)
    status = zero_buffer(launch.queue, input.buffer, input_bytes);

  /* Run 0 warms up: the first launch of a kernel may compile it. */
  for (int run = 0; run <= runs && status == GCL_SUCCESS; run++) {
    double start = seconds_now();
    double elapsed;
    cl_int code;

    status = algo->enqueue(state, &launch, &input, &output);
    code = gcl_clFinish(launch.queue);
    if (status == GCL_SUCCESS && code != CL_SUCCESS)
      status = gcl_fail_cl(code, "clFinish while timing %s", algo->name);
    elapsed = seconds_now() - start;
    if (run > 0 && (best < 0.0 || elapsed < best))
      best = elapsed;
  }

  gcl_release_mem(input.buffer);
  gcl_release_mem(output.buffer);
  algo->release(state);
  if (status == GCL_SUCCESS)
    *seconds = best > 1e-9 ? best : 1e-9;
  return status;
}
