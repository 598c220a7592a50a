#define _POSIX_C_SOURCE 200809L
#include "runtime/devices.h"

#include "runtime/memory_caps.h"
#include "util/alloc.h"
#include "util/error.h"

#include <CL/cl_ext.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* All devices of all platforms, in enumeration order. */
typedef struct device_table {
  gcl_selected_device *devices;
  size_t count;
} device_table;

static gcl_status query_string(cl_device_id device, cl_device_info what,
                               char *buffer, size_t size) {
  cl_int code = clGetDeviceInfo(device, what, size, buffer, NULL);

  if (code != CL_SUCCESS)
    return gcl_fail_cl(code, "clGetDeviceInfo(%#x)", (unsigned)what);
  buffer[size - 1] = '\0';
  return GCL_SUCCESS;
}

/* Returns 1 if device lists extension name, 0 if not or if the list
 * cannot be read, and -1 when out of host memory. */
static int has_extension(cl_device_id device, const char *name) {
  size_t size = 0;
  char *extensions;
  int found;

  if (clGetDeviceInfo(device, CL_DEVICE_EXTENSIONS, 0, NULL, &size) !=
          CL_SUCCESS ||
      size == 0)
    return 0;
  extensions = gcl_malloc(size);
  if (extensions == NULL)
    return -1;
  found = clGetDeviceInfo(device, CL_DEVICE_EXTENSIONS, size, extensions,
                          NULL) == CL_SUCCESS &&
          strstr(extensions, name) != NULL;
  gcl_free(extensions);
  return found;
}

gcl_status gcl_device_query(cl_platform_id platform, cl_device_id device,
                            unsigned platform_index, unsigned device_index,
                            gcl_device_info *info) {
  cl_device_fp_config double_config = 0;
  gcl_status status;
  cl_int code;

  memset(info, 0, sizeof *info);
  info->platform_index = platform_index;
  info->device_index = device_index;

  code = clGetPlatformInfo(platform, CL_PLATFORM_NAME,
                           sizeof info->platform_name, info->platform_name,
                           NULL);
  if (code != CL_SUCCESS)
    return gcl_fail_cl(code, "clGetPlatformInfo(CL_PLATFORM_NAME)");
  info->platform_name[sizeof info->platform_name - 1] = '\0';

  status = query_string(device, CL_DEVICE_NAME, info->device_name,
                        sizeof info->device_name);
  if (status == GCL_SUCCESS)
    status = query_string(device, CL_DRIVER_VERSION, info->driver_version,
                          sizeof info->driver_version);
  if (status == GCL_SUCCESS)
    status = query_string(device, CL_DEVICE_OPENCL_C_VERSION,
                          info->opencl_c_version,
                          sizeof info->opencl_c_version);
  if (status != GCL_SUCCESS)
    return status;

  code = clGetDeviceInfo(device, CL_DEVICE_TYPE, sizeof info->type,
                         &info->type, NULL);
  if (code == CL_SUCCESS)
    code = clGetDeviceInfo(device, CL_DEVICE_MAX_COMPUTE_UNITS,
                           sizeof info->compute_units, &info->compute_units,
                           NULL);
  if (code == CL_SUCCESS)
    code = clGetDeviceInfo(device, CL_DEVICE_GLOBAL_MEM_SIZE,
                           sizeof info->global_mem_bytes,
                           &info->global_mem_bytes, NULL);
  if (code == CL_SUCCESS)
    code = clGetDeviceInfo(device, CL_DEVICE_MAX_MEM_ALLOC_SIZE,
                           sizeof info->max_alloc_bytes,
                           &info->max_alloc_bytes, NULL);
  if (code == CL_SUCCESS)
    code = clGetDeviceInfo(device, CL_DEVICE_LOCAL_MEM_SIZE,
                           sizeof info->local_mem_bytes,
                           &info->local_mem_bytes, NULL);
  if (code != CL_SUCCESS)
    return gcl_fail_cl(code, "clGetDeviceInfo on device '%s'",
                       info->device_name);

  /* Some drivers report double support only through the fp config. */
  clGetDeviceInfo(device, CL_DEVICE_DOUBLE_FP_CONFIG, sizeof double_config,
                  &double_config, NULL);
  info->has_fp64 =
      double_config != 0 ? 1 : has_extension(device, "cl_khr_fp64");
  info->has_fp16 = has_extension(device, "cl_khr_fp16");
  if (info->has_fp64 < 0 || info->has_fp16 < 0)
    return gcl_fail(GCL_ERROR_OUT_OF_MEMORY,
                    "out of host memory reading the extensions of device "
                    "'%s'",
                    info->device_name);
  return gcl_apply_memory_caps(info);
}

