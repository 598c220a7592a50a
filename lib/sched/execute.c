/*
 * Running a plan. Every slot's commands go to its own queue. Slots on the
 * first device work in place on the full tensors, one (part, step) unit
 * after another. Slots on other devices, and every slot of a split plan's
 * host-array call, receive their input slices and return their output
 * slices through host memory (sched/sliced.c).
 */
#include "conv/plan.h"

#include "algo/algo_common.h"
#include "sched/sliced.h"
#include "util/alloc.h"
#include "util/cl_calls.h"
#include "util/cl_objects.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A slot's part of a full tensor: one row of bytes per image. */
typedef struct tensor_rect {
  size_t origin[3];
  size_t region[3];
  size_t row_pitch;
} tensor_rect;

static double seconds_now(void) {
  struct timespec now;

  timespec_get(&now, TIME_UTC);
  return (double)now.tv_sec + 1e-9 * (double)now.tv_nsec;
}

static tensor_rect slot_rect(const gcl_plan *plan, const gcl_slot *slot,
                             int output) {
  const gcl_geometry *g = &plan->geometry;
  size_t plane = (size_t)(output ? g->out_size : g->in_size) * sizeof(float);
  size_t channels = (size_t)(output ? g->num_output : g->channels);
  size_t first = (size_t)(output ? slot->info.output_channel_begin
                                 : slot->info.input_channel_begin);
  size_t last = (size_t)(output ? slot->info.output_channel_end
                                : slot->info.input_channel_end);
  tensor_rect rect;

  rect.origin[0] = first * plane;
  rect.origin[1] = (size_t)slot->info.batch_begin;
  rect.origin[2] = 0;
  rect.region[0] = (last - first) * plane;
  rect.region[1] = (size_t)(slot->info.batch_end - slot->info.batch_begin);
  rect.region[2] = 1;
  rect.row_pitch = channels * plane;
  return rect;
}

/* Views of one part and step of full tensors stored in input and output.
 * The offsets may pass 2^31 floats; the kernels take them as 64-bit. */
static void full_views(const gcl_plan *plan, const gcl_slot *slot,
                       const gcl_part *part, int64_t step, cl_mem input,
                       cl_mem output, gcl_tensor_view *in_view,
                       gcl_tensor_view *out_view) {
  const gcl_geometry *g = &plan->geometry;
  size_t image = (size_t)gcl_split_step_first(&plan->split, &slot->info,
                                              step);

  in_view->buffer = input;
  in_view->image_stride = (size_t)(g->channels * g->in_size);
  in_view->offset =
      image * in_view->image_stride +
      (size_t)(part->group_begin * g->channels_per_group * g->in_size);
  out_view->buffer = output;
  out_view->image_stride = (size_t)(g->num_output * g->out_size);
  out_view->offset =
      image * out_view->image_stride +
      (size_t)(part->group_begin * g->outputs_per_group * g->out_size);
}

static gcl_launch slot_launch(gcl_plan *plan, gcl_slot *slot) {
  gcl_launch launch = {slot->queue, plan->profile ? &slot->trace : NULL};

  return launch;
}

/* Enqueues every part and step of a slot in place on full tensors. */
static gcl_status enqueue_in_place(gcl_plan *plan, gcl_slot *slot,
                                   cl_mem input, cl_mem output) {
  gcl_launch launch = slot_launch(plan, slot);
  gcl_status status = GCL_SUCCESS;

  for (size_t j = 0; j < slot->part_count && status == GCL_SUCCESS; j++) {
    for (int64_t step = 0; step < slot->steps && status == GCL_SUCCESS;
         step++) {
      gcl_tensor_view in_view, out_view;

      full_views(plan, slot, &slot->parts[j], step, input, output, &in_view,
                 &out_view);
      status = plan->algo->enqueue(slot->parts[j].algo_state, &launch,
                                   &in_view, &out_view);
    }
  }
  return status;
}

/* Makes a slot's queue wait for events of the main queue or the caller. */
static gcl_status wait_on(gcl_slot *slot, cl_uint count,
                          const cl_event *events) {
  cl_int code;

  if (count == 0)
    return GCL_SUCCESS;
  code = gcl_clEnqueueBarrierWithWaitList(slot->queue, count, events, NULL);
  if (code != CL_SUCCESS)
    return gcl_fail_cl(code, "making queue %u wait for its input",
                       slot->info.queue_index);
  return GCL_SUCCESS;
}

