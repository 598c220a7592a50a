/*
 * One training step of a grouped 2-D deconvolution (Caffe's Deconvolution
 * with group 2, stride 2 and output_padding 1): the forward pass, then the
 * input, weight and bias gradients, each checked against the library's
 * host reference.
 *
 * Build against an installed groupcl:
 *   cc deconv_backward.c $(pkg-config --cflags --libs groupcl) -lm \
 *      -o deconv_backward
 * Set GROUPCL_DEVICES (for example "cpu" or "0:0") to choose the device.
 */
#include <groupcl.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* Input [2][4][5][5] to output [2][6][10][10]: 2 * (5 - 1) + 3 - 2 + 1. */
#define BATCH 2
#define CHANNELS 4
#define OUTPUTS 6
#define GROUP 2
#define SIZE 5
#define KERNEL 3
#define WEIGHTS (CHANNELS * (OUTPUTS / GROUP) * KERNEL * KERNEL)

typedef struct arrays {
  float *output, *grad_output, *grad_input;
  float *expected_output, *expected_input;
  float grad_weights[WEIGHTS], expected_weights[WEIGHTS];
  float grad_bias[OUTPUTS], expected_bias[OUTPUTS];
} arrays;

static double max_difference(const float *a, const float *b, size_t count) {
  double worst = 0.0;

  for (size_t i = 0; i < count; i++) {
    double d = fabs((double)a[i] - (double)b[i]);

    if (!(d <= worst)) /* also catches NaN */
      worst = d;
  }
  return worst;
}

static void fill(float *values, size_t count, int period, float scale) {
  for (size_t i = 0; i < count; i++)
    values[i] = (float)((int)(i % (size_t)period) - period / 2) * scale;
}

int main(void) {
  const int64_t input_shape[4] = {BATCH, CHANNELS, SIZE, SIZE};
  static float input[BATCH * CHANNELS * SIZE * SIZE];
  static float weights[WEIGHTS], bias[OUTPUTS];
  static arrays a;
  gcl_context *context = NULL;
  gcl_conv *conv = NULL;
  gcl_plan *plan = NULL;
  gcl_backward_args args = {0};
  gcl_conv_desc desc;
  int64_t output_shape[4];
  size_t output_count;
  int failed;

  fill(input, sizeof input / sizeof input[0], 7, 0.25f);
  fill(weights, WEIGHTS, 5, 0.5f);
  fill(bias, OUTPUTS, 3, 0.125f);

  gcl_conv_desc_init(&desc, 2, CHANNELS, OUTPUTS, KERNEL);
  desc.transposed = 1; /* weights [CHANNELS][OUTPUTS / GROUP][3][3] */
  desc.group = GROUP;
  desc.stride[0] = desc.stride[1] = 2;
  desc.pad[0] = desc.pad[1] = 1;
  desc.output_padding[0] = desc.output_padding[1] = 1;

  failed = gcl_context_create(NULL, &context) != GCL_SUCCESS ||
           gcl_conv_create(context, &desc, weights, bias, &conv) !=
               GCL_SUCCESS ||
           gcl_plan_create(conv, 4, input_shape, NULL, &plan) != GCL_SUCCESS ||
           gcl_plan_output_shape(plan, output_shape) != GCL_SUCCESS;
  if (failed) {
    fprintf(stderr, "deconv_backward: %s\n", gcl_last_error());
    goto done;
  }

  output_count = (size_t)(output_shape[0] * output_shape[1] *
                          output_shape[2] * output_shape[3]);
  a.output = malloc(output_count * sizeof(float));
  a.expected_output = malloc(output_count * sizeof(float));
  a.grad_output = malloc(output_count * sizeof(float));
  a.grad_input = malloc(sizeof input);
  a.expected_input = malloc(sizeof input);
  failed = a.output == NULL || a.expected_output == NULL ||
           a.grad_output == NULL || a.grad_input == NULL ||
           a.expected_input == NULL;
  if (failed) {
    fprintf(stderr, "deconv_backward: out of memory\n");
    goto done;
  }
  /* A loss whose gradient with respect to the output is this pattern. */
  fill(a.grad_output, output_count, 9, 0.125f);

  /* The weight and bias gradients add to these arrays, as in Caffe; they
     start at zero here, so the sums are the gradients themselves. */
  args.input = input;
  args.grad_output = a.grad_output;
  args.grad_input = a.grad_input;
  args.grad_weights = a.grad_weights;
  args.grad_bias = a.grad_bias;

  failed = gcl_plan_forward(plan, input, a.output) != GCL_SUCCESS ||
           gcl_plan_backward(plan, &args) != GCL_SUCCESS ||
           gcl_conv_reference_forward(&desc, 4, input_shape, input, weights,
                                      bias, a.expected_output) !=
               GCL_SUCCESS ||
           gcl_conv_reference_backward(&desc, 4, input_shape, input, weights,
                                       a.grad_output, a.expected_input,
                                       a.expected_weights,
                                       a.expected_bias) != GCL_SUCCESS;
  if (failed) {
    fprintf(stderr, "deconv_backward: %s\n", gcl_last_error());
    goto done;
  }

  {
    double errors[4] = {
        max_difference(a.output, a.expected_output, output_count),
        max_difference(a.grad_input, a.expected_input,
                       sizeof input / sizeof input[0]),
        max_difference(a.grad_weights, a.expected_weights, WEIGHTS),
        max_difference(a.grad_bias, a.expected_bias, OUTPUTS)};

    printf("output [%lld, %lld, %lld, %lld]; largest differences from the "
           "reference: output %.2g, input gradient %.2g, weight gradient "
           "%.2g, bias gradient %.2g\n",
           (long long)output_shape[0], (long long)output_shape[1],
           (long long)output_shape[2], (long long)output_shape[3],
           errors[0], errors[1], errors[2], errors[3]);
    for (int i = 0; i < 4; i++)
      failed |= !(errors[i] <= 1e-4);
  }

done:
  free(a.output);
  free(a.expected_output);
  free(a.grad_output);
  free(a.grad_input);
  free(a.expected_input);
  gcl_plan_destroy(plan);
  gcl_conv_destroy(conv);
  gcl_context_destroy(context);
  return failed;
}
