/*
 * The thread-safety contract of include/groupcl.h under load. Threads share
 * one context (and in some cases one conv or one plan), plan different
 * layers with different algorithms and run them many times at once, and
 * every output must match the test reference.
 *
 * Each case records its failures in a case_result instead of asserting,
 * because Criterion's asserts may only run on the test's own thread, and
 * because the same cases also run without Criterion. Criterion 2.4.1 cannot
 * start under ThreadSanitizer: it aborts with "Could not initialize
 * inheritable arena", because it maps its shared arena at random addresses
 * in a range that TSan reserves. So --enable-tsan builds this file with
 * GCL_THREADS_MAIN, and a plain main() at the end runs every case in a
 * child process of its own.
 */
#define _POSIX_C_SOURCE 200809L
#include "helpers.h"
#include "layer_table.h"

#include "runtime/context.h"
#include "tune/tuning_db.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Forward runs per worker, each checked against the reference. */
#define RUNS_PER_WORKER 12

#define MAX_WORKERS 8

/* Seconds a case may take before it counts as hung. TSan runs take
 * minutes on two cores. */
#define CASE_TIMEOUT 900

/* 3x3, stride 1: direct, caffe_gemm, gemm_batched and winograd run it. */
static const test_layer grouped_3x3 =
    L2("grouped_3x3_g4", 2, 8, 12, 4, 12, 12, 3, 3, 1, 1, 1, 1, 1, 1, 1);
static const test_layer depthwise_x2 =
    L2("depthwise_x2_s2", 2, 8, 16, 8, 13, 13, 3, 3, 2, 2, 1, 1, 1, 1, 1);
static const test_layer pointwise_g2 =
    L2("pointwise_g2", 2, 16, 8, 2, 10, 10, 1, 1, 1, 1, 0, 0, 1, 1, 0);
static const test_layer dilated_g3 =
    L2("dilated_g3", 1, 6, 9, 3, 11, 9, 3, 3, 1, 2, 2, 1, 2, 1, 1);
static const test_layer winograd_g2 =
    L2("winograd_g2", 1, 8, 8, 2, 10, 10, 3, 3, 1, 1, 1, 1, 1, 1, 1);
static const test_layer conv1d_g2 =
    L1("conv1d_g2", 2, 4, 6, 2, 20, 5, 2, 2, 1, 1);
static const test_layer conv3d_g2 =
    L3("conv3d_g2", 1, 4, 4, 2, 5, 6, 6, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1);

/* ---- results ------------------------------------------------------------- */

/* The outcome of one case: the first failure and how many there were. */
typedef struct case_result {
  int failures;
  int skipped;
  char message[2048];
} case_result;

static void vrecord(char *buffer, size_t size, const char *format,
                    va_list args) {
  if (buffer[0] == '\0')
    vsnprintf(buffer, size, format, args);
}

static void fail_case(case_result *r, const char *format, ...) {
  va_list args;

  va_start(args, format);
  vrecord(r->message, sizeof r->message, format, args);
  va_end(args);
  r->failures++;
}

/* ---- layer data ---------------------------------------------------------- */

/* A layer's tensors and its reference output, computed on the case's
 * thread. */
typedef struct layer_data {
  test_layer layer;
  float *input, *weights, *bias;
  double *expected, *magnitude;
  size_t n_in, n_out;
} layer_data;

/*
 * Weights and bias depend only on the layer, so workers that share a conv
 * agree on them. The input depends on input_seed. Returns 0, with the
 * failure recorded, when memory runs out.
 * NOTE: test_reference_with_magnitude still asserts when it runs out of
 * memory, which outside Criterion ends the child process with a crash.
 */
