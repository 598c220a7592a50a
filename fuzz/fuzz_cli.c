/*
 * Fuzz harness of the groupcl option parsers.
 *
 * Input layout: words separated by '\n'. The first word names the
 * subcommand, as in "groupcl WORD ...", and the whole list is its argv.
 * The harness calls only the parse functions of tools/cmd_options.h and
 * the layer-flag helpers that the commands run next, so it opens no file,
 * touches no device and runs no convolution. Usage errors go to stderr.
 *
 * Every parse must return 0 or the usage exit code. When it returns 0 the
 * request must hold what the command relies on: the required options and
 * values within the ranges the options allow.
 */
#include "fuzz.h"

#include <math.h>
#include <string.h>

#include "cli.h"
#include "cli_args.h"
#include "cmd_options.h"
#include "suite.h"

/* Maximum number of argv words the harness builds. Later words are dropped. */
#define MAX_WORDS 64

/* A copy of the input split into NUL-terminated words. */
typedef struct word_list {
  char *text;
  char *argv[MAX_WORDS + 1];
  int argc;
} word_list;

static void split_words(const uint8_t *data, size_t size, word_list *words) {
  words->text = malloc(size + 1);
  FUZZ_REQUIRE(words->text != NULL, "out of memory for %zu bytes", size);
  if (size > 0)
    memcpy(words->text, data, size);
  words->text[size] = '\0';

  words->argc = 0;
  char *word = words->text;
  while (words->argc < MAX_WORDS) {
    words->argv[words->argc++] = word;
    char *newline = strchr(word, '\n');
    if (newline == NULL)
      break;
    *newline = '\0';
    word = newline + 1;
  }
  words->argv[words->argc] = NULL;
}

static void check_rc(const char *command, int rc, int runtime_allowed) {
  int allowed = rc == 0 || rc == CLI_EXIT_USAGE ||
                (runtime_allowed && rc == CLI_EXIT_RUNTIME);
  FUZZ_REQUIRE(allowed, "parsing %s options returned %d", command, rc);
}

static void check_axis_values(const cli_axis_values *list, int64_t min,
                              const char *option) {
  FUZZ_REQUIRE(list->count >= 0 && list->count <= GCL_MAX_SPATIAL_DIMS,
               "%s has %d values", option, list->count);
  for (int i = 0; i < list->count; i++)
    FUZZ_REQUIRE(list->values[i] >= min &&
                     list->values[i] <= CLI_MAX_OPTION_VALUE,
                 "%s value %d is %lld", option, i,
                 (long long)list->values[i]);
}

static void check_schedule(const gcl_plan_options *options) {
  FUZZ_REQUIRE(options->schedule >= GCL_SCHEDULE_AUTO &&
                   options->schedule <= GCL_SCHEDULE_DEVICES,
               "schedule %d", (int)options->schedule);
  if (options->schedule == GCL_SCHEDULE_QUEUES)
    FUZZ_REQUIRE(options->queues >= 1 && options->queues <= 64,
                 "queues:%d", options->queues);
}

static void check_algorithm(gcl_algorithm algorithm) {
  FUZZ_REQUIRE((int)algorithm >= 0 && (int)algorithm < GCL_ALGORITHM_COUNT,
               "algorithm %d", (int)algorithm);
}

/*
 * Checks parsed layer flags, then builds and validates the layer as the
 * commands do next. Building may still fail with a usage error, such as
 * lists of different lengths, and validation with an invalid layer.
 */
static void check_layer_flags(const char *command,
                              const layer_flags *flags) {
  FUZZ_REQUIRE(flags->channels >= 1 && flags->num_output >= 1 &&
                   flags->kernel.count >= 1,
               "a required layer flag is missing");
  FUZZ_REQUIRE(flags->group >= 1 && flags->batch >= 1, "group %lld, batch "
               "%lld", (long long)flags->group, (long long)flags->batch);
  check_axis_values(&flags->kernel, 1, "--kernel");
  check_axis_values(&flags->stride, 1, "--stride");
  check_axis_values(&flags->pad, 0, "--pad");
  check_axis_values(&flags->dilation, 1, "--dilation");
  check_axis_values(&flags->input_size, 1, "--input-size");

  int spatial_dims = 0;
  int rc = layer_flags_count_axes(command, flags, &spatial_dims);
  check_rc(command, rc, 0);
  if (rc != 0)
    return;
  FUZZ_REQUIRE(spatial_dims >= 1 && spatial_dims <= GCL_MAX_SPATIAL_DIMS,
               "%d spatial axes", spatial_dims);

  if (flags->input_size.count == 0) {
    gcl_conv_desc desc;
    rc = layer_flags_build_desc(command, flags, spatial_dims, &desc);
    check_rc(command, rc, 0);
    if (rc == 0 && gcl_conv_validate(&desc) != GCL_SUCCESS)
      FUZZ_REQUIRE(gcl_last_error()[0] != '\0', "invalid layer, no message");
    return;
  }

  suite_layer layer;
  memset(&layer, 0, sizeof layer);
  rc = layer_flags_build_layer(command, flags, &layer);
  check_rc(command, rc, 0);
  if (rc == 0) {
    rc = suite_layer_check(command, &layer);
    FUZZ_REQUIRE(rc == 0 || rc == CLI_EXIT_INPUT, "checking the layer "
                 "returned %d", rc);
  }
}

static void fuzz_devices(int argc, char **argv) {
  int show_help = 0;
  check_rc("devices", parse_devices_options(argc, argv, &show_help), 0);
}

