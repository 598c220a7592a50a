#include "conv/conv.h"

#include "util/alloc.h"
#include "util/error.h"

#include <stdlib.h>
#include <string.h>

gcl_status gcl_conv_create(gcl_context *context, const gcl_conv_desc *desc,
                           const float *weights, const float *bias,
                           gcl_conv **conv) {
  int64_t weight_shape[GCL_MAX_RANK];
  gcl_conv *created;
  size_t count = 1;
  gcl_status status;

  gcl_clear_error();
  if (context == NULL || desc == NULL || weights == NULL || conv == NULL)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "gcl_conv_create: context, desc, weights and conv must "
                    "not be NULL");
  *conv = NULL;

  status = gcl_conv_weight_shape(desc, weight_shape);
  if (status != GCL_SUCCESS)
    return status;
  if (desc->bias_term && bias == NULL)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "gcl_conv_create: the layer has bias_term 1 but bias is "
                    "NULL; pass %lld bias values or set bias_term 0",
                    (long long)desc->num_output);
  if (!desc->bias_term && bias != NULL)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "gcl_conv_create: bias is given but the layer has "
                    "bias_term 0");

  for (int i = 0; i < desc->spatial_dims + 2; i++)
    count *= (size_t)weight_shape[i];

  created = gcl_calloc(1, sizeof *created);
  if (created == NULL)
    return gcl_fail(GCL_ERROR_OUT_OF_MEMORY, "out of host memory");
  created->context = context;
  created->desc = *desc;
  created->weight_count = count;
  created->weights = gcl_malloc(count * sizeof *created->weights);
  if (desc->bias_term)
    created->bias =
        gcl_malloc((size_t)desc->num_output * sizeof *created->bias);
  if (created->weights == NULL || (desc->bias_term && created->bias == NULL)) {
    gcl_conv_destroy(created);
    return gcl_fail(GCL_ERROR_OUT_OF_MEMORY,
                    "out of host memory copying %zu weights", count);
  }

  memcpy(created->weights, weights, count * sizeof *weights);
  if (desc->bias_term)
    memcpy(created->bias, bias, (size_t)desc->num_output * sizeof *bias);
  *conv = created;
  return GCL_SUCCESS;
}

void gcl_conv_destroy(gcl_conv *conv) {
  if (conv == NULL)
    return;
  gcl_free(conv->weights);
  gcl_free(conv->bias);
  gcl_free(conv);
}
