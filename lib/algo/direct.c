/*
 * The direct algorithm. kernels/conv_direct.cl computes every group of
 * every image in one launch and reads the input in place, with no column
 * matrix. Each work-item keeps a KB x RB x VW tile of outputs in registers:
 * KB output channels of one group, RB output rows and VW output columns.
 *
 * The tile sizes follow measurements of the kernel on PoCL 3.1 with a
 * 2-core AVX-512 CPU: VW = 16 lanes, KB up to 8 channels and RB = 2 rows,
 * with at most 16 accumulators, because LLVM spilled larger tiles.
 * NOTE: the tile rule and the cost model come from that CPU only. On GPUs
 * the speed of 16-lane vectors and of these tiles is untested.
 */
#include "algo/single_kernel.h"

#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct direct_tile {
  int64_t vw;      /* output columns per work-item, one vector */
  int64_t kb;      /* output channels per work-item */
  int64_t rb;      /* output rows per work-item */
  int64_t kblocks; /* channel blocks per group */
} direct_tile;

/*
 * Chooses the tile. KB splits the group's outputs evenly into blocks of at
 * most 8. RB is 2 rows for 4 to 8 channels and 4 rows for 1 to 3, so that
 * a tile has 4 to 16 accumulators. Blocks of 8 channels with 32 or more
 * input channels per group get 1 row, the fastest for AlexNet's conv2.
 */
static direct_tile choose_tile(const gcl_geometry *g) {
  direct_tile tile;

  tile.vw = gcl_vector_width(g->out[2]);
  tile.kb = gcl_balanced_block(g->outputs_per_group, 8);
  if (tile.kb >= 8 && g->channels_per_group >= 32)
    tile.rb = 1;
  else
    tile.rb = tile.kb >= 4 ? 2 : 4;
  if (tile.rb > g->out[1])
    tile.rb = g->out[1];
  tile.kblocks = (g->outputs_per_group + tile.kb - 1) / tile.kb;
  return tile;
}

/* Saturates at INT64_MAX, because the padding to whole blocks can take it
 * past the weight count that validation bounds. */
static int64_t packed_elements(const gcl_geometry *g, const direct_tile *t) {
  return gcl_mul_saturated(g->group * t->kblocks * t->kb,
                           g->channels_per_group * g->kernel_size);
}

static int direct_supports(const gcl_geometry *g,
                           const gcl_device_info *device, char *reason,
                           size_t reason_size) {
  direct_tile tile = choose_tile(g);

  if (!gcl_convolution_only(g, "direct", reason, reason_size))
    return 0;

  (void)device;
  if (!gcl_single_kernel_fits(g, reason, reason_size))
    return 0;
  if (!gcl_unrolled_loads_fit(g, tile.rb, reason, reason_size))
    return 0;
  return 1;
}

/*
 * Returns the fraction of the device's FMA peak the kernel reaches. The
 * numbers are shares of the 500 GFLOP/s FMA peak of an idle 2-core
 * AVX-512 CPU, measured on PoCL 3.1 while other jobs shared the cores:
 *   - 0.35 for tiles of 8 or more accumulators, because AlexNet conv2,
 *     ResNeXt-50 3x3 group 32 (strides 1 and 2) and a dilated group-4
 *     layer ran at 154-205 GFLOP/s;
 *   - scaled by accumulators / 8 for smaller tiles, because 2-accumulator
 *     tiles ran at 49-102 GFLOP/s;
 *   - 0.16 for 1x1 filters, because ShuffleNet's group-8 1x1 layer ran at
 *     82 GFLOP/s (162 with conv_1x1.cl);
 *   - for depthwise layers, 0.9 times the depthwise algorithm's estimate,
 *     because on MobileNet's depthwise layers this kernel ran at 0.9 to
 *     1.0 times the depthwise kernel's speed. The factor below 1 keeps the
 *     depthwise algorithm the choice there.
 * The result is scaled by the share of each tile that covers real outputs.
 */
