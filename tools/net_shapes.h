/*
 * Shape inference for Caffe networks read from a .prototxt file: walks the
 * layers in file order, as Caffe does for phase TEST, and records the shape
 * of each layer's first bottom and first top. Convolution layers also get a
 * gcl_conv_desc, checked under Caffe's rules.
 */
#ifndef GROUPCL_TOOLS_NET_SHAPES_H
#define GROUPCL_TOOLS_NET_SHAPES_H

#include <stddef.h>
#include <stdint.h>

#include "groupcl.h"
#include "prototxt.h"

/* Caffe blobs have at most 32 axes; the networks groupcl reads use 2 to 5. */
#define NET_MAX_RANK 8

typedef struct net_shape {
  int rank; /* 0 when unknown */
  int64_t dims[NET_MAX_RANK];
} net_shape;

/* One evaluated layer, in file order. */
typedef struct net_layer {
  char *name;
  char *type;       /* the type as written; legacy enums are translated */
  int line;         /* position of the layer's opening field */
  int column;
  net_shape input;  /* first bottom; rank 0 when the layer has none */
  net_shape output; /* first top; rank 0 when unknown */

  /* Convolution, DepthwiseConvolution and Deconvolution only. */
  int is_conv;
  int transposed;      /* Deconvolution */
  int force_nd_im2col; /* read from the file, no effect on shapes */
  int64_t batch;       /* product of the axes before the channel axis */
  gcl_conv_desc desc;  /* channels taken from the input shape */
  char *invalid_reason; /* non-NULL: the layer breaks a Caffe rule */
} net_layer;

typedef struct net_blob {
  char *name;
  net_shape shape;
} net_blob;

typedef struct net_result {
  net_layer *layers;
  size_t layer_count;
  size_t layer_capacity;
  net_blob *blobs;
  size_t blob_count;
  size_t blob_capacity;
  int stopped;          /* inference ended before the last layer */
  char stop_reason[640]; /* "FILE:LINE:COLUMN: ..." when stopped */
} net_result;

/*
 * Infers the shapes of every layer of the parsed network. Returns 0 when
 * all layers were evaluated, and -1 when out of memory. Returns 1 when
 * inference stopped at an unknown layer type, a missing input shape or an
 * invalid layer, with the reason in stop_reason. The layers before the
 * stop stay in net->layers.
 */
int net_infer(const char *file_name, const ptx_node *root, net_result *net);

/* Frees what net_infer stored in net. */
void net_result_free(net_result *net);

/* Returns the last evaluated layer named name, or NULL. */
const net_layer *net_find_layer(const net_result *net, const char *name);

/* Returns the current shape of blob name, or NULL when it is unknown. */
const net_shape *net_find_blob(const net_result *net, const char *name);

/*
 * Counts weights (without bias) and multiply-accumulates of a convolution
 * layer for the whole input batch, with the layer's group (group_override
 * 0) or another one. Returns -1 when a count overflows 64 bits.
 */
int net_conv_cost(const net_layer *layer, int64_t group_override,
                  uint64_t *weights, uint64_t *macs);

#endif
