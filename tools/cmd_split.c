/*
 * groupcl split: runs one layer under each way of spreading its groups: one
 * queue, 2, 4 and 8 queues of the first device, each device alone, and all
 * devices. It prints the time, speedup and device busy time of each, and
 * checks that every placement gives the output of the single queue.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cmd_options.h"
#include "cli_args.h"
#include "suite.h"

#define COMMAND "split"

/* Makefile.am defines both. These defaults serve builds outside it. */
#ifndef GCL_DATADIR
#define GCL_DATADIR "/usr/local/share/groupcl"
#endif
#ifndef GCL_SRCDIR
#define GCL_SRCDIR "."
#endif

#define DEFAULT_DEVICE_SPEC "all"
#define DEFAULT_RUNS 10
#define DEFAULT_WARMUP 2
#define MAX_RUNS 10000

/* Maximum number of devices one run compares. Each gets a busy column. */
#define MAX_DEVICES 16

/* single, queues:2, queues:4, queues:8, each device alone, devices. */
#define QUEUE_CONFIGURATIONS 4
#define MAX_CONFIGURATIONS (QUEUE_CONFIGURATIONS + MAX_DEVICES + 1)

#define SPLIT_PATH_MAX 4096
#define LABEL_MAX 32

/*
 * Each placement runs the same per-group arithmetic, so its output should
 * equal the single queue's. The tolerance, ABS + REL * |single| as in demo,
 * only allows for a driver that reorders sums.
 */
#define TOLERANCE_ABSOLUTE 1e-5
#define TOLERANCE_RELATIVE 1e-4

enum split_option_code {
  OPTION_SUITE = LAYER_OPTION_END,
  OPTION_LAYER,
  OPTION_DEVICE,
  OPTION_ALGORITHM,
  OPTION_RUNS,
  OPTION_WARMUP,
  OPTION_CSV,
  OPTION_TRACE_DIR
};

static const struct option split_options[] = {
    LAYER_LONG_OPTIONS,
    {"suite", required_argument, NULL, OPTION_SUITE},
    {"layer", required_argument, NULL, OPTION_LAYER},
    {"device", required_argument, NULL, OPTION_DEVICE},
    {"algorithm", required_argument, NULL, OPTION_ALGORITHM},
    {"runs", required_argument, NULL, OPTION_RUNS},
    {"warmup", required_argument, NULL, OPTION_WARMUP},
    {"csv", required_argument, NULL, OPTION_CSV},
    {"trace-dir", required_argument, NULL, OPTION_TRACE_DIR},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}};

/* Random input, weights and bias, shared by every configuration. */
typedef struct split_data {
  float *input;
  float *weights;
  float *bias; /* NULL when the layer has no bias */
  size_t output_count;
  float *single_output; /* output of the single configuration */
  float *output;        /* output of the configuration being run */
} split_data;

/* One way to run the layer, its plan, and what it measured. */
typedef struct split_configuration {
  char label[LABEL_MAX]; /* "single", "queues:4", "device 1", "devices" */
  gcl_plan_options options;
  /* The device it runs alone on, or -1 for the context of --device. */
  int alone_device;
  gcl_context *alone_context; /* context of alone_device alone, or NULL */
  gcl_conv *conv;
  gcl_plan *plan;
  double *times_ms;    /* wall time of each timed run */
  gcl_run_info *infos; /* profile of each timed run */
  size_t slots;
  double median_ms;
  double busy_ms[MAX_DEVICES]; /* per device of --device, median run */
  uint64_t bytes_moved;        /* median run */
  double max_difference;       /* from the single output, over all runs */
  int mismatch;                /* an element was outside the tolerance */
  char trace_temp_path[SPLIT_PATH_MAX];
} split_configuration;

/* The devices of --device and the configurations run on them. */
typedef struct split_session {
  const split_request *request;
  gcl_context *context;
  size_t device_count;
  gcl_device_info devices[MAX_DEVICES];
  split_configuration configurations[MAX_CONFIGURATIONS];
  size_t configuration_count;
  FILE *csv_file; /* the temporary CSV file, or NULL without --csv */
  char csv_temp_path[SPLIT_PATH_MAX];
} split_session;

