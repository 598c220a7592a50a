/*
 * Host reference for the forward pass: one output element at a time, every
 * tap summed in double precision. Deliberately naive, so that it is easy to
 * check by reading.
 */
#include "conv/conv.h"

#include "util/error.h"

static double output_element(const gcl_geometry *g, const float *input,
                             const float *weights, int64_t n, int64_t k,
                             const int64_t position[3]) {
  int64_t group = k / g->outputs_per_group;
  int64_t first_channel = group * g->channels_per_group;
  double sum = 0.0;

  for (int64_t c = 0; c < g->channels_per_group; c++) {
    const float *plane =
        input + (n * g->channels + first_channel + c) * g->in_size;
    const float *filter =
        weights + (k * g->channels_per_group + c) * g->kernel_size;

    for (int64_t kd = 0; kd < g->kernel[0]; kd++) {
      int64_t z = position[0] * g->stride[0] - g->pad[0] + kd * g->dilation[0];

      for (int64_t kh = 0; kh < g->kernel[1]; kh++) {
        int64_t y =
            position[1] * g->stride[1] - g->pad[1] + kh * g->dilation[1];

        for (int64_t kw = 0; kw < g->kernel[2]; kw++) {
          int64_t x =
              position[2] * g->stride[2] - g->pad[2] + kw * g->dilation[2];
          int64_t tap = (kd * g->kernel[1] + kh) * g->kernel[2] + kw;

          if (z < 0 || z >= g->in[0] || y < 0 || y >= g->in[1] || x < 0 ||
              x >= g->in[2])
            continue; /* zero padding */
          sum += (double)plane[(z * g->in[1] + y) * g->in[2] + x] *
                 (double)filter[tap];
        }
      }
    }
  }
  return sum;
}

gcl_status gcl_conv_reference_forward(const gcl_conv_desc *desc, int rank,
                                      const int64_t *input_shape,
                                      const float *input,
                                      const float *weights, const float *bias,
                                      float *output) {
  gcl_geometry g;
  gcl_status status;

  gcl_clear_error();
  if (input == NULL || weights == NULL || output == NULL)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "gcl_conv_reference_forward: input, weights and output "
                    "must not be NULL");
  status = gcl_geometry_init(desc, rank, input_shape, &g);
  if (status != GCL_SUCCESS)
    return status;
  if (g.bias_term && bias == NULL)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "gcl_conv_reference_forward: the layer has bias_term 1 "
                    "but bias is NULL");

  for (int64_t n = 0; n < g.batch; n++) {
    for (int64_t k = 0; k < g.num_output; k++) {
      float *plane = output + (n * g.num_output + k) * g.out_size;
      int64_t p[3];

      for (p[0] = 0; p[0] < g.out[0]; p[0]++) {
        for (p[1] = 0; p[1] < g.out[1]; p[1]++) {
          for (p[2] = 0; p[2] < g.out[2]; p[2]++) {
            double sum = output_element(&g, input, weights, n, k, p);

            if (g.bias_term)
              sum += bias[k];
            plane[(p[0] * g.out[1] + p[1]) * g.out[2] + p[2]] = (float)sum;
          }
        }
      }
    }
  }
  return GCL_SUCCESS;
}
