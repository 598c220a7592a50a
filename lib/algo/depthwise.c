/*
 * The depthwise algorithm, for layers with one input channel per group
 * (group == channels) and any channel multiplier M = num_output / channels.
 * kernels/conv_depthwise.cl computes all channels of all images in one
 * launch. Each work-item reads one input channel and keeps its M output
 * channels for RB output rows and VW output columns in registers. The
 * weights keep Caffe's layout.
 */
#include "algo/single_kernel.h"

#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct depthwise_tile {
  int64_t vw; /* output columns per work-item, one vector */
  int64_t rb; /* output rows per work-item */
} depthwise_tile;

/*
 * Chooses the tile from the kernel's measurements on PoCL 3.1. A vector has
 * 16 lanes, or fewer when a row has at most 8 outputs. RB is 8 rows at
 * stride 1 and 4 rows at larger strides, divided by the multiplier, so
 * that M * RB stays at 8 or fewer accumulators.
 */
static depthwise_tile choose_tile(const gcl_geometry *g) {
  int64_t rows = g->stride[1] == 1 ? 8 : 4;
  depthwise_tile tile;

  tile.vw = gcl_vector_width(g->out[2]);
  tile.rb = rows / g->outputs_per_group;
  if (tile.rb < 1)
    tile.rb = 1;
  if (tile.rb > g->out[1])
    tile.rb = g->out[1];
  return tile;
}

static int depthwise_supports(const gcl_geometry *g,
                              const gcl_device_info *device, char *reason,
                              size_t reason_size) {
  depthwise_tile tile = choose_tile(g);

  if (!gcl_convolution_only(g, "depthwise", reason, reason_size))
    return 0;

  (void)device;
  if (g->channels_per_group != 1) {
    snprintf(reason, reason_size,
             "the layer has %lld input channels per group (group %lld, "
             "%lld channels); depthwise needs group == channels",
             (long long)g->channels_per_group, (long long)g->group,
             (long long)g->channels);
    return 0;
  }
  if (!gcl_single_kernel_fits(g, reason, reason_size))
    return 0;
  if (!gcl_unrolled_loads_fit(g, tile.rb, reason, reason_size))
    return 0;
  return 1;
}

/*
 * Estimates the run time with an efficiency measured on PoCL 3.1, as a
 * share of the 500 GFLOP/s FMA peak of an idle 2-core AVX-512 CPU. On
 * MobileNet's 112x112 depthwise layers the kernel ran at 114 GFLOP/s at
 * stride 1 (0.23) and 43 GFLOP/s at stride 2 (0.09). The efficiency is
 * scaled by the share of the vector lanes that cover real outputs. On 7x7
 * planes the kernel ran at 34 GFLOP/s, below even this estimate. The
 * direct algorithm's estimate for depthwise layers repeats this formula.
 * NOTE: multipliers above 8 give M accumulators per row, which was not
 * measured. Expect spills and a slower kernel than estimated.
 */
static double depthwise_estimate_seconds(const gcl_geometry *g,
                                         const gcl_device_info *device) {
  depthwise_tile tile = choose_tile(g);
  int unit_stride = g->stride[1] == 1 && g->stride[2] == 1;
  double base = unit_stride ? 0.23 : 0.09;
  double use = gcl_block_use(g->out[2], tile.vw);

  return gcl_single_kernel_seconds(g, device, base * use);
}

static void depthwise_device_buffers(const gcl_geometry *g,
                                     const gcl_device_info *device,
                                     gcl_buffer_sizes *sizes) {
  (void)device;
  gcl_buffer_sizes_add(sizes, "weights", g->num_output * g->kernel_size);
  if (g->bias_term)
    gcl_buffer_sizes_add(sizes, "bias", g->num_output);
}

/*
 * Sets the work sizes. On MobileNet's 112x112 depthwise layer the driver's
 * choice of local size ran faster than one work-item per work-group: 69
 * against 55 GFLOP/s while other jobs loaded the cores, and up to 130
 * against 107 GFLOP/s when they did not. On 7x7 planes, 16 work-items per
 * work-group did as well or slightly better (30-44 against 30-31 GFLOP/s).
 * NOTE: an earlier sweep of the bare kernel found one work-item per
 * work-group faster on large planes (114 against 75 GFLOP/s). Every run
 * shared the 2 cores with other jobs, so settle this on an idle machine.
 */
static void set_work_size(gcl_single_kernel *state, const depthwise_tile *t) {
  const gcl_geometry *g = &state->geometry;

  state->global[0] = (size_t)((g->out[2] + t->vw - 1) / t->vw);
  state->global[1] = (size_t)((g->out[1] + t->rb - 1) / t->rb);
  state->global[2] = (size_t)(g->batch * g->channels * g->out[0]);
  if (g->out[1] <= 8 && g->out[2] <= 8 && state->global[2] % 16 == 0) {
    state->local[0] = 1;
    state->local[1] = 1;
    state->local[2] = 16;
  }
}

static gcl_status depthwise_prepare(const gcl_geometry *g,
                                    gcl_context *context, size_t device_index,
                                    const float *weights, const float *bias,
                                    void **opaque) {
  depthwise_tile tile = choose_tile(g);
  gcl_single_kernel *state;
  gcl_status status;
  char options[64];

  *opaque = NULL;
  status = gcl_single_kernel_create(g, "conv_depthwise", &state);
  if (status != GCL_SUCCESS)
    return status;

  set_work_size(state, &tile);
  snprintf(options, sizeof options, "-DVW=%lld -DRB=%lld",
           (long long)tile.vw, (long long)tile.rb);
  status = gcl_single_kernel_build(state, context, device_index,
                                   "kernels/conv_depthwise.cl",
                                   "gcl_conv_depthwise", options);
  if (status == GCL_SUCCESS)
    status = gcl_single_kernel_upload(
        state, context, device_index, weights,
        (size_t)(g->num_output * g->kernel_size), bias);
  if (status != GCL_SUCCESS) {
    gcl_single_kernel_release(state);
    return status;
  }
  *opaque = state;
  return GCL_SUCCESS;
}

const gcl_algo gcl_algo_depthwise = {
    .id = GCL_ALGORITHM_DEPTHWISE,
    .name = "depthwise",
    .supports = depthwise_supports,
    .estimate_seconds = depthwise_estimate_seconds,
    .device_buffers = depthwise_device_buffers,
    .prepare = depthwise_prepare,
    .enqueue = gcl_single_kernel_enqueue,
    .release = gcl_single_kernel_release,
};
