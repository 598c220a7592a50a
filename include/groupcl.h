/*
 * groupcl: grouped convolution with the semantics of Caffe's `group`
 * parameter, on any OpenCL 1.2 device.
 *
 * Lifecycle, split by cost:
 *   gcl_context_create   selects devices and creates OpenCL contexts and
 *                        queues.
 *   gcl_conv_create      validates a layer and takes a copy of its weights.
 *   gcl_plan_create      fixes the input shape, compiles the specialised
 *                        kernels and uploads the weights.
 *   gcl_plan_forward*    only enqueues work.
 *
 * Every call returns a gcl_status. On failure, gcl_last_error() returns a
 * message that names the value and the rule it broke. The message is kept
 * per thread, like errno. The library never prints unless GROUPCL_LOG is set, and
 * never exits the process.
 *
 * Tensor layouts, as C array shapes (row-major, float32):
 *   input  [batch][channels][depth][height][width]      (3 spatial axes)
 *          [batch][channels][height][width]             (2 spatial axes)
 *          [batch][channels][width]                     (1 spatial axis)
 *   weights[num_output][channels / group][k_d][k_h][k_w] (fewer axes alike)
 *          [channels][num_output / group][k_d][k_h][k_w] (transposed layers,
 *                                                        as Caffe's
 *                                                        Deconvolution)
 *   bias   [num_output]
 *   output [batch][num_output][out_d][out_h][out_w]
 *
 * Thread safety (tests/test_threads.c checks it, also under ThreadSanitizer):
 *   Contexts  may be shared by any number of threads, each creating and
 *             running its own convs and plans at once. The context's program
 *             cache and its memo of measured device throughput are locked.
 *   Convs     are read-only once created, so several threads may call
 *             gcl_plan_create on one conv at once.
 *   Plans     may be shared too: gcl_plan_forward, gcl_plan_forward_cl,
 *             gcl_plan_run_info and gcl_plan_write_trace hold the plan's
 *             mutex, so runs of one plan take turns. A second caller waits
 *             until the first call returns, which for gcl_plan_forward is
 *             after the output is written. The lock adds about 15 ns per
 *             call when no other thread holds it (measured on a 2-core AMD
 *             EPYC). Run information and traces describe the latest run,
 *             whichever thread made it.
 *   Errors    gcl_last_error and gcl_last_cl_error are kept per thread.
 * Destroying an object must not overlap any other call that uses it or
 * anything made from it. All plans of a context share the in-order queue
 * that gcl_context_create made for each device (plans with the queues:N
 * policy add queues of their own), so their commands on it run one after
 * another. Every CLBlast call of the
 * process holds one lock, because CLBlast 1.5.3 is not safe to call from
 * several threads at once. The environment variables that groupcl reads
 * must not be changed while other threads call it.
 */
#ifndef GROUPCL_H
#define GROUPCL_H

#ifndef CL_TARGET_OPENCL_VERSION
#define CL_TARGET_OPENCL_VERSION 120
#endif
#include <CL/cl.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the public interface; the library hides every other symbol. */
#if defined(GCL_BUILDING_LIBRARY) && defined(__GNUC__)
#define GCL_API __attribute__((visibility("default")))
#else
#define GCL_API
#endif

#define GCL_VERSION_MAJOR 0
#define GCL_VERSION_MINOR 1
#define GCL_VERSION_PATCH 0

/* Maximum number of spatial axes (depth, height, width). */
#define GCL_MAX_SPATIAL_DIMS 3

/* Maximum tensor rank: batch, channels and the spatial axes. */
#define GCL_MAX_RANK (GCL_MAX_SPATIAL_DIMS + 2)

