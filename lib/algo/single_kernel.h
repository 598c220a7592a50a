/*
 * Code shared by the direct, depthwise and pointwise algorithms. Each runs
 * one specialised OpenCL kernel per forward pass over all images and
 * groups, with the argument list
 *   (input, input_offset, input_image_stride, input_elements,
 *    weights, bias, output, output_offset, output_image_stride)
 * where offsets and strides are in floats, input_elements is the size of
 * the input buffer in floats, and all five are 64-bit (cl_long).
 */
#ifndef GCL_ALGO_SINGLE_KERNEL_H
#define GCL_ALGO_SINGLE_KERNEL_H

#include "algo/algo_common.h"

/* State of one prepared layer: its kernel, weights and work sizes. */
typedef struct gcl_single_kernel {
  gcl_geometry geometry;
  cl_kernel kernel;
  cl_mem weights;    /* in the layout the kernel expects */
  cl_mem bias;       /* NULL without bias_term */
  size_t global[3];
  size_t local[3];   /* all 0 to let the driver choose */
  const char *label; /* timeline label of the launch */
} gcl_single_kernel;

/*
 * Returns 1 if the kernel's 32-bit row and column arithmetic covers every
 * spatial axis of the layer, padding, stride and dilation included, else 0
 * with the reason. Tensor and weight sizes are not checked here: the plan
 * splits the layer until one image and every buffer fit (lib/sched/split.c).
 */
int gcl_single_kernel_fits(const gcl_geometry *geometry, char *reason,
                           size_t reason_size);

/*
 * Estimates the seconds of one launch: the layer's FLOPs at `efficiency`
 * times the device's arithmetic peak, plus one pass over input, output and
 * weights at the device's memory bandwidth, plus a fixed launch overhead.
 */
double gcl_single_kernel_seconds(const gcl_geometry *geometry,
                                 const gcl_device_info *device,
                                 double efficiency);

/*
 * Returns the block size, at most max, that splits total into the fewest
 * blocks of nearly equal size: ceil(total / ceil(total / max)).
 */
int64_t gcl_balanced_block(int64_t total, int64_t max);

/* Returns the vector width for rows of `width` outputs: 16 lanes, or 8 or
 * 4 when that covers the row. */
int64_t gcl_vector_width(int64_t width);

/*
 * Returns 1 if the direct and depthwise kernels can unroll their loads for
 * tiles of `rows` output rows, else 0 with the reason. The limit is 2048
 * input rows times filter columns, because PoCL's compile time grows with
 * the unrolled body.
 */
int gcl_unrolled_loads_fit(const gcl_geometry *geometry, int64_t rows,
                           char *reason, size_t reason_size);

/* Returns size / (ceil(size / block) * block): the share of the blocks
 * that cover an axis of `size` elements that falls inside the axis. */
double gcl_block_use(int64_t size, int64_t block);

/*
 * Returns the weights repacked for the direct and pointwise kernels:
 *   packed[group][blocks][channels_per_group][kernel_size][block],
 *   packed[g][b][c][t][j] = weights[g*KG + b*block + j][c][t],
 * where KG = outputs_per_group and blocks = ceil(KG / block). Entries with
 * b*block + j >= KG are zero. Returns NULL when out of host memory; the
 * caller frees the result.
 */
float *gcl_pack_weight_blocks(const gcl_geometry *geometry, int64_t block,
                              const float *weights, size_t *count);

/* Allocates a state for geometry, with no kernel or buffers yet. */
gcl_status gcl_single_kernel_create(const gcl_geometry *geometry,
                                    const char *label,
                                    gcl_single_kernel **state);

/*
 * Builds kernels/FILE_NAME with the geometry's -D options, HAS_BIAS and
 * the algorithm's tuning options, and creates kernel KERNEL_NAME.
 */
gcl_status gcl_single_kernel_build(gcl_single_kernel *state,
                                   gcl_context *context, size_t device_index,
                                   const char *file_name,
                                   const char *kernel_name,
                                   const char *tuning_options);

/* Uploads weight_elements weights, already in the kernel's layout, and the
 * bias when the layer has one. */
gcl_status gcl_single_kernel_upload(gcl_single_kernel *state,
                                    gcl_context *context, size_t device_index,
                                    const float *weights,
                                    size_t weight_elements, const float *bias);

/* Repacks the weights with gcl_pack_weight_blocks and uploads them and the
 * bias. */
gcl_status gcl_single_kernel_upload_blocks(gcl_single_kernel *state,
                                           gcl_context *context,
                                           size_t device_index, int64_t block,
                                           const float *weights,
                                           const float *bias);

/* Enqueues the kernel on the views. It is the algorithms' enqueue entry. */
gcl_status gcl_single_kernel_enqueue(void *state, const gcl_launch *launch,
                                     const gcl_tensor_view *input,
                                     const gcl_tensor_view *output);

/* Releases a state and accepts NULL. It is the algorithms' release entry. */
void gcl_single_kernel_release(void *state);

#endif
