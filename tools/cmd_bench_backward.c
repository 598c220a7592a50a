/*
 * groupcl bench --backward: times the backward pass of each suite layer
 * against its forward pass in the same process: the input gradient, the
 * weight and bias gradients, and their sum, as medians of several runs.
 * With --transposed each row runs as its transposed layer (Deconvolution)
 * instead, whose output has the row's input size.
 */
#define _POSIX_C_SOURCE 200809L

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "cli.h"
#include "cli_args.h"
#include "suite.h"

#define COMMAND "bench"
#define DEFAULT_RUNS 5
#define MAX_RUNS 10000
/* The project's figure for its 2-core AVX-512 machine; see cmd_bench.c. */
#define DEFAULT_PEAK_GFLOPS 500.0

enum {
  OPTION_BACKWARD = 1,
  OPTION_SUITE,
  OPTION_LAYER,
  OPTION_DEVICE,
  OPTION_SCHEDULE,
  OPTION_RUNS,
  OPTION_CSV,
  OPTION_PEAK,
  OPTION_TRANSPOSED,
  OPTION_HELP
};

static const struct option backward_options[] = {
    {"backward", no_argument, NULL, OPTION_BACKWARD},
    {"suite", required_argument, NULL, OPTION_SUITE},
    {"layer", required_argument, NULL, OPTION_LAYER},
    {"device", required_argument, NULL, OPTION_DEVICE},
    {"schedule", required_argument, NULL, OPTION_SCHEDULE},
    {"runs", required_argument, NULL, OPTION_RUNS},
    {"csv", required_argument, NULL, OPTION_CSV},
    {"peak-gflops", required_argument, NULL, OPTION_PEAK},
    {"transposed", no_argument, NULL, OPTION_TRANSPOSED},
    {"help", no_argument, NULL, OPTION_HELP},
    {NULL, 0, NULL, 0}};

typedef struct backward_request {
  const char *suite_path;
  const char *layers; /* comma-separated names, or NULL for every row */
  const char *device;
  gcl_plan_options options;
  int64_t runs;
  const char *csv_path;
  double peak_gflops;
  int transposed;
  int show_help;
} backward_request;

/* Medians in milliseconds of one row's three timed calls. */
typedef struct backward_times {
  double forward, data, params;
} backward_times;

/* The tensors of one row, allocated together. */
typedef struct row_arrays {
  float *input, *weights, *bias, *output, *grad_output;
  float *grad_input, *grad_weights, *grad_bias;
} row_arrays;

static void print_backward_help(void) {
  printf(
      "Usage: groupcl bench --backward [--suite FILE] [--layer NAME[,NAME]]\n"
      "                     [--device SPEC] [--schedule POLICY] [--runs N]\n"
      "                     [--csv FILE] [--peak-gflops G] [--transposed]\n"
      "\n"
      "Times, for every layer of the suite, the forward pass, the input\n"
      "gradient and the weight and bias gradients (medians of N runs after\n"
      "two warm-ups), and prints each with GFLOP/s, the backward time over\n"
      "the forward time, and the backward pass's share of the peak.\n"
      "\n"
      "  --suite FILE        suite CSV (default: the installed suite.csv)\n"
      "  --layer NAMES       only these rows, comma-separated\n"
      "  --device SPEC       devices, as in 'groupcl devices'\n"
      "  --schedule POLICY   auto, single, queues:N or devices\n"
      "  --runs N            timed runs per call (default %d)\n"
      "  --csv FILE          also write the table as CSV\n"
      "  --peak-gflops G     peak of the device for the %% column (default "
      "%.0f)\n"
      "  --transposed        run each row as its transposed layer\n",
      DEFAULT_RUNS, DEFAULT_PEAK_GFLOPS);
}