static int make_data(layer_data *d, const test_layer *layer,
                     uint64_t input_seed, case_result *r) {
  size_t n_w = test_weight_count(layer);

  memset(d, 0, sizeof *d);
  d->layer = *layer;
  d->n_in = test_input_count(layer);
  d->n_out = test_output_count(layer);
  d->input = malloc(d->n_in * sizeof *d->input);
  d->weights = malloc(n_w * sizeof *d->weights);
  d->bias = malloc((size_t)layer->num_output * sizeof *d->bias);
  d->expected = malloc(d->n_out * sizeof *d->expected);
  d->magnitude = malloc(d->n_out * sizeof *d->magnitude);
  if (!d->input || !d->weights || !d->bias || !d->expected || !d->magnitude) {
    fail_case(r, "out of memory for %s", layer->name);
    return 0;
  }

  test_fill(d->input, d->n_in, input_seed);
  test_fill(d->weights, n_w, 2);
  test_fill(d->bias, (size_t)layer->num_output, 3);
  test_reference_with_magnitude(layer, d->input, d->weights,
                                layer->bias_term ? d->bias : NULL, d->expected,
                                d->magnitude);
  return 1;
}

static void free_data(layer_data *d) {
  free(d->input);
  free(d->weights);
  free(d->bias);
  free(d->expected);
  free(d->magnitude);
}

static gcl_context *open_context(case_result *r) {
  gcl_context *context = NULL;

  if (gcl_context_create(NULL, &context) != GCL_SUCCESS)
    fail_case(r, "gcl_context_create: %s", gcl_last_error());
  return context;
}

/* ---- workers ------------------------------------------------------------- */

/* What one worker thread does, and the first failure it saw. */
typedef struct worker {
  pthread_t thread;
  gcl_context *context;
  const layer_data *data;
  gcl_conv *shared_conv; /* NULL: the worker creates its own conv */
  gcl_plan *shared_plan; /* NULL: the worker creates its own plan */
  gcl_algorithm algorithm;
  gcl_schedule_policy schedule;
  const double *device_throughput; /* for GCL_SCHEDULE_DEVICES */
  int use_cl_buffers;              /* run through gcl_plan_forward_cl */
  /* Every worker waits here once its plan exists, so that the first runs,
   * which make the drivers' and CLBlast's first calls, start together. */
  pthread_barrier_t *start_line;
  int runs_passed;
  int ran_on_second_device;
  char failure[1024];
} worker;

/* Keeps the first failure only, because later ones tend to follow from it. */
static void record_failure(worker *w, const char *format, ...) {
  va_list args;

  va_start(args, format);
  vrecord(w->failure, sizeof w->failure, format, args);
  va_end(args);
}

/* A worker that creates its own conv and plan on context. */
static worker own_plan(gcl_context *context, const layer_data *data,
                       gcl_algorithm algorithm, int use_cl_buffers) {
  worker w;

  memset(&w, 0, sizeof w);
  w.context = context;
  w.data = data;
  w.algorithm = algorithm;
  w.schedule = GCL_SCHEDULE_SINGLE;
  w.use_cl_buffers = use_cl_buffers;
  return w;
}

static gcl_conv *create_conv(worker *w) {
  const test_layer *layer = &w->data->layer;
  int64_t shape[GCL_MAX_RANK];
  gcl_conv_desc desc;
  gcl_conv *conv = NULL;

  test_layer_desc(layer, &desc, shape);
  if (gcl_conv_create(w->context, &desc, w->data->weights,
                      layer->bias_term ? w->data->bias : NULL,
                      &conv) != GCL_SUCCESS)
    record_failure(w, "%s: gcl_conv_create: %s", layer->name, gcl_last_error());
  return conv;
}

/* Notes whether the plan placed work on the context's second device. */
static void note_devices(worker *w, const gcl_plan *plan) {
  for (size_t i = 0; i < gcl_plan_slot_count(plan); i++) {
    gcl_slot_info info;

    if (gcl_plan_slot_info(plan, i, &info) == GCL_SUCCESS &&
        info.device_index == 1)
      w->ran_on_second_device = 1;
  }
}

