/*
 * The backward pass. The input gradient is the forward pass of the adjoint
 * layer (a convolution's transposed layer, or a transposed layer's
 * convolution, with the same weights), so it runs as a second plan with the
 * same placement. The weight and bias gradients run per slot of the plan's
 * own placement. A slot's groups need only their own channel slices, so no
 * slot waits for another. The host adds the slots' results in slot order,
 * so every sum runs in a fixed order.
 */
#include "conv/backward.h"

#include "algo/algo_common.h"
#include "algo/single_kernel.h"
#include "util/alloc.h"
#include "util/cl_objects.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t slot_images(const gcl_slot *slot) {
  return slot->info.batch_end - slot->info.batch_begin;
}

/* ---- the adjoint plan, for the input gradient --------------------------- */

/*
 * The adjoint layer swaps the sides. Going from a convolution to its
 * transposed layer, output_padding restores the input rows that the
 * convolution's stride left unused. Going back, the plan is cut to the
 * transposed layer's input size (gcl_plan_create_sized).
 */
static void adjoint_desc(const gcl_plan *plan, gcl_conv_desc *adjoint) {
  const gcl_geometry *g = &plan->geometry;
  int offset = GCL_MAX_SPATIAL_DIMS - g->spatial_dims;

  *adjoint = plan->conv->desc;
  adjoint->channels = plan->conv->desc.num_output;
  adjoint->num_output = plan->conv->desc.channels;
  adjoint->transposed = !plan->conv->desc.transposed;
  adjoint->bias_term = 0;
  for (int axis = 0; axis < g->spatial_dims; axis++) {
    int a = offset + axis;
    int64_t window = g->dilation[a] * (g->kernel[a] - 1) + 1;

    adjoint->output_padding[axis] =
        g->transposed ? 0
                      : (g->in[a] + g->pad[a] + g->pad_after[a] - window) %
                            g->stride[a];
  }
}

static gcl_status prepare_adjoint(gcl_plan *plan, gcl_backward *backward,
                                  const gcl_plan_options *options) {
  gcl_plan_options adjoint_options = *options;
  gcl_conv_desc desc;
  gcl_status status;

  adjoint_desc(plan, &desc);
  adjoint_options.algorithm = GCL_ALGORITHM_AUTO;
  adjoint_options.backward = 0;
  /* No caller can read the adjoint plan's timeline. */
  adjoint_options.profile = 0;
  adjoint_options.schedule = plan->schedule;
  if (plan->schedule == GCL_SCHEDULE_QUEUES)
    adjoint_options.queues = (int)plan->slot_count;

  status = gcl_conv_create(plan->context, &desc, plan->conv->weights, NULL,
                           &backward->adjoint_conv);
  if (status == GCL_SUCCESS)
    status = gcl_plan_create_sized(backward->adjoint_conv, plan->rank,
                                   plan->output_shape, plan->input_shape,
                                   &adjoint_options, &backward->adjoint_plan);
  if (status != GCL_SUCCESS) {
    /* gcl_fail writes the buffer gcl_last_error() returns, so the message
     * is copied out first; the OpenCL code behind it is kept. */
    cl_int code = gcl_last_cl_error();
    char message[4096];

    snprintf(message, sizeof message, "%s", gcl_last_error());
    status = gcl_fail(status, "preparing the input gradient: %s", message);
    gcl_set_cl_error(code);
  }
  return status;
}

/* ---- per-slot kernels and buffers --------------------------------------- */

/*
 * Channels per work-item: the weight kernel keeps KB x KERNEL_W vector
 * sums. On PoCL 3.1 with a 2-core AVX-512 CPU, limits of 5, 10, 20 and 28
 * sums ran AlexNet conv2's weight gradient at 13, 21, 21 and 26 GFLOP per
 * CPU-second. ResNeXt-50's 3x3 group-32 layer at 10, 19, 29 and 30,
 * so the limit is 28.
 * NOTE: measured on that CPU only; GPUs likely want fewer.
 */
static int64_t weight_block(const gcl_geometry *r) {
  int64_t limit = 28 / r->kernel[2];

  if (limit < 1)
    limit = 1;
  if (limit > 8)
    limit = 8;
  return gcl_balanced_block(r->outputs_per_group, limit);
}

