/*
 * oneDNN side of `groupcl bench`: one grouped convolution through the
 * oneDNN 2.x C API, with NCHW user memories reordered into and out of the
 * formats the primitive chooses.
 */
#define _POSIX_C_SOURCE 200809L

#include "onednn_bench.h"

#include <stdio.h>
#include <string.h>

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

#include "cli.h"

#if DNNL_VERSION_MAJOR != 2
#error "onednn_bench.c needs the oneDNN 2.x C API, which configure checks"
#endif

/* A user memory in groupcl's layout and the primitive's copy of it. */
typedef struct onednn_tensor {
  dnnl_memory_t user;      /* wraps the caller's array */
  dnnl_memory_t primitive; /* the primitive's format; equals user when the
                              formats match */
  dnnl_primitive_t reorder; /* between the two, or NULL when they match */
} onednn_tensor;

typedef struct onednn_session {
  dnnl_engine_t engine;
  dnnl_stream_t stream;
  dnnl_primitive_desc_t conv_desc;
  dnnl_primitive_t conv;
  onednn_tensor src;
  onednn_tensor weights;
  onednn_tensor dst;
  dnnl_memory_t bias; /* NULL without a bias */
  char *message;
  size_t message_size;
} onednn_session;

void onednn_bench_version(char *buffer, size_t size) {
  const dnnl_version_t *version = dnnl_version();
  const char *runtime = "other threading";
  if (version->cpu_runtime == DNNL_RUNTIME_OMP) {
    runtime = "OpenMP";
  } else if (version->cpu_runtime == DNNL_RUNTIME_TBB) {
    runtime = "TBB";
  } else if (version->cpu_runtime == DNNL_RUNTIME_SEQ) {
    runtime = "sequential";
  }
  snprintf(buffer, size, "oneDNN %d.%d.%d (%s)", version->major,
           version->minor, version->patch, runtime);
}

/*
 * Maps a oneDNN status to an outcome, writing what failed into the
 * session's message. dnnl_unimplemented means that no implementation fits
 * the layer, which the bench reports as n/a rather than as an error.
 */
static int check(onednn_session *session, dnnl_status_t status,
                 const char *what) {
  if (status == dnnl_success) {
    return ONEDNN_OK;
  }
  if (status == dnnl_unimplemented) {
    snprintf(session->message, session->message_size,
             "oneDNN has no implementation for this layer (%s)", what);
    return ONEDNN_UNSUPPORTED;
  }
  snprintf(session->message, session->message_size, "oneDNN: %s failed: %s",
           what, dnnl_status2str(status));
  return ONEDNN_FAILED;
}

/* ------------------------------------------------------------------------ */
/* Memory descriptors                                                       */

static dnnl_format_tag_t activation_tag(int rank) {
  switch (rank) {
  case 3:
    return dnnl_ncw;
  case 4:
    return dnnl_nchw;
  default:
    return dnnl_ncdhw;
  }
}

/*
 * Describes groupcl's weights [K][C/G][k...]. With groups, oneDNN wants the
 * same bytes seen as [G][K/G][C/G][k...] (goihw), one more dimension.
 */
static void describe_weights(const onednn_layer *layer, dnnl_dims_t dims,
                             int *ndims, dnnl_format_tag_t *tag) {
  const gcl_conv_desc *desc = layer->desc;
  const int spatial_dims = layer->rank - 2;
  int axis = 0;

  if (desc->group > 1) {
    dims[axis++] = desc->group;
  }
  dims[axis++] = desc->num_output / desc->group;
  dims[axis++] = desc->channels / desc->group;
  for (int i = 0; i < spatial_dims; i++) {
    dims[axis++] = desc->kernel[i];
  }
  *ndims = axis;

  static const dnnl_format_tag_t plain[] = {dnnl_oiw, dnnl_oihw, dnnl_oidhw};
  static const dnnl_format_tag_t grouped[] = {dnnl_goiw, dnnl_goihw,
                                              dnnl_goidhw};
  *tag = desc->group > 1 ? grouped[spatial_dims - 1] : plain[spatial_dims - 1];
}