/* Records an event the caller also keeps, for the timeline. */
static void trace_keep(gcl_trace *trace, const char *label, cl_event event) {
  cl_event *traced = gcl_trace_event(trace, label);

  if (traced != NULL && clRetainEvent(event) == CL_SUCCESS) {
    gcl_cl_object_created(GCL_CL_EVENT);
    *traced = event;
  }
}

/* ---- shared steps ---------------------------------------------------------- */

static void reset_traces(gcl_plan *plan) {
  gcl_trace_reset(&plan->main_trace);
  for (size_t i = 0; i < plan->slot_count; i++) {
    gcl_trace_reset(&plan->slots[i].trace);
    gcl_trace_reset(&plan->slots[i].copy_trace);
  }
}

static void finish_all(gcl_plan *plan) {
  clFinish(plan->context->devices[0].queue);
  for (size_t i = 0; i < plan->slot_count; i++) {
    clFinish(plan->slots[i].queue);
    if (plan->slots[i].copy_queue != NULL)
      clFinish(plan->slots[i].copy_queue);
  }
}

static gcl_status ensure_scratch(gcl_plan *plan, int need_input) {
  if (need_input && plan->scratch_input == NULL)
    plan->scratch_input = gcl_malloc(plan->input_bytes);
  if (plan->scratch_output == NULL)
    plan->scratch_output = gcl_malloc(plan->output_bytes);
  if ((need_input && plan->scratch_input == NULL) ||
      plan->scratch_output == NULL)
    return gcl_fail(GCL_ERROR_OUT_OF_MEMORY,
                    "out of host memory for %zu bytes of staging",
                    plan->input_bytes + plan->output_bytes);
  return GCL_SUCCESS;
}

static gcl_status ensure_staging(gcl_plan *plan) {
  gcl_status status = GCL_SUCCESS;

  if (plan->host_input == NULL)
    status = gcl_create_buffer(plan->context, 0, plan->input_bytes, NULL,
                               "input tensor", &plan->host_input);
  if (status == GCL_SUCCESS && plan->host_output == NULL)
    status = gcl_create_buffer(plan->context, 0, plan->output_bytes, NULL,
                               "output tensor", &plan->host_output);
  return status;
}

/*
 * Appends the plan's device memory to an out-of-memory failure, so that
 * the message gives the sizes also when the driver ran out while running,
 * after the plan-time check passed.
 */
static gcl_status add_memory_note(const gcl_plan *plan, gcl_status status) {
  char message[2048];
  size_t used;
  cl_int code = gcl_last_cl_error();

  if (status != GCL_ERROR_OUT_OF_MEMORY || plan->device_bytes == NULL)
    return status;
  used = (size_t)snprintf(message, sizeof message,
                          "%s; the plan's buffers hold", gcl_last_error());
  for (size_t d = 0; d < plan->context->device_count && used < sizeof message;
       d++) {
    const gcl_device_info *info = &plan->context->devices[d].info;

    if (plan->device_bytes[d] == 0)
      continue;
    used += (size_t)snprintf(
        message + used, sizeof message - used,
        " %llu bytes on device %zu '%s' (global memory %llu bytes)",
        (unsigned long long)plan->device_bytes[d], d, info->device_name,
        (unsigned long long)info->global_mem_bytes);
  }
  status = gcl_fail(status, "%s; other programs may use the rest, so free "
                            "device memory or lower GROUPCL_GLOBAL_MEM_BYTES "
                            "to make plans split",
                    message);
  gcl_set_cl_error(code);
  return status;
}

/* ---- host pointers ------------------------------------------------------- */

