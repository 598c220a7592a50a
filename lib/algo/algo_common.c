#include "algo/algo_common.h"

#include "util/cl_calls.h"
#include "util/cl_objects.h"
#include "util/error.h"

#include <stdatomic.h>
#include <stdio.h>

static _Atomic int64_t index_limit = GCL_INT_INDEX_LIMIT;

int64_t gcl_index_limit(void) { return atomic_load(&index_limit); }

void gcl_set_index_limit(int64_t elements) {
  if (elements <= 0 || elements > GCL_INT_INDEX_LIMIT)
    elements = GCL_INT_INDEX_LIMIT;
  atomic_store(&index_limit, elements);
}

void gcl_geometry_build_options(const gcl_geometry *g, char *buffer,
                                size_t size) {
  snprintf(buffer, size,
           "-DCHANNELS=%lld -DNUM_OUTPUT=%lld -DGROUP=%lld "
           "-DCHANNELS_PER_GROUP=%lld -DOUTPUTS_PER_GROUP=%lld "
           "-DIN_D=%lld -DIN_H=%lld -DIN_W=%lld "
           "-DOUT_D=%lld -DOUT_H=%lld -DOUT_W=%lld "
           "-DKERNEL_D=%lld -DKERNEL_H=%lld -DKERNEL_W=%lld "
           "-DSTRIDE_D=%lld -DSTRIDE_H=%lld -DSTRIDE_W=%lld "
           "-DPAD_D=%lld -DPAD_H=%lld -DPAD_W=%lld "
           "-DDILATION_D=%lld -DDILATION_H=%lld -DDILATION_W=%lld",
           (long long)g->channels, (long long)g->num_output,
           (long long)g->group, (long long)g->channels_per_group,
           (long long)g->outputs_per_group, (long long)g->in[0],
           (long long)g->in[1], (long long)g->in[2], (long long)g->out[0],
           (long long)g->out[1], (long long)g->out[2],
           (long long)g->kernel[0], (long long)g->kernel[1],
           (long long)g->kernel[2], (long long)g->stride[0],
           (long long)g->stride[1], (long long)g->stride[2],
           (long long)g->pad[0], (long long)g->pad[1], (long long)g->pad[2],
           (long long)g->dilation[0], (long long)g->dilation[1],
           (long long)g->dilation[2]);
}

int64_t gcl_mul_saturated(int64_t a, int64_t b) {
  if (a != 0 && b > INT64_MAX / a)
    return INT64_MAX;
  return a * b;
}

gcl_status gcl_create_kernel(gcl_context *context, size_t device_index,
                             const char *file_name, const char *options,
                             const char *kernel_name, cl_kernel *kernel) {
  gcl_device_slot *slot = &context->devices[device_index];
  cl_program program;
  gcl_status status;
  cl_int code;

  *kernel = NULL;
  status = gcl_program_build(context->programs, slot->cl_ctx, slot->device,
                             file_name, gcl_kernel_source_text(file_name),
                             options, &program);
  if (status != GCL_SUCCESS)
    return status;

  *kernel = gcl_clCreateKernel(program, kernel_name, &code);
  if (*kernel == NULL)
    return gcl_fail_cl(code, "clCreateKernel(%s) from %s on device '%s'",
                       kernel_name, file_name, slot->info.device_name);
  gcl_cl_object_created(GCL_CL_KERNEL);
  return GCL_SUCCESS;
}

gcl_status gcl_create_buffer(gcl_context *context, size_t device_index,
                             size_t bytes, const void *host_data,
                             const char *what, cl_mem *buffer) {
  gcl_device_slot *slot = &context->devices[device_index];
  cl_mem_flags flags = CL_MEM_READ_WRITE;
  cl_int code;

  if (host_data != NULL)
    flags |= CL_MEM_COPY_HOST_PTR;
  if (bytes > slot->info.max_alloc_bytes)
    return gcl_fail(GCL_ERROR_OUT_OF_MEMORY,
                    "the %s needs %zu bytes, more than the largest buffer "
                    "device '%s' allows (%llu bytes); use a smaller batch",
                    what, bytes, slot->info.device_name,
                    (unsigned long long)slot->info.max_alloc_bytes);

  /* A zero-size buffer is invalid in OpenCL; keep one element instead. */
  *buffer = gcl_clCreateBuffer(slot->cl_ctx, flags, bytes > 0 ? bytes : 4,
                               (void *)host_data, &code);
  if (*buffer != NULL)
    gcl_cl_object_created(GCL_CL_MEM);
  if (*buffer == NULL)
    return gcl_fail_cl(code, "allocating the %s (%zu bytes) on device '%s'",
                       what, bytes, slot->info.device_name);
  return GCL_SUCCESS;
}

