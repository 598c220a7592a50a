/*
 * Run-time compilation of OpenCL programs with an in-memory cache keyed by
 * (device, source text, options), so a second plan for the same layer
 * compiles nothing, backed by the disk cache of lib/program/disk_cache.h,
 * so a second process compiles nothing either.
 */
#ifndef GCL_PROGRAM_PROGRAM_CACHE_H
#define GCL_PROGRAM_PROGRAM_CACHE_H

#include "groupcl.h"

typedef struct gcl_program_cache gcl_program_cache;

gcl_program_cache *gcl_program_cache_create(void);

/* Releases every cached program. Accepts NULL. */
void gcl_program_cache_destroy(gcl_program_cache *cache);

/*
 * Reads the counters: programs compiled from source, programs reused from
 * memory, and programs loaded as binaries from the disk cache.
 */
void gcl_program_cache_stats(const gcl_program_cache *cache, uint64_t *built,
                             uint64_t *hits, uint64_t *loaded);

/*
 * Returns a program for device built with options: from memory, else from a
 * binary in the disk cache, else from source (then stored on disk). The cache
 * owns the program; kernels created from it keep it alive by themselves.
 * file_name only labels messages. A failed build returns
 * GCL_ERROR_BUILD_FAILED with the compiler log, file name and full option
 * string in gcl_last_error(). Safe to call from several threads.
 */
gcl_status gcl_program_build(gcl_program_cache *cache, cl_context cl_ctx,
                             cl_device_id device, const char *file_name,
                             const char *source, const char *options,
                             cl_program *program);

/* Returns the embedded source of kernels/NAME, or NULL if there is none. */
const char *gcl_kernel_source_text(const char *file_name);

#endif