static gcl_status add_platform_devices(device_table *table,
                                       cl_platform_id platform,
                                       unsigned platform_index) {
  cl_uint count = 0;
  cl_device_id *ids;
  gcl_selected_device *grown;
  gcl_status status = GCL_SUCCESS;
  cl_int code;

  code = clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 0, NULL, &count);
  if (code == CL_DEVICE_NOT_FOUND || count == 0)
    return GCL_SUCCESS; /* a platform without devices is not an error */
  if (code != CL_SUCCESS)
    return gcl_fail_cl(code, "clGetDeviceIDs on platform %u", platform_index);

  ids = gcl_calloc(count, sizeof *ids);
  grown = gcl_realloc(table->devices, (table->count + count) * sizeof *grown);
  if (grown != NULL)
    table->devices = grown;
  if (ids == NULL || grown == NULL) {
    gcl_free(ids);
    return gcl_fail(GCL_ERROR_OUT_OF_MEMORY, "out of host memory listing %u devices",
                    (unsigned)count);
  }

  code = clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, count, ids, NULL);
  if (code != CL_SUCCESS)
    status = gcl_fail_cl(code, "clGetDeviceIDs on platform %u", platform_index);

  for (cl_uint i = 0; status == GCL_SUCCESS && i < count; i++) {
    gcl_selected_device *entry = &table->devices[table->count];

    entry->platform = platform;
    entry->device = ids[i];
    status = gcl_device_query(platform, ids[i], platform_index, i,
                              &entry->info);
    if (status == GCL_SUCCESS)
      table->count++;
  }
  gcl_free(ids);
  return status;
}

static gcl_status load_device_table(device_table *table) {
  cl_uint count = 0;
  cl_platform_id *platforms;
  gcl_status status = GCL_SUCCESS;
  cl_int code;

  table->devices = NULL;
  table->count = 0;

  code = clGetPlatformIDs(0, NULL, &count);
  if (code == CL_PLATFORM_NOT_FOUND_KHR || count == 0)
    return GCL_SUCCESS; /* no ICD installed: an empty list */
  if (code != CL_SUCCESS)
    return gcl_fail_cl(code, "clGetPlatformIDs");

  platforms = gcl_calloc(count, sizeof *platforms);
  if (platforms == NULL)
    return gcl_fail(GCL_ERROR_OUT_OF_MEMORY, "out of host memory listing platforms");
  code = clGetPlatformIDs(count, platforms, NULL);
  if (code != CL_SUCCESS)
    status = gcl_fail_cl(code, "clGetPlatformIDs");

  for (cl_uint p = 0; status == GCL_SUCCESS && p < count; p++)
    status = add_platform_devices(table, platforms[p], p);

  gcl_free(platforms);
  if (status != GCL_SUCCESS) {
    gcl_free(table->devices);
    table->devices = NULL;
    table->count = 0;
  }
  return status;
}

gcl_status gcl_devices_list(gcl_device_info **devices, size_t *count) {
  device_table table;
  gcl_status status;

  gcl_clear_error();
  if (devices == NULL || count == NULL)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "gcl_devices_list: devices and count must not be NULL");
  *devices = NULL;
  *count = 0;

  status = load_device_table(&table);
  if (status != GCL_SUCCESS)
    return status;

  if (table.count > 0) {
    *devices = gcl_calloc(table.count, sizeof **devices);
    if (*devices == NULL) {
      gcl_free(table.devices);
      return gcl_fail(GCL_ERROR_OUT_OF_MEMORY, "out of host memory listing devices");
    }
  }
  for (size_t i = 0; i < table.count; i++)
    (*devices)[i] = table.devices[i].info;
  *count = table.count;
  gcl_free(table.devices);
  return GCL_SUCCESS;
}

void gcl_devices_free(gcl_device_info *devices) { gcl_free(devices); }

const char *gcl_device_type_name(cl_device_type type, char *buffer,
                                 size_t size) {
  const char *name = "other";

  if (type & CL_DEVICE_TYPE_GPU)
    name = "GPU";
  else if (type & CL_DEVICE_TYPE_CPU)
    name = "CPU";
  else if (type & CL_DEVICE_TYPE_ACCELERATOR)
    name = "accelerator";
  else if (type & CL_DEVICE_TYPE_CUSTOM)
    name = "custom";
  else if (type & CL_DEVICE_TYPE_DEFAULT)
    name = "default";
  if (buffer != NULL && size > 0)
    snprintf(buffer, size, "%s", name);
  return buffer;
}

/* ---- selection ------------------------------------------------------------ */

static int contains_ignoring_case(const char *text, const char *pattern) {
  size_t length = strlen(pattern);

  for (; *text != '\0'; text++) {
    size_t i = 0;

    while (i < length && text[i] != '\0' &&
           tolower((unsigned char)text[i]) ==
               tolower((unsigned char)pattern[i]))
      i++;
    if (i == length)
      return 1;
  }
  return length == 0;
}

static int count_type(const device_table *table, cl_device_type type) {
  int found = 0;

  for (size_t i = 0; i < table->count; i++)
    found += (table->devices[i].info.type & type) != 0;
  return found;
}

/*
 * Decides whether device entry matches one spec term. "auto" resolves to
 * the GPUs when any exist, else the CPUs, else everything.
 */
