#include "algo/algo.h"

#include "util/error.h"

#include <stddef.h>
#include <string.h>

/* Defined in the algorithm's own file, lib/algo/NAME.c. */
extern const gcl_algo gcl_algo_depthwise;
extern const gcl_algo gcl_algo_pointwise;
extern const gcl_algo gcl_algo_direct;
extern const gcl_algo gcl_algo_gemm_batched;
extern const gcl_algo gcl_algo_winograd;
extern const gcl_algo gcl_algo_transposed;

/* Every algorithm, in the order the plan prefers them when estimates tie:
 * the specialised kernels before the general ones. */
static const gcl_algo *const algorithms[] = {
    &gcl_algo_depthwise, &gcl_algo_pointwise, &gcl_algo_direct,
    &gcl_algo_winograd, &gcl_algo_gemm_batched, &gcl_algo_caffe_gemm,
    &gcl_algo_transposed};

#define ALGORITHM_COUNT (sizeof algorithms / sizeof algorithms[0])

const gcl_algo *gcl_algo_find(gcl_algorithm id) {
  for (size_t i = 0; i < ALGORITHM_COUNT; i++) {
    if (algorithms[i]->id == id)
      return algorithms[i];
  }
  return NULL;
}

size_t gcl_algo_list(const gcl_algo **list, size_t capacity) {
  for (size_t i = 0; i < ALGORITHM_COUNT && i < capacity; i++)
    list[i] = algorithms[i];
  return ALGORITHM_COUNT;
}

const char *gcl_algorithm_name(gcl_algorithm algorithm) {
  const gcl_algo *algo = gcl_algo_find(algorithm);

  if (algorithm == GCL_ALGORITHM_AUTO)
    return "auto";
  return algo != NULL ? algo->name : "unknown";
}

gcl_status gcl_algorithm_from_name(const char *name,
                                   gcl_algorithm *algorithm) {
  char known[256] = "auto";

  gcl_clear_error();
  if (name == NULL || algorithm == NULL)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "gcl_algorithm_from_name: name and algorithm must not "
                    "be NULL");
  if (strcmp(name, "auto") == 0) {
    *algorithm = GCL_ALGORITHM_AUTO;
    return GCL_SUCCESS;
  }
  for (size_t i = 0; i < ALGORITHM_COUNT; i++) {
    if (strcmp(name, algorithms[i]->name) == 0) {
      *algorithm = algorithms[i]->id;
      return GCL_SUCCESS;
    }
    strncat(known, ", ", sizeof known - strlen(known) - 1);
    strncat(known, algorithms[i]->name, sizeof known - strlen(known) - 1);
  }
  return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                  "unknown algorithm '%s'; known algorithms: %s", name, known);
}
