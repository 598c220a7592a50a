/*
 * Measured algorithm choice: options.tune times every candidate and stores
 * the winner; later plans take the stored winner over the cost model.
 */
#define _POSIX_C_SOURCE 200809L
#include "helpers.h"

#include "conv/plan.h"
#include "tune/tuning_db.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A ResNeXt-like layer that direct wins by the cost model. */
static const test_layer tuned_layer = {
    "tuned_g8", 2, 1, 32, 32, 8, {10, 10}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, 1,
    TEST_PLAIN_CONVOLUTION};

typedef struct tuning_fixture {
  char folder[64];
  gcl_context *context;
  gcl_conv *conv;
  int64_t shape[GCL_MAX_RANK];
  float *weights, *bias;
} tuning_fixture;

static void open_fixture(tuning_fixture *f) {
  gcl_conv_desc desc;

  snprintf(f->folder, sizeof f->folder, "/tmp/gcl_tuning_XXXXXX");
  cr_assert_not_null(mkdtemp(f->folder));
  setenv("GROUPCL_CACHE_DIR", f->folder, 1);
  unsetenv("GROUPCL_CACHE");

  f->weights = malloc(test_weight_count(&tuned_layer) * sizeof(float));
  f->bias = malloc((size_t)tuned_layer.num_output * sizeof(float));
  cr_assert(f->weights && f->bias, "out of memory");
  test_fill(f->weights, test_weight_count(&tuned_layer), 31);
  test_fill(f->bias, (size_t)tuned_layer.num_output, 32);

  f->context = test_context();
  test_layer_desc(&tuned_layer, &desc, f->shape);
  cr_assert_eq(gcl_conv_create(f->context, &desc, f->weights, f->bias,
                               &f->conv),
               GCL_SUCCESS, "%s", gcl_last_error());
}

static void close_fixture(tuning_fixture *f) {
  char command[128];

  gcl_conv_destroy(f->conv);
  gcl_context_destroy(f->context);
  free(f->weights);
  free(f->bias);
  snprintf(command, sizeof command, "rm -rf '%s'", f->folder);
  cr_assert_eq(system(command), 0);
}

static gcl_plan *plan_with(tuning_fixture *f, int tune) {
  gcl_plan_options options;
  gcl_plan *plan = NULL;

  gcl_plan_options_init(&options);
  options.tune = tune;
  options.schedule = GCL_SCHEDULE_SINGLE;
  cr_assert_eq(gcl_plan_create(f->conv, 4, f->shape, &options, &plan),
               GCL_SUCCESS, "%s", gcl_last_error());
  return plan;
}

/* Stores `name` as the winner for the fixture's layer, as a tuner would. */
static void store_winner(tuning_fixture *f, const char *name) {
  char device_key[GCL_TUNING_KEY_SIZE], layer_key[GCL_TUNING_KEY_SIZE];
  gcl_geometry geometry;
  gcl_conv_desc desc;
  int64_t shape[GCL_MAX_RANK];

  test_layer_desc(&tuned_layer, &desc, shape);
  cr_assert_eq(gcl_geometry_init(&desc, 4, shape, &geometry), GCL_SUCCESS);
  gcl_tuning_device_key(&f->context->devices[0].info, device_key,
                        sizeof device_key);
  gcl_tuning_layer_key(&geometry, layer_key, sizeof layer_key);
  cr_assert_eq(gcl_tuning_store(device_key, layer_key, name, 0.001),
               GCL_SUCCESS, "%s", gcl_last_error());
}

Test(tuning, measures_and_stores_fastest) {
  tuning_fixture f;
  gcl_tuning_result results[GCL_ALGORITHM_COUNT];
  size_t count = 0;
  double best = -1.0;
  gcl_algorithm fastest = GCL_ALGORITHM_AUTO;
  gcl_plan *plan;
  char path[128], line[4096];
  FILE *file;
  int stored = 0;

  open_fixture(&f);
  plan = plan_with(&f, 1);
  cr_assert_eq(gcl_plan_tuning_results(plan, results, GCL_ALGORITHM_COUNT,
                                       &count),
               GCL_SUCCESS);
  cr_assert_eq(count, (size_t)GCL_ALGORITHM_COUNT - 1,
               "one result per algorithm, got %zu", count);
  for (size_t i = 0; i < count; i++) {
    if (results[i].seconds >= 0.0 && (best < 0.0 || results[i].seconds < best)) {
      best = results[i].seconds;
      fastest = results[i].algorithm;
    }
  }
  cr_assert_gt(best, 0.0, "no algorithm was timed");
  cr_assert_eq(gcl_plan_algorithm(plan), fastest,
               "the plan runs %s but %s was fastest",
               gcl_algorithm_name(gcl_plan_algorithm(plan)),
               gcl_algorithm_name(fastest));

  snprintf(path, sizeof path, "%s/%s", f.folder, GCL_TUNING_FILE_NAME);
  file = fopen(path, "r");
  cr_assert_not_null(file, "no tuning database at %s", path);
  while (fgets(line, sizeof line, file) != NULL)
    stored += strstr(line, gcl_algorithm_name(fastest)) != NULL;
  fclose(file);
  cr_assert_eq(stored, 1, "the winner is stored %d times", stored);

  gcl_plan_destroy(plan);
  close_fixture(&f);
}

Test(tuning, stored_winner_beats_cost_model) {
  tuning_fixture f;
  gcl_plan *plan;

  open_fixture(&f);
  plan = plan_with(&f, 0);
  cr_assert_neq(gcl_plan_algorithm(plan), GCL_ALGORITHM_CAFFE_GEMM,
                "the cost model should not pick caffe_gemm here");
  gcl_plan_destroy(plan);

  store_winner(&f, "caffe_gemm");
  plan = plan_with(&f, 0);
  cr_assert_eq(gcl_plan_algorithm(plan), GCL_ALGORITHM_CAFFE_GEMM,
               "the stored winner was not used");
  gcl_plan_destroy(plan);
  close_fixture(&f);
}

Test(tuning, unknown_stored_name_is_ignored) {
  tuning_fixture f;
  gcl_plan *plan;

  open_fixture(&f);
  store_winner(&f, "winograd_from_the_future");
  plan = plan_with(&f, 0);
  cr_assert_neq(gcl_plan_algorithm(plan), GCL_ALGORITHM_AUTO);
  cr_assert_neq(gcl_plan_algorithm(plan), GCL_ALGORITHM_CAFFE_GEMM);
  gcl_plan_destroy(plan);
  close_fixture(&f);
}

Test(tuning, cache_off_uses_cost_model) {
  tuning_fixture f;
  gcl_plan *plan;

  open_fixture(&f);
  store_winner(&f, "caffe_gemm");
  setenv("GROUPCL_CACHE", "off", 1);
  plan = plan_with(&f, 0);
  cr_assert_neq(gcl_plan_algorithm(plan), GCL_ALGORITHM_CAFFE_GEMM);
  gcl_plan_destroy(plan);
  close_fixture(&f);
}

Test(tuning, untuned_plan_has_no_results) {
  tuning_fixture f;
  gcl_tuning_result results[GCL_ALGORITHM_COUNT];
  size_t count = 99;
  gcl_plan *plan;

  open_fixture(&f);
  plan = plan_with(&f, 0);
  cr_assert_eq(gcl_plan_tuning_results(plan, results, GCL_ALGORITHM_COUNT,
                                       &count),
               GCL_SUCCESS);
  cr_assert_eq(count, 0);
  gcl_plan_destroy(plan);
  close_fixture(&f);
}