static int parse_backward_option(int code, const char *text,
                                 backward_request *request) {
  int64_t runs;

  switch (code) {
  case OPTION_BACKWARD:
    return 0;
  case OPTION_SUITE:
    request->suite_path = text;
    return 0;
  case OPTION_LAYER:
    request->layers = text;
    return 0;
  case OPTION_DEVICE:
    request->device = text;
    return 0;
  case OPTION_SCHEDULE:
    if (gcl_schedule_parse(text, &request->options) != GCL_SUCCESS)
      return cli_usage_error(COMMAND, "%s", gcl_last_error());
    return 0;
  case OPTION_RUNS:
    if (cli_parse_int64(COMMAND, "--runs", text, 1, MAX_RUNS, &runs) != 0)
      return CLI_EXIT_USAGE;
    request->runs = runs;
    return 0;
  case OPTION_CSV:
    request->csv_path = text;
    return 0;
  case OPTION_PEAK: {
    char *end = NULL;

    request->peak_gflops = strtod(text, &end);
    if (end == text || *end != '\0' || !(request->peak_gflops > 0.0) ||
        !isfinite(request->peak_gflops))
      return cli_usage_error(COMMAND,
                             "--peak-gflops '%s' is not a positive number",
                             text);
    return 0;
  }
  case OPTION_TRANSPOSED:
    request->transposed = 1;
    return 0;
  default:
    request->show_help = 1;
    return 0;
  }
}

static int parse_backward(int argc, char **argv, backward_request *request) {
  int code;

  memset(request, 0, sizeof *request);
  gcl_plan_options_init(&request->options);
  request->options.backward = 1;
  request->runs = DEFAULT_RUNS;
  request->peak_gflops = DEFAULT_PEAK_GFLOPS;
  cli_reset_getopt();
  while ((code = getopt_long(argc, argv, ":", backward_options, NULL)) !=
         -1) {
    int rc;

    if (code == ':' || code == '?')
      return cli_report_getopt_error(COMMAND, code, argv, backward_options);
    rc = parse_backward_option(code, optarg, request);
    if (rc != 0)
      return rc;
  }
  return cli_check_no_operands(COMMAND, argc, argv);
}

/* ---- layers -------------------------------------------------------------- */

/*
 * Turns a convolution into its transposed layer: the sides swap, and
 * output_padding restores the input rows that the stride left unused, so
 * the transposed layer's output has the convolution's input shape.
 */
static int make_transposed(suite_layer *layer) {
  gcl_conv_desc *d = &layer->desc;
  int64_t input[GCL_MAX_RANK];
  int64_t channels = d->channels;

  memcpy(input, layer->input_shape, sizeof input);
  for (int axis = 0; axis < d->spatial_dims; axis++) {
    int64_t window = d->dilation[axis] * (d->kernel[axis] - 1) + 1;

    d->output_padding[axis] =
        (input[2 + axis] + 2 * d->pad[axis] - window) % d->stride[axis];
  }
  d->channels = d->num_output;
  d->num_output = channels;
  d->transposed = 1;
  memcpy(layer->input_shape, layer->output_shape, sizeof input);
  snprintf(layer->name + strlen(layer->name),
           sizeof layer->name - strlen(layer->name), "%s", "_t");
  return suite_layer_check(COMMAND, layer);
}

static int row_selected(const char *names, const char *name) {
  size_t length = strlen(name);

  if (names == NULL)
    return 1;
  for (const char *at = names; at != NULL && *at != '\0';) {
    const char *comma = strchr(at, ',');
    size_t item = comma != NULL ? (size_t)(comma - at) : strlen(at);

    if (item == length && strncmp(at, name, length) == 0)
      return 1;
    at = comma != NULL ? comma + 1 : NULL;
  }
  return 0;
}

/* ---- timing -------------------------------------------------------------- */

static int compare_doubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;

  return (x > y) - (x < y);
}

typedef enum timed_call { CALL_FORWARD, CALL_DATA, CALL_PARAMS } timed_call;

static gcl_status run_call(gcl_plan *plan, const row_arrays *a,
                           timed_call call) {
  gcl_backward_args args;

  if (call == CALL_FORWARD)
    return gcl_plan_forward(plan, a->input, a->output);
  memset(&args, 0, sizeof args);
  args.grad_output = a->grad_output;
  args.overwrite = 1;
  if (call == CALL_DATA) {
    args.grad_input = a->grad_input;
  } else {
    args.input = a->input;
    args.grad_weights = a->grad_weights;
    args.grad_bias = a->grad_bias;
  }
  return gcl_plan_backward(plan, &args);
}

