#include "conv/plan.h"

#include "algo/algo_common.h"
#include "util/error.h"
#include "util/log.h"

#include <stdlib.h>
#include <string.h>

void gcl_plan_options_init(gcl_plan_options *options) {
  if (options != NULL)
    memset(options, 0, sizeof *options);
}

static size_t tensor_bytes(int rank, const int64_t *shape) {
  size_t count = 1;

  for (int i = 0; i < rank; i++)
    count *= (size_t)shape[i];
  return count * sizeof(float);
}

/* Picks the requested algorithm, or the first that supports the layer. */
static gcl_status choose_algorithm(gcl_plan *plan, gcl_algorithm requested) {
  const gcl_device_info *device =
      &plan->context->devices[plan->device_index].info;
  char reason[256] = "";
  const gcl_algo *algo;

  if (requested == GCL_ALGORITHM_AUTO)
    requested = GCL_ALGORITHM_CAFFE_GEMM;
  algo = gcl_algo_find(requested);
  if (algo == NULL)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "unknown algorithm %d; use GCL_ALGORITHM_AUTO or a "
                    "gcl_algorithm value",
                    (int)requested);
  if (!algo->supports(&plan->geometry, device, reason, sizeof reason))
    return gcl_fail(GCL_ERROR_UNSUPPORTED,
                    "algorithm %s cannot run this layer on device '%s': %s",
                    algo->name, device->device_name, reason);
  plan->algo = algo;
  return GCL_SUCCESS;
}

gcl_status gcl_plan_create(gcl_conv *conv, int rank,
                           const int64_t *input_shape,
                           const gcl_plan_options *options, gcl_plan **plan) {
  gcl_plan_options defaults;
  gcl_plan *created;
  gcl_status status;

  gcl_clear_error();
  if (conv == NULL || input_shape == NULL || plan == NULL)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "gcl_plan_create: conv, input_shape and plan must not "
                    "be NULL");
  *plan = NULL;
  if (options == NULL) {
    gcl_plan_options_init(&defaults);
    options = &defaults;
  }

  created = calloc(1, sizeof *created);
  if (created == NULL)
    return gcl_fail(GCL_ERROR_OUT_OF_MEMORY, "out of host memory");
  created->context = conv->context;
  created->device_index = 0;
  created->rank = rank;

  status = gcl_geometry_init(&conv->desc, rank, input_shape,
                             &created->geometry);
  if (status == GCL_SUCCESS) {
    memcpy(created->input_shape, input_shape,
           (size_t)rank * sizeof *input_shape);
    gcl_conv_output_shape(&conv->desc, rank, input_shape,
                          created->output_shape);
    created->input_bytes = tensor_bytes(rank, created->input_shape);
    created->output_bytes = tensor_bytes(rank, created->output_shape);
    status = choose_algorithm(created, options->algorithm);
  }
  if (status == GCL_SUCCESS)
    status = created->algo->prepare(&created->geometry, created->context,
                                    created->device_index, conv->weights,
                                    conv->bias, &created->algo_state);
  if (status != GCL_SUCCESS) {
    gcl_plan_destroy(created);
    return status;
  }

  GCL_LOG_INFO("planned %s for %lld x %lld channels, group %lld",
               created->algo->name, (long long)created->geometry.batch,
               (long long)created->geometry.channels,
               (long long)created->geometry.group);
  *plan = created;
  return GCL_SUCCESS;
}

void gcl_plan_destroy(gcl_plan *plan) {
  if (plan == NULL)
    return;
  if (plan->algo != NULL)
    plan->algo->release(plan->algo_state);
  if (plan->host_input != NULL)
    clReleaseMemObject(plan->host_input);
  if (plan->host_output != NULL)
    clReleaseMemObject(plan->host_output);
  free(plan);
}

gcl_status gcl_plan_output_shape(const gcl_plan *plan, int64_t *output_shape) {
  gcl_clear_error();
  if (plan == NULL || output_shape == NULL)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "gcl_plan_output_shape: plan and output_shape must not "
                    "be NULL");
  memcpy(output_shape, plan->output_shape,
         (size_t)plan->rank * sizeof *output_shape);
  return GCL_SUCCESS;
}

gcl_algorithm gcl_plan_algorithm(const gcl_plan *plan) {
  return plan == NULL || plan->algo == NULL ? GCL_ALGORITHM_AUTO
                                            : plan->algo->id;
}

