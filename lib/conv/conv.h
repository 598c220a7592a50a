/* Internal layer representation shared by the conv, plan and algo layers. */
#ifndef GCL_CONV_CONV_H
#define GCL_CONV_CONV_H

#include "groupcl.h"

/*
 * Maximum number of elements of a tensor (input, output or weights). Its
 * size in bytes then fits in int64_t, so a product of sizes within one
 * tensor, such as batch * channels * height * width, cannot overflow.
 */
#define GCL_MAX_ELEMENTS (INT64_MAX / (int64_t)sizeof(float))

/*
 * A validated layer with its input shape, widened to three spatial axes:
 * missing leading axes get size 1, kernel 1, stride 1, pad 0, dilation 1,
 * so 1-D and 2-D layers run through the same 3-D code.
 */
typedef struct gcl_geometry {
  int spatial_dims; /* as in the descriptor: 1, 2 or 3 */
  int64_t batch;
  int64_t channels;
  int64_t num_output;
  int64_t group;
  int64_t channels_per_group;
  int64_t outputs_per_group;
  int64_t in[3];     /* depth, height, width */
  int64_t out[3];
  int64_t kernel[3];
  int64_t stride[3];
  int64_t pad[3];       /* before each axis */
  int64_t pad_after[3]; /* after each axis */
  int64_t dilation[3];
  int64_t output_padding[3]; /* transposed layers only */
  int64_t in_size;     /* in[0] * in[1] * in[2] */
  int64_t out_size;    /* out[0] * out[1] * out[2] */
  int64_t kernel_size; /* kernel[0] * kernel[1] * kernel[2] */
  int bias_term;
  /*
   * Nonzero for a transposed layer. The fields above keep the layer's own
   * view: channels and in[] describe its input, num_output and out[] its
   * output, kernel_size taps link input channel slice g to output slice g.
   */
  int transposed;
} gcl_geometry;

/*
 * Writes the convolution that links the two sides of a layer: for a
 * convolution the layer itself; for a transposed layer the convolution
 * whose input is the layer's output and whose output is the layer's input,
 * with the same weights. The bias is dropped.
 */
void gcl_geometry_relation(const gcl_geometry *layer, gcl_geometry *relation);

/*
 * Writes the layer that computes the input gradient of `layer` as its
 * forward pass: the transposed layer of a convolution and the convolution
 * of a transposed layer, with sides swapped and no bias.
 */
void gcl_geometry_adjoint(const gcl_geometry *layer, gcl_geometry *adjoint);

/* The padding after one axis of a descriptor, symmetric or not. */
int64_t gcl_pad_after(const gcl_conv_desc *desc, int axis);

/* Validates desc with the input shape and fills geometry. */
gcl_status gcl_geometry_init(const gcl_conv_desc *desc, int rank,
                             const int64_t *input_shape,
                             gcl_geometry *geometry);

/* Multiply-accumulates of one forward pass over the whole batch. */
double gcl_geometry_macs(const gcl_geometry *geometry);

/* Returns "depth", "height" or "width" for axis of a layer. */
const char *gcl_axis_name(int spatial_dims, int axis);

/* Formats a shape as "(2, 3, 4)". */
void gcl_format_shape(int rank, const int64_t *shape, char *buffer,
                      size_t size);

struct gcl_conv {
  gcl_context *context;
  gcl_conv_desc desc;
  float *weights; /* [num_output][channels / group][kernel...] */
  float *bias;    /* [num_output], or NULL without bias_term */
  size_t weight_count;
};

#endif