gcl_status gcl_grad_kernels_build(gcl_plan *plan, const gcl_geometry *r,
                                  size_t device, cl_kernel *weight_kernel,
                                  cl_kernel *bias_kernel,
                                  size_t weight_global[3],
                                  size_t weight_local[3]) {
  int64_t kb = weight_block(r);
  int64_t kblocks = (r->outputs_per_group + kb - 1) / kb;
  char geometry[1024], options[1280];
  gcl_status status;

  gcl_geometry_build_options(r, geometry, sizeof geometry);
  snprintf(options, sizeof options, "%s -DVW=%lld -DKB=%lld -DKBLOCKS=%lld",
           geometry, (long long)gcl_vector_width(r->out[2]), (long long)kb,
           (long long)kblocks);
  weight_global[0] = (size_t)(r->kernel[0] * r->kernel[1]);
  weight_global[1] = (size_t)r->channels_per_group;
  weight_global[2] = (size_t)(r->group * kblocks);
  /* One work-item per work-group ran the kernel 1.5 times faster than 4,
     16 or 64 on PoCL, whose loop over a group's items costs more here
     than its scheduling of many groups. */
  gcl_small_local_size(weight_global, 1, weight_local);

  status = gcl_create_kernel(plan->context, device, "kernels/weight_grad.cl",
                             options, "gcl_weight_grad", weight_kernel);
  if (status == GCL_SUCCESS && plan->geometry.bias_term)
    status = gcl_create_kernel(plan->context, device,
                               "kernels/weight_grad.cl", options,
                               "gcl_bias_grad", bias_kernel);
  return status;
}

static gcl_status build_kernels(gcl_plan *plan, grad_slot *gs,
                                size_t device) {
  return gcl_grad_kernels_build(plan, &gs->relation, device,
                                &gs->weight_kernel, &gs->bias_kernel,
                                gs->weight_global, gs->weight_local);
}

static size_t shard_weights(const gcl_geometry *r) {
  return (size_t)(r->num_output * r->channels_per_group * r->kernel_size);
}

static gcl_status host_array(float **array, size_t count, const char *what) {
  *array = gcl_malloc((count > 0 ? count : 1) * sizeof **array);
  if (*array == NULL)
    return gcl_fail(GCL_ERROR_OUT_OF_MEMORY,
                    "out of host memory for the %s (%zu floats)", what,
                    count);
  return GCL_SUCCESS;
}

static gcl_status remote_slices(gcl_plan *plan, const gcl_slot *slot,
                                grad_slot *gs) {
  size_t device = slot->info.device_index;
  const gcl_geometry *g = &plan->geometry;
  size_t images = (size_t)slot_images(slot);
  size_t inputs = images * (size_t)((slot->info.input_channel_end -
                                     slot->info.input_channel_begin) *
                                    g->in_size);
  size_t outputs = images * (size_t)((slot->info.output_channel_end -
                                      slot->info.output_channel_begin) *
                                     g->out_size);
  gcl_status status;

  status = host_array(&gs->host_input, inputs, "input slice");
  if (status == GCL_SUCCESS)
    status = host_array(&gs->host_grad_output, outputs,
                        "output gradient slice");
  if (status == GCL_SUCCESS)
    status = gcl_create_buffer(plan->context, device, inputs * sizeof(float),
                               NULL, "input slice", &gs->input);
  if (status == GCL_SUCCESS)
    status = gcl_create_buffer(plan->context, device, outputs * sizeof(float),
                               NULL, "output gradient slice",
                               &gs->grad_output);
  return status;
}

