/*
 * Host reference for every direction of a layer, in double precision.
 * Deliberately naive, so that it is easy to check by reading: one loop nest
 * visits every (image, small-side channel, small-side position, large-side
 * channel, tap) of the convolution that links the layer's two sides, and
 * the direction only decides which two of the three tensors it multiplies
 * and where it adds the product.
 */
#include "conv/conv.h"

#include "util/alloc.h"
#include "util/error.h"

#include <stdlib.h>

typedef enum visit_mode {
  CORRELATE,   /* small[n][k][o] += large[n][c][i] * w[k][c][t] */
  SCATTER,     /* large[n][c][i] += small[n][k][o] * w[k][c][t] */
  WEIGHT_GRAD  /* w[k][c][t] += small[n][k][o] * large[n][c][i] */
} visit_mode;

/* The three tensors of the convolution r: `large` is its input side,
 * `small` its output side. The one the mode writes is in double. */
typedef struct visit_tensors {
  const float *large, *small, *weights;
  double *large_sum, *small_sum, *weight_sum;
} visit_tensors;

/* Returns the large-side index one tap reaches from position o, or -1 in
 * the padding. */
static int64_t reach(const gcl_geometry *r, const int64_t o[3],
                     const int64_t t[3]) {
  int64_t index = 0;

  for (int axis = 0; axis < 3; axis++) {
    int64_t i = o[axis] * r->stride[axis] - r->pad[axis] +
                t[axis] * r->dilation[axis];

    if (i < 0 || i >= r->in[axis])
      return -1;
    index = index * r->in[axis] + i;
  }
  return index;
}

static void visit_pair(const gcl_geometry *r, visit_mode mode,
                       const visit_tensors *v, int64_t small_at,
                       int64_t large_plane, int64_t weight_row,
                       const int64_t o[3]) {
  int64_t t[3];

  for (t[0] = 0; t[0] < r->kernel[0]; t[0]++)
    for (t[1] = 0; t[1] < r->kernel[1]; t[1]++)
      for (t[2] = 0; t[2] < r->kernel[2]; t[2]++) {
        int64_t i = reach(r, o, t);
        int64_t w = weight_row + (t[0] * r->kernel[1] + t[1]) * r->kernel[2] +
                    t[2];

        if (i < 0)
          continue;
        i += large_plane;
        if (mode == CORRELATE)
          v->small_sum[small_at] += (double)v->large[i] * v->weights[w];
        else if (mode == SCATTER)
          v->large_sum[i] += (double)v->small[small_at] * v->weights[w];
        else
          v->weight_sum[w] += (double)v->small[small_at] * v->large[i];
      }
}

static void visit(const gcl_geometry *r, visit_mode mode,
                  const visit_tensors *v) {
  for (int64_t n = 0; n < r->batch; n++)
    for (int64_t k = 0; k < r->num_output; k++) {
      int64_t group = k / r->outputs_per_group;
      int64_t o[3];

      for (o[0] = 0; o[0] < r->out[0]; o[0]++)
        for (o[1] = 0; o[1] < r->out[1]; o[1]++)
          for (o[2] = 0; o[2] < r->out[2]; o[2]++) {
            int64_t small_at =
                (n * r->num_output + k) * r->out_size +
                (o[0] * r->out[1] + o[1]) * r->out[2] + o[2];

            for (int64_t c = 0; c < r->channels_per_group; c++) {
              int64_t channel = group * r->channels_per_group + c;

              visit_pair(r, mode, v, small_at,
                         (n * r->channels + channel) * r->in_size,
                         (k * r->channels_per_group + c) * r->kernel_size, o);
            }
          }
    }
}

/* Writes sum (plus the bias of each channel, when given) as floats. */
static void store(const double *sum, const float *bias, int64_t batch,
                  int64_t channels, int64_t size, float *out) {
  for (int64_t n = 0; n < batch; n++)
    for (int64_t c = 0; c < channels; c++)
      for (int64_t i = 0; i < size; i++) {
        int64_t at = (n * channels + c) * size + i;

        out[at] = (float)(sum[at] + (bias != NULL ? bias[c] : 0.0));
      }
}

static gcl_status reference_init(const gcl_conv_desc *desc, int rank,
                                 const int64_t *input_shape,
                                 gcl_geometry *layer, gcl_geometry *r) {
  gcl_status status = gcl_geometry_init(desc, rank, input_shape, layer);

  if (status == GCL_SUCCESS)
    gcl_geometry_relation(layer, r);
  return status;
}

static gcl_status out_of_memory(void) {
  return gcl_fail(GCL_ERROR_OUT_OF_MEMORY,
                  "out of host memory for the reference's double sums");
}

