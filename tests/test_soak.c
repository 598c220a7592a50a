/*
 * Soak: creates, runs and destroys thousands of convs and plans, and a
 * dozen contexts, over a mix of layers, algorithms, schedules and both
 * entry points. Every output is compared with the test reference. After
 * each destroy, the counts of OpenCL objects that groupcl created and has
 * not released (lib/util/cl_objects.h) must be back at exactly their
 * values before the create, and the resident set must stay flat once
 * every kind of plan has run.
 *
 * GROUPCL_SOAK_PLANS (default 5000) and GROUPCL_SOAK_CONTEXTS (default 12)
 * set the length of a run. Each test prints its numbers to stderr.
 */
/* For malloc_trim, a glibc extension. */
#define _GNU_SOURCE
#include "helpers.h"
#include "layer_table.h"

#include "util/cl_objects.h"
#include "util/fault.h"

#include <criterion/criterion.h>
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_PLANS 5000
#define DEFAULT_CONTEXTS 12

/*
 * Allowed growth of the resident set from the end of the warm-up to the
 * end of a run. After the warm-up every program is cached and every
 * allocation size has been seen, so a steady state reuses its memory. On
 * PoCL 3.1, 5000 plans grew it by at most 0.11 MiB and 12 contexts by at
 * most 0.45 MiB, so the bound leaves a margin of 4 for allocator and
 * driver noise. Being fixed, it catches a leak of 2 MiB / 5000 = 420 bytes
 * per plan in the default run, less in longer runs, and 170 KB per
 * context; a context kept alive by CLBlast's cache costs about 4 MB here.
 * The object counts catch any leaked OpenCL object exactly, and
 * LeakSanitizer smaller host leaks.
 * NOTE: without glibc's malloc_trim, freed heap memory stays resident and
 * the context test can exceed the bound with no leak behind it.
 */
#define RESIDENT_GROWTH_BOUND (2L << 20)

/* AddressSanitizer keeps freed memory in its quarantine, so the resident
 * set grows with every allocation (23 MiB over 400 plans). Builds with it
 * check only the object counts here, and leave host leaks to LeakSanitizer. */
#if defined(__SANITIZE_ADDRESS__)
#define CHECKS_RESIDENT_SET 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CHECKS_RESIDENT_SET 0
#endif
#endif
#ifndef CHECKS_RESIDENT_SET
#define CHECKS_RESIDENT_SET 1
#endif

/* Plans on the first context repeat every case and variant this often
 * before the resident set is sampled. */
#define WARMUP_ROUNDS 2

/* Contexts run before the resident set is sampled: the first loads the
 * driver's compiler and fills the disk cache. */
#define WARMUP_CONTEXTS 2

/* Small layers, so that thousands of plans run in seconds; between them,
 * every algorithm and 1-D, 2-D and 3-D layers. */
static const test_layer soak_layers[] = {
    L2("grouped_3x3", 2, 8, 8, 2, 10, 10, 3, 3, 1, 1, 1, 1, 1, 1, 1),
    L2("depthwise_stride2", 1, 8, 16, 8, 12, 12, 3, 3, 2, 2, 1, 1, 1, 1, 1),
    L2("pointwise_group4", 2, 16, 8, 4, 7, 7, 1, 1, 1, 1, 0, 0, 1, 1, 0),
    L1("dilated_1d", 2, 4, 6, 2, 20, 5, 1, 2, 2, 1),
    L3("grouped_3d", 1, 4, 4, 2, 5, 6, 6, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1,
       1),
};

#define LAYER_COUNT (sizeof soak_layers / sizeof soak_layers[0])

typedef struct soak_case {
  size_t layer;
  gcl_algorithm algorithm;
} soak_case;

static const soak_case soak_cases[] = {
    {0, GCL_ALGORITHM_DIRECT},       {0, GCL_ALGORITHM_WINOGRAD},
    {0, GCL_ALGORITHM_GEMM_BATCHED}, {0, GCL_ALGORITHM_CAFFE_GEMM},
    {1, GCL_ALGORITHM_DEPTHWISE},    {1, GCL_ALGORITHM_DIRECT},
    {2, GCL_ALGORITHM_POINTWISE},    {2, GCL_ALGORITHM_GEMM_BATCHED},
    {3, GCL_ALGORITHM_DIRECT},       {3, GCL_ALGORITHM_CAFFE_GEMM},
    {4, GCL_ALGORITHM_DIRECT},       {4, GCL_ALGORITHM_GEMM_BATCHED},
};