static void copy_dims(int count, const int64_t *from, dnnl_dims_t to) {
  for (int i = 0; i < count; i++) {
    to[i] = from[i];
  }
}

/* Creates the convolution primitive, letting it choose every format. */
static int create_convolution(onednn_session *session,
                              const onednn_layer *layer) {
  const gcl_conv_desc *desc = layer->desc;
  const int spatial_dims = layer->rank - 2;
  dnnl_dims_t src_dims, dst_dims, weight_dims, bias_dims = {desc->num_output};
  dnnl_dims_t strides, dilates, padding;
  int weight_ndims = 0;
  dnnl_format_tag_t weight_tag;

  copy_dims(layer->rank, layer->input_shape, src_dims);
  copy_dims(layer->rank, layer->output_shape, dst_dims);
  describe_weights(layer, weight_dims, &weight_ndims, &weight_tag);
  for (int i = 0; i < spatial_dims; i++) {
    strides[i] = desc->stride[i];
    dilates[i] = desc->dilation[i] - 1; /* oneDNN counts skipped taps */
    padding[i] = desc->pad[i];
  }

  dnnl_memory_desc_t src_md, weight_md, bias_md, dst_md;
  int rc = check(session,
                 dnnl_memory_desc_init_by_tag(&src_md, layer->rank, src_dims,
                                              dnnl_f32, dnnl_format_tag_any),
                 "describing the input");
  if (rc == ONEDNN_OK) {
    rc = check(session,
               dnnl_memory_desc_init_by_tag(&weight_md, weight_ndims,
                                            weight_dims, dnnl_f32,
                                            dnnl_format_tag_any),
               "describing the weights");
  }
  if (rc == ONEDNN_OK) {
    rc = check(session,
               dnnl_memory_desc_init_by_tag(&bias_md, 1, bias_dims, dnnl_f32,
                                            dnnl_x),
               "describing the bias");
  }
  if (rc == ONEDNN_OK) {
    rc = check(session,
               dnnl_memory_desc_init_by_tag(&dst_md, layer->rank, dst_dims,
                                            dnnl_f32, dnnl_format_tag_any),
               "describing the output");
  }

  /* Caffe pads both sides alike, and oneDNN's output size formula rounds
   * down as Caffe's does, so the right padding equals the left. */
  dnnl_convolution_desc_t conv_op;
  if (rc == ONEDNN_OK) {
    rc = check(session,
               dnnl_dilated_convolution_forward_desc_init(
                   &conv_op, dnnl_forward_inference, dnnl_convolution_auto,
                   &src_md, &weight_md, desc->bias_term ? &bias_md : NULL,
                   &dst_md, strides, dilates, padding, padding),
               "describing the convolution");
  }
  if (rc == ONEDNN_OK) {
    rc = check(session,
               dnnl_primitive_desc_create(&session->conv_desc, &conv_op, NULL,
                                          session->engine, NULL),
               "creating the convolution primitive descriptor");
  }
  if (rc == ONEDNN_OK) {
    rc = check(session,
               dnnl_primitive_create(&session->conv, session->conv_desc),
               "creating the convolution primitive");
  }
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Tensors                                                                  */

/*
 * Wraps the caller's array as the user memory and, when the primitive's
 * format differs, allocates the primitive's memory and a reorder between
 * them: user to primitive when to_primitive is set, else back.
 */
static int create_tensor(onednn_session *session, int ndims,
                         const dnnl_dims_t dims, dnnl_format_tag_t user_tag,
                         dnnl_query_t query, void *data, int to_primitive,
                         onednn_tensor *tensor) {
  dnnl_memory_desc_t user_md;
  const dnnl_memory_desc_t *primitive_md =
      dnnl_primitive_desc_query_md(session->conv_desc, query, 0);
  int rc = check(session,
                 dnnl_memory_desc_init_by_tag(&user_md, ndims, dims, dnnl_f32,
                                              user_tag),
                 "describing a user tensor");
  if (rc == ONEDNN_OK) {
    rc = check(session,
               dnnl_memory_create(&tensor->user, &user_md, session->engine,
                                  data),
               "wrapping a user tensor");
  }
  if (rc != ONEDNN_OK) {
    return rc;
  }
  if (dnnl_memory_desc_equal(&user_md, primitive_md)) {
    tensor->primitive = tensor->user;
    return ONEDNN_OK;
  }

  rc = check(session,
             dnnl_memory_create(&tensor->primitive, primitive_md,
                                session->engine, DNNL_MEMORY_ALLOCATE),
             "allocating a tensor in the primitive's format");
  dnnl_primitive_desc_t reorder_desc = NULL;
  if (rc == ONEDNN_OK) {
    const dnnl_memory_desc_t *from = to_primitive ? &user_md : primitive_md;
    const dnnl_memory_desc_t *to = to_primitive ? primitive_md : &user_md;
    rc = check(session,
               dnnl_reorder_primitive_desc_create(&reorder_desc, from,
                                                  session->engine, to,
                                                  session->engine, NULL),
               "creating a reorder");
  }
  if (rc == ONEDNN_OK) {
    rc = check(session, dnnl_primitive_create(&tensor->reorder, reorder_desc),
               "creating a reorder primitive");
  }
  if (reorder_desc != NULL) {
    dnnl_primitive_desc_destroy(reorder_desc);
  }
  return rc;
}

static int run_reorder(onednn_session *session, const onednn_tensor *tensor,
                       int to_primitive) {
  if (tensor->reorder == NULL) {
    return ONEDNN_OK;
  }
  dnnl_exec_arg_t args[2] = {
      {DNNL_ARG_FROM, to_primitive ? tensor->user : tensor->primitive},
      {DNNL_ARG_TO, to_primitive ? tensor->primitive : tensor->user}};
  return check(session,
               dnnl_primitive_execute(tensor->reorder, session->stream, 2,
                                      args),
               "running a reorder");
}

static int create_tensors(onednn_session *session, const onednn_layer *layer,
                          float *output) {
  const gcl_conv_desc *desc = layer->desc;
  const dnnl_format_tag_t tag = activation_tag(layer->rank);
  dnnl_dims_t src_dims, dst_dims, weight_dims, bias_dims = {desc->num_output};
  int weight_ndims = 0;
  dnnl_format_tag_t weight_tag;

  copy_dims(layer->rank, layer->input_shape, src_dims);
  copy_dims(layer->rank, layer->output_shape, dst_dims);
  describe_weights(layer, weight_dims, &weight_ndims, &weight_tag);

  /* oneDNN only reads the input, weights and bias, so casting away const
   * is safe. */
  int rc = create_tensor(session, layer->rank, src_dims, tag,
                         dnnl_query_src_md, (void *)layer->input, 1,
                         &session->src);
  if (rc == ONEDNN_OK) {
    rc = create_tensor(session, weight_ndims, weight_dims, weight_tag,
                       dnnl_query_weights_md, (void *)layer->weights, 1,
                       &session->weights);
  }
  if (rc == ONEDNN_OK) {
    rc = create_tensor(session, layer->rank, dst_dims, tag, dnnl_query_dst_md,
                       output, 0, &session->dst);
  }
  if (rc == ONEDNN_OK && desc->bias_term) {
    dnnl_memory_desc_t bias_md;
    rc = check(session,
               dnnl_memory_desc_init_by_tag(&bias_md, 1, bias_dims, dnnl_f32,
                                            dnnl_x),
               "describing the bias");
    if (rc == ONEDNN_OK) {
      rc = check(session,
                 dnnl_memory_create(&session->bias, &bias_md, session->engine,
                                    (void *)layer->bias),
                 "wrapping the bias");
    }
  }
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Running                                                                  */

/* Reorders the weights once, as an inference program would at load time. */
static int prepare_weights(onednn_session *session) {
  int rc = run_reorder(session, &session->weights, 1);
  if (rc == ONEDNN_OK) {
    rc = check(session, dnnl_stream_wait(session->stream),
               "waiting for the weight reorder");
  }
  return rc;
}

/* One forward pass as an NCHW caller runs it, to completion. */
static int run_forward(onednn_session *session) {
  dnnl_exec_arg_t args[4] = {
      {DNNL_ARG_SRC, session->src.primitive},
      {DNNL_ARG_WEIGHTS, session->weights.primitive},
      {DNNL_ARG_DST, session->dst.primitive},
      {DNNL_ARG_BIAS, session->bias}};
  const int arg_count = session->bias != NULL ? 4 : 3;

  int rc = run_reorder(session, &session->src, 1);
  if (rc == ONEDNN_OK) {
    rc = check(session,
               dnnl_primitive_execute(session->conv, session->stream,
                                      arg_count, args),
               "running the convolution");
  }
  if (rc == ONEDNN_OK) {
    rc = run_reorder(session, &session->dst, 0);
  }
  if (rc == ONEDNN_OK) {
    rc = check(session, dnnl_stream_wait(session->stream),
               "waiting for the convolution");
  }
  return rc;
}

static void release_tensor(onednn_tensor *tensor) {
  if (tensor->reorder != NULL) {
    dnnl_primitive_destroy(tensor->reorder);
  }
  if (tensor->primitive != NULL && tensor->primitive != tensor->user) {
    dnnl_memory_destroy(tensor->primitive);
  }
  if (tensor->user != NULL) {
    dnnl_memory_destroy(tensor->user);
  }
}

static void release_session(onednn_session *session) {
  release_tensor(&session->src);
  release_tensor(&session->weights);
  release_tensor(&session->dst);
  if (session->bias != NULL) {
    dnnl_memory_destroy(session->bias);
  }
  if (session->conv != NULL) {
    dnnl_primitive_destroy(session->conv);
  }
  if (session->conv_desc != NULL) {
    dnnl_primitive_desc_destroy(session->conv_desc);
  }
  if (session->stream != NULL) {
    dnnl_stream_destroy(session->stream);
  }
  if (session->engine != NULL) {
    dnnl_engine_destroy(session->engine);
  }
}

/* Creates the engine, stream, primitives and memories, and the weights. */
static int set_up(onednn_session *session, const onednn_layer *layer,
                  float *output) {
  int rc = check(session, dnnl_engine_create(&session->engine, dnnl_cpu, 0),
                 "creating the CPU engine");
  if (rc == ONEDNN_OK) {
    rc = check(session,
               dnnl_stream_create(&session->stream, session->engine,
                                  dnnl_stream_default_flags),
               "creating a stream");
  }
  if (rc == ONEDNN_OK) {
    rc = create_convolution(session, layer);
  }
  if (rc == ONEDNN_OK) {
    rc = create_tensors(session, layer, output);
  }
  if (rc == ONEDNN_OK) {
    rc = prepare_weights(session);
  }
  return rc;
}

int onednn_bench_run(const onednn_layer *layer, int warmup, int runs,
                     onednn_timing *timing, float *output, char *message,
                     size_t message_size) {
  onednn_session session;
  memset(&session, 0, sizeof session);
  session.message = message;
  session.message_size = message_size;

  const double setup_start = cli_now_ms();
  int rc = set_up(&session, layer, output);
  timing->setup_ms = cli_now_ms() - setup_start;

  for (int run = 0; run < warmup + runs && rc == ONEDNN_OK; run++) {
    const double start = cli_now_ms();
    rc = run_forward(&session);
    if (run >= warmup) {
      timing->run_ms[run - warmup] = cli_now_ms() - start;
    }
  }

  release_session(&session);
  return rc;
}
