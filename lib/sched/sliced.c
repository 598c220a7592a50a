#include "sched/sliced.h"

#include "util/alloc.h"
#include "util/cl_calls.h"
#include "util/cl_objects.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>

/* Most units whose compute events a slot keeps at once: the slices hold
 * up to 8 units (gcl_split_step_count), or one. */
#define MAX_PENDING_UNITS 8

/* One (part, step) unit of a sliced slot. */
typedef struct slice_unit {
  const gcl_part *part;
  int64_t first_image; /* absolute */
  size_t row;          /* first image row of the unit in the slices */
} slice_unit;

/* A unit's part of a full host tensor: one row of bytes per image. */
typedef struct unit_rect {
  size_t origin[3];
  size_t region[3];
  size_t row_pitch;
} unit_rect;

static slice_unit unit_at(const gcl_plan *plan, const gcl_slot *slot,
                          int64_t index) {
  slice_unit unit;

  unit.part = &slot->parts[index / slot->steps];
  unit.first_image =
      gcl_split_step_first(&plan->split, &slot->info, index % slot->steps);
  unit.row = (size_t)((index % slot->slice_units) * slot->images_per_step);
  return unit;
}

static unit_rect rect_of(const gcl_plan *plan, const gcl_slot *slot,
                         const slice_unit *unit, int output) {
  const gcl_geometry *g = &plan->geometry;
  size_t plane = (size_t)(output ? g->out_size : g->in_size) * sizeof(float);
  size_t per_group =
      (size_t)(output ? g->outputs_per_group : g->channels_per_group);
  size_t channels = (size_t)(output ? g->num_output : g->channels);
  size_t groups = (size_t)(unit->part->group_end - unit->part->group_begin);
  unit_rect rect;

  rect.origin[0] = (size_t)unit->part->group_begin * per_group * plane;
  rect.origin[1] = (size_t)unit->first_image;
  rect.origin[2] = 0;
  rect.region[0] = groups * per_group * plane;
  rect.region[1] = (size_t)slot->images_per_step;
  rect.region[2] = 1;
  rect.row_pitch = channels * plane;
  return rect;
}

/* Records an event the caller also keeps, for the timeline. */
static void trace_keep(gcl_trace *trace, const char *label, cl_event event) {
  cl_event *traced = gcl_trace_event(trace, label);

  if (traced != NULL && clRetainEvent(event) == CL_SUCCESS) {
    gcl_cl_object_created(GCL_CL_EVENT);
    *traced = event;
  }
}

static gcl_status write_unit(gcl_plan *plan, gcl_slot *slot,
                             const slice_unit *unit, const float *input,
                             cl_event *written) {
  unit_rect rect = rect_of(plan, slot, unit, 0);
  size_t slice_origin[3] = {0, unit->row, 0};
  cl_int code = gcl_clEnqueueWriteBufferRect(
      slot->copy_queue, slot->input, CL_FALSE, slice_origin, rect.origin,
      rect.region, rect.region[0], 0, rect.row_pitch, 0, input, 0, NULL,
      written);

  if (code == CL_SUCCESS)
    gcl_cl_event_created(written);
  if (code != CL_SUCCESS)
    return gcl_fail_cl(code, "copying the input slice to the device");
  if (plan->profile)
    trace_keep(&slot->copy_trace, "write input", *written);
  clFlush(slot->copy_queue);
  return GCL_SUCCESS;
}

/* Runs the unit's part once its input has arrived; marks its end. */
static gcl_status compute_unit(gcl_plan *plan, gcl_slot *slot,
                               const slice_unit *unit, cl_event written,
                               cl_event *computed) {
  const gcl_geometry *g = &unit->part->geometry;
  size_t in_image = (size_t)(g->channels * g->in_size);
  size_t out_image = (size_t)(g->num_output * g->out_size);
  gcl_tensor_view in_view = {slot->input, unit->row * in_image, in_image};
  gcl_tensor_view out_view = {slot->output, unit->row * out_image,
                              out_image};
  gcl_launch launch = {slot->queue, plan->profile ? &slot->trace : NULL};
  gcl_status status = GCL_SUCCESS;
  cl_int code;

  code = gcl_clEnqueueBarrierWithWaitList(slot->queue, 1, &written, NULL);
  if (code != CL_SUCCESS)
    return gcl_fail_cl(code, "making queue %u wait for its input",
                       slot->info.queue_index);
  status = plan->algo->enqueue(unit->part->algo_state, &launch, &in_view,
                               &out_view);
  if (status != GCL_SUCCESS)
    return status;
  code = gcl_clEnqueueMarkerWithWaitList(slot->queue, 0, NULL, computed);
  if (code == CL_SUCCESS)
    gcl_cl_event_created(computed);
  if (code != CL_SUCCESS)
    return gcl_fail_cl(code, "marking the end of images %lld to %lld",
                       (long long)unit->first_image,
                       (long long)(unit->first_image + slot->images_per_step -
                                   1));
  clFlush(slot->queue);
  return GCL_SUCCESS;
}

