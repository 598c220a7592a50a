/*
 * Counts of the OpenCL objects that groupcl holds, by kind, so that tests
 * can check that destroying a plan, conv or context releases everything it
 * made. Every create or retain that succeeds adds one, and every release
 * that succeeds removes one. Not counted: the event that
 * gcl_plan_forward_cl hands to the caller, and the objects CLBlast keeps in
 * its own caches.
 */
#ifndef GCL_UTIL_CL_OBJECTS_H
#define GCL_UTIL_CL_OBJECTS_H

#include "groupcl.h"

typedef enum gcl_cl_object {
  GCL_CL_CONTEXT = 0,
  GCL_CL_QUEUE = 1,
  GCL_CL_PROGRAM = 2,
  GCL_CL_KERNEL = 3,
  GCL_CL_MEM = 4,
  GCL_CL_EVENT = 5,
  GCL_CL_OBJECT_KINDS = 6
} gcl_cl_object;

/* Counts one object of kind that a create or retain call returned. */
void gcl_cl_object_created(gcl_cl_object kind);

/*
 * Counts the event an enqueue call wrote to *event. Accepts a NULL event
 * pointer, as passed when no timeline is recorded, and then counts nothing.
 */
void gcl_cl_event_created(const cl_event *event);

/* Returns the number of objects of kind that groupcl created or retained
 * and has not released yet. */
long gcl_cl_objects_live(gcl_cl_object kind);

/* Returns "context", "command queue", "program", "kernel", "buffer" or
 * "event". */
const char *gcl_cl_object_name(gcl_cl_object kind);

/* Release an object and remove it from the count when the release
 * succeeds. Each accepts NULL and then does nothing. */
void gcl_release_context(cl_context context);
void gcl_release_queue(cl_command_queue queue);
void gcl_release_program(cl_program program);
void gcl_release_kernel(cl_kernel kernel);
void gcl_release_mem(cl_mem buffer);
void gcl_release_event(cl_event event);

#endif