static gcl_plan *create_plan(worker *w, gcl_conv *conv) {
  const test_layer *layer = &w->data->layer;
  int64_t shape[GCL_MAX_RANK];
  gcl_conv_desc desc;
  gcl_plan_options options;
  gcl_plan *plan = NULL;

  test_layer_desc(layer, &desc, shape);
  gcl_plan_options_init(&options);
  options.algorithm = w->algorithm;
  options.schedule = w->schedule;
  options.device_throughput = w->device_throughput;
  if (gcl_plan_create(conv, layer->spatial_dims + 2, shape, &options, &plan) !=
      GCL_SUCCESS) {
    record_failure(w, "%s with %s: gcl_plan_create: %s", layer->name,
                   gcl_algorithm_name(w->algorithm), gcl_last_error());
    return NULL;
  }
  if (gcl_plan_algorithm(plan) != w->algorithm)
    record_failure(w, "%s: the plan runs %s, not the requested %s", layer->name,
                   gcl_algorithm_name(gcl_plan_algorithm(plan)),
                   gcl_algorithm_name(w->algorithm));
  note_devices(w, plan);
  return plan;
}

/* Buffers of the context's first device for gcl_plan_forward_cl. */
typedef struct device_buffers {
  cl_mem input, output;
} device_buffers;

static void open_buffers(worker *w, device_buffers *b) {
  cl_context cl_ctx = gcl_context_cl_context(w->context, 0);
  cl_int code_in = CL_SUCCESS, code_out = CL_SUCCESS;

  b->input =
      clCreateBuffer(cl_ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                     w->data->n_in * sizeof(float), w->data->input, &code_in);
  b->output = clCreateBuffer(cl_ctx, CL_MEM_READ_WRITE,
                             w->data->n_out * sizeof(float), NULL, &code_out);
  if (b->input == NULL || b->output == NULL)
    record_failure(w, "clCreateBuffer failed: %d, %d", (int)code_in,
                   (int)code_out);
}

static void close_buffers(device_buffers *b) {
  if (b->input != NULL)
    clReleaseMemObject(b->input);
  if (b->output != NULL)
    clReleaseMemObject(b->output);
}

/* One run on device buffers: the plan signals done, then the output is
 * read through the context's queue, which other threads use at once. */
static gcl_status forward_on_buffers(worker *w, gcl_plan *plan,
                                     const device_buffers *b, float *output) {
  cl_command_queue queue = gcl_context_cl_queue(w->context, 0);
  cl_event done = NULL;
  gcl_status status;
  cl_int code;

  status = gcl_plan_forward_cl(plan, b->input, b->output, 0, NULL, &done);
  if (status != GCL_SUCCESS)
    return status;
  code = clEnqueueReadBuffer(queue, b->output, CL_TRUE, 0,
                             w->data->n_out * sizeof(float), output, 1, &done,
                             NULL);
  clReleaseEvent(done);
  if (code != CL_SUCCESS) {
    record_failure(w, "%s: reading the output buffer failed: %d",
                   w->data->layer.name, (int)code);
    return GCL_ERROR_OPENCL;
  }
  return GCL_SUCCESS;
}

/* Runs the plan RUNS_PER_WORKER times and checks every output. */
static void run_and_check(worker *w, gcl_plan *plan, float *output) {
  const layer_data *d = w->data;
  device_buffers buffers = {NULL, NULL};

  if (w->use_cl_buffers)
    open_buffers(w, &buffers);
  for (int run = 0; run < RUNS_PER_WORKER && w->failure[0] == '\0'; run++) {
    gcl_status status;
    size_t bad;

    /* NaN everywhere, so that an output the run skipped cannot pass. */
    memset(output, 0xff, d->n_out * sizeof *output);
    status = w->use_cl_buffers ? forward_on_buffers(w, plan, &buffers, output)
                               : gcl_plan_forward(plan, d->input, output);
    if (status != GCL_SUCCESS) {
      record_failure(w, "%s with %s, run %d: %s", d->layer.name,
                     gcl_algorithm_name(w->algorithm), run, gcl_last_error());
      break;
    }
    bad = test_first_mismatch(d->n_out, output, d->expected, d->magnitude);
    if (bad < d->n_out)
      record_failure(w,
                     "%s with %s, run %d: output %zu is %.9g, expected "
                     "%.9g",
                     d->layer.name, gcl_algorithm_name(w->algorithm), run, bad,
                     (double)output[bad], d->expected[bad]);
    else
      w->runs_passed++;
  }
  close_buffers(&buffers);
}

