/*
 * The weight and bias gradients of a plan whose tensors do not fit its
 * devices whole. Each slot's groups run in the plan's group parts and its
 * images in steps that fit next to the plan's own buffers. The host packs
 * each step's slices of the input and the output gradient and copies them
 * to the slot's device, where the gradient kernels reduce them. The host
 * adds the steps' results in a fixed order (slot, part, step), so repeated
 * calls give bitwise the same sums. Every copy blocks, so the steps of
 * different devices do not overlap.
 */
#include "conv/backward_split.h"

#include "algo/algo_common.h"
#include "runtime/memory_caps.h"
#include "util/alloc.h"
#include "util/cl_objects.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- sizes ----------------------------------------------------------------- */

static int64_t largest_part(const gcl_slot *slot) {
  int64_t largest = 0;

  for (size_t j = 0; j < slot->part_count; j++) {
    int64_t groups = slot->parts[j].group_end - slot->parts[j].group_begin;

    if (groups > largest)
      largest = groups;
  }
  return largest;
}

static uint64_t slice_bytes(const gcl_plan *plan, int64_t groups,
                            int64_t images, int output) {
  const gcl_geometry *g = &plan->geometry;
  int64_t channels = groups * (output ? g->outputs_per_group
                                      : g->channels_per_group);

  return (uint64_t)(images * channels *
                    (output ? g->out_size : g->in_size)) *
         sizeof(float);
}

/* Bytes of one part's weight gradient; its bias gradient is separate. */
static uint64_t part_weight_bytes(const gcl_plan *plan, int64_t groups) {
  const gcl_geometry *g = &plan->geometry;

  return (uint64_t)(groups * g->outputs_per_group * g->channels_per_group *
                    g->kernel_size) *
         sizeof(float);
}

/* The largest buffer and the total one slot adds with `images` per step. */
static void slot_needs(const gcl_plan *plan, const gcl_slot *slot,
                       int64_t images, uint64_t *largest, uint64_t *total) {
  int64_t groups = largest_part(slot);
  uint64_t in = slice_bytes(plan, groups, images, 0);
  uint64_t out = slice_bytes(plan, groups, images, 1);

  *largest = in > out ? in : out;
  if (part_weight_bytes(plan, groups) > *largest)
    *largest = part_weight_bytes(plan, groups);
  *total = in + out;
  for (size_t j = 0; j < slot->part_count; j++) {
    int64_t part = slot->parts[j].group_end - slot->parts[j].group_begin;

    *total += part_weight_bytes(plan, part) +
              (uint64_t)(part * plan->geometry.outputs_per_group) *
                  sizeof(float);
  }
}

static uint64_t budget_of(const gcl_plan *plan, size_t device) {
  const gcl_device_slot *slot = &plan->context->devices[device];
  uint64_t reserved;

  pthread_mutex_lock(&plan->context->lock);
  reserved = slot->reserved_bytes;
  pthread_mutex_unlock(&plan->context->lock);
  return slot->info.global_mem_bytes > reserved
             ? slot->info.global_mem_bytes - reserved
             : 0;
}

/*
 * Returns 1 if `images` per step fit every device, else 0 with the limit
 * it breaks in reason. The plan's own bytes are already reserved in the
 * context, so the budget is what remains of global memory.
 */
static int step_fits(const gcl_plan *plan, int64_t images, uint64_t *bytes,
                     char *reason, size_t reason_size) {
  size_t devices = plan->context->device_count;

  memset(bytes, 0, devices * sizeof *bytes);
  for (size_t i = 0; i < plan->slot_count; i++) {
    const gcl_slot *slot = &plan->slots[i];
    const gcl_device_info *info =
        &plan->context->devices[slot->info.device_index].info;
    uint64_t largest, total;

    slot_needs(plan, slot, images, &largest, &total);
    if (largest > info->max_alloc_bytes) {
      snprintf(reason, reason_size,
               "a gradient buffer needs %llu bytes, more than device %zu "
               "'%s' allows in one buffer (%llu bytes)",
               (unsigned long long)largest, slot->info.device_index,
               info->device_name,
               (unsigned long long)info->max_alloc_bytes);
      return 0;
    }
    bytes[slot->info.device_index] += total;
  }
  for (size_t d = 0; d < devices; d++) {
    if (bytes[d] > budget_of(plan, d)) {
      snprintf(reason, reason_size,
               "the gradient buffers need %llu bytes on device %zu '%s', "
               "more than its global memory less the plans' buffers "
               "(%llu bytes)",
               (unsigned long long)bytes[d], d,
               plan->context->devices[d].info.device_name,
               (unsigned long long)budget_of(plan, d));
      return 0;
    }
  }
  return 1;
}

