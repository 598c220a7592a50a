/* The context: selected devices, one OpenCL context and queue each. */
#ifndef GCL_RUNTIME_CONTEXT_H
#define GCL_RUNTIME_CONTEXT_H

#include "groupcl.h"
#include "program/program_cache.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct gcl_device_slot {
  cl_platform_id platform;
  cl_device_id device;
  cl_context cl_ctx;
  cl_command_queue queue;
  gcl_device_info info;
  /* Measured FLOP/s, 0 until a plan with the devices policy measures it. */
  double throughput;
  /* Device memory the context's live plans hold, in bytes, as their memory
   * check counted it; a new plan budgets with what remains. */
  uint64_t reserved_bytes;
} gcl_device_slot;

/*
 * Devices get one cl_context each, even on one platform, because devices of
 * different platforms cannot share one and the code treats both alike.
 */
struct gcl_context {
  size_t device_count;
  gcl_device_slot *devices;
  gcl_program_cache *programs;
  pthread_mutex_t lock; /* guards the devices' throughput and reserved_bytes */
  atomic_int ran_clblast; /* nonzero once a plan prepared a CLBlast algorithm */
};

/*
 * Marks the context as one that runs CLBlast routines, so that destroying
 * it can drop CLBlast's cached programs (see gcl_context_destroy).
 */
void gcl_context_note_clblast(gcl_context *context);

#endif
