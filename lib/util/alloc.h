/*
 * Host allocation for all library code. Each function behaves as the libc
 * call it wraps, but a test can make it return NULL through the fault
 * injector (GCL_FAULT_ALLOC in util/fault.h) and count the blocks still
 * live. Free every block from these functions with gcl_free, and only
 * those: a block from libc (getline, for example) goes to free.
 */
#ifndef GCL_UTIL_ALLOC_H
#define GCL_UTIL_ALLOC_H

#include <stddef.h>

void *gcl_malloc(size_t size);
void *gcl_calloc(size_t count, size_t size);

/* A NULL result leaves pointer valid, as with realloc. size must not be 0,
 * because realloc's result for 0 differs between libc versions. */
void *gcl_realloc(void *pointer, size_t size);

char *gcl_strdup(const char *text);
void gcl_free(void *pointer);

#endif
