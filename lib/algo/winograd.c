/*
 * The winograd algorithm: Winograd's minimal filtering F(2x2, 3x3) for 3x3
 * filters at stride 1 and dilation 1. kernels/winograd.cl runs it in three
 * launches over all images and groups: the input transform V = B^T d B of
 * every 4x4 patch, one matrix product per group and transform position
 * (M = U V), and the output transform Y = A^T M A with the bias. The filters
 * are transformed once at prepare time, U = G w G^T, on the host. Each 2x2
 * output tile takes 16 multiplications per channel pair instead of 36, but
 * the transforms add memory traffic, so the algorithm pays only when the
 * groups have many channels.
 */
/* For gcl_vector_width and gcl_balanced_block. */
#include "algo/single_kernel.h"

#include "util/alloc.h"
#include "util/cl_calls.h"
#include "util/cl_objects.h"
#include "util/error.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

/* Positions of the 4x4 transform. */
#define POSITIONS 16

/* Fixed cost of one kernel launch, as in the other cost models. */
#define LAUNCH_SECONDS 10e-6

typedef struct winograd_tile {
  int64_t kv;           /* output channels per vector: 4, 8 or 16 */
  int64_t kvb;          /* vectors of output channels per work-item */
  int64_t tb;           /* tiles per work-item of the multiply kernel */
  int64_t tiles;        /* 2x2 output tiles of the whole batch */
  int64_t tiles_padded; /* tiles rounded up to a multiple of tb */
  int64_t kg_padded;    /* outputs_per_group rounded up to kv * kvb */
} winograd_tile;

typedef struct winograd_state {
  gcl_geometry geometry;
  winograd_tile tile;
  cl_kernel input_kernel;
  cl_kernel multiply_kernel;
  cl_kernel output_kernel;
  cl_mem filters;     /* U[group][16][channels_per_group][kg_padded] */
  cl_mem bias;        /* NULL without bias_term */
  cl_mem transformed; /* V[group][16][channels_per_group][tiles_padded] */
  cl_mem products;    /* M[group][16][kg_padded][tiles_padded] */
} winograd_state;

/* Chooses the multiply kernel's register tile: at most 8 tiles of one
 * vector of output channels, split evenly over the batch's tiles. */
static winograd_tile choose_tile(const gcl_geometry *g) {
  winograd_tile tile;
  int64_t block;

  tile.kv = gcl_vector_width(g->outputs_per_group);
  tile.kvb = 1;
  tile.tiles = g->batch * ((g->out[1] + 1) / 2) * ((g->out[2] + 1) / 2);
  tile.tb = gcl_balanced_block(tile.tiles, 8);
  tile.tiles_padded = (tile.tiles + tile.tb - 1) / tile.tb * tile.tb;
  block = tile.kv * tile.kvb;
  tile.kg_padded = (g->outputs_per_group + block - 1) / block * block;
  return tile;
}

/* The three sizes below saturate at INT64_MAX, for winograd_supports. */
static int64_t transformed_elements(const gcl_geometry *g,
                                    const winograd_tile *t) {
  return gcl_mul_saturated(POSITIONS * g->channels, t->tiles_padded);
}

static int64_t product_elements(const gcl_geometry *g,
                                const winograd_tile *t) {
  return gcl_mul_saturated(POSITIONS * g->group,
                           gcl_mul_saturated(t->tiles_padded, t->kg_padded));
}

static int64_t filter_elements(const gcl_geometry *g, const winograd_tile *t) {
  return gcl_mul_saturated(POSITIONS * g->channels, t->kg_padded);
}

/* Returns 1 if the layer is a 2-D 3x3 convolution at stride 1 and
 * dilation 1, else 0 with the reason. */
