/*
 * Running the backward pass: the weight and bias gradients slot by slot,
 * then the input gradient through the adjoint plan, and only then the
 * caller's arrays, so that a failure leaves them untouched.
 */
#include "conv/backward.h"

#include "algo/algo_common.h"
#include "util/cl_calls.h"
#include "util/error.h"

#include <string.h>

/* The slot's part of a full tensor of `channels` channels of `plane`
 * floats, as a view into buffer. */
static gcl_tensor_view part_view(cl_mem buffer, const gcl_slot *slot,
                                 int64_t channels, int64_t first_channel,
                                 int64_t plane) {
  gcl_tensor_view view;

  view.buffer = buffer;
  view.image_stride = (size_t)(channels * plane);
  view.offset = (size_t)(slot->info.batch_begin * channels * plane +
                         first_channel * plane);
  return view;
}

/* Copies the slot's images and channels of a full host tensor into a
 * compact array. */
static void pack(const float *full, const gcl_slot *slot, int64_t channels,
                 int64_t first, int64_t last, int64_t plane, float *part) {
  size_t row = (size_t)((last - first) * plane);

  for (int64_t n = slot->info.batch_begin; n < slot->info.batch_end; n++) {
    memcpy(part, full + (n * channels + first) * plane, row * sizeof *part);
    part += row;
  }
}

typedef struct slot_views {
  gcl_tensor_view input, grad_output;
} slot_views;

/* Makes the slot's input and output gradient available on its device. */
static gcl_status slot_operands(gcl_plan *plan, const gcl_slot *slot,
                                grad_slot *gs, const gcl_backward_args *args,
                                slot_views *views) {
  const gcl_geometry *g = &plan->geometry;
  const gcl_slot_info *info = &slot->info;
  int64_t in_channels = info->input_channel_end - info->input_channel_begin;
  int64_t out_channels =
      info->output_channel_end - info->output_channel_begin;
  size_t images = (size_t)(info->batch_end - info->batch_begin);
  cl_int code = CL_SUCCESS;

  if (info->device_index == 0) {
    views->input = part_view(plan->backward->input, slot, g->channels,
                             info->input_channel_begin, g->in_size);
    views->grad_output =
        part_view(plan->backward->grad_output, slot, g->num_output,
                  info->output_channel_begin, g->out_size);
    return GCL_SUCCESS;
  }

  views->input = (gcl_tensor_view){gs->input, 0,
                                   (size_t)(in_channels * g->in_size)};
  views->grad_output = (gcl_tensor_view){
      gs->grad_output, 0, (size_t)(out_channels * g->out_size)};
  if (args->grad_weights != NULL) {
    pack(args->input, slot, g->channels, info->input_channel_begin,
         info->input_channel_end, g->in_size, gs->host_input);
    code = gcl_clEnqueueWriteBuffer(slot->queue, gs->input, CL_FALSE, 0,
                                    images * views->input.image_stride *
                                        sizeof(float),
                                    gs->host_input, 0, NULL, NULL);
  }
  pack(args->grad_output, slot, g->num_output, info->output_channel_begin,
       info->output_channel_end, g->out_size, gs->host_grad_output);
  if (code == CL_SUCCESS)
    code = gcl_clEnqueueWriteBuffer(slot->queue, gs->grad_output, CL_FALSE, 0,
                                    images * views->grad_output.image_stride *
                                        sizeof(float),
                                    gs->host_grad_output, 0, NULL, NULL);
  if (code != CL_SUCCESS)
    return gcl_fail_cl(code, "copying the slices of slot on device %zu",
                       info->device_index);
  return GCL_SUCCESS;
}

cl_int gcl_grad_set_view_args(cl_kernel kernel, cl_uint first,
                              const gcl_tensor_view *view) {
  cl_long offset = (cl_long)view->offset;
  cl_long stride = (cl_long)view->image_stride;
  cl_int code;

  code = clSetKernelArg(kernel, first, sizeof view->buffer, &view->buffer);
  if (code == CL_SUCCESS)
    code = clSetKernelArg(kernel, first + 1, sizeof offset, &offset);
  if (code == CL_SUCCESS)
    code = clSetKernelArg(kernel, first + 2, sizeof stride, &stride);
  return code;
}