/* Each value means exactly one kind of failure. */
typedef enum gcl_status {
  GCL_SUCCESS = 0,
  GCL_ERROR_INVALID_ARGUMENT = 1, /* NULL pointer or out-of-range argument */
  GCL_ERROR_INVALID_LAYER = 2,    /* the layer breaks a Caffe rule */
  GCL_ERROR_SHAPE_MISMATCH = 3,   /* a tensor shape does not fit the layer */
  GCL_ERROR_INVALID_STATE = 4,    /* the object is not ready for this call */
  GCL_ERROR_UNSUPPORTED = 5,      /* valid, but not implemented or not
                                     possible on the selected device */
  GCL_ERROR_OUT_OF_MEMORY = 6,    /* host or device memory exhausted */
  GCL_ERROR_DEVICE_NOT_FOUND = 7, /* no OpenCL device matches the request */
  GCL_ERROR_BUILD_FAILED = 8,     /* an OpenCL program failed to compile */
  GCL_ERROR_OPENCL = 9,           /* any other OpenCL call failed */
  GCL_ERROR_IO = 10               /* a file could not be written or read */
} gcl_status;

/* Returns a short constant name for a status, such as "invalid layer". */
GCL_API const char *gcl_status_string(gcl_status status);

/*
 * Returns the detailed message of the latest failed call in the calling
 * thread, or "" if none failed. The pointer stays valid until the next
 * groupcl call in the same thread.
 */
GCL_API const char *gcl_last_error(void);

/* Returns the OpenCL error code behind the latest failure, or CL_SUCCESS. */
GCL_API cl_int gcl_last_cl_error(void);

/* ------------------------------------------------------------------------ */
/* Devices                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct gcl_device_info {
  unsigned platform_index; /* position in clGetPlatformIDs */
  unsigned device_index;   /* position in clGetDeviceIDs(ALL) */
  char platform_name[128];
  char device_name[128];
  char driver_version[64];
  char opencl_c_version[64];
  cl_device_type type;
  cl_uint compute_units;
  /* The device's CL_DEVICE_GLOBAL_MEM_SIZE and CL_DEVICE_MAX_MEM_ALLOC_SIZE,
   * lowered to GROUPCL_GLOBAL_MEM_BYTES and GROUPCL_MAX_ALLOC_BYTES when
   * those are set (see the README); plans keep within them. */
  cl_ulong global_mem_bytes;
  cl_ulong max_alloc_bytes;
  cl_ulong local_mem_bytes;
  int has_fp16; /* cl_khr_fp16 */
  int has_fp64; /* cl_khr_fp64 or a double-precision capability */
} gcl_device_info;

/*
 * Lists every device of every OpenCL platform. The caller releases the array
 * with gcl_devices_free(). No platform at all is not an error: count is 0.
 */
GCL_API gcl_status gcl_devices_list(gcl_device_info **devices, size_t *count);
GCL_API void gcl_devices_free(gcl_device_info *devices);

/*
 * Formats a device type as "GPU", "CPU", "accelerator", "custom", "default"
 * or "other" into buffer; returns buffer.
 */
GCL_API const char *gcl_device_type_name(cl_device_type type, char *buffer,
                                 size_t size);

/* ------------------------------------------------------------------------ */
/* Contexts                                                                 */
/* ------------------------------------------------------------------------ */

typedef struct gcl_context gcl_context;

/*
 * Creates a context on the devices that device_spec selects. When device_spec
 * is NULL or empty, the GROUPCL_DEVICES environment variable is used, and
 * "auto" when that is unset too. Specs:
 *   auto        every GPU if there is one, else every CPU device, else all
 *   all         every device of every platform
 *   gpu, cpu    every device of that type
 *   P:D         platform P, device D (indices as in gcl_devices_list)
 *   TEXT        every device whose platform or device name contains TEXT
 *               (case-insensitive)
 * Several specs may be joined with commas ("0:0,1:0"). A spec that matches
 * nothing fails with GCL_ERROR_DEVICE_NOT_FOUND and a message listing the
 * devices that exist. Each device gets one in-order command queue, with
 * profiling enabled.
 */
GCL_API gcl_status gcl_context_create(const char *device_spec, gcl_context **context);

/*
 * Creates a context that uses the caller's OpenCL context, device and
 * in-order command queue. groupcl retains all three and releases them on
 * destroy; the caller keeps its own references.
 */
GCL_API gcl_status gcl_context_create_from_cl(cl_context cl_ctx, cl_device_id device,
                                      cl_command_queue queue,
                                      gcl_context **context);