static void print_split_help(void) {
  puts(
    "Usage: groupcl split --layer NAME [--suite FILE] [OPTIONS]\n"
    "       groupcl split --channels C --num-output K --kernel K1[,K2[,K3]]\n"
    "                     --input-size S1[,S2[,S3]] [LAYER OPTIONS] [OPTIONS]\n"
    "\n"
    "Runs one convolution layer under each schedule and compares them:\n"
    "  single      every group on one queue of the first device\n"
    "  queues:N    the groups split into N contiguous ranges on N in-order\n"
    "              queues of the first device, for N = 2, 4 and 8\n"
    "  device D    every group on device D alone, for each device of\n"
    "              --device\n"
    "  devices     the groups split over all devices of --device, in\n"
    "              proportion to their measured speed (only with 2 or more)\n"
    "Each configuration gets the same random input, weights and bias. Its\n"
    "output must equal the single output within 1e-4 relative plus 1e-5\n"
    "absolute in every run, or split exits with status 1 and writes no\n"
    "files. split first makes every plan (this compiles the kernels and,\n"
    "for devices, measures each device once), then runs rounds: each round\n"
    "runs every configuration once, so that a change in the load of the\n"
    "machine affects all of them alike.\n"
    "\n"
    "The table shows per configuration: the slots (device queues) with\n"
    "work; the median wall time in ms of gcl_plan_forward (copies to and\n"
    "from the host included); the speedup over single; the parallel\n"
    "efficiency (speedup / slots); the busy time in ms of each device (the\n"
    "OpenCL profiling durations of its commands in the median run, summed\n"
    "over its queues, so it can exceed the wall time); the MB (10^6 bytes)\n"
    "copied between host and devices in that run; and the largest absolute\n"
    "difference from the single output.\n"
    "\n"
    "Layer, from a suite file:\n"
    "  --layer NAME        the row of the suite file to run\n"
    "  --suite FILE        the suite CSV file (default: suite.csv from\n"
    "                      " GCL_DATADIR ", else\n"
    "                      bench/suite.csv of the source tree). Its first\n"
    "                      line is the header\n"
    "      name,N,C,H,W,K,kh,kw,stride,pad,dilation,group,D,kd\n"
    "                      N is the batch, C and K the input and output\n"
    "                      channels, D, H, W and kd, kh, kw the input and\n"
    "                      filter sizes; D = kd = 1 makes a 2-D layer.\n"
    "Layer, from flags (the same as 'groupcl explain'; --input-size is\n"
    "required):\n"
    "  --channels C, --num-output K, --kernel K1[,K2[,K3]],\n"
    "  --input-size S1[,S2[,S3]]   (required)\n"
    "  --stride S (default 1), --pad P (default 0), --dilation D\n"
    "  (default 1), --group G (default 1), --batch N (default 1), --no-bias\n"
    "  See 'groupcl explain --help' for their meaning and units.\n"
    "\n"
    "Options:\n"
    "  --device SPEC       OpenCL devices to compare (default all); see\n"
    "                      'groupcl --help'\n"
    "  --algorithm NAME    algorithm of every plan: auto (the library\n"
    "                      chooses), caffe_gemm (im2col and one GEMM per\n"
    "                      group) or another name the library lists in\n"
    "                      its error message (default auto)\n"
    "  --runs N            timed runs per configuration, 1 to 10000\n"
    "                      (default 10)\n"
    "  --warmup N          untimed runs before them, 0 to 10000 (default 2)\n"
    "  --csv FILE          write one row per configuration to FILE: layer,\n"
    "                      configuration, slots, ms, speedup, efficiency,\n"
    "                      busy_ms_device0, busy_ms_device1, ...,\n"
    "                      bytes_moved, max_diff (default: no file)\n"
    "  --trace-dir DIR     write the last timed run of each configuration as\n"
    "                      a Chrome trace, DIR/LAYER-CONFIGURATION.json with\n"
    "                      ':' and ' ' replaced by '-'; open it in Perfetto\n"
    "                      or chrome://tracing (default: no traces)\n"
    "  -h, --help          print this help and exit\n"
    "\n"
    "Output files appear only when every configuration ran and matched.\n"
    "On a terminal, stderr shows the progress: the configuration being\n"
    "planned, then the round being run.\n"
    "\n"
    "Note: PoCL 3.1 runs all of its CPU devices on one thread pool, so with\n"
    "POCL_DEVICES=\"pthread pthread\" the two devices share the same cores\n"
    "and 'devices' is not expected to beat 'single'.");
}

/* ------------------------------------------------------------------------ */
/* Options                                                                  */

static int parse_algorithm(const char *text, gcl_algorithm *algorithm) {
  if (gcl_algorithm_from_name(text, algorithm) != GCL_SUCCESS) {
    return cli_usage_error(COMMAND, "--algorithm: %s.", gcl_last_error());
  }
  return 0;
}

static int parse_split_option(int code, const char *text,
                              split_request *request) {
  if (layer_flags_has_option(code)) {
    return layer_flags_parse(COMMAND, code, text, &request->layer);
  }

  switch (code) {
  case OPTION_SUITE:
    request->suite_path = text;
    return 0;
  case OPTION_LAYER:
    request->layer_name = text;
    return 0;
  case OPTION_DEVICE:
    request->device_spec = text;
    return 0;
  case OPTION_ALGORITHM:
    return parse_algorithm(text, &request->algorithm);
  case OPTION_RUNS:
    return cli_parse_int64(COMMAND, "--runs", text, 1, MAX_RUNS,
                           &request->runs);
  case OPTION_WARMUP:
    return cli_parse_int64(COMMAND, "--warmup", text, 0, MAX_RUNS,
                           &request->warmup);
  case OPTION_CSV:
    request->csv_path = text;
    return 0;
  case OPTION_TRACE_DIR:
    request->trace_dir = text;
    return 0;
  default: /* 'h' */
    request->show_help = 1;
    return 0;
  }
}