static int term_matches(const device_table *table, const char *term,
                        const gcl_selected_device *entry) {
  unsigned platform_index, device_index;
  char tail;

  if (strcmp(term, "all") == 0)
    return 1;
  if (strcmp(term, "gpu") == 0)
    return (entry->info.type & CL_DEVICE_TYPE_GPU) != 0;
  if (strcmp(term, "cpu") == 0)
    return (entry->info.type & CL_DEVICE_TYPE_CPU) != 0;
  if (strcmp(term, "auto") == 0) {
    if (count_type(table, CL_DEVICE_TYPE_GPU) > 0)
      return (entry->info.type & CL_DEVICE_TYPE_GPU) != 0;
    if (count_type(table, CL_DEVICE_TYPE_CPU) > 0)
      return (entry->info.type & CL_DEVICE_TYPE_CPU) != 0;
    return 1;
  }
  if (sscanf(term, "%u:%u%c", &platform_index, &device_index, &tail) == 2)
    return entry->info.platform_index == platform_index &&
           entry->info.device_index == device_index;
  return contains_ignoring_case(entry->info.device_name, term) ||
         contains_ignoring_case(entry->info.platform_name, term);
}

/* Formats the list of existing devices for a "not found" message. */
static void describe_devices(const device_table *table, char *buffer,
                             size_t size) {
  size_t used = 0;

  buffer[0] = '\0';
  if (table->count == 0) {
    snprintf(buffer, size,
             " No OpenCL device exists; install a driver, for example "
             "'apt-get install pocl-opencl-icd' for the CPU.");
    return;
  }
  used += (size_t)snprintf(buffer, size, " Devices that exist:");
  for (size_t i = 0; i < table->count && used < size; i++) {
    const gcl_device_info *info = &table->devices[i].info;
    char type[16];

    used += (size_t)snprintf(
        buffer + used, size - used, "\n  %u:%u  %s (%s, %s)",
        info->platform_index, info->device_index, info->device_name,
        gcl_device_type_name(info->type, type, sizeof type),
        info->platform_name);
  }
}

static gcl_status select_term(const device_table *table, const char *term,
                              int *chosen) {
  int matched = 0;
  char existing[4096];

  for (size_t i = 0; i < table->count; i++) {
    if (term_matches(table, term, &table->devices[i])) {
      chosen[i] = 1;
      matched = 1;
    }
  }
  if (matched)
    return GCL_SUCCESS;

  describe_devices(table, existing, sizeof existing);
  return gcl_fail(GCL_ERROR_DEVICE_NOT_FOUND,
                  "no OpenCL device matches '%s'. Use auto, all, gpu, cpu, "
                  "P:D or part of a device name.%s",
                  term, existing);
}

/* Splits spec at commas and marks every device some term selects. */
static gcl_status mark_selected(const device_table *table, const char *spec,
                                int *chosen) {
  char *copy = gcl_strdup(spec);
  char *saveptr = NULL;
  gcl_status status = GCL_SUCCESS;
  int terms = 0;

  if (copy == NULL)
    return gcl_fail(GCL_ERROR_OUT_OF_MEMORY, "out of host memory");
  for (char *term = strtok_r(copy, ",", &saveptr);
       term != NULL && status == GCL_SUCCESS;
       term = strtok_r(NULL, ",", &saveptr)) {
    size_t length;

    /* Ignore spaces around a term, as in "0:0, cpu". */
    while (*term == ' ' || *term == '\t')
      term++;
    length = strlen(term);
    while (length > 0 && (term[length - 1] == ' ' || term[length - 1] == '\t'))
      term[--length] = '\0';
    if (length == 0)
      continue;

    terms++;
    status = select_term(table, term, chosen);
  }
  gcl_free(copy);
  if (status == GCL_SUCCESS && terms == 0)
    status = gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                      "device spec '%s' contains no term; use auto, all, gpu, "
                      "cpu, P:D or part of a device name",
                      spec);
  return status;
}

gcl_status gcl_devices_select(const char *spec, gcl_selected_device **selected,
                              size_t *count) {
  device_table table;
  int *chosen;
  size_t total = 0;
  gcl_status status;

  *selected = NULL;
  *count = 0;
  status = load_device_table(&table);
  if (status != GCL_SUCCESS)
    return status;

  chosen = gcl_calloc(table.count + 1, sizeof *chosen);
  if (chosen == NULL) {
    gcl_free(table.devices);
    return gcl_fail(GCL_ERROR_OUT_OF_MEMORY, "out of host memory");
  }

  status = mark_selected(&table, spec, chosen);

  /* Compact the chosen entries in enumeration order, in place. */
  for (size_t i = 0; status == GCL_SUCCESS && i < table.count; i++) {
    if (chosen[i])
      table.devices[total++] = table.devices[i];
  }
  gcl_free(chosen);
  if (status != GCL_SUCCESS) {
    gcl_free(table.devices);
    return status;
  }
  *selected = table.devices;
  *count = total;
  return GCL_SUCCESS;
}
