/*
 * The internal program cache (lib/program/program_cache.h): one build per
 * (context, device, source, options), build failures reported with the
 * compiler log and options, GROUPCL_BUILD_OPTIONS, and the embedded kernels.
 */
#define _POSIX_C_SOURCE 200809L
#include "helpers.h"
#include "program/program_cache.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#define assert_status(actual, expected, label)                                 \
  cr_assert_eq((actual), (expected),                                           \
               "%s: status %d (%s), expected %d (%s); gcl_last_error(): %s",   \
               (label), (int)(actual), gcl_status_string(actual),              \
               (int)(expected), gcl_status_string(expected), gcl_last_error())

#define assert_error_contains(text, label)                                     \
  cr_assert(strstr(gcl_last_error(), (text)) != NULL,                          \
            "%s: gcl_last_error() should contain \"%s\" but is \"%s\"",        \
            (label), (text), gcl_last_error())

static const char valid_source[] =
    "__kernel void add_one(__global float *data) {\n"
    "  data[get_global_id(0)] += 1.0f;\n"
    "}\n";

/* Uses an identifier that nothing declares. */
static const char broken_source[] =
    "__kernel void broken(__global float *data) {\n"
    "  data[get_global_id(0)] = undeclared_scale_factor;\n"
    "}\n";

/* Compiles only when the build defines NEEDED. */
static const char needs_define_source[] =
    "#ifndef NEEDED\n"
    "#error NEEDED_is_not_defined\n"
    "#endif\n"
    "__kernel void scale(__global float *data) {\n"
    "  data[get_global_id(0)] *= (float)NEEDED;\n"
    "}\n";

/* A groupcl context for its OpenCL objects, and a cache of the test's own. */
typedef struct cache_fixture {
  gcl_context *context;
  cl_context cl_ctx;
  cl_device_id device;
  gcl_program_cache *cache;
} cache_fixture;

static void fixture_open(cache_fixture *f) {
  cl_int code;

  /* The environment of the test run must not change the options, and a
   * warm disk cache must not turn the counted builds into loads. */
  unsetenv("GROUPCL_BUILD_OPTIONS");
  cr_assert_eq(setenv("GROUPCL_CACHE", "off", 1), 0);
  memset(f, 0, sizeof *f);
  f->context = test_context();
  f->cl_ctx = gcl_context_cl_context(f->context, 0);
  cr_assert_not_null(f->cl_ctx, "the context has no OpenCL context");
  code = clGetContextInfo(f->cl_ctx, CL_CONTEXT_DEVICES, sizeof f->device,
                          &f->device, NULL);
  cr_assert_eq(code, CL_SUCCESS, "clGetContextInfo(CL_CONTEXT_DEVICES): %d",
               code);
  f->cache = gcl_program_cache_create();
  cr_assert_not_null(f->cache, "gcl_program_cache_create failed");
}

static void fixture_close(cache_fixture *f) {
  gcl_program_cache_destroy(f->cache);
  gcl_context_destroy(f->context);
}

static gcl_status build(cache_fixture *f, const char *file_name,
                        const char *source, const char *options,
                        cl_program *program) {
  return gcl_program_build(f->cache, f->cl_ctx, f->device, file_name, source,
                           options, program);
}

/* Fails unless the cache counted exactly `built` builds and `hits` hits,
 * and no loads from disk. */
static void expect_counts(const cache_fixture *f, uint64_t built,
                          uint64_t hits) {
  uint64_t actual_built = 0, actual_hits = 0, actual_loaded = 0;

  gcl_program_cache_stats(f->cache, &actual_built, &actual_hits,
                          &actual_loaded);
  cr_assert_eq(actual_built, built, "%llu builds counted, expected %llu",
               (unsigned long long)actual_built, (unsigned long long)built);
  cr_assert_eq(actual_hits, hits, "%llu cache hits counted, expected %llu",
               (unsigned long long)actual_hits, (unsigned long long)hits);
  cr_assert_eq(actual_loaded, 0,
               "%llu programs loaded from disk with GROUPCL_CACHE=off",
               (unsigned long long)actual_loaded);
}

