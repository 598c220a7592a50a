/* Timing one algorithm on one device, for tuning and throughput. */
#ifndef GCL_TUNE_MEASURE_H
#define GCL_TUNE_MEASURE_H

#include "algo/algo.h"

/*
 * Prepares algo for geometry on a device of the context, runs it once to
 * warm up and then `runs` times on zero-filled buffers, and returns the
 * fastest run's wall time in *seconds. Everything it made is released.
 */
gcl_status gcl_time_algorithm(const gcl_algo *algo,
                              const gcl_geometry *geometry,
                              gcl_context *context, size_t device_index,
                              const float *weights, const float *bias,
                              int runs, double *seconds);

#endif
