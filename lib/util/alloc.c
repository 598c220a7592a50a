#define _POSIX_C_SOURCE 200809L
#include "util/alloc.h"

#include "util/fault.h"

#include <stdlib.h>
#include <string.h>

/* The slow path, taken only while a test arms faults or tracks blocks:
 * returns 1 when this allocation must fail. */
static int fail_allocation(void) {
  return gcl_fault_hit(GCL_FAULT_ALLOC, NULL);
}

static void *note_made(void *pointer) {
  if (pointer != NULL)
    gcl_fault_note_allocations(1);
  return pointer;
}

void *gcl_malloc(size_t size) {
  if (gcl_fault_state_now() == 0)
    return malloc(size);
  if (fail_allocation())
    return NULL;
  return note_made(malloc(size));
}

void *gcl_calloc(size_t count, size_t size) {
  if (gcl_fault_state_now() == 0)
    return calloc(count, size);
  if (fail_allocation())
    return NULL;
  return note_made(calloc(count, size));
}

void *gcl_realloc(void *pointer, size_t size) {
  void *grown;

  if (gcl_fault_state_now() == 0)
    return realloc(pointer, size);
  if (fail_allocation())
    return NULL;
  grown = realloc(pointer, size);
  /* Only a realloc of NULL adds a block; a move keeps the count. */
  if (pointer == NULL)
    note_made(grown);
  return grown;
}

char *gcl_strdup(const char *text) {
  if (gcl_fault_state_now() == 0)
    return strdup(text);
  if (fail_allocation())
    return NULL;
  return note_made(strdup(text));
}

void gcl_free(void *pointer) {
  if (pointer != NULL && gcl_fault_state_now() != 0)
    gcl_fault_note_allocations(-1);
  free(pointer);
}
