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
    geometry->dilation[axis] = present ? desc->dilation[source] : 1;
  }

  geometry->in_size = geometry->in[0] * geometry->in[1] * geometry->in[2];
  geometry->out_size = geometry->out[0] * geometry->out[1] * geometry->out[2];
  geometry->kernel_size =
      geometry->kernel[0] * geometry->kernel[1] * geometry->kernel[2];
  return GCL_SUCCESS;
}

double gcl_geometry_macs(const gcl_geometry *geometry) {
  return (double)geometry->batch * (double)geometry->num_output *
         (double)geometry->out_size * (double)geometry->channels_per_group *
         (double)geometry->kernel_size;
}
