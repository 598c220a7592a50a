/*
 * Convolves host arrays with a grouped 2-D layer and checks the result
 * against the library's host reference.
 *
 * Build against an installed groupcl:
 *   cc host_arrays.c $(pkg-config --cflags --libs groupcl) -o host_arrays
 * Set GROUPCL_DEVICES (for example "cpu" or "0:0") to choose the device.
 */
#include <groupcl.h>

#include <stdio.h>
#include <stdlib.h>

/* Input [2][4][9][9], group 2, so each output channel reads 2 of the 4. */
#define BATCH 2
#define CHANNELS 4
#define OUTPUTS 6
#define GROUP 2
#define SIZE 9
#define KERNEL 3

int main(void) {
  const int64_t input_shape[4] = {BATCH, CHANNELS, SIZE, SIZE};
  static float input[BATCH * CHANNELS * SIZE * SIZE];
  static float weights[OUTPUTS * (CHANNELS / GROUP) * KERNEL * KERNEL];
  static float bias[OUTPUTS];
  float *output = NULL, *expected = NULL;
  int64_t output_shape[4];
  size_t output_count, i;
  gcl_context *context = NULL;
  gcl_conv *conv = NULL;
  gcl_plan *plan = NULL;
  gcl_conv_desc desc;
  double max_error = 0.0;
  int result = 1;

  /* Small values whose products and sums a float represents exactly. */
  for (i = 0; i < sizeof input / sizeof input[0]; i++)
    input[i] = (float)((int)(i % 7) - 3) * 0.25f;
  for (i = 0; i < sizeof weights / sizeof weights[0]; i++)
    weights[i] = (float)((int)(i % 5) - 2) * 0.5f;
  for (i = 0; i < OUTPUTS; i++)
    bias[i] = 0.125f * (float)i;

  gcl_conv_desc_init(&desc, 2, CHANNELS, OUTPUTS, KERNEL);
  desc.group = GROUP;
  desc.pad[0] = desc.pad[1] = 1;
  desc.stride[1] = 2; /* stride 1 on height, 2 on width */

  if (gcl_context_create(NULL, &context) != GCL_SUCCESS ||
      gcl_conv_create(context, &desc, weights, bias, &conv) != GCL_SUCCESS ||
      gcl_plan_create(conv, 4, input_shape, NULL, &plan) != GCL_SUCCESS ||
      gcl_plan_output_shape(plan, output_shape) != GCL_SUCCESS)
    goto fail;

  output_count = (size_t)(output_shape[0] * output_shape[1] *
                          output_shape[2] * output_shape[3]);
  output = malloc(output_count * sizeof *output);
  expected = malloc(output_count * sizeof *expected);
  if (output == NULL || expected == NULL) {
    fprintf(stderr, "host_arrays: out of memory\n");
    goto cleanup;
  }

  if (gcl_plan_forward(plan, input, output) != GCL_SUCCESS ||
      gcl_conv_reference_forward(&desc, 4, input_shape, input, weights, bias,
                                 expected) != GCL_SUCCESS)
    goto fail;

  for (i = 0; i < output_count; i++) {
    double error = (double)output[i] - (double)expected[i];

    if (error < 0.0)
      error = -error;
    if (error > max_error)
      max_error = error;
  }
  printf("output shape (%lld, %lld, %lld, %lld), max error %g\n",
         (long long)output_shape[0], (long long)output_shape[1],
         (long long)output_shape[2], (long long)output_shape[3], max_error);
  if (max_error > 1e-4) {
    fprintf(stderr, "host_arrays: the output differs from the reference "
                    "by more than 1e-4\n");
    goto cleanup;
  }
  result = 0;
  goto cleanup;

fail:
  fprintf(stderr, "host_arrays: %s\n", gcl_last_error());
cleanup:
  free(output);
  free(expected);
  gcl_plan_destroy(plan);
  gcl_conv_destroy(conv);
  gcl_context_destroy(context);
  return result;
}
