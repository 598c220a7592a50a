#include "util/error.h"

#include <CL/cl_ext.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Long enough for a compiler log excerpt plus the option string. */
#define GCL_ERROR_CAPACITY 16384

static _Thread_local char last_message[GCL_ERROR_CAPACITY];
static _Thread_local cl_int last_cl_code = CL_SUCCESS;

const char *gcl_last_error(void) { return last_message; }

cl_int gcl_last_cl_error(void) { return last_cl_code; }

void gcl_clear_error(void) {
  last_message[0] = '\0';
  last_cl_code = CL_SUCCESS;
}

void gcl_set_cl_error(cl_int code) { last_cl_code = code; }

gcl_status gcl_fail(gcl_status status, const char *format, ...) {
  va_list args;

  va_start(args, format);
  vsnprintf(last_message, sizeof last_message, format, args);
  va_end(args);
  last_cl_code = CL_SUCCESS;
  return status;
}

gcl_status gcl_fail_cl(cl_int code, const char *format, ...) {
  va_list args;
  size_t used;

  va_start(args, format);
  vsnprintf(last_message, sizeof last_message, format, args);
  va_end(args);

  used = strlen(last_message);
  snprintf(last_message + used, sizeof last_message - used,
           " failed: %s (%d)", gcl_cl_error_name(code), (int)code);
  last_cl_code = code;
  return gcl_status_from_cl(code);
}

gcl_status gcl_status_from_cl(cl_int code) {
  switch (code) {
  case CL_SUCCESS:
    return GCL_SUCCESS;
  case CL_OUT_OF_HOST_MEMORY:
  case CL_OUT_OF_RESOURCES:
  case CL_MEM_OBJECT_ALLOCATION_FAILURE:
  case CL_INVALID_BUFFER_SIZE:
    return GCL_ERROR_OUT_OF_MEMORY;
  case CL_BUILD_PROGRAM_FAILURE:
  case CL_COMPILER_NOT_AVAILABLE:
  case CL_INVALID_BUILD_OPTIONS:
    return GCL_ERROR_BUILD_FAILED;
  case CL_DEVICE_NOT_FOUND:
  case CL_PLATFORM_NOT_FOUND_KHR:
    return GCL_ERROR_DEVICE_NOT_FOUND;
  default:
    return GCL_ERROR_OPENCL;
  }
}

const char *gcl_status_string(gcl_status status) {
  switch (status) {
  case GCL_SUCCESS:
    return "success";
  case GCL_ERROR_INVALID_ARGUMENT:
    return "invalid argument";
  case GCL_ERROR_INVALID_LAYER:
    return "invalid layer";
  case GCL_ERROR_SHAPE_MISMATCH:
    return "shape mismatch";
  case GCL_ERROR_INVALID_STATE:
    return "invalid state";
  case GCL_ERROR_UNSUPPORTED:
    return "unsupported";
  case GCL_ERROR_OUT_OF_MEMORY:
    return "out of memory";
  case GCL_ERROR_DEVICE_NOT_FOUND:
    return "device not found";
  case GCL_ERROR_BUILD_FAILED:
    return "kernel build failed";
  case GCL_ERROR_OPENCL:
    return "OpenCL error";
  case GCL_ERROR_IO:
    return "file error";
  }
  return "unknown status";
}

