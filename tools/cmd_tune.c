/*
 * groupcl tune: times every algorithm on one or more layers and stores the
 * fastest in the tuning database, so that later plans of the same layer on
 * the same device run it without measuring again.
 */
#define _POSIX_C_SOURCE 200809L

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd_options.h"
#include "suite.h"

#define COMMAND "tune"

/* Most layer names one --layer list may hold. */
#define MAX_TUNE_LAYERS 64

enum tune_option_code {
  OPTION_SUITE = LAYER_OPTION_END,
  OPTION_LAYER,
  OPTION_DEVICE
};

static const struct option tune_options[] = {
    LAYER_LONG_OPTIONS,
    {"suite", required_argument, NULL, OPTION_SUITE},
    {"layer", required_argument, NULL, OPTION_LAYER},
    {"device", required_argument, NULL, OPTION_DEVICE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}};

static void print_tune_help(void) {
  puts(
      "Usage: groupcl tune --layer NAME[,NAME...] [--suite FILE]\n"
      "                    [--device SPEC]\n"
      "       groupcl tune --channels C --num-output K --kernel KS\n"
      "                    --input-size IN [layer options] [--device SPEC]\n"
      "\n"
      "Times every algorithm that supports each layer on the first selected\n"
      "device (one warm-up, then the best of three runs), prints the times,\n"
      "and stores the fastest in the tuning database (tuning.tsv in the\n"
      "groupcl cache folder: GROUPCL_CACHE_DIR, else\n"
      "$XDG_CACHE_HOME/groupcl, else ~/.cache/groupcl). Later plans of the\n"
      "same layer and batch on the same device and driver then run that\n"
      "algorithm. GROUPCL_CACHE=off turns the database off.\n"
      "\n"
      "Options:\n"
      "  --layer NAMES       rows of the suite file, comma-separated\n"
      "  --suite FILE        suite CSV (default: the installed suite.csv, else\n"
      "                      bench/suite.csv of the source tree)\n"
      "  --channels C, --num-output K, --kernel KS, --stride S, --pad P,\n"
      "  --dilation D, --group G, --input-size IN, --batch N, --no-bias\n"
      "                      one layer given by flags, as in 'groupcl explain'\n"
      "  --device SPEC       OpenCL device(s) (default: GROUPCL_DEVICES, else\n"
      "                      'auto'); only the first one is tuned\n"
      "  -h, --help          print this help and exit\n"
      "\n"
      "Exit status: 0 success, 1 runtime failure, 2 usage error, 3 invalid\n"
      "layer or suite file, 4 no matching device.");
}

static int parse_tune_option(int code, const char *text,
                             tune_request *request) {
  if (layer_flags_has_option(code))
    return layer_flags_parse(COMMAND, code, text, &request->layer);
  switch (code) {
  case OPTION_SUITE:
    request->suite_path = text;
    return 0;
  case OPTION_LAYER:
    free(request->layer_names);
    request->layer_names = strdup(text);
    if (request->layer_names == NULL) {
      cli_error(COMMAND, "out of memory");
      return CLI_EXIT_RUNTIME;
    }
    return 0;
  case OPTION_DEVICE:
    request->device_spec = text;
    return 0;
  case 'h':
    request->show_help = 1;
    return 0;
  default:
    return cli_usage_error(COMMAND, "unknown option.");
  }
}

int parse_tune_options(int argc, char **argv, tune_request *request) {
  int code;

  memset(request, 0, sizeof *request);
  layer_flags_init(&request->layer);
  cli_reset_getopt();
  while ((code = getopt_long(argc, argv, ":h", tune_options, NULL)) != -1) {
    int rc;

    if (code == '?' || code == ':')
      return cli_report_getopt_error(COMMAND, code, argv, tune_options);
    rc = parse_tune_option(code, optarg, request);
    if (rc != 0)
      return rc;
  }
  if (cli_check_no_operands(COMMAND, argc, argv) != 0)
    return CLI_EXIT_USAGE;
  if (request->show_help)
    return 0;
  if (request->layer_names != NULL && request->layer.any_given)
    return cli_usage_error(COMMAND, "give either --layer or layer flags, "
                                    "not both.");
  if (request->layer_names == NULL)
    return layer_flags_check_required(COMMAND, &request->layer);
  return 0;
}

