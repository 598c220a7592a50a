/*
 * Preparing a plan's slots: the memory check and split, then for each slot
 * its queue, one algorithm state with its share of the weights per group
 * part and, for sliced slots, its input and output slices.
 */
#include "conv/plan.h"

#include "algo/algo_common.h"
#include "util/alloc.h"
#include "util/cl_calls.h"
#include "util/cl_objects.h"
#include "util/error.h"
#include "util/log.h"

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

/* Prepares the algorithm state of one part with its groups' weights. */
static gcl_status prepare_part(gcl_plan *plan, const gcl_conv *conv,
                               const gcl_slot *slot, gcl_part *part) {
  const gcl_geometry *full = &plan->geometry;
  size_t first_output =
      (size_t)(part->group_begin * full->outputs_per_group);
  /* A transposed layer's weight rows follow its input channels. */
  size_t first_row =
      full->transposed
          ? (size_t)(part->group_begin * full->channels_per_group) *
                (size_t)full->outputs_per_group
          : first_output * (size_t)full->channels_per_group;
  const float *weights =
      conv->weights + first_row * (size_t)full->kernel_size;
  const float *bias = conv->bias != NULL ? conv->bias + first_output : NULL;

  gcl_split_part_geometry(full, part->group_end - part->group_begin,
                          slot->images_per_step, &part->geometry);
  return plan->algo->prepare(&part->geometry, plan->context,
                             slot->info.device_index, weights, bias,
                             &part->algo_state);
}

/*
 * NOTE: every part keeps its state on the device for the plan's life. So
 * group parts lower the largest buffer, but not the sum of the parts'
 * weights and workspaces, which the memory check counts.
 */
static gcl_status prepare_parts(gcl_plan *plan, const gcl_conv *conv,
                                gcl_slot *slot) {
  int64_t count = gcl_split_part_count(&plan->split, &slot->info);
  gcl_status status = GCL_SUCCESS;

  slot->parts = gcl_calloc((size_t)count, sizeof *slot->parts);
  if (slot->parts == NULL)
    return gcl_fail(GCL_ERROR_OUT_OF_MEMORY,
                    "out of host memory for %lld group parts",
                    (long long)count);
  slot->part_count = (size_t)count;
  for (int64_t j = 0; j < count && status == GCL_SUCCESS; j++) {
    gcl_part *part = &slot->parts[j];

    gcl_split_part_groups(&plan->split, &slot->info, j, &part->group_begin,
                          &part->group_end);
    status = prepare_part(plan, conv, slot, part);
  }
  return status;
}

/* Allocates slices that hold slice_units units of the largest part. */
static gcl_status create_slices(gcl_plan *plan, gcl_slot *slot) {
  const gcl_geometry *g = &slot->parts[0].geometry;
  size_t rows = (size_t)(slot->slice_units * slot->images_per_step);
  size_t device = slot->info.device_index;
  gcl_status status;

  for (size_t j = 1; j < slot->part_count; j++) {
    if (slot->parts[j].geometry.group > g->group)
      g = &slot->parts[j].geometry;
  }
  status = gcl_create_buffer(plan->context, device,
                             rows * (size_t)(g->channels * g->in_size) *
                                 sizeof(float),
                             NULL, "input slice", &slot->input);
  if (status == GCL_SUCCESS)
    status = gcl_create_buffer(plan->context, device,
                               rows * (size_t)(g->num_output * g->out_size) *
                                   sizeof(float),
                               NULL, "output slice", &slot->output);
  return status;
}

