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
  /* Set instead of slots, input and grad_output when the weight and bias
   * gradients run in parts and steps (conv/backward_split.c). */
  struct gcl_backward_split *split;
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

/* Builds the weight and bias gradient kernels of relation r on a device
 * and sets the weight kernel's work sizes. */
gcl_status gcl_grad_kernels_build(gcl_plan *plan, const gcl_geometry *r,
                                  size_t device, cl_kernel *weight_kernel,
                                  cl_kernel *bias_kernel,
                                  size_t weight_global[3],
                                  size_t weight_local[3]);

/* Sets a view's buffer, offset and image stride as kernel arguments first
 * to first + 2; the kernels take the last two as 64-bit values. */
cl_int gcl_grad_set_view_args(cl_kernel kernel, cl_uint first,
                              const gcl_tensor_view *view);

/*
 * Returns 1 when the weight and bias gradients must run in parts and steps.
 * They must when the plan is split, or when the full tensors that the
 * unsplit backward pass copies to the first device do not fit it next to
 * the plan's own buffers.
 */
int gcl_backward_needs_split(const gcl_plan *plan);

/* Prepares the weight and bias gradients in parts and steps. */
gcl_status gcl_backward_split_prepare(gcl_plan *plan, gcl_backward *backward);

/* Runs them into backward->weight_sum and bias_sum. */
gcl_status gcl_backward_split_run(gcl_plan *plan,
                                  const gcl_backward_args *args);

/* Releases what gcl_backward_split_prepare made. Accepts NULL. */
void gcl_backward_split_release(struct gcl_backward_split *split);

#endif
