#include "util/cl_calls.h"

#include "util/fault.h"

/* Maximum number of devices a lookup reads from a context or program. */
#define LOOKUP_DEVICES 64

/*
 * The device of an object, for rules armed on one device. Objects made in
 * a context of several devices count as made on the first one, so a rule
 * for another device never fails them. The lookups run only while a fault
 * is armed.
 */
static cl_device_id first_of(const cl_device_id *devices, size_t bytes) {
  return bytes >= sizeof *devices ? devices[0] : NULL;
}

static cl_device_id context_device(cl_context context) {
  cl_device_id devices[LOOKUP_DEVICES];
  size_t bytes = 0;

  if (clGetContextInfo(context, CL_CONTEXT_DEVICES, sizeof devices, devices,
                       &bytes) != CL_SUCCESS)
    return NULL;
  return first_of(devices, bytes);
}

static cl_device_id program_device(cl_program program) {
  cl_device_id devices[LOOKUP_DEVICES];
  size_t bytes = 0;

  if (clGetProgramInfo(program, CL_PROGRAM_DEVICES, sizeof devices, devices,
                       &bytes) != CL_SUCCESS)
    return NULL;
  return first_of(devices, bytes);
}

static cl_device_id queue_device(cl_command_queue queue) {
  cl_device_id device = NULL;

  if (clGetCommandQueueInfo(queue, CL_QUEUE_DEVICE, sizeof device, &device,
                            NULL) != CL_SUCCESS)
    return NULL;
  return device;
}

static cl_device_id event_device(cl_event event) {
  cl_command_queue queue = NULL;

  /* A user event has no queue, and so no device. */
  if (clGetEventInfo(event, CL_EVENT_COMMAND_QUEUE, sizeof queue, &queue,
                     NULL) != CL_SUCCESS ||
      queue == NULL)
    return NULL;
  return queue_device(queue);
}

static int armed(void) {
  return (gcl_fault_state_now() & GCL_FAULT_STATE_ARMED) != 0;
}

/* Stores the injected code where the caller asked for it. */
static void *fail_creation(cl_int code, cl_int *errcode_ret) {
  if (errcode_ret != NULL)
    *errcode_ret = code;
  return NULL;
}

/* ---- objects ------------------------------------------------------------- */

cl_context gcl_clCreateContext(const cl_context_properties *properties,
                               cl_uint num_devices, const cl_device_id *devices,
                               void(CL_CALLBACK *notify)(const char *,
                                                         const void *, size_t,
                                                         void *),
                               void *user_data, cl_int *errcode_ret) {
  if (armed() && gcl_fault_hit_armed(GCL_FAULT_CONTEXT,
                                     num_devices > 0 ? devices[0] : NULL))
    return fail_creation(CL_OUT_OF_HOST_MEMORY, errcode_ret);
  return clCreateContext(properties, num_devices, devices, notify, user_data,
                         errcode_ret);
}

cl_command_queue
gcl_clCreateCommandQueue(cl_context context, cl_device_id device,
                         cl_command_queue_properties properties,
                         cl_int *errcode_ret) {
  if (armed() && gcl_fault_hit_armed(GCL_FAULT_QUEUE, device))
    return fail_creation(CL_OUT_OF_RESOURCES, errcode_ret);
  /* clCreateCommandQueue is deprecated in OpenCL 2.0 but is the call that
   * OpenCL 1.2 devices have. */
  return clCreateCommandQueue(context, device, properties, errcode_ret);
}

cl_mem gcl_clCreateBuffer(cl_context context, cl_mem_flags flags, size_t size,
                          void *host_ptr, cl_int *errcode_ret) {
  if (armed() && gcl_fault_hit_armed(GCL_FAULT_BUFFER, context_device(context)))
    return fail_creation(CL_MEM_OBJECT_ALLOCATION_FAILURE, errcode_ret);
  return clCreateBuffer(context, flags, size, host_ptr, errcode_ret);
}

cl_program gcl_clCreateProgramWithSource(cl_context context, cl_uint count,
                                         const char **strings,
                                         const size_t *lengths,
                                         cl_int *errcode_ret) {
  if (armed() &&
      gcl_fault_hit_armed(GCL_FAULT_PROGRAM, context_device(context)))
    return fail_creation(CL_OUT_OF_HOST_MEMORY, errcode_ret);
  return clCreateProgramWithSource(context, count, strings, lengths,
                                   errcode_ret);
}

