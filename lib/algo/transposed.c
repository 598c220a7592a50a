/*
 * The transposed algorithm: kernels/conv_transposed.cl runs a transposed
 * layer (Caffe's Deconvolution) in gather form, every group of every image
 * in one launch. Because a convolution's input gradient is the transposed
 * layer with the sides swapped, the backward pass runs it too.
 *
 * The tile follows the direct kernel's measurements on PoCL 3.1 with a
 * 2-core AVX-512 CPU: one vector of up to 16 output columns and up to 8
 * output channels, so at most 8 accumulators.
 * NOTE: untested on GPUs, where 16-lane vectors may not pay.
 */
#include "algo/single_kernel.h"
#include "runtime/context.h"

#include "util/alloc.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct transposed_tile {
  int64_t vw;      /* output columns of one residue class per work-item */
  int64_t kb;      /* output channels per work-item */
  int64_t kblocks; /* channel blocks per group */
  int64_t columns; /* output columns of the widest residue class */
} transposed_tile;

static transposed_tile choose_tile(const gcl_geometry *g) {
  transposed_tile tile;

  tile.columns = (g->out[2] + g->stride[2] - 1) / g->stride[2];
  tile.vw = gcl_vector_width(tile.columns);
  tile.kb = gcl_balanced_block(g->outputs_per_group, 8);
  tile.kblocks = (g->outputs_per_group + tile.kb - 1) / tile.kb;
  return tile;
}

static int64_t packed_elements(const gcl_geometry *g,
                               const transposed_tile *t) {
  return g->group * t->kblocks * g->channels_per_group * g->kernel_size *
         t->kb;
}

static int transposed_supports(const gcl_geometry *g,
                               const gcl_device_info *device, char *reason,
                               size_t reason_size) {
  (void)device;
  if (!g->transposed) {
    snprintf(reason, reason_size,
             "transposed runs transposed layers (Deconvolution) only");
    return 0;
  }
  return gcl_single_kernel_fits(g, reason, reason_size);
}

/*
 * The share of the FMA peak: 0.25 for tiles of 8 channels, scaled by the
 * channels per tile below that, times the share of each tile that covers
 * real outputs. A tap that falls between inputs costs a skipped loop, not
 * an FMA, so strided layers are counted by their real work only.
 */
static double transposed_estimate_seconds(const gcl_geometry *g,
                                          const gcl_device_info *device) {
  transposed_tile tile = choose_tile(g);
  double efficiency = 0.25 * (double)tile.kb / 8.0 *
                      gcl_block_use(tile.columns, tile.vw) *
                      gcl_block_use(g->outputs_per_group, tile.kb);

  return gcl_single_kernel_seconds(g, device, efficiency);
}

/*
 * Repacks weights[g*CG + c][k][t] into
 * packed[g][block][c][t][j] = weights[g*CG + c][block*KB + j][t].
 */
static float *pack_weights(const gcl_geometry *g, const transposed_tile *t,
                           const float *weights, size_t *count) {
  int64_t cg = g->channels_per_group, kg = g->outputs_per_group;
  int64_t taps = g->kernel_size;
  float *packed;

  *count = (size_t)packed_elements(g, t);
  packed = gcl_calloc(*count, sizeof *packed);
  if (packed == NULL)
    return NULL;
  for (int64_t group = 0; group < g->group; group++)
    for (int64_t c = 0; c < cg; c++)
      for (int64_t k = 0; k < kg; k++) {
        const float *filter = weights + ((group * cg + c) * kg + k) * taps;
        int64_t block = k / t->kb, j = k % t->kb;
        float *column =
            packed + ((group * t->kblocks + block) * cg + c) * taps * t->kb +
            j;

        for (int64_t tap = 0; tap < taps; tap++)
          column[tap * t->kb] = filter[tap];
      }
  return packed;
}

static gcl_status build_kernel(gcl_single_kernel *state,
                               const transposed_tile *tile,
                               gcl_context *context, size_t device_index) {
  char options[128];

  snprintf(options, sizeof options, "-DVW=%lld -DKB=%lld -DKBLOCKS=%lld",
           (long long)tile->vw, (long long)tile->kb,
           (long long)tile->kblocks);
  return gcl_single_kernel_build(state, context, device_index,
                                 "kernels/conv_transposed.cl",
                                 "gcl_conv_transposed", options);
}

