/*
 * The fault walk. Each case is a scenario through the public interface:
 * create a context, a conv and a plan, run gcl_plan_forward and
 * gcl_plan_forward_cl, write the timeline of a profiled plan, run
 * gcl_plan_backward in three cases, destroy.
 * One run with every kind counted (and none failed) learns how many calls
 * of each kind the case makes. Then, for each call n of a kind, the case
 * runs again with only that call failed, and the walk checks:
 *   - the call was reached and the scenario stopped with the kind's status;
 *   - gcl_last_error() names the failure and gcl_last_cl_error() its code;
 *   - a failed gcl_plan_forward left a gathered output array untouched,
 *     a failed gcl_plan_backward left every gradient untouched, and a
 *     failed timeline write left no file;
 *   - with the fault cleared, what survived still works: the plan (made
 *     anew when it was not created) gives the reference result, and the
 *     gradients of the fault-free run bit for bit;
 *   - after destroy, no host block and no counted OpenCL object of the
 *     library is live, and no OpenCL object still holds a device's
 *     context.
 *
 * The disk caches are off, so each fresh context builds every program from
 * source and the build faults are reached. Cases on two devices expose two
 * PoCL CPU devices and are skipped under other drivers.
 *
 * By default the walk fails at most WALK_DEFAULT_CAP calls of each kind
 * and case, spread evenly over them with the first and the last included.
 * GROUPCL_FAULT_WALK=all walks every call, and GROUPCL_FAULT_WALK=N sets
 * another cap. Each kind is one test, so Criterion runs the kinds in
 * parallel.
 */
#define _POSIX_C_SOURCE 200809L
#include "helpers.h"
#include "layer_table.h"

#include "util/cl_objects.h"
#include "util/error.h"
#include "util/fault.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Under AddressSanitizer, the walk runs LeakSanitizer itself, because a
 * leak report at exit does not fail a Criterion test. */
#if defined(__SANITIZE_ADDRESS__)
#define WALK_CHECKS_LEAKS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WALK_CHECKS_LEAKS 1
#endif
#endif
#ifdef WALK_CHECKS_LEAKS
#include <sanitizer/lsan_interface.h>
#endif

#define WALK_MAX_DEVICES 2

/* ---- cases --------------------------------------------------------------- */

enum { LAYER_GROUPED, LAYER_DEPTHWISE, LAYER_POINTWISE, LAYER_COUNT };

static const test_layer walk_layers[LAYER_COUNT] = {
    /* name, batch, C, K, group, H, W, kernel, stride, pad, dilation, bias */
    L2("grouped 8->8 g2 3x3", 2, 8, 8, 2, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1),
    L2("depthwise 4->8 3x3", 2, 4, 8, 4, 6, 6, 3, 3, 1, 1, 1, 1, 1, 1, 1),
    L2("pointwise 8->8 g2 no bias", 2, 8, 8, 2, 5, 5, 1, 1, 1, 1, 0, 0, 1, 1,
       0),
};

typedef struct walk_case {
  const char *name;
  const char *devices; /* device spec of the context */
  int layer;           /* index into walk_layers */
  gcl_algorithm algorithm;
  gcl_schedule_policy schedule;
  int queues;
  int profile;
  /* Nonzero: the test makes the OpenCL context and queue of the first
   * device and passes them to gcl_context_create_from_cl. */
  int callers_queue;
  /* Nonzero: the scenario also runs gcl_plan_backward, whose first call
   * builds the backward kernels. */
  int backward;
} walk_case;

static const walk_case walk_cases[] = {
    {"caffe_gemm single profiled, backward", "0:0", LAYER_GROUPED,
     GCL_ALGORITHM_CAFFE_GEMM, GCL_SCHEDULE_SINGLE, 1, 1, 0, 1},
    {"direct queues:2, backward", "0:0", LAYER_GROUPED, GCL_ALGORITHM_DIRECT,
     GCL_SCHEDULE_QUEUES, 2, 0, 0, 1},
    {"depthwise single", "0:0", LAYER_DEPTHWISE, GCL_ALGORITHM_DEPTHWISE,
     GCL_SCHEDULE_SINGLE, 1, 0, 0, 0},
    {"pointwise queues:2", "0:0", LAYER_POINTWISE, GCL_ALGORITHM_POINTWISE,
     GCL_SCHEDULE_QUEUES, 2, 0, 0, 0},
    {"gemm_batched queues:2 profiled", "0:0", LAYER_GROUPED,
     GCL_ALGORITHM_GEMM_BATCHED, GCL_SCHEDULE_QUEUES, 2, 1, 0, 0},
    {"winograd single", "0:0", LAYER_GROUPED, GCL_ALGORITHM_WINOGRAD,
     GCL_SCHEDULE_SINGLE, 1, 0, 0, 0},
    {"direct devices profiled, backward", "all", LAYER_GROUPED,
     GCL_ALGORITHM_DIRECT, GCL_SCHEDULE_DEVICES, 1, 1, 0, 1},
    {"depthwise single on the caller's queue", "0:0", LAYER_DEPTHWISE,
     GCL_ALGORITHM_DEPTHWISE, GCL_SCHEDULE_SINGLE, 1, 0, 1, 0},
};

