/*
 * The two host references (the library's gather form and the tests'
 * scatter form) against hand-computed values and against each other, and
 * the test reference's gradients against finite differences.
 */
#include "helpers.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Test(reference, hand_computed_1d_with_pad) {
  /* x = 1 2 3 4, w = (1, 0, -1), pad 1: y[i] = x[i-1] - x[i+1]. */
  const test_layer layer = {"hand_1d", 1, 1, 1, 1, 1, {4}, {3}, {1}, {1},
                            {1}, 0, TEST_PLAIN_CONVOLUTION};
  const float input[4] = {1, 2, 3, 4};
  const float weights[3] = {1, 0, -1};
  const double want[4] = {-2, -2, -2, 3};
  double got[4];
  float library[4];
  gcl_conv_desc desc;
  int64_t shape[3];

  test_reference_forward(&layer, input, weights, NULL, got);
  test_layer_desc(&layer, &desc, shape);
  cr_assert_eq(gcl_conv_reference_forward(&desc, 3, shape, input, weights,
                                          NULL, library),
               GCL_SUCCESS, "%s", gcl_last_error());
  for (int i = 0; i < 4; i++) {
    cr_assert_eq(got[i], want[i], "test reference y[%d] = %g", i, got[i]);
    cr_assert_eq(library[i], (float)want[i], "library reference y[%d] = %g",
                 i, (double)library[i]);
  }
}

Test(reference, hand_computed_groups_stay_apart) {
  /* Two groups of one channel: output k reads only input channel k. */
  const test_layer layer = {"hand_groups", 1, 1, 2, 2, 2, {3}, {1}, {1},
                            {0}, {1}, 1, TEST_PLAIN_CONVOLUTION};
  const float input[6] = {1, 2, 3, 10, 20, 30};
  const float weights[2] = {2, -1};
  const float bias[2] = {0.5f, 1};
  const double want[6] = {2.5, 4.5, 6.5, -9, -19, -29};
  double got[6];

  test_reference_forward(&layer, input, weights, bias, got);
  for (int i = 0; i < 6; i++)
    cr_assert_eq(got[i], want[i], "y[%d] = %g, want %g", i, got[i], want[i]);
}

Test(reference, hand_computed_stride_and_dilation) {
  /* x = 0..9, w = (1, 1), dilation 3, stride 4: y = x0+x3, x4+x7. */
  const test_layer layer = {"hand_dilated", 1, 1, 1, 1, 1, {10}, {2}, {4},
                            {0}, {3}, 0, TEST_PLAIN_CONVOLUTION};
  float input[10];
  const float weights[2] = {1, 1};
  double got[2];

  for (int i = 0; i < 10; i++)
    input[i] = (float)i;
  test_reference_forward(&layer, input, weights, NULL, got);
  cr_assert_eq(test_output_count(&layer), 2);
  cr_assert_eq(got[0], 3.0);
  cr_assert_eq(got[1], 11.0);
}

Test(reference, library_and_test_references_agree) {
  static const test_layer layers[] = {
      {"agree_2d", 2, 2, 6, 9, 3, {7, 8}, {3, 2}, {2, 1}, {1, 0}, {1, 2}, 1,
       TEST_PLAIN_CONVOLUTION},
      {"agree_3d", 3, 1, 4, 4, 4, {4, 5, 3}, {2, 3, 1}, {1, 2, 1},
       {1, 1, 0}, {2, 1, 1}, 1, TEST_PLAIN_CONVOLUTION},
      {"agree_1d", 1, 3, 3, 6, 3, {12}, {4}, {3}, {2}, {2}, 0,
       TEST_PLAIN_CONVOLUTION},
  };

  for (size_t l = 0; l < sizeof layers / sizeof layers[0]; l++) {
    const test_layer *layer = &layers[l];
    size_t n_in = test_input_count(layer), n_out = test_output_count(layer);
    float *input = malloc(n_in * sizeof *input);
    float *weights = malloc(test_weight_count(layer) * sizeof *weights);
    float bias[16];
    float *library = malloc(n_out * sizeof *library);
    double *expected = malloc(n_out * sizeof *expected);
    gcl_conv_desc desc;
    int64_t shape[GCL_MAX_RANK];

    test_fill(input, n_in, 5);
    test_fill(weights, test_weight_count(layer), 6);
    test_fill(bias, 16, 7);
    test_layer_desc(layer, &desc, shape);
    cr_assert_eq(gcl_conv_reference_forward(&desc, layer->spatial_dims + 2,
                                            shape, input, weights,
                                            layer->bias_term ? bias : NULL,
                                            library),
                 GCL_SUCCESS, "%s", gcl_last_error());
    test_reference_forward(layer, input, weights,
                           layer->bias_term ? bias : NULL, expected);
    for (size_t i = 0; i < n_out; i++)
      cr_assert(fabs(library[i] - expected[i]) <= 1e-6 * (1 + fabs(expected[i])),
                "%s: element %zu: library %.9g, tests %.9g", layer->name, i,
                (double)library[i], expected[i]);
    free(input);
    free(weights);
    free(library);
    free(expected);
  }
}

