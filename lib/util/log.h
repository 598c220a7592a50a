/*
 * Levelled logging to stderr, off unless the GROUPCL_LOG environment
 * variable names a level: error, warn, info or debug. When off, a log call
 * costs one integer comparison and evaluates none of its arguments.
 */
#ifndef GCL_UTIL_LOG_H
#define GCL_UTIL_LOG_H

#include "util/error.h"

typedef enum gcl_log_level {
  GCL_LOG_OFF = 0,
  GCL_LOG_ERROR = 1,
  GCL_LOG_WARN = 2,
  GCL_LOG_INFO = 3,
  GCL_LOG_DEBUG = 4
} gcl_log_level;

/* Returns the level read once from GROUPCL_LOG. */
gcl_log_level gcl_log_threshold(void);

void gcl_log_write(gcl_log_level level, const char *format, ...)
    GCL_PRINTF(2, 3);

#define GCL_LOG(level, ...)                                                    \
  do {                                                                         \
    if ((level) <= gcl_log_threshold())                                        \
      gcl_log_write((level), __VA_ARGS__);                                     \
  } while (0)

#define GCL_LOG_ERROR(...) GCL_LOG(GCL_LOG_ERROR, __VA_ARGS__)
#define GCL_LOG_WARN(...) GCL_LOG(GCL_LOG_WARN, __VA_ARGS__)
#define GCL_LOG_INFO(...) GCL_LOG(GCL_LOG_INFO, __VA_ARGS__)
#define GCL_LOG_DEBUG(...) GCL_LOG(GCL_LOG_DEBUG, __VA_ARGS__)

#endif
