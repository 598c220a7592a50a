/*
 * Schedule policies: parsing, the automatic choice, and the targets each
 * policy places work on.
 */
#include "conv/plan.h"

#include "algo/algo_common.h"
#include "tune/measure.h"

#include "util/error.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Largest number of queues the queues policy accepts. */
#define GCL_MAX_QUEUES 64

gcl_status gcl_schedule_parse(const char *text, gcl_plan_options *options) {
  char tail;
  int queues;

  gcl_clear_error();
  if (text == NULL || options == NULL)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "gcl_schedule_parse: text and options must not be NULL");

  if (strcmp(text, "auto") == 0) {
    options->schedule = GCL_SCHEDULE_AUTO;
  } else if (strcmp(text, "single") == 0) {
    options->schedule = GCL_SCHEDULE_SINGLE;
  } else if (strcmp(text, "devices") == 0) {
    options->schedule = GCL_SCHEDULE_DEVICES;
  } else if (sscanf(text, "queues:%d%c", &queues, &tail) == 1) {
    if (queues < 1 || queues > GCL_MAX_QUEUES)
      return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                      "invalid schedule '%s': the number of queues must be "
                      "between 1 and %d",
                      text, GCL_MAX_QUEUES);
    options->schedule = GCL_SCHEDULE_QUEUES;
    options->queues = queues;
  } else {
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "invalid schedule '%s'; use auto, single, queues:N or "
                    "devices",
                    text);
  }
  return GCL_SUCCESS;
}

/*
 * The automatic choice. Several devices split a layer only when it is large
 * enough (10^8 multiply-accumulates) for the copies through host memory to
 * pay. On one device the plan keeps one queue: on PoCL a single kernel
 * already spreads over every core, and extra queues measured no faster
 * (docs/scheduling.md).
 * NOTE: GPUs, where one small per-group SGEMM may leave compute units idle,
 * were not measured; queues:N may pay there.
 */
static gcl_schedule_policy choose_policy(const gcl_plan *plan, int *queues) {
  *queues = 1;
  if (plan->context->device_count > 1 &&
      gcl_geometry_macs(&plan->geometry) >= 1e8)
    return GCL_SCHEDULE_DEVICES;
  return GCL_SCHEDULE_SINGLE;
}

/* Runs the whole layer (batch 1) on one device and returns FLOP/s. A
 * layer too large for the device runs one unit of its split instead. */
static gcl_status measure_device(gcl_plan *plan, const gcl_conv *conv,
                                 size_t device_index, double *throughput) {
  gcl_geometry probe = plan->geometry, unit;
  double seconds = 0.0;
  int64_t units = 1;
  gcl_status status;

  probe.batch = 1;
  status = gcl_split_probe(plan->context, &probe, plan->algo, device_index,
                           &unit, &units);
  if (status == GCL_SUCCESS)
    status = gcl_time_algorithm(plan->algo, &unit, plan->context,
                                device_index, conv->weights, conv->bias, 3,
                                &seconds);
  if (status == GCL_SUCCESS)
    *throughput = 2.0 * gcl_geometry_macs(&unit) / seconds;
  return status;
}

/* Returns the throughput of the first `devices` devices, measuring those
 * not yet known. */
static gcl_status device_throughputs(gcl_plan *plan, const gcl_conv *conv,
                                     size_t devices, double *throughput) {
  gcl_context *context = plan->context;
  gcl_status status = GCL_SUCCESS;

  for (size_t d = 0; d < devices && status == GCL_SUCCESS;
       d++) {
    double known;

    pthread_mutex_lock(&context->lock);
    known = context->devices[d].throughput;
    pthread_mutex_unlock(&context->lock);

    if (known <= 0.0) {
      status = measure_device(plan, conv, d, &known);
      if (status != GCL_SUCCESS)
        break;
      GCL_LOG_INFO("device %zu '%s' measured at %.2f GFLOP/s", d,
                   context->devices[d].info.device_name, known * 1e-9);
      pthread_mutex_lock(&context->lock);
      context->devices[d].throughput = known;
      pthread_mutex_unlock(&context->lock);
    }
    throughput[d] = known;
  }
  return status;
}

static gcl_status device_targets(gcl_plan *plan, const gcl_conv *conv,
                                 const gcl_plan_options *options,
                                 gcl_target *targets, size_t *count) {
  size_t devices = plan->context->device_count;
  double measured[GCL_MAX_SLOTS];
  gcl_status status = GCL_SUCCESS;

  if (devices > GCL_MAX_SLOTS)
    devices = GCL_MAX_SLOTS;
  if (options->device_throughput != NULL) {
    for (size_t d = 0; d < devices; d++) {
      if (!(options->device_throughput[d] > 0.0))
        return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                        "device_throughput[%zu] is %g; every device's "
                        "throughput must be positive",
                        d, options->device_throughput[d]);
      measured[d] = options->device_throughput[d];
    }
  } else {
    status = device_throughputs(plan, conv, devices, measured);
  }

  for (size_t d = 0; d < devices && status == GCL_SUCCESS; d++) {
    targets[d].device_index = d;
    targets[d].queue_index = 0;
    targets[d].throughput = measured[d];
  }
  *count = devices;
  return status;
}

gcl_status gcl_schedule_targets(gcl_plan *plan, const gcl_conv *conv,
                                const gcl_plan_options *options,
                                gcl_target *targets, size_t *count) {
  gcl_schedule_policy policy = options->schedule;
  int queues = options->queues;

  if (policy == GCL_SCHEDULE_AUTO)
    policy = choose_policy(plan, &queues);
  plan->schedule = policy;

  switch (policy) {
  case GCL_SCHEDULE_SINGLE:
    queues = 1;
    break;
  case GCL_SCHEDULE_QUEUES:
    if (queues < 1 || queues > GCL_MAX_QUEUES)
      return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                      "options.queues is %d; it must be between 1 and %d",
                      queues, GCL_MAX_QUEUES);
    break;
  case GCL_SCHEDULE_DEVICES:
    return device_targets(plan, conv, options, targets, count);
  default:
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "unknown schedule policy %d; use a gcl_schedule_policy "
                    "value",
                    (int)policy);
  }

  for (int q = 0; q < queues; q++) {
    targets[q].device_index = 0;
    targets[q].queue_index = (unsigned)q;
    targets[q].throughput = 1.0;
  }
  *count = (size_t)queues;
  return GCL_SUCCESS;
}
