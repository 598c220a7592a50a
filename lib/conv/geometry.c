#include "conv/conv.h"

#include "util/error.h"

gcl_status gcl_geometry_init(const gcl_conv_desc *desc, int rank,
                             const int64_t *input_shape,
                             gcl_geometry *geometry) {
  int64_t output_shape[GCL_MAX_RANK];
  gcl_status status;
  int offset;

  status = gcl_conv_output_shape(desc, rank, input_shape, output_shape);
  if (status != GCL_SUCCESS)
    return status;

  geometry->spatial_dims = desc->spatial_dims;
  geometry->batch = input_shape[0];
  geometry->channels = desc->channels;
  geometry->num_output = desc->num_output;
  geometry->group = desc->group;
  geometry->channels_per_group = desc->channels / desc->group;
  geometry->outputs_per_group = desc->num_output / desc->group;
  geometry->bias_term = desc->bias_term != 0;
  geometry->transposed = desc->transposed != 0;

  /* Leading axes that the layer does not have act as size-1 axes. */
  offset = GCL_MAX_SPATIAL_DIMS - desc->spatial_dims;
  for (int axis = 0; axis < GCL_MAX_SPATIAL_DIMS; axis++) {
    int source = axis - offset;
    int present = source >= 0;

    geometry->in[axis] = present ? input_shape[2 + source] : 1;
    geometry->out[axis] = present ? output_shape[2 + source] : 1;
    geometry->kernel[axis] = present ? desc->kernel[source] : 1;
    geometry->stride[axis] = present ? desc->stride[source] : 1;
    geometry->pad[axis] = present ? desc->pad[source] : 0;
    geometry->pad_after[axis] = present ? gcl_pad_after(desc, source) : 0;
    geometry->output_padding[axis] =
        present && desc->transposed ? desc->output_padding[source] : 0;
    geometry->dilation[axis] = present ? desc->dilation[source] : 1;
  }

  geometry->in_size = geometry->in[0] * geometry->in[1] * geometry->in[2];
  geometry->out_size = geometry->out[0] * geometry->out[1] * geometry->out[2];
  geometry->kernel_size =
      geometry->kernel[0] * geometry->kernel[1] * geometry->kernel[2];
  return GCL_SUCCESS;
}

/* Swaps the two sides of a layer and drops its bias. */
static void swap_sides(const gcl_geometry *layer, gcl_geometry *swapped) {
  *swapped = *layer;
  swapped->channels = layer->num_output;
  swapped->num_output = layer->channels;
  swapped->channels_per_group = layer->outputs_per_group;
  swapped->outputs_per_group = layer->channels_per_group;
  swapped->in_size = layer->out_size;
  swapped->out_size = layer->in_size;
  for (int axis = 0; axis < 3; axis++) {
    swapped->in[axis] = layer->out[axis];
    swapped->out[axis] = layer->in[axis];
  }
  swapped->bias_term = 0;
}

void gcl_geometry_relation(const gcl_geometry *layer,
                           gcl_geometry *relation) {
  if (!layer->transposed) {
    *relation = *layer;
    relation->bias_term = 0;
    return;
  }
  swap_sides(layer, relation);
  relation->transposed = 0;
  for (int axis = 0; axis < 3; axis++)
    relation->output_padding[axis] = 0;
}

void gcl_geometry_adjoint(const gcl_geometry *layer, gcl_geometry *adjoint) {
  swap_sides(layer, adjoint);
  adjoint->transposed = !layer->transposed;
  for (int axis = 0; axis < 3; axis++)
    adjoint->output_padding[axis] = 0;
}

/* The multiply-accumulates run on the convolution's side: each output of
 * the relation's small side meets channels_per_group x kernel_size inputs. */
double gcl_geometry_macs(const gcl_geometry *geometry) {
  gcl_geometry r;

  gcl_geometry_relation(geometry, &r);
  return (double)r.batch * (double)r.num_output * (double)r.out_size *
         (double)r.channels_per_group * (double)r.kernel_size;
}
