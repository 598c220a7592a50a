#include "reference.h"

#include <stdlib.h>
#include <string.h>

int64_t test_output_size(int64_t in, int64_t kernel, int64_t stride,
                         int64_t pad, int64_t dilation) {
  int64_t span = in + 2 * pad - dilation * (kernel - 1) - 1;

  if (span < 0)
    return 0;
  return span / stride + 1;
}

static int64_t pad_after_of(const test_layer *layer, int axis) {
  return layer->pad_asymmetric ? layer->pad_after[axis] : layer->pad[axis];
}

int64_t test_layer_output_size(const test_layer *layer, int axis) {
  int64_t window = layer->dilation[axis] * (layer->kernel[axis] - 1) + 1;
  int64_t pads = layer->pad[axis] + pad_after_of(layer, axis);
  int64_t span;

  if (layer->transposed)
    return layer->stride[axis] * (layer->in[axis] - 1) + window - pads +
           layer->output_padding[axis];
  span = layer->in[axis] + pads - window;
  if (span < 0)
    return 0;
  return span / layer->stride[axis] + 1;
}

void test_layer_desc(const test_layer *layer, gcl_conv_desc *desc,
                     int64_t *input_shape) {
  memset(desc, 0, sizeof *desc);
  desc->spatial_dims = layer->spatial_dims;
  desc->channels = layer->channels;
  desc->num_output = layer->num_output;
  desc->group = layer->group;
  desc->bias_term = layer->bias_term;
  desc->transposed = layer->transposed;
  desc->pad_asymmetric = layer->pad_asymmetric;
  input_shape[0] = layer->batch;
  input_shape[1] = layer->channels;
  for (int a = 0; a < layer->spatial_dims; a++) {
    desc->kernel[a] = layer->kernel[a];
    desc->stride[a] = layer->stride[a];
    desc->pad[a] = layer->pad[a];
    desc->dilation[a] = layer->dilation[a];
    desc->pad_after[a] = layer->pad_after[a];
    desc->output_padding[a] = layer->output_padding[a];
    input_shape[2 + a] = layer->in[a];
  }
}

/* Spatial sizes widened to three axes, with leading axes of size 1. pad is
 * the pad before each axis. */
typedef struct axes3 {
  int64_t in[3], out[3], kernel[3], stride[3], pad[3], dilation[3];
} axes3;

static axes3 widen(const test_layer *layer) {
  axes3 axes;
  int offset = 3 - layer->spatial_dims;

  for (int a = 0; a < 3; a++) {
    int s = a - offset;
    int64_t out = s >= 0 ? test_layer_output_size(layer, s) : 1;

    axes.in[a] = s >= 0 ? layer->in[s] : 1;
    axes.kernel[a] = s >= 0 ? layer->kernel[s] : 1;
    axes.stride[a] = s >= 0 ? layer->stride[s] : 1;
    axes.pad[a] = s >= 0 ? layer->pad[s] : 0;
    axes.dilation[a] = s >= 0 ? layer->dilation[s] : 1;
    axes.out[a] = out > 0 ? out : 0;
  }
  return axes;
}

static int64_t product3(const int64_t v[3]) { return v[0] * v[1] * v[2]; }

size_t test_input_count(const test_layer *layer) {
  axes3 axes = widen(layer);

  return (size_t)(layer->batch * layer->channels * product3(axes.in));
}

/* The same count for both kinds: C x K / group x taps. */
size_t test_weight_count(const test_layer *layer) {
  axes3 axes = widen(layer);

  return (size_t)(layer->num_output * (layer->channels / layer->group) *
                  product3(axes.kernel));
}

size_t test_output_count(const test_layer *layer) {
  axes3 axes = widen(layer);

  return (size_t)(layer->batch * layer->num_output * product3(axes.out));
}

/* ---- the links of a layer ------------------------------------------------ */

/*
 * Output position along one axis that input position x reaches through
 * tap t, or -1 if none. A convolution's output o reads input
 * o*stride - pad + t*dilation; a transposed layer's input x writes output
 * x*stride - pad + t*dilation.
 */