/* ---- transposed layers, asymmetric pads and gradients -------------------- */

/* Builds a 1-D test layer of one group with the given geometry. */
static test_layer layer_1d(const char *name, int64_t width, int64_t kernel,
                           int64_t stride, int64_t pad) {
  test_layer layer;

  memset(&layer, 0, sizeof layer);
  snprintf(layer.name, sizeof layer.name, "%s", name);
  layer.spatial_dims = 1;
  layer.batch = layer.channels = layer.num_output = layer.group = 1;
  layer.in[0] = width;
  layer.kernel[0] = kernel;
  layer.stride[0] = stride;
  layer.pad[0] = pad;
  layer.dilation[0] = 1;
  return layer;
}

Test(reference, hand_computed_asymmetric_pad) {
  /* Padded input 0 0 1 2 3 4, window of three ones. */
  test_layer layer = layer_1d("hand_asymmetric", 4, 3, 1, 2);
  const float input[4] = {1, 2, 3, 4};
  const float weights[3] = {1, 1, 1};
  const double want[4] = {1, 3, 6, 9};
  double got[4];

  layer.pad_asymmetric = 1;
  layer.pad_after[0] = 0;
  cr_assert_eq(test_output_count(&layer), 4, "output count %zu",
               test_output_count(&layer));
  test_reference_forward(&layer, input, weights, NULL, got);
  for (int i = 0; i < 4; i++)
    cr_assert_eq(got[i], want[i], "y[%d] = %g, want %g", i, got[i], want[i]);
}

/*
 * x = (1, 2), w = (1, 10, 100), stride 2: the uncropped output is
 * 1 10 (100+2) 20 200. Pad 1 crops one position at each end and
 * output_padding 1 restores the last one, which contains the tap 200.
 */
Test(reference, hand_computed_transposed_output_padding) {
  test_layer layer = layer_1d("hand_transposed", 2, 3, 2, 1);
  const float input[2] = {1, 2};
  const float weights[3] = {1, 10, 100};
  const float bias[1] = {0.5f};
  const double want[4] = {10.5, 102.5, 20.5, 200.5};
  double got[4];

  layer.transposed = 1;
  layer.bias_term = 1;
  layer.output_padding[0] = 1;
  cr_assert_eq(test_output_count(&layer), 4, "output count %zu",
               test_output_count(&layer));
  test_reference_forward(&layer, input, weights, bias, got);
  for (int i = 0; i < 4; i++)
    cr_assert_eq(got[i], want[i], "y[%d] = %g, want %g", i, got[i], want[i]);
}

/* Output channels g * K / group onwards come from input slice g only, and
 * the bias is indexed by the absolute output channel. */
Test(reference, hand_computed_transposed_groups) {
  const test_layer layer = {"hand_transposed_groups", 1, 1, 2, 4, 2, {1},
                            {1}, {1}, {0}, {1}, 1, 1, 0, {0}, {0}};
  const float input[2] = {1, 10};
  const float weights[4] = {1, 2, 3, 4}; /* [C=2][K/group=2][1] */
  const float bias[4] = {0.125f, 0.25f, 0.5f, 0.75f};
  const double want[4] = {1.125, 2.25, 30.5, 40.75};
  double got[4];

  test_reference_forward(&layer, input, weights, bias, got);
  for (int i = 0; i < 4; i++)
    cr_assert_eq(got[i], want[i], "y[%d] = %g, want %g", i, got[i], want[i]);
}