static gcl_status upload(gcl_single_kernel *state, const transposed_tile *t,
                         gcl_context *context, size_t device_index,
                         const float *weights, const float *bias) {
  size_t count;
  float *packed = pack_weights(&state->geometry, t, weights, &count);
  gcl_status status;

  if (packed == NULL)
    return gcl_fail(GCL_ERROR_OUT_OF_MEMORY,
                    "out of host memory for the repacked weights (%zu "
                    "floats)",
                    count);
  status = gcl_single_kernel_upload(state, context, device_index, packed,
                                    count, bias);
  gcl_free(packed);
  return status;
}

static gcl_status transposed_prepare(const gcl_geometry *g,
                                     gcl_context *context,
                                     size_t device_index,
                                     const float *weights, const float *bias,
                                     void **opaque) {
  transposed_tile tile = choose_tile(g);
  gcl_single_kernel *state;
  gcl_status status;

  *opaque = NULL;
  status = gcl_single_kernel_create(g, "conv_transposed", &state);
  if (status != GCL_SUCCESS)
    return status;

  state->global[0] =
      (size_t)(g->stride[2] * ((tile.columns + tile.vw - 1) / tile.vw));
  state->global[1] = (size_t)g->out[1];
  state->global[2] = (size_t)(g->batch * g->group * tile.kblocks * g->out[0]);
  gcl_small_local_size(state->global, 16, state->local);
  status = build_kernel(state, &tile, context, device_index);
  if (status == GCL_SUCCESS)
    status = upload(state, &tile, context, device_index, weights, bias);
  if (status != GCL_SUCCESS) {
    gcl_single_kernel_release(state);
    return status;
  }
  *opaque = state;
  return GCL_SUCCESS;
}

/* ---- unit stride: a convolution with flipped filters ------------------- */

/*
 * With stride 1 on every axis, a transposed layer equals a convolution of
 * the same input with each filter flipped on every axis, input and output
 * channels of a group swapped, and padding window - 1 - pad before and
 * window - 1 - pad_after + output_padding after. It then runs on the
 * fastest convolution algorithm instead of the gather kernel. Returns 0
 * when the layer has a stride or so much padding that the new padding
 * would be negative.
 */
static int flipped_convolution(const gcl_geometry *g, gcl_geometry *conv) {
  *conv = *g;
  conv->transposed = 0;
  for (int axis = 0; axis < 3; axis++) {
    int64_t reach = g->dilation[axis] * (g->kernel[axis] - 1);

    if (g->stride[axis] != 1 || reach < g->pad[axis] ||
        reach + g->output_padding[axis] < g->pad_after[axis])
      return 0;
    conv->pad[axis] = reach - g->pad[axis];
    conv->pad_after[axis] = reach - g->pad_after[axis] +
                            g->output_padding[axis];
    conv->output_padding[axis] = 0;
  }
  return 1;
}

/* Returns the convolution algorithm with the smallest estimate, or NULL. */
static const gcl_algo *fastest_convolution(const gcl_geometry *conv,
                                           const gcl_device_info *device) {
  const gcl_algo *list[GCL_ALGORITHM_COUNT], *best = NULL;
  size_t count = gcl_algo_list(list, GCL_ALGORITHM_COUNT);
  double best_seconds = 0.0;
  char reason[256];

  for (size_t i = 0; i < count && i < GCL_ALGORITHM_COUNT; i++) {
    double seconds;

    if (list[i]->id == GCL_ALGORITHM_TRANSPOSED ||
        !list[i]->supports(conv, device, reason, sizeof reason))
      continue;
    seconds = list[i]->estimate_seconds(conv, device);
    if (best == NULL || seconds < best_seconds) {
      best = list[i];
      best_seconds = seconds;
    }
  }
  return best;
}

/* weights[g*CG + c][k][t] -> flipped[g*KG + k][c][taps - 1 - t]. */
static float *flip_weights(const gcl_geometry *g, const float *weights) {
  int64_t cg = g->channels_per_group, kg = g->outputs_per_group;
  int64_t taps = g->kernel_size;
  float *flipped =
      gcl_malloc((size_t)(g->group * cg * kg * taps) * sizeof *flipped);

  if (flipped == NULL)
    return NULL;
  for (int64_t group = 0; group < g->group; group++)
    for (int64_t c = 0; c < cg; c++)
      for (int64_t k = 0; k < kg; k++) {
        const float *from = weights + ((group * cg + c) * kg + k) * taps;
        float *to = flipped + ((group * kg + k) * cg + c) * taps;

        for (int64_t t = 0; t < taps; t++)
          to[taps - 1 - t] = from[t];
      }
  return flipped;
}

