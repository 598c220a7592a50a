/* A conv planned for one input shape, placed on queues and devices. */
#ifndef GCL_CONV_PLAN_H
#define GCL_CONV_PLAN_H

#include "algo/algo.h"
#include "sched/placement.h"
#include "sched/split.h"
#include "sched/trace.h"

#include <pthread.h>

#define GCL_MAX_SLOTS 64

/* A range of a slot's groups with the algorithm state that runs it. */
typedef struct gcl_part {
  int64_t group_begin, group_end; /* absolute groups */
  gcl_geometry geometry; /* the part's groups over one step's images */
  void *algo_state;
} gcl_part;

/* One slot: a range of groups and images on one queue of one device. */
typedef struct gcl_slot {
  gcl_slot_info info;
  gcl_geometry geometry; /* the sub-layer the slot runs */
  cl_command_queue queue;
  int owns_queue;
  /*
   * The slot's groups run in part_count sequential parts, and each part's
   * images in `steps` steps of images_per_step images (sched/split.h).
   * Without a split there is one part, and one step on the first device.
   */
  gcl_part *parts;
  size_t part_count;
  int64_t steps;
  int64_t images_per_step;
  /*
   * Sliced slots (gcl_split_sliced) copy each (part, step) unit of their
   * input to compact slices and its output back, with the copies on a
   * second queue, so that with several units in the slices one unit's
   * transfers overlap another's compute. The slices hold slice_units
   * units.
   */
  int sliced;
  int64_t slice_units;
  cl_mem input;
  cl_mem output;
  cl_command_queue copy_queue;
  gcl_trace trace;
  gcl_trace copy_trace;
} gcl_slot;

struct gcl_plan {
  /*
   * Held for a whole run and while the latest run is read, so that threads
   * may share a plan and their runs take turns. It guards what a run
   * changes: the staging buffers and host copies, the traces and the
   * latest run's figures. The other fields are fixed once gcl_plan_create
   * returns.
   */
  pthread_mutex_t lock;
  gcl_context *context;
  const gcl_conv *conv; /* outlives the plan, as the API requires */
  size_t device_index;
  gcl_geometry geometry;
  int rank;
  int64_t input_shape[GCL_MAX_RANK];
  int64_t output_shape[GCL_MAX_RANK];
  size_t input_bytes;
  size_t output_bytes;
  const gcl_algo *algo;

  gcl_schedule_policy schedule;
  size_t slot_count;
  gcl_slot *slots;
  gcl_split split;
  /* Bytes the plan holds on each device of the context, as the memory
   * check counted them; reserved in the context until the plan goes. */
  uint64_t *device_bytes;

  /* Staging buffers on the first device for the host-pointer entry point,
   * made on first use. */
  cl_mem host_input;
  cl_mem host_output;
  /* Host copies for slots on other devices and for gathering. */
  float *scratch_input;
  float *scratch_output;

  int profile;
  /* Times measured with options.tune, one per algorithm. */
  gcl_tuning_result tuning[GCL_ALGORITHM_COUNT];
  size_t tuning_count;
  gcl_trace main_trace; /* transfers on the first device's main queue */
  double last_wall_seconds;
  uint64_t last_bytes_moved;

  /* Made by the first gcl_plan_backward, or at plan time with
   * options.backward; NULL until then. */
  struct gcl_backward *backward;
  gcl_plan_options options; /* as given, for the backward plan */
  double *device_throughput; /* a copy of options.device_throughput */
};

/*
 * Creates a plan whose output shape is output_shape instead of the one the
 * layer's rules give (NULL keeps that). The backward pass uses it for the
 * adjoint layer, whose output must match the forward input exactly; it
 * must not exceed the computed shape on any axis.
 */
gcl_status gcl_plan_create_sized(gcl_conv *conv, int rank,
                                 const int64_t *input_shape,
                                 const int64_t *output_shape,
                                 const gcl_plan_options *options,
                                 gcl_plan **plan);

/*
 * Runs gcl_plan_forward through the plan's private output copy even with
 * one slot, so that output changes only on success, at the cost of one
 * host copy of the output.
 */
gcl_status gcl_plan_forward_gathered(gcl_plan *plan, const float *input,
                                     float *output);

/* Prepares every slot: queues, weight shards, algorithm state, buffers. */
gcl_status gcl_slots_prepare(gcl_plan *plan, const gcl_conv *conv,
                             const gcl_plan_options *options);

/* Releases what gcl_slots_prepare made, and the plan's reserved memory. */
void gcl_slots_release(gcl_plan *plan);

/* Adds bytes the plan holds on a device to its count and to what the
 * context reserves; gcl_slots_release returns them. */
void gcl_plan_add_reserved(gcl_plan *plan, size_t device, uint64_t bytes);

/* Resolves the policy and fills the targets it uses; returns their count
 * in *count. May measure device throughput (remembered in the context). */
gcl_status gcl_schedule_targets(gcl_plan *plan, const gcl_conv *conv,
                                const gcl_plan_options *options,
                                gcl_target *targets, size_t *count);

#endif