static int is_plain_3x3(const gcl_geometry *g, char *reason,
                        size_t reason_size) {
  if (g->kernel[0] != 1 || g->in[0] != 1 || g->out[0] != 1) {
    snprintf(reason, reason_size,
             "the layer has a depth axis (input depth %lld, filter depth "
             "%lld, output depth %lld); winograd runs 2-D layers only",
             (long long)g->in[0], (long long)g->kernel[0],
             (long long)g->out[0]);
    return 0;
  }
  if (g->kernel[1] != 3 || g->kernel[2] != 3) {
    snprintf(reason, reason_size,
             "the filter is %lldx%lld; winograd F(2x2, 3x3) needs 3x3 "
             "filters",
             (long long)g->kernel[1], (long long)g->kernel[2]);
    return 0;
  }
  if (g->stride[1] != 1 || g->stride[2] != 1 || g->dilation[1] != 1 ||
      g->dilation[2] != 1) {
    snprintf(reason, reason_size,
             "stride %lldx%lld and dilation %lldx%lld; winograd needs "
             "stride 1 and dilation 1",
             (long long)g->stride[1], (long long)g->stride[2],
             (long long)g->dilation[1], (long long)g->dilation[2]);
    return 0;
  }
  return 1;
}

static int winograd_supports(const gcl_geometry *g,
                             const gcl_device_info *device, char *reason,
                             size_t reason_size) {
  int64_t span = g->in[1] + g->in[2] + g->pad[1] + g->pad[2] +
                 g->pad_after[1] + g->pad_after[2];

  if (!gcl_convolution_only(g, "winograd", reason, reason_size))
    return 0;

  (void)device;
  if (!is_plain_3x3(g, reason, reason_size))
    return 0;

  /* Caffe allows any pad, and the kernels compute padded row and column
     indices as ints, so the padded plane must fit too. Tensor and
     workspace sizes are the plan's concern: it splits the layer until V,
     M and one image fit. */
  if (span > ((int64_t)1 << 30)) {
    snprintf(reason, reason_size,
             "the padded plane spans %lld rows and columns, beyond the "
             "kernels' 32-bit row and column arithmetic",
             (long long)span);
    return 0;
  }
  return 1;
}

/*
 * Estimates the run time as three terms. The matrix products run at an
 * efficiency times the device's arithmetic peak. The transforms move the
 * input, V (written and read), M (written and read) and the output at a
 * share of the device's bandwidth. Three launches add a fixed cost.
 *
 * The constants come from kernel times measured with OpenCL profiling on
 * PoCL 3.1 on a 2-core AVX-512 CPU shared with other jobs:
 *   - the products ran at about 215 GFLOP/s with 192 input channels per
 *     group (AlexNet conv4 and conv5), but at 107 GFLOP/s with 16
 *     (ResNeXt-50 stage 3, 14x14) and 78 GFLOP/s with 32 (stage 4, 7x7);
 *   - the two transforms took 140-180 microseconds on AlexNet conv4 and
 *     ResNeXt-50 stage 3, close to the bandwidth model's traffic time, but
 *     270 on stage 4, where each work-item has only 4 tiles.
 * So the efficiency is scaled by channels_per_group / 64 below 64
 * channels, which keeps the direct algorithm on both ResNeXt layers.
 * For that CPU the peak model gives 160 GFLOP/s, well below what the
 * kernels reach, so the direct algorithm's estimates come out 2.4-2.8
 * times its measured times. Both terms here use the same inflated units
 * (efficiency 0.46 and a transform factor of 2.5). The ratio to direct's
 * estimate then follows the measured ratio: winograd was 1.6-2.2 times
 * faster on AlexNet conv4 and conv5, and 1.4-1.6 times slower on
 * ResNeXt-50 stages 3 and 4.
 * NOTE: fitted to three layers of one CPU; on GPUs the constants are
 * untested.
 */
static double winograd_estimate_seconds(const gcl_geometry *g,
                                        const gcl_device_info *device) {
  winograd_tile tile = choose_tile(g);
  double flops = 2.0 * POSITIONS * (double)g->group *
                 (double)tile.kg_padded * (double)g->channels_per_group *
                 (double)tile.tiles_padded;
  double floats = (double)g->batch * (double)g->channels * (double)g->in_size +
                  2.0 * (double)transformed_elements(g, &tile) +
                  2.0 * (double)product_elements(g, &tile) +
                  (double)g->batch * (double)g->num_output *
                      (double)g->out_size;
  double efficiency = 0.46;

  /* Few input channels per group make the products short, so the loop
     overhead and the transforms dominate. */
  if (g->channels_per_group < 64)
    efficiency *= (double)g->channels_per_group / 64.0;
  return flops / (efficiency * gcl_device_peak_flops(device)) +
         2.5 * 4.0 * floats / gcl_device_memory_bandwidth(device) +
         3.0 * LAUNCH_SECONDS;
}