int gcl_backward_needs_split(const gcl_plan *plan) {
  const gcl_device_info *info = &plan->context->devices[0].info;
  uint64_t full = (uint64_t)plan->input_bytes + plan->output_bytes;
  uint64_t weights = (uint64_t)plan->conv->weight_count * sizeof(float);

  if (plan->split.active)
    return 1;
  return plan->input_bytes > info->max_alloc_bytes ||
         plan->output_bytes > info->max_alloc_bytes ||
         full + weights > budget_of(plan, 0);
}

/* Chooses the images per step: the largest slot's batch, halved until the
 * step fits. Reserves the step's bytes for the plan. */
static gcl_status choose_step(gcl_plan *plan, int64_t *images) {
  uint64_t *bytes = gcl_calloc(plan->context->device_count, sizeof *bytes);
  char reason[512] = "", caps[256];
  int64_t largest_batch = 1;

  if (bytes == NULL)
    return gcl_fail(GCL_ERROR_OUT_OF_MEMORY, "out of host memory");
  for (size_t i = 0; i < plan->slot_count; i++) {
    const gcl_slot_info *info = &plan->slots[i].info;

    if (info->batch_end - info->batch_begin > largest_batch)
      largest_batch = info->batch_end - info->batch_begin;
  }
  for (*images = largest_batch; *images >= 1; *images /= 2) {
    if (step_fits(plan, *images, bytes, reason, sizeof reason))
      break;
  }
  if (*images >= 1) {
    for (size_t d = 0; d < plan->context->device_count; d++)
      gcl_plan_add_reserved(plan, d, bytes[d]);
  }
  gcl_free(bytes);
  if (*images >= 1)
    return GCL_SUCCESS;
  return gcl_fail(GCL_ERROR_OUT_OF_MEMORY,
                  "the weight and bias gradients do not fit even one image "
                  "at a time: %s; free device memory, use a smaller input or "
                  "a device with more memory%s",
                  reason, gcl_memory_caps_text(caps, sizeof caps));
}

/* ---- preparation ----------------------------------------------------------- */

static gcl_status host_floats(float **array, uint64_t bytes,
                              const char *what) {
  *array = gcl_malloc(bytes > 0 ? (size_t)bytes : sizeof(float));
  if (*array == NULL)
    return gcl_fail(GCL_ERROR_OUT_OF_MEMORY,
                    "out of host memory for the %s (%llu bytes)", what,
                    (unsigned long long)bytes);
  return GCL_SUCCESS;
}

static gcl_status prepare_part(gcl_plan *plan, const gcl_slot *slot,
                               const gcl_part *forward, int64_t images,
                               split_part *part) {
  size_t device = slot->info.device_index;
  int64_t groups = forward->group_end - forward->group_begin;
  gcl_geometry sub;
  gcl_status status;

  part->group_begin = forward->group_begin;
  part->group_end = forward->group_end;
  gcl_split_part_geometry(&plan->geometry, groups, images, &sub);
  gcl_geometry_relation(&sub, &part->relation);
  status = gcl_grad_kernels_build(plan, &part->relation, device,
                                  &part->weight_kernel, &part->bias_kernel,
                                  part->weight_global, part->weight_local);
  if (status == GCL_SUCCESS)
    status = gcl_create_buffer(plan->context, device,
                               part_weight_bytes(plan, groups), NULL,
                               "weight gradient", &part->grad_weights);
  if (status == GCL_SUCCESS && plan->geometry.bias_term)
    status = gcl_create_buffer(
        plan->context, device,
        (size_t)(groups * plan->geometry.outputs_per_group) * sizeof(float),
        NULL, "bias gradient", &part->grad_bias);
  return status;
}