#define WALK_CASE_COUNT (sizeof walk_cases / sizeof walk_cases[0])

/* What a fault of each kind must produce. A kind may fail in two ways. */
typedef struct kind_expectation {
  gcl_status status;
  cl_int code; /* gcl_last_cl_error() */
  const char *text;
  gcl_status other_status;
  cl_int other_code;
  const char *other_text; /* NULL: one way only */
} kind_expectation;

static const kind_expectation expectations[GCL_FAULT_KIND_COUNT] = {
    [GCL_FAULT_BUILD] = {GCL_ERROR_BUILD_FAILED, CL_BUILD_PROGRAM_FAILURE,
                         "kernel build failed", 0, 0, NULL},
    [GCL_FAULT_BUFFER] = {GCL_ERROR_OUT_OF_MEMORY,
                          CL_MEM_OBJECT_ALLOCATION_FAILURE,
                          "CL_MEM_OBJECT_ALLOCATION_FAILURE", 0, 0, NULL},
    [GCL_FAULT_ENQUEUE] = {GCL_ERROR_OUT_OF_MEMORY, CL_OUT_OF_RESOURCES,
                           "CL_OUT_OF_RESOURCES", 0, 0, NULL},
    [GCL_FAULT_TRANSFER] = {GCL_ERROR_OUT_OF_MEMORY, CL_OUT_OF_RESOURCES,
                            "CL_OUT_OF_RESOURCES", 0, 0, NULL},
    [GCL_FAULT_QUEUE] = {GCL_ERROR_OUT_OF_MEMORY, CL_OUT_OF_RESOURCES,
                         "CL_OUT_OF_RESOURCES", 0, 0, NULL},
    [GCL_FAULT_CONTEXT] = {GCL_ERROR_OUT_OF_MEMORY, CL_OUT_OF_HOST_MEMORY,
                           "CL_OUT_OF_HOST_MEMORY", 0, 0, NULL},
    [GCL_FAULT_PROGRAM] = {GCL_ERROR_OUT_OF_MEMORY, CL_OUT_OF_HOST_MEMORY,
                           "CL_OUT_OF_HOST_MEMORY", 0, 0, NULL},
    [GCL_FAULT_KERNEL] = {GCL_ERROR_OUT_OF_MEMORY, CL_OUT_OF_RESOURCES,
                          "CL_OUT_OF_RESOURCES", 0, 0, NULL},
    [GCL_FAULT_WAIT] = {GCL_ERROR_OUT_OF_MEMORY, CL_OUT_OF_RESOURCES,
                        "CL_OUT_OF_RESOURCES", GCL_ERROR_OPENCL,
                        CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST,
                        "CL_EXEC_STATUS_ERROR_FOR_EVENTS_IN_WAIT_LIST"},
    [GCL_FAULT_ALLOC] = {GCL_ERROR_OUT_OF_MEMORY, CL_SUCCESS,
                         "out of host memory", 0, 0, NULL},
};

/* ---- data and reference, once per layer ---------------------------------- */

typedef struct walk_data {
  const test_layer *layer;
  float *input, *weights, *bias;
  float *grad_output; /* the output gradient of the backward pass */
  double *expected, *magnitude;
  size_t n_in, n_out, n_w;
} walk_data;

static walk_data layer_data[LAYER_COUNT];

static walk_data *data_for(int layer_index) {
  walk_data *d = &layer_data[layer_index];
  const test_layer *layer = &walk_layers[layer_index];
  size_t n_w = test_weight_count(layer);

  if (d->layer != NULL)
    return d;
  d->layer = layer;
  d->n_in = test_input_count(layer);
  d->n_out = test_output_count(layer);
  d->n_w = n_w;
  d->input = malloc(d->n_in * sizeof *d->input);
  d->grad_output = malloc(d->n_out * sizeof *d->grad_output);
  d->weights = malloc(n_w * sizeof *d->weights);
  d->bias = malloc((size_t)layer->num_output * sizeof *d->bias);
  d->expected = malloc(d->n_out * sizeof *d->expected);
  d->magnitude = malloc(d->n_out * sizeof *d->magnitude);
  cr_assert(d->input && d->grad_output && d->weights && d->bias &&
                d->expected && d->magnitude,
            "out of memory for the walk's data");
  test_fill(d->input, d->n_in, 31);
  test_fill(d->weights, n_w, 32);
  test_fill(d->bias, (size_t)layer->num_output, 33);
  test_fill(d->grad_output, d->n_out, 34);
  test_reference_with_magnitude(layer, d->input, d->weights,
                                layer->bias_term ? d->bias : NULL, d->expected,
                                d->magnitude);
  return d;
}

/* Returns the index of the first output outside the reference's bound
 * (as in test_expect_close), or -1 when every output is within it. */
static long first_wrong_output(const walk_data *d, const float *actual) {
  for (size_t i = 0; i < d->n_out; i++) {
    double bound = 1e-6 + 3e-6 * d->magnitude[i];

    if (!(fabs((double)actual[i] - d->expected[i]) <= bound))
      return (long)i;
  }
  return -1;
}

/* ---- one run of a case --------------------------------------------------- */