/*
 * Destroys a context. Accepts NULL. Plans and convs must be destroyed first.
 * When the context made caffe_gemm or gemm_batched plans and no other live
 * context did, this also clears CLBlast's program cache
 * (CLBlastClearCache), because that cache would keep every destroyed
 * OpenCL context in memory. An application that calls CLBlast itself then
 * rebuilds CLBlast's kernels on its next call.
 */
GCL_API void gcl_context_destroy(gcl_context *context);

/* Returns the number of devices the context selected (at least 1). */
GCL_API size_t gcl_context_device_count(const gcl_context *context);

/* Fills info for device `index` of the context. */
GCL_API gcl_status gcl_context_device_info(const gcl_context *context, size_t index,
                                   gcl_device_info *info);

typedef struct gcl_context_stats {
  uint64_t programs_built;     /* programs compiled from source */
  uint64_t program_cache_hits; /* programs reused from the in-memory cache */
  uint64_t programs_loaded;    /* programs loaded as binaries from disk */
} gcl_context_stats;

GCL_API gcl_status gcl_context_get_stats(const gcl_context *context,
                                 gcl_context_stats *stats);

/* ------------------------------------------------------------------------ */
/* Layer description and validation (Caffe's rules)                         */
/* ------------------------------------------------------------------------ */

/*
 * A Convolution or Deconvolution layer as Caffe describes it, plus the input
 * channel count. kernel, stride, pad and dilation contain one value per
 * spatial axis, ordered as in the tensor (depth, height, width). Only the
 * first spatial_dims entries are read.
 *
 * A transposed layer (Caffe's Deconvolution) runs the convolution's
 * data gradient as its forward pass. Its weights are
 * [channels][num_output / group][kernel...]; group g builds output channels
 * g * num_output / group onwards only from its own slice of input channels,
 * and the bias is indexed by the absolute output channel.
 */
typedef struct gcl_conv_desc {
  int spatial_dims;     /* 1, 2 or 3 */
  int64_t channels;     /* input channels C */
  int64_t num_output;   /* output channels K */
  int64_t group;        /* >= 1; divides both C and K */
  int64_t kernel[GCL_MAX_SPATIAL_DIMS];   /* >= 1 */
  int64_t stride[GCL_MAX_SPATIAL_DIMS];   /* >= 1 */
  int64_t pad[GCL_MAX_SPATIAL_DIMS];      /* >= 0; before each axis, and
                                             after it unless pad_asymmetric */
  int64_t dilation[GCL_MAX_SPATIAL_DIMS]; /* >= 1 */
  int bias_term;        /* nonzero: a bias of shape [num_output] is added */
  int transposed;       /* nonzero: Deconvolution (transposed convolution) */
  /* Nonzero: pad_after is the padding after each axis, as ONNX allows, and
   * pad is only the padding before. */
  int pad_asymmetric;
  int64_t pad_after[GCL_MAX_SPATIAL_DIMS]; /* >= 0 */
  /* Transposed layers only: extra output size at the end of each axis, as in
   * PyTorch and ONNX. It must be smaller than the stride or the dilation of
   * its axis. The extra positions hold real filter taps and the bias. */
  int64_t output_padding[GCL_MAX_SPATIAL_DIMS];
} gcl_conv_desc;

/*
 * Initialises desc with Caffe's defaults: the given kernel size on every
 * axis, stride 1, pad 0, dilation 1, group 1 and bias_term 1.
 */
GCL_API void gcl_conv_desc_init(gcl_conv_desc *desc, int spatial_dims,
                        int64_t channels, int64_t num_output,
                        int64_t kernel_size);

/*
 * Checks the parts of the layer that do not depend on the input size: axes,
 * group divisibility, kernel, stride, pad and dilation ranges, and that the
 * weight tensor's size in bytes fits in int64_t.
 */
GCL_API gcl_status gcl_conv_validate(const gcl_conv_desc *desc);

/*
 * Validates the layer for an input of the given shape (rank spatial_dims + 2)
 * and writes the output shape, computed per spatial axis as in Caffe, with
 * before + after = 2 * pad for symmetric padding:
 *   convolution  out = (in + before + after - (dilation*(kernel-1) + 1))
 *                      / stride + 1
 *   transposed   out = stride*(in-1) + dilation*(kernel-1) + 1
 *                      - before - after + output_padding
 * An axis whose dilated window is larger than the padded input, or whose
 * transposed output would be below 1, is rejected. So is an input or
 * output tensor whose size in bytes does not fit in int64_t.
 */
