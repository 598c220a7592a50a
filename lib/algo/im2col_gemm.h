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

/* Returns 1 if every tensor fits the kernels' 32-bit indices, else 0 with
 * the sizes in reason. */
int gcl_im2col_supports(const gcl_geometry *geometry, char *reason,
                        size_t reason_size);

size_t gcl_im2col_workspace_bytes(const gcl_geometry *geometry);

/* Builds the kernels and uploads the weights, bias and workspace. */
gcl_status gcl_im2col_prepare(const gcl_geometry *geometry,
                              gcl_context *context, size_t device_index,
                              const float *weights, const float *bias,
                              gcl_im2col_state **state);

/* Releases a state. Accepts NULL. */
void gcl_im2col_release(gcl_im2col_state *state);

/* Fails unless every element the views reach fits an int. */
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
