/*
 * Test-only fault injection: makes the Nth call of one kind of operation
 * fail, optionally only on one device, so tests can walk error paths that a
 * healthy driver never takes. Off unless a test arms it. Disarmed, each
 * call site costs one relaxed atomic load.
 *
 * The OpenCL calls reach the injector through the wrappers of
 * util/cl_calls.h, host allocations through util/alloc.h, and program
 * builds through the program cache. Each kind fails with the code the real
 * call returns for lack of a resource, listed below.
 */
#ifndef GCL_UTIL_FAULT_H
#define GCL_UTIL_FAULT_H

#include "groupcl.h"

#include <stdatomic.h>

typedef enum gcl_fault_kind {
  /* A program that misses the in-memory cache, whether the disk cache is
   * cold or warm: CL_BUILD_PROGRAM_FAILURE. */
  GCL_FAULT_BUILD = 0,
  /* clCreateBuffer: CL_MEM_OBJECT_ALLOCATION_FAILURE. */
  GCL_FAULT_BUFFER = 1,
  /* Kernel launches, CLBlast calls, markers and barriers:
   * CL_OUT_OF_RESOURCES. */
  GCL_FAULT_ENQUEUE = 2,
  /* Buffer reads, writes and fills: CL_OUT_OF_RESOURCES. */
  GCL_FAULT_TRANSFER = 3,
  /* clCreateCommandQueue: CL_OUT_OF_RESOURCES. */
  GCL_FAULT_QUEUE = 4,
  /* clCreateContext: CL_OUT_OF_HOST_MEMORY. */
  GCL_FAULT_CONTEXT = 5,
  /* clCreateProgramWithSource and clCreateProgramWithBinary:
   * CL_OUT_OF_HOST_MEMORY. */
  GCL_FAULT_PROGRAM = 6,
  /* clCreateKernel: CL_OUT_OF_RESOURCES. */
  GCL_FAULT_KERNEL = 7,
  /* clFinish (CL_OUT_OF_RESOURCES) and clWaitForEvents
   * (CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST) where a failure fails
   * the library call. The real wait runs first, so no command is left
   * running. */
  GCL_FAULT_WAIT = 8,
  /* gcl_malloc, gcl_calloc, gcl_realloc and gcl_strdup: NULL. */
  GCL_FAULT_ALLOC = 9,
  GCL_FAULT_KIND_COUNT = 10
} gcl_fault_kind;

/* An nth that counts the calls of a kind and never fails one. */
#define GCL_FAULT_COUNT_ONLY (-1L)

/*
 * Arms a fault: the nth call (from 1) of kind on device (NULL for any
 * device) fails, and only that call, until gcl_fault_clear. Arming resets
 * the kind's counts. An nth of GCL_FAULT_COUNT_ONLY counts calls without
 * failing any, and an nth of 0 disarms the kind.
 */
void gcl_fault_arm(gcl_fault_kind kind, cl_device_id device, long nth);

/* Disarms every fault and resets the call counts. Allocation tracking
 * (below) stays as it is. */
void gcl_fault_clear(void);

/* Returns the calls of kind counted since it was armed. */
long gcl_fault_calls(gcl_fault_kind kind);

/* Returns how many calls of kind were failed since it was armed. */
long gcl_fault_fired(gcl_fault_kind kind);

/* Returns "build", "buffer", "enqueue", ... for messages. */
const char *gcl_fault_kind_name(gcl_fault_kind kind);

/*
 * Starts (nonzero) or stops counting live host allocations: blocks from
 * gcl_malloc, gcl_calloc, gcl_realloc of NULL and gcl_strdup, less those
 * passed to gcl_free. Starting resets the count, so only blocks made and
 * freed while tracking balance out.
 */
void gcl_fault_track_allocations(int on);

/* Returns the live host allocations counted since tracking started. */
long gcl_fault_live_allocations(void);

/* ---- for the wrappers ---------------------------------------------------- */

#define GCL_FAULT_STATE_ARMED 1u    /* some kind is armed or counting */
#define GCL_FAULT_STATE_TRACKING 2u /* live allocations are counted */

/* Zero unless a test armed a fault or tracks allocations. */
extern _Atomic unsigned gcl_fault_state;

static inline unsigned gcl_fault_state_now(void) {
  /* Relaxed is enough: a test arms in the thread that then calls the
   * library, and the library starts its own threads later, so thread
   * creation orders the store before their loads. */
  return atomic_load_explicit(&gcl_fault_state, memory_order_relaxed);
}

/* Counts one call of kind on device and returns 1 if it must fail. Only
 * valid while gcl_fault_state_now() has GCL_FAULT_STATE_ARMED. */
int gcl_fault_hit_armed(gcl_fault_kind kind, cl_device_id device);

/* Counts one call of kind on device and returns 1 if it must fail. */
static inline int gcl_fault_hit(gcl_fault_kind kind, cl_device_id device) {
  if ((gcl_fault_state_now() & GCL_FAULT_STATE_ARMED) == 0)
    return 0;
  return gcl_fault_hit_armed(kind, device);
}

/* Adds delta to the live allocation count while tracking. */
void gcl_fault_note_allocations(long delta);

#endif
