#include "layer_table.h"

#include <stdio.h>
#include <string.h>

static const test_layer hand_picked_layers[] = {
    /* 1-D */
    L1("1d_plain", 1, 3, 4, 1, 17, 3, 1, 0, 1, 1),
    L1("1d_stride2_pad1", 2, 4, 6, 2, 16, 3, 2, 1, 1, 1),
    L1("1d_dilation3", 1, 6, 6, 3, 20, 3, 1, 2, 3, 1),
    L1("1d_depthwise", 3, 8, 8, 8, 11, 5, 1, 2, 1, 0),
    L1("1d_depthwise_mult3", 1, 4, 12, 4, 9, 3, 2, 1, 1, 1),
    L1("1d_kernel_wider_than_input", 1, 2, 2, 1, 3, 5, 1, 1, 1, 1),
    L1("1d_stride_above_kernel", 2, 4, 8, 4, 23, 2, 5, 0, 1, 1),
    L1("1d_output_size_1", 1, 3, 3, 3, 5, 5, 1, 0, 1, 1),
    L1("1d_audio_group4_k9", 1, 16, 16, 4, 64, 9, 1, 4, 1, 1),
    /* 2-D */
    L2("2d_plain_3x3", 1, 3, 5, 1, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1),
    L2("2d_group2_alexnet_like", 2, 8, 12, 2, 13, 13, 5, 5, 1, 1, 2, 2, 1, 1,
       1),
    L2("2d_group3_rgb", 1, 3, 6, 3, 15, 11, 3, 3, 1, 1, 1, 1, 1, 1, 1),
    L2("2d_depthwise", 2, 6, 6, 6, 9, 10, 3, 3, 1, 1, 1, 1, 1, 1, 1),
    L2("2d_depthwise_stride2", 1, 8, 8, 8, 14, 14, 3, 3, 2, 2, 1, 1, 1, 1, 0),
    L2("2d_depthwise_mult2", 1, 5, 10, 5, 7, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1),
    L2("2d_depthwise_mult4_dil2", 1, 3, 12, 3, 12, 12, 3, 3, 1, 1, 2, 2, 2, 2,
       1),
    L2("2d_resnext_like_g8", 1, 32, 32, 8, 10, 10, 3, 3, 1, 1, 1, 1, 1, 1, 0),
    L2("2d_resnext_like_g32", 1, 64, 64, 32, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1),
    L2("2d_shufflenet_1x1_g4", 2, 16, 8, 4, 6, 6, 1, 1, 1, 1, 0, 0, 1, 1, 1),
    L2("2d_1x1_stride2", 1, 8, 16, 2, 9, 9, 1, 1, 2, 2, 0, 0, 1, 1, 1),
    L2("2d_kernel_1x7", 1, 4, 4, 2, 9, 12, 1, 7, 1, 1, 0, 3, 1, 1, 1),
    L2("2d_kernel_5x3", 1, 4, 6, 2, 11, 8, 5, 3, 1, 1, 2, 1, 1, 1, 1),
    L2("2d_kernel_2x2_stride3", 2, 6, 6, 3, 13, 10, 2, 2, 3, 3, 0, 0, 1, 1, 1),
    L2("2d_stride_2x1", 1, 4, 4, 1, 9, 9, 3, 3, 2, 1, 1, 1, 1, 1, 1),
    L2("2d_dilation2_stride2", 1, 4, 8, 2, 15, 15, 3, 3, 2, 2, 2, 2, 2, 2, 1),
    L2("2d_dilation_3x1", 1, 2, 4, 2, 12, 7, 3, 3, 1, 1, 3, 1, 3, 1, 1),
    L2("2d_big_pad", 1, 2, 3, 1, 4, 5, 3, 3, 1, 1, 3, 2, 1, 1, 1),
    L2("2d_input_smaller_than_kernel", 1, 3, 3, 3, 2, 2, 5, 5, 1, 1, 2, 2, 1,
       1, 1),
    L2("2d_output_1x1", 2, 4, 4, 2, 5, 5, 5, 5, 1, 1, 0, 0, 1, 1, 1),
    L2("2d_odd_13x7_batch4", 4, 6, 9, 3, 13, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1),
    L2("2d_no_bias_group2", 1, 4, 4, 2, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1, 0),
    L2("2d_single_channel", 1, 1, 1, 1, 7, 7, 3, 3, 1, 1, 1, 1, 1, 1, 1),
    L2("2d_group_equals_k_below_c", 1, 8, 4, 4, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1,
       1),
    L2("2d_width_1", 1, 4, 4, 2, 9, 1, 3, 1, 1, 1, 1, 0, 1, 1, 1),
    L2("2d_stride_larger_than_input", 1, 2, 2, 1, 5, 5, 2, 2, 7, 7, 0, 0, 1,
       1, 1),
    /* 3-D */
    L3("3d_plain", 1, 2, 3, 1, 5, 6, 7, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1),
    L3("3d_group2_video", 2, 4, 4, 2, 4, 8, 8, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1,
       1, 1, 1),
    L3("3d_depthwise", 1, 4, 4, 4, 5, 5, 5, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1,
       0),
    L3("3d_stride_1x2x2", 1, 3, 6, 3, 6, 9, 9, 3, 3, 3, 1, 2, 2, 1, 1, 1, 1, 1,
       1, 1),
    L3("3d_dilation_2x1x1", 1, 2, 4, 2, 9, 5, 5, 3, 3, 3, 1, 1, 1, 2, 1, 1, 2,
       1, 1, 1),
    L3("3d_kernel_1x3x5", 1, 6, 6, 3, 3, 7, 9, 1, 3, 5, 1, 1, 2, 0, 1, 2, 1, 1,
       1, 1),
    L3("3d_kernel_above_depth", 1, 2, 2, 2, 2, 5, 5, 3, 3, 3, 1, 1, 1, 1, 1, 1,
       1, 1, 1, 1),
};