static void *run_worker(void *argument) {
  worker *w = argument;
  gcl_conv *conv = w->shared_conv;
  gcl_plan *plan = w->shared_plan;
  float *output = malloc(w->data->n_out * sizeof *output);

  if (output == NULL)
    record_failure(w, "out of memory for the output");
  if (plan == NULL && conv == NULL && output != NULL)
    conv = create_conv(w);
  if (plan == NULL && conv != NULL)
    plan = create_plan(w, conv);
  /* Every worker must arrive, failed or not, or the others wait for ever. */
  pthread_barrier_wait(w->start_line);
  if (plan != NULL && w->failure[0] == '\0')
    run_and_check(w, plan, output);

  if (plan != w->shared_plan)
    gcl_plan_destroy(plan);
  if (conv != w->shared_conv)
    gcl_conv_destroy(conv);
  free(output);
  return NULL;
}

/* Starts every worker, joins them, then records each one's failure. */
static void run_workers(worker *workers, size_t count, case_result *r) {
  pthread_barrier_t start_line;

  if (pthread_barrier_init(&start_line, NULL, (unsigned)count) != 0) {
    fail_case(r, "pthread_barrier_init failed");
    return;
  }
  for (size_t i = 0; i < count; i++) {
    workers[i].start_line = &start_line;
    if (pthread_create(&workers[i].thread, NULL, run_worker, &workers[i]) !=
        0) {
      /* The workers already started would wait at the start line for
       * ever, so end the process: the runner reports it as a crash. */
      fprintf(stderr, "pthread_create for worker %zu failed\n", i);
      abort();
    }
  }
  for (size_t i = 0; i < count; i++) {
    pthread_join(workers[i].thread, NULL);
    if (workers[i].failure[0] != '\0')
      fail_case(r, "worker %zu: %s", i, workers[i].failure);
    else if (workers[i].runs_passed != RUNS_PER_WORKER)
      fail_case(r, "worker %zu passed %d of %d runs", i, workers[i].runs_passed,
                RUNS_PER_WORKER);
  }
  pthread_barrier_destroy(&start_line);
}

/* ---- one context --------------------------------------------------------- */

static void case_shared_context_mixed_algorithms(case_result *r) {
  const struct {
    const test_layer *layer;
    gcl_algorithm algorithm;
    int use_cl_buffers;
  } jobs[] = {
      {&grouped_3x3, GCL_ALGORITHM_DIRECT, 0},
      {&depthwise_x2, GCL_ALGORITHM_DEPTHWISE, 0},
      {&pointwise_g2, GCL_ALGORITHM_POINTWISE, 1},
      {&dilated_g3, GCL_ALGORITHM_CAFFE_GEMM, 0},
      {&winograd_g2, GCL_ALGORITHM_WINOGRAD, 0},
      {&grouped_3x3, GCL_ALGORITHM_GEMM_BATCHED, 1},
      {&conv1d_g2, GCL_ALGORITHM_DIRECT, 0},
      {&conv3d_g2, GCL_ALGORITHM_DIRECT, 1},
  };
  enum { count = sizeof jobs / sizeof jobs[0] };
  layer_data data[count];
  worker workers[count];
  gcl_context *context = open_context(r);
  size_t prepared = 0;

  while (context != NULL && prepared < count &&
         make_data(&data[prepared], jobs[prepared].layer, 100 + prepared, r)) {
    workers[prepared] =
        own_plan(context, &data[prepared], jobs[prepared].algorithm,
                 jobs[prepared].use_cl_buffers);
    prepared++;
  }
  if (prepared == count)
    run_workers(workers, count, r);

  gcl_context_destroy(context);
  for (size_t i = 0; i < prepared; i++)
    free_data(&data[i]);
}

