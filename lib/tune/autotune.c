#include "tune/autotune.h"

#include "tune/measure.h"
#include "tune/tuning_db.h"
#include "util/error.h"
#include "util/log.h"

/* Timed runs per candidate after the warm-up; the best one counts. */
#define GCL_TUNING_RUNS 3

static void layer_keys(const gcl_plan *plan, char *device_key,
                       char *layer_key) {
  gcl_tuning_device_key(&plan->context->devices[0].info, device_key,
                        GCL_TUNING_KEY_SIZE);
  gcl_tuning_layer_key(&plan->geometry, layer_key, GCL_TUNING_KEY_SIZE);
}

const gcl_algo *gcl_tuned_algorithm(const gcl_plan *plan) {
  const gcl_device_info *device = &plan->context->devices[0].info;
  char device_key[GCL_TUNING_KEY_SIZE], layer_key[GCL_TUNING_KEY_SIZE];
  char name[64], reason[256];
  gcl_algorithm id;
  const gcl_algo *algo;
  double seconds;
  int found = 0;

  layer_keys(plan, device_key, layer_key);
  if (gcl_tuning_lookup(device_key, layer_key, name, sizeof name, &seconds,
                        &found) != GCL_SUCCESS ||
      !found)
    return NULL;

  /* A name from another version may be unknown or decline the layer, and
   * lower memory limits may leave no room for it. */
  if (gcl_algorithm_from_name(name, &id) != GCL_SUCCESS ||
      (algo = gcl_algo_find(id)) == NULL ||
      !algo->supports(&plan->geometry, device, reason, sizeof reason) ||
      !gcl_split_feasible(plan->context, &plan->geometry, algo, 0, reason,
                          sizeof reason)) {
    GCL_LOG_WARN("ignoring the tuned algorithm '%s' for this layer", name);
    gcl_clear_error();
    return NULL;
  }
  GCL_LOG_INFO("tuning database: %s (%.3f ms)", name, seconds * 1e3);
  return algo;
}

/*
 * Times an algorithm on the first device. A layer that must split is timed
 * on one (part, step) unit of its split, scaled by the number of units, so
 * that tuning never allocates more than the plan would.
 */
static gcl_status time_split(gcl_plan *plan, const gcl_conv *conv,
                             const gcl_algo *algo, double *seconds) {
  gcl_geometry unit;
  int64_t units = 1;
  gcl_status status;

  status = gcl_split_probe(plan->context, &plan->geometry, algo, 0, &unit,
                           &units);
  if (status == GCL_SUCCESS)
    status = gcl_time_algorithm(algo, &unit, plan->context, 0, conv->weights,
                                conv->bias, GCL_TUNING_RUNS, seconds);
  if (status == GCL_SUCCESS)
    *seconds *= (double)units;
  return status;
}

gcl_status gcl_tune_algorithms(gcl_plan *plan, const gcl_conv *conv,
                               const gcl_algo **winner) {
  const gcl_device_info *device = &plan->context->devices[0].info;
  const gcl_algo *list[GCL_ALGORITHM_COUNT];
  size_t count = gcl_algo_list(list, GCL_ALGORITHM_COUNT);
  char device_key[GCL_TUNING_KEY_SIZE], layer_key[GCL_TUNING_KEY_SIZE];
  double best = -1.0;

  *winner = NULL;
  plan->tuning_count = 0;
  for (size_t i = 0; i < count && i < GCL_ALGORITHM_COUNT; i++) {
    gcl_tuning_result *result = &plan->tuning[plan->tuning_count++];
    char reason[256];
    gcl_status status;

    result->algorithm = list[i]->id;
    result->seconds = -1.0;
    if (!list[i]->supports(&plan->geometry, device, reason, sizeof reason) ||
        !gcl_split_feasible(plan->context, &plan->geometry, list[i], 0,
                            reason, sizeof reason))
      continue;
    status = time_split(plan, conv, list[i], &result->seconds);
    if (status != GCL_SUCCESS)
      return status;
    GCL_LOG_INFO("tuning: %s %.3f ms", list[i]->name, result->seconds * 1e3);
    if (best < 0.0 || result->seconds < best) {
      best = result->seconds;
      *winner = list[i];
    }
  }
  if (*winner == NULL)
    return gcl_fail(GCL_ERROR_UNSUPPORTED,
                    "no algorithm can run this layer on device '%s'",
                    device->device_name);

  /* The database only saves time later; a failed store is not an error. */
  layer_keys(plan, device_key, layer_key);
  if (gcl_tuning_store(device_key, layer_key, (*winner)->name, best) !=
      GCL_SUCCESS) {
    GCL_LOG_WARN("could not store the tuning result: %s", gcl_last_error());
    gcl_clear_error();
  }
  return GCL_SUCCESS;
}