GCL_API gcl_status gcl_conv_output_shape(const gcl_conv_desc *desc, int rank,
                                 const int64_t *input_shape,
                                 int64_t *output_shape);

/* Writes the weight shape (rank spatial_dims + 2) the layer expects:
 * (num_output, channels / group, kernel...), or for a transposed layer
 * (channels, num_output / group, kernel...). */
GCL_API gcl_status gcl_conv_weight_shape(const gcl_conv_desc *desc,
                                 int64_t *weight_shape);

/*
 * Checks a weight shape and, when bias_term is set, a bias shape against the
 * layer. bias_shape may be NULL when bias_rank is 0.
 */
GCL_API gcl_status gcl_conv_check_params(const gcl_conv_desc *desc, int weight_rank,
                                 const int64_t *weight_shape, int bias_rank,
                                 const int64_t *bias_shape);

/*
 * Computes y = conv(x) on the host with plain loops and double accumulation.
 * Slow; meant for checking results on a new device.
 */
GCL_API gcl_status gcl_conv_reference_forward(const gcl_conv_desc *desc, int rank,
                                      const int64_t *input_shape,
                                      const float *input,
                                      const float *weights, const float *bias,
                                      float *output);

/*
 * Computes the gradients of a loss with respect to the input, the weights
 * and the bias on the host, from the forward input and the output gradient,
 * with double accumulation. Each of grad_input, grad_weights and grad_bias
 * may be NULL to skip it; each one given is overwritten.
 */
GCL_API gcl_status gcl_conv_reference_backward(
    const gcl_conv_desc *desc, int rank, const int64_t *input_shape,
    const float *input, const float *weights, const float *grad_output,
    float *grad_input, float *grad_weights, float *grad_bias);

/* ------------------------------------------------------------------------ */
/* Convolutions and plans                                                   */
/* ------------------------------------------------------------------------ */

typedef struct gcl_conv gcl_conv;

/*
 * Validates desc and copies the weights (and bias, when bias_term is set;
 * else bias must be NULL). The context must outlive the conv.
 */
GCL_API gcl_status gcl_conv_create(gcl_context *context, const gcl_conv_desc *desc,
                           const float *weights, const float *bias,
                           gcl_conv **conv);

/* Destroys a conv. Accepts NULL. Its plans must be destroyed first. */
GCL_API void gcl_conv_destroy(gcl_conv *conv);

/*
 * Algorithms. Numerically, each output is the sum of the products of its
 * window's inputs and weights, plus the bias, and the zero padding adds
 * nothing. NaN, infinities and large finite values (1e30) in the input or
 * the bias, and large finite weights, reach exactly the outputs whose
 * window contains them, as in that sum, with every algorithm but winograd
 * (see GCL_ALGORITHM_WINOGRAD). A device may flush denormals to zero, as
 * OpenCL allows, so where the exact output is a denormal the result is
 * that denormal or 0 (PoCL 3.1 on an x86 CPU kept them).
 *
 * A NaN or infinite weight deviates where a window puts that filter tap in
 * the padding: caffe_gemm and gemm_batched multiply the padding's zeros,
 * so those outputs are NaN (0 * inf) where the sum is finite. direct and
 * depthwise do so only where the tap lies in the padding of the width
 * axis alone, because they skip padded rows and depth slices. pointwise
 * reads no padding. tests/test_numerics.c checks all of this.
 */