#define CASE_COUNT (sizeof soak_cases / sizeof soak_cases[0])

/*
 * How a plan is made and run: the schedule, profiling (which records
 * events), and the host-pointer or cl_mem entry point. The devices policy
 * runs slots on other devices, with their copy queues and host threads,
 * when the context has several (tests/two_devices.sh). It gets fixed
 * device throughputs: measured ones vary with the load, and each new split
 * of the groups compiles new programs, whose compiler memory would count
 * as growth.
 */
typedef struct soak_variant {
  const char *label;
  gcl_schedule_policy schedule;
  int queues;
  int profile;
  int use_cl_buffers;
} soak_variant;

static const soak_variant soak_variants[] = {
    {"single", GCL_SCHEDULE_SINGLE, 1, 0, 0},
    {"queues:2, profiled", GCL_SCHEDULE_QUEUES, 2, 1, 0},
    {"auto, cl_mem", GCL_SCHEDULE_AUTO, 1, 0, 1},
    {"queues:3, profiled, cl_mem", GCL_SCHEDULE_QUEUES, 3, 1, 1},
    {"devices, profiled", GCL_SCHEDULE_DEVICES, 1, 1, 0},
    {"devices, cl_mem", GCL_SCHEDULE_DEVICES, 1, 0, 1},
};

#define VARIANT_COUNT (sizeof soak_variants / sizeof soak_variants[0])

/* Equal throughput for each device of a context, for the devices policy;
 * open_context fills one entry per device. */
#define MAX_DEVICES 16
static double equal_throughput[MAX_DEVICES];

/* A layer's data and its reference output, made once per test. */
typedef struct layer_data {
  float *input, *weights, *bias, *output;
  float *grad_input, *grad_weights, *grad_bias; /* backward scratch */
  double *expected, *magnitude;
  size_t n_in, n_out;
} layer_data;

/* A context with the cl_mem tensors of every layer, and the object counts
 * right after it was created. */
typedef struct soak_context {
  gcl_context *context;
  cl_mem inputs[LAYER_COUNT];
  cl_mem outputs[LAYER_COUNT];
  long base[GCL_CL_OBJECT_KINDS];
} soak_context;

static layer_data all_data[LAYER_COUNT];

/* ---- measurements ---------------------------------------------------------- */

/* Reads a positive count from the environment, or returns fallback. */
static long count_from_env(const char *name, long fallback) {
  const char *text = getenv(name);
  char *end = NULL;
  long value;

  if (text == NULL || text[0] == '\0')
    return fallback;
  errno = 0;
  value = strtol(text, &end, 10);
  cr_assert(errno == 0 && *end == '\0' && value > 0,
            "%s='%s' is invalid; set a positive whole number", name, text);
  return value;
}

/*
 * Returns the resident set in bytes, from /proc/self/statm (Linux). With
 * glibc, it first returns free heap memory to the system: without that,
 * 20 contexts grew the resident set by 16 MiB, all of which malloc_trim
 * gave back.
 */
static long resident_bytes(void) {
  FILE *file;

#ifdef __GLIBC__
  malloc_trim(0);
#endif
  file = fopen("/proc/self/statm", "r");
  long size_pages = 0, resident_pages = 0;
  int fields;

  cr_assert_not_null(file, "cannot open /proc/self/statm: %s",
                     strerror(errno));
  fields = fscanf(file, "%ld %ld", &size_pages, &resident_pages);
  fclose(file);
  cr_assert_eq(fields, 2, "/proc/self/statm has no resident-set field");
  return resident_pages * sysconf(_SC_PAGESIZE);
}

static double seconds_now(void) {
  struct timespec now;

  timespec_get(&now, TIME_UTC);
  return (double)now.tv_sec + 1e-9 * (double)now.tv_nsec;
}

static double mebibytes(long bytes) { return (double)bytes / 1048576.0; }

/* Fails if the resident set grew by the bound or more over a run of
 * `count` `unit`, unless the build cannot measure it. */
