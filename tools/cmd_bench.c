/*
 * groupcl bench: times every forward algorithm of the library, and the
 * plan's own choice ("auto"), on a list of layers from a suite file, from
 * flags or from a Caffe network (--prototxt). Each algorithm's output is checked against caffe_gemm's, and the
 * layer is also run through oneDNN when the tool was built with it. Prints
 * a table per layer and a summary of geometric means, and writes CSV, JSON
 * and a PNG bar chart on request.
 */
#define _POSIX_C_SOURCE 200809L

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomic_file.h"
#include "bench_chart.h"
#include "cli.h"
#include "cmd_options.h"
#include "cli_args.h"
#include "net_shapes.h"
#include "prototxt.h"
#include "suite.h"
#ifdef HAVE_DNNL
#include "onednn_bench.h"
#endif

#define COMMAND "bench"

/* Makefile.am defines both. These defaults serve builds outside it. */
#ifndef GCL_DATADIR
#define GCL_DATADIR "/usr/local/share/groupcl"
#endif
#ifndef GCL_SRCDIR
#define GCL_SRCDIR "."
#endif

#define DEFAULT_RUNS 10
#define DEFAULT_WARMUP 2
#define MAX_RUNS 100000
#define MAX_WARMUP 1000

/*
 * Peak float32 throughput used for the "% peak" column unless
 * --peak-gflops gives the device's own. 500 GFLOP/s is the project's figure
 * for its 2-core AMD EPYC (AVX-512) development machine, and other devices
 * need --peak-gflops for a meaningful column.
 * NOTE: a loop of independent AVX-512 FMAs on 2 threads reached only about
 * 234 GFLOP/s on that machine, so this default may be twice its FMA peak.
 */
#define DEFAULT_PEAK_GFLOPS 500.0

/* Results that differ from caffe_gemm's by more than this are flagged. */
#define ERROR_TOLERANCE 1e-4

#define REASON_MAX 320
#define SERIES_NAME_MAX 32

/* Each algorithm except auto, then auto, then oneDNN. */
#define MAX_SERIES (GCL_ALGORITHM_COUNT + 1)

enum bench_option_code {
  OPTION_SUITE = LAYER_OPTION_END,
  OPTION_PROTOTXT,
  OPTION_LAYER,
  OPTION_DEVICE,
  OPTION_RUNS,
  OPTION_WARMUP,
  OPTION_CSV,
  OPTION_JSON,
  OPTION_CHART,
  OPTION_PEAK_GFLOPS,
  OPTION_NO_ONEDNN,
  OPTION_VERBOSE
};

static const struct option bench_options[] = {
    LAYER_LONG_OPTIONS,
    {"suite", required_argument, NULL, OPTION_SUITE},
    {"prototxt", required_argument, NULL, OPTION_PROTOTXT},
    {"layer", required_argument, NULL, OPTION_LAYER},
    {"device", required_argument, NULL, OPTION_DEVICE},
    {"runs", required_argument, NULL, OPTION_RUNS},
    {"warmup", required_argument, NULL, OPTION_WARMUP},
    {"csv", required_argument, NULL, OPTION_CSV},
    {"json", required_argument, NULL, OPTION_JSON},
    {"chart", required_argument, NULL, OPTION_CHART},
    {"peak-gflops", required_argument, NULL, OPTION_PEAK_GFLOPS},
    {"no-onednn", no_argument, NULL, OPTION_NO_ONEDNN},
    {"verbose", no_argument, NULL, OPTION_VERBOSE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}};

typedef enum series_kind {
  SERIES_ALGORITHM, /* one algorithm, requested by id */
  SERIES_AUTO,      /* GCL_ALGORITHM_AUTO: the plan chooses */
  SERIES_ONEDNN
} series_kind;

/* One column of results: an algorithm, auto or oneDNN. */
typedef struct bench_series {
  series_kind kind;
  gcl_algorithm algorithm; /* GCL_ALGORITHM_AUTO for auto and oneDNN */
  char name[SERIES_NAME_MAX];
} bench_series;

/* What one series measured on one layer. */
typedef struct bench_result {
  int measured;              /* 0: n/a, with the reason */
  char reason[REASON_MAX];
  gcl_algorithm chosen;      /* the algorithm the plan ran */
  double median_ms;
  double compile_ms;         /* plan (or oneDNN primitive) creation */
  int has_program_counts;    /* 0 for oneDNN */
  uint64_t programs_built;
  uint64_t programs_loaded;
  int checked;               /* 0 for caffe_gemm itself, or without it */
  double max_rel_error;
} bench_result;

/* One layer and the results of every series on it. */
typedef struct bench_row {
  suite_layer layer;
  double macs; /* multiply-accumulates of one forward pass */
  bench_result results[MAX_SERIES];
  int best; /* series index of the fastest checked algorithm, or -1 */
} bench_row;

/* Derived numbers of one result, NAN where they do not apply. */
typedef struct bench_cell {
  double ms;
  double gflops;
  double peak_fraction;
  double speedup_vs_caffe;
  double vs_onednn; /* oneDNN's time / this time */
  double compile_ms;
  double max_rel_error;
  int flagged; /* max_rel_error above ERROR_TOLERANCE */
} bench_cell;

/* An output file, written under a temporary name until the run succeeds. */
typedef struct output_file {
  const char *option; /* "--csv", for messages */
  const char *path;   /* NULL: not requested */
  char *temporary_path; /* from atomic_file_create, until published */
  FILE *file;           /* open on temporary_path; NULL for the chart */
} output_file;

/* A network convolution layer that bench lists but does not time. */
typedef struct skipped_layer {
  const net_layer *layer; /* points into bench_network.net */
  const char *reason;
} skipped_layer;

/* The network of --prototxt, kept until the end for its layer names. */
typedef struct bench_network {
  const char *path; /* NULL: the layers come from a suite or from flags */
  net_result net;
  skipped_layer *skipped; /* Deconvolution and invalid layers, file order */
  size_t skipped_count;
} bench_network;

typedef struct bench_session {
  const bench_request *request;
  gcl_context *context;
  cl_context cl_context;
  cl_command_queue queue;
  char device_name[256];
  char onednn_version[64]; /* "" when oneDNN is not compared */
  bench_series series[MAX_SERIES];
  size_t series_count;
  int caffe_series;  /* index of caffe_gemm */
  int auto_series;   /* index of auto */
  int onednn_series; /* index of oneDNN, or -1 */
  bench_row *rows;
  size_t row_count;
  bench_network network;
  double *times_ms; /* one entry per timed run */
  output_file csv;
  output_file json;
  output_file chart;
} bench_session;

/* Host and device data of the layer being run. */
typedef struct layer_data {
  float *input;
  float *weights;
  float *bias; /* NULL when the layer has no bias */
  float *reference; /* caffe_gemm's output */
  float *output;
  size_t input_count;
  size_t output_count;
  int has_reference;
  gcl_conv *conv;
  cl_mem input_buffer;
  cl_mem output_buffer;
} layer_data;

/* ------------------------------------------------------------------------ */
/* Help and options                                                         */

