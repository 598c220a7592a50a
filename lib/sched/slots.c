/*
 * Preparing a plan's slots: each gets its queue, its share of the weights,
 * its algorithm state and, off the first device, its own input and output
 * slices.
 */
#include "conv/plan.h"

#include "algo/algo_common.h"
#include "util/alloc.h"
#include "util/cl_calls.h"
#include "util/cl_objects.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>

static gcl_status open_queue(gcl_plan *plan, gcl_slot *slot) {
  gcl_device_slot *device = &plan->context->devices[slot->info.device_index];
  cl_int code;

  if (slot->info.queue_index == 0) {
    slot->queue = device->queue;
    return GCL_SUCCESS;
  }
  slot->queue = gcl_clCreateCommandQueue(device->cl_ctx, device->device,
                                         CL_QUEUE_PROFILING_ENABLE, &code);
  if (slot->queue == NULL)
    return gcl_fail_cl(code, "creating queue %u on device '%s'",
                       slot->info.queue_index, device->info.device_name);
  gcl_cl_object_created(GCL_CL_QUEUE);
  slot->owns_queue = 1;
  return GCL_SUCCESS;
}

/* Largest divisor of images from 2 to 8, or 1: the parts a remote slot's
 * batch runs in, so copies of one part overlap the compute of another. */
static int64_t chunk_count(int64_t images) {
  for (int64_t parts = 8; parts >= 2; parts--) {
    if (images % parts == 0)
      return parts;
  }
  return 1;
}

static gcl_status open_copy_queue(gcl_plan *plan, gcl_slot *slot) {
  gcl_device_slot *device = &plan->context->devices[slot->info.device_index];
  cl_int code;

  slot->copy_queue = gcl_clCreateCommandQueue(device->cl_ctx, device->device,
                                              CL_QUEUE_PROFILING_ENABLE, &code);
  if (slot->copy_queue == NULL)
    return gcl_fail_cl(code, "creating a copy queue on device '%s'",
                       device->info.device_name);
  gcl_cl_object_created(GCL_CL_QUEUE);
  return GCL_SUCCESS;
}

static gcl_status prepare_slot(gcl_plan *plan, const gcl_conv *conv,
                               gcl_slot *slot) {
  const gcl_geometry *full = &plan->geometry;
  size_t first_output = (size_t)slot->info.output_channel_begin;
  /* A transposed layer's weight rows follow its input channels. */
  size_t first_row = full->transposed
                         ? (size_t)slot->info.input_channel_begin *
                               (size_t)full->outputs_per_group
                         : first_output * (size_t)full->channels_per_group;
  const float *weights =
      conv->weights + first_row * (size_t)full->kernel_size;
  const float *bias = conv->bias != NULL ? conv->bias + first_output : NULL;
  size_t device = slot->info.device_index;
  gcl_status status;

  gcl_slot_geometry(full, &slot->info, &slot->geometry);
  slot->chunks = 1;
  if (device != 0) {
    slot->chunks = chunk_count(slot->geometry.batch);
    slot->geometry.batch /= slot->chunks;
  }
  slot->trace.device_index = device;
  slot->trace.queue_index = slot->info.queue_index;
  slot->copy_trace.device_index = device;
  slot->copy_trace.queue_index = GCL_COPY_QUEUE_ROW + slot->info.queue_index;

  status = open_queue(plan, slot);
  if (status == GCL_SUCCESS && device != 0)
    status = open_copy_queue(plan, slot);
  if (status == GCL_SUCCESS)
    status = plan->algo->prepare(&slot->geometry, plan->context, device,
                                 weights, bias, &slot->algo_state);
  if (status == GCL_SUCCESS && device != 0)
    status = gcl_create_buffer(plan->context, device, slot->info.input_bytes,
                               NULL, "input slice", &slot->input);
  if (status == GCL_SUCCESS && device != 0)
    status = gcl_create_buffer(plan->context, device,
                               slot->info.output_bytes, NULL, "output slice",
                               &slot->output);
  return status;
}

/* Names the device of a failed slot in front of the message, and keeps
 * the OpenCL code behind it. */
static gcl_status name_device(gcl_plan *plan, const gcl_slot *slot,
                              gcl_status status) {
  const gcl_device_info *info =
      &plan->context->devices[slot->info.device_index].info;
  cl_int code = gcl_last_cl_error();
  char message[2048];

  snprintf(message, sizeof message, "%s", gcl_last_error());
  status = gcl_fail(status, "device %zu '%s' (groups %lld to %lld): %s",
                    slot->info.device_index, info->device_name,
                    (long long)slot->info.group_begin,
                    (long long)slot->info.group_end - 1, message);
  gcl_set_cl_error(code);
  return status;
}

gcl_status gcl_slots_prepare(gcl_plan *plan, const gcl_conv *conv,
                             const gcl_plan_options *options) {
  gcl_target targets[GCL_MAX_SLOTS];
  gcl_slot_info infos[GCL_MAX_SLOTS];
  size_t target_count = 0;
  gcl_status status;

  status = gcl_schedule_targets(plan, conv, options, targets, &target_count);
  if (status != GCL_SUCCESS)
    return status;

  plan->slot_count = gcl_place(&plan->geometry, targets, target_count, infos);
  plan->slots = gcl_calloc(plan->slot_count, sizeof *plan->slots);
  if (plan->slots == NULL) {
    plan->slot_count = 0;
    return gcl_fail(GCL_ERROR_OUT_OF_MEMORY, "out of host memory");
  }

  for (size_t i = 0; i < plan->slot_count; i++) {
    plan->slots[i].info = infos[i];
    status = prepare_slot(plan, conv, &plan->slots[i]);
    if (status != GCL_SUCCESS)
      return name_device(plan, &plan->slots[i], status);
  }
  return GCL_SUCCESS;
}

void gcl_slots_release(gcl_plan *plan) {
  for (size_t i = 0; i < plan->slot_count; i++) {
    gcl_slot *slot = &plan->slots[i];

    if (slot->queue != NULL)
      clFinish(slot->queue);
    if (slot->copy_queue != NULL) {
      clFinish(slot->copy_queue);
      gcl_release_queue(slot->copy_queue);
    }
    gcl_trace_free(&slot->trace);
    gcl_trace_free(&slot->copy_trace);
    if (plan->algo != NULL)
      plan->algo->release(slot->algo_state);
    gcl_release_mem(slot->input);
    gcl_release_mem(slot->output);
    if (slot->owns_queue)
      gcl_release_queue(slot->queue);
  }
  gcl_free(plan->slots);
  plan->slots = NULL;
  plan->slot_count = 0;
}