static void expect_flat(long before, long after, long count,
                        const char *unit) {
  if (!CHECKS_RESIDENT_SET) {
    fprintf(stderr, "soak: the resident set is not checked under "
                    "AddressSanitizer, whose quarantine keeps freed memory\n");
    return;
  }
  cr_assert_lt(after - before, RESIDENT_GROWTH_BOUND,
               "the resident set grew by %.2f MiB over %ld %s, more than "
               "the %.0f MiB allowed",
               mebibytes(after - before), count, unit,
               mebibytes(RESIDENT_GROWTH_BOUND));
}

static void count_objects(long counts[GCL_CL_OBJECT_KINDS]) {
  for (int kind = 0; kind < GCL_CL_OBJECT_KINDS; kind++)
    counts[kind] = gcl_cl_objects_live((gcl_cl_object)kind);
}

/* Fails unless every kind's count equals expected, naming the step. */
static void expect_objects(const long expected[GCL_CL_OBJECT_KINDS],
                           const char *step, long iteration) {
  for (int kind = 0; kind < GCL_CL_OBJECT_KINDS; kind++) {
    long live = gcl_cl_objects_live((gcl_cl_object)kind);

    cr_assert_eq(live, expected[kind],
                 "%s (iteration %ld): %ld OpenCL %s object(s) held, "
                 "expected %ld",
                 step, iteration, live,
                 gcl_cl_object_name((gcl_cl_object)kind), expected[kind]);
  }
}

/*
 * Expects the counts of a context with no conv or plan: those right after
 * its creation, plus one program per entry of its program cache, which
 * lives as long as the context.
 */
static void expect_idle_context(const soak_context *soak, const char *step,
                                long iteration) {
  long expected[GCL_CL_OBJECT_KINDS];
  gcl_context_stats stats;

  cr_assert_eq(gcl_context_get_stats(soak->context, &stats), GCL_SUCCESS,
               "%s", gcl_last_error());
  memcpy(expected, soak->base, sizeof expected);
  expected[GCL_CL_PROGRAM] +=
      (long)(stats.programs_built + stats.programs_loaded);
  expect_objects(expected, step, iteration);
}

/* ---- data and contexts ------------------------------------------------------ */

static void open_data(void) {
  for (size_t i = 0; i < LAYER_COUNT; i++) {
    const test_layer *layer = &soak_layers[i];
    layer_data *data = &all_data[i];
    size_t n_w = test_weight_count(layer);

    data->n_in = test_input_count(layer);
    data->n_out = test_output_count(layer);
    data->input = malloc(data->n_in * sizeof *data->input);
    data->weights = malloc(n_w * sizeof *data->weights);
    data->bias = malloc((size_t)layer->num_output * sizeof *data->bias);
    data->output = malloc(data->n_out * sizeof *data->output);
    data->expected = malloc(data->n_out * sizeof *data->expected);
    data->magnitude = malloc(data->n_out * sizeof *data->magnitude);
    data->grad_input = malloc(data->n_in * sizeof *data->grad_input);
    data->grad_weights = malloc(n_w * sizeof *data->grad_weights);
    data->grad_bias =
        malloc((size_t)layer->num_output * sizeof *data->grad_bias);
    cr_assert(data->input && data->weights && data->bias && data->output &&
                  data->expected && data->magnitude && data->grad_input &&
                  data->grad_weights && data->grad_bias,
              "out of memory");
    test_fill(data->input, data->n_in, 11 + i);
    test_fill(data->weights, n_w, 23 + i);
    test_fill(data->bias, (size_t)layer->num_output, 37 + i);
    test_reference_with_magnitude(layer, data->input, data->weights,
                                  layer->bias_term ? data->bias : NULL,
                                  data->expected, data->magnitude);
  }
}

static void close_data(void) {
  for (size_t i = 0; i < LAYER_COUNT; i++) {
    layer_data *data = &all_data[i];

    free(data->input);
    free(data->weights);
    free(data->bias);
    free(data->output);
    free(data->expected);
    free(data->magnitude);
    free(data->grad_input);
    free(data->grad_weights);
    free(data->grad_bias);
  }
}

/*
 * Runs the backward pass with the forward output as the output gradient,
 * so that every plan also makes and releases the backward pass's adjoint
 * plan, kernels and buffers. The gradients' values are checked in
 * tests/test_backward.c.
 */