/* Runs the call twice to warm up (the first call of a plan allocates its
 * staging buffers), then `runs` times; writes the median. */
static int time_call(gcl_plan *plan, const row_arrays *a, timed_call call,
                     int64_t runs, double *scratch, double *median_ms) {
  gcl_status status = run_call(plan, a, call);

  if (status == GCL_SUCCESS)
    status = run_call(plan, a, call);

  for (int64_t r = 0; r < runs && status == GCL_SUCCESS; r++) {
    double start = cli_now_ms();

    status = run_call(plan, a, call);
    scratch[r] = cli_now_ms() - start;
  }
  if (status != GCL_SUCCESS)
    return cli_library_error(COMMAND, "the timed run", status);
  qsort(scratch, (size_t)runs, sizeof *scratch, compare_doubles);
  *median_ms = runs % 2 == 1 ? scratch[runs / 2]
                             : 0.5 * (scratch[runs / 2 - 1] +
                                      scratch[runs / 2]);
  return 0;
}

static void free_arrays(row_arrays *a) {
  free(a->input);
  free(a->weights);
  free(a->bias);
  free(a->output);
  free(a->grad_output);
  free(a->grad_input);
  free(a->grad_weights);
  free(a->grad_bias);
}

static int allocate_arrays(const suite_layer *l, row_arrays *a) {
  int64_t bias_shape[1] = {l->desc.num_output};
  size_t n;
  int rc;

  memset(a, 0, sizeof *a);
  rc = suite_allocate_floats(COMMAND, "input", l->rank, l->input_shape,
                             &a->input, &n);
  if (rc == 0)
    suite_fill_random(a->input, n, 1);
  if (rc == 0)
    rc = suite_allocate_floats(COMMAND, "input gradient", l->rank,
                               l->input_shape, &a->grad_input, &n);
  if (rc == 0)
    rc = suite_allocate_floats(COMMAND, "weights", l->rank, l->weight_shape,
                               &a->weights, &n);
  if (rc == 0)
    suite_fill_random(a->weights, n, 2);
  if (rc == 0)
    rc = suite_allocate_floats(COMMAND, "weight gradient", l->rank,
                               l->weight_shape, &a->grad_weights, &n);
  if (rc == 0)
    rc = suite_allocate_floats(COMMAND, "output", l->rank, l->output_shape,
                               &a->output, &n);
  if (rc == 0)
    rc = suite_allocate_floats(COMMAND, "output gradient", l->rank,
                               l->output_shape, &a->grad_output, &n);
  if (rc == 0)
    suite_fill_random(a->grad_output, n, 3);
  if (rc == 0)
    rc = suite_allocate_floats(COMMAND, "bias", 1, bias_shape, &a->bias, &n);
  if (rc == 0)
    suite_fill_random(a->bias, n, 4);
  if (rc == 0)
    rc = suite_allocate_floats(COMMAND, "bias gradient", 1, bias_shape,
                               &a->grad_bias, &n);
  return rc;
}

static int time_layer(gcl_context *context, const backward_request *request,
                      const suite_layer *layer, backward_times *times) {
  double *scratch = malloc((size_t)request->runs * sizeof *scratch);
  gcl_conv *conv = NULL;
  gcl_plan *plan = NULL;
  row_arrays a;
  gcl_status status;
  int rc = allocate_arrays(layer, &a);

  if (rc == 0 && scratch == NULL) {
    cli_error(COMMAND, "out of memory for %lld timings",
              (long long)request->runs);
    rc = CLI_EXIT_RUNTIME;
  }
  if (rc == 0) {
    status = gcl_conv_create(context, &layer->desc, a.weights, a.bias, &conv);
    if (status == GCL_SUCCESS)
      status = gcl_plan_create(conv, layer->rank, layer->input_shape,
                               &request->options, &plan);
    if (status != GCL_SUCCESS)
      rc = cli_library_error(COMMAND, "planning the layer", status);
  }
  if (rc == 0)
    rc = time_call(plan, &a, CALL_FORWARD, request->runs, scratch,
                   &times->forward);
  if (rc == 0)
    rc = time_call(plan, &a, CALL_DATA, request->runs, scratch, &times->data);
  if (rc == 0)
    rc = time_call(plan, &a, CALL_PARAMS, request->runs, scratch,
                   &times->params);
  gcl_plan_destroy(plan);
  gcl_conv_destroy(conv);
  free_arrays(&a);
  free(scratch);
  return rc;
}