/* Plans of several algorithms and batch sizes from one conv at once. */
static void case_shared_conv_own_plans(case_result *r) {
  const gcl_algorithm algorithms[] = {
      GCL_ALGORITHM_DIRECT, GCL_ALGORITHM_CAFFE_GEMM,
      GCL_ALGORITHM_GEMM_BATCHED, GCL_ALGORITHM_WINOGRAD};
  enum { count = sizeof algorithms / sizeof algorithms[0] };
  layer_data data[count];
  worker workers[count];
  gcl_context *context = open_context(r);
  int64_t shape[GCL_MAX_RANK];
  gcl_conv_desc desc;
  gcl_conv *conv = NULL;
  size_t prepared = 0;

  while (context != NULL && prepared < count) {
    test_layer layer = winograd_g2;

    layer.batch = 1 + (int64_t)(prepared % 3);
    if (!make_data(&data[prepared], &layer, 200 + prepared, r))
      break;
    workers[prepared] =
        own_plan(context, &data[prepared], algorithms[prepared], 0);
    prepared++;
  }
  test_layer_desc(&winograd_g2, &desc, shape);
  if (prepared == count && gcl_conv_create(context, &desc, data[0].weights,
                                           data[0].bias, &conv) != GCL_SUCCESS)
    fail_case(r, "gcl_conv_create: %s", gcl_last_error());
  if (conv != NULL) {
    for (size_t i = 0; i < count; i++)
      workers[i].shared_conv = conv;
    run_workers(workers, count, r);
  }

  gcl_conv_destroy(conv);
  gcl_context_destroy(context);
  for (size_t i = 0; i < prepared; i++)
    free_data(&data[i]);
}

/*
 * First SGEMMs of several threads at once: CLBlast 1.5.3 fills a static
 * table and its program cache on first use without taking turns, so
 * groupcl serializes its calls (lib/algo/im2col_gemm.h). Two pairs of
 * workers need the same CLBlast kernels, so they miss its cache together.
 */
static void case_clblast_first_calls_at_once(case_result *r) {
  const struct {
    const test_layer *layer;
    gcl_algorithm algorithm;
  } jobs[] = {
      {&grouped_3x3, GCL_ALGORITHM_CAFFE_GEMM},
      {&dilated_g3, GCL_ALGORITHM_CAFFE_GEMM},
      {&grouped_3x3, GCL_ALGORITHM_GEMM_BATCHED},
      {&winograd_g2, GCL_ALGORITHM_GEMM_BATCHED},
  };
  enum { count = sizeof jobs / sizeof jobs[0] };
  layer_data data[count];
  worker workers[count];
  gcl_context *context = open_context(r);
  size_t prepared = 0;

  while (context != NULL && prepared < count &&
         make_data(&data[prepared], jobs[prepared].layer, 500 + prepared, r)) {
    workers[prepared] =
        own_plan(context, &data[prepared], jobs[prepared].algorithm, 0);
    prepared++;
  }
  if (prepared == count)
    run_workers(workers, count, r);

  gcl_context_destroy(context);
  for (size_t i = 0; i < prepared; i++)
    free_data(&data[i]);
}

/*
 * One plan run by four threads at once, each with its own input. The plan
 * has two slots, so every run gathers through the plan's host copy, and
 * the plan's mutex must keep the runs apart.
 */
static void case_shared_plan_runs_take_turns(case_result *r) {
  enum { count = 4 };
  layer_data data[count];
  worker workers[count];
  gcl_context *context = open_context(r);
  worker setup;
  gcl_conv *conv = NULL;
  gcl_plan *plan = NULL;
  size_t prepared = 0;

  while (context != NULL && prepared < count &&
         make_data(&data[prepared], &grouped_3x3, 300 + prepared, r))
    prepared++;
  if (prepared == count) {
    setup = own_plan(context, &data[0], GCL_ALGORITHM_DIRECT, 0);
    setup.schedule = GCL_SCHEDULE_QUEUES; /* two queues by default */
    conv = create_conv(&setup);
    plan = conv != NULL ? create_plan(&setup, conv) : NULL;
    if (setup.failure[0] != '\0')
      fail_case(r, "setup: %s", setup.failure);
  }
  if (plan != NULL && gcl_plan_slot_count(plan) != 2)
    fail_case(r, "queues:2 gave the plan %zu slots, not 2",
              gcl_plan_slot_count(plan));

  if (r->failures == 0) {
    for (size_t i = 0; i < count; i++) {
      workers[i] = own_plan(context, &data[i], GCL_ALGORITHM_DIRECT, i % 2);
      workers[i].shared_plan = plan;
    }
    run_workers(workers, count, r);
  }

  gcl_plan_destroy(plan);
  gcl_conv_destroy(conv);
  gcl_context_destroy(context);
  for (size_t i = 0; i < prepared; i++)
    free_data(&data[i]);
}

