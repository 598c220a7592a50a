#include "runtime/memory_caps.h"

#include "util/error.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

static const char *const max_alloc_variable = "GROUPCL_MAX_ALLOC_BYTES";
static const char *const global_variable = "GROUPCL_GLOBAL_MEM_BYTES";

/* Parses "1048576", "64M" or "2G"; returns 0 unless it is a positive byte
 * count that fits 64 bits. */
static int parse_bytes(const char *text, uint64_t *bytes) {
  unsigned long long value;
  unsigned shift = 0;
  char *end;

  if (!isdigit((unsigned char)text[0]))
    return 0;
  errno = 0;
  value = strtoull(text, &end, 10);
  if (errno != 0 || value == 0)
    return 0;
  switch (toupper((unsigned char)*end)) {
  case 'K':
    shift = 10;
    end++;
    break;
  case 'M':
    shift = 20;
    end++;
    break;
  case 'G':
    shift = 30;
    end++;
    break;
  default:
    break;
  }
  if (*end != '\0' || value > (UINT64_MAX >> shift))
    return 0;
  *bytes = (uint64_t)value << shift;
  return 1;
}

/* Lowers *limit to the cap in `variable` when that is set. */
static gcl_status apply_cap(const char *variable, cl_ulong *limit) {
  const char *text = getenv(variable);
  uint64_t cap;

  if (text == NULL || text[0] == '\0')
    return GCL_SUCCESS;
  if (!parse_bytes(text, &cap))
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "%s is '%s'; set it to a positive byte count such as "
                    "268435456, 256M or 2G, or unset it",
                    variable, text);
  if (cap < *limit)
    *limit = cap;
  return GCL_SUCCESS;
}

gcl_status gcl_apply_memory_caps(gcl_device_info *info) {
  gcl_status status = apply_cap(max_alloc_variable, &info->max_alloc_bytes);

  if (status == GCL_SUCCESS)
    status = apply_cap(global_variable, &info->global_mem_bytes);
  if (info->max_alloc_bytes > info->global_mem_bytes)
    info->max_alloc_bytes = info->global_mem_bytes;
  return status;
}

const char *gcl_memory_caps_text(char *buffer, size_t size) {
  const char *alloc = getenv(max_alloc_variable);
  const char *global = getenv(global_variable);
  int used = 0;

  buffer[0] = '\0';
  if (alloc != NULL && alloc[0] != '\0')
    used = snprintf(buffer, size, " %s=%s", max_alloc_variable, alloc);
  if (global != NULL && global[0] != '\0' && used >= 0 &&
      (size_t)used < size)
    snprintf(buffer + used, size - (size_t)used, " %s=%s", global_variable,
             global);
  return buffer;
}