cl_program gcl_clCreateProgramWithBinary(
    cl_context context, cl_uint num_devices, const cl_device_id *device_list,
    const size_t *lengths, const unsigned char **binaries,
    cl_int *binary_status, cl_int *errcode_ret) {
  if (armed() && gcl_fault_hit_armed(GCL_FAULT_PROGRAM,
                                     num_devices > 0 ? device_list[0] : NULL))
    return fail_creation(CL_OUT_OF_HOST_MEMORY, errcode_ret);
  return clCreateProgramWithBinary(context, num_devices, device_list, lengths,
                                   binaries, binary_status, errcode_ret);
}

cl_kernel gcl_clCreateKernel(cl_program program, const char *kernel_name,
                             cl_int *errcode_ret) {
  if (armed() && gcl_fault_hit_armed(GCL_FAULT_KERNEL, program_device(program)))
    return fail_creation(CL_OUT_OF_RESOURCES, errcode_ret);
  return clCreateKernel(program, kernel_name, errcode_ret);
}

/* ---- commands ------------------------------------------------------------ */

/* Returns 1 when a command of kind on queue must fail. */
static int fail_command(gcl_fault_kind kind, cl_command_queue queue) {
  return armed() && gcl_fault_hit_armed(kind, queue_device(queue));
}

cl_int gcl_clEnqueueNDRangeKernel(cl_command_queue queue, cl_kernel kernel,
                                  cl_uint work_dim,
                                  const size_t *global_work_offset,
                                  const size_t *global_work_size,
                                  const size_t *local_work_size,
                                  cl_uint num_events, const cl_event *wait_list,
                                  cl_event *event) {
  if (fail_command(GCL_FAULT_ENQUEUE, queue))
    return CL_OUT_OF_RESOURCES;
  return clEnqueueNDRangeKernel(queue, kernel, work_dim, global_work_offset,
                                global_work_size, local_work_size, num_events,
                                wait_list, event);
}

cl_int gcl_clEnqueueMarkerWithWaitList(cl_command_queue queue,
                                       cl_uint num_events,
                                       const cl_event *wait_list,
                                       cl_event *event) {
  if (fail_command(GCL_FAULT_ENQUEUE, queue))
    return CL_OUT_OF_RESOURCES;
  return clEnqueueMarkerWithWaitList(queue, num_events, wait_list, event);
}

cl_int gcl_clEnqueueBarrierWithWaitList(cl_command_queue queue,
                                        cl_uint num_events,
                                        const cl_event *wait_list,
                                        cl_event *event) {
  if (fail_command(GCL_FAULT_ENQUEUE, queue))
    return CL_OUT_OF_RESOURCES;
  return clEnqueueBarrierWithWaitList(queue, num_events, wait_list, event);
}

/* CLBlast returns OpenCL's codes for OpenCL failures. */
CLBlastStatusCode
gcl_CLBlastSgemm(const CLBlastLayout layout, const CLBlastTranspose a_transpose,
                 const CLBlastTranspose b_transpose, const size_t m,
                 const size_t n, const size_t k, const float alpha,
                 const cl_mem a_buffer, const size_t a_offset,
                 const size_t a_ld, const cl_mem b_buffer,
                 const size_t b_offset, const size_t b_ld, const float beta,
                 cl_mem c_buffer, const size_t c_offset, const size_t c_ld,
                 cl_command_queue *queue, cl_event *event) {
  if (fail_command(GCL_FAULT_ENQUEUE, *queue))
    return CLBlastOpenCLOutOfResources;
  return CLBlastSgemm(layout, a_transpose, b_transpose, m, n, k, alpha,
                      a_buffer, a_offset, a_ld, b_buffer, b_offset, b_ld, beta,
                      c_buffer, c_offset, c_ld, queue, event);
}

CLBlastStatusCode gcl_CLBlastSgemmStridedBatched(
    const CLBlastLayout layout, const CLBlastTranspose a_transpose,
    const CLBlastTranspose b_transpose, const size_t m, const size_t n,
    const size_t k, const float alpha, const cl_mem a_buffer,
    const size_t a_offset, const size_t a_ld, const size_t a_stride,
    const cl_mem b_buffer, const size_t b_offset, const size_t b_ld,
    const size_t b_stride, const float beta, cl_mem c_buffer,
    const size_t c_offset, const size_t c_ld, const size_t c_stride,
    const size_t batch_count, cl_command_queue *queue, cl_event *event) {
  if (fail_command(GCL_FAULT_ENQUEUE, *queue))
    return CLBlastOpenCLOutOfResources;
  return CLBlastSgemmStridedBatched(
      layout, a_transpose, b_transpose, m, n, k, alpha, a_buffer, a_offset,
      a_ld, a_stride, b_buffer, b_offset, b_ld, b_stride, beta, c_buffer,
      c_offset, c_ld, c_stride, batch_count, queue, event);
}

