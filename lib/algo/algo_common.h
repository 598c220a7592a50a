/* Helpers that several algorithms share. */
#ifndef GCL_ALGO_ALGO_COMMON_H
#define GCL_ALGO_ALGO_COMMON_H

#include "algo/algo.h"

/*
 * Writes the -D options that make a layer's sizes compile-time constants:
 * CHANNELS, NUM_OUTPUT, GROUP, CHANNELS_PER_GROUP, OUTPUTS_PER_GROUP and
 * IN_*, OUT_*, KERNEL_*, STRIDE_*, PAD_*, DILATION_* for D, H and W.
 */
void gcl_geometry_build_options(const gcl_geometry *geometry, char *buffer,
                                size_t size);

/* Builds (or finds in the cache) kernels/FILE and creates kernel NAME. */
gcl_status gcl_create_kernel(gcl_context *context, size_t device_index,
                             const char *file_name, const char *options,
                             const char *kernel_name, cl_kernel *kernel);

/* Creates a device buffer, optionally filled from host memory. */
gcl_status gcl_create_buffer(gcl_context *context, size_t device_index,
                             size_t bytes, const void *host_data,
                             const char *what, cl_mem *buffer);

/*
 * Rough arithmetic peak (FLOP/s) and memory bandwidth (bytes/s) of a
 * device, from its type and compute units, for the cost models. These are
 * estimates, not measurements: a CPU core is taken as 32 FLOP per cycle at
 * 2.5 GHz and 20 GB/s, a GPU compute unit as 128 FLOP per cycle at 1.5 GHz
 * with 400 GB/s in all.
 */
double gcl_device_peak_flops(const gcl_device_info *device);
double gcl_device_memory_bandwidth(const gcl_device_info *device);

/*
 * Checks that a view of `batch` images of image_elements floats lies inside
 * its buffer, and that one image fits the kernels' 32-bit indexing inside
 * an image (gcl_index_limit). The view's offset and stride may be any
 * size, because the kernels take them as 64-bit values. When
 * buffer_elements is not NULL, it receives the buffer's size in floats.
 */
gcl_status gcl_check_view(const gcl_tensor_view *view, int64_t batch,
                          int64_t image_elements, const char *what,
                          cl_long *buffer_elements);

/*
 * Converts a count for a kernel argument that is a 32-bit int, such as a
 * batch size. Fails with GCL_ERROR_UNSUPPORTED, naming `what`, when value
 * exceeds gcl_index_limit(); offsets and strides never go through here,
 * because the kernels take them as 64-bit values.
 */
gcl_status gcl_int_argument(int64_t value, const char *what,
                            cl_int *argument);

/*
 * Returns 1 for a convolution, else 0 with the reason: the convolution
 * algorithms do not run transposed layers (the transposed one does).
 */
int gcl_convolution_only(const gcl_geometry *geometry, const char *name,
                         char *reason, size_t reason_size);

/*
 * Writes a local size of at most `limit` work-items that divides global,
 * taking the largest divisors from the last axis first. Kernels whose
 * work-items each loop long use it: PoCL would otherwise choose
 * work-groups of thousands of items, whose private arrays can overflow
 * its worker threads' stacks, and one item per group costs a scheduling
 * step per item.
 */
void gcl_small_local_size(const size_t global[3], size_t limit,
                          size_t local[3]);

/*
 * Returns a * b, or INT64_MAX when the product does not fit. Both must be
 * at least 0. Sizes that combine axes of different tensors, such as the
 * im2col column matrix, are not bounded by validation, so the limit
 * checks multiply them with this.
 */
int64_t gcl_mul_saturated(int64_t a, int64_t b);

/* Largest element count a kernel may index with a 32-bit int. */
#define GCL_INT_INDEX_LIMIT ((int64_t)2147483647)

/*
 * Returns the element count that kernels index with 32-bit ints:
 * GCL_INT_INDEX_LIMIT unless a test lowered it. The plan keeps one image of
 * every view and every buffer an algorithm allocates at or below it, and
 * CLBlast's offsets too, since CLBlast passes them to its kernels as ints.
 */
int64_t gcl_index_limit(void);

/*
 * Test-only: lowers the limit for the whole process, so that small layers
 * take the paths of layers beyond 2^31 elements (group parts, 64-bit
 * offsets, CLBlast sub-buffers). 0 restores GCL_INT_INDEX_LIMIT.
 */
void gcl_set_index_limit(int64_t elements);

#endif
