/*
 * Per-thread error reporting. Every public function that fails records a
 * message here before returning its status; gcl_last_error() reads it.
 */
#ifndef GCL_UTIL_ERROR_H
#define GCL_UTIL_ERROR_H

#include "groupcl.h"

#if defined(__GNUC__)
#define GCL_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define GCL_PRINTF(fmt, args)
#endif

/* Records a formatted message for status and returns status. */
gcl_status gcl_fail(gcl_status status, const char *format, ...)
    GCL_PRINTF(2, 3);

/*
 * Records a message for a failed OpenCL call: "WHAT failed: CL_ERROR_NAME
 * (code)" with the caller's context, and maps the code to a status
 * (CL_OUT_OF_RESOURCES and allocation failures become GCL_ERROR_OUT_OF_MEMORY).
 */
gcl_status gcl_fail_cl(cl_int code, const char *format, ...) GCL_PRINTF(2, 3);

/* Records the OpenCL code behind the current message. */
void gcl_set_cl_error(cl_int code);

/* Clears the message; called at the start of public entry points. */
void gcl_clear_error(void);

/* Returns the symbolic name of an OpenCL error code, e.g. "CL_OUT_OF_HOST_MEMORY". */
const char *gcl_cl_error_name(cl_int code);

/* Maps an OpenCL error code to the status that describes it. */
gcl_status gcl_status_from_cl(cl_int code);

#endif