/* ---- transfers ----------------------------------------------------------- */

cl_int gcl_clEnqueueReadBuffer(cl_command_queue queue, cl_mem buffer,
                               cl_bool blocking, size_t offset, size_t size,
                               void *ptr, cl_uint num_events,
                               const cl_event *wait_list, cl_event *event) {
  if (fail_command(GCL_FAULT_TRANSFER, queue))
    return CL_OUT_OF_RESOURCES;
  return clEnqueueReadBuffer(queue, buffer, blocking, offset, size, ptr,
                             num_events, wait_list, event);
}

cl_int gcl_clEnqueueWriteBuffer(cl_command_queue queue, cl_mem buffer,
                                cl_bool blocking, size_t offset, size_t size,
                                const void *ptr, cl_uint num_events,
                                const cl_event *wait_list, cl_event *event) {
  if (fail_command(GCL_FAULT_TRANSFER, queue))
    return CL_OUT_OF_RESOURCES;
  return clEnqueueWriteBuffer(queue, buffer, blocking, offset, size, ptr,
                              num_events, wait_list, event);
}

cl_int gcl_clEnqueueReadBufferRect(
    cl_command_queue queue, cl_mem buffer, cl_bool blocking,
    const size_t *buffer_origin, const size_t *host_origin,
    const size_t *region, size_t buffer_row_pitch, size_t buffer_slice_pitch,
    size_t host_row_pitch, size_t host_slice_pitch, void *ptr,
    cl_uint num_events, const cl_event *wait_list, cl_event *event) {
  if (fail_command(GCL_FAULT_TRANSFER, queue))
    return CL_OUT_OF_RESOURCES;
  return clEnqueueReadBufferRect(
      queue, buffer, blocking, buffer_origin, host_origin, region,
      buffer_row_pitch, buffer_slice_pitch, host_row_pitch, host_slice_pitch,
      ptr, num_events, wait_list, event);
}

cl_int gcl_clEnqueueWriteBufferRect(
    cl_command_queue queue, cl_mem buffer, cl_bool blocking,
    const size_t *buffer_origin, const size_t *host_origin,
    const size_t *region, size_t buffer_row_pitch, size_t buffer_slice_pitch,
    size_t host_row_pitch, size_t host_slice_pitch, const void *ptr,
    cl_uint num_events, const cl_event *wait_list, cl_event *event) {
  if (fail_command(GCL_FAULT_TRANSFER, queue))
    return CL_OUT_OF_RESOURCES;
  return clEnqueueWriteBufferRect(
      queue, buffer, blocking, buffer_origin, host_origin, region,
      buffer_row_pitch, buffer_slice_pitch, host_row_pitch, host_slice_pitch,
      ptr, num_events, wait_list, event);
}

cl_int gcl_clEnqueueFillBuffer(cl_command_queue queue, cl_mem buffer,
                               const void *pattern, size_t pattern_size,
                               size_t offset, size_t size, cl_uint num_events,
                               const cl_event *wait_list, cl_event *event) {
  if (fail_command(GCL_FAULT_TRANSFER, queue))
    return CL_OUT_OF_RESOURCES;
  return clEnqueueFillBuffer(queue, buffer, pattern, pattern_size, offset, size,
                             num_events, wait_list, event);
}

/* ---- waits --------------------------------------------------------------- */

cl_int gcl_clFinish(cl_command_queue queue) {
  cl_int code = clFinish(queue);

  if (code == CL_SUCCESS && fail_command(GCL_FAULT_WAIT, queue))
    return CL_OUT_OF_RESOURCES;
  return code;
}

cl_int gcl_clWaitForEvents(cl_uint num_events, const cl_event *events) {
  cl_int code = clWaitForEvents(num_events, events);

  if (code == CL_SUCCESS && num_events > 0 && armed() &&
      gcl_fault_hit_armed(GCL_FAULT_WAIT, event_device(events[0])))
    return CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST;
  return code;
}