static void run_backward(gcl_plan *plan, const test_layer *layer,
                         layer_data *data, const char *what,
                         long iteration) {
  gcl_backward_args args = {0};

  args.input = data->input;
  args.grad_output = data->output;
  args.grad_input = data->grad_input;
  args.grad_weights = data->grad_weights;
  args.grad_bias = layer->bias_term ? data->grad_bias : NULL;
  args.overwrite = 1;
  cr_assert_eq(gcl_plan_backward(plan, &args), GCL_SUCCESS,
               "%s (iteration %ld): backward: %s", what, iteration,
               gcl_last_error());
}

static void open_context(soak_context *soak) {
  cl_context cl_ctx;

  memset(soak, 0, sizeof *soak);
  soak->context = test_context();
  cr_assert_leq(gcl_context_device_count(soak->context), MAX_DEVICES,
                "the context has more than %d devices", MAX_DEVICES);
  for (size_t d = 0; d < gcl_context_device_count(soak->context); d++)
    equal_throughput[d] = 1.0;
  count_objects(soak->base);
  cl_ctx = gcl_context_cl_context(soak->context, 0);
  for (size_t i = 0; i < LAYER_COUNT; i++) {
    layer_data *data = &all_data[i];
    cl_int code = CL_SUCCESS;

    soak->inputs[i] = clCreateBuffer(
        cl_ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
        data->n_in * sizeof(float), data->input, &code);
    cr_assert_eq(code, CL_SUCCESS, "clCreateBuffer for the input: %d", code);
    soak->outputs[i] = clCreateBuffer(cl_ctx, CL_MEM_READ_WRITE,
                                      data->n_out * sizeof(float), NULL,
                                      &code);
    cr_assert_eq(code, CL_SUCCESS, "clCreateBuffer for the output: %d", code);
  }
}

static void close_context(soak_context *soak) {
  for (size_t i = 0; i < LAYER_COUNT; i++) {
    clReleaseMemObject(soak->inputs[i]);
    clReleaseMemObject(soak->outputs[i]);
  }
  gcl_context_destroy(soak->context);
  soak->context = NULL;
}

/* ---- one iteration -------------------------------------------------------- */

/* Runs the plan through the caller's buffers and reads the output back. */
static gcl_status run_on_cl_buffers(const soak_context *soak, size_t layer,
                                    gcl_plan *plan, float *output) {
  cl_command_queue queue = gcl_context_cl_queue(soak->context, 0);
  size_t bytes = all_data[layer].n_out * sizeof(float);
  const float poison = NAN;
  cl_event filled = NULL, done = NULL;
  gcl_status status;
  cl_int code;

  /* NaN first, so that a run that writes nothing cannot pass. The plan's
     other queues wait for the fill through the wait list. */
  code = clEnqueueFillBuffer(queue, soak->outputs[layer], &poison,
                             sizeof poison, 0, bytes, 0, NULL, &filled);
  cr_assert_eq(code, CL_SUCCESS, "clEnqueueFillBuffer: %d", code);
  status = gcl_plan_forward_cl(plan, soak->inputs[layer],
                               soak->outputs[layer], 1, &filled, &done);
  clReleaseEvent(filled);
  if (status != GCL_SUCCESS)
    return status;
  cr_assert_eq(clWaitForEvents(1, &done), CL_SUCCESS,
               "waiting for the done event");
  clReleaseEvent(done);
  code = clEnqueueReadBuffer(queue, soak->outputs[layer], CL_TRUE, 0, bytes,
                             output, 0, NULL, NULL);
  cr_assert_eq(code, CL_SUCCESS, "clEnqueueReadBuffer: %d", code);
  return GCL_SUCCESS;
}

/* Fails at the first output outside test_expect_close's bound. It asserts
 * only on a failure, because it runs over every output of every plan. */
static void expect_reference(const layer_data *data, const char *what,
                             long iteration) {
  for (size_t i = 0; i < data->n_out; i++) {
    double bound = 1e-6 + 3e-6 * data->magnitude[i];
    double error = fabs((double)data->output[i] - data->expected[i]);

    if (!(error <= bound))
      cr_assert_fail("%s (iteration %ld): output %zu is %.9g, expected "
                     "%.9g (bound %.3g)",
                     what, iteration, i, (double)data->output[i],
                     data->expected[i], bound);
  }
}

static void fill_nan(float *data, size_t count) {
  for (size_t i = 0; i < count; i++)
    data[i] = NAN;
}