typedef enum gcl_algorithm {
  GCL_ALGORITHM_AUTO = 0,       /* the plan chooses by its cost model */
  GCL_ALGORITHM_CAFFE_GEMM = 1, /* im2col, one CLBlast SGEMM per group, bias */
  GCL_ALGORITHM_DIRECT = 2,     /* direct kernel, all groups in one launch */
  GCL_ALGORITHM_DEPTHWISE = 3,  /* group == channels, any multiplier */
  GCL_ALGORITHM_POINTWISE = 4,  /* 1x1 filters as a batched matrix product */
  GCL_ALGORITHM_GEMM_BATCHED = 5, /* im2col, one strided-batched SGEMM */
  /*
   * F(2x2, 3x3): 3x3 filters, stride 1. Its transforms add and subtract
   * the 16 inputs of a 4x4 tile and the 9 taps of a filter before they
   * multiply, which changes non-finite and extreme values:
   *   - An infinite input may come out as NaN (inf - inf) in outputs whose
   *     window contains it. Outputs outside that window are not affected.
   *   - A NaN or infinite weight makes every output of its output channel
   *     NaN or infinite, NaN where the tap lies in the padding.
   *   - A weight of magnitude W adds rounding errors proportional to
   *     |W| * max |x| to every output of its channel, also where the tap
   *     lies in the padding: up to 2^-23 |W| max |x| measured, and about
   *     2^-17 |W| max |x| at most by an estimate of the transforms'
   *     rounding.
   *   - Inputs above about FLT_MAX / 4 can overflow in the input
   *     transform, which adds four of them, and give inf or NaN where the
   *     exact output is finite.
   */
  GCL_ALGORITHM_WINOGRAD = 6,
  GCL_ALGORITHM_TRANSPOSED = 7 /* direct kernel for transposed layers */
} gcl_algorithm;

/* Number of gcl_algorithm values, GCL_ALGORITHM_AUTO included. */
#define GCL_ALGORITHM_COUNT 8

/* Returns "auto", "caffe_gemm", "direct", ... or "unknown". */
GCL_API const char *gcl_algorithm_name(gcl_algorithm algorithm);

/*
 * Finds an algorithm by name; returns GCL_ERROR_INVALID_ARGUMENT with the
 * list of names when there is none.
 */
GCL_API gcl_status gcl_algorithm_from_name(const char *name, gcl_algorithm *algorithm);

/*
 * Policy for placing a plan's groups on queues and devices. Groups are split
 * into contiguous ranges, one per slot (a device and one of its command
 * queues). When there are fewer groups than slots, the batch is split too.
 */
typedef enum gcl_schedule_policy {
  GCL_SCHEDULE_AUTO = 0,   /* the plan chooses from the layer and devices */
  GCL_SCHEDULE_SINGLE = 1, /* every group on the first device's queue */
  GCL_SCHEDULE_QUEUES = 2, /* `queues` in-order queues of the first device */
  GCL_SCHEDULE_DEVICES = 3 /* every device of the context, in proportion to
                              its throughput */
} gcl_schedule_policy;

typedef struct gcl_plan_options {
  gcl_algorithm algorithm;
  gcl_schedule_policy schedule;
  /* GCL_SCHEDULE_QUEUES: the number of queues, 1 to 64. */
  int queues;
  /*
   * GCL_SCHEDULE_DEVICES: relative throughput of each device of the
   * context (any positive unit), or NULL to measure each device once and
   * remember the result in the context.
   */
  const double *device_throughput;
  /* Nonzero: record profiling events of every run for gcl_plan_run_info
   * and gcl_plan_write_trace. */
  int profile;
  /*
   * Used with algorithm GCL_ALGORITHM_AUTO. 0 runs the winner stored in
   * the tuning database for this device and layer, else the cost model's
   * choice. Nonzero times every algorithm that supports the layer on the
   * first device, runs the fastest and stores it in the database (see
   * GROUPCL_CACHE_DIR and GROUPCL_CACHE in the README).
   */
  int tune;
  /* Nonzero: also compile the kernels and upload the weights that
   * gcl_plan_backward needs, at plan time. Else its first call does so. */
  int backward;
} gcl_plan_options;

/*
 * Parses "auto", "single", "queues:N" or "devices" into options->schedule
 * and options->queues.
 */
GCL_API gcl_status gcl_schedule_parse(const char *text, gcl_plan_options *options);

/* Sets every option to its default. */
GCL_API void gcl_plan_options_init(gcl_plan_options *options);

typedef struct gcl_plan gcl_plan;

/*
 * Plans the conv for one input shape: validates the shape, compiles the
 * specialised kernels, allocates device workspace and uploads the weights.
 * options may be NULL for the defaults.
 */