static gcl_status prepare_slot(gcl_plan *plan, const gcl_slot *slot,
                               grad_slot *gs) {
  size_t device = slot->info.device_index;
  gcl_geometry sub;
  size_t biases = (size_t)(slot->info.output_channel_end -
                           slot->info.output_channel_begin);
  gcl_status status;

  gcl_slot_geometry(&plan->geometry, &slot->info, &sub);
  gcl_geometry_relation(&sub, &gs->relation);

  status = build_kernels(plan, gs, device);
  if (status == GCL_SUCCESS)
    status = host_array(&gs->host_weights, shard_weights(&gs->relation),
                        "weight gradient");
  if (status == GCL_SUCCESS)
    status = gcl_create_buffer(plan->context, device,
                               shard_weights(&gs->relation) * sizeof(float),
                               NULL, "weight gradient", &gs->grad_weights);
  if (status == GCL_SUCCESS && plan->geometry.bias_term)
    status = host_array(&gs->host_bias, biases, "bias gradient");
  if (status == GCL_SUCCESS && plan->geometry.bias_term)
    status = gcl_create_buffer(plan->context, device, biases * sizeof(float),
                               NULL, "bias gradient", &gs->grad_bias);
  if (status == GCL_SUCCESS && device != 0)
    status = remote_slices(plan, slot, gs);
  return status;
}

static gcl_status prepare_slots(gcl_plan *plan, gcl_backward *backward) {
  const gcl_conv *conv = plan->conv;
  size_t bias_count = conv->desc.bias_term ? (size_t)conv->desc.num_output
                                           : 0;
  gcl_status status;

  backward->slots = gcl_calloc(plan->slot_count, sizeof *backward->slots);
  if (backward->slots == NULL)
    return gcl_fail(GCL_ERROR_OUT_OF_MEMORY, "out of host memory");
  backward->slot_count = plan->slot_count;

  status = host_array(&backward->weight_sum, conv->weight_count,
                      "weight gradient");
  if (status == GCL_SUCCESS && bias_count > 0)
    status = host_array(&backward->bias_sum, bias_count, "bias gradient");
  if (status == GCL_SUCCESS && gcl_backward_needs_split(plan))
    return gcl_backward_split_prepare(plan, backward);
  if (status == GCL_SUCCESS)
    status = gcl_create_buffer(plan->context, 0, plan->input_bytes, NULL,
                               "input", &backward->input);
  if (status == GCL_SUCCESS)
    status = gcl_create_buffer(plan->context, 0, plan->output_bytes, NULL,
                               "output gradient", &backward->grad_output);
  for (size_t i = 0; i < plan->slot_count && status == GCL_SUCCESS; i++)
    status = prepare_slot(plan, &plan->slots[i], &backward->slots[i]);
  return status;
}

gcl_status gcl_backward_prepare(gcl_plan *plan,
                                const gcl_plan_options *options) {
  gcl_backward *backward;
  gcl_status status;

  if (plan->backward != NULL)
    return GCL_SUCCESS;
  backward = gcl_calloc(1, sizeof *backward);
  if (backward == NULL)
    return gcl_fail(GCL_ERROR_OUT_OF_MEMORY, "out of host memory");

  status = prepare_adjoint(plan, backward, options);
  if (status == GCL_SUCCESS)
    status = prepare_slots(plan, backward);
  if (status != GCL_SUCCESS) {
    gcl_backward_release(backward);
    return status;
  }
  plan->backward = backward;
  return GCL_SUCCESS;
}

static void release_slot(grad_slot *gs) {
  gcl_release_kernel(gs->weight_kernel);
  gcl_release_kernel(gs->bias_kernel);
  gcl_release_mem(gs->input);
  gcl_release_mem(gs->grad_output);
  gcl_release_mem(gs->grad_weights);
  gcl_release_mem(gs->grad_bias);
  gcl_free(gs->host_input);
  gcl_free(gs->host_grad_output);
  gcl_free(gs->host_weights);
  gcl_free(gs->host_bias);
}

void gcl_backward_release(gcl_backward *backward) {
  if (backward == NULL)
    return;
  for (size_t i = 0; i < backward->slot_count; i++)
    release_slot(&backward->slots[i]);
  gcl_free(backward->slots);
  gcl_backward_split_release(backward->split);
  gcl_release_mem(backward->input);
  gcl_release_mem(backward->grad_output);
  gcl_free(backward->weight_sum);
  gcl_free(backward->bias_sum);
  gcl_plan_destroy(backward->adjoint_plan);
  gcl_conv_destroy(backward->adjoint_conv);
  gcl_free(backward);
}