static void winograd_device_buffers(const gcl_geometry *g,
                                    const gcl_device_info *device,
                                    gcl_buffer_sizes *sizes) {
  winograd_tile tile = choose_tile(g);

  (void)device;
  gcl_buffer_sizes_add(sizes, "transformed filters",
                       filter_elements(g, &tile));
  if (g->bias_term)
    gcl_buffer_sizes_add(sizes, "bias", g->num_output);
  gcl_buffer_sizes_add(sizes, "winograd input-transform workspace",
                       transformed_elements(g, &tile));
  gcl_buffer_sizes_add(sizes, "winograd product workspace",
                       product_elements(g, &tile));
}

/* Writes G x for one filter row or column x to out[i * out_step], i < 4,
 * with G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]. */
static void apply_g(const float *x, size_t x_step, float *out,
                    size_t out_step) {
  float a = x[0], b = x[x_step], c = x[2 * x_step];

  out[0] = a;
  out[out_step] = 0.5f * (a + b + c);
  out[2 * out_step] = 0.5f * (a - b + c);
  out[3 * out_step] = c;
}

/* Writes U = G w G^T of one 3x3 filter w (row-major) to u (4x4,
 * row-major). */
static void transform_filter(const float *w, float *u) {
  float gw[4 * 3]; /* G w, 4 rows of 3 */

  for (int column = 0; column < 3; column++)
    apply_g(w + column, 3, gw + column, 3);
  for (int row = 0; row < 4; row++)
    apply_g(gw + row * 3, 1, u + row * 4, 1);
}

/*
 * Returns the transformed filters in the multiply kernel's layout
 * U[group][16][channels_per_group][kg_padded], zero where k >= KG, or NULL
 * when out of host memory. The caller frees the result.
 */
static float *transform_filters(const gcl_geometry *g,
                                const winograd_tile *t,
                                const float *weights) {
  int64_t kg = g->outputs_per_group;
  int64_t cg = g->channels_per_group;
  float *packed = gcl_calloc((size_t)filter_elements(g, t), sizeof *packed);

  if (packed == NULL)
    return NULL;

  for (int64_t group = 0; group < g->group; group++)
    for (int64_t k = 0; k < kg; k++)
      for (int64_t c = 0; c < cg; c++) {
        const float *w = weights + ((group * kg + k) * cg + c) * 9;
        float u[POSITIONS];

        transform_filter(w, u);
        for (int p = 0; p < POSITIONS; p++)
          packed[((group * POSITIONS + p) * cg + c) * t->kg_padded + k] =
              u[p];
      }
  return packed;
}

static void winograd_release(void *opaque) {
  winograd_state *state = opaque;

  if (state == NULL)
    return;
  gcl_release_kernel(state->input_kernel);
  gcl_release_kernel(state->multiply_kernel);
  gcl_release_kernel(state->output_kernel);
  gcl_release_mem(state->filters);
  gcl_release_mem(state->bias);
  gcl_release_mem(state->transformed);
  gcl_release_mem(state->products);
  gcl_free(state);
}

/* Creates the three kernels of kernels/winograd.cl. The program cache
 * builds the program once and returns it for each kernel. */
static gcl_status build_kernels(winograd_state *state, gcl_context *context,
                                size_t device_index) {
  const winograd_tile *t = &state->tile;
  char geometry_options[1024];
  char options[1536];
  gcl_status status;
  int length;

  gcl_geometry_build_options(&state->geometry, geometry_options,
                             sizeof geometry_options);
  length = snprintf(options, sizeof options,
                    "%s -DHAS_BIAS=%d -DTILES=%lld -DTB=%lld "
                    "-DTILES_PADDED=%lld -DKV=%lld -DKVB=%lld "
                    "-DKG_PADDED=%lld",
                    geometry_options, state->geometry.bias_term,
                    (long long)t->tiles, (long long)t->tb,
                    (long long)t->tiles_padded, (long long)t->kv,
                    (long long)t->kvb, (long long)t->kg_padded);
  if (length < 0 || (size_t)length >= sizeof options)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "the build options of kernels/winograd.cl need %d "
                    "characters, more than the %zu reserved",
                    length, sizeof options - 1);

  status = gcl_create_kernel(context, device_index, "kernels/winograd.cl",
                             options, "gcl_winograd_input",
                             &state->input_kernel);
  if (status == GCL_SUCCESS)
    status = gcl_create_kernel(context, device_index, "kernels/winograd.cl",
                               options, "gcl_winograd_multiply",
                               &state->multiply_kernel);
  if (status == GCL_SUCCESS)
    status = gcl_create_kernel(context, device_index, "kernels/winograd.cl",
                               options, "gcl_winograd_output",
                               &state->output_kernel);
  return status;
}