/* The point being walked, for every assertion message. */
static char point[160];

/* A folder of this test process for timeline files. */
static char trace_folder[64];

typedef struct walk_objects {
  gcl_context *context;
  gcl_conv *conv;
  gcl_plan *plan;
  /* The device contexts, retained, so that the close can tell whether an
   * OpenCL object of the library outlived the gcl_context. */
  cl_context cl_contexts[WALK_MAX_DEVICES];
  size_t cl_context_count;
  cl_command_queue callers_queue; /* made by the test, or NULL */
} walk_objects;

typedef struct walk_outcome {
  gcl_status status; /* of the first failed call, or GCL_SUCCESS */
  const char *call;
  char message[8192];
  cl_int code;
} walk_outcome;

/* Returns 1 when status is GCL_SUCCESS, else records the failed call in
 * outcome and returns 0. */
static int record(walk_outcome *outcome, const char *call, gcl_status status) {
  if (status == GCL_SUCCESS)
    return 1;
  outcome->status = status;
  outcome->call = call;
  snprintf(outcome->message, sizeof outcome->message, "%s", gcl_last_error());
  outcome->code = gcl_last_cl_error();
  return 0;
}

/*
 * Equal throughputs for the devices policy. NOTE: measured throughputs
 * would walk the measuring code too, but they vary from run to run, and
 * with them the placement and so the calls a run makes.
 */
static const double even_throughput[WALK_MAX_DEVICES] = {1.0, 1.0};

static void plan_options(const walk_case *c, gcl_plan_options *options) {
  gcl_plan_options_init(options);
  if (c->schedule == GCL_SCHEDULE_DEVICES)
    options->device_throughput = even_throughput;
  options->algorithm = c->algorithm;
  options->schedule = c->schedule;
  options->queues = c->queues;
  options->profile = c->profile;
}

/* Makes an OpenCL context and queue on the first device, as a caller
 * would, and wraps them in a gcl_context. */
static int open_callers_queue(walk_objects *objects, walk_outcome *outcome) {
  cl_platform_id platform;
  cl_device_id device;
  cl_context cl_ctx;
  cl_int code;

  cr_assert_eq(clGetPlatformIDs(1, &platform, NULL), CL_SUCCESS);
  cr_assert_eq(clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 1, &device, NULL),
               CL_SUCCESS);
  cl_ctx = clCreateContext(NULL, 1, &device, NULL, NULL, &code);
  cr_assert_eq(code, CL_SUCCESS, "%s: the test's OpenCL context", point);
  /* The test's own reference is the one the close expects to remain. */
  objects->cl_contexts[0] = cl_ctx;
  objects->cl_context_count = 1;
  objects->callers_queue =
      clCreateCommandQueue(cl_ctx, device, CL_QUEUE_PROFILING_ENABLE, &code);
  cr_assert_eq(code, CL_SUCCESS, "%s: the test's command queue", point);

  return record(outcome, "gcl_context_create_from_cl",
                gcl_context_create_from_cl(
                    cl_ctx, device, objects->callers_queue, &objects->context));
}

static int open_context(const walk_case *c, walk_objects *objects,
                        walk_outcome *outcome) {
  gcl_status status;

  if (c->callers_queue)
    return open_callers_queue(objects, outcome);
  status = gcl_context_create(c->devices, &objects->context);

  if (!record(outcome, "gcl_context_create", status))
    return 0;
  cr_assert_leq(gcl_context_device_count(objects->context), WALK_MAX_DEVICES,
                "%s: more devices than the walk expects", point);
  for (size_t i = 0; i < gcl_context_device_count(objects->context); i++) {
    objects->cl_contexts[i] = gcl_context_cl_context(objects->context, i);
    cr_assert_eq(clRetainContext(objects->cl_contexts[i]), CL_SUCCESS);
    objects->cl_context_count++;
  }
  return 1;
}

static gcl_status create_conv(const walk_data *d, gcl_context *context,
                              gcl_conv **conv) {
  gcl_conv_desc desc;
  int64_t shape[GCL_MAX_RANK];

  test_layer_desc(d->layer, &desc, shape);
  return gcl_conv_create(context, &desc, d->weights,
                         d->layer->bias_term ? d->bias : NULL, conv);
}

static gcl_status create_plan(const walk_case *c, const walk_data *d,
                              gcl_conv *conv, gcl_plan **plan) {
  gcl_conv_desc desc;
  gcl_plan_options options;
  int64_t shape[GCL_MAX_RANK];

  test_layer_desc(d->layer, &desc, shape);
  plan_options(c, &options);
  return gcl_plan_create(conv, d->layer->spatial_dims + 2, shape, &options,
                         plan);
}

/* A plan gathers its output in private memory, and so must leave the
 * caller's array untouched on failure, when it has several slots. */
static int plan_gathers(const gcl_plan *plan) {
  return gcl_plan_slot_count(plan) > 1;
}

/* Fills the output array before a run, to see what the run wrote. */
static const float unwritten = -7777.25f;