/* Checks that the layer comes from exactly one source. */
static int check_layer_source(const split_request *request) {
  if (request->layer_name != NULL && request->layer.any_given) {
    return cli_usage_error(COMMAND, "--layer and the layer flags (--channels, "
                                    "--kernel, ...) both describe the layer. "
                                    "Give only one of them.");
  }
  if (request->suite_path != NULL && request->layer_name == NULL) {
    return cli_usage_error(COMMAND, "--suite needs --layer NAME, the name "
                                    "of one of its rows.");
  }
  if (request->layer_name != NULL) {
    return 0;
  }
  if (!request->layer.any_given) {
    return cli_usage_error(COMMAND, "missing layer. Give --layer NAME from "
                                    "the suite file, or --channels, "
                                    "--num-output, --kernel and "
                                    "--input-size.");
  }

  const int rc = layer_flags_check_required(COMMAND, &request->layer);
  if (rc != 0) {
    return rc;
  }
  if (request->layer.input_size.count == 0) {
    return cli_usage_error(COMMAND, "missing --input-size, the spatial "
                                    "input size (for example --input-size "
                                    "56,56).");
  }
  return 0;
}

static int check_file_options(const split_request *request) {
  if (request->csv_path != NULL && request->csv_path[0] == '\0') {
    return cli_usage_error(COMMAND, "--csv is empty. Give a file name, for "
                                    "example --csv split.csv");
  }
  if (request->trace_dir != NULL && request->trace_dir[0] == '\0') {
    return cli_usage_error(COMMAND, "--trace-dir is empty. Give a folder, "
                                    "for example --trace-dir traces");
  }
  if (request->device_spec[0] == '\0') {
    return cli_usage_error(COMMAND, "--device is empty. Give a device spec "
                                    "such as all or 0:0.");
  }
  return 0;
}

int parse_split_options(int argc, char **argv, split_request *request) {
  memset(request, 0, sizeof *request);
  layer_flags_init(&request->layer);
  request->device_spec = DEFAULT_DEVICE_SPEC;
  request->algorithm = GCL_ALGORITHM_AUTO;
  request->runs = DEFAULT_RUNS;
  request->warmup = DEFAULT_WARMUP;

  int code;
  cli_reset_getopt();
  while ((code = getopt_long(argc, argv, ":h", split_options, NULL)) != -1) {
    if (code == '?' || code == ':') {
      return cli_report_getopt_error(COMMAND, code, argv, split_options);
    }
    const int rc = parse_split_option(code, optarg, request);
    if (rc != 0) {
      return rc;
    }
  }
  if (request->show_help) {
    return 0;
  }

  int rc = check_layer_source(request);
  if (rc == 0) {
    rc = check_file_options(request);
  }
  if (rc == 0) {
    rc = cli_check_no_operands(COMMAND, argc, argv);
  }
  return rc;
}

/* ------------------------------------------------------------------------ */
/* The layer                                                                */

/* Finds the suite file and reads the layer named by --layer from it. */
static int load_suite_layer(const split_request *request,
                            suite_layer *layer) {
  const char *path = request->suite_path;
  if (path == NULL) {
    path = suite_default_path();
  }
  if (path == NULL) {
    return cli_usage_error(COMMAND, "no default suite file: neither "
                                    GCL_DATADIR "/suite.csv nor " GCL_SRCDIR
                                    "/bench/suite.csv exists. Give one with "
                                    "--suite FILE.");
  }
  return suite_load_layer(COMMAND, path, request->layer_name, layer);
}

static int resolve_layer(const split_request *request, suite_layer *layer) {
  memset(layer, 0, sizeof *layer);
  const int rc = request->layer_name != NULL
                     ? load_suite_layer(request, layer)
                     : layer_flags_build_layer(COMMAND, &request->layer,
                                               layer);
  return rc != 0 ? rc : suite_layer_check(COMMAND, layer);
}

/* ------------------------------------------------------------------------ */
/* Data                                                                     */

