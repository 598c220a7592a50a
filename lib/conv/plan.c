#include "conv/plan.h"

#include "algo/algo_common.h"
#include "conv/backward.h"
#include "tune/autotune.h"
#include "util/alloc.h"
#include "util/cl_objects.h"
#include "util/error.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void gcl_plan_options_init(gcl_plan_options *options) {
  if (options == NULL)
    return;
  memset(options, 0, sizeof *options);
  options->algorithm = GCL_ALGORITHM_AUTO;
  options->schedule = GCL_SCHEDULE_AUTO;
  options->queues = 2;
}

static size_t tensor_bytes(int rank, const int64_t *shape) {
  size_t count = 1;

  for (int i = 0; i < rank; i++)
    count *= (size_t)shape[i];
  return count * sizeof(float);
}

/*
 * Picks the requested algorithm, or for GCL_ALGORITHM_AUTO the supported one
 * with the smallest estimated time, the earlier in registry order on ties,
 * among those that fit the first device at least one image of one group at
 * a time.
 */
static gcl_status choose_algorithm(gcl_plan *plan, gcl_algorithm requested) {
  const gcl_device_info *device =
      &plan->context->devices[plan->device_index].info;
  char reason[256] = "";
  const gcl_algo *algo;

  if (requested == GCL_ALGORITHM_AUTO) {
    const gcl_algo *list[GCL_ALGORITHM_COUNT];
    size_t count = gcl_algo_list(list, GCL_ALGORITHM_COUNT);
    double best_seconds = 0.0;
    char too_large[512] = "";

    plan->algo = NULL;
    for (size_t i = 0; i < count && i < GCL_ALGORITHM_COUNT; i++) {
      double seconds;

      if (!list[i]->supports(&plan->geometry, device, reason, sizeof reason))
        continue;
      if (!gcl_split_feasible(plan->context, &plan->geometry, list[i], 0,
                              reason, sizeof reason)) {
        if (too_large[0] == '\0')
          snprintf(too_large, sizeof too_large, "with %s, %s",
                   list[i]->name, reason);
        continue;
      }
      seconds = list[i]->estimate_seconds(&plan->geometry, device);
      GCL_LOG_DEBUG("algorithm %s: estimated %.3g s", list[i]->name,
                    seconds);
      if (plan->algo == NULL || seconds < best_seconds) {
        plan->algo = list[i];
        best_seconds = seconds;
      }
    }
    if (plan->algo == NULL && too_large[0] != '\0')
      return gcl_fail(GCL_ERROR_OUT_OF_MEMORY,
                      "no algorithm fits this layer on device '%s' even one "
                      "image of one group at a time: %s; use a smaller "
                      "input or a device with more memory",
                      device->device_name, too_large);
    if (plan->algo == NULL)
      return gcl_fail(GCL_ERROR_UNSUPPORTED,
                      "no algorithm can run this layer on device '%s'; the "
                      "last one declined: %s",
                      device->device_name, reason);
    return GCL_SUCCESS;
  }

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

/*
 * Picks the algorithm: the caller's, or for auto a fresh measurement
 * (options.tune), the tuning database's winner, or the cost model's choice.
 */
static gcl_status select_algorithm(gcl_plan *plan, const gcl_conv *conv,
                                   const gcl_plan_options *options) {
  if (options->algorithm != GCL_ALGORITHM_AUTO)
    return choose_algorithm(plan, options->algorithm);
  if (options->tune)
    return gcl_tune_algorithms(plan, conv, &plan->algo);
  plan->algo = gcl_tuned_algorithm(plan);
  if (plan->algo != NULL)
    return GCL_SUCCESS;
  return choose_algorithm(plan, GCL_ALGORITHM_AUTO);
}

/* Replaces the output's spatial sizes with smaller ones. */
static gcl_status resize_output(gcl_plan *plan, const int64_t *output_shape) {
  gcl_geometry *g = &plan->geometry;
  int offset = GCL_MAX_SPATIAL_DIMS - g->spatial_dims;

  for (int axis = 0; axis < g->spatial_dims; axis++) {
    int64_t size = output_shape[2 + axis];

    if (size < 1 || size > plan->output_shape[2 + axis])
      return gcl_fail(GCL_ERROR_SHAPE_MISMATCH,
                      "internal: output size %lld on the %s axis is outside "
                      "1 to %lld",
                      (long long)size, gcl_axis_name(g->spatial_dims, axis),
                      (long long)plan->output_shape[2 + axis]);
    plan->output_shape[2 + axis] = size;
    g->out[offset + axis] = size;
  }
  g->out_size = g->out[0] * g->out[1] * g->out[2];
  return GCL_SUCCESS;
}

static gcl_status init_shapes(gcl_plan *plan, const gcl_conv *conv, int rank,
                              const int64_t *input_shape,
                              const int64_t *output_shape) {
  gcl_status status = gcl_geometry_init(&conv->desc, rank, input_shape,
                                        &plan->geometry);

  if (status != GCL_SUCCESS)
    return status;
  memcpy(plan->input_shape, input_shape, (size_t)rank * sizeof *input_shape);
  gcl_conv_output_shape(&conv->desc, rank, input_shape, plan->output_shape);
  if (output_shape != NULL) {
    status = resize_output(plan, output_shape);
    if (status != GCL_SUCCESS)
      return status;
  }
  plan->input_bytes = tensor_bytes(rank, plan->input_shape);
  plan->output_bytes = tensor_bytes(rank, plan->output_shape);
  return GCL_SUCCESS;
}

gcl_status gcl_plan_create(gcl_conv *conv, int rank,
                           const int64_t *input_shape,
                           const gcl_plan_options *options, gcl_plan **plan) {
  gcl_clear_error();
  if (conv == NULL || input_shape == NULL || plan == NULL)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "gcl_plan_create: conv, input_shape and plan must not "
                    "be NULL");
  return gcl_plan_create_sized(conv, rank, input_shape, NULL, options, plan);
}

