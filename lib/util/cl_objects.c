#include "util/cl_objects.h"

#include <stdatomic.h>

/* Atomic, because plans on other devices enqueue from their own threads. */
static atomic_long live[GCL_CL_OBJECT_KINDS];

void gcl_cl_object_created(gcl_cl_object kind) {
  atomic_fetch_add_explicit(&live[kind], 1, memory_order_relaxed);
}

void gcl_cl_event_created(const cl_event *event) {
  if (event != NULL && *event != NULL)
    gcl_cl_object_created(GCL_CL_EVENT);
}

long gcl_cl_objects_live(gcl_cl_object kind) {
  return atomic_load_explicit(&live[kind], memory_order_relaxed);
}

const char *gcl_cl_object_name(gcl_cl_object kind) {
  static const char *const names[GCL_CL_OBJECT_KINDS] = {
      "context", "command queue", "program", "kernel", "buffer", "event"};

  return kind >= 0 && kind < GCL_CL_OBJECT_KINDS ? names[kind] : "unknown";
}

/* Removes one object of kind from the count when its release succeeded,
 * so that a failed release shows up as a leak. */
static void count_release(gcl_cl_object kind, cl_int code) {
  if (code == CL_SUCCESS)
    atomic_fetch_sub_explicit(&live[kind], 1, memory_order_relaxed);
}

void gcl_release_context(cl_context context) {
  if (context != NULL)
    count_release(GCL_CL_CONTEXT, clReleaseContext(context));
}

void gcl_release_queue(cl_command_queue queue) {
  if (queue != NULL)
    count_release(GCL_CL_QUEUE, clReleaseCommandQueue(queue));
}

void gcl_release_program(cl_program program) {
  if (program != NULL)
    count_release(GCL_CL_PROGRAM, clReleaseProgram(program));
}

void gcl_release_kernel(cl_kernel kernel) {
  if (kernel != NULL)
    count_release(GCL_CL_KERNEL, clReleaseKernel(kernel));
}

void gcl_release_mem(cl_mem buffer) {
  if (buffer != NULL)
    count_release(GCL_CL_MEM, clReleaseMemObject(buffer));
}

void gcl_release_event(cl_event event) {
  if (event != NULL)
    count_release(GCL_CL_EVENT, clReleaseEvent(event));
}