static int run_host_arrays(const walk_data *d, gcl_plan *plan,
                           walk_outcome *outcome) {
  float *output = test_alloc_guarded(d->n_out);
  gcl_status status;
  long wrong;

  for (size_t i = 0; i < d->n_out; i++)
    output[i] = unwritten;
  status = gcl_plan_forward(plan, d->input, output);
  if (status == GCL_SUCCESS) {
    wrong = first_wrong_output(d, output);
    cr_assert_eq(wrong, -1,
                 "%s: gcl_plan_forward output %ld is %g, "
                 "expected %g",
                 point, wrong, wrong >= 0 ? (double)output[wrong] : 0.0,
                 wrong >= 0 ? d->expected[wrong] : 0.0);
  } else if (plan_gathers(plan)) {
    for (size_t i = 0; i < d->n_out; i++)
      cr_assert_eq(output[i], unwritten,
                   "%s: the failed gcl_plan_forward wrote output %zu", point,
                   i);
  }
  test_check_guard(output, d->n_out, point);
  free(output);
  return record(outcome, "gcl_plan_forward", status);
}

/* Runs gcl_plan_forward_cl on buffers the test makes directly, so the
 * injector never fails them. */
static int run_cl_buffers(const walk_data *d, gcl_context *context,
                          gcl_plan *plan, walk_outcome *outcome) {
  cl_context cl_ctx = gcl_context_cl_context(context, 0);
  cl_command_queue queue = gcl_context_cl_queue(context, 0);
  float *output = malloc(d->n_out * sizeof *output);
  cl_event done = NULL;
  cl_mem input_buffer, output_buffer;
  gcl_status status;
  cl_int code;
  long wrong;

  cr_assert_not_null(output);
  input_buffer = clCreateBuffer(cl_ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                                d->n_in * sizeof(float), d->input, &code);
  cr_assert_eq(code, CL_SUCCESS, "%s: the test's input buffer", point);
  output_buffer = clCreateBuffer(cl_ctx, CL_MEM_READ_WRITE,
                                 d->n_out * sizeof(float), NULL, &code);
  cr_assert_eq(code, CL_SUCCESS, "%s: the test's output buffer", point);

  status =
      gcl_plan_forward_cl(plan, input_buffer, output_buffer, 0, NULL, &done);
  if (status == GCL_SUCCESS) {
    cr_assert_not_null(done, "%s: no completion event", point);
    cr_assert_eq(clEnqueueReadBuffer(queue, output_buffer, CL_TRUE, 0,
                                     d->n_out * sizeof(float), output, 1, &done,
                                     NULL),
                 CL_SUCCESS, "%s: reading the output", point);
    clReleaseEvent(done);
    wrong = first_wrong_output(d, output);
    cr_assert_eq(wrong, -1,
                 "%s: gcl_plan_forward_cl output %ld is %g, "
                 "expected %g",
                 point, wrong, wrong >= 0 ? (double)output[wrong] : 0.0,
                 wrong >= 0 ? d->expected[wrong] : 0.0);
  } else {
    cr_assert_null(done, "%s: a failed gcl_plan_forward_cl returned an event",
                   point);
  }
  clReleaseMemObject(input_buffer);
  clReleaseMemObject(output_buffer);
  free(output);
  return record(outcome, "gcl_plan_forward_cl", status);
}

/* Counts the entries of the trace folder. */
static int trace_folder_entries(void) {
  DIR *folder = opendir(trace_folder);
  struct dirent *entry;
  int count = 0;

  cr_assert_not_null(folder, "cannot list %s", trace_folder);
  while ((entry = readdir(folder)) != NULL) {
    if (strcmp(entry->d_name, ".") != 0 && strcmp(entry->d_name, ".."))
      count++;
  }
  closedir(folder);
  return count;
}

/* Reads the run information and writes the timeline of the latest run of
 * a profiled plan. */
static int write_timeline(gcl_plan *plan, walk_outcome *outcome) {
  char path[128];
  gcl_run_info info;
  struct stat file;
  gcl_status status;

  if (!record(outcome, "gcl_plan_run_info", gcl_plan_run_info(plan, &info)))
    return 0;
  snprintf(path, sizeof path, "%s/trace.json", trace_folder);
  status = gcl_plan_write_trace(plan, path);
  if (status == GCL_SUCCESS) {
    cr_assert_eq(stat(path, &file), 0, "%s: no timeline file", point);
    cr_assert_gt(file.st_size, 0, "%s: empty timeline file", point);
    unlink(path);
  }
  cr_assert_eq(trace_folder_entries(), 0,
               "%s: the timeline write left a file behind", point);
  return record(outcome, "gcl_plan_write_trace", status);
}

/*
 * The gradients of a case's first backward pass, made in its counting run.
 * gcl_plan_backward reduces in a fixed order, so every later pass of the
 * same plan configuration must give them bit for bit.
 */
typedef struct gradients {
  float *input, *weights, *bias;
} gradients;

static gradients baselines[WALK_CASE_COUNT];

/* Returns the position of c in walk_cases, where every case that runs the
 * backward pass must be. */
static size_t case_index(const walk_case *c) {
  for (size_t i = 0; i < WALK_CASE_COUNT; i++) {
    if (&walk_cases[i] == c)
      return i;
  }
  cr_assert_fail("%s: case '%s' is not in walk_cases", point, c->name);
  return 0;
}