/* The prepared layer: either path, behind one interface. */
typedef struct transposed_state {
  const gcl_algo *inner;
  void *inner_state;
} transposed_state;

static const gcl_algo gather_algo = {
    .id = GCL_ALGORITHM_TRANSPOSED,
    .name = "transposed",
    .prepare = transposed_prepare,
    .enqueue = gcl_single_kernel_enqueue,
    .release = gcl_single_kernel_release,
};

/* Chooses the path: the flipped convolution when it exists, else gather. */
static const gcl_algo *choose_path(const gcl_geometry *g,
                                   const gcl_device_info *device,
                                   gcl_geometry *conv) {
  const gcl_algo *inner = NULL;

  if (flipped_convolution(g, conv))
    inner = fastest_convolution(conv, device);
  if (inner == NULL)
    *conv = *g;
  return inner != NULL ? inner : &gather_algo;
}

static double path_estimate_seconds(const gcl_geometry *g,
                                    const gcl_device_info *device) {
  gcl_geometry conv;
  const gcl_algo *inner = choose_path(g, device, &conv);

  if (inner == &gather_algo)
    return transposed_estimate_seconds(g, device);
  return inner->estimate_seconds(&conv, device);
}

/* The buffers of the path prepare takes on this device: the gather
 * kernel's packed weights, or the flipped convolution's buffers. */
static void path_device_buffers(const gcl_geometry *g,
                                const gcl_device_info *device,
                                gcl_buffer_sizes *sizes) {
  gcl_geometry conv;
  const gcl_algo *inner = choose_path(g, device, &conv);
  transposed_tile tile = choose_tile(g);

  if (inner != &gather_algo) {
    inner->device_buffers(&conv, device, sizes);
    return;
  }
  gcl_buffer_sizes_add(sizes, "packed weights", packed_elements(g, &tile));
  if (g->bias_term)
    gcl_buffer_sizes_add(sizes, "bias", g->num_output);
}

static gcl_status path_prepare(const gcl_geometry *g, gcl_context *context,
                               size_t device_index, const float *weights,
                               const float *bias, void **opaque) {
  const gcl_device_info *device = &context->devices[device_index].info;
  transposed_state *state = gcl_calloc(1, sizeof *state);
  float *flipped = NULL;
  gcl_geometry conv;
  gcl_status status;

  *opaque = NULL;
  if (state == NULL)
    return gcl_fail(GCL_ERROR_OUT_OF_MEMORY,
                    "out of host memory for the transposed state");
  state->inner = choose_path(g, device, &conv);
  if (state->inner != &gather_algo) {
    flipped = flip_weights(g, weights);
    if (flipped == NULL) {
      gcl_free(state);
      return gcl_fail(GCL_ERROR_OUT_OF_MEMORY,
                      "out of host memory for the flipped weights");
    }
  }
  status = state->inner->prepare(&conv, context, device_index,
                                 flipped != NULL ? flipped : weights, bias,
                                 &state->inner_state);
  gcl_free(flipped);
  if (status != GCL_SUCCESS) {
    gcl_free(state);
    return status;
  }
  *opaque = state;
  return GCL_SUCCESS;
}

static gcl_status path_enqueue(void *opaque, const gcl_launch *launch,
                               const gcl_tensor_view *input,
                               const gcl_tensor_view *output) {
  transposed_state *state = opaque;

  return state->inner->enqueue(state->inner_state, launch, input, output);
}

static void path_release(void *opaque) {
  transposed_state *state = opaque;

  if (state == NULL)
    return;
  state->inner->release(state->inner_state);
  gcl_free(state);
}

const gcl_algo gcl_algo_transposed = {
    .id = GCL_ALGORITHM_TRANSPOSED,
    .name = "transposed",
    .supports = transposed_supports,
    .estimate_seconds = path_estimate_seconds,
    .device_buffers = path_device_buffers,
    .prepare = path_prepare,
    .enqueue = path_enqueue,
    .release = path_release,
};
