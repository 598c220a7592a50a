/*
 * Options of the groupcl subcommands and the functions that parse them.
 *
 * Each parse function reads argv (argv[0] is the subcommand name) into its
 * request and returns 0. On a usage error it prints the message to stderr
 * and returns CLI_EXIT_USAGE, and parse_tune_options returns
 * CLI_EXIT_RUNTIME when it runs out of memory. With --help it sets
 * show_help and skips the checks for missing options. The parsers open no
 * file and touch no device, and the request keeps pointers into argv. Each
 * parser resets getopt first, so one process may parse many times, as the
 * fuzz harness of the parsers does.
 */
#ifndef GROUPCL_TOOLS_CMD_OPTIONS_H
#define GROUPCL_TOOLS_CMD_OPTIONS_H

#include <stdint.h>

#include "cli_args.h"
#include "groupcl.h"
#include "conv_layer.h"
#include "suite.h"

typedef struct conv_request {
  const char *input_path;
  const char *weights_path;
  const char *bias_path; /* NULL: the layer has no bias */
  const char *output_path;
  const char *device_spec; /* NULL: GROUPCL_DEVICES, else "auto" */
  conv_layer_flags layer;
  gcl_algorithm algorithm;
  gcl_plan_options schedule; /* only schedule and queues are read */
  const char *trace_path;    /* NULL: no timeline */
  int verbose;
  int show_help;
} conv_request;

/* The gradients the command can write, in the order it writes them. */
enum gradient_kind {
  GRADIENT_INPUT,
  GRADIENT_WEIGHTS,
  GRADIENT_BIAS,
  GRADIENT_COUNT
};

typedef struct conv_backward_request {
  const char *input_path;
  const char *weights_path;
  const char *grad_output_path;
  const char *gradient_paths[GRADIENT_COUNT]; /* NULL: not requested */
  const char *device_spec; /* NULL: GROUPCL_DEVICES, else "auto" */
  conv_layer_flags layer;
  gcl_plan_options schedule; /* only schedule and queues are read */
  int check;
  int verbose;
  int show_help;
} conv_backward_request;

typedef struct demo_request {
  const char *image_path; /* NULL: the installed chelsea.png */
  const char *output_dir;
  const char *device_spec; /* NULL: GROUPCL_DEVICES, else "auto" */
  int show_help;
} demo_request;

typedef struct explain_request {
  layer_flags layer;
  int all_groups;
  int show_help;
  /* Placement: shown when --device or --schedule is given. */
  int show_placement;
  const char *device_spec;   /* NULL: GROUPCL_DEVICES, else "auto" */
  const char *schedule_text; /* as given, for messages */
  gcl_plan_options options;
  /* Network mode (--prototxt): the layer flags are not used. */
  const char *prototxt_path;
  const char *layer_name;
  int json;
  int layer_flag_given;
} explain_request;

typedef struct split_request {
  layer_flags layer;
  const char *suite_path; /* NULL: the default suite */
  const char *layer_name; /* NULL: the layer comes from the flags */
  const char *device_spec;
  gcl_algorithm algorithm;
  int64_t runs;
  int64_t warmup;
  const char *csv_path;  /* NULL: no CSV file */
  const char *trace_dir; /* NULL: no trace files */
  int show_help;
} split_request;

typedef struct tune_request {
  layer_flags layer;
  const char *suite_path;  /* NULL: the default suite */
  char *layer_names;       /* comma list from --layer, or NULL */
  const char *device_spec; /* NULL: GROUPCL_DEVICES, else auto */
  int show_help;
} tune_request;

typedef struct bench_request {
  layer_flags layer;
  const char *suite_path;  /* NULL: the default suite */
  const char *prototxt_path; /* non-NULL: the layers of this network */
  const char *layer_names; /* comma-separated, as given; NULL: every row */
  const char *device_spec; /* NULL: GROUPCL_DEVICES, else "auto" */
  int64_t runs;
  int64_t warmup;
  double peak_gflops;
  int peak_given;
  const char *csv_path;   /* NULL: no file */
  const char *json_path;  /* NULL: no file */
  const char *chart_path; /* NULL: no file */
  int no_onednn;
  int verbose;
  int show_help;
} bench_request;

int parse_devices_options(int argc, char **argv, int *show_help);
int parse_conv_options(int argc, char **argv, conv_request *request);
int parse_conv_backward_options(int argc, char **argv,
                                conv_backward_request *request);
int parse_demo_options(int argc, char **argv, demo_request *request);
int parse_explain_options(int argc, char **argv, explain_request *request);
int parse_split_options(int argc, char **argv, split_request *request);
/* The caller frees request->layer_names, whatever the result. */
int parse_tune_options(int argc, char **argv, tune_request *request);
int parse_bench_options(int argc, char **argv, bench_request *request);

#endif