/* Transforms and uploads the filters, uploads the bias and allocates the
 * V and M workspaces. */
static gcl_status create_buffers(winograd_state *state, gcl_context *context,
                                 size_t device_index, const float *weights,
                                 const float *bias) {
  const gcl_geometry *g = &state->geometry;
  const winograd_tile *t = &state->tile;
  float *packed = transform_filters(g, t, weights);
  gcl_status status;

  if (packed == NULL)
    return gcl_fail(GCL_ERROR_OUT_OF_MEMORY,
                    "out of host memory for the transformed filters (%lld "
                    "floats)",
                    (long long)filter_elements(g, t));
  status = gcl_create_buffer(context, device_index,
                             (size_t)filter_elements(g, t) * sizeof(float),
                             packed, "transformed filters", &state->filters);
  gcl_free(packed);

  if (status == GCL_SUCCESS && g->bias_term)
    status = gcl_create_buffer(context, device_index,
                               (size_t)g->num_output * sizeof(float), bias,
                               "bias", &state->bias);
  if (status == GCL_SUCCESS)
    status = gcl_create_buffer(
        context, device_index,
        (size_t)transformed_elements(g, t) * sizeof(float), NULL,
        "winograd input-transform workspace", &state->transformed);
  if (status == GCL_SUCCESS)
    status = gcl_create_buffer(context, device_index,
                               (size_t)product_elements(g, t) * sizeof(float),
                               NULL, "winograd product workspace",
                               &state->products);
  return status;
}

static gcl_status winograd_prepare(const gcl_geometry *g,
                                   gcl_context *context, size_t device_index,
                                   const float *weights, const float *bias,
                                   void **opaque) {
  winograd_state *state = gcl_calloc(1, sizeof *state);
  gcl_status status;

  *opaque = NULL;
  if (state == NULL)
    return gcl_fail(GCL_ERROR_OUT_OF_MEMORY,
                    "out of host memory for the winograd state");
  state->geometry = *g;
  state->tile = choose_tile(g);

  status = build_kernels(state, context, device_index);
  if (status == GCL_SUCCESS)
    status = create_buffers(state, context, device_index, weights, bias);
  if (status != GCL_SUCCESS) {
    winograd_release(state);
    return status;
  }
  *opaque = state;
  return GCL_SUCCESS;
}

/* Enqueues one kernel whose arguments are set, labelled for the
 * timeline. */
static gcl_status run_kernel(cl_kernel kernel, const gcl_launch *launch,
                             const size_t global[3], const char *label) {
  cl_event *event = gcl_trace_event(launch->trace, label);
  cl_int code = gcl_clEnqueueNDRangeKernel(launch->queue, kernel, 3, NULL,
                                           global, NULL, 0, NULL, event);

  if (code == CL_SUCCESS)
    gcl_cl_event_created(event);
  if (code != CL_SUCCESS)
    return gcl_fail_cl(code, "enqueueing the %s kernel", label);
  return GCL_SUCCESS;
}

static gcl_status run_input_transform(winograd_state *state,
                                      const gcl_launch *launch,
                                      const gcl_tensor_view *input) {
  const gcl_geometry *g = &state->geometry;
  cl_kernel kernel = state->input_kernel;
  cl_long offset = (cl_long)input->offset;
  cl_long stride = (cl_long)input->image_stride;
  size_t global[3] = {(size_t)(g->batch * ((g->out[1] + 1) / 2)),
                      (size_t)g->channels, 1};
  cl_int code;

  code = clSetKernelArg(kernel, 0, sizeof input->buffer, &input->buffer);
  if (code == CL_SUCCESS)
    code = clSetKernelArg(kernel, 1, sizeof offset, &offset);
  if (code == CL_SUCCESS)
    code = clSetKernelArg(kernel, 2, sizeof stride, &stride);
  if (code == CL_SUCCESS)
    code = clSetKernelArg(kernel, 3, sizeof state->transformed,
                          &state->transformed);
  if (code != CL_SUCCESS)
    return gcl_fail_cl(code, "setting the arguments of the "
                             "winograd_input kernel");
  return run_kernel(kernel, launch, global, "winograd_input");
}

