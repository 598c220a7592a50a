/*
 * The two host references (the library's gather form and the tests'
 * scatter form) against hand-computed values and against each other.
 */
#include "helpers.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>

Test(reference, hand_computed_1d_with_pad) {
  /* x = 1 2 3 4, w = (1, 0, -1), pad 1: y[i] = x[i-1] - x[i+1]. */
  const test_layer layer = {"hand_1d", 1, 1, 1, 1, 1, {4}, {3}, {1}, {1},
                            {1}, 0};
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
                            {0}, {1}, 1};
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
                            {0}, {3}, 0};
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
      {"agree_2d", 2, 2, 6, 9, 3, {7, 8}, {3, 2}, {2, 1}, {1, 0}, {1, 2}, 1},
      {"agree_3d", 3, 1, 4, 4, 4, {4, 5, 3}, {2, 3, 1}, {1, 2, 1},
       {1, 1, 0}, {2, 1, 1}, 1},
      {"agree_1d", 1, 3, 3, 6, 3, {12}, {4}, {3}, {2}, {2}, 0},
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
