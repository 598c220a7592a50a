/*
 * A timeline recorder: algorithms store the event of each command they
 * enqueue; after the run, the profiling times of those events become spans.
 */
#ifndef GCL_SCHED_TRACE_H
#define GCL_SCHED_TRACE_H

#include "groupcl.h"

typedef struct gcl_trace_entry {
  char label[32];
  cl_event event;
} gcl_trace_entry;

/* The commands of one queue; the timeline shows one row per queue. */
typedef struct gcl_trace {
  gcl_trace_entry *entries;
  size_t count;
  size_t capacity;
  size_t device_index;
  unsigned queue_index;
  int failed; /* an allocation failed, so later events are not recorded */
} gcl_trace;

/* Timeline row of a slot's copy queue: this plus the slot's queue index. */
#define GCL_COPY_QUEUE_ROW 100

/* Releases the recorded events and empties the trace, keeping its memory. */
void gcl_trace_reset(gcl_trace *trace);

/* Releases everything. Accepts NULL. */
void gcl_trace_free(gcl_trace *trace);

#endif