/* Checks count floats of a backward result against the baseline, or
 * stores them as the baseline when there is none yet. */
static void check_gradient(float **baseline, const float *actual,
                           size_t count, const char *what) {
  if (*baseline == NULL) {
    *baseline = malloc((count > 0 ? count : 1) * sizeof **baseline);
    cr_assert_not_null(*baseline);
    memcpy(*baseline, actual, count * sizeof *actual);
    return;
  }
  for (size_t i = 0; i < count; i++)
    cr_assert_eq(memcmp(&actual[i], &(*baseline)[i], sizeof *actual), 0,
                 "%s: %s element %zu is %.9g, the fault-free pass gave %.9g",
                 point, what, i, (double)actual[i], (double)(*baseline)[i]);
}

/* Fails the test unless count floats still hold `unwritten`. */
static void check_unwritten(const float *data, size_t count,
                            const char *what) {
  for (size_t i = 0; i < count; i++)
    cr_assert_eq(data[i], unwritten, "%s: the failed call wrote %s %zu",
                 point, what, i);
}

/* Runs gcl_plan_backward for every gradient, overwriting them. */
static int run_backward(const walk_case *c, const walk_data *d,
                        gcl_plan *plan, walk_outcome *outcome) {
  gradients *baseline = &baselines[case_index(c)];
  size_t n_bias = d->layer->bias_term ? (size_t)d->layer->num_output : 0;
  float *grad_input = test_alloc_guarded(d->n_in);
  float *grad_weights = test_alloc_guarded(d->n_w);
  float *grad_bias = test_alloc_guarded(n_bias);
  gcl_backward_args args = {0};
  gcl_status status;

  for (size_t i = 0; i < d->n_in; i++)
    grad_input[i] = unwritten;
  for (size_t i = 0; i < d->n_w; i++)
    grad_weights[i] = unwritten;
  for (size_t i = 0; i < n_bias; i++)
    grad_bias[i] = unwritten;
  args.input = d->input;
  args.grad_output = d->grad_output;
  args.grad_input = grad_input;
  args.grad_weights = grad_weights;
  args.grad_bias = n_bias > 0 ? grad_bias : NULL;
  args.overwrite = 1;

  status = gcl_plan_backward(plan, &args);
  if (status == GCL_SUCCESS) {
    check_gradient(&baseline->input, grad_input, d->n_in, "grad_input");
    check_gradient(&baseline->weights, grad_weights, d->n_w, "grad_weights");
    check_gradient(&baseline->bias, grad_bias, n_bias, "grad_bias");
  } else {
    /* gcl_plan_backward leaves the caller's arrays untouched on failure. */
    check_unwritten(grad_input, d->n_in, "grad_input");
    check_unwritten(grad_weights, d->n_w, "grad_weights");
    check_unwritten(grad_bias, n_bias, "grad_bias");
  }
  test_check_guard(grad_input, d->n_in, point);
  test_check_guard(grad_weights, d->n_w, point);
  test_check_guard(grad_bias, n_bias, point);
  free(grad_input);
  free(grad_weights);
  free(grad_bias);
  return record(outcome, "gcl_plan_backward", status);
}

/* Runs the scenario up to its first failure and leaves what exists in
 * objects. */
static void run_scenario(const walk_case *c, const walk_data *d,
                         walk_objects *objects, walk_outcome *outcome) {
  memset(objects, 0, sizeof *objects);
  memset(outcome, 0, sizeof *outcome);

  if (!open_context(c, objects, outcome))
    return;
  if (!record(outcome, "gcl_conv_create",
              create_conv(d, objects->context, &objects->conv)))
    return;
  if (!record(outcome, "gcl_plan_create",
              create_plan(c, d, objects->conv, &objects->plan)))
    return;
  if (!run_host_arrays(d, objects->plan, outcome))
    return;
  if (c->profile && !write_timeline(objects->plan, outcome))
    return;
  if (!run_cl_buffers(d, objects->context, objects->plan, outcome))
    return;
  if (c->profile && !write_timeline(objects->plan, outcome))
    return;
  if (c->backward)
    run_backward(c, d, objects->plan, outcome);
}

/* With the faults cleared, makes what is missing and runs the plan again
 * through both entry points, with its timeline when it is profiled. */
static void check_survivors(const walk_case *c, const walk_data *d,
                            walk_objects *objects) {
  walk_outcome outcome;

  if (objects->context == NULL)
    return;
  if (objects->conv == NULL)
    cr_assert_eq(create_conv(d, objects->context, &objects->conv), GCL_SUCCESS,
                 "%s: gcl_conv_create after the fault: %s", point,
                 gcl_last_error());
  if (objects->plan == NULL)
    cr_assert_eq(create_plan(c, d, objects->conv, &objects->plan), GCL_SUCCESS,
                 "%s: gcl_plan_create after the fault: %s", point,
                 gcl_last_error());

  memset(&outcome, 0, sizeof outcome);
  run_host_arrays(d, objects->plan, &outcome);
  cr_assert_eq(outcome.status, GCL_SUCCESS,
               "%s: gcl_plan_forward after the fault: %s", point,
               outcome.message);
  if (c->profile)
    write_timeline(objects->plan, &outcome);
  cr_assert_eq(outcome.status, GCL_SUCCESS, "%s: %s after the fault: %s", point,
               outcome.call, outcome.message);
  run_cl_buffers(d, objects->context, objects->plan, &outcome);
  cr_assert_eq(outcome.status, GCL_SUCCESS,
               "%s: gcl_plan_forward_cl after the fault: %s", point,
               outcome.message);
  if (c->backward)
    run_backward(c, d, objects->plan, &outcome);
  cr_assert_eq(outcome.status, GCL_SUCCESS,
               "%s: gcl_plan_backward after the fault: %s", point,
               outcome.message);
}