static gcl_status run_multiply(winograd_state *state,
                               const gcl_launch *launch) {
  const gcl_geometry *g = &state->geometry;
  const winograd_tile *t = &state->tile;
  cl_kernel kernel = state->multiply_kernel;
  size_t global[3] = {(size_t)(t->tiles_padded / t->tb),
                      (size_t)(t->kg_padded / (t->kv * t->kvb)),
                      (size_t)(g->group * POSITIONS)};
  cl_int code;

  code = clSetKernelArg(kernel, 0, sizeof state->filters, &state->filters);
  if (code == CL_SUCCESS)
    code = clSetKernelArg(kernel, 1, sizeof state->transformed,
                          &state->transformed);
  if (code == CL_SUCCESS)
    code = clSetKernelArg(kernel, 2, sizeof state->products,
                          &state->products);
  if (code != CL_SUCCESS)
    return gcl_fail_cl(code, "setting the arguments of the "
                             "winograd_multiply kernel");
  return run_kernel(kernel, launch, global, "winograd_multiply");
}

static gcl_status run_output_transform(winograd_state *state,
                                       const gcl_launch *launch,
                                       const gcl_tensor_view *output) {
  const gcl_geometry *g = &state->geometry;
  cl_kernel kernel = state->output_kernel;
  cl_long offset = (cl_long)output->offset;
  cl_long stride = (cl_long)output->image_stride;
  size_t global[3] = {(size_t)g->num_output,
                      (size_t)(g->batch * ((g->out[1] + 1) / 2)), 1};
  cl_int code;

  code = clSetKernelArg(kernel, 0, sizeof state->products, &state->products);
  /* Without bias_term, state->bias is NULL, which OpenCL passes as a NULL
     pointer. The kernel is then built with HAS_BIAS=0 and never reads it. */
  if (code == CL_SUCCESS)
    code = clSetKernelArg(kernel, 1, sizeof state->bias, &state->bias);
  if (code == CL_SUCCESS)
    code = clSetKernelArg(kernel, 2, sizeof output->buffer, &output->buffer);
  if (code == CL_SUCCESS)
    code = clSetKernelArg(kernel, 3, sizeof offset, &offset);
  if (code == CL_SUCCESS)
    code = clSetKernelArg(kernel, 4, sizeof stride, &stride);
  if (code != CL_SUCCESS)
    return gcl_fail_cl(code, "setting the arguments of the "
                             "winograd_output kernel");
  return run_kernel(kernel, launch, global, "winograd_output");
}

/* The queue is in order, so each launch reads the workspace its
 * predecessor wrote, and a following call's input transform waits for
 * this call's output transform. */
static gcl_status winograd_enqueue(void *opaque, const gcl_launch *launch,
                                   const gcl_tensor_view *input,
                                   const gcl_tensor_view *output) {
  winograd_state *state = opaque;
  const gcl_geometry *g = &state->geometry;
  gcl_status status;

  status = gcl_check_view(input, g->batch, g->channels * g->in_size, "input",
                          NULL);
  if (status == GCL_SUCCESS)
    status = gcl_check_view(output, g->batch, g->num_output * g->out_size,
                            "output", NULL);
  if (status == GCL_SUCCESS)
    status = run_input_transform(state, launch, input);
  if (status == GCL_SUCCESS)
    status = run_multiply(state, launch);
  if (status == GCL_SUCCESS)
    status = run_output_transform(state, launch, output);
  return status;
}

const gcl_algo gcl_algo_winograd = {
    .id = GCL_ALGORITHM_WINOGRAD,
    .name = "winograd",
    .supports = winograd_supports,
    .estimate_seconds = winograd_estimate_seconds,
    .device_buffers = winograd_device_buffers,
    .prepare = winograd_prepare,
    .enqueue = winograd_enqueue,
    .release = winograd_release,
};
