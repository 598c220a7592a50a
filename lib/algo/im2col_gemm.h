/*
 * Shared parts of the two im2col + GEMM algorithms, caffe_gemm and
 * gemm_batched: the column matrix of one image, the im2col and bias
 * kernels, and the weights in Caffe's layout. The two differ only in how
 * they call CLBlast.
 */
#ifndef GCL_ALGO_IM2COL_GEMM_H
#define GCL_ALGO_IM2COL_GEMM_H

#include "algo/algo_common.h"

typedef struct gcl_im2col_state {
  gcl_geometry geometry;
  cl_kernel im2col;
  cl_kernel add_bias; /* NULL without bias_term */
  cl_mem weights;     /* Caffe's layout: group g's matrix at g * m * k */
  cl_mem bias;
  cl_mem columns; /* [channels * kernel_size][out_size], one image */
} gcl_im2col_state;

/* Elements of one image's column matrix. */
int64_t gcl_im2col_column_elements(const gcl_geometry *geometry);

/* Returns 1 for a convolution, else 0 with the reason. Sizes are the
 * plan's concern: it splits the layer until every buffer fits. */
int gcl_im2col_supports(const gcl_geometry *geometry, char *reason,
                        size_t reason_size);

/*
 * Lists the weights, bias, column matrix and CLBlast's temporary buffers.
 * batched: one strided-batched SGEMM over all groups (gemm_batched), which
 * pads every group's matrices at once, instead of one SGEMM per group.
 */
void gcl_im2col_device_buffers(const gcl_geometry *geometry, int batched,
                               gcl_buffer_sizes *sizes);

/*
 * A part of a buffer as CLBlast can address it. CLBlast passes offsets to
 * its kernels as 32-bit ints, so a region that ends beyond
 * gcl_index_limit() is reached through a sub-buffer (`sub`, else NULL)
 * that starts at the nearest aligned address below it.
 */
typedef struct gcl_blas_region {
  cl_mem buffer;
  size_t offset; /* in floats, from the start of buffer */
  cl_mem sub;    /* released by gcl_blas_region_release */
} gcl_blas_region;

/* Describes `elements` floats at `offset` of buffer for a CLBlast call on
 * queue. */
gcl_status gcl_blas_region_get(cl_command_queue queue, cl_mem buffer,
                               size_t offset, size_t elements,
                               gcl_blas_region *region);

/* Releases the region's sub-buffer, if any. OpenCL keeps it alive until
 * the commands that use it have finished. */
void gcl_blas_region_release(gcl_blas_region *region);

/* Builds the kernels and uploads the weights, bias and workspace. */
gcl_status gcl_im2col_prepare(const gcl_geometry *geometry,
                              gcl_context *context, size_t device_index,
                              const float *weights, const float *bias,
                              gcl_im2col_state **state);

/* Releases a state. Accepts NULL. */
void gcl_im2col_release(gcl_im2col_state *state);

/* Fails unless the views lie inside their buffers and one image of each
 * fits the kernels' 32-bit indexing. */
gcl_status gcl_im2col_check_views(const gcl_im2col_state *state,
                                  const gcl_tensor_view *input,
                                  const gcl_tensor_view *output);

/* Enqueues the im2col of one image of the input view into the columns. */
gcl_status gcl_im2col_expand(gcl_im2col_state *state,
                             const gcl_launch *launch,
                             const gcl_tensor_view *input, int64_t image);

/* Enqueues the bias over every image of the output view. */
gcl_status gcl_im2col_add_bias(gcl_im2col_state *state,
                               const gcl_launch *launch,
                               const gcl_tensor_view *output);

/*
 * Take and release the process-wide lock that every CLBlast call holds.
 * CLBlast 1.5.3, the version in Debian 12, is not safe to call from several
 * threads at once. Its Database constructor fills a static table on first
 * use without a lock, which ThreadSanitizer reports. And when two threads
 * miss its program cache for the same kernel, both store the program, and
 * the second store throws "object already in cache", which fails that
 * call. Upstream fixed the second race in July 2023 (CLBlast pull request
 * 495).
 */
void gcl_clblast_lock(void);
void gcl_clblast_unlock(void);

/* Turns a failed CLBlast call into a status with a message naming it. */
gcl_status gcl_clblast_failure(int code, const char *call, const char *unit,
                               long long index);

#endif