static int prepare_data(const suite_layer *layer, split_data *data) {
  const int64_t bias_shape[1] = {layer->desc.num_output};
  size_t input_count = 0;
  size_t weight_count = 0;

  int rc = suite_allocate_floats(COMMAND, "input", layer->rank, layer->input_shape,
                           &data->input, &input_count);
  if (rc == 0) {
    rc = suite_allocate_floats(COMMAND, "weights", layer->rank, layer->weight_shape,
                         &data->weights, &weight_count);
  }
  if (rc == 0 && layer->desc.bias_term) {
    rc = suite_allocate_floats(COMMAND, "bias", 1, bias_shape, &data->bias, NULL);
  }
  if (rc == 0) {
    rc = suite_allocate_floats(COMMAND, "output", layer->rank, layer->output_shape,
                         &data->single_output, &data->output_count);
  }
  if (rc == 0) {
    rc = suite_allocate_floats(COMMAND, "output", layer->rank, layer->output_shape,
                         &data->output, NULL);
  }
  if (rc != 0) {
    return rc;
  }

  suite_fill_random(data->input, input_count, 1);
  suite_fill_random(data->weights, weight_count, 2);
  if (data->bias != NULL) {
    suite_fill_random(data->bias, (size_t)layer->desc.num_output, 3);
  }
  return 0;
}

static void release_data(split_data *data) {
  free(data->input);
  free(data->weights);
  free(data->bias);
  free(data->single_output);
  free(data->output);
}

/* ------------------------------------------------------------------------ */
/* Devices and configurations                                               */

void cli_note_shared_cpu_devices(const gcl_context *context) {
  const size_t count = gcl_context_device_count(context);
  for (size_t first = 0; first < count; first++) {
    gcl_device_info info;
    if (gcl_context_device_info(context, first, &info) != GCL_SUCCESS ||
        !(info.type & CL_DEVICE_TYPE_CPU) ||
        strstr(info.platform_name, "Portable Computing Language") == NULL) {
      continue;
    }

    /* Count the CPU devices of the same platform after this one. */
    size_t sharing = 1;
    for (size_t other = first + 1; other < count; other++) {
      gcl_device_info other_info;
      if (gcl_context_device_info(context, other, &other_info) ==
              GCL_SUCCESS &&
          (other_info.type & CL_DEVICE_TYPE_CPU) &&
          other_info.platform_index == info.platform_index) {
        sharing++;
      }
    }
    if (sharing > 1) {
      printf("note: %zu of the devices are CPU devices of PoCL (driver %s),\n"
             "      which runs all of them on one thread pool: splitting a\n"
             "      layer across them adds no throughput, only copies.\n",
             sharing, info.driver_version);
      return;
    }
  }
}

static int open_devices(split_session *session) {
  int rc = cli_create_context(COMMAND, session->request->device_spec,
                              &session->context);
  if (rc != 0) {
    return rc;
  }

  session->device_count = gcl_context_device_count(session->context);
  if (session->device_count > MAX_DEVICES) {
    cli_error(COMMAND, "--device %s selects %zu devices, but split compares "
                       "at most %d. Select fewer, for example --device "
                       "0:0,0:1.",
              session->request->device_spec, session->device_count,
              MAX_DEVICES);
    return CLI_EXIT_USAGE;
  }
  for (size_t d = 0; d < session->device_count; d++) {
    const gcl_status status = gcl_context_device_info(
        session->context, d, &session->devices[d]);
    if (status != GCL_SUCCESS) {
      return cli_library_error(COMMAND, "reading the device information",
                               status);
    }
  }
  return 0;
}

static split_configuration *add_configuration(split_session *session,
                                              const char *schedule,
                                              int alone_device) {
  split_configuration *configuration =
      &session->configurations[session->configuration_count++];
  memset(configuration, 0, sizeof *configuration);
  gcl_plan_options_init(&configuration->options);
  configuration->options.algorithm = session->request->algorithm;
  configuration->options.profile = 1;
  configuration->alone_device = alone_device;
  /* Callers pass only the valid names of list_configurations. */
  gcl_schedule_parse(schedule, &configuration->options);
  snprintf(configuration->label, sizeof configuration->label, "%s", schedule);
  return configuration;
}

static void list_configurations(split_session *session) {
  static const char *const queue_schedules[QUEUE_CONFIGURATIONS] = {
      "single", "queues:2", "queues:4", "queues:8"};

  for (int i = 0; i < QUEUE_CONFIGURATIONS; i++) {
    add_configuration(session, queue_schedules[i], -1);
  }
  for (size_t d = 0; d < session->device_count; d++) {
    split_configuration *alone =
        add_configuration(session, "single", (int)d);
    snprintf(alone->label, sizeof alone->label, "device %zu", d);
  }
  if (session->device_count > 1) {
    add_configuration(session, "devices", -1);
  }
}

/* ------------------------------------------------------------------------ */
/* Planning                                                                 */

/*
 * Shows "[3/7] queues:4 ..." on a terminal, or clears it when text is NULL.
 * The cursor goes back to the start of the line, so that the next progress
 * line or an error message writes over it.
 */