/* The gradients of the layer above for dy = (1, 0, 0, 1), worked out from
 * output position o = 2i - 1 + t: dx = (10, 100), dw = (0, 1, 2), db = 2. */
Test(reference, hand_computed_transposed_gradients) {
  test_layer layer = layer_1d("hand_transposed_grad", 2, 3, 2, 1);
  const double input[2] = {1, 2};
  const double weights[3] = {1, 10, 100};
  const double grad_output[4] = {1, 0, 0, 1};
  const double want_input[2] = {10, 100};
  const double want_weights[3] = {0, 1, 2};
  double grad_input[2], grad_weights[3], grad_bias[1];
  test_gradients g = {grad_input, grad_weights, grad_bias};

  layer.transposed = 1;
  layer.bias_term = 1;
  layer.output_padding[0] = 1;
  test_reference_backward(&layer, input, weights, grad_output, &g);
  for (int i = 0; i < 2; i++)
    cr_assert_eq(grad_input[i], want_input[i], "dx[%d] = %g, want %g", i,
                 grad_input[i], want_input[i]);
  for (int t = 0; t < 3; t++)
    cr_assert_eq(grad_weights[t], want_weights[t], "dw[%d] = %g, want %g", t,
                 grad_weights[t], want_weights[t]);
  cr_assert_eq(grad_bias[0], 2.0, "db = %g, want 2", grad_bias[0]);
}

/* x = 1 2 3 4, w = (1, 0, -1), pad 1, dy = (1, 1, 1, 1). Each x[j] meets
 * w[t] at output j + 1 - t, so dx = (1, 0, 0, -1). dw[t] sums the padded
 * inputs j = o - 1 + t over the outputs, which gives (6, 10, 9). */
Test(reference, hand_computed_convolution_gradients) {
  test_layer layer = layer_1d("hand_conv_grad", 4, 3, 1, 1);
  const double input[4] = {1, 2, 3, 4};
  const double weights[3] = {1, 0, -1};
  const double grad_output[4] = {1, 1, 1, 1};
  const double want_input[4] = {1, 0, 0, -1};
  const double want_weights[3] = {6, 10, 9};
  double grad_input[4], grad_weights[3];
  test_gradients g = {grad_input, grad_weights, NULL};

  test_reference_backward(&layer, input, weights, grad_output, &g);
  for (int i = 0; i < 4; i++)
    cr_assert_eq(grad_input[i], want_input[i], "dx[%d] = %g, want %g", i,
                 grad_input[i], want_input[i]);
  for (int t = 0; t < 3; t++)
    cr_assert_eq(grad_weights[t], want_weights[t], "dw[%d] = %g, want %g", t,
                 grad_weights[t], want_weights[t]);
}

/* Small layers of both kinds on which every gradient element is checked
 * by finite differences. */
static const test_layer difference_layers[] = {
    /* name, dims, N, C, K, group, in, kernel, stride, pad, dilation, bias,
       transposed, asymmetric, pad_after, output_padding */
    {"fd_1d_group2_stride2", 1, 2, 4, 6, 2, {9}, {3}, {2}, {1}, {1}, 1, 0, 0,
     {0}, {0}},
    {"fd_1d_stride_above_kernel", 1, 1, 2, 4, 2, {11}, {2}, {4}, {0}, {1}, 0,
     0, 0, {0}, {0}},
    {"fd_2d_depthwise_mult2_dil2", 2, 2, 3, 6, 3, {5, 6}, {3, 3}, {1, 2},
     {2, 1}, {2, 1}, 1, 0, 0, {0, 0}, {0, 0}},
    {"fd_2d_tiny_input_asymmetric", 2, 1, 2, 2, 1, {2, 1}, {3, 4}, {1, 1},
     {2, 1}, {1, 1}, 1, 0, 1, {0, 2}, {0, 0}},
    {"fd_3d_group2", 3, 1, 2, 4, 2, {3, 4, 3}, {2, 3, 2}, {1, 2, 1},
     {1, 1, 0}, {1, 1, 2}, 1, 0, 0, {0, 0, 0}, {0, 0, 0}},
    {"fd_t1d_group2_output_padding", 1, 2, 4, 2, 2, {5}, {3}, {2}, {1}, {1},
     1, 1, 0, {0}, {1}},
    {"fd_t2d_dilation_above_stride", 2, 1, 3, 3, 3, {3, 4}, {2, 3}, {2, 1},
     {1, 1}, {3, 2}, 1, 1, 0, {0, 0}, {2, 1}},
    {"fd_t2d_asymmetric", 2, 2, 2, 4, 1, {3, 3}, {3, 2}, {2, 3}, {0, 2},
     {1, 1}, 0, 1, 1, {2, 0}, {1, 0}},
    {"fd_t3d_depthwise", 3, 1, 2, 2, 2, {2, 3, 2}, {2, 2, 3}, {2, 1, 2},
     {0, 1, 1}, {1, 1, 1}, 1, 1, 0, {0, 0, 0}, {1, 0, 1}},
};

