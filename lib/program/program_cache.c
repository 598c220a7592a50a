#define _POSIX_C_SOURCE 200809L
#include "program/program_cache.h"

#include "program/disk_cache.h"
#include "program/kernel_sources.h"
#include "util/alloc.h"
#include "util/cl_calls.h"
#include "util/cl_objects.h"
#include "util/error.h"
#include "util/fault.h"
#include "util/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>

/* Options every groupcl program is built with; no fast-math, for exactness. */
#define GCL_BASE_BUILD_OPTIONS "-cl-std=CL1.2"

/* Keep this much of a compiler log in an error message. */
#define GCL_BUILD_LOG_EXCERPT 12000

typedef struct cache_entry {
  cl_context cl_ctx;
  cl_device_id device;
  char *source; /* a private copy: the key must not change under us */
  char *options;
  cl_program program;
  struct cache_entry *next;
} cache_entry;

struct gcl_program_cache {
  mtx_t lock;
  cache_entry *entries;
  uint64_t built;
  uint64_t hits;
  uint64_t loaded;
};

gcl_program_cache *gcl_program_cache_create(void) {
  gcl_program_cache *cache = gcl_calloc(1, sizeof *cache);

  if (cache == NULL)
    return NULL;
  if (mtx_init(&cache->lock, mtx_plain) != thrd_success) {
    gcl_free(cache);
    return NULL;
  }
  return cache;
}

static void free_entry(cache_entry *entry) {
  gcl_release_program(entry->program);
  gcl_free(entry->source);
  gcl_free(entry->options);
  gcl_free(entry);
}

void gcl_program_cache_destroy(gcl_program_cache *cache) {
  cache_entry *entry;

  if (cache == NULL)
    return;
  entry = cache->entries;
  while (entry != NULL) {
    cache_entry *next = entry->next;

    free_entry(entry);
    entry = next;
  }
  mtx_destroy(&cache->lock);
  gcl_free(cache);
}

void gcl_program_cache_stats(const gcl_program_cache *cache, uint64_t *built,
                             uint64_t *hits, uint64_t *loaded) {
  /* The lock makes the three counters a consistent set, since another
   * thread may be building a program at the same time. */
  mtx_lock((mtx_t *)&cache->lock);
  *built = cache->built;
  *hits = cache->hits;
  *loaded = cache->loaded;
  mtx_unlock((mtx_t *)&cache->lock);
}

const char *gcl_kernel_source_text(const char *file_name) {
  for (const gcl_kernel_source *entry = gcl_kernel_sources;
       entry->file_name != NULL; entry++) {
    if (strcmp(entry->file_name, file_name) == 0)
      return entry->text;
  }
  return NULL;
}

static cache_entry *find_entry(gcl_program_cache *cache, cl_context cl_ctx,
                               cl_device_id device, const char *source,
                               const char *options) {
  for (cache_entry *entry = cache->entries; entry != NULL;
       entry = entry->next) {
    if (entry->cl_ctx == cl_ctx && entry->device == device &&
        strcmp(entry->options, options) == 0 &&
        strcmp(entry->source, source) == 0)
      return entry;
  }
  return NULL;
}

/* Joins the base options, the caller's and GROUPCL_BUILD_OPTIONS. */
static char *full_options(const char *options) {
  const char *extra = getenv("GROUPCL_BUILD_OPTIONS");
  size_t size;
  char *joined;

  if (extra == NULL)
    extra = "";
  size = strlen(GCL_BASE_BUILD_OPTIONS) + strlen(options) + strlen(extra) + 3;
  joined = gcl_malloc(size);
  if (joined != NULL)
    snprintf(joined, size, "%s %s%s%s", GCL_BASE_BUILD_OPTIONS, options,
             extra[0] != '\0' ? " " : "", extra);
  return joined;
}

static gcl_status report_build_failure(cl_program program, cl_device_id device,
                                       cl_int code, const char *file_name,
                                       const char *options) {
  char device_name[128] = "?";
  size_t log_size = 0;
  char *log = NULL;
  gcl_status status;

  clGetDeviceInfo(device, CL_DEVICE_NAME, sizeof device_name, device_name,
                  NULL);
  device_name[sizeof device_name - 1] = '\0';

  if (clGetProgramBuildInfo(program, device, CL_PROGRAM_BUILD_LOG, 0, NULL,
                            &log_size) == CL_SUCCESS &&
      log_size > 0)
    log = gcl_calloc(log_size + 1, 1);
  if (log != NULL)
    clGetProgramBuildInfo(program, device, CL_PROGRAM_BUILD_LOG, log_size, log,
                          NULL);
  if (log != NULL && strlen(log) > GCL_BUILD_LOG_EXCERPT)
    log[GCL_BUILD_LOG_EXCERPT] = '\0';

  status = gcl_fail(GCL_ERROR_BUILD_FAILED,
                    "kernel build failed: %s for device '%s' with options "
                    "'%s' returned %s (%d)\ncompiler log:\n%s",
                    file_name, device_name, options, gcl_cl_error_name(code),
                    (int)code,
                    log != NULL && log[0] != '\0' ? log : "(empty)");
  gcl_set_cl_error(code);
  GCL_LOG_ERROR("%s", gcl_last_error());
  gcl_free(log);
  return status;
}

