/*
 * Run information and Chrome trace-event timelines from the profiling
 * events that a plan made with options.profile records.
 */
#define _POSIX_C_SOURCE 200809L
#include "conv/plan.h"

#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct span {
  cl_ulong start, end; /* nanoseconds on the device's profiling clock */
} span;

static int event_span(cl_event event, span *result) {
  if (event == NULL)
    return 0;
  if (clWaitForEvents(1, &event) != CL_SUCCESS)
    return 0;
  return clGetEventProfilingInfo(event, CL_PROFILING_COMMAND_START,
                                 sizeof result->start, &result->start,
                                 NULL) == CL_SUCCESS &&
         clGetEventProfilingInfo(event, CL_PROFILING_COMMAND_END,
                                 sizeof result->end, &result->end,
                                 NULL) == CL_SUCCESS &&
         result->end >= result->start;
}

static double busy_seconds(const gcl_trace *trace) {
  double total = 0.0;

  for (size_t i = 0; i < trace->count; i++) {
    span s;

    if (event_span(trace->entries[i].event, &s))
      total += 1e-9 * (double)(s.end - s.start);
  }
  return total;
}

/* Fails when an allocation failure stopped gcl_trace_event from
 * recording some events of the latest run. */
static gcl_status check_recorded(const gcl_plan *plan) {
  int failed = plan->main_trace.failed;

  for (size_t i = 0; i < plan->slot_count; i++)
    failed |= plan->slots[i].trace.failed | plan->slots[i].copy_trace.failed;
  if (failed)
    return gcl_fail(GCL_ERROR_OUT_OF_MEMORY,
                    "the timeline of the latest run is incomplete: out of "
                    "host memory while recording its events; run the plan "
                    "again");
  return GCL_SUCCESS;
}

gcl_status gcl_plan_run_info(const gcl_plan *plan, gcl_run_info *info) {
  gcl_status status;

  gcl_clear_error();
  if (plan == NULL || info == NULL)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "gcl_plan_run_info: plan and info must not be NULL");
  if (!plan->profile)
    return gcl_fail(GCL_ERROR_INVALID_STATE,
                    "the plan records no profiling events; create it with "
                    "options.profile = 1");
  status = check_recorded(plan);
  if (status != GCL_SUCCESS)
    return status;

  memset(info, 0, sizeof *info);
  info->wall_seconds = plan->last_wall_seconds;
  info->bytes_moved = plan->last_bytes_moved;
  info->slot_count = plan->slot_count;
  for (size_t i = 0; i < plan->slot_count && i < 64; i++)
    info->slot_busy_seconds[i] = busy_seconds(&plan->slots[i].trace) +
                                 busy_seconds(&plan->slots[i].copy_trace);

  /* Transfers on the main queue count towards the first slot there. */
  for (size_t i = 0; i < plan->slot_count && i < 64; i++) {
    if (plan->slots[i].info.device_index == 0 &&
        plan->slots[i].info.queue_index == 0) {
      info->slot_busy_seconds[i] += busy_seconds(&plan->main_trace);
      break;
    }
  }
  return GCL_SUCCESS;
}

/* Earliest start over every recorded event, the timeline's zero. */
static cl_ulong earliest_start(const gcl_plan *plan) {
  cl_ulong first = (cl_ulong)-1;
  span s;

  for (size_t i = 0; i < plan->main_trace.count; i++)
    if (event_span(plan->main_trace.entries[i].event, &s) && s.start < first)
      first = s.start;
  for (size_t t = 0; t < 2 * plan->slot_count; t++) {
    const gcl_slot *slot = &plan->slots[t / 2];
    const gcl_trace *trace = t % 2 == 0 ? &slot->trace : &slot->copy_trace;

    for (size_t i = 0; i < trace->count; i++)
      if (event_span(trace->entries[i].event, &s) && s.start < first)
        first = s.start;
  }
  return first;
}

static void write_spans(FILE *file, const gcl_trace *trace, cl_ulong zero,
                        int *first) {
  for (size_t i = 0; i < trace->count; i++) {
    span s;

    if (!event_span(trace->entries[i].event, &s))
      continue;
    fprintf(file,
            "%s\n{\"name\":\"%s\",\"ph\":\"X\",\"pid\":%zu,\"tid\":%u,"
            "\"ts\":%.3f,\"dur\":%.3f}",
            *first ? "" : ",", trace->entries[i].label, trace->device_index,
            trace->queue_index, 1e-3 * (double)(s.start - zero),
            1e-3 * (double)(s.end - s.start));
    *first = 0;
  }
}

