#include "util/fault.h"

#include <stdatomic.h>

typedef struct fault_rule {
  _Atomic long nth;   /* 0: disarmed */
  _Atomic long calls; /* matching calls so far */
  cl_device_id _Atomic device;
} fault_rule;

static fault_rule rules[GCL_FAULT_KIND_COUNT];

void gcl_fault_arm(gcl_fault_kind kind, cl_device_id device, long nth) {
  atomic_store(&rules[kind].device, device);
  atomic_store(&rules[kind].calls, 0);
  atomic_store(&rules[kind].nth, nth);
}

void gcl_fault_clear(void) {
  for (int kind = 0; kind < GCL_FAULT_KIND_COUNT; kind++)
    gcl_fault_arm((gcl_fault_kind)kind, NULL, 0);
}

int gcl_fault_hit(gcl_fault_kind kind, cl_device_id device) {
  fault_rule *rule = &rules[kind];
  cl_device_id only = atomic_load(&rule->device);
  long nth = atomic_load(&rule->nth);

  if (nth == 0 || (only != NULL && only != device))
    return 0;
  return atomic_fetch_add(&rule->calls, 1) + 1 == nth;
}
