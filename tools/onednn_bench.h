/*
 * Times a convolution layer through oneDNN's CPU forward convolution, for
 * `groupcl bench` to compare with. Compiled only when configure finds
 * oneDNN 2.x (HAVE_DNNL), because it uses the 2.x C API.
 */
#ifndef GROUPCL_TOOLS_ONEDNN_BENCH_H
#define GROUPCL_TOOLS_ONEDNN_BENCH_H

#include <stddef.h>
#include <stdint.h>

#include "groupcl.h"

/* Results of onednn_bench_run. */
enum onednn_outcome {
  ONEDNN_OK = 0,
  ONEDNN_UNSUPPORTED = 1, /* oneDNN has no implementation for the layer */
  ONEDNN_FAILED = 2       /* a oneDNN call failed, or memory ran out */
};

/* The layer and data to run, in groupcl's layouts (NCHW, [K][C/G][kh][kw]). */
typedef struct onednn_layer {
  const gcl_conv_desc *desc;
  int rank;
  const int64_t *input_shape;
  const int64_t *output_shape;
  const float *input;
  const float *weights;
  const float *bias; /* NULL when desc->bias_term is 0 */
} onednn_layer;

/* What onednn_bench_run measured, in milliseconds. */
typedef struct onednn_timing {
  /* Creating the primitives and reordering the weights, which happen once
   * per layer like groupcl's plan creation. */
  double setup_ms;
  double *run_ms; /* the caller's array of `runs` entries, one per run */
} onednn_timing;

/* Writes the oneDNN version and CPU runtime, as "oneDNN 2.6.3 (OpenMP)". */
void onednn_bench_version(char *buffer, size_t size);

/*
 * Runs the layer `warmup` times untimed, then `runs` times timed, through a
 * dnnl_convolution_forward primitive (algorithm auto, f32, inference) on
 * the CPU engine. The primitive picks its own memory formats. Each timed run
 * reorders the NCHW input into the primitive's format, convolves, and
 * reorders the result back to NCHW: the cost that an NCHW caller pays. The
 * weights are reordered once, in the setup. Writes the NCHW result of
 * the last run into output. On failure returns ONEDNN_UNSUPPORTED or
 * ONEDNN_FAILED with the reason in message.
 */
int onednn_bench_run(const onednn_layer *layer, int warmup, int runs,
                     onednn_timing *timing, float *output, char *message,
                     size_t message_size);

#endif