double gcl_device_peak_flops(const gcl_device_info *device) {
  double units = device->compute_units > 0 ? device->compute_units : 1;

  if (device->type & CL_DEVICE_TYPE_GPU)
    return units * 128.0 * 1.5e9;
  return units * 32.0 * 2.5e9;
}

double gcl_device_memory_bandwidth(const gcl_device_info *device) {
  double units = device->compute_units > 0 ? device->compute_units : 1;

  if (device->type & CL_DEVICE_TYPE_GPU)
    return 400e9;
  return units * 20e9;
}

void gcl_buffer_sizes_add(gcl_buffer_sizes *sizes, const char *name,
                          int64_t elements) {
  /* Every algorithm lists fewer than GCL_MAX_STATE_BUFFERS buffers. */
  if (sizes->count >= GCL_MAX_STATE_BUFFERS)
    return;
  sizes->items[sizes->count].name = name;
  sizes->items[sizes->count].bytes = (uint64_t)elements * sizeof(float);
  sizes->count++;
}

/* Writes the element after the view's last image; returns 0 when that
 * does not fit 64 bits. */
static int view_end(const gcl_tensor_view *view, int64_t batch,
                    int64_t image_elements, uint64_t *end) {
  uint64_t span = batch > 1 ? (uint64_t)(batch - 1) : 0;
  uint64_t fixed = (uint64_t)view->offset + (uint64_t)image_elements;

  if (fixed < (uint64_t)view->offset)
    return 0;
  if (view->image_stride != 0 &&
      span > (UINT64_MAX - fixed) / (uint64_t)view->image_stride)
    return 0;
  *end = fixed + span * (uint64_t)view->image_stride;
  return 1;
}

gcl_status gcl_check_view(const gcl_tensor_view *view, int64_t batch,
                          int64_t image_elements, const char *what,
                          cl_long *buffer_elements) {
  uint64_t floats, end = 0;
  size_t bytes;
  cl_int code;

  code = clGetMemObjectInfo(view->buffer, CL_MEM_SIZE, sizeof bytes, &bytes,
                            NULL);
  if (code != CL_SUCCESS)
    return gcl_fail_cl(code, "clGetMemObjectInfo(CL_MEM_SIZE) on the %s "
                             "buffer",
                       what);

  floats = bytes / sizeof(float);
  if (!view_end(view, batch, image_elements, &end) || end > floats)
    return gcl_fail(GCL_ERROR_SHAPE_MISMATCH,
                    "the %s view (offset %zu, image stride %zu, %lld images "
                    "of %lld floats) does not fit its buffer of %llu "
                    "floats; check the view's offset and image stride",
                    what, view->offset, view->image_stride, (long long)batch,
                    (long long)image_elements, (unsigned long long)floats);
  if (image_elements > gcl_index_limit())
    return gcl_fail(GCL_ERROR_UNSUPPORTED,
                    "one image of the %s view holds %lld floats, more than "
                    "the kernels index with 32-bit ints (%lld); plan the "
                    "layer so that its groups run in parts",
                    what, (long long)image_elements,
                    (long long)gcl_index_limit());

  if (buffer_elements != NULL)
    *buffer_elements = (cl_long)floats;
  return GCL_SUCCESS;
}

gcl_status gcl_int_argument(int64_t value, const char *what,
                            cl_int *argument) {
  if (value < 0 || value > gcl_index_limit())
    return gcl_fail(GCL_ERROR_UNSUPPORTED,
                    "the %s is %lld, outside the 32-bit kernel argument "
                    "range 0 to %lld",
                    what, (long long)value, (long long)gcl_index_limit());
  *argument = (cl_int)value;
  return GCL_SUCCESS;
}

int gcl_convolution_only(const gcl_geometry *g, const char *name,
                         char *reason, size_t reason_size) {
  if (!g->transposed)
    return 1;
  snprintf(reason, reason_size,
           "%s runs convolutions only; transposed layers (Deconvolution) "
           "run on the transposed algorithm",
           name);
  return 0;
}

void gcl_small_local_size(const size_t global[3], size_t limit,
                          size_t local[3]) {
  size_t room = limit;

  for (int axis = 2; axis >= 0; axis--) {
    size_t size = room;

    while (size > 1 && global[axis] % size != 0)
      size--;
    local[axis] = size;
    room /= size;
  }
}