/* ---- report -------------------------------------------------------------- */

/* Multiply-accumulates of one pass; each gradient costs as many. */
static double layer_macs(const suite_layer *l) {
  const gcl_conv_desc *d = &l->desc;
  const int64_t *small = d->transposed ? l->input_shape : l->output_shape;
  int64_t small_channels = d->transposed ? d->channels : d->num_output;
  int64_t large_channels = d->transposed ? d->num_output : d->channels;
  double macs = (double)small[0] * (double)small_channels *
                (double)(large_channels / d->group);

  for (int axis = 0; axis < d->spatial_dims; axis++)
    macs *= (double)small[2 + axis] * (double)d->kernel[axis];
  return macs;
}

static double gflops(double macs, double ms) {
  return 2.0 * macs / (ms * 1e6);
}

static void print_header(void) {
  printf("%-30s %9s %7s %9s %7s %9s %7s %8s %6s\n", "layer", "fwd ms",
         "GF/s", "dx ms", "GF/s", "dW+db ms", "GF/s", "bwd/fwd", "%peak");
}

static void print_row(const suite_layer *l, const backward_times *t,
                      double peak) {
  double macs = layer_macs(l);
  double backward = t->data + t->params;

  printf("%-30s %9.3f %7.1f %9.3f %7.1f %9.3f %7.1f %7.2fx %5.1f%%\n",
         l->name, t->forward, gflops(macs, t->forward), t->data,
         gflops(macs, t->data), t->params, gflops(macs, t->params),
         backward / t->forward,
         100.0 * gflops(2.0 * macs, backward) / peak);
}

static void write_csv_row(FILE *file, const suite_layer *l,
                          const backward_times *t) {
  double macs = layer_macs(l);

  fprintf(file, "%s,%d,%.6f,%.6f,%.6f,%.3f,%.3f,%.3f,%.4f\n", l->name,
          l->desc.transposed, t->forward, t->data, t->params,
          gflops(macs, t->forward), gflops(macs, t->data),
          gflops(macs, t->params), (t->data + t->params) / t->forward);
}

/* ---- driver -------------------------------------------------------------- */

typedef struct csv_output {
  FILE *file;
  char *temporary;
} csv_output;

static int open_csv(const backward_request *request, csv_output *csv) {
  char error[512];

  csv->file = NULL;
  csv->temporary = NULL;
  if (request->csv_path == NULL)
    return 0;
  csv->file = atomic_file_create(request->csv_path, &csv->temporary, error,
                                 sizeof error);
  if (csv->file == NULL) {
    cli_error(COMMAND, "%s", error);
    return CLI_EXIT_RUNTIME;
  }
  fprintf(csv->file, "layer,transposed,forward_ms,grad_input_ms,"
                     "grad_params_ms,forward_gflops,grad_input_gflops,"
                     "grad_params_gflops,backward_over_forward\n");
  return 0;
}

/* Publishes the CSV after a complete run, else removes it. */
static int close_csv(const backward_request *request, csv_output *csv,
                     int rc) {
  char error[512];
  int failed;

  if (csv->file == NULL)
    return rc;
  failed = fclose(csv->file) != 0;
  if (rc != 0 || failed) {
    atomic_file_discard(csv->temporary);
    if (rc == 0)
      cli_error(COMMAND, "cannot write %s", request->csv_path);
    return rc != 0 ? rc : CLI_EXIT_RUNTIME;
  }
  if (atomic_file_publish(csv->temporary, request->csv_path, error,
                          sizeof error) != 0) {
    cli_error(COMMAND, "%s", error);
    return CLI_EXIT_RUNTIME;
  }
  return 0;
}

