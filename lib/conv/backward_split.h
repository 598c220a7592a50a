/* The state of the weight and bias gradients in parts and steps. */
#ifndef GCL_CONV_BACKWARD_SPLIT_H
#define GCL_CONV_BACKWARD_SPLIT_H

#include "conv/backward.h"

/* One group part of a slot: its kernels and gradient buffers. */
typedef struct split_part {
  int64_t group_begin, group_end;
  gcl_geometry relation; /* the part's groups, sides linked */
  cl_kernel weight_kernel;
  cl_kernel bias_kernel;
  size_t weight_global[3];
  size_t weight_local[3];
  cl_mem grad_weights, grad_bias;
} split_part;

typedef struct split_slot {
  split_part *parts;
  size_t part_count;
  int64_t largest_groups; /* groups of the largest part */
  cl_mem input, grad_output; /* one step's slices */
  float *host_input, *host_grad_output;
  float *host_weights, *host_bias; /* one part's results of one step */
} split_slot;

struct gcl_backward_split {
  split_slot *slots;
  size_t slot_count;
  int64_t images_per_step;
};

#endif