/* ---- two devices --------------------------------------------------------- */

/* Fails the case unless every worker placed work on the second device and
 * the context remembered both devices' throughput. */
static void check_two_device_use(const worker *workers, size_t count,
                                 const gcl_context *context, case_result *r) {
  for (size_t i = 0; i < count; i++) {
    if (!workers[i].ran_on_second_device)
      fail_case(r, "worker %zu placed nothing on the second device", i);
  }
  for (size_t d = 0; d < 2; d++) {
    if (!(context->devices[d].throughput > 0.0))
      fail_case(r, "device %zu's throughput was not remembered", d);
  }
}

/*
 * Plans split over PoCL's two pthread devices. Two workers let the plan
 * measure the devices, so both may write the context's throughput memo at
 * once. The other two pass their own figures.
 */
static void case_two_devices_split_plans(case_result *r) {
  static const double throughput[2] = {2.0, 1.0};
  const struct {
    const test_layer *layer;
    gcl_algorithm algorithm;
    const double *throughput;
  } jobs[] = {
      {&grouped_3x3, GCL_ALGORITHM_DIRECT, NULL},
      {&depthwise_x2, GCL_ALGORITHM_DEPTHWISE, NULL},
      {&pointwise_g2, GCL_ALGORITHM_POINTWISE, throughput},
      {&dilated_g3, GCL_ALGORITHM_CAFFE_GEMM, throughput},
  };
  enum { count = sizeof jobs / sizeof jobs[0] };
  layer_data data[count];
  worker workers[count];
  gcl_context *context;
  size_t prepared = 0;

  /* Read when the process first calls OpenCL, which is below. */
  setenv("POCL_DEVICES", "pthread pthread", 1);
  setenv("GROUPCL_DEVICES", "all", 1);
  context = open_context(r);
  if (context != NULL && gcl_context_device_count(context) != 2) {
    r->skipped = 1;
    snprintf(r->message, sizeof r->message,
             "POCL_DEVICES did not give two devices; PoCL is not the "
             "OpenCL driver");
  }

  while (context != NULL && !r->skipped && prepared < count &&
         make_data(&data[prepared], jobs[prepared].layer, 400 + prepared, r)) {
    workers[prepared] = own_plan(context, &data[prepared],
                                 jobs[prepared].algorithm, prepared % 2);
    workers[prepared].schedule = GCL_SCHEDULE_DEVICES;
    workers[prepared].device_throughput = jobs[prepared].throughput;
    prepared++;
  }
  if (prepared == count) {
    run_workers(workers, count, r);
    check_two_device_use(workers, count, context, r);
  }

  gcl_context_destroy(context);
  for (size_t i = 0; i < prepared; i++)
    free_data(&data[i]);
}

/* ---- per-thread error messages ------------------------------------------- */

typedef struct message_worker {
  pthread_t thread;
  int index;
  int started;
  char failure[512];
} message_worker;

/* Fails and succeeds in turn, and the message must always be this
 * thread's own. */