static int run_row(gcl_context *context, const backward_request *request,
                   const suite_row *row, csv_output *csv,
                   double *log_ratio_sum) {
  suite_layer layer;
  backward_times times;
  int rc;

  memset(&layer, 0, sizeof layer);
  snprintf(layer.name, sizeof layer.name, "%s", row->name);
  suite_row_layer(row, &layer.desc, &layer.rank, layer.input_shape);
  rc = suite_layer_check(COMMAND, &layer);
  if (rc == 0 && request->transposed)
    rc = make_transposed(&layer);
  if (rc == 0)
    rc = time_layer(context, request, &layer, &times);
  if (rc != 0)
    return rc;

  print_row(&layer, &times, request->peak_gflops);
  fflush(stdout);
  if (csv->file != NULL)
    write_csv_row(csv->file, &layer, &times);
  *log_ratio_sum += log((times.data + times.params) / times.forward);
  return 0;
}

/* Checks that every name of --layer is a row of the suite. */
static int check_layer_names(const backward_request *request,
                             const suite_file *suite) {
  char name[SUITE_NAME_MAX + 1], names[2048];

  for (const char *at = request->layers; at != NULL && *at != '\0';) {
    const char *comma = strchr(at, ',');
    size_t length = comma != NULL ? (size_t)(comma - at) : strlen(at);

    snprintf(name, sizeof name, "%.*s", (int)length, at);
    if (suite_find(suite, name) == NULL) {
      cli_error(COMMAND, "--layer '%s' is not in %s. Its layers are: %s.",
                name, request->suite_path,
                suite_list_names(suite, names, sizeof names));
      return CLI_EXIT_INPUT;
    }
    at = comma != NULL ? comma + 1 : NULL;
  }
  return 0;
}

static int run_suite(gcl_context *context, const backward_request *request,
                     const suite_file *suite) {
  double log_ratio_sum = 0.0;
  int count = 0, rc;
  csv_output csv;

  rc = open_csv(request, &csv);
  if (rc == 0)
    print_header();
  for (size_t i = 0; rc == 0 && i < suite->count; i++) {
    if (!row_selected(request->layers, suite->rows[i].name))
      continue;
    rc = run_row(context, request, &suite->rows[i], &csv, &log_ratio_sum);
    count++;
  }
  if (rc == 0 && count == 0) {
    cli_error(COMMAND, "no row of the suite matches --layer '%s'",
              request->layers);
    rc = CLI_EXIT_INPUT;
  }
  if (rc == 0)
    printf("geometric mean of backward / forward time over %d layers: "
           "%.2fx\n",
           count, exp(log_ratio_sum / count));
  return close_csv(request, &csv, rc);
}

int cmd_bench_backward(int argc, char **argv) {
  backward_request request;
  gcl_context *context = NULL;
  suite_file suite;
  char error[1024];
  int rc = parse_backward(argc, argv, &request);

  if (rc != 0)
    return rc;
  if (request.show_help) {
    print_backward_help();
    return CLI_EXIT_SUCCESS;
  }
  if (request.suite_path == NULL)
    request.suite_path = suite_default_path();
  if (request.suite_path == NULL) {
    cli_error(COMMAND, "no suite file found; give one with --suite FILE");
    return CLI_EXIT_INPUT;
  }
  if (suite_read(request.suite_path, &suite, error, sizeof error) != 0) {
    cli_error(COMMAND, "%s", error);
    return CLI_EXIT_INPUT;
  }

  rc = check_layer_names(&request, &suite);
  if (rc == 0)
    rc = cli_create_context(COMMAND, request.device, &context);
  if (rc == 0)
    rc = run_suite(context, &request, &suite);
  gcl_context_destroy(context);
  suite_free(&suite);
  return rc;
}
