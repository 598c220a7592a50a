/*
 * Runs a depthwise layer inside an application's own OpenCL setup: the
 * program creates the platform, device, context, in-order queue and buffers,
 * and groupcl enqueues its work on them, ordered with OpenCL events.
 *
 * Build against an installed groupcl:
 *   cc own_context.c $(pkg-config --cflags --libs groupcl) -o own_context
 */
#include <groupcl.h>

#include <stdio.h>
#include <stdlib.h>

/* Input [1][8][16][16] with group == channels: one 3 x 3 filter per channel. */
#define CHANNELS 8
#define SIZE 16
#define KERNEL 3
#define INPUT_COUNT (CHANNELS * SIZE * SIZE)
#define OUTPUT_COUNT INPUT_COUNT /* pad 1 keeps 16 x 16 */

/* Returns nonzero, after printing the call, when code is an OpenCL error. */
static int cl_failed(cl_int code, const char *call) {
  if (code != CL_SUCCESS)
    fprintf(stderr, "own_context: %s failed with OpenCL error %d\n", call,
            (int)code);
  return code != CL_SUCCESS;
}

/* Picks the first device of the first platform that has one. */
static cl_int first_device(cl_platform_id *platform, cl_device_id *device) {
  cl_platform_id platforms[8];
  cl_uint count = 0;
  cl_int code = clGetPlatformIDs(8, platforms, &count);

  for (cl_uint p = 0; code == CL_SUCCESS && p < count; p++) {
    *platform = platforms[p];
    if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, 1, device, NULL) ==
        CL_SUCCESS)
      return CL_SUCCESS;
  }
  return code == CL_SUCCESS ? CL_DEVICE_NOT_FOUND : code;
}

int main(void) {
  const int64_t input_shape[4] = {1, CHANNELS, SIZE, SIZE};
  int64_t output_shape[4];
  static float input[INPUT_COUNT], output[OUTPUT_COUNT], expected[OUTPUT_COUNT];
  static float weights[CHANNELS * KERNEL * KERNEL], bias[CHANNELS];
  cl_platform_id platform = NULL;
  cl_device_id device = NULL;
  cl_context cl_ctx = NULL;
  cl_command_queue queue = NULL;
  cl_mem input_buffer = NULL, output_buffer = NULL;
  cl_event written = NULL, done = NULL;
  gcl_context *context = NULL;
  gcl_conv *conv = NULL;
  gcl_plan *plan = NULL;
  gcl_conv_desc desc;
  double max_error = 0.0;
  cl_int code;
  int result = 1;
  size_t i;

  for (i = 0; i < INPUT_COUNT; i++)
    input[i] = (float)((int)(i % 11) - 5) * 0.125f;
  for (i = 0; i < CHANNELS * KERNEL * KERNEL; i++)
    weights[i] = (float)((int)(i % 3) - 1) * 0.5f;
  for (i = 0; i < CHANNELS; i++)
    bias[i] = -0.25f * (float)i;

  /* The application's own OpenCL objects. A queue created without
   * properties is in-order, which groupcl requires. */
  code = first_device(&platform, &device);
  if (cl_failed(code, "finding an OpenCL device"))
    return 1;
  {
    cl_context_properties properties[] = {
        CL_CONTEXT_PLATFORM, (cl_context_properties)platform, 0};

    cl_ctx = clCreateContext(properties, 1, &device, NULL, NULL, &code);
  }
  if (cl_failed(code, "clCreateContext"))
    goto cleanup;
  queue = clCreateCommandQueue(cl_ctx, device, 0, &code);
  if (cl_failed(code, "clCreateCommandQueue"))
    goto cleanup;
  input_buffer = clCreateBuffer(cl_ctx, CL_MEM_READ_ONLY, sizeof input, NULL,
                                &code);
  if (cl_failed(code, "clCreateBuffer(input)"))
    goto cleanup;
  output_buffer = clCreateBuffer(cl_ctx, CL_MEM_READ_WRITE, sizeof output,
                                 NULL, &code);
  if (cl_failed(code, "clCreateBuffer(output)"))
    goto cleanup;

  gcl_conv_desc_init(&desc, 2, CHANNELS, CHANNELS, KERNEL);
  desc.group = CHANNELS;
  desc.pad[0] = desc.pad[1] = 1;
  if (gcl_context_create_from_cl(cl_ctx, device, queue, &context) !=
          GCL_SUCCESS ||
      gcl_conv_create(context, &desc, weights, bias, &conv) != GCL_SUCCESS ||
      gcl_plan_create(conv, 4, input_shape, NULL, &plan) != GCL_SUCCESS ||
      gcl_plan_output_shape(plan, output_shape) != GCL_SUCCESS)
    goto gcl_failed;

  /* The upload does not block, and the forward pass waits for its event. */
  code = clEnqueueWriteBuffer(queue, input_buffer, CL_FALSE, 0, sizeof input,
                              input, 0, NULL, &written);
  if (cl_failed(code, "clEnqueueWriteBuffer"))
    goto cleanup;
  if (gcl_plan_forward_cl(plan, input_buffer, output_buffer, 1, &written,
                          &done) != GCL_SUCCESS)
    goto gcl_failed;
  code = clWaitForEvents(1, &done);
  if (cl_failed(code, "clWaitForEvents"))
    goto cleanup;
  code = clEnqueueReadBuffer(queue, output_buffer, CL_TRUE, 0, sizeof output,
                             output, 0, NULL, NULL);
  if (cl_failed(code, "clEnqueueReadBuffer"))
    goto cleanup;

  if (gcl_conv_reference_forward(&desc, 4, input_shape, input, weights, bias,
                                 expected) != GCL_SUCCESS)
    goto gcl_failed;
  for (i = 0; i < OUTPUT_COUNT; i++) {
    double error = (double)output[i] - (double)expected[i];

    if (error < 0.0)
      error = -error;
    if (error > max_error)
      max_error = error;
  }
  printf("depthwise %dx%d: output shape (%lld, %lld, %lld, %lld), "
         "max error %g\n",
         KERNEL, KERNEL, (long long)output_shape[0], (long long)output_shape[1],
         (long long)output_shape[2], (long long)output_shape[3], max_error);
  if (max_error > 1e-4) {
    fprintf(stderr, "own_context: the output differs from the reference "
                    "by more than 1e-4\n");
    goto cleanup;
  }
  result = 0;
  goto cleanup;

gcl_failed:
  fprintf(stderr, "own_context: %s\n", gcl_last_error());
cleanup:
  /* A context must outlive its convs and plans. */
  gcl_plan_destroy(plan);
  gcl_conv_destroy(conv);
  gcl_context_destroy(context);
  if (done != NULL)
    clReleaseEvent(done);
  if (written != NULL)
    clReleaseEvent(written);
  if (input_buffer != NULL)
    clReleaseMemObject(input_buffer);
  if (output_buffer != NULL)
    clReleaseMemObject(output_buffer);
  if (queue != NULL)
    clReleaseCommandQueue(queue);
  if (cl_ctx != NULL)
    clReleaseContext(cl_ctx);
  return result;
}