/* Enqueues the first device's slots; their output reads go to gathered. */
static gcl_status enqueue_local_slots(gcl_plan *plan, cl_event input_ready,
                                      float *gathered, cl_event *reads,
                                      uint64_t *bytes) {
  cl_command_queue main_queue = plan->context->devices[0].queue;
  gcl_status status = GCL_SUCCESS;

  for (size_t i = 0; i < plan->slot_count && status == GCL_SUCCESS; i++) {
    gcl_slot *slot = &plan->slots[i];
    tensor_rect rect = slot_rect(plan, slot, 1);
    cl_int code;

    if (slot->info.device_index != 0)
      continue;
    if (slot->queue != main_queue)
      status = wait_on(slot, 1, &input_ready);
    if (status == GCL_SUCCESS)
      status = enqueue_in_place(plan, slot, plan->host_input,
                                plan->host_output);
    if (status != GCL_SUCCESS)
      break;

    code = gcl_clEnqueueReadBufferRect(slot->queue, plan->host_output, CL_FALSE,
                                       rect.origin, rect.origin, rect.region,
                                       rect.row_pitch, 0, rect.row_pitch, 0,
                                       gathered, 0, NULL, &reads[i]);
    if (code == CL_SUCCESS)
      gcl_cl_event_created(&reads[i]);
    if (code != CL_SUCCESS)
      return gcl_fail_cl(code, "copying the output from the device");
    *bytes += rect.region[0] * rect.region[1];
    if (plan->profile)
      trace_keep(&slot->trace, "read output", reads[i]);
    clFlush(slot->queue);
  }
  return status;
}

static gcl_status write_input(gcl_plan *plan, const float *input,
                              cl_event *input_ready) {
  cl_command_queue main_queue = plan->context->devices[0].queue;
  cl_int code;

  code =
      gcl_clEnqueueWriteBuffer(main_queue, plan->host_input, CL_FALSE, 0,
                               plan->input_bytes, input, 0, NULL, input_ready);
  if (code == CL_SUCCESS)
    gcl_cl_event_created(input_ready);
  if (code != CL_SUCCESS)
    return gcl_fail_cl(code, "copying the input to the device");
  if (plan->profile)
    trace_keep(&plan->main_trace, "write input", *input_ready);
  clFlush(main_queue);
  return GCL_SUCCESS;
}

static gcl_status wait_for_reads(cl_event *reads, size_t count,
                                 gcl_status status) {
  for (size_t i = 0; i < count; i++) {
    cl_int code;

    if (reads[i] == NULL)
      continue;
    code = gcl_clWaitForEvents(1, &reads[i]);
    if (status == GCL_SUCCESS && code != CL_SUCCESS)
      status = gcl_fail_cl(code, "waiting for the output");
    gcl_release_event(reads[i]);
    reads[i] = NULL;
  }
  return status;
}

/* Stages the full input on the first device and enqueues its slots in
 * place, for plans that are not split. */
static gcl_status run_staged(gcl_plan *plan, const float *input,
                             float *gathered, cl_event *input_ready,
                             cl_event *reads, uint64_t *bytes) {
  gcl_status status = ensure_staging(plan);

  if (status == GCL_SUCCESS)
    status = write_input(plan, input, input_ready);
  if (status == GCL_SUCCESS)
    *bytes += plan->input_bytes;
  if (status == GCL_SUCCESS)
    status = enqueue_local_slots(plan, *input_ready, gathered, reads, bytes);
  return status;
}

/* Runs gcl_plan_forward; the caller holds plan->lock. A nonzero
 * always_gather routes the output through the plan's private copy even
 * when no failure could leave it half written. */
static gcl_status forward_host(gcl_plan *plan, const float *input,
                               float *output, int always_gather) {
  cl_event reads[GCL_MAX_SLOTS] = {NULL};
  cl_event input_ready = NULL;
  gcl_device_job *jobs = NULL;
  int gather = 0, split;
  float *gathered = output;
  uint64_t bytes = 0;
  double start = seconds_now();
  gcl_status status;

  reset_traces(plan);
  split = plan->split.active;

  /* Gather into a private copy whenever a failure could leave part of the
   * output written, so the caller's array changes only on success. */
  gather = always_gather || plan->slot_count > 1 ||
           gcl_has_remote_slots(plan) || split;
  status = gather ? ensure_scratch(plan, 0) : GCL_SUCCESS;
  if (gather)
    gathered = plan->scratch_output;
  if (status == GCL_SUCCESS && !split)
    status = run_staged(plan, input, gathered, &input_ready, reads, &bytes);
  if (status == GCL_SUCCESS)
    status = gcl_allocate_jobs(plan, &jobs);
  if (status == GCL_SUCCESS)
    status = gcl_start_device_jobs(plan, input, gathered, jobs);
  /* A split plan slices every slot, those of the first device included. */
  if (status == GCL_SUCCESS && split)
    status = gcl_run_first_device(plan, input, gathered, jobs);
  status = wait_for_reads(reads, plan->slot_count, status);
  status = gcl_join_device_jobs(plan, jobs, status);
  gcl_free(jobs);
  gcl_release_event(input_ready);

  if (status != GCL_SUCCESS) {
    finish_all(plan);
    return add_memory_note(plan, status);
  }
  if (gather)
    memcpy(output, plan->scratch_output, plan->output_bytes);
  plan->last_bytes_moved = bytes + gcl_sliced_bytes(plan, split);
  plan->last_wall_seconds = seconds_now() - start;
  return GCL_SUCCESS;
}

