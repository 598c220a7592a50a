/*
 * The pointwise algorithm, for 1x1 filters with stride 1 and no padding.
 * Each group of each image is then the matrix product
 *   output[n][g] (KG x P) = weights[g] (KG x CG) * input[n][g] (CG x P)
 * over the P spatial positions. kernels/conv_1x1.cl computes it for all
 * images and groups in one launch, straight from the input, with no column
 * matrix. A work-item keeps KB output channels of NV * VW consecutive
 * positions in registers.
 *
 * Layers with a stride or padding are declined, because the positions they
 * read are not contiguous in the input, or not all inside it, so the
 * kernel's contiguous vector loads do not apply. The direct algorithm runs
 * them.
 */
#include "algo/single_kernel.h"

#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>

/* Vectors of positions per work-item, the best measured on PoCL 3.1. */
#define VECTORS_PER_ITEM 2

typedef struct pointwise_tile {
  int64_t vw;      /* positions per vector */
  int64_t kb;      /* output channels per work-item */
  int64_t kblocks; /* channel blocks per group */
} pointwise_tile;

/* Chooses the tile. KB splits the group's outputs evenly into blocks of at
 * most 12, the best on ShuffleNet's group-8 1x1 layer (KB * NV = 24). */
static pointwise_tile choose_tile(const gcl_geometry *g) {
  pointwise_tile tile;

  tile.vw = gcl_vector_width(g->in_size);
  tile.kb = gcl_balanced_block(g->outputs_per_group, 12);
  tile.kblocks = (g->outputs_per_group + tile.kb - 1) / tile.kb;
  return tile;
}

static int pointwise_supports(const gcl_geometry *g,
                              const gcl_device_info *device, char *reason,
                              size_t reason_size) {
  if (!gcl_convolution_only(g, "pointwise", reason, reason_size))
    return 0;

  (void)device;
  for (int axis = 0; axis < 3; axis++) {
    const char *name = gcl_axis_name(3, axis);

    if (g->kernel[axis] != 1) {
      snprintf(reason, reason_size,
               "the filter is %lld wide on the %s axis; pointwise needs 1x1 "
               "filters",
               (long long)g->kernel[axis], name);
      return 0;
    }
    if (g->stride[axis] != 1) {
      snprintf(reason, reason_size,
               "stride %lld on the %s axis; pointwise reads contiguous "
               "positions and needs stride 1 (direct runs strided layers)",
               (long long)g->stride[axis], name);
      return 0;
    }
    if (g->pad[axis] != 0) {
      snprintf(reason, reason_size,
               "pad %lld on the %s axis; pointwise needs pad 0 (direct runs "
               "padded layers)",
               (long long)g->pad[axis], name);
      return 0;
    }
  }
  return gcl_single_kernel_fits(g, reason, reason_size);
}

/*
 * Estimates the run time with an efficiency measured on PoCL 3.1, as a
 * share of the 500 GFLOP/s FMA peak of an idle 2-core AVX-512 CPU.
 * ShuffleNet's group-8 1x1 layer ran at 162 GFLOP/s with 24 accumulators
 * (0.32) and at 108 GFLOP/s with 4 (0.22). Below 8 accumulators the
 * efficiency scales down in proportion, and it is scaled by the share of
 * each tile that covers real outputs.
 */
static double pointwise_estimate_seconds(const gcl_geometry *g,
                                         const gcl_device_info *device) {
  pointwise_tile tile = choose_tile(g);
  double accumulators = (double)(tile.kb * VECTORS_PER_ITEM);
  double efficiency = 0.32;

  if (accumulators < 8)
    efficiency *= accumulators / 8;
  efficiency *= gcl_block_use(g->in_size, tile.vw * VECTORS_PER_ITEM) *
                gcl_block_use(g->outputs_per_group, tile.kb);
  return gcl_single_kernel_seconds(g, device, efficiency);
}

static void pointwise_device_buffers(const gcl_geometry *g,
                                     const gcl_device_info *device,
                                     gcl_buffer_sizes *sizes) {
  pointwise_tile tile = choose_tile(g);

  (void)device;
  gcl_buffer_sizes_add(sizes, "packed weights",
                       g->group * tile.kblocks * g->channels_per_group *
                           tile.kb);
  if (g->bias_term)
    gcl_buffer_sizes_add(sizes, "bias", g->num_output);
}

/*
 * Sets the work sizes. One work-item per work-group ran faster than the
 * driver's choice with KB = 12 (162 against 111 GFLOP/s) and slower with
 * KB = 6 (98 against 141), so only blocks of 12 channels get it.
 * NOTE: KB from 7 to 11 was not measured.
 */
static void set_work_size(gcl_single_kernel *state,
                          const pointwise_tile *t) {
  const gcl_geometry *g = &state->geometry;
  int64_t per_item = t->vw * VECTORS_PER_ITEM;

  state->global[0] = (size_t)((g->in_size + per_item - 1) / per_item);
  state->global[1] = (size_t)t->kblocks;
  state->global[2] = (size_t)(g->batch * g->group);
  if (t->kb >= 12) {
    state->local[0] = 1;
    state->local[1] = 1;
    state->local[2] = 1;
  }
}

static gcl_status pointwise_prepare(const gcl_geometry *g,
                                    gcl_context *context, size_t device_index,
                                    const float *weights, const float *bias,
                                    void **opaque) {
  pointwise_tile tile = choose_tile(g);
  gcl_single_kernel *state;
  gcl_status status;
  char options[96];

  *opaque = NULL;
  status = gcl_single_kernel_create(g, "conv_1x1", &state);
  if (status != GCL_SUCCESS)
    return status;

  set_work_size(state, &tile);
  snprintf(options, sizeof options, "-DVW=%lld -DNV=%d -DKB=%lld "
           "-DKBLOCKS=%lld",
           (long long)tile.vw, VECTORS_PER_ITEM, (long long)tile.kb,
           (long long)tile.kblocks);
  status = gcl_single_kernel_build(state, context, device_index,
                                   "kernels/conv_1x1.cl", "gcl_conv_1x1",
                                   options);
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

const gcl_algo gcl_algo_pointwise = {
    .id = GCL_ALGORITHM_POINTWISE,
    .name = "pointwise",
    .supports = pointwise_supports,
    .estimate_seconds = pointwise_estimate_seconds,
    .device_buffers = pointwise_device_buffers,
    .prepare = pointwise_prepare,
    .enqueue = gcl_single_kernel_enqueue,
    .release = gcl_single_kernel_release,
};