/* Enqueues the weight gradient kernel and the read of its result. */
static gcl_status enqueue_weights(const gcl_slot *slot, grad_slot *gs,
                                  const gcl_tensor_view *large,
                                  const gcl_tensor_view *small) {
  const gcl_geometry *r = &gs->relation;
  cl_int batch = 0;
  size_t bytes = (size_t)(r->num_output * r->channels_per_group *
                          r->kernel_size) * sizeof(float);
  cl_long large_elements, small_elements;
  gcl_status status = gcl_check_view(large, r->batch,
                                     r->channels * r->in_size,
                                     "weight gradient operand",
                                     &large_elements);
  cl_int code;

  if (status == GCL_SUCCESS)
    status = gcl_check_view(small, r->batch, r->num_output * r->out_size,
                            "weight gradient operand", &small_elements);
  if (status == GCL_SUCCESS)
    status = gcl_int_argument(r->batch, "batch of the weight gradient",
                              &batch);
  if (status != GCL_SUCCESS)
    return status;
  code = gcl_grad_set_view_args(gs->weight_kernel, 0, large);
  if (code == CL_SUCCESS)
    code = clSetKernelArg(gs->weight_kernel, 3, sizeof large_elements,
                          &large_elements);
  if (code == CL_SUCCESS)
    code = gcl_grad_set_view_args(gs->weight_kernel, 4, small);
  if (code == CL_SUCCESS)
    code = clSetKernelArg(gs->weight_kernel, 7, sizeof small_elements,
                          &small_elements);
  if (code == CL_SUCCESS)
    code = clSetKernelArg(gs->weight_kernel, 8, sizeof batch, &batch);
  if (code == CL_SUCCESS)
    code = clSetKernelArg(gs->weight_kernel, 9, sizeof gs->grad_weights,
                          &gs->grad_weights);
  if (code == CL_SUCCESS)
    code = gcl_clEnqueueNDRangeKernel(slot->queue, gs->weight_kernel, 3, NULL,
                                      gs->weight_global, gs->weight_local, 0,
                                      NULL, NULL);
  if (code == CL_SUCCESS)
    code = gcl_clEnqueueReadBuffer(slot->queue, gs->grad_weights, CL_FALSE, 0,
                                   bytes, gs->host_weights, 0, NULL, NULL);
  if (code != CL_SUCCESS)
    return gcl_fail_cl(code, "enqueueing the weight gradient on device %zu",
                       slot->info.device_index);
  return GCL_SUCCESS;
}

static gcl_status enqueue_bias(const gcl_plan *plan, const gcl_slot *slot,
                               grad_slot *gs,
                               const gcl_tensor_view *grad_output) {
  size_t channels = (size_t)(slot->info.output_channel_end -
                             slot->info.output_channel_begin);
  cl_int batch = 0, plane = 0;
  gcl_status status;
  cl_int code;

  status = gcl_int_argument(slot->info.batch_end - slot->info.batch_begin,
                            "batch of the bias gradient", &batch);
  if (status == GCL_SUCCESS)
    status = gcl_int_argument(plan->geometry.out_size,
                              "output plane of the bias gradient", &plane);
  if (status != GCL_SUCCESS)
    return status;
  code = gcl_grad_set_view_args(gs->bias_kernel, 0, grad_output);
  if (code == CL_SUCCESS)
    code = clSetKernelArg(gs->bias_kernel, 3, sizeof batch, &batch);
  if (code == CL_SUCCESS)
    code = clSetKernelArg(gs->bias_kernel, 4, sizeof plane, &plane);
  if (code == CL_SUCCESS)
    code = clSetKernelArg(gs->bias_kernel, 5, sizeof gs->grad_bias,
                          &gs->grad_bias);
  if (code == CL_SUCCESS)
    code = gcl_clEnqueueNDRangeKernel(slot->queue, gs->bias_kernel, 1, NULL,
                                      &channels, NULL, 0, NULL, NULL);
  if (code == CL_SUCCESS)
    code = gcl_clEnqueueReadBuffer(slot->queue, gs->grad_bias, CL_FALSE, 0,
                                   channels * sizeof(float), gs->host_bias, 0,
                                   NULL, NULL);
  if (code != CL_SUCCESS)
    return gcl_fail_cl(code, "enqueueing the bias gradient on device %zu",
                       slot->info.device_index);
  return GCL_SUCCESS;
}

