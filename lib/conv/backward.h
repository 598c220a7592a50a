/* The backward pass of a plan: its state and its preparation. */
#ifndef GCL_CONV_BACKWARD_H
#define GCL_CONV_BACKWARD_H

#include "conv/plan.h"

/* A slot's weight and bias gradient work. */
typedef struct grad_slot {
  gcl_geometry relation; /* the slot's groups and images, sides linked */
  cl_kernel weight_kernel;
  cl_kernel bias_kernel;
  size_t weight_global[3];
  size_t weight_local[3];
  /* Off the first device: the slot's slices of input and output gradient,
   * packed on the host and copied to the device. */
  cl_mem input, grad_output;
  float *host_input, *host_grad_output;
  cl_mem grad_weights, grad_bias;
  float *host_weights, *host_bias; /* results read back */
} grad_slot;

typedef struct gcl_backward {
  gcl_conv *adjoint_conv;
  gcl_plan *adjoint_plan;
  grad_slot *slots;
  size_t slot_count;
  cl_mem input, grad_output; /* full tensors on the first device */
  float *weight_sum, *bias_sum; /* totals before they reach the caller */
} gcl_backward;

/*
 * Prepares what gcl_plan_backward needs, once: the plan of the adjoint
 * layer for the input gradient and, for every slot of the plan, the
 * weight and bias gradient kernels and buffers on the slot's device.
 */
gcl_status gcl_backward_prepare(gcl_plan *plan,
                                const gcl_plan_options *options);

/* Releases a backward state. Accepts NULL. */
void gcl_backward_release(gcl_backward *backward);

#endif