GCL_API gcl_status gcl_plan_create(gcl_conv *conv, int rank,
                           const int64_t *input_shape,
                           const gcl_plan_options *options, gcl_plan **plan);

/* Destroys a plan. Accepts NULL. */
GCL_API void gcl_plan_destroy(gcl_plan *plan);

/* Writes the output shape (rank spatial_dims + 2) of a plan. */
GCL_API gcl_status gcl_plan_output_shape(const gcl_plan *plan, int64_t *output_shape);

/* Returns the algorithm the plan runs. */
GCL_API gcl_algorithm gcl_plan_algorithm(const gcl_plan *plan);

/* One slot of a plan's placement: what runs where, and what it moves. */
typedef struct gcl_slot_info {
  size_t device_index;  /* index into the context's devices */
  unsigned queue_index; /* queue number on that device, from 0 */
  int64_t group_begin, group_end;   /* groups [begin, end) */
  int64_t batch_begin, batch_end;   /* images [begin, end) */
  int64_t input_channel_begin, input_channel_end;
  int64_t output_channel_begin, output_channel_end;
  uint64_t weight_bytes;  /* weights and bias uploaded once, at plan time */
  uint64_t input_bytes;   /* input copied to the device per call */
  uint64_t output_bytes;  /* output copied back per call */
  double share;           /* fraction of the layer's work, 0 to 1 */
} gcl_slot_info;

/* One algorithm's measured time from a plan made with options.tune. */
typedef struct gcl_tuning_result {
  gcl_algorithm algorithm;
  double seconds; /* best of the timed runs; negative if not supported */
} gcl_tuning_result;

/*
 * Copies the tuning measurements of a plan made with options.tune (one
 * entry per algorithm, in registry order) into results; *count receives
 * how many there are, 0 when the plan did not measure.
 */
GCL_API gcl_status gcl_plan_tuning_results(const gcl_plan *plan,
                                           gcl_tuning_result *results,
                                           size_t capacity, size_t *count);

/* Returns the policy the plan resolved to (never GCL_SCHEDULE_AUTO). */
GCL_API gcl_schedule_policy gcl_plan_schedule(const gcl_plan *plan);

/* Returns the number of slots of the plan's placement. */
GCL_API size_t gcl_plan_slot_count(const gcl_plan *plan);

/* Describes slot `index` of the plan's placement. */
GCL_API gcl_status gcl_plan_slot_info(const gcl_plan *plan, size_t index,
                              gcl_slot_info *info);

/*
 * How a plan splits its work to fit its devices. Before it allocates
 * anything, a plan counts every buffer it will hold on each device. These
 * are the staging of gcl_plan_forward's host arrays (counted even if only
 * gcl_plan_forward_cl is called), the slices of slots off the first
 * device, and each algorithm state's weights and workspaces. The plan
 * splits when a buffer exceeds the device's largest allocation
 * (max_alloc_bytes) or what the kernels index with 32-bit ints (2^31 - 1
 * floats), or when all of them exceed its global memory less what the
 * context's other plans hold. It then runs each slot's images in
 * sequential steps, the fewest that fit, and when one image still does not
 * fit, its groups in sequential parts. A layer that does not fit even one image of one group at a time fails
 * gcl_plan_create with GCL_ERROR_OUT_OF_MEMORY (GCL_ERROR_UNSUPPORTED for
 * the index limit) and a message with the sizes. gcl_plan_backward
 * follows the plan's split: see its description.
 */
typedef struct gcl_split_info {
  int split;               /* nonzero when the plan is split */
  int64_t images_per_step; /* images of one step, the most of any slot */
  int64_t steps;           /* steps per part, the most of any slot */
  int64_t groups_per_part; /* groups of one part, the most of any slot */
  int64_t parts;           /* group parts, the most of any slot */
  uint64_t max_device_bytes; /* bytes the plan holds on its fullest device,
                                as the plan counts them */
  char reason[512];        /* the limit that made the plan split, or "" */
} gcl_split_info;

/* Describes how the plan splits its work; see gcl_split_info. */
GCL_API gcl_status gcl_plan_split_info(const gcl_plan *plan,
                                       gcl_split_info *info);

