/*
 * The interface every forward algorithm implements. An algorithm states
 * which layers it supports and its workspace; prepare runs once per plan
 * (compilation, weight upload), enqueue once per call.
 */
#ifndef GCL_ALGO_ALGO_H
#define GCL_ALGO_ALGO_H

#include "conv/conv.h"
#include "runtime/context.h"

typedef struct gcl_algo {
  gcl_algorithm id;
  const char *name;

  /* Returns 1 if the algorithm runs this layer on this device, else 0 with
   * the reason in reason. */
  int (*supports)(const gcl_geometry *geometry, const gcl_device_info *device,
                  char *reason, size_t reason_size);

  /* Device memory the algorithm needs beyond input, output and weights. */
  size_t (*workspace_bytes)(const gcl_geometry *geometry);

  /* Compiles kernels and uploads weights for one device of the context. */
  gcl_status (*prepare)(const gcl_geometry *geometry, gcl_context *context,
                        size_t device_index, const float *weights,
                        const float *bias, void **state);

  /* Enqueues the forward pass on queue; input and output are whole
   * tensors in the device's context. */
  gcl_status (*enqueue)(void *state, cl_command_queue queue, cl_mem input,
                        cl_mem output);

  /* Releases what prepare made. Accepts NULL. */
  void (*release)(void *state);
} gcl_algo;

extern const gcl_algo gcl_algo_caffe_gemm;

/* Returns the algorithm with this id, or NULL for GCL_ALGORITHM_AUTO. */
const gcl_algo *gcl_algo_find(gcl_algorithm id);

#endif