static gcl_status check_views(const gcl_plan *plan, const gcl_slot *slot,
                              const slot_views *views) {
  const gcl_geometry *g = &plan->geometry;
  int64_t images = slot->info.batch_end - slot->info.batch_begin;
  int64_t in_channels =
      slot->info.input_channel_end - slot->info.input_channel_begin;
  int64_t out_channels =
      slot->info.output_channel_end - slot->info.output_channel_begin;
  gcl_status status;

  status = gcl_check_view(&views->input, images, in_channels * g->in_size,
                          "input", NULL);
  if (status == GCL_SUCCESS)
    status = gcl_check_view(&views->grad_output, images,
                            out_channels * g->out_size, "output gradient",
                            NULL);
  return status;
}

static gcl_status enqueue_slot(gcl_plan *plan, size_t index,
                               const gcl_backward_args *args) {
  const gcl_slot *slot = &plan->slots[index];
  grad_slot *gs = &plan->backward->slots[index];
  slot_views views;
  gcl_status status;

  status = slot_operands(plan, slot, gs, args, &views);
  if (status == GCL_SUCCESS)
    status = check_views(plan, slot, &views);
  if (status != GCL_SUCCESS)
    return status;

  /* The relation's large side is the input of a convolution and the
     output of a transposed layer. */
  if (args->grad_weights != NULL) {
    int transposed = plan->geometry.transposed;

    status = enqueue_weights(slot, gs,
                             transposed ? &views.grad_output : &views.input,
                             transposed ? &views.input : &views.grad_output);
  }
  if (status == GCL_SUCCESS && args->grad_bias != NULL)
    status = enqueue_bias(plan, slot, gs, &views.grad_output);
  return status;
}

/* Copies the full input and output gradient to the first device for the
 * slots that work in place there. */
static gcl_status upload_full(gcl_plan *plan, const gcl_backward_args *args) {
  cl_command_queue queue = plan->context->devices[0].queue;
  cl_int code = CL_SUCCESS;

  if (args->grad_weights != NULL)
    code =
        gcl_clEnqueueWriteBuffer(queue, plan->backward->input, CL_TRUE, 0,
                                 plan->input_bytes, args->input, 0, NULL, NULL);
  if (code == CL_SUCCESS)
    code = gcl_clEnqueueWriteBuffer(queue, plan->backward->grad_output, CL_TRUE,
                                    0, plan->output_bytes, args->grad_output, 0,
                                    NULL, NULL);
  if (code != CL_SUCCESS)
    return gcl_fail_cl(code, "copying the input and output gradient to "
                             "the device");
  return GCL_SUCCESS;
}

/* Waits for every slot's queue, even after a failure, so that no copy
 * still writes host memory when the call returns. */
static gcl_status finish_slots(gcl_plan *plan, size_t count) {
  cl_int first_error = CL_SUCCESS;

  for (size_t i = 0; i < count; i++) {
    cl_int code = gcl_clFinish(plan->slots[i].queue);

    if (first_error == CL_SUCCESS)
      first_error = code;
  }
  if (first_error != CL_SUCCESS)
    return gcl_fail_cl(first_error, "waiting for the gradient kernels");
  return GCL_SUCCESS;
}