static void *check_own_messages(void *argument) {
  message_worker *w = argument;

  for (int round = 0; round < 200 && w->failure[0] == '\0'; round++) {
    int64_t bad_count = -(1000 * (w->index + 1) + round);
    char expected[128];
    gcl_conv_desc desc;

    gcl_conv_desc_init(&desc, 2, 4, 4, 3);
    desc.num_output = bad_count;
    snprintf(expected, sizeof expected, "num_output is %lld;",
             (long long)bad_count);
    if (gcl_conv_validate(&desc) != GCL_ERROR_INVALID_LAYER ||
        strstr(gcl_last_error(), expected) == NULL)
      snprintf(w->failure, sizeof w->failure,
               "round %d: expected a message with '%s', got '%s'", round,
               expected, gcl_last_error());

    desc.num_output = 4;
    if (gcl_conv_validate(&desc) != GCL_SUCCESS || gcl_last_error()[0] != '\0')
      snprintf(w->failure, sizeof w->failure,
               "round %d: a valid layer left the message '%s'", round,
               gcl_last_error());
  }
  return NULL;
}

static void case_error_messages_stay_per_thread(case_result *r) {
  message_worker workers[MAX_WORKERS];

  memset(workers, 0, sizeof workers);
  for (int i = 0; i < MAX_WORKERS; i++) {
    workers[i].index = i;
    workers[i].started = pthread_create(&workers[i].thread, NULL,
                                        check_own_messages, &workers[i]) == 0;
    if (!workers[i].started)
      fail_case(r, "pthread_create for thread %d failed", i);
  }
  for (int i = 0; i < MAX_WORKERS; i++) {
    if (!workers[i].started)
      continue;
    pthread_join(workers[i].thread, NULL);
    if (workers[i].failure[0] != '\0')
      fail_case(r, "thread %d: %s", i, workers[i].failure);
  }
}

/* ---- the tuning database ------------------------------------------------- */

#define STORES_PER_THREAD 10

typedef struct store_worker {
  pthread_t thread;
  int index;
  int started;
  gcl_status status;
  char message[512];
} store_worker;

static void layer_key_for(int thread, int entry, char *key, size_t size) {
  snprintf(key, size, "conv thread=%d entry=%d", thread, entry);
}

static void *store_entries(void *argument) {
  store_worker *w = argument;

  for (int entry = 0; entry < STORES_PER_THREAD; entry++) {
    char key[64];

    layer_key_for(w->index, entry, key, sizeof key);
    w->status =
        gcl_tuning_store("test device", key, "direct", 1e-3 * (entry + 1));
    if (w->status != GCL_SUCCESS) {
      snprintf(w->message, sizeof w->message, "%s", gcl_last_error());
      break;
    }
  }
  return NULL;
}

/* Fails the case for every entry of the workers that the file lacks. */
static void check_all_stored(const store_worker *workers, case_result *r) {
  for (int i = 0; i < MAX_WORKERS; i++) {
    if (workers[i].status != GCL_SUCCESS)
      fail_case(r, "thread %d: %s", i, workers[i].message);
    for (int entry = 0; entry < STORES_PER_THREAD; entry++) {
      char key[64], algorithm[32];
      double seconds = 0.0;
      int found = 0;

      layer_key_for(i, entry, key, sizeof key);
      if (gcl_tuning_lookup("test device", key, algorithm, sizeof algorithm,
                            &seconds, &found) != GCL_SUCCESS)
        fail_case(r, "gcl_tuning_lookup: %s", gcl_last_error());
      else if (!found)
        fail_case(r, "the entry of thread %d, store %d was lost", i, entry);
    }
  }
}

/* Each store rewrites the whole file, so without the store lock threads
 * that store at once would drop each other's entries. */
