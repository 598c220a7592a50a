/*
 * Running the weight and bias gradients in parts and steps: for each slot,
 * part and step in order, pack and copy the step's slices, run the
 * kernels, read their results back and add them to the totals. Steps split
 * the slot's images exactly (the last one may be shorter), because the
 * kernels take the batch size as an argument and an image counted twice
 * would count twice in the sums.
 */
#include "conv/backward_split.h"

#include "algo/algo_common.h"
#include "util/cl_calls.h"
#include "util/error.h"

#include <string.h>

/* The images [first, first + images) of one part. */
typedef struct grad_step {
  const gcl_slot *slot;
  split_slot *state;
  const split_part *part;
  int64_t first;
  int64_t images;
} grad_step;

/* Copies the step's images of channels [first_channel, last_channel) of a
 * full host tensor with `channels` channels of `plane` floats into part. */
static void pack_step(const float *full, const grad_step *step,
                      int64_t channels, int64_t first_channel,
                      int64_t last_channel, int64_t plane, float *part) {
  size_t row = (size_t)((last_channel - first_channel) * plane);

  for (int64_t n = step->first; n < step->first + step->images; n++) {
    memcpy(part, full + (size_t)((n * channels + first_channel) * plane),
           row * sizeof *part);
    part += row;
  }
}

/* Packs and copies the step's input (when the weight gradient needs it)
 * and output gradient, and writes the views of the copies. */
static gcl_status upload_step(const gcl_plan *plan, const grad_step *step,
                              const gcl_backward_args *args,
                              gcl_tensor_view *input,
                              gcl_tensor_view *grad_output) {
  const gcl_geometry *g = &plan->geometry;
  int64_t first = step->part->group_begin, last = step->part->group_end;
  size_t in_image = (size_t)((last - first) * g->channels_per_group *
                             g->in_size);
  size_t out_image = (size_t)((last - first) * g->outputs_per_group *
                              g->out_size);
  size_t images = (size_t)step->images;
  cl_command_queue queue = step->slot->queue;
  cl_int code = CL_SUCCESS;

  *input = (gcl_tensor_view){step->state->input, 0, in_image};
  *grad_output = (gcl_tensor_view){step->state->grad_output, 0, out_image};
  if (args->grad_weights != NULL) {
    pack_step(args->input, step, g->channels, first * g->channels_per_group,
              last * g->channels_per_group, g->in_size,
              step->state->host_input);
    code = gcl_clEnqueueWriteBuffer(queue, step->state->input, CL_TRUE, 0,
                                    images * in_image * sizeof(float),
                                    step->state->host_input, 0, NULL, NULL);
  }
  pack_step(args->grad_output, step, g->num_output,
            first * g->outputs_per_group, last * g->outputs_per_group,
            g->out_size, step->state->host_grad_output);
  if (code == CL_SUCCESS)
    code = gcl_clEnqueueWriteBuffer(queue, step->state->grad_output, CL_TRUE,
                                    0, images * out_image * sizeof(float),
                                    step->state->host_grad_output, 0, NULL,
                                    NULL);
  if (code != CL_SUCCESS)
    return gcl_fail_cl(code, "copying the slices of images %lld to %lld to "
                             "device %zu",
                       (long long)step->first,
                       (long long)(step->first + step->images - 1),
                       step->slot->info.device_index);
  return GCL_SUCCESS;
}

/* Runs the weight gradient of one step and reads it into host_weights. */
static gcl_status run_weights(const grad_step *step,
                              const gcl_tensor_view *large,
                              const gcl_tensor_view *small) {
  const split_part *part = step->part;
  const gcl_geometry *r = &part->relation;
  cl_kernel kernel = part->weight_kernel;
  size_t bytes = (size_t)(r->num_output * r->channels_per_group *
                          r->kernel_size) * sizeof(float);
  cl_long large_elements = 0, small_elements = 0;
  cl_int batch = 0, code;
  gcl_status status;

  status = gcl_check_view(large, step->images, r->channels * r->in_size,
                          "weight gradient operand", &large_elements);
  if (status == GCL_SUCCESS)
    status = gcl_check_view(small, step->images, r->num_output * r->out_size,
                            "weight gradient operand", &small_elements);
  if (status == GCL_SUCCESS)
    status = gcl_int_argument(step->images, "batch of the weight gradient",
                              &batch);
  if (status != GCL_SUCCESS)
    return status;
  code = gcl_grad_set_view_args(kernel, 0, large);
  if (code == CL_SUCCESS)
    code = clSetKernelArg(kernel, 3, sizeof large_elements, &large_elements);
  if (code == CL_SUCCESS)
    code = gcl_grad_set_view_args(kernel, 4, small);
  if (code == CL_SUCCESS)
    code = clSetKernelArg(kernel, 7, sizeof small_elements, &small_elements);
  if (code == CL_SUCCESS)
    code = clSetKernelArg(kernel, 8, sizeof batch, &batch);
  if (code == CL_SUCCESS)
    code = clSetKernelArg(kernel, 9, sizeof part->grad_weights,
                          &part->grad_weights);
  if (code == CL_SUCCESS)
    code = gcl_clEnqueueNDRangeKernel(step->slot->queue, kernel, 3, NULL,
                                      part->weight_global, part->weight_local,
                                      0, NULL, NULL);
  if (code == CL_SUCCESS)
    code = gcl_clEnqueueReadBuffer(step->slot->queue, part->grad_weights,
                                   CL_TRUE, 0, bytes,
                                   step->state->host_weights, 0, NULL, NULL);
  if (code != CL_SUCCESS)
    return gcl_fail_cl(code, "running the weight gradient on device %zu",
                       step->slot->info.device_index);
  return GCL_SUCCESS;
}