/* Checks that a caller's buffer is in the plan's context and large enough. */
static gcl_status check_buffer(const gcl_plan *plan, cl_mem buffer,
                               size_t needed, const char *what) {
  cl_context owner;
  size_t size;
  cl_int code;

  if (buffer == NULL)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT, "the %s buffer is NULL", what);
  code = clGetMemObjectInfo(buffer, CL_MEM_CONTEXT, sizeof owner, &owner,
                            NULL);
  if (code == CL_SUCCESS)
    code = clGetMemObjectInfo(buffer, CL_MEM_SIZE, sizeof size, &size, NULL);
  if (code != CL_SUCCESS)
    return gcl_fail_cl(code, "clGetMemObjectInfo on the %s buffer", what);

  if (owner != plan->context->devices[plan->device_index].cl_ctx)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "the %s buffer belongs to another OpenCL context than "
                    "the plan's device; create it with "
                    "gcl_context_cl_context()",
                    what);
  if (size < needed)
    return gcl_fail(GCL_ERROR_SHAPE_MISMATCH,
                    "the %s buffer holds %zu bytes but the plan needs %zu",
                    what, size, needed);
  return GCL_SUCCESS;
}

gcl_status gcl_plan_forward_cl(gcl_plan *plan, cl_mem input, cl_mem output,
                               cl_uint num_wait_events,
                               const cl_event *wait_list, cl_event *done) {
  cl_command_queue queue;
  gcl_status status;
  cl_int code;

  gcl_clear_error();
  if (plan == NULL)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "gcl_plan_forward_cl: plan must not be NULL");
  if ((num_wait_events > 0) != (wait_list != NULL))
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "gcl_plan_forward_cl: num_wait_events is %u but "
                    "wait_list is %s",
                    num_wait_events, wait_list == NULL ? "NULL" : "not NULL");
  if (done != NULL)
    *done = NULL;

  status = check_buffer(plan, input, plan->input_bytes, "input");
  if (status == GCL_SUCCESS)
    status = check_buffer(plan, output, plan->output_bytes, "output");
  if (status != GCL_SUCCESS)
    return status;

  queue = plan->context->devices[plan->device_index].queue;
  if (num_wait_events > 0) {
    code = clEnqueueBarrierWithWaitList(queue, num_wait_events, wait_list,
                                        NULL);
    if (code != CL_SUCCESS)
      return gcl_fail_cl(code, "waiting on the caller's events");
  }

  {
    gcl_launch launch = {queue, NULL};
    gcl_tensor_view input_view = {input, 0, plan->input_bytes /
                                                sizeof(float) /
                                                (size_t)plan->geometry.batch};
    gcl_tensor_view output_view = {output, 0,
                                   plan->output_bytes / sizeof(float) /
                                       (size_t)plan->geometry.batch};

    status = plan->algo->enqueue(plan->algo_state, &launch, &input_view,
                                 &output_view);
  }
  if (status != GCL_SUCCESS)
    return status;

  if (done != NULL) {
    code = clEnqueueMarkerWithWaitList(queue, 0, NULL, done);
    if (code != CL_SUCCESS)
      return gcl_fail_cl(code, "clEnqueueMarkerWithWaitList");
  }
  code = clFlush(queue);
  if (code != CL_SUCCESS)
    return gcl_fail_cl(code, "clFlush");
  return GCL_SUCCESS;
}

static gcl_status ensure_staging(gcl_plan *plan) {
  gcl_status status = GCL_SUCCESS;

  if (plan->host_input == NULL)
    status = gcl_create_buffer(plan->context, plan->device_index,
                               plan->input_bytes, NULL, "input tensor",
                               &plan->host_input);
  if (status == GCL_SUCCESS && plan->host_output == NULL)
    status = gcl_create_buffer(plan->context, plan->device_index,
                               plan->output_bytes, NULL, "output tensor",
                               &plan->host_output);
  return status;
}

gcl_status gcl_plan_forward(gcl_plan *plan, const float *input,
                            float *output) {
  cl_command_queue queue;
  gcl_status status;
  cl_int code;

  gcl_clear_error();
  if (plan == NULL || input == NULL || output == NULL)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "gcl_plan_forward: plan, input and output must not be "
                    "NULL");
  status = ensure_staging(plan);
  if (status != GCL_SUCCESS)
    return status;

  queue = plan->context->devices[plan->device_index].queue;
  code = clEnqueueWriteBuffer(queue, plan->host_input, CL_FALSE, 0,
                              plan->input_bytes, input, 0, NULL, NULL);
  if (code != CL_SUCCESS)
    return gcl_fail_cl(code, "copying the input to the device");

  status = gcl_plan_forward_cl(plan, plan->host_input, plan->host_output, 0,
                               NULL, NULL);
  if (status != GCL_SUCCESS) {
    clFinish(queue);
    return status;
  }

  code = clEnqueueReadBuffer(queue, plan->host_output, CL_TRUE, 0,
                             plan->output_bytes, output, 0, NULL, NULL);
  if (code != CL_SUCCESS)
    return gcl_fail_cl(code, "copying the output from the device");
  return GCL_SUCCESS;
}