/*
 * Timing of the latest run of a plan made with options.profile set, from
 * OpenCL profiling events. Busy time is the sum of the durations of the
 * commands of one slot, transfers included. gcl_plan_run_info fails with
 * GCL_ERROR_OUT_OF_MEMORY when the run ran out of host memory to record
 * its events.
 */
typedef struct gcl_run_info {
  double wall_seconds;  /* from the call's start to its output */
  size_t slot_count;
  double slot_busy_seconds[64];
  uint64_t bytes_moved; /* host-device traffic of the run */
} gcl_run_info;

GCL_API gcl_status gcl_plan_run_info(const gcl_plan *plan, gcl_run_info *info);

/*
 * Writes the latest run as a Chrome trace-event JSON file (open it in
 * Perfetto or chrome://tracing): one row per device queue, one span per
 * kernel and transfer. Needs options.profile. The file is written to a
 * temporary name and renamed, so a failure leaves no partial file. Fails
 * with GCL_ERROR_OUT_OF_MEMORY, as gcl_plan_run_info does, when the run's
 * timeline is incomplete.
 */
GCL_API gcl_status gcl_plan_write_trace(const gcl_plan *plan, const char *path);

/*
 * Runs the forward pass on host arrays: copies input to the device, runs,
 * and copies the result to output. Blocks until output is written.
 */
GCL_API gcl_status gcl_plan_forward(gcl_plan *plan, const float *input, float *output);

/*
 * Enqueues the forward pass on the caller's buffers after the events in
 * wait_list. input and output must belong to the OpenCL context of the
 * context's first device and hold at least the tensor sizes in bytes. When
 * done is not NULL, it receives an event of the first device's queue that
 * completes with the output; the caller releases it. Slots on other devices
 * reach the data through host memory, so with such slots the call blocks
 * until the input is ready and their results are enqueued.
 */
GCL_API gcl_status gcl_plan_forward_cl(gcl_plan *plan, cl_mem input, cl_mem output,
                               cl_uint num_wait_events,
                               const cl_event *wait_list, cl_event *done);

/*
 * The tensors of one backward call, as host arrays shaped like the forward
 * pass's tensors. Set the gradients to compute; leave the others NULL.
 */
typedef struct gcl_backward_args {
  const float *input;       /* forward input; needed for grad_weights */
  const float *grad_output; /* gradient of the loss w.r.t. the output */
  float *grad_input;        /* overwritten with the input gradient */
  float *grad_weights;      /* weight gradient, shaped like the weights */
  float *grad_bias;         /* [num_output]; the layer needs a bias term */
  /*
   * 0: add the weight and bias gradients to what grad_weights and grad_bias
   * hold, as Caffe accumulates them. Nonzero: overwrite them.
   */
  int overwrite;
} gcl_backward_args;

/*
 * Runs the backward pass of the plan's layer under the plan's placement:
 * each slot computes the gradients of its groups (and images), so groups
 * never need a reduction across devices. When the placement splits the
 * batch, the slots' weight gradients are summed on the host in slot order.
 * Every reduction runs in a fixed order, so the same arguments give bitwise
 * the same gradients on every call. Blocks until the gradients are written;
 * on failure the caller's arrays are left untouched.
 *
 * Memory: the input gradient runs through a plan of the adjoint layer,
 * which splits by the rules of gcl_split_info. The weight and bias
 * gradients run in steps when the plan is split, or when the full input
 * and output gradient would not fit the first device next to the plans'
 * buffers. Each slot's group parts then run in steps of as many images as
 * fit (halving from the slot's batch), through compact slices, one
 * blocking step at a time, and the host adds the steps' results in slot,
 * part and step order. When a step of one image does not fit, the call
 * fails with GCL_ERROR_OUT_OF_MEMORY.
 */
GCL_API gcl_status gcl_plan_backward(gcl_plan *plan, const gcl_backward_args *args);

/* Returns the OpenCL context of device `index` of the context. */
GCL_API cl_context gcl_context_cl_context(const gcl_context *context, size_t index);

/* Returns the command queue of device `index` of the context. */
GCL_API cl_command_queue gcl_context_cl_queue(const gcl_context *context,
                                      size_t index);

#ifdef __cplusplus
}
#endif

#endif /* GROUPCL_H */
