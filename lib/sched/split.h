/*
 * Splitting a placed layer so that it fits its devices. Each slot's groups
 * run in sequential parts and each part's images in sequential steps; one
 * algorithm state per part is prepared for one step. The memory check
 * counts every buffer the plan allocates on each device: the host-array
 * staging or slices, and each part's weights and workspaces
 * (gcl_algo.device_buffers). It compares each buffer with the device's
 * largest allocation, their sum with its global memory less what the
 * context's other plans hold, and every buffer a kernel indexes with ints,
 * and one image of each part, with gcl_index_limit().
 */
#ifndef GCL_SCHED_SPLIT_H
#define GCL_SCHED_SPLIT_H

#include "algo/algo.h"
#include "sched/placement.h"

/* The caps that decide every slot's parts and steps. */
typedef struct gcl_split {
  /* 0: the plan is not split. Slots on the first device then run their
   * groups and images in one launch, on the full tensors. Slots on other
   * devices still run in up to 8 steps, so that copies overlap compute. */
  int active;
  int64_t groups_per_part; /* at most this many of a slot's groups */
  int64_t images_per_step; /* at most this many of a slot's images */
  char reason[512];        /* the limit that made the plan split, or "" */
} gcl_split;

/* Returns the number of sequential group parts of a slot. */
int64_t gcl_split_part_count(const gcl_split *split,
                             const gcl_slot_info *slot);

/* Writes the absolute groups [*begin, *end) of part `part` of a slot. The
 * parts differ in size by at most one group. */
void gcl_split_part_groups(const gcl_split *split, const gcl_slot_info *slot,
                           int64_t part, int64_t *begin, int64_t *end);

/* Returns the number of sequential image steps of each part of a slot. */
int64_t gcl_split_step_count(const gcl_split *split,
                             const gcl_slot_info *slot);

/* Returns the images of one step; every step of a slot has as many. */
int64_t gcl_split_step_images(const gcl_split *split,
                              const gcl_slot_info *slot);

/*
 * Returns the absolute first image of step `step` of a slot. When the
 * steps do not divide the slot's images, the last step starts early and
 * computes a few images of the step before it again, so that one
 * algorithm state, prepared for one step size, serves every step. Those
 * images get the same values twice.
 */
int64_t gcl_split_step_first(const gcl_split *split,
                             const gcl_slot_info *slot, int64_t step);

/* Returns 1 when the slot's host-array calls copy compact slices of each
 * step to its device (slots off the first device, and every slot of a
 * split plan), else 0: the slot works in place on full tensors. */
int gcl_split_sliced(const gcl_split *split, const gcl_slot_info *slot);

/* Returns how many (part, step) units a sliced slot's slice buffers hold:
 * every unit when the plan is not split, else one. */
int64_t gcl_split_slice_units(const gcl_split *split,
                              const gcl_slot_info *slot);

/* Writes the geometry of `groups` groups of the layer over `images`
 * images, the sub-layer one part's algorithm state runs per step. */
void gcl_split_part_geometry(const gcl_geometry *layer, int64_t groups,
                             int64_t images, gcl_geometry *part);

/*
 * Chooses the split of a placement. When everything fits, there is none.
 * Otherwise the batch runs in the fewest steps that fit, and when one image
 * still does not fit, the groups run in the fewest parts that fit, each in
 * the fewest steps. device_bytes (one entry per device of the context) receives the bytes
 * the chosen layout holds on each device. Fails with
 * GCL_ERROR_OUT_OF_MEMORY, or GCL_ERROR_UNSUPPORTED for the 32-bit index
 * limit, when not even one image of one group fits, with the buffer, its
 * size, the limit and what to change in the message.
 */
gcl_status gcl_split_choose(gcl_context *context, const gcl_geometry *layer,
                            const gcl_algo *algo, const gcl_slot_info *slots,
                            size_t slot_count, gcl_split *split,
                            uint64_t *device_bytes);

/* Returns 1 if one image of one group of the layer fits the device with
 * this algorithm, else 0 with the limit it breaks in reason. */
int gcl_split_feasible(gcl_context *context, const gcl_geometry *layer,
                       const gcl_algo *algo, size_t device_index,
                       char *reason, size_t reason_size);

/*
 * Writes the sub-layer that one (part, step) unit runs when the whole
 * layer runs on one queue of the device, and the number of units. A timing
 * of the unit times the units then stands for the layer. A layer that fits
 * unsplit is its own unit.
 */
gcl_status gcl_split_probe(gcl_context *context, const gcl_geometry *layer,
                           const gcl_algo *algo, size_t device_index,
                           gcl_geometry *part, int64_t *units);

#endif