static void print_bench_help(void) {
  puts(
    "Usage: groupcl bench [--suite FILE] [--layer NAME[,NAME...]] [OPTIONS]\n"
    "       groupcl bench --channels C --num-output K --kernel K1[,K2[,K3]]\n"
    "                     --input-size S1[,S2[,S3]] [LAYER OPTIONS] [OPTIONS]\n"
    "       groupcl bench --prototxt NET [--layer NAME[,NAME...]] [OPTIONS]\n"
    "       groupcl bench --backward [--help]   (backward against forward)\n"
    "\n"
    "Times each forward algorithm of groupcl, and 'auto' (the algorithm the\n"
    "plan chooses by itself), on each layer, on one queue of the first\n"
    "device (schedule single). Per algorithm it creates a plan, recording\n"
    "how long that took and how many OpenCL programs it compiled or loaded\n"
    "from the disk cache, then runs it --warmup times untimed and --runs\n"
    "times timed. A run is gcl_plan_forward_cl on device buffers of random\n"
    "data followed by clFinish, so no host copies are timed. The output of\n"
    "each algorithm is compared with caffe_gemm's. 'auto' runs what a plan\n"
    "with default options runs: the winner stored in the tuning database\n"
    "for this device and layer when there is one, else the cost model's\n"
    "choice. With GROUPCL_CACHE=off only the cost model chooses.\n"
    "\n"
    "When the tool is built with oneDNN (configure finds libdnnl-dev), the\n"
    "layer also runs through oneDNN's CPU convolution (f32, algorithm\n"
    "auto), timed the same way. Each oneDNN run includes the reorders of\n"
    "the NCHW input into the primitive's format and of the result back to\n"
    "NCHW, which an NCHW caller pays; the weights are reordered once, like\n"
    "groupcl's plan uploads them once.\n"
    "\n"
    "Table columns, one block per layer:\n"
    "  ms            median wall time of one forward pass, milliseconds\n"
    "  GFLOP/s       2 x multiply-accumulates / time (bias not counted)\n"
    "  % peak        GFLOP/s as a percentage of --peak-gflops\n"
    "  vs caffe      caffe_gemm's time / this time (above 1: faster)\n"
    "  vs oneDNN     oneDNN's time / this time (above 1: faster)\n"
    "  compile ms    time to create the plan (for oneDNN: the primitives\n"
    "                and the weight reorder), milliseconds\n"
    "  built/loaded  OpenCL programs the plan compiled from source / loaded\n"
    "                from the disk cache (reuse within the run counts as\n"
    "                neither)\n"
    "  max error     max |y - y_caffe| / max |y_caffe| over the output;\n"
    "                above 1e-4 it is flagged with '!' and a warning on\n"
    "                stderr, without changing the exit status\n"
    "'*' marks the fastest algorithm of the layer whose error is not\n"
    "flagged; auto and oneDNN are not candidates. 'n/a' means that the\n"
    "algorithm cannot run the layer or is not in this build; --verbose\n"
    "shows why. The summary gives geometric means over the layers: auto's\n"
    "and the best algorithm's speedup over caffe_gemm, the same over the\n"
    "depthwise layers (group = C > 1), and the ratios to oneDNN.\n"
    "\n"
    "Layers, from a suite file (default: every row):\n"
    "  --suite FILE        the suite CSV file (default: suite.csv from\n"
    "                      " GCL_DATADIR ", else\n"
    "                      bench/suite.csv of the source tree), with the\n"
    "                      header name,N,C,H,W,K,kh,kw,stride,pad,dilation,\n"
    "                      group,D,kd; see 'groupcl split --help'\n"
    "  --layer NAME[,NAME...]\n"
    "                      run only these rows of the suite, in this order\n"
    "Layer, from flags (as in 'groupcl explain'; --input-size is required):\n"
    "  --channels C, --num-output K, --kernel K1[,K2[,K3]],\n"
    "  --input-size S1[,S2[,S3]]   (required)\n"
    "  --stride S (default 1), --pad P (default 0), --dilation D\n"
    "  (default 1), --group G (default 1), --batch N (default 1), --no-bias\n"
    "  See 'groupcl explain --help' for their meaning and units.\n"
    "Layers, from a Caffe network (not with --suite or the layer flags):\n"
    "  --prototxt NET      time every Convolution and DepthwiseConvolution\n"
    "                      layer of the network (.prototxt), at the input\n"
    "                      shape that shape inference gives it, batch\n"
    "                      included; see 'groupcl explain --help'.\n"
    "                      Deconvolution and invalid layers are listed as\n"
    "                      skipped. After the summary, network totals sum\n"
    "                      the per-layer medians of the best algorithm,\n"
    "                      auto, caffe_gemm and oneDNN, with GFLOP/s and\n"
    "                      the whole network's speedups. When inference\n"
    "                      stops early, the layers before the stop are\n"
    "                      timed and a warning names the stop; exit status\n"
    "                      3 when no layer can be timed.\n"
    "  --layer NAME[,NAME...]\n"
    "                      with --prototxt: only these layers, in this\n"
    "                      order\n"
    "\n"
    "Options:\n"
    "  --device SPEC       OpenCL device to time (default: GROUPCL_DEVICES,\n"
    "                      else 'auto'); see 'groupcl --help'. Only the\n"
    "                      first device it selects is used.\n"
    "  --runs N            timed runs per algorithm and layer, 1 to 100000\n"
    "                      (default 10); the table shows their median\n"
    "  --warmup N          untimed runs before them, 0 to 1000 (default 2)\n"
    "  --peak-gflops X     the device's peak float32 GFLOP/s, for % peak\n"
    "                      (default 500, the figure for a 2-core AVX-512\n"
    "                      AMD EPYC; give your device's)\n"
    "  --csv FILE          write one row per layer and algorithm: layer,\n"
    "                      algorithm, status, chosen_algorithm, ms, gflops,\n"
    "                      peak_fraction, speedup_vs_caffe, vs_onednn,\n"
    "                      compile_ms, programs_built, programs_loaded,\n"
    "                      max_rel_error, best, macs, reason (oneDNN rows\n"
    "                      have algorithm onednn; n/a rows have status n/a\n"
    "                      and empty numbers)\n"
    "  --json FILE         write the same rows, the settings and the\n"
    "                      summary as one JSON object\n"
    "  --chart FILE        write a PNG bar chart of GFLOP/s per layer and\n"
    "                      algorithm, on a logarithmic axis\n"
    "  --no-onednn         do not compare with oneDNN\n"
    "  --verbose           show why an algorithm is n/a\n"
    "  -h, --help          print this help and exit\n"
    "\n"
    "Files are written only when the whole run succeeds, each under a\n"
    "temporary name first and then renamed. A progress line appears on\n"
    "stderr when it is a terminal.");
#ifdef HAVE_DNNL
  puts("\nThis build compares with oneDNN.");
#else
  puts("\nThis build does not compare with oneDNN: install libdnnl-dev and\n"
       "run configure again to compare.");
#endif
}

/* Parses a positive, finite decimal number such as 500 or 1.5e3. */
static int parse_peak(const char *text, bench_request *request) {
  char *end = NULL;
  errno = 0;
  const double value = strtod(text, &end);
  if (end == text || *end != '\0' || errno == ERANGE || !isfinite(value) ||
      value <= 0.0) {
    return cli_usage_error(COMMAND, "--peak-gflops '%s' is not a positive "
                                    "number. Give the device's peak in "
                                    "GFLOP/s, for example --peak-gflops 500.",
                           text);
  }
  request->peak_gflops = value;
  request->peak_given = 1;
  return 0;
}

static int parse_bench_option(int code, const char *text,
                              bench_request *request) {
  if (layer_flags_has_option(code)) {
    return layer_flags_parse(COMMAND, code, text, &request->layer);
  }
  switch (code) {
  case OPTION_SUITE:
    request->suite_path = text;
    return 0;
  case OPTION_PROTOTXT:
    request->prototxt_path = text;
    return 0;
  case OPTION_LAYER:
    request->layer_names = text;
    return 0;
  case OPTION_DEVICE:
    request->device_spec = text;
    return 0;
  case OPTION_RUNS:
    return cli_parse_int64(COMMAND, "--runs", text, 1, MAX_RUNS,
                           &request->runs);
  case OPTION_WARMUP:
    return cli_parse_int64(COMMAND, "--warmup", text, 0, MAX_WARMUP,
                           &request->warmup);
  case OPTION_CSV:
    request->csv_path = text;
    return 0;
  case OPTION_JSON:
    request->json_path = text;
    return 0;
  case OPTION_CHART:
    request->chart_path = text;
    return 0;
  case OPTION_PEAK_GFLOPS:
    return parse_peak(text, request);
  case OPTION_NO_ONEDNN:
    request->no_onednn = 1;
    return 0;
  case OPTION_VERBOSE:
    request->verbose = 1;
    return 0;
  default: /* 'h' */
    request->show_help = 1;
    return 0;
  }
}

/*
 * Rejects empty file names, and layers given by more than one of
 * --prototxt, --suite and the layer flags.
 */
static int check_bench_request(const bench_request *request) {
  const char *paths[] = {request->csv_path, request->json_path,
                         request->chart_path, request->prototxt_path};
  const char *names[] = {"--csv", "--json", "--chart", "--prototxt"};
  for (int i = 0; i < 4; i++) {
    if (paths[i] != NULL && paths[i][0] == '\0') {
      return cli_usage_error(COMMAND, "%s is empty. Give a file name.",
                             names[i]);
    }
  }

  if (request->prototxt_path != NULL &&
      (request->suite_path != NULL || request->layer.any_given)) {
    return cli_usage_error(COMMAND, "--prototxt reads the layers from the "
                                    "network; drop --suite and the layer "
                                    "flags (--channels, --batch, ...).");
  }
  if (!request->layer.any_given) {
    return 0;
  }
  if (request->suite_path != NULL || request->layer_names != NULL) {
    return cli_usage_error(COMMAND, "give either --suite/--layer or the "
                                    "layer flags (--channels, ...), not "
                                    "both.");
  }
  int rc = layer_flags_check_required(COMMAND, &request->layer);
  if (rc == 0 && request->layer.input_size.count == 0) {
    rc = cli_usage_error(COMMAND, "missing --input-size, the spatial size "
                                  "of the input (for example --input-size "
                                  "56,56).");
  }
  return rc;
}

int parse_bench_options(int argc, char **argv, bench_request *request) {
  memset(request, 0, sizeof *request);
  layer_flags_init(&request->layer);
  request->runs = DEFAULT_RUNS;
  request->warmup = DEFAULT_WARMUP;
  request->peak_gflops = DEFAULT_PEAK_GFLOPS;

  int code;
  cli_reset_getopt();
  while ((code = getopt_long(argc, argv, ":h", bench_options, NULL)) != -1) {
    if (code == ':' || code == '?') {
      return cli_report_getopt_error(COMMAND, code, argv, bench_options);
    }
    const int rc = parse_bench_option(code, optarg, request);
    if (rc != 0) {
      return rc;
    }
  }
  if (request->show_help) {
    return 0;
  }

  const int rc = check_bench_request(request);
  return rc != 0 ? rc : cli_check_no_operands(COMMAND, argc, argv);
}

/* ------------------------------------------------------------------------ */
/* Layers                                                                   */

static int allocate_rows(size_t count, bench_session *session) {
  session->rows = calloc(count, sizeof *session->rows);
  if (session->rows == NULL) {
    cli_error(COMMAND, "out of memory for %zu layers.", count);
    return CLI_EXIT_RUNTIME;
  }
  session->row_count = count;
  return 0;
}

static void set_row_from_suite(const suite_row *suite_entry, bench_row *row) {
  snprintf(row->layer.name, sizeof row->layer.name, "%s", suite_entry->name);
  suite_row_layer(suite_entry, &row->layer.desc, &row->layer.rank,
                  row->layer.input_shape);
}

/* Counts the names of a --layer list and checks that none is empty. */
static int count_layer_names(const char *names, size_t *count) {
  *count = 1;
  for (const char *c = names; *c != '\0'; c++) {
    *count += *c == ',';
  }
  const size_t length = strlen(names);
  if (length == 0 || names[0] == ',' || names[length - 1] == ',' ||
      strstr(names, ",,") != NULL) {
    return cli_usage_error(COMMAND, "--layer '%s' has an empty name. Give "
                                    "names separated by single commas.",
                           names);
  }
  return 0;
}