/* ---- caching ---------------------------------------------------------------- */

Test(program_cache, second_build_is_hit) {
  cache_fixture f;
  cl_program first = NULL, second = NULL;

  fixture_open(&f);
  expect_counts(&f, 0, 0);
  assert_status(build(&f, "add_one.cl", valid_source, "-DWIDTH=4", &first),
                GCL_SUCCESS, "first build");
  cr_assert_not_null(first, "the first build returned no program");
  expect_counts(&f, 1, 0);

  assert_status(build(&f, "add_one.cl", valid_source, "-DWIDTH=4", &second),
                GCL_SUCCESS, "second build");
  cr_assert_eq(second, first, "the second build returned another program");
  expect_counts(&f, 1, 1);
  fixture_close(&f);
}

Test(program_cache, other_options_build_again) {
  cache_fixture f;
  cl_program narrow = NULL, wide = NULL;

  fixture_open(&f);
  assert_status(build(&f, "add_one.cl", valid_source, "-DWIDTH=4", &narrow),
                GCL_SUCCESS, "WIDTH=4");
  assert_status(build(&f, "add_one.cl", valid_source, "-DWIDTH=8", &wide),
                GCL_SUCCESS, "WIDTH=8");
  cr_assert_neq(wide, narrow, "other options returned the cached program");
  expect_counts(&f, 2, 0);
  fixture_close(&f);
}

Test(program_cache, other_source_builds_again) {
  static const char renamed_source[] =
      "__kernel void add_two(__global float *data) {\n"
      "  data[get_global_id(0)] += 2.0f;\n"
      "}\n";
  cache_fixture f;
  cl_program first = NULL, second = NULL;

  fixture_open(&f);
  assert_status(build(&f, "add_one.cl", valid_source, "", &first),
                GCL_SUCCESS, "add_one");
  assert_status(build(&f, "add_two.cl", renamed_source, "", &second),
                GCL_SUCCESS, "add_two");
  cr_assert_neq(second, first, "another source returned the cached program");
  expect_counts(&f, 2, 0);
  fixture_close(&f);
}

Test(program_cache, program_has_kernel) {
  cache_fixture f;
  cl_program program = NULL;
  cl_kernel kernel;
  cl_int code;

  fixture_open(&f);
  assert_status(build(&f, "add_one.cl", valid_source, "", &program),
                GCL_SUCCESS, "build");
  kernel = clCreateKernel(program, "add_one", &code);
  cr_assert_eq(code, CL_SUCCESS, "clCreateKernel(add_one): %d", code);
  clReleaseKernel(kernel);
  fixture_close(&f);
}

/* ---- build failures ------------------------------------------------------- */

Test(program_build, reports_log_and_options) {
  cache_fixture f;
  cl_program program = (cl_program)&f; /* any non-NULL value */

  fixture_open(&f);
  assert_status(build(&f, "tests/broken_kernel.cl", broken_source,
                      "-DFIRST=1 -DSECOND", &program),
                GCL_ERROR_BUILD_FAILED, "broken source");
  cr_assert_null(program, "a failed build returned program %p",
                 (void *)program);
  assert_error_contains("kernel build failed", "broken source");
  assert_error_contains("tests/broken_kernel.cl", "broken source");
  assert_error_contains("'-cl-std=CL1.2 -DFIRST=1 -DSECOND'", "broken source");
  assert_error_contains("undeclared_scale_factor", "broken source");
  cr_assert_eq(gcl_last_cl_error(), CL_BUILD_PROGRAM_FAILURE,
               "gcl_last_cl_error() is %d, expected %d", gcl_last_cl_error(),
               CL_BUILD_PROGRAM_FAILURE);
  expect_counts(&f, 0, 0);
  fixture_close(&f);
}

