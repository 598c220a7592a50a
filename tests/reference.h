/*
 * The test suite's own reference convolution, written independently of the
 * library (including of gcl_conv_reference_forward): it scatters each input
 * element into every output it touches, accumulating in double.
 */
#ifndef GCL_TESTS_REFERENCE_H
#define GCL_TESTS_REFERENCE_H

#include <groupcl.h>

/* A layer with its input shape, as the tests describe it. */
typedef struct test_layer {
  /* An array, not a pointer: Criterion runs each parameterized case in a
   * fresh process image, where a pointer into the parent's data is invalid. */
  char name[40];
  int spatial_dims;
  int64_t batch, channels, num_output, group;
  int64_t in[3];       /* spatial input sizes, first spatial_dims used */
  int64_t kernel[3];
  int64_t stride[3];
  int64_t pad[3];
  int64_t dilation[3];
  int bias_term;
} test_layer;

/* Fills desc and the input shape (rank spatial_dims + 2) from a test layer. */
void test_layer_desc(const test_layer *layer, gcl_conv_desc *desc,
                     int64_t *input_shape);

/* Output spatial size of one axis by Caffe's formula (may be < 1). */
int64_t test_output_size(int64_t in, int64_t kernel, int64_t stride,
                         int64_t pad, int64_t dilation);

/* Element counts of the layer's tensors. */
size_t test_input_count(const test_layer *layer);
size_t test_weight_count(const test_layer *layer);
size_t test_output_count(const test_layer *layer);

/* Computes the output into a double array of test_output_count elements. */
void test_reference_forward(const test_layer *layer, const float *input,
                            const float *weights, const float *bias,
                            double *output);

#endif