/* Plans the layer with tuning on and prints each algorithm's time. */
static int tune_layer(gcl_context *context, const suite_layer *layer) {
  size_t weight_count = 1;
  gcl_tuning_result results[GCL_ALGORITHM_COUNT];
  gcl_plan_options options;
  gcl_conv *conv = NULL;
  gcl_plan *plan = NULL;
  float *weights, *bias;
  size_t count = 0;
  int rc = 0;

  for (int i = 0; i < layer->rank; i++)
    weight_count *= (size_t)layer->weight_shape[i];
  /* The times do not depend on the values, so zeros will do. */
  weights = calloc(weight_count, sizeof *weights);
  bias = calloc((size_t)layer->desc.num_output, sizeof *bias);
  if (weights == NULL || bias == NULL) {
    free(weights);
    free(bias);
    cli_error(COMMAND, "out of memory for %zu weights", weight_count);
    return CLI_EXIT_RUNTIME;
  }

  gcl_plan_options_init(&options);
  options.schedule = GCL_SCHEDULE_SINGLE;
  options.tune = 1;
  gcl_status status = gcl_conv_create(context, &layer->desc, weights,
                                      layer->desc.bias_term ? bias : NULL,
                                      &conv);
  if (status == GCL_SUCCESS)
    status = gcl_plan_create(conv, layer->rank, layer->input_shape, &options,
                             &plan);
  if (status == GCL_SUCCESS)
    status = gcl_plan_tuning_results(plan, results, GCL_ALGORITHM_COUNT,
                                     &count);
  if (status != GCL_SUCCESS) {
    rc = cli_library_error(COMMAND, "tuning the layer", status);
  } else {
    printf("%s\n", layer->name);
    for (size_t i = 0; i < count; i++) {
      const char *mark =
          results[i].algorithm == gcl_plan_algorithm(plan) ? "  fastest" : "";
      if (results[i].seconds < 0.0)
        printf("  %-14s %10s\n", gcl_algorithm_name(results[i].algorithm),
               "n/a");
      else
        printf("  %-14s %10.3f ms%s\n",
               gcl_algorithm_name(results[i].algorithm),
               results[i].seconds * 1e3, mark);
    }
  }

  gcl_plan_destroy(plan);
  gcl_conv_destroy(conv);
  free(weights);
  free(bias);
  return rc;
}

/* Resolves the layers to tune: suite rows by name, or the layer flags. */
static int collect_layers(const tune_request *request, suite_layer *layers,
                          size_t *count) {
  const char *path = request->suite_path;
  char *saveptr = NULL;
  int rc = 0;

  *count = 0;
  if (request->layer_names == NULL) {
    rc = layer_flags_build_layer(COMMAND, &request->layer, &layers[0]);
    if (rc == 0)
      rc = suite_layer_check(COMMAND, &layers[0]);
    *count = rc == 0 ? 1 : 0;
    return rc;
  }

  if (path == NULL)
    path = suite_default_path();
  if (path == NULL)
    return cli_usage_error(COMMAND, "no default suite file; give one with "
                                    "--suite FILE.");
  for (char *name = strtok_r(request->layer_names, ",", &saveptr);
       name != NULL && rc == 0; name = strtok_r(NULL, ",", &saveptr)) {
    if (*count == MAX_TUNE_LAYERS)
      return cli_usage_error(COMMAND, "--layer names more than %d layers.",
                             MAX_TUNE_LAYERS);
    memset(&layers[*count], 0, sizeof layers[*count]);
    rc = suite_load_layer(COMMAND, path, name, &layers[*count]);
    if (rc == 0)
      rc = suite_layer_check(COMMAND, &layers[*count]);
    if (rc == 0)
      (*count)++;
  }
  return rc;
}

static int run_tune(const tune_request *request) {
  suite_layer *layers = calloc(MAX_TUNE_LAYERS, sizeof *layers);
  gcl_context *context = NULL;
  char device_name[192];
  size_t count = 0;
  int rc;

  if (layers == NULL) {
    cli_error(COMMAND, "out of memory");
    return CLI_EXIT_RUNTIME;
  }
  rc = collect_layers(request, layers, &count);
  if (rc == 0)
    rc = cli_create_context(COMMAND, request->device_spec, &context);
  if (rc == 0)
    printf("device: %s\n",
           cli_context_device_name(context, device_name, sizeof device_name));
  for (size_t i = 0; i < count && rc == 0; i++)
    rc = tune_layer(context, &layers[i]);
  if (rc == 0)
    printf("stored the fastest algorithm of each layer in the tuning "
           "database\n");

  gcl_context_destroy(context);
  free(layers);
  return rc;
}

int cmd_tune(int argc, char **argv) {
  tune_request request;
  int rc = parse_tune_options(argc, argv, &request);

  if (rc == 0 && request.show_help)
    print_tune_help();
  else if (rc == 0)
    rc = run_tune(&request);
  free(request.layer_names);
  return rc;
}