/* Writes text as the body of a JSON string. */
static void write_json_text(FILE *file, const char *text) {
  for (; *text != '\0'; text++) {
    unsigned char c = (unsigned char)*text;

    if (c == '"' || c == '\\')
      fprintf(file, "\\%c", c);
    else if (c < 0x20)
      fprintf(file, "\\u%04x", c);
    else
      fputc(c, file);
  }
}

/* Metadata records naming each device (process) and queue (thread). */
static void write_names(FILE *file, const gcl_plan *plan, int *first) {
  for (size_t d = 0; d < plan->context->device_count; d++) {
    fprintf(file,
            "%s\n{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%zu,"
            "\"args\":{\"name\":\"device %zu: ",
            *first ? "" : ",", d, d);
    write_json_text(file, plan->context->devices[d].info.device_name);
    fprintf(file, "\"}}");
    *first = 0;
  }
  for (size_t i = 0; i < plan->slot_count; i++) {
    const gcl_slot_info *slot = &plan->slots[i].info;

    fprintf(file,
            ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%zu,"
            "\"tid\":%u,\"args\":{\"name\":\"queue %u: groups %lld-%lld, "
            "images %lld-%lld\"}}",
            slot->device_index, slot->queue_index, slot->queue_index,
            (long long)slot->group_begin, (long long)slot->group_end - 1,
            (long long)slot->batch_begin, (long long)slot->batch_end - 1);
    if (plan->slots[i].copy_queue != NULL)
      fprintf(file,
              ",\n{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":%zu,"
              "\"tid\":%u,\"args\":{\"name\":\"copies of queue %u\"}}",
              slot->device_index, GCL_COPY_QUEUE_ROW + slot->queue_index,
              slot->queue_index);
  }
}

static int write_timeline(FILE *file, const gcl_plan *plan) {
  cl_ulong zero = earliest_start(plan);
  int first = 1;

  fprintf(file, "{\"displayTimeUnit\":\"ms\",\"traceEvents\":[");
  write_names(file, plan, &first);
  write_spans(file, &plan->main_trace, zero, &first);
  for (size_t i = 0; i < plan->slot_count; i++) {
    write_spans(file, &plan->slots[i].trace, zero, &first);
    write_spans(file, &plan->slots[i].copy_trace, zero, &first);
  }
  fprintf(file, "\n]}\n");
  return ferror(file) ? -1 : 0;
}

/*
 * NOTE: spans of different devices share one time axis only if their
 * profiling clocks agree, as PoCL's devices do. Devices of other platforms
 * may appear shifted.
 */
gcl_status gcl_plan_write_trace(const gcl_plan *plan, const char *path) {
  char temporary[4096];
  FILE *file;
  int descriptor, failed;
  gcl_status status;

  gcl_clear_error();
  if (plan == NULL || path == NULL)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "gcl_plan_write_trace: plan and path must not be NULL");
  if (!plan->profile)
    return gcl_fail(GCL_ERROR_INVALID_STATE,
                    "the plan records no profiling events; create it with "
                    "options.profile = 1");
  status = check_recorded(plan);
  if (status != GCL_SUCCESS)
    return status;

  snprintf(temporary, sizeof temporary, "%s.tmpXXXXXX", path);
  descriptor = mkstemp(temporary);
  if (descriptor < 0)
    return gcl_fail(GCL_ERROR_IO,
                    "cannot create a file next to '%s'; check that the "
                    "folder exists and is writable",
                    path);
  file = fdopen(descriptor, "w");
  if (file == NULL) {
    close(descriptor);
    unlink(temporary);
    return gcl_fail(GCL_ERROR_IO, "cannot open '%s' for writing", temporary);
  }

  failed = write_timeline(file, plan);
  failed |= fclose(file) != 0;
  if (!failed)
    failed = rename(temporary, path) != 0;
  if (failed) {
    unlink(temporary);
    return gcl_fail(GCL_ERROR_IO,
                    "writing the timeline '%s' failed; check the free space "
                    "and permissions",
                    path);
  }
  return GCL_SUCCESS;
}