/*
 * Creates a conv and a plan of one case and variant, runs and checks it,
 * destroys both, and checks the object counts after each destroy.
 */
static void run_iteration(const soak_context *soak, const soak_case *test,
                          const soak_variant *variant, long iteration) {
  const test_layer *layer = &soak_layers[test->layer];
  layer_data *data = &all_data[test->layer];
  int64_t input_shape[GCL_MAX_RANK];
  char what[96];
  gcl_plan_options options;
  gcl_conv_desc desc;
  gcl_conv *conv = NULL;
  gcl_plan *plan = NULL;
  gcl_status status;

  snprintf(what, sizeof what, "%s/%s, %s", layer->name,
           gcl_algorithm_name(test->algorithm), variant->label);
  test_layer_desc(layer, &desc, input_shape);
  status = gcl_conv_create(soak->context, &desc, data->weights,
                           layer->bias_term ? data->bias : NULL, &conv);
  cr_assert_eq(status, GCL_SUCCESS, "%s: gcl_conv_create: %s", what,
               gcl_last_error());

  gcl_plan_options_init(&options);
  options.algorithm = test->algorithm;
  options.schedule = variant->schedule;
  options.queues = variant->queues;
  options.profile = variant->profile;
  options.device_throughput = equal_throughput;
  status = gcl_plan_create(conv, layer->spatial_dims + 2, input_shape,
                           &options, &plan);
  cr_assert_eq(status, GCL_SUCCESS, "%s: gcl_plan_create: %s", what,
               gcl_last_error());

  fill_nan(data->output, data->n_out);
  if (variant->use_cl_buffers)
    status = run_on_cl_buffers(soak, test->layer, plan, data->output);
  else
    status = gcl_plan_forward(plan, data->input, data->output);
  cr_assert_eq(status, GCL_SUCCESS, "%s (iteration %ld): forward: %s", what,
               iteration, gcl_last_error());
  expect_reference(data, what, iteration);
  if (!variant->use_cl_buffers)
    run_backward(plan, layer, data, what, iteration);

  gcl_plan_destroy(plan);
  expect_idle_context(soak, "after gcl_plan_destroy", iteration);
  gcl_conv_destroy(conv);
  expect_idle_context(soak, "after gcl_conv_destroy", iteration);
}

/* Iteration i runs case i mod CASE_COUNT, so consecutive plans change
 * layer and algorithm, and the variant changes every CASE_COUNT plans. */
static void run_iterations(const soak_context *soak, long first, long count) {
  for (long i = first; i < first + count; i++)
    run_iteration(soak, &soak_cases[(size_t)i % CASE_COUNT],
                  &soak_variants[((size_t)i / CASE_COUNT) % VARIANT_COUNT],
                  i);
}

/* ---- tests ------------------------------------------------------------------ */

TestSuite(soak, .timeout = 600);

Test(soak, plans_keep_memory_flat) {
  long plans = count_from_env("GROUPCL_SOAK_PLANS", DEFAULT_PLANS);
  long warmup = (long)(WARMUP_ROUNDS * CASE_COUNT * VARIANT_COUNT);
  long process_base[GCL_CL_OBJECT_KINDS];
  long before, after;
  double start, seconds;
  soak_context soak;

  open_data();
  count_objects(process_base);
  open_context(&soak);

  run_iterations(&soak, 0, warmup);
  before = resident_bytes();
  start = seconds_now();
  run_iterations(&soak, warmup, plans);
  seconds = seconds_now() - start;
  after = resident_bytes();

  close_context(&soak);
  expect_objects(process_base, "after gcl_context_destroy", plans + warmup);
  close_data();

  fprintf(stderr,
          "soak: %ld plans after %ld warm-up plans in %.1f s (%.2f ms per "
          "plan); resident set %.2f MiB before, %.2f MiB after, growth "
          "%+.2f MiB (bound %.0f MiB)\n",
          plans, warmup, seconds, 1e3 * seconds / (double)plans,
          mebibytes(before), mebibytes(after), mebibytes(after - before),
          mebibytes(RESIDENT_GROWTH_BOUND));
  expect_flat(before, after, plans, "plans");
}