/* Builds source with all_options, the complete option string; a nonzero
 * inject_fault makes a successful build fail, for tests. */
static gcl_status compile(cl_context cl_ctx, cl_device_id device,
                          const char *file_name, const char *source,
                          const char *all_options, int inject_fault,
                          cl_program *program) {
  cl_int code;
  gcl_status status = GCL_SUCCESS;

  *program = gcl_clCreateProgramWithSource(cl_ctx, 1, &source, NULL, &code);
  if (*program == NULL)
    return gcl_fail_cl(code, "clCreateProgramWithSource for %s", file_name);
  gcl_cl_object_created(GCL_CL_PROGRAM);

  code = clBuildProgram(*program, 1, &device, all_options, NULL, NULL);
  if (code == CL_SUCCESS && inject_fault)
    code = CL_BUILD_PROGRAM_FAILURE;
  if (code != CL_SUCCESS) {
    status = report_build_failure(*program, device, code, file_name,
                                  all_options);
    gcl_release_program(*program);
    *program = NULL;
  } else {
    GCL_LOG_DEBUG("built %s with '%s'", file_name, all_options);
  }
  return status;
}

static cache_entry *new_entry(cl_context cl_ctx, cl_device_id device,
                              const char *source, const char *options) {
  cache_entry *entry = gcl_calloc(1, sizeof *entry);

  if (entry == NULL)
    return NULL;
  entry->cl_ctx = cl_ctx;
  entry->device = device;
  entry->source = gcl_strdup(source);
  entry->options = gcl_strdup(options);
  if (entry->source == NULL || entry->options == NULL) {
    free_entry(entry);
    return NULL;
  }
  return entry;
}

/*
 * Fills entry->program from the disk cache or, failing that, from source,
 * and stores a source build on disk. Runs under the cache lock.
 */
static gcl_status obtain_program(gcl_program_cache *cache, cache_entry *entry,
                                 const char *file_name) {
  char *disk_key;
  int inject_fault;
  gcl_status status;

  /* A test's injected build failure counts programs that miss the memory
   * cache, so it fires the same way whether the disk cache is cold or warm.
   * An injected failure skips the disk, so that the source build fails. */
  inject_fault = gcl_fault_hit(GCL_FAULT_BUILD, entry->device);
  disk_key = gcl_disk_cache_key(entry->device, entry->source, entry->options);
  if (disk_key != NULL && !inject_fault &&
      gcl_disk_cache_load(entry->cl_ctx, entry->device, disk_key,
                          entry->options, file_name, &entry->program)) {
    cache->loaded++;
    gcl_free(disk_key);
    return GCL_SUCCESS;
  }

  status = compile(entry->cl_ctx, entry->device, file_name, entry->source,
                   entry->options, inject_fault, &entry->program);
  if (status == GCL_SUCCESS) {
    cache->built++;
    if (disk_key != NULL)
      gcl_disk_cache_store(entry->device, disk_key, file_name,
                           entry->program);
  }
  gcl_free(disk_key);
  return status;
}

gcl_status gcl_program_build(gcl_program_cache *cache, cl_context cl_ctx,
                             cl_device_id device, const char *file_name,
                             const char *source, const char *options,
                             cl_program *program) {
  cache_entry *entry;
  char *all_options;
  gcl_status status;

  *program = NULL;
  if (source == NULL)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "no OpenCL source for %s; the build did not embed it",
                    file_name);

  /* The key contains the full option string, GROUPCL_BUILD_OPTIONS
   * included, so a change of that variable builds anew. */
  all_options = full_options(options);
  if (all_options == NULL)
    return gcl_fail(GCL_ERROR_OUT_OF_MEMORY, "out of host memory");

  /* Builds run under the lock: simple, and two plans for one layer then
   * never compile the same program twice. */
  mtx_lock(&cache->lock);
  entry = find_entry(cache, cl_ctx, device, source, all_options);
  if (entry != NULL) {
    cache->hits++;
    *program = entry->program;
    mtx_unlock(&cache->lock);
    gcl_free(all_options);
    return GCL_SUCCESS;
  }

  entry = new_entry(cl_ctx, device, source, all_options);
  gcl_free(all_options);
  if (entry == NULL) {
    mtx_unlock(&cache->lock);
    return gcl_fail(GCL_ERROR_OUT_OF_MEMORY, "out of host memory");
  }
  status = obtain_program(cache, entry, file_name);
  if (status != GCL_SUCCESS) {
    free_entry(entry);
    mtx_unlock(&cache->lock);
    return status;
  }
  entry->next = cache->entries;
  cache->entries = entry;
  *program = entry->program;
  mtx_unlock(&cache->lock);
  return GCL_SUCCESS;
}