static gcl_status prepare_slot(gcl_plan *plan, const gcl_conv *conv,
                               gcl_slot *slot) {
  size_t device = slot->info.device_index;
  gcl_status status;

  gcl_slot_geometry(&plan->geometry, &slot->info, &slot->geometry);
  slot->steps = gcl_split_step_count(&plan->split, &slot->info);
  slot->images_per_step = gcl_split_step_images(&plan->split, &slot->info);
  slot->sliced = gcl_split_sliced(&plan->split, &slot->info);
  slot->slice_units = gcl_split_slice_units(&plan->split, &slot->info);
  slot->trace.device_index = device;
  slot->trace.queue_index = slot->info.queue_index;
  slot->copy_trace.device_index = device;
  slot->copy_trace.queue_index = GCL_COPY_QUEUE_ROW + slot->info.queue_index;

  status = open_queue(plan, slot);
  if (status == GCL_SUCCESS && slot->sliced)
    status = open_copy_queue(plan, slot);
  if (status == GCL_SUCCESS)
    status = prepare_parts(plan, conv, slot);
  if (status == GCL_SUCCESS && slot->sliced)
    status = create_slices(plan, slot);
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

/* Adds (sign 1) or removes (sign -1) the plan's bytes from what the
 * context reserves on each device. */
static void reserve_memory(gcl_plan *plan, int sign) {
  gcl_context *context = plan->context;

  if (plan->device_bytes == NULL)
    return;
  pthread_mutex_lock(&context->lock);
  for (size_t d = 0; d < context->device_count; d++) {
    if (sign > 0)
      context->devices[d].reserved_bytes += plan->device_bytes[d];
    else
      context->devices[d].reserved_bytes -= plan->device_bytes[d];
  }
  pthread_mutex_unlock(&context->lock);
}

void gcl_plan_add_reserved(gcl_plan *plan, size_t device, uint64_t bytes) {
  if (plan->device_bytes == NULL)
    return;
  pthread_mutex_lock(&plan->context->lock);
  plan->device_bytes[device] += bytes;
  plan->context->devices[device].reserved_bytes += bytes;
  pthread_mutex_unlock(&plan->context->lock);
}

/* Chooses the split of the placement and reserves its memory. */
static gcl_status choose_split(gcl_plan *plan, const gcl_slot_info *infos,
                               size_t count) {
  uint64_t *bytes = gcl_calloc(plan->context->device_count, sizeof *bytes);
  gcl_status status;

  if (bytes == NULL)
    return gcl_fail(GCL_ERROR_OUT_OF_MEMORY, "out of host memory");
  status = gcl_split_choose(plan->context, &plan->geometry, plan->algo,
                            infos, count, &plan->split, bytes);
  if (status != GCL_SUCCESS) {
    gcl_free(bytes);
    return status;
  }
  plan->device_bytes = bytes;
  reserve_memory(plan, 1);
  if (plan->split.active)
    GCL_LOG_INFO("split into group parts of at most %lld and image steps "
                 "of at most %lld, because %s",
                 (long long)plan->split.groups_per_part,
                 (long long)plan->split.images_per_step, plan->split.reason);
  return GCL_SUCCESS;
}

gcl_status gcl_slots_prepare(gcl_plan *plan, const gcl_conv *conv,
                             const gcl_plan_options *options) {
  gcl_target targets[GCL_MAX_SLOTS];
  gcl_slot_info infos[GCL_MAX_SLOTS];
  size_t target_count = 0, slot_count;
  gcl_status status;

  status = gcl_schedule_targets(plan, conv, options, targets, &target_count);
  if (status != GCL_SUCCESS)
    return status;

  slot_count = gcl_place(&plan->geometry, targets, target_count, infos);
  status = choose_split(plan, infos, slot_count);
  if (status != GCL_SUCCESS)
    return status;
  plan->slot_count = slot_count;
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
    if (plan->algo != NULL) {
      for (size_t j = 0; j < slot->part_count; j++)
        plan->algo->release(slot->parts[j].algo_state);
    }
    gcl_free(slot->parts);
    gcl_release_mem(slot->input);
    gcl_release_mem(slot->output);
    if (slot->owns_queue)
      gcl_release_queue(slot->queue);
  }
  gcl_free(plan->slots);
  plan->slots = NULL;
  plan->slot_count = 0;
  reserve_memory(plan, -1);
  gcl_free(plan->device_bytes);
  plan->device_bytes = NULL;
}