/* Maximum wait for the driver to drop its references to finished
 * commands, and the step between two looks. */
#define RELEASE_WAIT_NS 10000000000LL
#define RELEASE_STEP_NS 1000000LL

/*
 * Returns the reference count of cl_ctx once it is down to 1, or what it
 * is after RELEASE_WAIT_NS. PoCL 3.1 releases a finished command's event,
 * and the references that come with it, on its own thread, and that can
 * happen after clFinish returns.
 */
static cl_uint context_references(cl_context cl_ctx) {
  struct timespec step = {0, RELEASE_STEP_NS};
  cl_uint references = 0;

  for (long long waited = 0;; waited += RELEASE_STEP_NS) {
    cr_assert_eq(clGetContextInfo(cl_ctx, CL_CONTEXT_REFERENCE_COUNT,
                                  sizeof references, &references, NULL),
                 CL_SUCCESS);
    if (references <= 1 || waited >= RELEASE_WAIT_NS)
      break;
    nanosleep(&step, NULL);
  }
  return references;
}

/*
 * Destroys everything, then checks that the library keeps no OpenCL
 * object: by its own counts, and by the reference counts of the device
 * contexts, which also see objects made inside CLBlast. NOTE: the OpenCL
 * specification calls CL_CONTEXT_REFERENCE_COUNT a debugging value; PoCL
 * 3.1 reports the exact count.
 */
static void close_objects(walk_objects *objects) {
  gcl_plan_destroy(objects->plan);
  gcl_conv_destroy(objects->conv);
  gcl_context_destroy(objects->context);
  if (objects->callers_queue != NULL)
    clReleaseCommandQueue(objects->callers_queue);

  /* The walk keeps no library object between runs, so every count is 0. */
  for (int kind = 0; kind < GCL_CL_OBJECT_KINDS; kind++)
    cr_assert_eq(gcl_cl_objects_live((gcl_cl_object)kind), 0,
                 "%s: %ld %s object(s) of the library are live after "
                 "destroy",
                 point, gcl_cl_objects_live((gcl_cl_object)kind),
                 gcl_cl_object_name((gcl_cl_object)kind));

  for (size_t i = 0; i < objects->cl_context_count; i++) {
    cl_uint references = context_references(objects->cl_contexts[i]);

    cr_assert_eq(references, 1,
                 "%s: %u references to the OpenCL context of device %zu "
                 "remain after destroy, so an OpenCL object leaked",
                 point, references - 1, i);
    clReleaseContext(objects->cl_contexts[i]);
  }
  memset(objects, 0, sizeof *objects);
}

/* ---- the walk ------------------------------------------------------------ */

static void check_failure(gcl_fault_kind kind, const walk_outcome *outcome) {
  const kind_expectation *expect = &expectations[kind];
  int first_way = outcome->status == expect->status &&
                  outcome->code == expect->code &&
                  strstr(outcome->message, expect->text) != NULL;
  int other_way = expect->other_text != NULL &&
                  outcome->status == expect->other_status &&
                  outcome->code == expect->other_code &&
                  strstr(outcome->message, expect->other_text) != NULL;

  cr_assert_neq(outcome->status, GCL_SUCCESS,
                "%s: the fault fired but every call succeeded", point);
  cr_assert_neq(outcome->message[0], '\0',
                "%s: %s failed with '%s' and an empty message", point,
                outcome->call, gcl_status_string(outcome->status));
  cr_assert(first_way || other_way,
            "%s: %s returned '%s' with OpenCL code %s (%d) and message "
            "\"%s\"; expected '%s', %s and a message naming '%s'",
            point, outcome->call, gcl_status_string(outcome->status),
            gcl_cl_error_name(outcome->code), (int)outcome->code,
            outcome->message, gcl_status_string(expect->status),
            gcl_cl_error_name(expect->code), expect->text);
}

/* Runs the case once with every kind counted and none failed, and returns
 * the calls of kind. */
static long count_calls(const walk_case *c, const walk_data *d,
                        gcl_fault_kind kind) {
  walk_objects objects;
  walk_outcome outcome;
  long calls;

  snprintf(point, sizeof point, "case '%s', counting run", c->name);
  for (int k = 0; k < GCL_FAULT_KIND_COUNT; k++)
    gcl_fault_arm((gcl_fault_kind)k, NULL, GCL_FAULT_COUNT_ONLY);
  gcl_fault_track_allocations(1);
  run_scenario(c, d, &objects, &outcome);
  calls = gcl_fault_calls(kind);
  gcl_fault_clear();

  cr_assert_eq(outcome.status, GCL_SUCCESS, "%s: %s failed: %s", point,
               outcome.call, outcome.message);
  close_objects(&objects);
  cr_assert_eq(gcl_fault_live_allocations(), 0,
               "%s: %ld host blocks of the library are still live", point,
               gcl_fault_live_allocations());
  gcl_fault_track_allocations(0);
  return calls;
}