static int64_t reached(const axes3 *axes, int a, int transposed, int64_t x,
                       int64_t t) {
  int64_t numerator;

  if (transposed) {
    int64_t o = x * axes->stride[a] - axes->pad[a] + t * axes->dilation[a];

    return o >= 0 && o < axes->out[a] ? o : -1;
  }
  numerator = x + axes->pad[a] - t * axes->dilation[a];
  if (numerator < 0 || numerator % axes->stride[a] != 0)
    return -1;
  if (numerator / axes->stride[a] >= axes->out[a])
    return -1;
  return numerator / axes->stride[a];
}

/* One multiply-add: output[output] += input[input] * weights[weight]. */
typedef struct link {
  size_t input, weight, output;
} link;

typedef void (*link_visitor)(const link *l, void *state);

/* The element indices of one input element, before the taps. */
typedef struct source {
  int64_t n, c;
  int64_t x[3];
  size_t input;
} source;

/* Returns the weight index of input channel c, output channel k and a tap.
 * A convolution stores [K][C / group][taps], a transposed layer
 * [C][K / group][taps]. */
static size_t weight_index(const test_layer *layer, int64_t c, int64_t k,
                           int64_t tap, int64_t taps) {
  int64_t cpg = layer->channels / layer->group;
  int64_t kpg = layer->num_output / layer->group;

  if (layer->transposed)
    return (size_t)((c * kpg + k % kpg) * taps + tap);
  return (size_t)((k * cpg + c % cpg) * taps + tap);
}

/* Visits the links of one input element through one tap. */
static void visit_tap(const test_layer *layer, const axes3 *axes,
                      const source *s, const int64_t t[3],
                      link_visitor visit, void *state) {
  int64_t kpg = layer->num_output / layer->group;
  int64_t g = s->c / (layer->channels / layer->group);
  int64_t o[3], tap, position;

  for (int a = 0; a < 3; a++) {
    o[a] = reached(axes, a, layer->transposed, s->x[a], t[a]);
    if (o[a] < 0)
      return;
  }
  tap = (t[0] * axes->kernel[1] + t[1]) * axes->kernel[2] + t[2];
  position = (o[0] * axes->out[1] + o[1]) * axes->out[2] + o[2];

  for (int64_t k = g * kpg; k < (g + 1) * kpg; k++) {
    link l;

    l.input = s->input;
    l.weight = weight_index(layer, s->c, k, tap, product3(axes->kernel));
    l.output = (size_t)((s->n * layer->num_output + k) * product3(axes->out) +
                        position);
    visit(&l, state);
  }
}

/* Calls visit once for every multiply-add of the layer, in a fixed order. */
static void visit_links(const test_layer *layer, link_visitor visit,
                        void *state) {
  axes3 axes = widen(layer);
  int64_t in_size = product3(axes.in);
  source s;
  int64_t t[3];

  for (s.n = 0; s.n < layer->batch; s.n++)
    for (s.c = 0; s.c < layer->channels; s.c++)
      for (int64_t i = 0; i < in_size; i++) {
        s.x[0] = i / (axes.in[1] * axes.in[2]);
        s.x[1] = (i / axes.in[2]) % axes.in[1];
        s.x[2] = i % axes.in[2];
        s.input = (size_t)((s.n * layer->channels + s.c) * in_size + i);
        for (t[0] = 0; t[0] < axes.kernel[0]; t[0]++)
          for (t[1] = 0; t[1] < axes.kernel[1]; t[1]++)
            for (t[2] = 0; t[2] < axes.kernel[2]; t[2]++)
              visit_tap(layer, &axes, &s, t, visit, state);
      }
}

/* ---- forward and backward from the links --------------------------------- */

typedef struct pass_state {
  const double *input, *weights, *grad_output;
  double *output;       /* forward */
  double *grad_input;   /* adjoint: dy x w scattered back */
  double *grad_weights; /* adjoint: dy x x summed per weight */
} pass_state;

static void forward_link(const link *l, void *state) {
  pass_state *p = state;

  p->output[l->output] += p->input[l->input] * p->weights[l->weight];
}