static gcl_status read_unit(gcl_plan *plan, gcl_slot *slot,
                            const slice_unit *unit, cl_event computed,
                            float *gathered) {
  unit_rect rect = rect_of(plan, slot, unit, 1);
  size_t slice_origin[3] = {0, unit->row, 0};
  gcl_trace *trace = plan->profile ? &slot->copy_trace : NULL;
  cl_event *event = gcl_trace_event(trace, "read output");
  cl_int code = gcl_clEnqueueReadBufferRect(
      slot->copy_queue, slot->output, CL_FALSE, slice_origin, rect.origin,
      rect.region, rect.region[0], 0, rect.row_pitch, 0, gathered, 1,
      &computed, event);

  if (code == CL_SUCCESS)
    gcl_cl_event_created(event);
  if (code != CL_SUCCESS)
    return gcl_fail_cl(code, "copying the output slice from the device");
  clFlush(slot->copy_queue);
  return GCL_SUCCESS;
}

static void release_event(cl_event *event) {
  gcl_release_event(*event);
  *event = NULL;
}

/* Reads back unit `index`, whose compute event waits in the ring. */
static gcl_status read_pending(gcl_plan *plan, gcl_slot *slot, int64_t index,
                               cl_event *computed, float *gathered) {
  slice_unit unit = unit_at(plan, slot, index);
  cl_event *event = &computed[index % slot->slice_units];
  gcl_status status = read_unit(plan, slot, &unit, *event, gathered);

  release_event(event);
  return status;
}

/*
 * Runs every unit of a sliced slot. Copies go to the copy queue in order
 * and the slices hold slice_units units, so a unit's output is read back
 * before the unit that reuses its place is written. With every unit in
 * the slices, all input copies go first and overlap the compute.
 * Releasing an event while commands still wait on it is safe: OpenCL keeps
 * it alive until they are done.
 */
static gcl_status run_sliced_slot(gcl_plan *plan, gcl_slot *slot,
                                  const float *input, float *gathered) {
  cl_event computed[MAX_PENDING_UNITS] = {NULL};
  int64_t units = (int64_t)slot->part_count * slot->steps;
  int64_t capacity = slot->slice_units;
  gcl_status status = GCL_SUCCESS;
  int64_t next_read = 0;

  for (int64_t u = 0; u < units && status == GCL_SUCCESS; u++) {
    slice_unit unit = unit_at(plan, slot, u);
    cl_event written = NULL;

    if (u >= capacity)
      status = read_pending(plan, slot, next_read++, computed, gathered);
    if (status == GCL_SUCCESS)
      status = write_unit(plan, slot, &unit, input, &written);
    if (status == GCL_SUCCESS)
      status = compute_unit(plan, slot, &unit, written,
                            &computed[u % capacity]);
    release_event(&written);
  }
  while (status == GCL_SUCCESS && next_read < units)
    status = read_pending(plan, slot, next_read++, computed, gathered);

  for (int64_t i = 0; i < MAX_PENDING_UNITS; i++)
    release_event(&computed[i]);
  return status;
}