/* Fills the rows with the --layer names, in their order. */
static int select_named_rows(const suite_file *suite, const char *path,
                             const char *names, bench_session *session) {
  size_t count = 0;
  int rc = count_layer_names(names, &count);
  if (rc == 0) {
    rc = allocate_rows(count, session);
  }

  const char *start = names;
  for (size_t i = 0; i < count && rc == 0; i++) {
    const size_t length = strcspn(start, ",");
    char name[SUITE_NAME_MAX + 2];
    snprintf(name, sizeof name, "%.*s", (int)length, start);
    start += length + 1;

    const suite_row *found =
        length <= SUITE_NAME_MAX ? suite_find(suite, name) : NULL;
    if (found == NULL) {
      char known[2048];
      cli_error(COMMAND, "--layer '%s' is not in %s. Its layers are: %s.",
                name, path, suite_list_names(suite, known, sizeof known));
      return CLI_EXIT_INPUT;
    }
    for (size_t j = 0; j < i; j++) {
      if (strcmp(session->rows[j].layer.name, found->name) == 0) {
        return cli_usage_error(COMMAND, "--layer names '%s' twice. Give each "
                                        "layer once.",
                               name);
      }
    }
    set_row_from_suite(found, &session->rows[i]);
  }
  return rc;
}

static int load_suite_rows(const bench_request *request,
                           bench_session *session) {
  const char *path = request->suite_path;
  if (path == NULL) {
    path = suite_default_path();
  }
  if (path == NULL) {
    return cli_usage_error(COMMAND, "no default suite file: neither "
                                    GCL_DATADIR "/suite.csv nor " GCL_SRCDIR
                                    "/bench/suite.csv exists. Give one with "
                                    "--suite FILE, or a layer with flags.");
  }

  suite_file suite;
  char error[1024];
  if (suite_read(path, &suite, error, sizeof error) != 0) {
    cli_error(COMMAND, "%s", error);
    return CLI_EXIT_INPUT;
  }

  int rc = 0;
  if (request->layer_names != NULL) {
    rc = select_named_rows(&suite, path, request->layer_names, session);
  } else {
    rc = allocate_rows(suite.count, session);
    for (size_t i = 0; i < suite.count && rc == 0; i++) {
      set_row_from_suite(&suite.rows[i], &session->rows[i]);
    }
  }
  suite_free(&suite);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Layers of a network                                                      */

/*
 * Parses the network and infers its shapes. A stop is only a warning here,
 * because the layers before it still have their shapes.
 */
static int read_network(const char *path, net_result *net) {
  char error[640];
  ptx_node *root = NULL;
  if (ptx_parse_file(path, &root, error, sizeof error) != 0) {
    cli_error(COMMAND, "%s", error);
    return CLI_EXIT_INPUT;
  }

  const int infer_rc = net_infer(path, root, net);
  ptx_free(root);
  if (infer_rc < 0) {
    cli_error(COMMAND, "%s: out of memory while inferring shapes", path);
    return CLI_EXIT_RUNTIME;
  }
  if (net->stopped) {
    cli_error(COMMAND, "warning: %s. Only the convolution layers before "
                       "this point are timed; 'groupcl explain --prototxt "
                       "%s' shows what is known.",
              net->stop_reason, path);
  }
  return 0;
}

/*
 * Returns the convolution layer named by the first length bytes of name, or
 * NULL. Caffe names layers uniquely, but a repeated name gets its last
 * layer, as net_find_layer does.
 */
static const net_layer *find_network_conv(const net_result *net,
                                          const char *name, size_t length) {
  const net_layer *found = NULL;
  for (size_t i = 0; i < net->layer_count; i++) {
    const net_layer *layer = &net->layers[i];
    if (layer->is_conv && strlen(layer->name) == length &&
        strncmp(layer->name, name, length) == 0) {
      found = layer;
    }
  }
  return found;
}

/* Writes the network's convolution layer names, separated by ", ". */
static const char *list_network_convs(const net_result *net, char *buffer,
                                      size_t size) {
  size_t used = 0;
  buffer[0] = '\0';
  for (size_t i = 0; i < net->layer_count && used < size; i++) {
    if (net->layers[i].is_conv) {
      used += (size_t)snprintf(buffer + used, size - used, "%s%s",
                               used > 0 ? ", " : "", net->layers[i].name);
    }
  }
  if (used >= size && size > 4) {
    snprintf(buffer + size - 4, 4, "...");
  }
  return buffer[0] != '\0' ? buffer : "none";
}

/* Fills selected with the --layer names, in their order. */
static int select_named_convs(const bench_request *request,
                              const net_result *net,
                              const net_layer **selected, size_t count) {
  const char *start = request->layer_names;
  for (size_t i = 0; i < count; i++) {
    const size_t length = strcspn(start, ",");
    selected[i] = find_network_conv(net, start, length);
    if (selected[i] == NULL) {
      char known[2048];
      cli_error(COMMAND, "--layer '%.*s' is not a convolution layer of "
                         "%s%s. Its convolution layers are: %s.",
                (int)length, start, request->prototxt_path,
                net->stopped ? " before inference stopped" : "",
                list_network_convs(net, known, sizeof known));
      return CLI_EXIT_INPUT;
    }
    for (size_t j = 0; j < i; j++) {
      if (selected[j] == selected[i]) {
        return cli_usage_error(COMMAND, "--layer names '%s' twice. Give "
                                        "each layer once.",
                               selected[i]->name);
      }
    }
    start += length + 1;
  }
  return 0;
}

/*
 * Lists the convolution layers to consider: the --layer names, or every
 * Convolution, DepthwiseConvolution and Deconvolution layer in file order.
 * The caller frees *selected.
 */
static int select_network_convs(const bench_request *request,
                                const net_result *net,
                                const net_layer ***selected, size_t *count) {
  *count = 0;
  if (request->layer_names != NULL) {
    const int rc = count_layer_names(request->layer_names, count);
    if (rc != 0) {
      return rc;
    }
  } else {
    for (size_t i = 0; i < net->layer_count; i++) {
      *count += net->layers[i].is_conv != 0;
    }
  }

  /* One spare entry, so that a network without convolutions still gets
   * an allocation to free. */
  *selected = calloc(*count + 1, sizeof **selected);
  if (*selected == NULL) {
    cli_error(COMMAND, "out of memory for %zu layers.", *count);
    return CLI_EXIT_RUNTIME;
  }
  if (request->layer_names != NULL) {
    return select_named_convs(request, net, *selected, *count);
  }

  size_t next = 0;
  for (size_t i = 0; i < net->layer_count; i++) {
    if (net->layers[i].is_conv) {
      (*selected)[next++] = &net->layers[i];
    }
  }
  return 0;
}

/* Returns why bench cannot time the layer, or NULL when it can. */
static const char *skip_reason(const net_layer *layer) {
  if (layer->transposed) {
    return "bench times convolutions; time a transposed layer with "
           "'groupcl conv --transposed' or 'bench --backward --transposed'";
  }
  return layer->invalid_reason;
}

/*
 * Writes a network convolution as a suite layer of rank spatial_dims + 2.
 * The batch is the product of the axes before the channel axis, so a layer
 * with axis > 1 runs as the same work on an NCHW input.
 */
static void set_row_from_network(const net_layer *layer, bench_row *row) {
  suite_layer *target = &row->layer;
  const int spatial_dims = layer->desc.spatial_dims;
  const int first_spatial_axis = layer->input.rank - spatial_dims;

  /* NOTE: a name over SUITE_NAME_MAX bytes is truncated in the table and
   * the files. The networks under tests/nets use at most 28 bytes. */
  snprintf(target->name, sizeof target->name, "%s", layer->name);
  target->desc = layer->desc;
  target->rank = spatial_dims + 2;
  target->input_shape[0] = layer->batch;
  target->input_shape[1] = layer->desc.channels;
  for (int axis = 0; axis < spatial_dims; axis++) {
    target->input_shape[2 + axis] =
        layer->input.dims[first_spatial_axis + axis];
  }
}

/* Sorts the selected layers into rows to time and skipped layers. */
static int split_network_convs(const net_layer *const *selected,
                               size_t count, bench_session *session) {
  bench_network *network = &session->network;
  size_t timed = 0;
  for (size_t i = 0; i < count; i++) {
    timed += skip_reason(selected[i]) == NULL;
  }

  network->skipped = calloc(count - timed + 1, sizeof *network->skipped);
  int rc = network->skipped != NULL ? 0 : CLI_EXIT_RUNTIME;
  if (rc != 0) {
    cli_error(COMMAND, "out of memory for %zu layers.", count);
  }
  if (rc == 0 && timed > 0) {
    rc = allocate_rows(timed, session);
  }

  size_t next_row = 0;
  for (size_t i = 0; i < count && rc == 0; i++) {
    const char *reason = skip_reason(selected[i]);
    if (reason == NULL) {
      set_row_from_network(selected[i], &session->rows[next_row++]);
    } else {
      network->skipped[network->skipped_count++] =
          (skipped_layer){selected[i], reason};
    }
  }
  return rc;
}

static void print_skipped_layers(const bench_network *network) {
  for (size_t i = 0; i < network->skipped_count; i++) {
    const skipped_layer *skipped = &network->skipped[i];
    printf("skipped layer %s (%s): %s\n", skipped->layer->name,
           skipped->layer->type, skipped->reason);
  }
}

/*
 * Reads the network's convolution layers into rows. Exits 3 only when
 * none of them can be timed, after listing the skipped ones.
 */
static int load_network_rows(const bench_request *request,
                             bench_session *session) {
  bench_network *network = &session->network;
  network->path = request->prototxt_path;
  int rc = read_network(network->path, &network->net);

  const net_layer **selected = NULL;
  size_t count = 0;
  if (rc == 0) {
    rc = select_network_convs(request, &network->net, &selected, &count);
  }
  if (rc == 0) {
    rc = split_network_convs(selected, count, session);
  }
  free(selected);

  if (rc == 0 && session->row_count == 0) {
    print_skipped_layers(network);
    cli_error(COMMAND, "%s has no convolution layer that bench can time%s. "
                       "Check the network with 'groupcl explain "
                       "--prototxt %s'.",
              network->path,
              network->net.stopped ? " before inference stopped" : "",
              network->path);
    rc = CLI_EXIT_INPUT;
  }
  return rc;
}

/* Multiplies out the work of one forward pass. */
static double count_macs(const suite_layer *layer) {
  const gcl_conv_desc *desc = &layer->desc;
  double macs = (double)layer->output_shape[0] * (double)desc->num_output *
                (double)(desc->channels / desc->group);
  for (int axis = 0; axis < desc->spatial_dims; axis++) {
    macs *= (double)layer->output_shape[2 + axis] * (double)desc->kernel[axis];
  }
  return macs;
}

/* Reads the layers and checks each under Caffe's rules before any runs. */
static int resolve_layers(const bench_request *request,
                          bench_session *session) {
  int rc = 0;
  if (request->layer.any_given) {
    rc = allocate_rows(1, session);
    if (rc == 0) {
      rc = layer_flags_build_layer(COMMAND, &request->layer,
                                   &session->rows[0].layer);
    }
  } else if (request->prototxt_path != NULL) {
    rc = load_network_rows(request, session);
  } else {
    rc = load_suite_rows(request, session);
  }

  for (size_t i = 0; i < session->row_count && rc == 0; i++) {
    bench_row *row = &session->rows[i];
    rc = suite_layer_check(COMMAND, &row->layer);
    row->macs = count_macs(&row->layer);
    row->best = -1;
  }
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Series                                                                   */

static void add_series(bench_session *session, series_kind kind,
                       gcl_algorithm algorithm, const char *name) {
  bench_series *series = &session->series[session->series_count++];
  series->kind = kind;
  series->algorithm = algorithm;
  snprintf(series->name, sizeof series->name, "%s", name);
}

/*
 * Names an algorithm. One that this build of the library does not know gets
 * "algorithm_N", so that every gcl_algorithm value still has a row.
 */
static const char *algorithm_label(gcl_algorithm algorithm, char *buffer,
                                   size_t size) {
  const char *name = gcl_algorithm_name(algorithm);
  if (strcmp(name, "unknown") != 0) {
    return name;
  }
  snprintf(buffer, size, "algorithm_%d", (int)algorithm);
  return buffer;
}

/* Lists caffe_gemm first, because its output is the reference. */
static void list_series(bench_session *session) {
  char label[SERIES_NAME_MAX];
  session->caffe_series = 0;
  add_series(session, SERIES_ALGORITHM, GCL_ALGORITHM_CAFFE_GEMM,
             algorithm_label(GCL_ALGORITHM_CAFFE_GEMM, label, sizeof label));
  for (int id = 1; id < GCL_ALGORITHM_COUNT; id++) {
    /* The suite and networks give convolutions, which the transposed
       algorithm does not run; bench --backward --transposed times it. */
    if (id != GCL_ALGORITHM_CAFFE_GEMM && id != GCL_ALGORITHM_TRANSPOSED) {
      add_series(session, SERIES_ALGORITHM, (gcl_algorithm)id,
                 algorithm_label((gcl_algorithm)id, label, sizeof label));
    }
  }
  session->auto_series = (int)session->series_count;
  add_series(session, SERIES_AUTO, GCL_ALGORITHM_AUTO, "auto");

  session->onednn_series = -1;
#ifdef HAVE_DNNL
  if (!session->request->no_onednn) {
    session->onednn_series = (int)session->series_count;
    add_series(session, SERIES_ONEDNN, GCL_ALGORITHM_AUTO, "onednn");
    onednn_bench_version(session->onednn_version,
                         sizeof session->onednn_version);
  }
#endif
}

/* ------------------------------------------------------------------------ */
/* Output files                                                             */

/*
 * Creates the file under a temporary name next to its path, so that an
 * unwritable path fails before any time is spent. finish_output_files
 * fills and publishes it.
 */
static int open_output_file(output_file *output) {
  if (output->path == NULL) {
    return 0;
  }
  char error[1024];
  output->file = atomic_file_create(output->path, &output->temporary_path,
                                    error, sizeof error);
  if (output->file == NULL) {
    cli_error(COMMAND, "%s: %s.", output->option, error);
    return CLI_EXIT_RUNTIME;
  }
  return 0;
}

static int open_output_files(bench_session *session) {
  const bench_request *request = session->request;
  session->csv = (output_file){"--csv", request->csv_path, NULL, NULL};
  session->json = (output_file){"--json", request->json_path, NULL, NULL};
  session->chart = (output_file){"--chart", request->chart_path, NULL, NULL};

  int rc = open_output_file(&session->csv);
  if (rc == 0) {
    rc = open_output_file(&session->json);
  }
  if (rc == 0) {
    rc = open_output_file(&session->chart);
  }
  return rc;
}

/* Closes and removes a temporary file that was not published. */
static void discard_output_file(output_file *output) {
  if (output->file != NULL) {
    fclose(output->file);
    output->file = NULL;
  }
  if (output->temporary_path != NULL) {
    atomic_file_discard(output->temporary_path);
    output->temporary_path = NULL;
  }
}

/* ------------------------------------------------------------------------ */
/* Device and data                                                          */

static int open_device(bench_session *session) {
  int rc = cli_create_context(COMMAND, session->request->device_spec,
                              &session->context);
  if (rc != 0) {
    return rc;
  }
  session->cl_context = gcl_context_cl_context(session->context, 0);
  session->queue = gcl_context_cl_queue(session->context, 0);
  cli_context_device_name(session->context, session->device_name,
                          sizeof session->device_name);
  return 0;
}

static int check_cl(cl_int error, const char *what) {
  if (error == CL_SUCCESS) {
    return 0;
  }
  cli_error(COMMAND, "%s failed with OpenCL error %d. Try another device "
                     "with --device.",
            what, (int)error);
  return CLI_EXIT_RUNTIME;
}

static int allocate_host_data(const suite_layer *layer, layer_data *data) {
  const int64_t bias_shape[1] = {layer->desc.num_output};
  size_t weight_count = 0;

  int rc = suite_allocate_floats(COMMAND, "input", layer->rank, layer->input_shape,
                           &data->input, &data->input_count);
  if (rc == 0) {
    rc = suite_allocate_floats(COMMAND, "weights", layer->rank, layer->weight_shape,
                         &data->weights, &weight_count);
  }
  if (rc == 0 && layer->desc.bias_term) {
    rc = suite_allocate_floats(COMMAND, "bias", 1, bias_shape, &data->bias, NULL);
  }
  if (rc == 0) {
    rc = suite_allocate_floats(COMMAND, "output", layer->rank, layer->output_shape,
                         &data->reference, &data->output_count);
  }
  if (rc == 0) {
    rc = suite_allocate_floats(COMMAND, "output", layer->rank, layer->output_shape,
                         &data->output, NULL);
  }
  if (rc != 0) {
    return rc;
  }

  suite_fill_random(data->input, data->input_count, 0x1234567u);
  suite_fill_random(data->weights, weight_count, 0x89abcdeu);
  if (data->bias != NULL) {
    suite_fill_random(data->bias, (size_t)layer->desc.num_output, 0x2468aceu);
  }
  return 0;
}

/* Creates the conv and the device buffers, and uploads the input. */
static int prepare_device_data(const bench_session *session,
                               const suite_layer *layer, layer_data *data) {
  const gcl_status status = gcl_conv_create(
      session->context, &layer->desc, data->weights, data->bias, &data->conv);
  if (status != GCL_SUCCESS) {
    return cli_library_error(COMMAND, "creating the convolution", status);
  }

  cl_int error = CL_SUCCESS;
  data->input_buffer =
      clCreateBuffer(session->cl_context, CL_MEM_READ_ONLY,
                     data->input_count * sizeof(float), NULL, &error);
  int rc = check_cl(error, "allocating the input buffer");
  if (rc == 0) {
    data->output_buffer =
        clCreateBuffer(session->cl_context, CL_MEM_READ_WRITE,
                       data->output_count * sizeof(float), NULL, &error);
    rc = check_cl(error, "allocating the output buffer");
  }
  if (rc == 0) {
    rc = check_cl(clEnqueueWriteBuffer(session->queue, data->input_buffer,
                                       CL_TRUE, 0,
                                       data->input_count * sizeof(float),
                                       data->input, 0, NULL, NULL),
                  "copying the input to the device");
  }
  return rc;
}

static void release_layer_data(layer_data *data) {
  if (data->input_buffer != NULL) {
    clReleaseMemObject(data->input_buffer);
  }
  if (data->output_buffer != NULL) {
    clReleaseMemObject(data->output_buffer);
  }
  gcl_conv_destroy(data->conv);
  free(data->input);
  free(data->weights);
  free(data->bias);
  free(data->reference);
  free(data->output);
  memset(data, 0, sizeof *data);
}

/* ------------------------------------------------------------------------ */
/* Measuring                                                                */

/*
 * Shows "[3/30] alexnet_conv4: direct ..." on a terminal, or clears it when
 * layer_name is NULL. The cursor returns to the start of the line, so that
 * the next progress line or any message writes over it.
 */
static void show_progress(size_t index, size_t count, const char *layer_name,
                          const char *series_name) {
  if (!isatty(STDERR_FILENO)) {
    return;
  }
  char line[128] = "";
  if (layer_name != NULL) {
    snprintf(line, sizeof line, "[%zu/%zu] %s: %s ...", index + 1, count,
             layer_name, series_name);
  }
  /* 79 columns, so that the line does not wrap on an 80-column terminal. */
  fprintf(stderr, "\r%-79.79s\r", line);
  fflush(stderr);
}

static int compare_doubles(const void *a, const void *b) {
  const double x = *(const double *)a;
  const double y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Sorts the run times in place and returns their median. */
static double median_of(double *times_ms, size_t count) {
  qsort(times_ms, count, sizeof *times_ms, compare_doubles);
  return count % 2 == 1
             ? times_ms[count / 2]
             : 0.5 * (times_ms[count / 2 - 1] + times_ms[count / 2]);
}

/*
 * Returns max |output - reference| / max |reference|: the largest
 * difference relative to the output's scale. An element-wise ratio would
 * blow up at outputs near zero, which random data produces. A NaN or
 * infinite output gives INFINITY.
 */
static double max_relative_error(const float *output, const float *reference,
                                 size_t count) {
  double largest_difference = 0.0;
  double largest_reference = 0.0;
  for (size_t i = 0; i < count; i++) {
    if (!isfinite(output[i])) {
      return INFINITY;
    }
    largest_difference =
        fmax(largest_difference, fabs((double)output[i] - reference[i]));
    largest_reference = fmax(largest_reference, fabs((double)reference[i]));
  }
  return largest_reference > 0.0 ? largest_difference / largest_reference
                                 : largest_difference;
}

/* Stores the output of caffe_gemm as the reference, or checks another. */
static void check_output(const bench_session *session, int series_index,
                         layer_data *data, bench_result *result) {
  if (series_index == session->caffe_series) {
    memcpy(data->reference, data->output,
           data->output_count * sizeof *data->output);
    data->has_reference = 1;
    return;
  }
  if (data->has_reference) {
    result->checked = 1;
    result->max_rel_error = max_relative_error(data->output, data->reference,
                                               data->output_count);
  }
}

/* Runs the plan --warmup times, then --runs times timed, to completion. */
static int time_plan(bench_session *session, gcl_plan *plan,
                     const layer_data *data, double *median_ms) {
  const int64_t runs = session->request->runs;
  const int64_t total = session->request->warmup + runs;
  for (int64_t run = 0; run < total; run++) {
    const double start = cli_now_ms();
    const gcl_status status = gcl_plan_forward_cl(
        plan, data->input_buffer, data->output_buffer, 0, NULL, NULL);
    if (status != GCL_SUCCESS) {
      return cli_library_error(COMMAND, "running the convolution", status);
    }
    const int rc = check_cl(clFinish(session->queue),
                            "waiting for the convolution");
    if (rc != 0) {
      return rc;
    }
    const int64_t timed = run - session->request->warmup;
    if (timed >= 0) {
      session->times_ms[timed] = cli_now_ms() - start;
    }
  }
  *median_ms = median_of(session->times_ms, (size_t)runs);
  return 0;
}

/*
 * Fills the output buffer with NaN, so that an algorithm that leaves
 * elements unwritten fails the check instead of passing with the previous
 * algorithm's values.
 */
static int poison_output(const bench_session *session,
                         const layer_data *data) {
  const float not_a_number = NAN;
  return check_cl(clEnqueueFillBuffer(session->queue, data->output_buffer,
                                      &not_a_number, sizeof not_a_number, 0,
                                      data->output_count * sizeof(float), 0,
                                      NULL, NULL),
                  "clearing the output buffer");
}

static int read_output(const bench_session *session, layer_data *data) {
  return check_cl(clEnqueueReadBuffer(session->queue, data->output_buffer,
                                      CL_TRUE, 0,
                                      data->output_count * sizeof(float),
                                      data->output, 0, NULL, NULL),
                  "copying the output to the host");
}

/*
 * Creates the plan of one series, timing its creation and counting the
 * programs it compiled and loaded. A layer the algorithm cannot run gives
 * *plan NULL, with the reason in the result, and returns 0.
 */
static int create_plan(bench_session *session, const bench_series *series,
                       const suite_layer *layer, layer_data *data,
                       bench_result *result, gcl_plan **plan) {
  gcl_plan_options options;
  gcl_plan_options_init(&options);
  options.algorithm = series->algorithm;
  options.schedule = GCL_SCHEDULE_SINGLE;

  gcl_context_stats before, after;
  gcl_status status = gcl_context_get_stats(session->context, &before);
  if (status != GCL_SUCCESS) {
    return cli_library_error(COMMAND, "reading the context statistics",
                             status);
  }
  const double start = cli_now_ms();
  status = gcl_plan_create(data->conv, layer->rank, layer->input_shape,
                           &options, plan);
  result->compile_ms = cli_now_ms() - start;

  if (status == GCL_ERROR_UNSUPPORTED) {
    snprintf(result->reason, sizeof result->reason, "%s", gcl_last_error());
    return 0;
  }
  if (status != GCL_SUCCESS) {
    cli_error(COMMAND, "layer %s, algorithm %s:", layer->name, series->name);
    return cli_library_error(COMMAND, "planning the layer", status);
  }

  status = gcl_context_get_stats(session->context, &after);
  if (status != GCL_SUCCESS) {
    return cli_library_error(COMMAND, "reading the context statistics",
                             status);
  }
  result->has_program_counts = 1;
  result->programs_built = after.programs_built - before.programs_built;
  result->programs_loaded = after.programs_loaded - before.programs_loaded;
  result->chosen = gcl_plan_algorithm(*plan);
  return 0;
}

/* Plans, times and checks one algorithm (or auto) on the layer. */
static int run_groupcl_series(bench_session *session, int series_index,
                              const suite_layer *layer, layer_data *data,
                              bench_result *result) {
  const bench_series *series = &session->series[series_index];
  if (series->kind == SERIES_ALGORITHM &&
      strcmp(gcl_algorithm_name(series->algorithm), "unknown") == 0) {
    snprintf(result->reason, sizeof result->reason,
             "this build of libgroupcl has no %s algorithm", series->name);
    return 0;
  }

  gcl_plan *plan = NULL;
  int rc = create_plan(session, series, layer, data, result, &plan);
  if (rc != 0 || plan == NULL) {
    return rc;
  }

  rc = poison_output(session, data);
  if (rc == 0) {
    rc = time_plan(session, plan, data, &result->median_ms);
  }
  if (rc == 0) {
    rc = read_output(session, data);
  }
  if (rc == 0) {
    result->measured = 1;
    check_output(session, series_index, data, result);
  }
  gcl_plan_destroy(plan);
  return rc;
}

#ifdef HAVE_DNNL
static int run_onednn_series(bench_session *session, const suite_layer *layer,
                             layer_data *data, bench_result *result) {
  const onednn_layer onednn = {&layer->desc,       layer->rank,
                               layer->input_shape, layer->output_shape,
                               data->input,        data->weights,
                               data->bias};
  onednn_timing timing = {0.0, session->times_ms};
  const int outcome = onednn_bench_run(
      &onednn, (int)session->request->warmup, (int)session->request->runs,
      &timing, data->output, result->reason, sizeof result->reason);
  if (outcome == ONEDNN_UNSUPPORTED) {
    return 0;
  }
  if (outcome != ONEDNN_OK) {
    cli_error(COMMAND, "layer %s: %s", layer->name, result->reason);
    return CLI_EXIT_RUNTIME;
  }

  result->measured = 1;
  result->compile_ms = timing.setup_ms;
  result->median_ms =
      median_of(session->times_ms, (size_t)session->request->runs);
  check_output(session, session->onednn_series, data, result);
  return 0;
}
#endif

/* Runs every series on the row's layer. */
static int run_row(bench_session *session, size_t row_index) {
  bench_row *row = &session->rows[row_index];
  layer_data data;
  memset(&data, 0, sizeof data);

  int rc = allocate_host_data(&row->layer, &data);
  if (rc == 0) {
    rc = prepare_device_data(session, &row->layer, &data);
  }
  for (size_t s = 0; s < session->series_count && rc == 0; s++) {
    const bench_series *series = &session->series[s];
    bench_result *result = &row->results[s];
    show_progress(row_index, session->row_count, row->layer.name,
                  series->name);
    if (series->kind != SERIES_ONEDNN) {
      rc = run_groupcl_series(session, (int)s, &row->layer, &data, result);
    }
#ifdef HAVE_DNNL
    else {
      rc = run_onednn_series(session, &row->layer, &data, result);
    }
#endif
  }
  show_progress(0, 0, NULL, NULL);
  release_layer_data(&data);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Derived numbers                                                          */

static double geometric_mean(double log_sum, int count) {
  return count > 0 ? exp(log_sum / count) : NAN;
}

static int is_flagged(const bench_result *result) {
  return result->checked && !(result->max_rel_error <= ERROR_TOLERANCE);
}

/* Marks the fastest algorithm whose output passed the check. */
static void choose_best(const bench_session *session, bench_row *row) {
  row->best = -1;
  for (size_t s = 0; s < session->series_count; s++) {
    const bench_result *result = &row->results[s];
    if (session->series[s].kind != SERIES_ALGORITHM || !result->measured ||
        is_flagged(result)) {
      continue;
    }
    if (row->best < 0 ||
        result->median_ms < row->results[row->best].median_ms) {
      row->best = (int)s;
    }
  }
}

static double measured_ms(const bench_row *row, int series_index) {
  if (series_index < 0 || !row->results[series_index].measured) {
    return NAN;
  }
  return row->results[series_index].median_ms;
}

static bench_cell derive_cell(const bench_session *session,
                              const bench_row *row, size_t series_index) {
  const bench_result *result = &row->results[series_index];
  bench_cell cell = {NAN, NAN, NAN, NAN, NAN, NAN, NAN, 0};
  if (!result->measured) {
    return cell;
  }

  cell.ms = result->median_ms;
  cell.gflops = 2.0 * row->macs / (cell.ms * 1e6);
  cell.peak_fraction = cell.gflops / session->request->peak_gflops;
  cell.speedup_vs_caffe = measured_ms(row, session->caffe_series) / cell.ms;
  if ((int)series_index != session->onednn_series) {
    cell.vs_onednn = measured_ms(row, session->onednn_series) / cell.ms;
  }
  cell.compile_ms = result->compile_ms;
  if (result->checked) {
    cell.max_rel_error = result->max_rel_error;
    cell.flagged = is_flagged(result);
  }
  return cell;
}

static int is_depthwise(const gcl_conv_desc *desc) {
  return desc->group > 1 && desc->group == desc->channels;
}

/* Geometric means of time ratios over the layers where both ran. */
typedef struct ratio_mean {
  double log_sum;
  int count;
} ratio_mean;

static void add_ratio(ratio_mean *mean, double numerator_ms,
                      double denominator_ms) {
  const double ratio = numerator_ms / denominator_ms;
  if (isfinite(ratio) && ratio > 0.0) {
    mean->log_sum += log(ratio);
    mean->count++;
  }
}

typedef struct bench_summary {
  ratio_mean auto_vs_caffe;
  ratio_mean best_vs_caffe;
  ratio_mean depthwise_auto_vs_caffe;
  ratio_mean depthwise_best_vs_caffe;
  ratio_mean auto_vs_onednn;
  ratio_mean best_vs_onednn;
  int depthwise_layers;
  int not_available; /* results that are n/a */
  int flagged;       /* results above the error tolerance */
} bench_summary;

static void summarize(const bench_session *session, bench_summary *summary) {
  memset(summary, 0, sizeof *summary);
  for (size_t i = 0; i < session->row_count; i++) {
    const bench_row *row = &session->rows[i];
    const double caffe_ms = measured_ms(row, session->caffe_series);
    const double auto_ms = measured_ms(row, session->auto_series);
    const double best_ms = measured_ms(row, row->best);
    const double onednn_ms = measured_ms(row, session->onednn_series);

    add_ratio(&summary->auto_vs_caffe, caffe_ms, auto_ms);
    add_ratio(&summary->best_vs_caffe, caffe_ms, best_ms);
    add_ratio(&summary->auto_vs_onednn, onednn_ms, auto_ms);
    add_ratio(&summary->best_vs_onednn, onednn_ms, best_ms);
    if (is_depthwise(&row->layer.desc)) {
      summary->depthwise_layers++;
      add_ratio(&summary->depthwise_auto_vs_caffe, caffe_ms, auto_ms);
      add_ratio(&summary->depthwise_best_vs_caffe, caffe_ms, best_ms);
    }
    for (size_t s = 0; s < session->series_count; s++) {
      summary->not_available += !row->results[s].measured;
      summary->flagged += is_flagged(&row->results[s]);
    }
  }
}

/* ------------------------------------------------------------------------ */
/* Table                                                                    */

static void print_settings(const bench_session *session) {
  const bench_request *request = session->request;
  printf("device: %s (schedule single, first device only)\n",
         session->device_name);
  printf("peak: %g GFLOP/s (%s)\n", request->peak_gflops,
         request->peak_given ? "--peak-gflops"
                             : "default; give this device's peak with "
                               "--peak-gflops");
  printf("time: median of %" PRId64 " runs after %" PRId64 " warm-up runs, "
         "device buffers, no host copies\n",
         request->runs, request->warmup);
#ifdef HAVE_DNNL
  if (session->onednn_series >= 0) {
    printf("oneDNN: %s, f32, NCHW reorders of input and output timed\n",
           session->onednn_version);
  } else {
    puts("oneDNN: not compared (--no-onednn)");
  }
#else
  puts("oneDNN: not compared (this build has no oneDNN; install "
       "libdnnl-dev and run configure again)");
#endif
  cli_note_shared_cpu_devices(session->context);
  if (session->network.path != NULL) {
    printf("network: %s, %zu convolution layer%s to time, %zu skipped\n",
           session->network.path, session->row_count,
           session->row_count == 1 ? "" : "s",
           session->network.skipped_count);
    print_skipped_layers(&session->network);
  }
}

/* Formats one value per spatial axis, as "3x3". */
static const char *format_axes(const int64_t *values, int count, char *buffer,
                               size_t size) {
  size_t used = 0;
  buffer[0] = '\0';
  for (int i = 0; i < count && used < size; i++) {
    used += (size_t)snprintf(buffer + used, size - used, "%s%" PRId64,
                             i > 0 ? "x" : "", values[i]);
  }
  return buffer;
}

static void print_layer_header(const bench_row *row) {
  const suite_layer *layer = &row->layer;
  const gcl_conv_desc *desc = &layer->desc;
  const int axes = desc->spatial_dims;
  char kernel[64], stride[64], pad[64], dilation[64], input[160], output[160];

  printf("\nlayer %s: C %" PRId64 ", K %" PRId64 ", group %" PRId64
         "%s, kernel %s, stride %s, pad %s, dilation %s\n",
         layer->name, desc->channels, desc->num_output, desc->group,
         is_depthwise(desc) ? " (depthwise)" : "",
         format_axes(desc->kernel, axes, kernel, sizeof kernel),
         format_axes(desc->stride, axes, stride, sizeof stride),
         format_axes(desc->pad, axes, pad, sizeof pad),
         format_axes(desc->dilation, axes, dilation, sizeof dilation));
  printf("  input %s, output %s, %.4g GMAC\n",
         cli_format_shape(layer->rank, layer->input_shape, input,
                          sizeof input),
         cli_format_shape(layer->rank, layer->output_shape, output,
                          sizeof output),
         row->macs / 1e9);
  printf("    %-24s %9s %9s %7s %10s %10s %11s %13s  %s\n", "algorithm", "ms",
         "GFLOP/s", "% peak", "vs caffe", "vs oneDNN", "compile ms",
         "built/loaded", "max error");
}

/* Prints "1.23x" into buffer, or "-" for a missing ratio. */
static const char *format_ratio(double ratio, char *buffer, size_t size) {
  if (isfinite(ratio)) {
    snprintf(buffer, size, "%.2fx", ratio);
  } else {
    snprintf(buffer, size, "-");
  }
  return buffer;
}

static const char *format_error(const bench_session *session, int series,
                                const bench_result *result, char *buffer,
                                size_t size) {
  if (series == session->caffe_series) {
    snprintf(buffer, size, "reference");
  } else if (!result->checked) {
    snprintf(buffer, size, "unchecked (caffe_gemm n/a)");
  } else {
    snprintf(buffer, size, "%.1e%s", result->max_rel_error,
             is_flagged(result) ? " !" : "");
  }
  return buffer;
}

static void print_result_line(const bench_session *session,
                              const bench_row *row, size_t s) {
  const bench_result *result = &row->results[s];
  const bench_series *series = &session->series[s];
  char label[SERIES_NAME_MAX * 2 + 4];
  if (series->kind == SERIES_AUTO && result->measured) {
    char chosen[SERIES_NAME_MAX];
    snprintf(label, sizeof label, "auto (%s)",
             algorithm_label(result->chosen, chosen, sizeof chosen));
  } else {
    snprintf(label, sizeof label, "%s", series->name);
  }
  const char mark = row->best == (int)s ? '*' : ' ';

  if (!result->measured) {
    if (session->request->verbose) {
      printf("  %c %-24s %9s  %s\n", mark, label, "n/a", result->reason);
    } else {
      printf("  %c %-24s %9s\n", mark, label, "n/a");
    }
    return;
  }

  const bench_cell cell = derive_cell(session, row, s);
  char speedup[32], versus[32], counts[48], error[48];
  if (result->has_program_counts) {
    snprintf(counts, sizeof counts, "%" PRIu64 "/%" PRIu64,
             result->programs_built, result->programs_loaded);
  } else {
    snprintf(counts, sizeof counts, "-");
  }
  printf("  %c %-24s %9.3f %9.2f %7.1f %10s %10s %11.1f %13s  %s\n", mark,
         label, cell.ms, cell.gflops, 100.0 * cell.peak_fraction,
         format_ratio(cell.speedup_vs_caffe, speedup, sizeof speedup),
         format_ratio(cell.vs_onednn, versus, sizeof versus), cell.compile_ms,
         counts, format_error(session, (int)s, result, error, sizeof error));
}

static void print_row(const bench_session *session, const bench_row *row) {
  print_layer_header(row);
  for (size_t s = 0; s < session->series_count; s++) {
    print_result_line(session, row, s);
  }
  fflush(stdout);
}

static void print_mean(const char *label, const ratio_mean *mean,
                       const char *unit) {
  if (mean->count == 0) {
    printf("  %-44s -  (no layer has both)\n", label);
    return;
  }
  printf("  %-44s %.2fx  (%d layer%s; %s)\n", label,
         geometric_mean(mean->log_sum, mean->count), mean->count,
         mean->count == 1 ? "" : "s", unit);
}

static void print_summary(const bench_session *session,
                          const bench_summary *summary) {
  printf("\nsummary over %zu layer%s (geometric means):\n", session->row_count,
         session->row_count == 1 ? "" : "s");
  print_mean("auto over caffe_gemm:", &summary->auto_vs_caffe,
             "caffe_gemm ms / auto ms");
  print_mean("best algorithm over caffe_gemm:", &summary->best_vs_caffe,
             "caffe_gemm ms / best ms");
  if (summary->depthwise_layers > 0) {
    print_mean("depthwise layers, auto over caffe_gemm:",
               &summary->depthwise_auto_vs_caffe, "caffe_gemm ms / auto ms");
    print_mean("depthwise layers, best over caffe_gemm:",
               &summary->depthwise_best_vs_caffe, "caffe_gemm ms / best ms");
  } else {
    puts("  depthwise layers (group = C > 1):            none selected");
  }
  if (session->onednn_series >= 0) {
    print_mean("auto vs oneDNN:", &summary->auto_vs_onednn,
               "oneDNN ms / auto ms, above 1: groupcl faster");
    print_mean("best algorithm vs oneDNN:", &summary->best_vs_onednn,
               "oneDNN ms / best ms");
  }
  if (summary->not_available > 0 && !session->request->verbose) {
    printf("%d result%s n/a; --verbose shows why.\n", summary->not_available,
           summary->not_available == 1 ? " is" : "s are");
  }
}

/* ------------------------------------------------------------------------ */
/* Network totals                                                           */

/* A sum of per-layer median times, and the layers that lack one. */
typedef struct time_total {
  double ms;
  int missing; /* layers where the series is n/a */
} time_total;

typedef struct network_totals {
  double macs;
  time_total best;
  time_total automatic; /* auto */
  time_total caffe;
  time_total onednn;
} network_totals;

static void add_time(time_total *total, double ms) {
  if (isfinite(ms)) {
    total->ms += ms;
  } else {
    total->missing++;
  }
}

static void sum_network(const bench_session *session,
                        network_totals *totals) {
  memset(totals, 0, sizeof *totals);
  for (size_t i = 0; i < session->row_count; i++) {
    const bench_row *row = &session->rows[i];
    totals->macs += row->macs;
    add_time(&totals->best, measured_ms(row, row->best));
    add_time(&totals->automatic, measured_ms(row, session->auto_series));
    add_time(&totals->caffe, measured_ms(row, session->caffe_series));
    add_time(&totals->onednn, measured_ms(row, session->onednn_series));
  }
}

/* Returns the sum, or NAN when a layer lacks the series. */
static double total_ms(const time_total *total) {
  return total->missing == 0 ? total->ms : NAN;
}

static double total_gflops(const network_totals *totals,
                           const time_total *total) {
  return 2.0 * totals->macs / (total_ms(total) * 1e6);
}

/* Returns numerator's total / denominator's total, NAN when incomplete. */
static double total_ratio(const time_total *numerator,
                          const time_total *denominator) {
  return total_ms(numerator) / total_ms(denominator);
}

static void print_total_time(const char *label, const network_totals *totals,
                             const time_total *total) {
  if (total->missing > 0) {
    printf("  %-34s -  (n/a on %d layer%s)\n", label, total->missing,
           total->missing == 1 ? "" : "s");
    return;
  }
  printf("  %-34s %10.3f ms %10.2f GFLOP/s\n", label, total->ms,
         total_gflops(totals, total));
}

static void print_total_ratio(const char *label, double ratio,
                              const char *unit) {
  char text[32];
  printf("  %-34s %10s  (%s)\n", label,
         format_ratio(ratio, text, sizeof text), unit);
}

/*
 * Prints what one forward pass through the timed layers costs, as the sum
 * of their median times. The layers run one after another, so the sums
 * model the network's convolutions without its other layers.
 */
static void print_network_totals(const bench_session *session,
                                 const network_totals *totals) {
  const size_t skipped = session->network.skipped_count;
  printf("\nnetwork totals over %zu convolution layer%s of %s (sums of "
         "median times%s):\n",
         session->row_count, session->row_count == 1 ? "" : "s",
         session->network.path,
         skipped > 0 ? ", skipped layers not included" : "");
  print_total_time("best algorithm of each layer:", totals, &totals->best);
  print_total_time("auto:", totals, &totals->automatic);
  print_total_time("caffe_gemm:", totals, &totals->caffe);
  if (session->onednn_series >= 0) {
    print_total_time("oneDNN:", totals, &totals->onednn);
  }
  print_total_ratio("auto over caffe_gemm:",
                    total_ratio(&totals->caffe, &totals->automatic),
                    "caffe_gemm total / auto total");
  print_total_ratio("best over caffe_gemm:",
                    total_ratio(&totals->caffe, &totals->best),
                    "caffe_gemm total / best total");
  if (session->onednn_series >= 0) {
    print_total_ratio("auto vs oneDNN:",
                      total_ratio(&totals->onednn, &totals->automatic),
                      "oneDNN total / auto total, above 1: groupcl faster");
  }
}

/* ------------------------------------------------------------------------ */
/* CSV and JSON                                                             */

static void write_csv_number(FILE *file, double value) {
  if (isfinite(value)) {
    fprintf(file, ",%.6g", value);
  } else {
    fputc(',', file);
  }
}

/* Writes text as a CSV field, quoted, with quotes doubled. */
static void write_csv_text(FILE *file, const char *text) {
  fputs(",\"", file);
  for (const char *c = text; *c != '\0'; c++) {
    if (*c == '"') {
      fputc('"', file);
    }
    fputc(*c, file);
  }
  fputc('"', file);
}

static const char *status_name(const bench_result *result) {
  if (!result->measured) {
    return "n/a";
  }
  return is_flagged(result) ? "error_above_tolerance" : "ok";
}

static const char *chosen_name(const bench_session *session, size_t s,
                               const bench_result *result, char *buffer,
                               size_t size) {
  if (!result->measured || session->series[s].kind == SERIES_ONEDNN) {
    return "";
  }
  return algorithm_label(result->chosen, buffer, size);
}

static void write_csv(FILE *file, const bench_session *session) {
  fputs("layer,algorithm,status,chosen_algorithm,ms,gflops,peak_fraction,"
        "speedup_vs_caffe,vs_onednn,compile_ms,programs_built,"
        "programs_loaded,max_rel_error,best,macs,reason\n",
        file);
  for (size_t i = 0; i < session->row_count; i++) {
    const bench_row *row = &session->rows[i];
    for (size_t s = 0; s < session->series_count; s++) {
      const bench_result *result = &row->results[s];
      const bench_cell cell = derive_cell(session, row, s);
      char chosen[SERIES_NAME_MAX];
      fprintf(file, "%s,%s,%s,%s", row->layer.name, session->series[s].name,
              status_name(result),
              chosen_name(session, s, result, chosen, sizeof chosen));
      write_csv_number(file, cell.ms);
      write_csv_number(file, cell.gflops);
      write_csv_number(file, cell.peak_fraction);
      write_csv_number(file, cell.speedup_vs_caffe);
      write_csv_number(file, cell.vs_onednn);
      write_csv_number(file, cell.compile_ms);
      if (result->has_program_counts) {
        fprintf(file, ",%" PRIu64 ",%" PRIu64, result->programs_built,
                result->programs_loaded);
      } else {
        fputs(",,", file);
      }
      write_csv_number(file, cell.max_rel_error);
      fprintf(file, ",%d,%.0f", row->best == (int)s, row->macs);
      write_csv_text(file, result->measured ? "" : result->reason);
      fputc('\n', file);
    }
  }
}

static void write_json_string(FILE *file, const char *text) {
  fputc('"', file);
  for (const unsigned char *c = (const unsigned char *)text; *c != '\0';
       c++) {
    if (*c == '"' || *c == '\\') {
      fprintf(file, "\\%c", *c);
    } else if (*c < 0x20) {
      fprintf(file, "\\u%04x", *c);
    } else {
      fputc(*c, file);
    }
  }
  fputc('"', file);
}

/* Writes "name": value, with null for a missing number. */
static void write_json_number(FILE *file, const char *name, double value) {
  fprintf(file, "\"%s\": ", name);
  if (isfinite(value)) {
    fprintf(file, "%.6g", value);
  } else {
    fputs("null", file);
  }
}

static void write_json_result(FILE *file, const bench_session *session,
                              const bench_row *row, size_t s) {
  const bench_result *result = &row->results[s];
  const bench_cell cell = derive_cell(session, row, s);
  char chosen[SERIES_NAME_MAX];

  fputs("    {\"layer\": ", file);
  write_json_string(file, row->layer.name);
  fputs(", \"algorithm\": ", file);
  write_json_string(file, session->series[s].name);
  fputs(", \"status\": ", file);
  write_json_string(file, status_name(result));
  fputs(", \"chosen_algorithm\": ", file);
  write_json_string(file,
                    chosen_name(session, s, result, chosen, sizeof chosen));
  fputs(",\n     ", file);
  write_json_number(file, "ms", cell.ms);
  fputs(", ", file);
  write_json_number(file, "gflops", cell.gflops);
  fputs(", ", file);
  write_json_number(file, "peak_fraction", cell.peak_fraction);
  fputs(", ", file);
  write_json_number(file, "speedup_vs_caffe", cell.speedup_vs_caffe);
  fputs(", ", file);
  write_json_number(file, "vs_onednn", cell.vs_onednn);
  fputs(",\n     ", file);
  write_json_number(file, "compile_ms", cell.compile_ms);
  fputs(", ", file);
  write_json_number(file, "programs_built",
                    result->has_program_counts ? (double)result->programs_built
                                               : NAN);
  fputs(", ", file);
  write_json_number(file, "programs_loaded",
                    result->has_program_counts
                        ? (double)result->programs_loaded
                        : NAN);
  fputs(", ", file);
  write_json_number(file, "max_rel_error", cell.max_rel_error);
  fprintf(file, ", \"best\": %s, \"macs\": %.0f, \"reason\": ",
          row->best == (int)s ? "true" : "false", row->macs);
  write_json_string(file, result->measured ? "" : result->reason);
  fputc('}', file);
}

static void write_json_mean(FILE *file, const char *name,
                            const ratio_mean *mean, int last) {
  fprintf(file, "    \"%s\": {", name);
  write_json_number(file, "geometric_mean",
                    geometric_mean(mean->log_sum, mean->count));
  fprintf(file, ", \"layers\": %d}%s\n", mean->count, last ? "" : ",");
}

static void write_json_summary(FILE *file, const bench_summary *summary) {
  fputs("  \"summary\": {\n", file);
  write_json_mean(file, "auto_vs_caffe", &summary->auto_vs_caffe, 0);
  write_json_mean(file, "best_vs_caffe", &summary->best_vs_caffe, 0);
  write_json_mean(file, "depthwise_auto_vs_caffe",
                  &summary->depthwise_auto_vs_caffe, 0);
  write_json_mean(file, "depthwise_best_vs_caffe",
                  &summary->depthwise_best_vs_caffe, 0);
  write_json_mean(file, "auto_vs_onednn", &summary->auto_vs_onednn, 0);
  write_json_mean(file, "best_vs_onednn", &summary->best_vs_onednn, 1);
  fputs("  }", file);
}

static void write_json_skipped(FILE *file, const bench_network *network) {
  fputs("  \"skipped_layers\": [", file);
  for (size_t i = 0; i < network->skipped_count; i++) {
    const skipped_layer *skipped = &network->skipped[i];
    fputs(i > 0 ? ",\n    {\"layer\": " : "\n    {\"layer\": ", file);
    write_json_string(file, skipped->layer->name);
    fputs(", \"type\": ", file);
    write_json_string(file, skipped->layer->type);
    fputs(", \"reason\": ", file);
    write_json_string(file, skipped->reason);
    fputc('}', file);
  }
  fputs(network->skipped_count > 0 ? "\n  ],\n" : "],\n", file);
}

/* Writes the network, its skipped layers and network_totals, null where
 * a series is n/a on some layer. */
static void write_json_network(FILE *file, const bench_session *session) {
  const bench_network *network = &session->network;
  network_totals totals;
  sum_network(session, &totals);

  fputs("  \"network\": ", file);
  write_json_string(file, network->path);
  fputs(",\n  \"network_stopped\": ", file);
  if (network->net.stopped) {
    write_json_string(file, network->net.stop_reason);
  } else {
    fputs("null", file);
  }
  fputs(",\n", file);
  write_json_skipped(file, network);

  fprintf(file, "  \"network_totals\": {\"layers\": %zu, \"macs\": %.0f,\n    ",
          session->row_count, totals.macs);
  write_json_number(file, "best_ms", total_ms(&totals.best));
  fputs(", ", file);
  write_json_number(file, "auto_ms", total_ms(&totals.automatic));
  fputs(", ", file);
  write_json_number(file, "caffe_gemm_ms", total_ms(&totals.caffe));
  fputs(", ", file);
  write_json_number(file, "onednn_ms", total_ms(&totals.onednn));
  fputs(",\n    ", file);
  write_json_number(file, "best_gflops", total_gflops(&totals, &totals.best));
  fputs(", ", file);
  write_json_number(file, "auto_gflops",
                    total_gflops(&totals, &totals.automatic));
  fputs(", ", file);
  write_json_number(file, "auto_vs_caffe",
                    total_ratio(&totals.caffe, &totals.automatic));
  fputs(", ", file);
  write_json_number(file, "best_vs_caffe",
                    total_ratio(&totals.caffe, &totals.best));
  fputs(", ", file);
  write_json_number(file, "auto_vs_onednn",
                    total_ratio(&totals.onednn, &totals.automatic));
  fputs("}\n", file);
}


static void write_json(FILE *file, const bench_session *session,
                       const bench_summary *summary) {
  const bench_request *request = session->request;
  fputs("{\n  \"device\": ", file);
  write_json_string(file, session->device_name);
  fprintf(file, ",\n  \"peak_gflops\": %.6g,\n  \"peak_source\": \"%s\",\n",
          request->peak_gflops,
          request->peak_given ? "--peak-gflops" : "default");
  fprintf(file, "  \"runs\": %" PRId64 ",\n  \"warmup\": %" PRId64 ",\n",
          request->runs, request->warmup);
  fputs("  \"onednn\": ", file);
  if (session->onednn_series >= 0) {
    write_json_string(file, session->onednn_version);
  } else {
    fputs("null", file);
  }
  fputs(",\n  \"results\": [\n", file);

  int first = 1;
  for (size_t i = 0; i < session->row_count; i++) {
    for (size_t s = 0; s < session->series_count; s++) {
      fputs(first ? "" : ",\n", file);
      write_json_result(file, session, &session->rows[i], s);
      first = 0;
    }
  }
  fputs("\n  ],\n", file);
  write_json_summary(file, summary);
  if (session->network.path != NULL) {
    fputs(",\n", file);
    write_json_network(file, session);
  } else {
    fputs("\n", file);
  }
  fputs("}\n", file);
}

/* ------------------------------------------------------------------------ */
/* Chart                                                                    */

static int write_chart(const bench_session *session) {
  const size_t layers = session->row_count;
  const size_t series_count = session->series_count;
  const char **layer_names = malloc(layers * sizeof *layer_names);
  const char **series_names = malloc(series_count * sizeof *series_names);
  double *values = malloc(layers * series_count * sizeof *values);
  int rc = 0;
  if (layer_names == NULL || series_names == NULL || values == NULL) {
    cli_error(COMMAND, "out of memory for the chart of %zu layers.", layers);
    rc = CLI_EXIT_RUNTIME;
  }

  if (rc == 0) {
    for (size_t s = 0; s < series_count; s++) {
      series_names[s] = session->series[s].name;
    }
    for (size_t i = 0; i < layers; i++) {
      layer_names[i] = session->rows[i].layer.name;
      for (size_t s = 0; s < series_count; s++) {
        values[i * series_count + s] =
            derive_cell(session, &session->rows[i], s).gflops;
      }
    }

    char title[384];
    snprintf(title, sizeof title, "GFLOP/s per layer and algorithm, %s",
             session->device_name);
    const bench_chart chart = {title,        layers, layer_names,
                               series_count, series_names, values};
    char error[512];
    if (bench_chart_write(session->chart.temporary_path, &chart, error,
                          sizeof error) != 0) {
      cli_error(COMMAND, "cannot write --chart %s: %s",
                session->chart.path, error);
      rc = CLI_EXIT_RUNTIME;
    }
  }
  free(layer_names);
  free(series_names);
  free(values);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Finishing the files                                                      */

/* Writes the CSV or JSON into its temporary file and closes it. */
static int write_text_file(const bench_session *session, output_file *output,
                           const bench_summary *summary) {
  if (output == &session->csv) {
    write_csv(output->file, session);
  } else {
    write_json(output->file, session, summary);
  }

  const int write_failed = ferror(output->file) != 0;
  const int close_failed = fclose(output->file) != 0;
  output->file = NULL;
  if (write_failed || close_failed) {
    cli_error(COMMAND, "cannot write %s %s: %s. Check that the disk has "
                       "space.",
              output->option, output->path, strerror(errno));
    return CLI_EXIT_RUNTIME;
  }
  return 0;
}

/* Renames the temporary file over the path given on the command line. */
static int publish_output_file(output_file *output) {
  if (output->temporary_path == NULL) {
    return 0;
  }
  char error[1024];
  const int failed = atomic_file_publish(output->temporary_path, output->path,
                                         error, sizeof error) != 0;
  output->temporary_path = NULL; /* published or removed, and freed */
  if (failed) {
    cli_error(COMMAND, "%s: %s.", output->option, error);
    return CLI_EXIT_RUNTIME;
  }
  return 0;
}

/*
 * Fills every requested file under its temporary name, then renames them
 * all, so that a failure while writing leaves none of them.
 */
static int finish_output_files(bench_session *session,
                               const bench_summary *summary) {
  int rc = 0;
  if (session->csv.path != NULL) {
    rc = write_text_file(session, &session->csv, summary);
  }
  if (rc == 0 && session->json.path != NULL) {
    rc = write_text_file(session, &session->json, summary);
  }
  if (rc == 0 && session->chart.path != NULL) {
    /* png_write makes its own file, so the chart's temporary stays closed
     * until then. */
    fclose(session->chart.file);
    session->chart.file = NULL;
    rc = write_chart(session);
  }
  if (rc == 0) {
    rc = publish_output_file(&session->csv);
  }
  if (rc == 0) {
    rc = publish_output_file(&session->json);
  }
  if (rc == 0) {
    rc = publish_output_file(&session->chart);
  }
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Main                                                                     */

static int run_rows(bench_session *session) {
  int rc = 0;
  for (size_t i = 0; i < session->row_count && rc == 0; i++) {
    rc = run_row(session, i);
    if (rc == 0) {
      choose_best(session, &session->rows[i]);
      print_row(session, &session->rows[i]);
    }
  }
  return rc;
}

/*
 * Warns about results whose error exceeds the tolerance. They stay in the
 * table and the files, marked, but never count as the best algorithm.
 */
static void warn_flagged(const bench_session *session) {
  for (size_t i = 0; i < session->row_count; i++) {
    for (size_t s = 0; s < session->series_count; s++) {
      const bench_result *result = &session->rows[i].results[s];
      if (is_flagged(result)) {
        cli_error(COMMAND, "warning: layer %s, %s: the output differs from "
                           "caffe_gemm's by %.2g relative, above %g. The "
                           "algorithm or the OpenCL driver may be faulty.",
                  session->rows[i].layer.name, session->series[s].name,
                  result->max_rel_error, ERROR_TOLERANCE);
      }
    }
  }
}

static int run_bench(bench_session *session) {
  int rc = open_output_files(session);
  if (rc == 0) {
    rc = open_device(session);
  }
  if (rc == 0) {
    session->times_ms =
        malloc((size_t)session->request->runs * sizeof *session->times_ms);
    if (session->times_ms == NULL) {
      cli_error(COMMAND, "out of memory for %" PRId64 " runs. Give a smaller "
                         "--runs.",
                session->request->runs);
      rc = CLI_EXIT_RUNTIME;
    }
  }
  if (rc == 0) {
    list_series(session);
    print_settings(session);
    rc = run_rows(session);
  }

  if (rc == 0) {
    bench_summary summary;
    summarize(session, &summary);
    print_summary(session, &summary);
    if (session->network.path != NULL) {
      network_totals totals;
      sum_network(session, &totals);
      print_network_totals(session, &totals);
    }
    warn_flagged(session);
    rc = finish_output_files(session, &summary);
  }
  discard_output_file(&session->csv);
  discard_output_file(&session->json);
  discard_output_file(&session->chart);
  return rc;
}

/* Returns 1 when the arguments ask for the backward benchmark. */
static int wants_backward(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--backward") == 0)
      return 1;
  }
  return 0;
}

int cmd_bench(int argc, char **argv) {
  if (wants_backward(argc, argv))
    return cmd_bench_backward(argc, argv);

  bench_request request;
  int rc = parse_bench_options(argc, argv, &request);
  if (rc != 0) {
    return rc;
  }
  if (request.show_help) {
    print_bench_help();
    return CLI_EXIT_SUCCESS;
  }

  bench_session session;
  memset(&session, 0, sizeof session);
  session.request = &request;
  rc = resolve_layers(&request, &session);
  if (rc == 0) {
    rc = run_bench(&session);
  }

  free(session.times_ms);
  free(session.rows);
  free(session.network.skipped);
  net_result_free(&session.network.net);
  gcl_context_destroy(session.context);
  return rc;
}
