/* Device discovery and selection by a spec string. */
#ifndef GCL_RUNTIME_DEVICES_H
#define GCL_RUNTIME_DEVICES_H

#include "groupcl.h"

/* A device chosen by a spec, with what is needed to create its context. */
typedef struct gcl_selected_device {
  cl_platform_id platform;
  cl_device_id device;
  gcl_device_info info;
} gcl_selected_device;

/* Fills info from the OpenCL queries for one device. */
gcl_status gcl_device_query(cl_platform_id platform, cl_device_id device,
                            unsigned platform_index, unsigned device_index,
                            gcl_device_info *info);

/*
 * Selects devices by spec (see gcl_context_create). The caller frees
 * *selected. Fails with GCL_ERROR_DEVICE_NOT_FOUND, listing the devices that
 * exist, when a term of the spec matches nothing.
 */
gcl_status gcl_devices_select(const char *spec, gcl_selected_device **selected,
                              size_t *count);

#endif