const char *gcl_cl_error_name(cl_int code) {
  switch (code) {
#define GCL_CL_NAME(name)                                                      \
  case name:                                                                   \
    return #name;
    GCL_CL_NAME(CL_SUCCESS)
    GCL_CL_NAME(CL_DEVICE_NOT_FOUND)
    GCL_CL_NAME(CL_DEVICE_NOT_AVAILABLE)
    GCL_CL_NAME(CL_COMPILER_NOT_AVAILABLE)
    GCL_CL_NAME(CL_MEM_OBJECT_ALLOCATION_FAILURE)
    GCL_CL_NAME(CL_OUT_OF_RESOURCES)
    GCL_CL_NAME(CL_OUT_OF_HOST_MEMORY)
    GCL_CL_NAME(CL_PROFILING_INFO_NOT_AVAILABLE)
    GCL_CL_NAME(CL_MEM_COPY_OVERLAP)
    GCL_CL_NAME(CL_IMAGE_FORMAT_MISMATCH)
    GCL_CL_NAME(CL_IMAGE_FORMAT_NOT_SUPPORTED)
    GCL_CL_NAME(CL_BUILD_PROGRAM_FAILURE)
    GCL_CL_NAME(CL_MAP_FAILURE)
    GCL_CL_NAME(CL_MISALIGNED_SUB_BUFFER_OFFSET)
    GCL_CL_NAME(CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST)
    GCL_CL_NAME(CL_COMPILE_PROGRAM_FAILURE)
    GCL_CL_NAME(CL_LINKER_NOT_AVAILABLE)
    GCL_CL_NAME(CL_LINK_PROGRAM_FAILURE)
    GCL_CL_NAME(CL_DEVICE_PARTITION_FAILED)
    GCL_CL_NAME(CL_KERNEL_ARG_INFO_NOT_AVAILABLE)
    GCL_CL_NAME(CL_INVALID_VALUE)
    GCL_CL_NAME(CL_INVALID_DEVICE_TYPE)
    GCL_CL_NAME(CL_INVALID_PLATFORM)
    GCL_CL_NAME(CL_INVALID_DEVICE)
    GCL_CL_NAME(CL_INVALID_CONTEXT)
    GCL_CL_NAME(CL_INVALID_QUEUE_PROPERTIES)
    GCL_CL_NAME(CL_INVALID_COMMAND_QUEUE)
    GCL_CL_NAME(CL_INVALID_HOST_PTR)
    GCL_CL_NAME(CL_INVALID_MEM_OBJECT)
    GCL_CL_NAME(CL_INVALID_IMAGE_FORMAT_DESCRIPTOR)
    GCL_CL_NAME(CL_INVALID_IMAGE_SIZE)
    GCL_CL_NAME(CL_INVALID_SAMPLER)
    GCL_CL_NAME(CL_INVALID_BINARY)
    GCL_CL_NAME(CL_INVALID_BUILD_OPTIONS)
    GCL_CL_NAME(CL_INVALID_PROGRAM)
    GCL_CL_NAME(CL_INVALID_PROGRAM_EXECUTABLE)
    GCL_CL_NAME(CL_INVALID_KERNEL_NAME)
    GCL_CL_NAME(CL_INVALID_KERNEL_DEFINITION)
    GCL_CL_NAME(CL_INVALID_KERNEL)
    GCL_CL_NAME(CL_INVALID_ARG_INDEX)
    GCL_CL_NAME(CL_INVALID_ARG_VALUE)
    GCL_CL_NAME(CL_INVALID_ARG_SIZE)
    GCL_CL_NAME(CL_INVALID_KERNEL_ARGS)
    GCL_CL_NAME(CL_INVALID_WORK_DIMENSION)
    GCL_CL_NAME(CL_INVALID_WORK_GROUP_SIZE)
    GCL_CL_NAME(CL_INVALID_WORK_ITEM_SIZE)
    GCL_CL_NAME(CL_INVALID_GLOBAL_OFFSET)
    GCL_CL_NAME(CL_INVALID_EVENT_WAIT_LIST)
    GCL_CL_NAME(CL_INVALID_EVENT)
    GCL_CL_NAME(CL_INVALID_OPERATION)
    GCL_CL_NAME(CL_INVALID_GL_OBJECT)
    GCL_CL_NAME(CL_INVALID_BUFFER_SIZE)
    GCL_CL_NAME(CL_INVALID_MIP_LEVEL)
    GCL_CL_NAME(CL_INVALID_GLOBAL_WORK_SIZE)
    GCL_CL_NAME(CL_INVALID_PROPERTY)
    GCL_CL_NAME(CL_INVALID_IMAGE_DESCRIPTOR)
    GCL_CL_NAME(CL_INVALID_COMPILER_OPTIONS)
    GCL_CL_NAME(CL_INVALID_LINKER_OPTIONS)
    GCL_CL_NAME(CL_INVALID_DEVICE_PARTITION_COUNT)
    GCL_CL_NAME(CL_PLATFORM_NOT_FOUND_KHR)
#undef GCL_CL_NAME
  default:
    return "unknown OpenCL error";
  }
}
