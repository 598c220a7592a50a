#include "reference.h"

#include <string.h>

int64_t test_output_size(int64_t in, int64_t kernel, int64_t stride,
                         int64_t pad, int64_t dilation) {
  int64_t span = in + 2 * pad - dilation * (kernel - 1) - 1;

  if (span < 0)
    return 0;
  return span / stride + 1;
}

void test_layer_desc(const test_layer *layer, gcl_conv_desc *desc,
                     int64_t *input_shape) {
  memset(desc, 0, sizeof *desc);
  desc->spatial_dims = layer->spatial_dims;
  desc->channels = layer->channels;
  desc->num_output = layer->num_output;
  desc->group = layer->group;
  desc->bias_term = layer->bias_term;
  input_shape[0] = layer->batch;
  input_shape[1] = layer->channels;
  for (int a = 0; a < layer->spatial_dims; a++) {
    desc->kernel[a] = layer->kernel[a];
    desc->stride[a] = layer->stride[a];
    desc->pad[a] = layer->pad[a];
    desc->dilation[a] = layer->dilation[a];
    input_shape[2 + a] = layer->in[a];
  }
}

/* Spatial sizes widened to three axes (leading axes of size 1). */
typedef struct axes3 {
  int64_t in[3], out[3], kernel[3], stride[3], pad[3], dilation[3];
} axes3;

static axes3 widen(const test_layer *layer) {
  axes3 axes;
  int offset = 3 - layer->spatial_dims;

  for (int a = 0; a < 3; a++) {
    int s = a - offset;

    axes.in[a] = s >= 0 ? layer->in[s] : 1;
    axes.kernel[a] = s >= 0 ? layer->kernel[s] : 1;
    axes.stride[a] = s >= 0 ? layer->stride[s] : 1;
    axes.pad[a] = s >= 0 ? layer->pad[s] : 0;
    axes.dilation[a] = s >= 0 ? layer->dilation[s] : 1;
    axes.out[a] = test_output_size(axes.in[a], axes.kernel[a], axes.stride[a],
                                   axes.pad[a], axes.dilation[a]);
  }
  return axes;
}

static int64_t product3(const int64_t v[3]) { return v[0] * v[1] * v[2]; }

size_t test_input_count(const test_layer *layer) {
  axes3 axes = widen(layer);

  return (size_t)(layer->batch * layer->channels * product3(axes.in));
}

size_t test_weight_count(const test_layer *layer) {
  axes3 axes = widen(layer);

  return (size_t)(layer->num_output * (layer->channels / layer->group) *
                  product3(axes.kernel));
}

size_t test_output_count(const test_layer *layer) {
  axes3 axes = widen(layer);

  return (size_t)(layer->batch * layer->num_output * product3(axes.out));
}

/*
 * Output position along one axis that input coordinate x reaches through
 * tap t, or -1 if none: x = o*stride - pad + t*dilation.
 */
static int64_t reached(int64_t x, int64_t t, int64_t stride, int64_t pad,
                       int64_t dilation, int64_t out) {
  int64_t numerator = x + pad - t * dilation;

  if (numerator < 0 || numerator % stride != 0)
    return -1;
  if (numerator / stride >= out)
    return -1;
  return numerator / stride;
}

/* Adds the contribution of input element (n, c, x) to every output. */
static void scatter(const test_layer *layer, const axes3 *axes,
                    const float *weights, double *output, int64_t n,
                    int64_t c, const int64_t x[3], double value) {
  int64_t cpg = layer->channels / layer->group;
  int64_t kpg = layer->num_output / layer->group;
  int64_t g = c / cpg;
  int64_t out_size = product3(axes->out);
  int64_t t[3];

  for (t[0] = 0; t[0] < axes->kernel[0]; t[0]++)
    for (t[1] = 0; t[1] < axes->kernel[1]; t[1]++)
      for (t[2] = 0; t[2] < axes->kernel[2]; t[2]++) {
        int64_t o[3];
        int ok = 1;

        for (int a = 0; a < 3; a++) {
          o[a] = reached(x[a], t[a], axes->stride[a], axes->pad[a],
                         axes->dilation[a], axes->out[a]);
          ok = ok && o[a] >= 0;
        }
        if (!ok)
          continue;

        for (int64_t k = g * kpg; k < (g + 1) * kpg; k++) {
          int64_t tap = (t[0] * axes->kernel[1] + t[1]) * axes->kernel[2] +
                        t[2];
          double w = weights[(k * cpg + (c - g * cpg)) * product3(axes->kernel) +
                             tap];
          int64_t position = (o[0] * axes->out[1] + o[1]) * axes->out[2] + o[2];

          output[(n * layer->num_output + k) * out_size + position] +=
              value * w;
        }
      }
}

void test_reference_forward(const test_layer *layer, const float *input,
                            const float *weights, const float *bias,
                            double *output) {
  axes3 axes = widen(layer);
  int64_t out_size = product3(axes.out);
  int64_t in_size = product3(axes.in);
  size_t total = test_output_count(layer);

  for (size_t i = 0; i < total; i++) {
    int64_t k = (int64_t)(i / (size_t)out_size) % layer->num_output;

    output[i] = layer->bias_term ? (double)bias[k] : 0.0;
  }

  for (int64_t n = 0; n < layer->batch; n++)
    for (int64_t c = 0; c < layer->channels; c++)
      for (int64_t i = 0; i < in_size; i++) {
        int64_t x[3] = {i / (axes.in[1] * axes.in[2]),
                        (i / axes.in[2]) % axes.in[1], i % axes.in[2]};
        double value = input[(n * layer->channels + c) * in_size + i];

        scatter(layer, &axes, weights, output, n, c, x, value);
      }
}