gcl_status gcl_plan_forward(gcl_plan *plan, const float *input,
                            float *output) {
  gcl_status status;

  gcl_clear_error();
  if (plan == NULL || input == NULL || output == NULL)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "gcl_plan_forward: plan, input and output must not be "
                    "NULL");
  pthread_mutex_lock(&plan->lock);
  status = forward_host(plan, input, output, 0);
  pthread_mutex_unlock(&plan->lock);
  return status;
}

gcl_status gcl_plan_forward_gathered(gcl_plan *plan, const float *input,
                                     float *output) {
  gcl_status status;

  pthread_mutex_lock(&plan->lock);
  status = forward_host(plan, input, output, 1);
  pthread_mutex_unlock(&plan->lock);
  return status;
}

/* ---- the caller's buffers ------------------------------------------------- */

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

  if (owner != plan->context->devices[0].cl_ctx)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "the %s buffer belongs to another OpenCL context than "
                    "the plan's first device; create it with "
                    "gcl_context_cl_context()",
                    what);
  if (size < needed)
    return gcl_fail(GCL_ERROR_SHAPE_MISMATCH,
                    "the %s buffer holds %zu bytes but the plan needs %zu",
                    what, size, needed);
  return GCL_SUCCESS;
}

/* Enqueues the first device's slots on the caller's buffers; each slot's
 * completion marker goes to markers[]. */
static gcl_status enqueue_caller_slots(gcl_plan *plan, cl_mem input,
                                       cl_mem output, cl_uint num_wait,
                                       const cl_event *wait_list,
                                       cl_event *markers) {
  gcl_status status = GCL_SUCCESS;

  for (size_t i = 0; i < plan->slot_count && status == GCL_SUCCESS; i++) {
    gcl_slot *slot = &plan->slots[i];
    cl_int code;

    if (slot->info.device_index != 0)
      continue;
    status = wait_on(slot, num_wait, wait_list);
    if (status == GCL_SUCCESS)
      status = enqueue_in_place(plan, slot, input, output);
    if (status != GCL_SUCCESS)
      break;
    code = gcl_clEnqueueMarkerWithWaitList(slot->queue, 0, NULL, &markers[i]);
    if (code == CL_SUCCESS)
      gcl_cl_event_created(&markers[i]);
    if (code != CL_SUCCESS)
      return gcl_fail_cl(code, "clEnqueueMarkerWithWaitList");
    clFlush(slot->queue);
  }
  return status;
}

/* Reads the caller's input to the host for the slots on other devices. */
static gcl_status read_caller_input(gcl_plan *plan, cl_mem input,
                                    cl_uint num_wait,
                                    const cl_event *wait_list) {
  cl_command_queue main_queue = plan->context->devices[0].queue;
  cl_event *event =
      plan->profile ? gcl_trace_event(&plan->main_trace, "read input") : NULL;
  cl_int code =
      gcl_clEnqueueReadBuffer(main_queue, input, CL_TRUE, 0, plan->input_bytes,
                              plan->scratch_input, num_wait, wait_list, event);

  if (code == CL_SUCCESS)
    gcl_cl_event_created(event);
  if (code != CL_SUCCESS)
    return gcl_fail_cl(code, "copying the input to the host for the other "
                             "devices");
  return GCL_SUCCESS;
}