/* Adds every slot's results into the totals, in slot order. */
static void sum_slots(gcl_plan *plan, const gcl_backward_args *args) {
  gcl_backward *b = plan->backward;
  const gcl_conv *conv = plan->conv;

  if (args->grad_weights != NULL)
    memset(b->weight_sum, 0, conv->weight_count * sizeof *b->weight_sum);
  if (args->grad_bias != NULL)
    memset(b->bias_sum, 0,
           (size_t)conv->desc.num_output * sizeof *b->bias_sum);

  for (size_t i = 0; i < b->slot_count; i++) {
    const gcl_slot_info *info = &plan->slots[i].info;
    const grad_slot *gs = &b->slots[i];
    size_t count = (size_t)(gs->relation.num_output *
                            gs->relation.channels_per_group *
                            gs->relation.kernel_size);
    size_t first = (size_t)(info->group_begin) * count /
                   (size_t)(info->group_end - info->group_begin);
    size_t channels =
        (size_t)(info->output_channel_end - info->output_channel_begin);

    for (size_t j = 0; args->grad_weights != NULL && j < count; j++)
      b->weight_sum[first + j] += gs->host_weights[j];
    for (size_t j = 0; args->grad_bias != NULL && j < channels; j++)
      b->bias_sum[(size_t)info->output_channel_begin + j] += gs->host_bias[j];
  }
}

static void apply(float *target, const float *sum, size_t count,
                  int overwrite) {
  for (size_t i = 0; i < count; i++)
    target[i] = overwrite ? sum[i] : target[i] + sum[i];
}

static gcl_status parameter_gradients(gcl_plan *plan,
                                      const gcl_backward_args *args) {
  gcl_status status;
  size_t enqueued = 0;

  if (plan->backward->split != NULL)
    return gcl_backward_split_run(plan, args);
  status = upload_full(plan, args);
  for (; enqueued < plan->slot_count && status == GCL_SUCCESS; enqueued++)
    status = enqueue_slot(plan, enqueued, args);
  if (status != GCL_SUCCESS) {
    finish_slots(plan, enqueued);
    return status;
  }
  status = finish_slots(plan, enqueued);
  if (status == GCL_SUCCESS)
    sum_slots(plan, args);
  return status;
}

static gcl_status check_args(const gcl_plan *plan,
                             const gcl_backward_args *args) {
  if (plan == NULL || args == NULL || args->grad_output == NULL)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "gcl_plan_backward: plan, args and args->grad_output "
                    "must not be NULL");
  if (args->grad_weights != NULL && args->input == NULL)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "gcl_plan_backward: grad_weights needs the forward "
                    "input; set args->input");
  if (args->grad_bias != NULL && !plan->geometry.bias_term)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "gcl_plan_backward: grad_bias is given but the layer has "
                    "bias_term 0");
  return GCL_SUCCESS;
}

/* The backward call; the caller holds plan->lock. */
static gcl_status backward_locked(gcl_plan *plan,
                                  const gcl_backward_args *args) {
  int parameters = args->grad_weights != NULL || args->grad_bias != NULL;
  gcl_status status = gcl_backward_prepare(plan, &plan->options);

  if (status == GCL_SUCCESS && parameters)
    status = parameter_gradients(plan, args);
  /* Gathered, because the caller's arrays must not change on failure. */
  if (status == GCL_SUCCESS && args->grad_input != NULL)
    status = gcl_plan_forward_gathered(plan->backward->adjoint_plan,
                                       args->grad_output, args->grad_input);
  if (status != GCL_SUCCESS)
    return status;

  if (args->grad_weights != NULL)
    apply(args->grad_weights, plan->backward->weight_sum,
          plan->conv->weight_count, args->overwrite);
  if (args->grad_bias != NULL)
    apply(args->grad_bias, plan->backward->bias_sum,
          (size_t)plan->conv->desc.num_output, args->overwrite);
  return GCL_SUCCESS;
}

gcl_status gcl_plan_backward(gcl_plan *plan, const gcl_backward_args *args) {
  gcl_status status;

  gcl_clear_error();
  status = check_args(plan, args);
  if (status != GCL_SUCCESS)
    return status;

  /* Backward calls take turns with the plan's other runs, as forward
     calls do: they share its queues and buffers. */
  pthread_mutex_lock(&plan->lock);
  status = backward_locked(plan, args);
  pthread_mutex_unlock(&plan->lock);
  return status;
}
