/*
 * Caps on the device memory groupcl plans with, from the environment:
 *   GROUPCL_MAX_ALLOC_BYTES   lowers CL_DEVICE_MAX_MEM_ALLOC_SIZE
 *   GROUPCL_GLOBAL_MEM_BYTES  lowers CL_DEVICE_GLOBAL_MEM_SIZE
 * Each takes a byte count with an optional K, M or G suffix (powers of
 * 1024). They let a user keep groupcl below a device's limits, and let the
 * tests prove the memory split on a device with plenty of memory.
 */
#ifndef GCL_RUNTIME_MEMORY_CAPS_H
#define GCL_RUNTIME_MEMORY_CAPS_H

#include "groupcl.h"

/*
 * Lowers info->max_alloc_bytes and info->global_mem_bytes to the caps set
 * in the environment, and max_alloc_bytes to global_mem_bytes. Fails with
 * GCL_ERROR_INVALID_ARGUMENT when a variable is set but is not a positive
 * byte count.
 */
gcl_status gcl_apply_memory_caps(gcl_device_info *info);

/* Returns the text of the cap variables that are set, such as
 * " GROUPCL_MAX_ALLOC_BYTES=64M", or "" when neither is. */
const char *gcl_memory_caps_text(char *buffer, size_t size);

#endif
