#include "algo/algo.h"

#include <stddef.h>

/* Every algorithm, in the order the plan prefers them when several apply. */
static const gcl_algo *const algorithms[] = {&gcl_algo_caffe_gemm};

const gcl_algo *gcl_algo_find(gcl_algorithm id) {
  for (size_t i = 0; i < sizeof algorithms / sizeof algorithms[0]; i++) {
    if (algorithms[i]->id == id)
      return algorithms[i];
  }
  return NULL;
}

const char *gcl_algorithm_name(gcl_algorithm algorithm) {
  const gcl_algo *algo = gcl_algo_find(algorithm);

  if (algorithm == GCL_ALGORITHM_AUTO)
    return "auto";
  return algo != NULL ? algo->name : "unknown";
}
