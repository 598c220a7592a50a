/*
 * The interface every forward algorithm implements. An algorithm states
 * which layers it supports and its workspace; prepare runs once per plan
 * (compilation, weight upload), enqueue once per call.
 */
#ifndef GCL_ALGO_ALGO_H
#define GCL_ALGO_ALGO_H

#include "conv/conv.h"
#include "runtime/context.h"

/*
 * A tensor inside a buffer: image n starts at element
 * offset + n * image_stride, and each image is stored densely. A view lets
 * an algorithm work on a range of groups or images of a larger tensor.
 */
typedef struct gcl_tensor_view {
  cl_mem buffer;
  size_t offset;       /* in floats */
  size_t image_stride; /* in floats */
} gcl_tensor_view;

/* Most device buffers one prepared algorithm state holds. */
#define GCL_MAX_STATE_BUFFERS 8

/* One device buffer of a prepared state. */
typedef struct gcl_buffer_size {
  const char *name; /* as in messages: "weights", "im2col workspace" */
  uint64_t bytes;
} gcl_buffer_size;

/* The device buffers a prepared state holds. */
typedef struct gcl_buffer_sizes {
  size_t count;
  gcl_buffer_size items[GCL_MAX_STATE_BUFFERS];
} gcl_buffer_sizes;

/* Appends a buffer of `elements` floats to sizes. */
void gcl_buffer_sizes_add(gcl_buffer_sizes *sizes, const char *name,
                          int64_t elements);

/* Where an enqueue goes, and where it records its commands' events. */
typedef struct gcl_launch {
  cl_command_queue queue;
  struct gcl_trace *trace; /* NULL unless the plan records a timeline */
} gcl_launch;

/*
 * Returns where to store the event of the next command, labelled for the
 * timeline, or NULL when no timeline is recorded. Defined in lib/sched.
 */
cl_event *gcl_trace_event(struct gcl_trace *trace, const char *label);

typedef struct gcl_algo {
  gcl_algorithm id;
  const char *name;

  /* Returns 1 if the algorithm runs this layer on this device, else 0 with
   * the reason in reason. */
  int (*supports)(const gcl_geometry *geometry, const gcl_device_info *device,
                  char *reason, size_t reason_size);

  /* Estimated run time in seconds of one forward pass: the plan's cost
   * model compares these to choose an algorithm. */
  double (*estimate_seconds)(const gcl_geometry *geometry,
                             const gcl_device_info *device);

  /*
   * Lists the device buffers prepare allocates for this geometry on this
   * device: weights, bias and workspaces, not the tensors. The plan checks
   * each against the device's limits before it prepares anything, and
   * splits the layer until they fit. Kernels (and CLBlast) index every one
   * of them with 32-bit ints.
   */
  void (*device_buffers)(const gcl_geometry *geometry,
                         const gcl_device_info *device,
                         gcl_buffer_sizes *sizes);

  /* Compiles kernels and uploads weights for one device of the context. */
  gcl_status (*prepare)(const gcl_geometry *geometry, gcl_context *context,
                        size_t device_index, const float *weights,
                        const float *bias, void **state);

  /* Enqueues the forward pass of the prepared geometry on launch->queue.
   * The views hold geometry->batch images of channels (input) and
   * num_output (output) channels each, in the device's context. */
  gcl_status (*enqueue)(void *state, const gcl_launch *launch,
                        const gcl_tensor_view *input,
                        const gcl_tensor_view *output);

  /* Releases what prepare made. Accepts NULL. */
  void (*release)(void *state);
} gcl_algo;

extern const gcl_algo gcl_algo_caffe_gemm;

/* Returns the algorithm with this id, or NULL for GCL_ALGORITHM_AUTO. */
const gcl_algo *gcl_algo_find(gcl_algorithm id);

/* Returns the number of registered algorithms and fills at most capacity
 * entries of list, in registry order. */
size_t gcl_algo_list(const gcl_algo **list, size_t capacity);

#endif