static void case_tuning_stores_all_kept(case_result *r) {
  char folder[64], command[128];
  store_worker workers[MAX_WORKERS];

  snprintf(folder, sizeof folder, "/tmp/gcl_threads_XXXXXX");
  if (mkdtemp(folder) == NULL) {
    fail_case(r, "mkdtemp failed");
    return;
  }
  setenv("GROUPCL_CACHE_DIR", folder, 1);
  unsetenv("GROUPCL_CACHE");

  memset(workers, 0, sizeof workers);
  for (int i = 0; i < MAX_WORKERS; i++) {
    workers[i].index = i;
    workers[i].started = pthread_create(&workers[i].thread, NULL, store_entries,
                                        &workers[i]) == 0;
    if (!workers[i].started)
      fail_case(r, "pthread_create for thread %d failed", i);
  }
  for (int i = 0; i < MAX_WORKERS; i++) {
    if (workers[i].started)
      pthread_join(workers[i].thread, NULL);
  }
  if (r->failures == 0)
    check_all_stored(workers, r);

  snprintf(command, sizeof command, "rm -rf '%s'", folder);
  if (system(command) != 0)
    fail_case(r, "could not remove %s", folder);
}

/* ---- the runners --------------------------------------------------------- */

#define THREAD_CASES(X)                                                        \
  X(shared_context_mixed_algorithms)                                           \
  X(shared_conv_own_plans)                                                     \
  X(clblast_first_calls_at_once)                                               \
  X(shared_plan_runs_take_turns)                                               \
  X(two_devices_split_plans)                                                   \
  X(error_messages_stay_per_thread)                                            \
  X(tuning_stores_all_kept)

#ifndef GCL_THREADS_MAIN

#include <criterion/criterion.h>

TestSuite(threads, .timeout = CASE_TIMEOUT);

static void run_case(void (*run)(case_result *)) {
  case_result r;

  memset(&r, 0, sizeof r);
  run(&r);
  if (r.skipped)
    cr_skip_test("%s", r.message);
  cr_assert_eq(r.failures, 0, "%d failure(s), the first: %s", r.failures,
               r.message);
}

#define CRITERION_CASE(name)                                                   \
  Test(threads, name) { run_case(case_##name); }
THREAD_CASES(CRITERION_CASE)

#else /* GCL_THREADS_MAIN: a plain runner, for ThreadSanitizer builds */

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct named_case {
  const char *name;
  void (*run)(case_result *);
} named_case;

#define TABLE_ENTRY(name) {#name, case_##name},
static const named_case cases[] = {THREAD_CASES(TABLE_ENTRY)};

/* Runs one case in this process and exits with its status. The process is
 * new, so settings such as POCL_DEVICES take effect. */
static void run_in_child(const named_case *c) {
  case_result r;

  memset(&r, 0, sizeof r);
  alarm(CASE_TIMEOUT);
  c->run(&r);
  if (r.skipped)
    printf("SKIP threads::%s: %s\n", c->name, r.message);
  else if (r.failures > 0)
    printf("FAIL threads::%s: %d failure(s), the first: %s\n", c->name,
           r.failures, r.message);
  else
    printf("PASS threads::%s\n", c->name);
  fflush(stdout);
  exit(r.failures > 0 ? 1 : 0);
}

/* Returns 1 if the case failed, crashed or was killed. */
static int run_case(const named_case *c) {
  int status = 0;
  pid_t child;

  fflush(stdout);
  child = fork();
  if (child < 0) {
    printf("FAIL threads::%s: fork failed\n", c->name);
    return 1;
  }
  if (child == 0)
    run_in_child(c);
  if (waitpid(child, &status, 0) != child)
    return 1;
  if (WIFSIGNALED(status))
    printf("FAIL threads::%s: killed by signal %d (%s)\n", c->name,
           WTERMSIG(status),
           WTERMSIG(status) == SIGALRM ? "timed out" : "crashed");
  else if (WEXITSTATUS(status) > 1)
    printf("FAIL threads::%s: exit status %d (66 is a ThreadSanitizer "
           "report)\n",
           c->name, WEXITSTATUS(status));
  return !WIFEXITED(status) || WEXITSTATUS(status) != 0;
}

/* Runs every case, or only those named on the command line. */
int main(int argc, char **argv) {
  int failed = 0;

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int selected = argc < 2;

    for (int a = 1; a < argc; a++)
      selected |= strcmp(argv[a], cases[i].name) == 0;
    if (selected)
      failed += run_case(&cases[i]);
  }
  printf("%d case(s) failed\n", failed);
  return failed > 0 ? 1 : 0;
}

#endif
