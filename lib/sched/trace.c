#include "sched/trace.h"

#include "algo/algo.h"
#include "util/cl_objects.h"

#include "util/alloc.h"

#include <stdio.h>
#include <stdlib.h>

cl_event *gcl_trace_event(gcl_trace *trace, const char *label) {
  gcl_trace_entry *entry;

  if (trace == NULL || trace->failed)
    return NULL;
  if (trace->count == trace->capacity) {
    size_t capacity = trace->capacity == 0 ? 64 : 2 * trace->capacity;
    gcl_trace_entry *grown =
        gcl_realloc(trace->entries, capacity * sizeof *grown);

    /* A timeline is optional: on failure, stop recording and keep
     * running. gcl_plan_run_info and gcl_plan_write_trace then report
     * the run's timeline as incomplete. */
    if (grown == NULL) {
      trace->failed = 1;
      return NULL;
    }
    trace->entries = grown;
    trace->capacity = capacity;
  }

  entry = &trace->entries[trace->count++];
  snprintf(entry->label, sizeof entry->label, "%s", label);
  entry->event = NULL;
  return &entry->event;
}

void gcl_trace_reset(gcl_trace *trace) {
  if (trace == NULL)
    return;
  for (size_t i = 0; i < trace->count; i++)
    gcl_release_event(trace->entries[i].event);
  trace->count = 0;
  trace->failed = 0;
}

void gcl_trace_free(gcl_trace *trace) {
  if (trace == NULL)
    return;
  gcl_trace_reset(trace);
  gcl_free(trace->entries);
  trace->entries = NULL;
  trace->capacity = 0;
}