static double direct_efficiency(const gcl_geometry *g, const direct_tile *t) {
  double base = 0.35;
  double accumulators = (double)(t->kb * t->rb);
  double use = gcl_block_use(g->out[2], t->vw) *
               gcl_block_use(g->out[1], t->rb) *
               gcl_block_use(g->outputs_per_group, t->kb);

  if (g->channels_per_group == 1) {
    int unit_stride = g->stride[1] == 1 && g->stride[2] == 1;

    /* The same formula as depthwise_estimate_seconds. */
    return 0.9 * (unit_stride ? 0.23 : 0.09) *
           gcl_block_use(g->out[2], t->vw);
  }
  if (g->kernel_size == 1)
    return 0.16 * use;
  if (accumulators < 8)
    base *= accumulators / 8;
  return base * use;
}

static double direct_estimate_seconds(const gcl_geometry *g,
                                      const gcl_device_info *device) {
  direct_tile tile = choose_tile(g);

  return gcl_single_kernel_seconds(g, device, direct_efficiency(g, &tile));
}

static void direct_device_buffers(const gcl_geometry *g,
                                  const gcl_device_info *device,
                                  gcl_buffer_sizes *sizes) {
  direct_tile tile = choose_tile(g);

  (void)device;
  gcl_buffer_sizes_add(sizes, "packed weights", packed_elements(g, &tile));
  if (g->bias_term)
    gcl_buffer_sizes_add(sizes, "bias", g->num_output);
}

static gcl_status build_kernel(gcl_single_kernel *state,
                               const direct_tile *tile, gcl_context *context,
                               size_t device_index) {
  char options[128];

  snprintf(options, sizeof options, "-DVW=%lld -DKB=%lld -DRB=%lld "
           "-DKBLOCKS=%lld",
           (long long)tile->vw, (long long)tile->kb, (long long)tile->rb,
           (long long)tile->kblocks);
  return gcl_single_kernel_build(state, context, device_index,
                                 "kernels/conv_direct.cl", "gcl_conv_direct",
                                 options);
}

/*
 * Sets the work sizes. The local size is left to the driver, because
 * neither that nor one work-item per work-group won on every measured
 * layer.
 */
static void set_work_size(gcl_single_kernel *state, const direct_tile *t) {
  const gcl_geometry *g = &state->geometry;

  state->global[0] = (size_t)((g->out[2] + t->vw - 1) / t->vw);
  state->global[1] = (size_t)((g->out[1] + t->rb - 1) / t->rb);
  state->global[2] =
      (size_t)(g->batch * g->group * t->kblocks * g->out[0]);
}

static gcl_status direct_prepare(const gcl_geometry *g, gcl_context *context,
                                 size_t device_index, const float *weights,
                                 const float *bias, void **opaque) {
  direct_tile tile = choose_tile(g);
  gcl_single_kernel *state;
  gcl_status status;

  *opaque = NULL;
  status = gcl_single_kernel_create(g, "conv_direct", &state);
  if (status != GCL_SUCCESS)
    return status;

  set_work_size(state, &tile);
  status = build_kernel(state, &tile, context, device_index);
  if (status == GCL_SUCCESS)
    status = gcl_single_kernel_upload_blocks(state, context, device_index,
                                             tile.kb, weights, bias);
  if (status != GCL_SUCCESS) {
    gcl_single_kernel_release(state);
    return status;
  }
  *opaque = state;
  return GCL_SUCCESS;
}

const gcl_algo gcl_algo_direct = {
    .id = GCL_ALGORITHM_DIRECT,
    .name = "direct",
    .supports = direct_supports,
    .estimate_seconds = direct_estimate_seconds,
    .device_buffers = direct_device_buffers,
    .prepare = direct_prepare,
    .enqueue = gcl_single_kernel_enqueue,
    .release = gcl_single_kernel_release,
};
