/*
 * Test-only fault injection: makes the Nth call of one kind of operation
 * fail, optionally only on one device, so tests can walk error paths that a
 * healthy driver never takes. Off unless a test arms it.
 */
#ifndef GCL_UTIL_FAULT_H
#define GCL_UTIL_FAULT_H

#include "groupcl.h"

typedef enum gcl_fault_kind {
  GCL_FAULT_BUILD = 0,   /* a program that misses the in-memory cache */
  GCL_FAULT_BUFFER = 1,  /* clCreateBuffer through gcl_create_buffer */
  GCL_FAULT_ENQUEUE = 2, /* a copy to or from another device's slice */
  GCL_FAULT_KIND_COUNT = 3
} gcl_fault_kind;

/*
 * Arms a fault: the nth call (from 1) of kind on device (NULL for any
 * device) fails from now on until gcl_fault_clear. nth 0 disarms the kind.
 */
void gcl_fault_arm(gcl_fault_kind kind, cl_device_id device, long nth);

/* Disarms every fault and resets the call counts. */
void gcl_fault_clear(void);

/* Counts one call of kind on device and returns 1 if it must fail. */
int gcl_fault_hit(gcl_fault_kind kind, cl_device_id device);

#endif