/* Walks call n of kind and returns 1 when the scenario absorbed the fault.
 * Only a caller that passes may_absorb accepts that. */
static int walk_point(const walk_case *c, const walk_data *d,
                      gcl_fault_kind kind, long n, long calls, int may_absorb) {
  walk_objects objects;
  walk_outcome outcome;
  long fired;

  snprintf(point, sizeof point, "case '%s', %s call %ld of %ld", c->name,
           gcl_fault_kind_name(kind), n, calls);
  gcl_fault_arm(kind, NULL, n);
  gcl_fault_track_allocations(1);
  run_scenario(c, d, &objects, &outcome);
  fired = gcl_fault_fired(kind);
  gcl_fault_clear();

  cr_assert_eq(fired, 1, "%s: the call was %s; the scenario %s%s%s", point,
               fired == 0 ? "never reached" : "failed more than once",
               outcome.status == GCL_SUCCESS ? "succeeded" : "failed: ",
               outcome.status == GCL_SUCCESS ? "" : outcome.call,
               outcome.message);
  /* An absorbed fault still ran every step, and each step checked its
   * output against the reference. */
  if (!may_absorb || outcome.status != GCL_SUCCESS)
    check_failure(kind, &outcome);
  check_survivors(c, d, &objects);
  close_objects(&objects);
  cr_assert_eq(gcl_fault_live_allocations(), 0,
               "%s: %ld host blocks of the library are still live", point,
               gcl_fault_live_allocations());
  gcl_fault_track_allocations(0);
  return outcome.status == GCL_SUCCESS;
}

/* Fails the test when LeakSanitizer finds a block that nothing points to,
 * outside the driver's own (see tests/lsan.supp). Does nothing without
 * AddressSanitizer. */
static void check_leaks(void) {
#ifdef WALK_CHECKS_LEAKS
  cr_assert_eq(__lsan_do_recoverable_leak_check(), 0,
               "LeakSanitizer found leaks after the walk; its report is "
               "above");
#endif
}

/*
 * Calls walked per kind and case unless GROUPCL_FAULT_WALK sets another
 * cap. It bounds the walk's time, because the cases that run the backward pass
 * make up to 80 allocations each, and each walked call costs a fresh
 * context and fresh program builds.
 */
#define WALK_DEFAULT_CAP 32

/* Returns the cap on the calls walked per kind and case: WALK_DEFAULT_CAP,
 * the number GROUPCL_FAULT_WALK gives, or 0 for "all". */
static long walk_cap(void) {
  const char *value = getenv("GROUPCL_FAULT_WALK");
  char *end;
  long cap;

  if (value == NULL || value[0] == '\0')
    return WALK_DEFAULT_CAP;
  if (strcmp(value, "all") == 0)
    return 0;
  cap = strtol(value, &end, 10);
  cr_assert(*end == '\0' && cap >= 1,
            "GROUPCL_FAULT_WALK is '%s'; set it to 'all' or to a number of "
            "calls of at least 1",
            value);
  return cap;
}

/* The index-th of `points` calls spread evenly over 1..calls, the first and
 * the last included. */
static long spread_point(long index, long points, long calls) {
  if (points <= 1)
    return 1;
  return 1 + index * (calls - 1) / (points - 1);
}

/* Makes a fresh folder from a mkdtemp template. */
static void make_folder(char *template_path) {
  cr_assert_not_null(mkdtemp(template_path), "cannot make the folder %s",
                     template_path);
}

/* Exposes two PoCL CPU devices (before any OpenCL call of this process),
 * turns the disk caches off and makes the timeline folder. Returns 1 when
 * a context on "all" has two devices. */
static int set_up_walk(void) {
  gcl_context *context = NULL;
  int two_devices;

  setenv("POCL_DEVICES", "pthread pthread", 1);
  setenv("GROUPCL_CACHE", "off", 1);
  unsetenv("GROUPCL_BUILD_OPTIONS");
  snprintf(trace_folder, sizeof trace_folder, "/tmp/gcl-fault-walk-XXXXXX");
  make_folder(trace_folder);

  cr_assert_eq(gcl_context_create("all", &context), GCL_SUCCESS, "%s",
               gcl_last_error());
  two_devices = gcl_context_device_count(context) >= 2;
  gcl_context_destroy(context);
  return two_devices;
}