Test(soak, contexts_release_everything) {
  long contexts = count_from_env("GROUPCL_SOAK_CONTEXTS", DEFAULT_CONTEXTS);
  long total = contexts + WARMUP_CONTEXTS;
  long process_base[GCL_CL_OBJECT_KINDS];
  long before = 0, after;
  double start = 0.0, seconds;

  open_data();
  count_objects(process_base);
  for (long k = 0; k < total; k++) {
    soak_context soak;

    if (k == WARMUP_CONTEXTS) {
      before = resident_bytes();
      start = seconds_now();
    }
    open_context(&soak);
    run_iterations(&soak, 0, (long)(CASE_COUNT * VARIANT_COUNT));
    close_context(&soak);
    expect_objects(process_base, "after gcl_context_destroy", k);
  }
  seconds = seconds_now() - start;
  after = resident_bytes();
  close_data();

  fprintf(stderr,
          "soak: %ld contexts of %zu plans each after %d warm-up contexts "
          "in %.1f s; resident set %.2f MiB before, %.2f MiB after, growth "
          "%+.2f MiB (bound %.0f MiB)\n",
          contexts, CASE_COUNT * VARIANT_COUNT, WARMUP_CONTEXTS, seconds,
          mebibytes(before),
          mebibytes(after), mebibytes(after - before),
          mebibytes(RESIDENT_GROWTH_BOUND));
  expect_flat(before, after, contexts, "contexts");
}

/* Creates a plan with one fault armed, destroys it if it was made, and
 * checks that nothing it made is left. Returns the creation's status. */
static gcl_status create_with_fault(const soak_context *soak, gcl_conv *conv,
                                    const test_layer *layer,
                                    const gcl_plan_options *options,
                                    gcl_fault_kind kind, long nth) {
  int64_t input_shape[GCL_MAX_RANK];
  gcl_conv_desc desc;
  gcl_plan *plan = NULL;
  gcl_status status;

  test_layer_desc(layer, &desc, input_shape);
  gcl_fault_clear();
  gcl_fault_arm(kind, NULL, nth);
  status = gcl_plan_create(conv, layer->spatial_dims + 2, input_shape,
                           options, &plan);
  gcl_fault_clear();
  gcl_plan_destroy(plan);
  expect_idle_context(soak, "after a plan creation with a fault armed", nth);
  return status;
}

/*
 * Fails each case's plan creation at its first program build, then at
 * every device buffer in turn, and checks that each failure releases what
 * the plan had made so far.
 */
Test(soak, failed_plans_release_everything) {
  long process_base[GCL_CL_OBJECT_KINDS];
  long failures = 0;
  soak_context soak;

  open_data();
  count_objects(process_base);
  open_context(&soak);
  for (size_t c = 0; c < CASE_COUNT; c++) {
    const test_layer *layer = &soak_layers[soak_cases[c].layer];
    const layer_data *data = &all_data[soak_cases[c].layer];
    int64_t input_shape[GCL_MAX_RANK];
    gcl_plan_options options;
    gcl_conv_desc desc;
    gcl_conv *conv = NULL;
    gcl_status status;

    test_layer_desc(layer, &desc, input_shape);
    cr_assert_eq(gcl_conv_create(soak.context, &desc, data->weights,
                                 layer->bias_term ? data->bias : NULL, &conv),
                 GCL_SUCCESS, "%s", gcl_last_error());
    gcl_plan_options_init(&options);
    options.algorithm = soak_cases[c].algorithm;
    options.schedule = GCL_SCHEDULE_QUEUES;

    /* Fires only when the case needs a program no earlier case built. */
    if (create_with_fault(&soak, conv, layer, &options, GCL_FAULT_BUILD,
                          1) != GCL_SUCCESS)
      failures++;
    for (long nth = 1;; nth++) {
      cr_assert_lt(nth, 64,
                   "%s: plan creation failed at every one of %ld buffers",
                   layer->name, nth - 1);
      status = create_with_fault(&soak, conv, layer, &options,
                                 GCL_FAULT_BUFFER, nth);
      if (status == GCL_SUCCESS)
        break;
      failures++;
    }
    gcl_conv_destroy(conv);
  }
  close_context(&soak);
  expect_objects(process_base, "after gcl_context_destroy", 0);
  close_data();
  cr_assert_gt(failures, (long)CASE_COUNT,
               "only %ld plan creations failed; the faults did not fire",
               failures);
  fprintf(stderr, "soak: %ld failed plan creations released everything\n",
          failures);
}
