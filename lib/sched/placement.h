/*
 * Placement: splitting a layer's groups (and, when there are fewer groups
 * than slots, its batch) into contiguous ranges, one per slot.
 */
#ifndef GCL_SCHED_PLACEMENT_H
#define GCL_SCHED_PLACEMENT_H

#include "conv/conv.h"

/* A place work can go: a device of the context and one of its queues. */
typedef struct gcl_target {
  size_t device_index;
  unsigned queue_index;
  double throughput; /* relative; only the ratios matter */
} gcl_target;

/*
 * Splits total units into count parts proportional to weights, by largest
 * remainder; parts may be 0. The parts add up to total.
 */
void gcl_split_proportional(int64_t total, const double *weights,
                            size_t count, int64_t *parts);

/*
 * Places the layer on the targets and fills at most target_count slot
 * descriptions (ranges, channel ranges, bytes, share); returns how many
 * slots have work. Rules:
 *   groups >= targets: groups split in proportion to throughput, whole batch;
 *   one group: the batch split in proportion to throughput;
 *   otherwise: one group per slot, each group's batch split into
 *   min(batch, targets / groups) equal parts.
 */
size_t gcl_place(const gcl_geometry *geometry, const gcl_target *targets,
                 size_t target_count, gcl_slot_info *slots);

/* The sub-layer a slot runs: its groups and images of the full layer. */
void gcl_slot_geometry(const gcl_geometry *full, const gcl_slot_info *slot,
                       gcl_geometry *sub);

#endif