static void walk_kind(gcl_fault_kind kind) {
  int two_devices = set_up_walk();
  long cap = walk_cap();
  long walked = 0, total = 0;
  char per_case[256] = "";
  struct timespec start, end;

  timespec_get(&start, TIME_UTC);
  for (size_t i = 0; i < WALK_CASE_COUNT; i++) {
    const walk_case *c = &walk_cases[i];
    const walk_data *d = data_for(c->layer);
    long calls, points;

    if (c->schedule == GCL_SCHEDULE_DEVICES && !two_devices) {
      cr_log_warn("skipping case '%s': a context on 'all' has one device, "
                  "but the case needs PoCL with POCL_DEVICES set to two",
                  c->name);
      continue;
    }
    calls = count_calls(c, d, kind);
    points = cap == 0 || calls < cap ? calls : cap;
    for (long p = 0; p < points; p++)
      walk_point(c, d, kind, spread_point(p, points, calls), calls, 0);
    walked += points;
    total += calls;
    snprintf(per_case + strlen(per_case), sizeof per_case - strlen(per_case),
             "%s%ld", per_case[0] != '\0' ? " " : "", calls);
  }
  timespec_get(&end, TIME_UTC);
  rmdir(trace_folder);
  cr_assert_gt(total, 0, "no case makes a %s call, so the walk tested nothing",
               gcl_fault_kind_name(kind));
  check_leaks();

  fprintf(stderr,
          "fault walk: %s: %ld of %ld calls walked (per case: %s) in %.1f "
          "s\n",
          gcl_fault_kind_name(kind), walked, total, per_case,
          (double)(end.tv_sec - start.tv_sec) +
              1e-9 * (double)(end.tv_nsec - start.tv_nsec));
}

Test(fault_walk, build) { walk_kind(GCL_FAULT_BUILD); }
Test(fault_walk, buffer) { walk_kind(GCL_FAULT_BUFFER); }
Test(fault_walk, enqueue) { walk_kind(GCL_FAULT_ENQUEUE); }
Test(fault_walk, transfer) { walk_kind(GCL_FAULT_TRANSFER); }
Test(fault_walk, queue) { walk_kind(GCL_FAULT_QUEUE); }
Test(fault_walk, context) { walk_kind(GCL_FAULT_CONTEXT); }
Test(fault_walk, program) { walk_kind(GCL_FAULT_PROGRAM); }
Test(fault_walk, kernel) { walk_kind(GCL_FAULT_KERNEL); }
Test(fault_walk, wait) { walk_kind(GCL_FAULT_WAIT); }
Test(fault_walk, alloc) { walk_kind(GCL_FAULT_ALLOC); }

/* ---- the disk cache ------------------------------------------------------ */

/* Removes the program cache under folder, then folder. */
static void remove_cache_folder(const char *folder) {
  char programs[128], path[512];
  struct dirent *entry;
  DIR *listing;

  snprintf(programs, sizeof programs, "%s/programs", folder);
  listing = opendir(programs);
  while (listing != NULL && (entry = readdir(listing)) != NULL) {
    if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
      continue;
    snprintf(path, sizeof path, "%s/%s", programs, entry->d_name);
    unlink(path);
  }
  if (listing != NULL)
    closedir(listing);
  rmdir(programs);
  rmdir(folder);
}

/*
 * A failure inside the disk cache only costs compile time: a program that
 * cannot be loaded is built from source. This walk runs one case with a
 * warm disk cache, so that each host allocation and program creation of
 * the load path fails in turn. A point may end in success, with the
 * reference result that each step checks, because the walks above run the
 * same code with the cache off and accept no absorbed fault, so what
 * absorbs one here is the disk cache. The store path is not walked: a warm
 * cache never stores.
 */
Test(fault_walk, disk_cache) {
  static const walk_case disk_case = {
      "direct single, warm disk cache", "0:0", LAYER_GROUPED,
      GCL_ALGORITHM_DIRECT, GCL_SCHEDULE_SINGLE, 1, 0, 0, 0};
  static const gcl_fault_kind kinds[] = {GCL_FAULT_ALLOC, GCL_FAULT_PROGRAM};
  const walk_data *d;
  char cache_folder[64];
  long cap, absorbed = 0;

  set_up_walk();
  cap = walk_cap();
  snprintf(cache_folder, sizeof cache_folder, "/tmp/gcl-fault-cache-XXXXXX");
  make_folder(cache_folder);
  unsetenv("GROUPCL_CACHE");
  setenv("GROUPCL_CACHE_DIR", cache_folder, 1);
  d = data_for(disk_case.layer);

  /* The first run stores the program, so every later run loads it. */
  count_calls(&disk_case, d, GCL_FAULT_PROGRAM);
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    long calls = count_calls(&disk_case, d, kinds[k]);
    long points = cap == 0 || calls < cap ? calls : cap;
    long kind_absorbed = 0;

    for (long p = 0; p < points; p++)
      kind_absorbed += walk_point(&disk_case, d, kinds[k],
                                  spread_point(p, points, calls), calls, 1);
    fprintf(stderr,
            "fault walk: %s with a warm disk cache: %ld of %ld calls walked, "
            "%ld absorbed\n",
            gcl_fault_kind_name(kinds[k]), points, calls, kind_absorbed);
    absorbed += kind_absorbed;
  }
  remove_cache_folder(cache_folder);
  rmdir(trace_folder);
  check_leaks();
  cr_assert_gt(absorbed, 0,
               "no fault was absorbed, so the walk never reached the disk "
               "cache");
}