/* Runs every sliced slot of one device, then waits for its queues. */
static void *run_device_job(void *argument) {
  gcl_device_job *job = argument;
  gcl_plan *plan = job->plan;
  gcl_status status = GCL_SUCCESS;

  for (size_t i = 0; i < plan->slot_count && status == GCL_SUCCESS; i++) {
    gcl_slot *slot = &plan->slots[i];

    if (slot->info.device_index == job->device_index)
      status = run_sliced_slot(plan, slot, job->input, job->gathered);
  }
  for (size_t i = 0; i < plan->slot_count; i++) {
    gcl_slot *slot = &plan->slots[i];
    cl_int code;

    if (slot->info.device_index != job->device_index)
      continue;
    code = gcl_clFinish(slot->queue);
    if (code == CL_SUCCESS)
      code = gcl_clFinish(slot->copy_queue);
    if (status == GCL_SUCCESS && code != CL_SUCCESS)
      status = gcl_fail_cl(code, "running on the device");
  }

  job->status = status;
  if (status != GCL_SUCCESS) {
    /* The message and code live in this thread; the caller's thread
     * reports them. */
    snprintf(job->message, sizeof job->message, "%s", gcl_last_error());
    job->code = gcl_last_cl_error();
  }
  return NULL;
}

int gcl_has_remote_slots(const gcl_plan *plan) {
  for (size_t i = 0; i < plan->slot_count; i++) {
    if (plan->slots[i].info.device_index != 0)
      return 1;
  }
  return 0;
}

gcl_status gcl_allocate_jobs(const gcl_plan *plan, gcl_device_job **jobs) {
  *jobs = NULL;
  if (!gcl_has_remote_slots(plan) && !plan->split.active)
    return GCL_SUCCESS;
  *jobs = gcl_calloc(plan->context->device_count, sizeof **jobs);
  if (*jobs == NULL)
    return gcl_fail(GCL_ERROR_OUT_OF_MEMORY,
                    "out of host memory for %zu device jobs",
                    plan->context->device_count);
  return GCL_SUCCESS;
}

static void init_job(gcl_device_job *job, gcl_plan *plan, size_t device,
                     const float *input, float *gathered) {
  job->plan = plan;
  job->device_index = device;
  job->input = input;
  job->gathered = gathered;
  job->status = GCL_SUCCESS;
  job->message[0] = '\0';
  job->code = CL_SUCCESS;
  job->started = 0;
}

gcl_status gcl_start_device_jobs(gcl_plan *plan, const float *input,
                                 float *gathered, gcl_device_job *jobs) {
  for (size_t d = 1; jobs != NULL && d < plan->context->device_count; d++) {
    gcl_device_job *job = &jobs[d];

    init_job(job, plan, d, input, gathered);
    for (size_t i = 0; i < plan->slot_count && !job->started; i++) {
      if (plan->slots[i].info.device_index != d)
        continue;
      if (pthread_create(&job->thread, NULL, run_device_job, job) != 0)
        return gcl_fail(GCL_ERROR_OUT_OF_MEMORY,
                        "could not start a host thread for device %zu", d);
      job->started = 1;
    }
  }
  return GCL_SUCCESS;
}

gcl_status gcl_run_first_device(gcl_plan *plan, const float *input,
                                float *gathered, gcl_device_job *jobs) {
  init_job(&jobs[0], plan, 0, input, gathered);
  run_device_job(&jobs[0]);
  return jobs[0].status;
}

gcl_status gcl_join_device_jobs(gcl_plan *plan, gcl_device_job *jobs,
                                gcl_status status) {
  for (size_t d = 1; jobs != NULL && d < plan->context->device_count; d++) {
    if (!jobs[d].started)
      continue;
    pthread_join(jobs[d].thread, NULL);
    if (status == GCL_SUCCESS && jobs[d].status != GCL_SUCCESS) {
      status = gcl_fail(jobs[d].status, "device %zu '%s': %s", d,
                        plan->context->devices[d].info.device_name,
                        jobs[d].message);
      gcl_set_cl_error(jobs[d].code);
    }
  }
  return status;
}

uint64_t gcl_sliced_bytes(const gcl_plan *plan, int first_device) {
  uint64_t bytes = 0;

  for (size_t i = 0; i < plan->slot_count; i++) {
    const gcl_slot *slot = &plan->slots[i];

    if (!slot->sliced || (slot->info.device_index == 0 && !first_device))
      continue;
    for (int64_t u = 0; u < (int64_t)slot->part_count * slot->steps; u++) {
      slice_unit unit = unit_at(plan, slot, u);

      bytes += rect_of(plan, slot, &unit, 0).region[0] *
                   (size_t)slot->images_per_step +
               rect_of(plan, slot, &unit, 1).region[0] *
                   (size_t)slot->images_per_step;
    }
  }
  return bytes;
}