static void backward_link(const link *l, void *state) {
  pass_state *p = state;
  double dy = p->grad_output[l->output];

  if (p->grad_input != NULL)
    p->grad_input[l->input] += dy * p->weights[l->weight];
  if (p->grad_weights != NULL)
    p->grad_weights[l->weight] += dy * p->input[l->input];
}

static size_t output_plane(const test_layer *layer) {
  return test_output_count(layer) /
         (size_t)(layer->batch * layer->num_output);
}

void test_reference_forward_f64(const test_layer *layer, const double *input,
                                const double *weights, const double *bias,
                                double *output) {
  size_t plane = output_plane(layer);
  size_t total = test_output_count(layer);
  pass_state p = {input, weights, NULL, output, NULL, NULL};

  for (size_t i = 0; i < total; i++) {
    size_t k = (i / plane) % (size_t)layer->num_output;

    output[i] = bias != NULL ? bias[k] : 0.0;
  }
  visit_links(layer, forward_link, &p);
}

static double *widen_floats(const float *data, size_t count) {
  double *wide = malloc((count > 0 ? count : 1) * sizeof *wide);

  if (wide == NULL)
    abort();
  for (size_t i = 0; i < count; i++)
    wide[i] = (double)data[i];
  return wide;
}

void test_reference_forward(const test_layer *layer, const float *input,
                            const float *weights, const float *bias,
                            double *output) {
  double *x = widen_floats(input, test_input_count(layer));
  double *w = widen_floats(weights, test_weight_count(layer));
  double *b = bias != NULL ? widen_floats(bias, (size_t)layer->num_output)
                           : NULL;

  test_reference_forward_f64(layer, x, w, b, output);
  free(x);
  free(w);
  free(b);
}

/* The bias adds to every position of its channel, so its gradient is the
 * sum of the output gradient over images and positions. */
static void bias_gradient(const test_layer *layer, const double *grad_output,
                          double *grad_bias) {
  size_t plane = output_plane(layer);

  for (int64_t k = 0; k < layer->num_output; k++)
    grad_bias[k] = 0.0;
  for (int64_t n = 0; n < layer->batch; n++)
    for (int64_t k = 0; k < layer->num_output; k++) {
      const double *values =
          grad_output + (size_t)(n * layer->num_output + k) * plane;

      for (size_t i = 0; i < plane; i++)
        grad_bias[k] += values[i];
    }
}

void test_reference_backward(const test_layer *layer, const double *input,
                             const double *weights, const double *grad_output,
                             const test_gradients *gradients) {
  pass_state p = {input, weights, grad_output, NULL, gradients->input,
                  gradients->weights};

  if (gradients->input != NULL)
    memset(gradients->input, 0,
           test_input_count(layer) * sizeof *gradients->input);
  if (gradients->weights != NULL)
    memset(gradients->weights, 0,
           test_weight_count(layer) * sizeof *gradients->weights);
  if (gradients->input != NULL || gradients->weights != NULL)
    visit_links(layer, backward_link, &p);
  if (gradients->bias != NULL)
    bias_gradient(layer, grad_output, gradients->bias);
}

/* ---- finite differences -------------------------------------------------- */

double test_reference_loss(const test_layer *layer,
                           const test_operands *operands,
                           const double *grad_output) {
  size_t total = test_output_count(layer);
  double *output = malloc((total > 0 ? total : 1) * sizeof *output);
  double loss = 0.0;

  if (output == NULL)
    abort();
  test_reference_forward_f64(layer, operands->input, operands->weights,
                             operands->bias, output);
  for (size_t i = 0; i < total; i++)
    loss += grad_output[i] * output[i];
  free(output);
  return loss;
}

double test_reference_central_difference(const test_layer *layer,
                                         test_operands *operands,
                                         const double *grad_output,
                                         test_tensor tensor, size_t index,
                                         double step) {
  double *values = tensor == TEST_TENSOR_INPUT     ? operands->input
                   : tensor == TEST_TENSOR_WEIGHTS ? operands->weights
                                                   : operands->bias;
  double saved = values[index];
  double above, below;

  values[index] = saved + step;
  above = test_reference_loss(layer, operands, grad_output);
  values[index] = saved - step;
  below = test_reference_loss(layer, operands, grad_output);
  values[index] = saved;
  return (above - below) / (2.0 * step);
}