static void show_progress(size_t index, size_t count, const char *text) {
  if (!isatty(STDERR_FILENO)) {
    return;
  }
  char line[64] = "";
  if (text != NULL) {
    snprintf(line, sizeof line, "[%zu/%zu] %s ...", index + 1, count, text);
  }
  fprintf(stderr, "\r%-40s\r", line);
  fflush(stderr);
}

static int allocate_run_records(size_t runs,
                                split_configuration *configuration) {
  configuration->times_ms = malloc(runs * sizeof *configuration->times_ms);
  configuration->infos = malloc(runs * sizeof *configuration->infos);
  if (configuration->times_ms == NULL || configuration->infos == NULL) {
    cli_error(COMMAND, "out of memory for %zu runs. Give a smaller --runs.",
              runs);
    return CLI_EXIT_RUNTIME;
  }
  return 0;
}

/*
 * Creates the conv and plan of a configuration. A device alone gets a
 * context of just that device, so that its plan cannot use the others.
 */
static int plan_configuration(const split_session *session,
                              const suite_layer *layer,
                              const split_data *data,
                              split_configuration *configuration) {
  gcl_context *context = session->context;
  int rc = 0;
  if (configuration->alone_device >= 0) {
    const gcl_device_info *device =
        &session->devices[configuration->alone_device];
    char spec[32];
    snprintf(spec, sizeof spec, "%u:%u", device->platform_index,
             device->device_index);
    rc = cli_create_context(COMMAND, spec, &configuration->alone_context);
    context = configuration->alone_context;
  }

  if (rc == 0) {
    const gcl_status status = gcl_conv_create(
        context, &layer->desc, data->weights, data->bias, &configuration->conv);
    if (status != GCL_SUCCESS) {
      rc = cli_library_error(COMMAND, "creating the convolution", status);
    }
  }
  if (rc == 0) {
    const gcl_status status =
        gcl_plan_create(configuration->conv, layer->rank, layer->input_shape,
                        &configuration->options, &configuration->plan);
    if (status != GCL_SUCCESS) {
      cli_error(COMMAND, "configuration %s:", configuration->label);
      rc = cli_library_error(COMMAND, "planning the layer", status);
    }
  }
  if (rc == 0) {
    configuration->slots = gcl_plan_slot_count(configuration->plan);
    rc = allocate_run_records((size_t)session->request->runs, configuration);
  }
  return rc;
}

static int plan_configurations(split_session *session,
                               const suite_layer *layer,
                               const split_data *data) {
  int rc = 0;
  for (size_t i = 0; i < session->configuration_count && rc == 0; i++) {
    show_progress(i, session->configuration_count,
                  session->configurations[i].label);
    rc = plan_configuration(session, layer, data,
                            &session->configurations[i]);
  }
  return rc;
}

static void release_configurations(split_session *session) {
  for (size_t i = 0; i < session->configuration_count; i++) {
    split_configuration *configuration = &session->configurations[i];
    gcl_plan_destroy(configuration->plan);
    gcl_conv_destroy(configuration->conv);
    gcl_context_destroy(configuration->alone_context);
    free(configuration->times_ms);
    free(configuration->infos);
  }
}

/* ------------------------------------------------------------------------ */
/* Timing                                                                   */

/* Compares the latest output with the single output, element by element. */
static void compare_output(const split_data *data,
                           split_configuration *configuration) {
  for (size_t i = 0; i < data->output_count; i++) {
    const double expected = data->single_output[i];
    const double difference = fabs((double)data->output[i] - expected);
    if (difference > configuration->max_difference || isnan(difference)) {
      configuration->max_difference = difference;
    }
    if (!(difference <=
          TOLERANCE_ABSOLUTE + TOLERANCE_RELATIVE * fabs(expected))) {
      configuration->mismatch = 1;
    }
  }
}

/*
 * Runs a configuration once and checks its output. run is the index of a
 * timed run, whose time and profile are kept, or -1 for a warm-up run.
 */
static int run_once(split_session *session, split_data *data,
                    split_configuration *configuration, int64_t run) {
  const double start = cli_now_ms();
  gcl_status status =
      gcl_plan_forward(configuration->plan, data->input, data->output);
  const double elapsed_ms = cli_now_ms() - start;
  if (status == GCL_SUCCESS && run >= 0) {
    configuration->times_ms[run] = elapsed_ms;
    status = gcl_plan_run_info(configuration->plan,
                               &configuration->infos[run]);
  }
  if (status != GCL_SUCCESS) {
    cli_error(COMMAND, "configuration %s:", configuration->label);
    return cli_library_error(COMMAND, "running the convolution", status);
  }

  /* single runs first in every round, so its output is the reference. */
  if (configuration == &session->configurations[0]) {
    memcpy(data->single_output, data->output,
           data->output_count * sizeof *data->output);
  }
  compare_output(data, configuration);
  return 0;
}