gcl_status gcl_conv_reference_forward(const gcl_conv_desc *desc, int rank,
                                      const int64_t *input_shape,
                                      const float *input,
                                      const float *weights, const float *bias,
                                      float *output) {
  gcl_geometry g, r;
  visit_tensors v = {0};
  gcl_status status;
  double *sum;
  size_t count;

  gcl_clear_error();
  if (input == NULL || weights == NULL || output == NULL)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "gcl_conv_reference_forward: input, weights and output "
                    "must not be NULL");
  status = reference_init(desc, rank, input_shape, &g, &r);
  if (status != GCL_SUCCESS)
    return status;
  if (g.bias_term && bias == NULL)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "gcl_conv_reference_forward: the layer has bias_term 1 "
                    "but bias is NULL");

  count = (size_t)(g.batch * g.num_output * g.out_size);
  sum = gcl_calloc(count, sizeof *sum);
  if (sum == NULL)
    return out_of_memory();
  v.weights = weights;
  if (g.transposed) {
    v.small = input;
    v.large_sum = sum;
    visit(&r, SCATTER, &v);
  } else {
    v.large = input;
    v.small_sum = sum;
    visit(&r, CORRELATE, &v);
  }
  store(sum, g.bias_term ? bias : NULL, g.batch, g.num_output, g.out_size,
        output);
  gcl_free(sum);
  return GCL_SUCCESS;
}

/* The bias gradient: the output gradient summed over images and positions. */
static void bias_gradient(const gcl_geometry *g, const float *grad_output,
                          float *grad_bias) {
  for (int64_t k = 0; k < g->num_output; k++) {
    double sum = 0.0;

    for (int64_t n = 0; n < g->batch; n++)
      for (int64_t i = 0; i < g->out_size; i++)
        sum += grad_output[(n * g->num_output + k) * g->out_size + i];
    grad_bias[k] = (float)sum;
  }
}

/* The input gradient: the data side of the relation that is the layer's
 * input, reached from the output gradient. */
static gcl_status input_gradient(const gcl_geometry *g, const gcl_geometry *r,
                                 const float *weights,
                                 const float *grad_output, float *grad_input) {
  size_t count = (size_t)(g->batch * g->channels * g->in_size);
  double *sum = gcl_calloc(count, sizeof *sum);
  visit_tensors v = {0};

  if (sum == NULL)
    return out_of_memory();
  v.weights = weights;
  if (g->transposed) {
    v.large = grad_output;
    v.small_sum = sum;
    visit(r, CORRELATE, &v);
  } else {
    v.small = grad_output;
    v.large_sum = sum;
    visit(r, SCATTER, &v);
  }
  store(sum, NULL, g->batch, g->channels, g->in_size, grad_input);
  gcl_free(sum);
  return GCL_SUCCESS;
}

static gcl_status weight_gradient(const gcl_geometry *g,
                                  const gcl_geometry *r, const float *input,
                                  const float *grad_output,
                                  float *grad_weights) {
  size_t count =
      (size_t)(r->num_output * r->channels_per_group * r->kernel_size);
  double *sum = gcl_calloc(count, sizeof *sum);
  visit_tensors v = {0};

  if (sum == NULL)
    return out_of_memory();
  v.large = g->transposed ? grad_output : input;
  v.small = g->transposed ? input : grad_output;
  v.weight_sum = sum;
  visit(r, WEIGHT_GRAD, &v);
  for (size_t i = 0; i < count; i++)
    grad_weights[i] = (float)sum[i];
  gcl_free(sum);
  return GCL_SUCCESS;
}

gcl_status gcl_conv_reference_backward(
    const gcl_conv_desc *desc, int rank, const int64_t *input_shape,
    const float *input, const float *weights, const float *grad_output,
    float *grad_input, float *grad_weights, float *grad_bias) {
  gcl_geometry g, r;
  gcl_status status;

  gcl_clear_error();
  if (grad_output == NULL || (grad_input != NULL && weights == NULL) ||
      (grad_weights != NULL && input == NULL))
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "gcl_conv_reference_backward: grad_output is required, "
                    "weights for grad_input and input for grad_weights");
  status = reference_init(desc, rank, input_shape, &g, &r);
  if (status != GCL_SUCCESS)
    return status;
  if (grad_bias != NULL && !g.bias_term)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "gcl_conv_reference_backward: grad_bias is given but the "
                    "layer has bias_term 0");

  if (grad_bias != NULL)
    bias_gradient(&g, grad_output, grad_bias);
  if (grad_input != NULL)
    status = input_gradient(&g, &r, weights, grad_output, grad_input);
  if (status == GCL_SUCCESS && grad_weights != NULL)
    status = weight_gradient(&g, &r, input, grad_output, grad_weights);
  return status;
}
