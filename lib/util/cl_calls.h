/*
 * The OpenCL and CLBlast calls of the library that can fail for lack of a
 * resource, behind wrappers with the same signatures. A wrapper first
 * consults the test-only fault injector (util/fault.h) and, when the
 * injector picks the call, fails as the driver would: it returns the
 * kind's error code, makes no object and enqueues no command. The wait
 * wrappers are the exception: they wait first, so that no command is left
 * running. Disarmed, a wrapper costs one relaxed atomic load before the
 * real call.
 */
#ifndef GCL_UTIL_CL_CALLS_H
#define GCL_UTIL_CL_CALLS_H

#include "groupcl.h"

#include <clblast_c.h>

/* ---- objects ------------------------------------------------------------- */

cl_context gcl_clCreateContext(const cl_context_properties *properties,
                               cl_uint num_devices, const cl_device_id *devices,
                               void(CL_CALLBACK *notify)(const char *,
                                                         const void *, size_t,
                                                         void *),
                               void *user_data, cl_int *errcode_ret);

cl_command_queue
gcl_clCreateCommandQueue(cl_context context, cl_device_id device,
                         cl_command_queue_properties properties,
                         cl_int *errcode_ret);

cl_mem gcl_clCreateBuffer(cl_context context, cl_mem_flags flags, size_t size,
                          void *host_ptr, cl_int *errcode_ret);

cl_program gcl_clCreateProgramWithSource(cl_context context, cl_uint count,
                                         const char **strings,
                                         const size_t *lengths,
                                         cl_int *errcode_ret);

cl_program gcl_clCreateProgramWithBinary(
    cl_context context, cl_uint num_devices, const cl_device_id *device_list,
    const size_t *lengths, const unsigned char **binaries,
    cl_int *binary_status, cl_int *errcode_ret);

cl_kernel gcl_clCreateKernel(cl_program program, const char *kernel_name,
                             cl_int *errcode_ret);

/* ---- commands ------------------------------------------------------------ */

cl_int gcl_clEnqueueNDRangeKernel(cl_command_queue queue, cl_kernel kernel,
                                  cl_uint work_dim,
                                  const size_t *global_work_offset,
                                  const size_t *global_work_size,
                                  const size_t *local_work_size,
                                  cl_uint num_events, const cl_event *wait_list,
                                  cl_event *event);

cl_int gcl_clEnqueueMarkerWithWaitList(cl_command_queue queue,
                                       cl_uint num_events,
                                       const cl_event *wait_list,
                                       cl_event *event);

cl_int gcl_clEnqueueBarrierWithWaitList(cl_command_queue queue,
                                        cl_uint num_events,
                                        const cl_event *wait_list,
                                        cl_event *event);

CLBlastStatusCode
gcl_CLBlastSgemm(const CLBlastLayout layout, const CLBlastTranspose a_transpose,
                 const CLBlastTranspose b_transpose, const size_t m,
                 const size_t n, const size_t k, const float alpha,
                 const cl_mem a_buffer, const size_t a_offset,
                 const size_t a_ld, const cl_mem b_buffer,
                 const size_t b_offset, const size_t b_ld, const float beta,
                 cl_mem c_buffer, const size_t c_offset, const size_t c_ld,
                 cl_command_queue *queue, cl_event *event);

CLBlastStatusCode gcl_CLBlastSgemmStridedBatched(
    const CLBlastLayout layout, const CLBlastTranspose a_transpose,
    const CLBlastTranspose b_transpose, const size_t m, const size_t n,
    const size_t k, const float alpha, const cl_mem a_buffer,
    const size_t a_offset, const size_t a_ld, const size_t a_stride,
    const cl_mem b_buffer, const size_t b_offset, const size_t b_ld,
    const size_t b_stride, const float beta, cl_mem c_buffer,
    const size_t c_offset, const size_t c_ld, const size_t c_stride,
    const size_t batch_count, cl_command_queue *queue, cl_event *event);

/* ---- transfers ----------------------------------------------------------- */

cl_int gcl_clEnqueueReadBuffer(cl_command_queue queue, cl_mem buffer,
                               cl_bool blocking, size_t offset, size_t size,
                               void *ptr, cl_uint num_events,
                               const cl_event *wait_list, cl_event *event);

cl_int gcl_clEnqueueWriteBuffer(cl_command_queue queue, cl_mem buffer,
                                cl_bool blocking, size_t offset, size_t size,
                                const void *ptr, cl_uint num_events,
                                const cl_event *wait_list, cl_event *event);

cl_int gcl_clEnqueueReadBufferRect(
    cl_command_queue queue, cl_mem buffer, cl_bool blocking,
    const size_t *buffer_origin, const size_t *host_origin,
    const size_t *region, size_t buffer_row_pitch, size_t buffer_slice_pitch,
    size_t host_row_pitch, size_t host_slice_pitch, void *ptr,
    cl_uint num_events, const cl_event *wait_list, cl_event *event);

cl_int gcl_clEnqueueWriteBufferRect(
    cl_command_queue queue, cl_mem buffer, cl_bool blocking,
    const size_t *buffer_origin, const size_t *host_origin,
    const size_t *region, size_t buffer_row_pitch, size_t buffer_slice_pitch,
    size_t host_row_pitch, size_t host_slice_pitch, const void *ptr,
    cl_uint num_events, const cl_event *wait_list, cl_event *event);

cl_int gcl_clEnqueueFillBuffer(cl_command_queue queue, cl_mem buffer,
                               const void *pattern, size_t pattern_size,
                               size_t offset, size_t size, cl_uint num_events,
                               const cl_event *wait_list, cl_event *event);

/* ---- waits --------------------------------------------------------------- */

cl_int gcl_clFinish(cl_command_queue queue);

cl_int gcl_clWaitForEvents(cl_uint num_events, const cl_event *events);

#endif
