/* groupcl explain --prototxt: the convolution layers of a Caffe network. */
#ifndef GROUPCL_TOOLS_EXPLAIN_NET_H
#define GROUPCL_TOOLS_EXPLAIN_NET_H

/*
 * Reads the network at path, infers its shapes and prints every
 * Convolution, DepthwiseConvolution and Deconvolution layer (only
 * layer_name when it is not NULL) with network totals, as a table or as
 * JSON. Returns the tool's exit code: 3 when the file is malformed, a layer
 * is invalid or inference stopped, after printing what is known.
 */
int explain_network(const char *path, const char *layer_name, int json);

#endif
