/*
 * The test suite's own reference convolution, written independently of the
 * library (including of gcl_conv_reference_forward and
 * gcl_conv_reference_backward). It lists every multiply-add of a layer as
 * a link (input element, weight element, output element), found by
 * scattering each input element into the outputs it reaches, and
 * accumulates in double. The forward pass adds input x weight to the
 * output. The gradients are the adjoint of the same links: the input
 * gradient scatters output gradient x weight back to the input, and the
 * weight gradient sums output gradient x input.
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
  int64_t pad[3];      /* before each axis; also after it unless
                          pad_asymmetric is set */
  int64_t dilation[3];
  int bias_term;
  /* The fields below are zero in the forward suites' tables. */
  int transposed;      /* Deconvolution: weights [C][K / group][kernel...] */
  int pad_asymmetric;  /* pad_after is the pad after each axis */
  int64_t pad_after[3];
  int64_t output_padding[3]; /* transposed layers only */
} test_layer;

/* The trailing fields of a convolution with symmetric pads (transposed,
 * pad_asymmetric, pad_after, output_padding), for positional
 * initializers of test_layer. */
#define TEST_PLAIN_CONVOLUTION 0, 0, {0}, {0}

/* Fills desc and the input shape (rank spatial_dims + 2) from a test layer. */
void test_layer_desc(const test_layer *layer, gcl_conv_desc *desc,
                     int64_t *input_shape);

/* Output spatial size of one axis of a convolution with symmetric padding,
 * by Caffe's formula (0 when the window does not fit). */
int64_t test_output_size(int64_t in, int64_t kernel, int64_t stride,
                         int64_t pad, int64_t dilation);

/* Output size of spatial axis `axis` of any test layer: Caffe's formula
 * for a convolution, stride * (in - 1) + window - pads + output_padding
 * for a transposed layer. May be below 1 for an invalid layer. */
int64_t test_layer_output_size(const test_layer *layer, int axis);

/* Element counts of the layer's tensors. */
size_t test_input_count(const test_layer *layer);
size_t test_weight_count(const test_layer *layer);
size_t test_output_count(const test_layer *layer);

/* Computes the output into a double array of test_output_count elements. */
void test_reference_forward(const test_layer *layer, const float *input,
                            const float *weights, const float *bias,
                            double *output);

/* The same in double throughout; bias may be NULL for no bias. */
void test_reference_forward_f64(const test_layer *layer, const double *input,
                                const double *weights, const double *bias,
                                double *output);

/* Gradient arrays shaped like the layer's input, weights and bias
 * (num_output). Each may be NULL to skip it. */
typedef struct test_gradients {
  double *input;
  double *weights;
  double *bias;
} test_gradients;

/*
 * Computes the gradients of loss = sum(grad_output * output) with respect
 * to the input, weights and bias, overwriting each non-NULL array of
 * gradients. input may be NULL when gradients->weights is NULL.
 */
void test_reference_backward(const test_layer *layer, const double *input,
                             const double *weights, const double *grad_output,
                             const test_gradients *gradients);

/* The tensors that the finite differences perturb. */
typedef enum test_tensor {
  TEST_TENSOR_INPUT,
  TEST_TENSOR_WEIGHTS,
  TEST_TENSOR_BIAS
} test_tensor;

/* The forward operands; bias may be NULL for a layer without bias. */
typedef struct test_operands {
  double *input;
  double *weights;
  double *bias;
} test_operands;

/* Returns sum(grad_output * forward(operands)), summed in double. */
double test_reference_loss(const test_layer *layer,
                           const test_operands *operands,
                           const double *grad_output);

/*
 * Returns the central finite difference (loss(v + step) - loss(v - step))
 * / (2 step) of test_reference_loss for element `index` of one operand.
 * The element is restored before returning. The loss is linear in every
 * single element, so the difference equals the derivative up to rounding.
 */
double test_reference_central_difference(const test_layer *layer,
                                         test_operands *operands,
                                         const double *grad_output,
                                         test_tensor tensor, size_t index,
                                         double step);

#endif