/* Checks the layer flags that conv and conv-backward share. */
static void check_conv_layer(const conv_layer_flags *layer) {
  FUZZ_REQUIRE(layer->group >= 1, "group %lld", (long long)layer->group);
  check_axis_values(&layer->stride, 1, "--stride");
  check_axis_values(&layer->pad.before, 0, "--pad");
  check_axis_values(&layer->pad.after, 0, "--pad");
  check_axis_values(&layer->dilation, 1, "--dilation");
  check_axis_values(&layer->output_padding, 0, "--output-padding");
  FUZZ_REQUIRE(layer->transposed || layer->output_padding.count == 0,
               "--output-padding accepted without --transposed");
}

static void fuzz_conv(int argc, char **argv) {
  conv_request request;
  int rc = parse_conv_options(argc, argv, &request);

  check_rc("conv", rc, 0);
  if (rc != 0 || request.show_help)
    return;
  FUZZ_REQUIRE(request.input_path != NULL && request.weights_path != NULL &&
                   request.output_path != NULL,
               "conv accepted a missing file option");
  check_conv_layer(&request.layer);
  check_algorithm(request.algorithm);
  check_schedule(&request.schedule);
}

static void fuzz_conv_backward(int argc, char **argv) {
  conv_backward_request request;
  int rc = parse_conv_backward_options(argc, argv, &request);
  int gradients = 0;

  check_rc("conv-backward", rc, 0);
  if (rc != 0 || request.show_help)
    return;
  FUZZ_REQUIRE(request.input_path != NULL && request.weights_path != NULL &&
                   request.grad_output_path != NULL,
               "conv-backward accepted a missing file option");
  for (int i = 0; i < GRADIENT_COUNT; i++)
    gradients += request.gradient_paths[i] != NULL;
  FUZZ_REQUIRE(gradients > 0, "conv-backward accepted no gradient");
  check_conv_layer(&request.layer);
  check_schedule(&request.schedule);
}

static void fuzz_demo(int argc, char **argv) {
  demo_request request;
  int rc = parse_demo_options(argc, argv, &request);

  check_rc("demo", rc, 0);
  if (rc == 0 && !request.show_help)
    FUZZ_REQUIRE(request.output_dir != NULL && request.output_dir[0] != '\0',
                 "demo accepted an empty output folder");
}

static void fuzz_explain(int argc, char **argv) {
  explain_request request;
  int rc = parse_explain_options(argc, argv, &request);

  check_rc("explain", rc, 0);
  if (rc != 0 || request.show_help)
    return;
  check_schedule(&request.options);
  if (request.prototxt_path != NULL) {
    FUZZ_REQUIRE(!request.layer_flag_given && !request.show_placement,
                 "explain accepted --prototxt with layer flags");
    return;
  }
  FUZZ_REQUIRE(request.layer_name == NULL && !request.json,
               "explain accepted --layer or --json without --prototxt");
  if (request.show_placement)
    FUZZ_REQUIRE(request.layer.input_size.count > 0,
                 "explain accepted a placement without --input-size");
  check_layer_flags("explain", &request.layer);
}

static void fuzz_split(int argc, char **argv) {
  split_request request;
  int rc = parse_split_options(argc, argv, &request);

  check_rc("split", rc, 0);
  if (rc != 0 || request.show_help)
    return;
  FUZZ_REQUIRE(request.runs >= 1 && request.warmup >= 0, "runs %lld, warmup "
               "%lld", (long long)request.runs, (long long)request.warmup);
  FUZZ_REQUIRE(request.device_spec != NULL && request.device_spec[0] != '\0',
               "split accepted an empty device spec");
  check_algorithm(request.algorithm);
  if (request.layer_name == NULL) {
    FUZZ_REQUIRE(request.layer.input_size.count > 0,
                 "split accepted layer flags without --input-size");
    check_layer_flags("split", &request.layer);
  }
}

static void fuzz_tune(int argc, char **argv) {
  tune_request request;
  int rc = parse_tune_options(argc, argv, &request);

  check_rc("tune", rc, 1);
  if (rc == 0 && !request.show_help && request.layer_names == NULL)
    check_layer_flags("tune", &request.layer);
  free(request.layer_names);
}

static void fuzz_bench(int argc, char **argv) {
  bench_request request;
  int rc = parse_bench_options(argc, argv, &request);

  check_rc("bench", rc, 0);
  if (rc != 0 || request.show_help)
    return;
  FUZZ_REQUIRE(request.runs >= 1 && request.warmup >= 0, "runs %lld, warmup "
               "%lld", (long long)request.runs, (long long)request.warmup);
  FUZZ_REQUIRE(request.peak_gflops > 0.0 && isfinite(request.peak_gflops),
               "peak %g GFLOP/s", request.peak_gflops);
  if (request.layer.any_given) {
    FUZZ_REQUIRE(request.layer.input_size.count > 0,
                 "bench accepted layer flags without --input-size");
    check_layer_flags("bench", &request.layer);
  }
}

typedef struct fuzz_command {
  const char *name;
  void (*run)(int argc, char **argv);
} fuzz_command;

static const fuzz_command commands[] = {
    {"devices", fuzz_devices},
    {"conv", fuzz_conv},
    {"conv-backward", fuzz_conv_backward},
    {"demo", fuzz_demo},
    {"explain", fuzz_explain},
    {"split", fuzz_split},
    {"tune", fuzz_tune},
    {"bench", fuzz_bench}};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  word_list words;

  split_words(data, size, &words);
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
    if (strcmp(words.argv[0], commands[i].name) == 0) {
      commands[i].run(words.argc, words.argv);
      break;
    }
  }
  free(words.text);
  return 0;
}
