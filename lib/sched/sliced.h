/*
 * Running sliced slots (gcl_slot.sliced): each (part, step) unit's input
 * goes from a full host tensor into the slot's compact slices, the part
 * runs, and its output comes back into a full host tensor. Each device
 * other than the first is driven by its own host thread.
 */
#ifndef GCL_SCHED_SLICED_H
#define GCL_SCHED_SLICED_H

#include "conv/plan.h"

#include <pthread.h>

/* The sliced slots of one device, run by one host thread. */
typedef struct gcl_device_job {
  gcl_plan *plan;
  size_t device_index;
  const float *input; /* the full input tensor on the host */
  float *gathered;    /* the full output tensor on the host */
  gcl_status status;
  char message[4096];
  cl_int code; /* the OpenCL code behind a failure, CL_SUCCESS if none */
  pthread_t thread;
  int started;
} gcl_device_job;

/* Returns 1 if a slot of the plan is on a device other than the first. */
int gcl_has_remote_slots(const gcl_plan *plan);

/*
 * Allocates one job per device of the context on the heap, because each
 * job's message buffer is too large for the caller's stack. Sets *jobs to
 * NULL when no slot is sliced for a host-array call.
 */
gcl_status gcl_allocate_jobs(const gcl_plan *plan, gcl_device_job **jobs);

/* Starts one thread per device other than the first that has slots. */
gcl_status gcl_start_device_jobs(gcl_plan *plan, const float *input,
                                 float *gathered, gcl_device_job *jobs);

/* Runs the first device's sliced slots in the calling thread and waits for
 * them; for split plans, whose host-array calls slice every slot. */
gcl_status gcl_run_first_device(gcl_plan *plan, const float *input,
                                float *gathered, gcl_device_job *jobs);

/* Joins the threads; returns the first failure, naming its device. */
gcl_status gcl_join_device_jobs(gcl_plan *plan, gcl_device_job *jobs,
                                gcl_status status);

/* Returns the host-device bytes that one call moves for sliced slots, of
 * every device (first_device nonzero) or of the other devices only. */
uint64_t gcl_sliced_bytes(const gcl_plan *plan, int first_device);

#endif