/* Writes the other devices' output slices into the caller's buffer. */
static gcl_status write_remote_outputs(gcl_plan *plan, cl_mem output) {
  cl_command_queue main_queue = plan->context->devices[0].queue;

  for (size_t i = 0; i < plan->slot_count; i++) {
    gcl_slot *slot = &plan->slots[i];
    tensor_rect rect = slot_rect(plan, slot, 1);
    cl_event *event;
    cl_int code;

    if (slot->info.device_index == 0)
      continue;
    event = plan->profile ? gcl_trace_event(&plan->main_trace, "write output")
                          : NULL;
    /* Blocking, because the next call may overwrite the host copy. */
    code = gcl_clEnqueueWriteBufferRect(main_queue, output, CL_TRUE,
                                        rect.origin, rect.origin, rect.region,
                                        rect.row_pitch, 0, rect.row_pitch, 0,
                                        plan->scratch_output, 0, NULL, event);
    if (code == CL_SUCCESS)
      gcl_cl_event_created(event);
    if (code != CL_SUCCESS)
      return gcl_fail_cl(code, "copying device %zu's output slice into the "
                               "output buffer",
                         slot->info.device_index);
  }
  return GCL_SUCCESS;
}

static gcl_status join_markers(gcl_plan *plan, cl_event *markers,
                               cl_event *done) {
  cl_command_queue main_queue = plan->context->devices[0].queue;
  cl_event waits[GCL_MAX_SLOTS];
  cl_uint count = 0;
  cl_int code = CL_SUCCESS;

  for (size_t i = 0; i < plan->slot_count; i++) {
    if (markers[i] != NULL)
      waits[count++] = markers[i];
  }
  /* *done goes to the caller, who releases it, so it is not counted. */
  if (done != NULL)
    code = gcl_clEnqueueMarkerWithWaitList(main_queue, count,
                                           count ? waits : NULL, done);
  else if (count > 0)
    code = gcl_clEnqueueBarrierWithWaitList(main_queue, count, waits, NULL);
  for (cl_uint i = 0; i < count; i++)
    gcl_release_event(waits[i]);
  if (code != CL_SUCCESS)
    return gcl_fail_cl(code, "joining the queues' events");
  clFlush(main_queue);
  return GCL_SUCCESS;
}

/* The run on the caller's buffers, checked already; the caller holds
 * plan->lock. */
static gcl_status forward_buffers(gcl_plan *plan, cl_mem input, cl_mem output,
                                  cl_uint num_wait_events,
                                  const cl_event *wait_list, cl_event *done) {
  cl_event markers[GCL_MAX_SLOTS] = {NULL};
  gcl_device_job *jobs = NULL;
  int remote;
  double start = seconds_now();
  gcl_status status = GCL_SUCCESS;

  reset_traces(plan);

  remote = gcl_has_remote_slots(plan);
  if (remote) {
    status = ensure_scratch(plan, 1);
    if (status == GCL_SUCCESS)
      status = read_caller_input(plan, input, num_wait_events, wait_list);
  }
  if (status == GCL_SUCCESS)
    status = enqueue_caller_slots(plan, input, output, num_wait_events,
                                  wait_list, markers);
  if (status == GCL_SUCCESS && remote)
    status = gcl_allocate_jobs(plan, &jobs);
  if (status == GCL_SUCCESS && remote)
    status = gcl_start_device_jobs(plan, plan->scratch_input,
                                   plan->scratch_output, jobs);
  status = gcl_join_device_jobs(plan, jobs, status);
  gcl_free(jobs);
  if (status == GCL_SUCCESS && remote)
    status = write_remote_outputs(plan, output);

  if (status != GCL_SUCCESS) {
    finish_all(plan);
    for (size_t i = 0; i < plan->slot_count; i++)
      gcl_release_event(markers[i]);
    return add_memory_note(plan, status);
  }
  status = join_markers(plan, markers, done);
  plan->last_bytes_moved =
      remote ? plan->input_bytes + gcl_sliced_bytes(plan, 0) : 0;
  plan->last_wall_seconds = seconds_now() - start;
  return status;
}

gcl_status gcl_plan_forward_cl(gcl_plan *plan, cl_mem input, cl_mem output,
                               cl_uint num_wait_events,
                               const cl_event *wait_list, cl_event *done) {
  gcl_status status;

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

  pthread_mutex_lock(&plan->lock);
  status = forward_buffers(plan, input, output, num_wait_events, wait_list,
                           done);
  pthread_mutex_unlock(&plan->lock);
  return status;
}
