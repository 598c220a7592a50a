/* A conv planned for one input shape on one device. */
#ifndef GCL_CONV_PLAN_H
#define GCL_CONV_PLAN_H

#include "algo/algo.h"

struct gcl_plan {
  gcl_context *context;
  size_t device_index;
  gcl_geometry geometry;
  int rank;
  int64_t input_shape[GCL_MAX_RANK];
  int64_t output_shape[GCL_MAX_RANK];
  size_t input_bytes;
  size_t output_bytes;
  const gcl_algo *algo;
  void *algo_state;
  /* Staging buffers of the host-pointer entry point, made on first use. */
  cl_mem host_input;
  cl_mem host_output;
};

#endif