gcl_status gcl_plan_create_sized(gcl_conv *conv, int rank,
                                 const int64_t *input_shape,
                                 const int64_t *output_shape,
                                 const gcl_plan_options *options,
                                 gcl_plan **plan) {
  gcl_plan_options defaults;
  gcl_plan *created;
  gcl_status status;

  *plan = NULL;
  if (options == NULL) {
    gcl_plan_options_init(&defaults);
    options = &defaults;
  }

  created = gcl_calloc(1, sizeof *created);
  if (created == NULL)
    return gcl_fail(GCL_ERROR_OUT_OF_MEMORY, "out of host memory");
  if (pthread_mutex_init(&created->lock, NULL) != 0) {
    free(created);
    return gcl_fail(GCL_ERROR_OUT_OF_MEMORY,
                    "could not create the plan's mutex");
  }
  created->context = conv->context;
  created->conv = conv;
  created->options = *options;
  if (options->device_throughput != NULL) {
    size_t count = gcl_context_device_count(conv->context);

    created->device_throughput = gcl_malloc(count * sizeof(double));
    if (created->device_throughput == NULL) {
      gcl_free(created);
      return gcl_fail(GCL_ERROR_OUT_OF_MEMORY, "out of host memory");
    }
    memcpy(created->device_throughput, options->device_throughput,
           count * sizeof(double));
    created->options.device_throughput = created->device_throughput;
  }
  created->device_index = 0;
  created->rank = rank;
  created->profile = options->profile != 0;

  status = init_shapes(created, conv, rank, input_shape, output_shape);
  if (status == GCL_SUCCESS)
    status = select_algorithm(created, conv, options);
  if (status == GCL_SUCCESS)
    status = gcl_slots_prepare(created, conv, options);
  if (status == GCL_SUCCESS && options->backward)
    status = gcl_backward_prepare(created, options);
  if (status != GCL_SUCCESS) {
    gcl_plan_destroy(created);
    return status;
  }

  GCL_LOG_INFO("planned %s over %zu slot(s) for %lld x %lld channels, "
               "group %lld",
               created->algo->name, created->slot_count,
               (long long)created->geometry.batch,
               (long long)created->geometry.channels,
               (long long)created->geometry.group);
  *plan = created;
  return GCL_SUCCESS;
}

void gcl_plan_destroy(gcl_plan *plan) {
  if (plan == NULL)
    return;
  gcl_backward_release(plan->backward);
  gcl_slots_release(plan);
  gcl_trace_free(&plan->main_trace);
  gcl_release_mem(plan->host_input);
  gcl_release_mem(plan->host_output);
  gcl_free(plan->scratch_input);
  gcl_free(plan->scratch_output);
  gcl_free(plan->device_throughput);
  pthread_mutex_destroy(&plan->lock);
  gcl_free(plan);
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

gcl_schedule_policy gcl_plan_schedule(const gcl_plan *plan) {
  return plan == NULL ? GCL_SCHEDULE_AUTO : plan->schedule;
}

size_t gcl_plan_slot_count(const gcl_plan *plan) {
  return plan == NULL ? 0 : plan->slot_count;
}

gcl_status gcl_plan_slot_info(const gcl_plan *plan, size_t index,
                              gcl_slot_info *info) {
  gcl_clear_error();
  if (plan == NULL || info == NULL)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "gcl_plan_slot_info: plan and info must not be NULL");
  if (index >= plan->slot_count)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "slot index %zu is out of range; the plan has %zu slots",
                    index, plan->slot_count);
  *info = plan->slots[index].info;
  return GCL_SUCCESS;
}

gcl_status gcl_plan_split_info(const gcl_plan *plan, gcl_split_info *info) {
  gcl_clear_error();
  if (plan == NULL || info == NULL)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "gcl_plan_split_info: plan and info must not be NULL");
  memset(info, 0, sizeof *info);
  info->split = plan->split.active;
  snprintf(info->reason, sizeof info->reason, "%s", plan->split.reason);
  for (size_t i = 0; i < plan->slot_count; i++) {
    const gcl_slot *slot = &plan->slots[i];

    if (slot->images_per_step > info->images_per_step)
      info->images_per_step = slot->images_per_step;
    if (slot->steps > info->steps)
      info->steps = slot->steps;
    if ((int64_t)slot->part_count > info->parts)
      info->parts = (int64_t)slot->part_count;
    for (size_t j = 0; j < slot->part_count; j++) {
      if (slot->parts[j].geometry.group > info->groups_per_part)
        info->groups_per_part = slot->parts[j].geometry.group;
    }
  }
  for (size_t d = 0; plan->device_bytes != NULL &&
                     d < plan->context->device_count;
       d++) {
    if (plan->device_bytes[d] > info->max_device_bytes)
      info->max_device_bytes = plan->device_bytes[d];
  }
  return GCL_SUCCESS;
}

gcl_status gcl_plan_tuning_results(const gcl_plan *plan,
                                   gcl_tuning_result *results,
                                   size_t capacity, size_t *count) {
  gcl_clear_error();
  if (plan == NULL || count == NULL || (results == NULL && capacity > 0))
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "gcl_plan_tuning_results: plan and count must not be "
                    "NULL, nor results when capacity is above 0");
  *count = plan->tuning_count;
  for (size_t i = 0; i < plan->tuning_count && i < capacity; i++)
    results[i] = plan->tuning[i];
  return GCL_SUCCESS;
}
