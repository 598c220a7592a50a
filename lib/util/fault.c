#include "util/fault.h"

typedef struct fault_rule {
  _Atomic long nth;   /* 0: disarmed; GCL_FAULT_COUNT_ONLY: count only */
  _Atomic long calls; /* matching calls so far */
  _Atomic long fired; /* calls made to fail */
  cl_device_id _Atomic device;
} fault_rule;

static fault_rule rules[GCL_FAULT_KIND_COUNT];

_Atomic unsigned gcl_fault_state;

static _Atomic long live_allocations;

static const char *const kind_names[GCL_FAULT_KIND_COUNT] = {
    "build",   "buffer",  "enqueue", "transfer", "queue",
    "context", "program", "kernel",  "wait",     "alloc"};

/* Sets the armed bit of the state when any kind is armed. */
static void update_armed_bit(void) {
  int armed = 0;

  for (int kind = 0; kind < GCL_FAULT_KIND_COUNT; kind++)
    armed |= atomic_load(&rules[kind].nth) != 0;
  if (armed)
    atomic_fetch_or(&gcl_fault_state, GCL_FAULT_STATE_ARMED);
  else
    atomic_fetch_and(&gcl_fault_state, ~GCL_FAULT_STATE_ARMED);
}

void gcl_fault_arm(gcl_fault_kind kind, cl_device_id device, long nth) {
  atomic_store(&rules[kind].device, device);
  atomic_store(&rules[kind].calls, 0);
  atomic_store(&rules[kind].fired, 0);
  atomic_store(&rules[kind].nth, nth);
  update_armed_bit();
}

void gcl_fault_clear(void) {
  for (int kind = 0; kind < GCL_FAULT_KIND_COUNT; kind++)
    gcl_fault_arm((gcl_fault_kind)kind, NULL, 0);
}

long gcl_fault_calls(gcl_fault_kind kind) {
  return atomic_load(&rules[kind].calls);
}

long gcl_fault_fired(gcl_fault_kind kind) {
  return atomic_load(&rules[kind].fired);
}

const char *gcl_fault_kind_name(gcl_fault_kind kind) {
  if ((int)kind < 0 || kind >= GCL_FAULT_KIND_COUNT)
    return "unknown";
  return kind_names[kind];
}

int gcl_fault_hit_armed(gcl_fault_kind kind, cl_device_id device) {
  fault_rule *rule = &rules[kind];
  cl_device_id only = atomic_load(&rule->device);
  long nth = atomic_load(&rule->nth);

  if (nth == 0 || (only != NULL && only != device))
    return 0;
  if (atomic_fetch_add(&rule->calls, 1) + 1 != nth)
    return 0;
  atomic_fetch_add(&rule->fired, 1);
  return 1;
}

void gcl_fault_track_allocations(int on) {
  if (on) {
    atomic_store(&live_allocations, 0);
    atomic_fetch_or(&gcl_fault_state, GCL_FAULT_STATE_TRACKING);
  } else {
    atomic_fetch_and(&gcl_fault_state, ~GCL_FAULT_STATE_TRACKING);
  }
}

long gcl_fault_live_allocations(void) { return atomic_load(&live_allocations); }

void gcl_fault_note_allocations(long delta) {
  if (gcl_fault_state_now() & GCL_FAULT_STATE_TRACKING)
    atomic_fetch_add(&live_allocations, delta);
}