Test(program_build, failure_leaves_no_entry) {
  cache_fixture f;
  cl_program program = NULL;

  fixture_open(&f);
  for (int attempt = 1; attempt <= 2; attempt++) {
    gcl_status status =
        build(&f, "broken.cl", broken_source, "-DFIRST=1", &program);

    cr_assert_eq(status, GCL_ERROR_BUILD_FAILED,
                 "attempt %d: status %s, expected a build failure", attempt,
                 gcl_status_string(status));
    assert_error_contains("undeclared_scale_factor", "repeated failure");
  }
  expect_counts(&f, 0, 0);

  assert_status(build(&f, "add_one.cl", valid_source, "-DFIRST=1", &program),
                GCL_SUCCESS, "valid source after failures");
  cr_assert_not_null(program, "no program after a successful build");
  expect_counts(&f, 1, 0);
  assert_status(build(&f, "add_one.cl", valid_source, "-DFIRST=1", &program),
                GCL_SUCCESS, "valid source again");
  expect_counts(&f, 1, 1);
  fixture_close(&f);
}

Test(program_build, rejects_missing_source) {
  cache_fixture f;
  cl_program program = NULL;

  fixture_open(&f);
  assert_status(build(&f, "kernels/missing.cl", NULL, "", &program),
                GCL_ERROR_INVALID_ARGUMENT, "NULL source");
  assert_error_contains("kernels/missing.cl", "NULL source");
  expect_counts(&f, 0, 0);
  fixture_close(&f);
}

/* ---- GROUPCL_BUILD_OPTIONS ------------------------------------------------ */

Test(program_build, environment_adds_options) {
  cache_fixture f;
  cl_program program = NULL;

  fixture_open(&f);
  assert_status(build(&f, "needs_define.cl", needs_define_source, "-DOTHER",
                      &program),
                GCL_ERROR_BUILD_FAILED, "without GROUPCL_BUILD_OPTIONS");
  assert_error_contains("NEEDED_is_not_defined",
                        "without GROUPCL_BUILD_OPTIONS");

  cr_assert_eq(setenv("GROUPCL_BUILD_OPTIONS", "-DNEEDED=3", 1), 0);
  assert_status(build(&f, "needs_define.cl", needs_define_source, "-DOTHER",
                      &program),
                GCL_SUCCESS, "with GROUPCL_BUILD_OPTIONS=-DNEEDED=3");
  cr_assert_not_null(program, "no program with GROUPCL_BUILD_OPTIONS");
  expect_counts(&f, 1, 0);
  fixture_close(&f);
}

Test(program_build, message_shows_environment_options) {
  cache_fixture f;
  cl_program program = NULL;

  fixture_open(&f);
  cr_assert_eq(setenv("GROUPCL_BUILD_OPTIONS", "-DFROM_ENVIRONMENT=7", 1), 0);
  assert_status(build(&f, "broken.cl", broken_source, "-DFIRST=1", &program),
                GCL_ERROR_BUILD_FAILED, "broken source");
  assert_error_contains("'-cl-std=CL1.2 -DFIRST=1 -DFROM_ENVIRONMENT=7'",
                        "broken source");
  fixture_close(&f);
}

/* ---- embedded kernel sources ---------------------------------------------- */

Test(kernel_sources, finds_embedded_files) {
  const char *im2col = gcl_kernel_source_text("kernels/im2col.cl");
  const char *bias = gcl_kernel_source_text("kernels/bias.cl");

  cr_assert_not_null(im2col, "kernels/im2col.cl is not embedded");
  cr_assert(strstr(im2col, "gcl_im2col") != NULL,
            "kernels/im2col.cl lacks the gcl_im2col kernel");
  cr_assert_not_null(bias, "kernels/bias.cl is not embedded");
  cr_assert_str_not_empty(bias, "kernels/bias.cl is empty");
}

Test(kernel_sources, unknown_name_is_null) {
  static const char *const names[] = {"kernels/missing.cl", "im2col.cl",
                                      "kernels/im2col", ""};

  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    cr_assert_null(gcl_kernel_source_text(names[i]),
                   "\"%s\" returned a source", names[i]);
}