Test(reference, gradients_match_finite_differences) {
  for (size_t l = 0; l < sizeof difference_layers / sizeof difference_layers[0];
       l++) {
    const test_layer *layer = &difference_layers[l];
    size_t n_in = test_input_count(layer), n_out = test_output_count(layer);
    size_t n_w = test_weight_count(layer);
    float *input = malloc(n_in * sizeof *input);
    float *weights = malloc(n_w * sizeof *weights);
    float *grad_output = malloc(n_out * sizeof *grad_output);
    float bias[8];

    cr_assert(input && weights && grad_output, "out of memory");
    cr_assert_gt(n_out, 0, "%s: empty output", layer->name);
    test_fill(input, n_in, 31);
    test_fill(weights, n_w, 32);
    test_fill(grad_output, n_out, 33);
    test_fill(bias, 8, 34);
    /* More samples than elements: every element is checked. */
    test_check_reference_by_differences(layer, input, weights, bias,
                                        grad_output, 100000);
    free(input);
    free(weights);
    free(grad_output);
  }
}

/* A cross-check, not a dependency: both references compute the new layer
 * kinds from their own code. */
Test(reference, library_and_test_references_agree_on_gradients) {
  for (size_t l = 0; l < sizeof difference_layers / sizeof difference_layers[0];
       l++) {
    const test_layer *layer = &difference_layers[l];
    size_t n_in = test_input_count(layer), n_out = test_output_count(layer);
    size_t n_w = test_weight_count(layer);
    float *input = malloc(n_in * sizeof *input);
    float *weights = malloc(n_w * sizeof *weights);
    float *grad_output = malloc(n_out * sizeof *grad_output);
    float *output = malloc(n_out * sizeof *output);
    float *grad_input = malloc(n_in * sizeof *grad_input);
    float *grad_weights = malloc(n_w * sizeof *grad_weights);
    float bias[8], grad_bias[8];
    test_layer_expected e;
    gcl_conv_desc desc;
    int64_t shape[GCL_MAX_RANK];
    int rank = layer->spatial_dims + 2;

    cr_assert(input && weights && grad_output && output && grad_input &&
                  grad_weights,
              "out of memory");
    test_fill(input, n_in, 41);
    test_fill(weights, n_w, 42);
    test_fill(grad_output, n_out, 43);
    test_fill(bias, 8, 44);
    test_layer_desc(layer, &desc, shape);
    cr_assert_eq(gcl_conv_reference_forward(&desc, rank, shape, input,
                                            weights,
                                            layer->bias_term ? bias : NULL,
                                            output),
                 GCL_SUCCESS, "%s: %s", layer->name, gcl_last_error());
    cr_assert_eq(gcl_conv_reference_backward(
                     &desc, rank, shape, input, weights, grad_output,
                     grad_input, grad_weights,
                     layer->bias_term ? grad_bias : NULL),
                 GCL_SUCCESS, "%s: %s", layer->name, gcl_last_error());

    test_expected_compute(layer, input, weights, bias, grad_output, &e);
    test_expect_tensor_close(layer->name, output, &e.output);
    test_expect_tensor_close(layer->name, grad_input, &e.grad_input);
    test_expect_tensor_close(layer->name, grad_weights, &e.grad_weights);
    if (layer->bias_term)
      test_expect_tensor_close(layer->name, grad_bias, &e.grad_bias);
    test_expected_free(&e);
    free(input);
    free(weights);
    free(grad_output);
    free(output);
    free(grad_input);
    free(grad_weights);
  }
}