/*
 * Runs the warm-up rounds, then the timed rounds. Each round runs every
 * configuration once, so that a change in the machine's load during the
 * measurement affects all configurations alike.
 */
static int run_rounds(split_session *session, split_data *data) {
  const split_request *request = session->request;
  const int64_t rounds = request->warmup + request->runs;
  int rc = 0;

  for (int64_t round = 0; round < rounds && rc == 0; round++) {
    const int64_t run = round - request->warmup; /* < 0 while warming up */
    show_progress((size_t)round, (size_t)rounds,
                  run < 0 ? "warm-up run" : "timed run");
    for (size_t i = 0; i < session->configuration_count && rc == 0; i++) {
      rc = run_once(session, data, &session->configurations[i], run);
    }
  }
  show_progress(0, 0, NULL);
  return rc;
}

static int compare_doubles(const void *a, const void *b) {
  const double x = *(const double *)a;
  const double y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Sums the slots' busy time per device of --device, in ms. */
static void sum_busy_time(const split_configuration *configuration,
                          const gcl_run_info *info, double *busy_ms) {
  memset(busy_ms, 0, MAX_DEVICES * sizeof *busy_ms);
  for (size_t i = 0; i < info->slot_count && i < 64; i++) {
    gcl_slot_info slot;
    if (gcl_plan_slot_info(configuration->plan, i, &slot) != GCL_SUCCESS) {
      continue;
    }
    /* A device alone is device 0 of its own context. */
    const size_t device = configuration->alone_device >= 0
                              ? (size_t)configuration->alone_device
                              : slot.device_index;
    if (device < MAX_DEVICES) {
      busy_ms[device] += 1e3 * info->slot_busy_seconds[i];
    }
  }
}

/* Takes the median time, and the busy time and bytes of that run. */
static int summarize_runs(size_t runs, split_configuration *configuration) {
  double *sorted = malloc(runs * sizeof *sorted);
  if (sorted == NULL) {
    cli_error(COMMAND, "out of memory for %zu runs. Give a smaller --runs.",
              runs);
    return CLI_EXIT_RUNTIME;
  }
  memcpy(sorted, configuration->times_ms, runs * sizeof *sorted);
  qsort(sorted, runs, sizeof *sorted, compare_doubles);
  configuration->median_ms = sorted[runs / 2];
  free(sorted);

  size_t median_run = 0;
  while (configuration->times_ms[median_run] != configuration->median_ms) {
    median_run++;
  }
  sum_busy_time(configuration, &configuration->infos[median_run],
                configuration->busy_ms);
  configuration->bytes_moved = configuration->infos[median_run].bytes_moved;
  return 0;
}

/* Replaces ':' and ' ' by '-', so that a label can be part of a file name. */
static void label_for_file(const char *label, char *buffer, size_t size) {
  snprintf(buffer, size, "%s", label);
  for (char *c = buffer; *c != '\0'; c++) {
    if (*c == ':' || *c == ' ') {
      *c = '-';
    }
  }
}

/*
 * Writes the trace of the plan's latest run under a temporary name in the
 * trace folder. finish_traces renames it once every configuration passed.
 */
static int write_trace(const char *trace_dir, const suite_layer *layer,
                       split_configuration *configuration) {
  char label[LABEL_MAX];
  label_for_file(configuration->label, label, sizeof label);
  const int length = snprintf(
      configuration->trace_temp_path, sizeof configuration->trace_temp_path,
      "%s/.%s-%s.json.%ld.tmp", trace_dir, layer->name, label,
      (long)getpid());
  if (length < 0 || (size_t)length >= sizeof configuration->trace_temp_path) {
    cli_error(COMMAND, "--trace-dir %s is too long. Give a shorter path.",
              trace_dir);
    configuration->trace_temp_path[0] = '\0';
    return CLI_EXIT_RUNTIME;
  }

  const gcl_status status = gcl_plan_write_trace(
      configuration->plan, configuration->trace_temp_path);
  if (status != GCL_SUCCESS) {
    configuration->trace_temp_path[0] = '\0';
    return cli_library_error(COMMAND, "writing the trace", status);
  }
  return 0;
}

/* Plans every configuration, runs the rounds and collects the results. */
static int run_configurations(split_session *session,
                              const suite_layer *layer, split_data *data) {
  const split_request *request = session->request;
  int rc = plan_configurations(session, layer, data);
  if (rc == 0) {
    rc = run_rounds(session, data);
  }
  show_progress(0, 0, NULL);

  for (size_t i = 0; i < session->configuration_count && rc == 0; i++) {
    split_configuration *configuration = &session->configurations[i];
    rc = summarize_runs((size_t)request->runs, configuration);
    if (rc == 0 && request->trace_dir != NULL) {
      rc = write_trace(request->trace_dir, layer, configuration);
    }
  }
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Report                                                                   */

static void print_header(const split_session *session,
                         const suite_layer *layer) {
  const gcl_conv_desc *desc = &layer->desc;
  char input[160];
  char output[160];

  printf("layer %s: C %" PRId64 ", K %" PRId64 ", group %" PRId64 ", input "
         "%s, output %s\n",
         layer->name, desc->channels, desc->num_output, desc->group,
         cli_format_shape(layer->rank, layer->input_shape, input,
                          sizeof input),
         cli_format_shape(layer->rank, layer->output_shape, output,
                          sizeof output));
  for (size_t d = 0; d < session->device_count; d++) {
    printf("device %zu: %u:%u %s\n", d, session->devices[d].platform_index,
           session->devices[d].device_index, session->devices[d].device_name);
  }
  printf("time: median of %" PRId64 " timed rounds after %" PRId64
         " warm-up rounds; each round runs every configuration once\n",
         session->request->runs, session->request->warmup);
  cli_note_shared_cpu_devices(session->context);
}

/* Returns the slots' parallel efficiency: speedup per slot used. */
static double efficiency_of(const split_configuration *configuration,
                            double speedup) {
  return configuration->slots > 0 ? speedup / (double)configuration->slots
                                  : 0.0;
}

static void print_table(const split_session *session) {
  const double single_ms = session->configurations[0].median_ms;

  printf("\n%-13s %5s %10s %8s %10s", "configuration", "slots", "time ms",
         "speedup", "efficiency");
  for (size_t d = 0; d < session->device_count; d++) {
    char heading[32];
    snprintf(heading, sizeof heading, "dev%zu busy ms", d);
    printf(" %12s", heading);
  }
  printf(" %9s %9s\n", "MB moved", "max diff");

  for (size_t i = 0; i < session->configuration_count; i++) {
    const split_configuration *configuration = &session->configurations[i];
    const double speedup = single_ms / configuration->median_ms;
    printf("%-13s %5zu %10.3f %7.2fx %10.2f", configuration->label,
           configuration->slots, configuration->median_ms, speedup,
           efficiency_of(configuration, speedup));
    for (size_t d = 0; d < session->device_count; d++) {
      printf(" %12.3f", configuration->busy_ms[d]);
    }
    printf(" %9.3f %9.3g\n", (double)configuration->bytes_moved / 1e6,
           configuration->max_difference);
  }
}

/* Reports the first configuration whose output differs from single. */
static int check_outputs(const split_session *session) {
  for (size_t i = 0; i < session->configuration_count; i++) {
    const split_configuration *configuration = &session->configurations[i];
    if (configuration->mismatch) {
      cli_error(COMMAND, "the output of %s differs from the single output "
                         "by up to %g (tolerance %g relative + %g absolute). "
                         "The OpenCL driver may be faulty, so try another "
                         "device with --device. No files were written.",
                configuration->label, configuration->max_difference,
                TOLERANCE_RELATIVE, TOLERANCE_ABSOLUTE);
      return CLI_EXIT_RUNTIME;
    }
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Output files                                                             */

static int prepare_trace_dir(const char *path) {
  if (mkdir(path, 0777) != 0 && errno != EEXIST) {
    cli_error(COMMAND, "cannot create --trace-dir %s: %s. Give a folder "
                       "whose parent exists and is writable.",
              path, strerror(errno));
    return CLI_EXIT_RUNTIME;
  }

  struct stat info;
  if (stat(path, &info) != 0 || !S_ISDIR(info.st_mode)) {
    cli_error(COMMAND, "--trace-dir %s is not a folder. Give a folder "
                       "name.",
              path);
    return CLI_EXIT_RUNTIME;
  }
  return 0;
}

static void write_csv_rows(FILE *file, const split_session *session,
                           const suite_layer *layer) {
  const double single_ms = session->configurations[0].median_ms;

  fputs("layer,configuration,slots,ms,speedup,efficiency", file);
  for (size_t d = 0; d < session->device_count; d++) {
    fprintf(file, ",busy_ms_device%zu", d);
  }
  fputs(",bytes_moved,max_diff\n", file);

  for (size_t i = 0; i < session->configuration_count; i++) {
    const split_configuration *configuration = &session->configurations[i];
    const double speedup = single_ms / configuration->median_ms;
    fprintf(file, "%s,%s,%zu,%.4f,%.4f,%.4f", layer->name,
            configuration->label, configuration->slots,
            configuration->median_ms, speedup,
            efficiency_of(configuration, speedup));
    for (size_t d = 0; d < session->device_count; d++) {
      fprintf(file, ",%.4f", configuration->busy_ms[d]);
    }
    fprintf(file, ",%" PRIu64 ",%.6g\n", configuration->bytes_moved,
            configuration->max_difference);
  }
}

/*
 * Creates the CSV file under a temporary name before the runs, so that an
 * unwritable path fails before the time is spent. finish_csv fills it.
 */
static int open_csv(split_session *session) {
  const char *path = session->request->csv_path;
  if ((size_t)snprintf(session->csv_temp_path, sizeof session->csv_temp_path,
                       "%s.%ld.tmp", path, (long)getpid()) >=
      sizeof session->csv_temp_path) {
    cli_error(COMMAND, "--csv %s is too long. Give a shorter path.", path);
    session->csv_temp_path[0] = '\0';
    return CLI_EXIT_RUNTIME;
  }

  session->csv_file = fopen(session->csv_temp_path, "w");
  if (session->csv_file == NULL) {
    cli_error(COMMAND, "cannot write --csv %s: %s. Give a path in a "
                       "writable folder.",
              path, strerror(errno));
    session->csv_temp_path[0] = '\0';
    return CLI_EXIT_RUNTIME;
  }
  return 0;
}

/*
 * Writes the rows and renames the temporary CSV file to --csv when keep is
 * set. Otherwise, and when writing fails, it removes the file.
 */
static int finish_csv(split_session *session, const suite_layer *layer,
                      int keep) {
  if (session->csv_file == NULL) {
    return 0;
  }
  if (keep) {
    write_csv_rows(session->csv_file, session, layer);
  }

  const int write_failed = ferror(session->csv_file) != 0;
  const int close_failed = fclose(session->csv_file) != 0;
  session->csv_file = NULL;
  if (!keep) {
    remove(session->csv_temp_path);
    return 0;
  }
  if (write_failed || close_failed ||
      rename(session->csv_temp_path, session->request->csv_path) != 0) {
    cli_error(COMMAND, "cannot write --csv %s: %s. Check that the disk has "
                       "space.",
              session->request->csv_path, strerror(errno));
    remove(session->csv_temp_path);
    return CLI_EXIT_RUNTIME;
  }
  return 0;
}

/* Renames each temporary trace to its final name, or removes them all. */
static int finish_traces(split_session *session, const suite_layer *layer,
                         int keep) {
  int rc = 0;
  for (size_t i = 0; i < session->configuration_count; i++) {
    split_configuration *configuration = &session->configurations[i];
    if (configuration->trace_temp_path[0] == '\0') {
      continue;
    }
    if (!keep || rc != 0) {
      remove(configuration->trace_temp_path);
      continue;
    }

    char label[LABEL_MAX];
    char path[SPLIT_PATH_MAX + 128];
    label_for_file(configuration->label, label, sizeof label);
    snprintf(path, sizeof path, "%s/%s-%s.json", session->request->trace_dir,
             layer->name, label);
    if (rename(configuration->trace_temp_path, path) != 0) {
      cli_error(COMMAND, "cannot write the trace %s: %s. Give a --trace-dir "
                         "you can write to.",
                path, strerror(errno));
      remove(configuration->trace_temp_path);
      rc = CLI_EXIT_RUNTIME;
    }
  }
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Main                                                                     */

static int run_split(const split_request *request, const suite_layer *layer,
                     split_data *data) {
  split_session *session = calloc(1, sizeof *session);
  if (session == NULL) {
    cli_error(COMMAND, "out of memory. Close other programs and retry.");
    return CLI_EXIT_RUNTIME;
  }
  session->request = request;

  int rc = open_devices(session);
  if (rc == 0 && request->trace_dir != NULL) {
    rc = prepare_trace_dir(request->trace_dir);
  }
  if (rc == 0 && request->csv_path != NULL) {
    rc = open_csv(session);
  }
  if (rc == 0) {
    list_configurations(session);
    print_header(session, layer);
    rc = run_configurations(session, layer, data);
  }
  if (rc == 0) {
    print_table(session);
    rc = check_outputs(session);
  }
  const int csv_rc = finish_csv(session, layer, rc == 0);
  if (rc == 0) {
    rc = csv_rc;
  }
  const int trace_rc = finish_traces(session, layer, rc == 0);
  if (rc == 0) {
    rc = trace_rc;
  }
  release_configurations(session);
  gcl_context_destroy(session->context);
  free(session);
  return rc;
}

int cmd_split(int argc, char **argv) {
  split_request request;
  int rc = parse_split_options(argc, argv, &request);
  if (rc != 0) {
    return rc;
  }
  if (request.show_help) {
    print_split_help();
    return CLI_EXIT_SUCCESS;
  }

  suite_layer layer;
  rc = resolve_layer(&request, &layer);
  if (rc != 0) {
    return rc;
  }

  split_data data;
  memset(&data, 0, sizeof data);
  rc = prepare_data(&layer, &data);
  if (rc == 0) {
    rc = run_split(&request, &layer, &data);
  }
  release_data(&data);
  return rc;
}