static gcl_status prepare_slot(gcl_plan *plan, const gcl_slot *slot,
                               int64_t images, split_slot *ss) {
  size_t device = slot->info.device_index;
  uint64_t in, out;
  gcl_status status = GCL_SUCCESS;

  ss->largest_groups = largest_part(slot);
  in = slice_bytes(plan, ss->largest_groups, images, 0);
  out = slice_bytes(plan, ss->largest_groups, images, 1);
  ss->parts = gcl_calloc(slot->part_count, sizeof *ss->parts);
  if (ss->parts == NULL)
    return gcl_fail(GCL_ERROR_OUT_OF_MEMORY, "out of host memory");
  ss->part_count = slot->part_count;
  for (size_t j = 0; j < slot->part_count && status == GCL_SUCCESS; j++)
    status = prepare_part(plan, slot, &slot->parts[j], images, &ss->parts[j]);

  if (status == GCL_SUCCESS)
    status = gcl_create_buffer(plan->context, device, (size_t)in, NULL,
                               "input slice", &ss->input);
  if (status == GCL_SUCCESS)
    status = gcl_create_buffer(plan->context, device, (size_t)out, NULL,
                               "output gradient slice", &ss->grad_output);
  if (status == GCL_SUCCESS)
    status = host_floats(&ss->host_input, in, "input slice");
  if (status == GCL_SUCCESS)
    status = host_floats(&ss->host_grad_output, out, "output gradient slice");
  if (status == GCL_SUCCESS)
    status = host_floats(&ss->host_weights,
                         part_weight_bytes(plan, ss->largest_groups),
                         "weight gradient");
  if (status == GCL_SUCCESS)
    status = host_floats(&ss->host_bias,
                         (uint64_t)(ss->largest_groups *
                                    plan->geometry.outputs_per_group) *
                             sizeof(float),
                         "bias gradient");
  return status;
}

gcl_status gcl_backward_split_prepare(gcl_plan *plan,
                                      gcl_backward *backward) {
  struct gcl_backward_split *split = gcl_calloc(1, sizeof *split);
  gcl_status status;

  if (split == NULL)
    return gcl_fail(GCL_ERROR_OUT_OF_MEMORY, "out of host memory");
  backward->split = split;
  split->slots = gcl_calloc(plan->slot_count, sizeof *split->slots);
  if (split->slots == NULL)
    return gcl_fail(GCL_ERROR_OUT_OF_MEMORY, "out of host memory");
  split->slot_count = plan->slot_count;

  status = choose_step(plan, &split->images_per_step);
  for (size_t i = 0; i < plan->slot_count && status == GCL_SUCCESS; i++)
    status = prepare_slot(plan, &plan->slots[i], split->images_per_step,
                          &split->slots[i]);
  return status;
}

static void release_part(split_part *part) {
  gcl_release_kernel(part->weight_kernel);
  gcl_release_kernel(part->bias_kernel);
  gcl_release_mem(part->grad_weights);
  gcl_release_mem(part->grad_bias);
}

void gcl_backward_split_release(struct gcl_backward_split *split) {
  if (split == NULL)
    return;
  for (size_t i = 0; i < split->slot_count; i++) {
    split_slot *ss = &split->slots[i];

    for (size_t j = 0; j < ss->part_count; j++)
      release_part(&ss->parts[j]);
    gcl_free(ss->parts);
    gcl_release_mem(ss->input);
    gcl_release_mem(ss->grad_output);
    gcl_free(ss->host_input);
    gcl_free(ss->host_grad_output);
    gcl_free(ss->host_weights);
    gcl_free(ss->host_bias);
  }
  gcl_free(split->slots);
  gcl_free(split);
}