/* Runs the bias gradient of one step and reads it into host_bias. */
static gcl_status run_bias(const gcl_plan *plan, const grad_step *step,
                           const gcl_tensor_view *grad_output) {
  const split_part *part = step->part;
  size_t channels = (size_t)((part->group_end - part->group_begin) *
                             plan->geometry.outputs_per_group);
  cl_kernel kernel = part->bias_kernel;
  cl_int batch = 0, plane = 0, code;
  gcl_status status;

  status = gcl_int_argument(step->images, "batch of the bias gradient",
                            &batch);
  if (status == GCL_SUCCESS)
    status = gcl_int_argument(plan->geometry.out_size,
                              "output plane of the bias gradient", &plane);
  if (status != GCL_SUCCESS)
    return status;
  code = gcl_grad_set_view_args(kernel, 0, grad_output);
  if (code == CL_SUCCESS)
    code = clSetKernelArg(kernel, 3, sizeof batch, &batch);
  if (code == CL_SUCCESS)
    code = clSetKernelArg(kernel, 4, sizeof plane, &plane);
  if (code == CL_SUCCESS)
    code = clSetKernelArg(kernel, 5, sizeof part->grad_bias, &part->grad_bias);
  if (code == CL_SUCCESS)
    code = gcl_clEnqueueNDRangeKernel(step->slot->queue, kernel, 1, NULL,
                                      &channels, NULL, 0, NULL, NULL);
  if (code == CL_SUCCESS)
    code = gcl_clEnqueueReadBuffer(step->slot->queue, part->grad_bias, CL_TRUE,
                                   0, channels * sizeof(float),
                                   step->state->host_bias, 0, NULL, NULL);
  if (code != CL_SUCCESS)
    return gcl_fail_cl(code, "running the bias gradient on device %zu",
                       step->slot->info.device_index);
  return GCL_SUCCESS;
}

/* Adds one step's weight gradient to the totals. The relation's weights
 * are laid out like the layer's, one block per group. */
static void add_weights(gcl_backward *backward, const grad_step *step) {
  const gcl_geometry *r = &step->part->relation;
  size_t count = (size_t)(r->num_output * r->channels_per_group *
                          r->kernel_size);
  size_t first = (size_t)step->part->group_begin * (count / (size_t)r->group);

  for (size_t j = 0; j < count; j++)
    backward->weight_sum[first + j] += step->state->host_weights[j];
}

static void add_bias(const gcl_plan *plan, const grad_step *step) {
  int64_t per_group = plan->geometry.outputs_per_group;
  size_t first = (size_t)(step->part->group_begin * per_group);
  size_t count = (size_t)((step->part->group_end - step->part->group_begin) *
                          per_group);

  for (size_t j = 0; j < count; j++)
    plan->backward->bias_sum[first + j] += step->state->host_bias[j];
}

static gcl_status run_step(gcl_plan *plan, const grad_step *step,
                           const gcl_backward_args *args) {
  gcl_tensor_view input, grad_output;
  int transposed = plan->geometry.transposed;
  gcl_status status = upload_step(plan, step, args, &input, &grad_output);

  /* The relation's large side is the input of a convolution and the
     output of a transposed layer. */
  if (status == GCL_SUCCESS && args->grad_weights != NULL)
    status = run_weights(step, transposed ? &grad_output : &input,
                         transposed ? &input : &grad_output);
  if (status == GCL_SUCCESS && args->grad_weights != NULL)
    add_weights(plan->backward, step);
  if (status == GCL_SUCCESS && args->grad_bias != NULL)
    status = run_bias(plan, step, &grad_output);
  if (status == GCL_SUCCESS && args->grad_bias != NULL)
    add_bias(plan, step);
  return status;
}

static gcl_status run_slot(gcl_plan *plan, size_t index,
                           const gcl_backward_args *args) {
  struct gcl_backward_split *split = plan->backward->split;
  const gcl_slot *slot = &plan->slots[index];
  grad_step step = {slot, &split->slots[index], NULL, 0, 0};
  gcl_status status = GCL_SUCCESS;

  for (size_t j = 0; j < step.state->part_count && status == GCL_SUCCESS;
       j++) {
    step.part = &step.state->parts[j];
    for (step.first = slot->info.batch_begin;
         step.first < slot->info.batch_end && status == GCL_SUCCESS;
         step.first += split->images_per_step) {
      step.images = slot->info.batch_end - step.first;
      if (step.images > split->images_per_step)
        step.images = split->images_per_step;
      status = run_step(plan, &step, args);
    }
  }
  return status;
}

gcl_status gcl_backward_split_run(gcl_plan *plan,
                                  const gcl_backward_args *args) {
  gcl_backward *backward = plan->backward;
  gcl_status status = GCL_SUCCESS;

  if (args->grad_weights != NULL)
    memset(backward->weight_sum, 0,
           plan->conv->weight_count * sizeof *backward->weight_sum);
  if (args->grad_bias != NULL)
    memset(backward->bias_sum, 0,
           (size_t)plan->conv->desc.num_output * sizeof *backward->bias_sum);
  for (size_t i = 0; i < plan->slot_count && status == GCL_SUCCESS; i++)
    status = run_slot(plan, i, args);
  return status;
}