#define HAND_PICKED_COUNT \
  (sizeof hand_picked_layers / sizeof hand_picked_layers[0])

_Static_assert(HAND_PICKED_COUNT + TEST_GENERATED_LAYERS <=
                   TEST_LAYER_TABLE_MAX,
               "TEST_LAYER_TABLE_MAX is smaller than the table");

static uint64_t next_random(uint64_t *state) {
  *state ^= *state << 13;
  *state ^= *state >> 7;
  *state ^= *state << 17;
  return *state;
}

static int64_t pick(uint64_t *state, int64_t low, int64_t high) {
  return low + (int64_t)(next_random(state) % (uint64_t)(high - low + 1));
}

/* Draws a random valid layer: groups first, then sizes that fit. */
static void generate_layer(uint64_t *state, test_layer *layer, int index) {
  int64_t channels_per_group = pick(state, 1, 5);
  int64_t outputs_per_group = pick(state, 1, 5);

  memset(layer, 0, sizeof *layer);
  layer->spatial_dims = (int)pick(state, 1, 3);
  layer->group = pick(state, 1, 6);
  layer->channels = layer->group * channels_per_group;
  layer->num_output = layer->group * outputs_per_group;
  layer->batch = pick(state, 1, 3);
  layer->bias_term = (int)pick(state, 0, 1);

  for (int a = 0; a < layer->spatial_dims; a++) {
    int64_t max_in = layer->spatial_dims == 3 ? 7 : 15;

    layer->kernel[a] = pick(state, 1, 4);
    layer->stride[a] = pick(state, 1, 3);
    layer->dilation[a] = pick(state, 1, 3);
    layer->pad[a] = pick(state, 0, 3);
    layer->in[a] = pick(state, 1, max_in);
    /* Grow the input until the window fits, rather than reject the draw. */
    while (test_output_size(layer->in[a], layer->kernel[a], layer->stride[a],
                            layer->pad[a], layer->dilation[a]) < 1)
      layer->in[a]++;
  }
  snprintf(layer->name, sizeof layer->name, "generated_%02d", index);
}

static test_layer all_layers[HAND_PICKED_COUNT + TEST_GENERATED_LAYERS];
static int table_built;

const test_layer *test_layer_table(size_t *count, size_t *hand_picked) {
  uint64_t state = 0x9e3779b97f4a7c15ULL;

  if (!table_built) {
    memcpy(all_layers, hand_picked_layers, sizeof hand_picked_layers);
    for (int i = 0; i < TEST_GENERATED_LAYERS; i++)
      generate_layer(&state, &all_layers[HAND_PICKED_COUNT + i], i);
    table_built = 1;
  }
  *count = HAND_PICKED_COUNT + TEST_GENERATED_LAYERS;
  if (hand_picked != NULL)
    *hand_picked = HAND_PICKED_COUNT;
  return all_layers;
}
