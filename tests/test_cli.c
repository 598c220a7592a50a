/*
 * Tests of the groupcl command-line tool, run as a user runs it. Each test
 * starts the built binary (GCL_TOOL_PATH) with posix_spawn and sends its
 * stdout and stderr to files in a fresh mkdtemp folder under /tmp. Then it
 * checks the exit status and the messages. The tool runs with
 * GROUPCL_DEVICES removed from its environment unless a test sets it.
 */
#define _XOPEN_SOURCE 700

#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "groupcl.h"
#include "npy.h"
#include "tool_runner.h"

/* The tool's results must match the host reference this closely. */
#define TOLERANCE_ABSOLUTE 1e-5
#define TOLERANCE_RELATIVE 1e-4

static void create_cli_directory(void) { create_test_directory("cli"); }

TestSuite(cli, .init = create_cli_directory, .fini = remove_test_directory,
          .timeout = 180);

/* ------------------------------------------------------------------------ */
/* Help, version and usage errors                                           */

Test(cli, top_level_help_lists_exit_codes) {
  tool_run run = RUN_TOOL("--help");
  expect_exit(&run, 0);
  expect_contains(run.out, "Usage: groupcl COMMAND", "stdout");
  expect_contains(run.out, "Exit status", "stdout");
  expect_contains(run.out, "4  no OpenCL device", "stdout");
  expect_contains(run.out, "  conv-backward\n", "stdout");
  free_run(&run);
}

Test(cli, version_prints_number) {
  tool_run run = RUN_TOOL("--version");
  expect_exit(&run, 0);
  expect_contains(run.out, "groupcl 0.", "stdout");
  free_run(&run);
}

Test(cli, subcommand_help_exits_zero) {
  const char *commands[] = {"devices", "explain", "conv", "conv-backward",
                            "demo", "tune"};
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
    tool_run run = RUN_TOOL(commands[i], "--help");
    expect_exit(&run, 0);
    expect_contains(run.out, "Usage: groupcl ", "stdout");
    expect_contains(run.out, commands[i], "stdout");
    cr_expect_str_empty(run.err, "%s --help wrote to stderr: %s", commands[i],
                        run.err);
    free_run(&run);
  }
}

Test(cli, help_describes_options_and_defaults) {
  tool_run run = RUN_TOOL("explain", "--help");
  expect_exit(&run, 0);
  expect_contains(run.out, "--group G", "stdout");
  expect_contains(run.out, "(default 1)", "stdout");
  expect_contains(run.out, "in elements", "stdout");
  free_run(&run);
}

Test(cli, no_command_is_usage_error) {
  tool_run run = run_tool(NULL, (const char *[]){NULL});
  expect_exit(&run, 2);
  expect_contains(run.err, "groupcl: missing command", "stderr");
  expect_contains(run.err, "Try 'groupcl --help'.", "stderr");
  free_run(&run);
}

Test(cli, unknown_command_is_usage_error) {
  tool_run run = RUN_TOOL("convolve");
  expect_exit(&run, 2);
  expect_contains(run.err, "'convolve'", "stderr");
  free_run(&run);
}

Test(cli, unknown_flag_is_usage_error) {
  tool_run run = RUN_TOOL("explain", "--channels", "4", "--num-output", "4",
                          "--kernel", "3", "--bogus");
  expect_exit(&run, 2);
  expect_contains(run.err, "groupcl explain: ", "stderr");
  expect_contains(run.err, "--bogus", "stderr");
  expect_contains(run.err, "Try 'groupcl explain --help'.", "stderr");
  cr_expect_str_empty(run.out);
  free_run(&run);
}

Test(cli, missing_required_flag_is_usage_error) {
  tool_run run = RUN_TOOL("explain", "--channels", "4", "--kernel", "3");
  expect_exit(&run, 2);
  expect_contains(run.err, "missing --num-output", "stderr");
  expect_contains(run.err, "Try 'groupcl explain --help'.", "stderr");
  free_run(&run);

  run = RUN_TOOL("conv", "--input", "x.npy", "--output", "y.npy");
  expect_exit(&run, 2);
  expect_contains(run.err, "missing --weights", "stderr");
  free_run(&run);
}

Test(cli, missing_flag_value_is_usage_error) {
  tool_run run = RUN_TOOL("explain", "--channels");
  expect_exit(&run, 2);
  expect_contains(run.err, "--channels needs a value", "stderr");
  free_run(&run);
}

Test(cli, malformed_integer_is_usage_error) {
  tool_run run = RUN_TOOL("explain", "--channels", "4", "--num-output", "4",
                          "--kernel", "3", "--group", "2x");
  expect_exit(&run, 2);
  expect_contains(run.err, "--group '2x' is not a whole number", "stderr");
  expect_contains(run.err, "Try 'groupcl explain --help'.", "stderr");
  free_run(&run);
}

Test(cli, out_of_range_integer_is_usage_error) {
  tool_run run = RUN_TOOL("explain", "--channels", "4", "--num-output", "4",
                          "--kernel", "3", "--stride", "0");
  expect_exit(&run, 2);
  expect_contains(run.err, "--stride '0' has the value 0", "stderr");
  free_run(&run);

  run = RUN_TOOL("explain", "--channels", "99999999999999999999",
                 "--num-output", "4", "--kernel", "3");
  expect_exit(&run, 2);
  expect_contains(run.err, "--channels", "stderr");
  free_run(&run);
}

Test(cli, malformed_list_is_usage_error) {
  const char *lists[] = {"3,", ",3", "3,,3", "1,2,3,4", "3 ", ""};
  for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
    tool_run run = RUN_TOOL("explain", "--channels", "4", "--num-output", "4",
                            "--kernel", lists[i]);
    cr_expect_eq(run.exit_code, 2, "--kernel '%s': exit %d, stderr %s",
                 lists[i], run.exit_code, run.err);
    free_run(&run);
  }
}

Test(cli, unequal_axis_lists_are_usage_error) {
  tool_run run = RUN_TOOL("explain", "--channels", "4", "--num-output", "4",
                          "--kernel", "3,3", "--stride", "1,1,1");
  expect_exit(&run, 2);
  expect_contains(run.err, "--kernel has 2 values but --stride has 3",
                  "stderr");
  free_run(&run);
}

/* ------------------------------------------------------------------------ */
/* explain                                                                  */

Test(cli, explain_prints_shapes_and_groups) {
  tool_run run = RUN_TOOL("explain", "--channels", "4", "--num-output", "6",
                          "--kernel", "3", "--pad", "1", "--group", "2",
                          "--input-size", "8,10", "--batch", "2");
  expect_exit(&run, 0);

  const char *line = find_line(run.out, "output shape:");
  cr_assert_not_null(line, "no output shape line:\n%s", run.out);
  expect_contains(line, "[2, 6, 8, 10]", "output shape line");

  line = find_line(run.out, "input shape:");
  cr_assert_not_null(line);
  expect_contains(line, "[2, 4, 8, 10]", "input shape line");

  line = find_line(run.out, "weight shape:");
  cr_assert_not_null(line);
  expect_contains(line, "[6, 2, 3, 3]", "weight shape line");

  line = find_line(run.out, "1 ");
  cr_assert_not_null(line, "no row for group 1:\n%s", run.out);
  expect_contains(line, "[2, 4)", "group 1 row");
  expect_contains(line, "[3, 6)", "group 1 row");

  expect_contains(run.out, "channels per group: 2 in, 3 out", "stdout");
  free_run(&run);
}

Test(cli, explain_counts_macs_and_weights) {
  /* MACs per image = K * out_h * out_w * (C/group) * k_h * k_w. */
  tool_run run = RUN_TOOL("explain", "--channels", "4", "--num-output", "6",
                          "--kernel", "3", "--pad", "1", "--group", "2",
                          "--input-size", "8,10");
  expect_exit(&run, 0);

  const char *line = find_line(run.out, "MACs per image");
  cr_assert_not_null(line, "no MACs line:\n%s", run.out);
  expect_contains(line, "8,640", "MACs line");  /* 6*80*2*9 */
  expect_contains(line, "17,280", "MACs line"); /* 6*80*4*9 */

  line = find_line(run.out, "weights (without bias)");
  cr_assert_not_null(line);
  expect_contains(line, "108", "weights line");
  expect_contains(line, "216", "weights line");

  line = find_line(run.out, "saving factor: 2");
  cr_assert_not_null(line, "no saving factor line:\n%s", run.out);
  free_run(&run);
}

Test(cli, explain_reports_indivisible_group) {
  tool_run run = RUN_TOOL("explain", "--channels", "40", "--num-output", "50",
                          "--group", "20", "--kernel", "3,3");
  expect_exit(&run, 3);
  expect_contains(run.err, "groupcl explain: invalid layer: ", "stderr");
  expect_contains(run.err, "50", "stderr");
  expect_contains(run.err, "20", "stderr");
  cr_expect_str_empty(run.out);
  free_run(&run);
}

Test(cli, explain_rejects_window_larger_than_input) {
  tool_run run = RUN_TOOL("explain", "--channels", "2", "--num-output", "2",
                          "--kernel", "5", "--pad", "1", "--input-size", "2,2");
  expect_exit(&run, 3);
  expect_contains(run.err, "invalid layer: ", "stderr");
  free_run(&run);

  /* A dilated 3-tap filter spans 5 elements, more than 4. */
  run = RUN_TOOL("explain", "--channels", "2", "--num-output", "2",
                 "--kernel", "3", "--dilation", "2", "--input-size", "4");
  expect_exit(&run, 3);
  free_run(&run);
}

Test(cli, explain_shortens_long_group_table) {
  tool_run run = RUN_TOOL("explain", "--channels", "64", "--num-output", "128",
                          "--group", "64", "--kernel", "3,3", "--input-size",
                          "16");
  expect_exit(&run, 0);
  expect_contains(run.out, "52 groups not shown", "stdout");
  expect_contains(run.out, "[63, 64)", "stdout");
  expect_contains(run.out, "depthwise", "stdout");
  expect_contains(run.out, "channel multiplier 2", "stdout");
  cr_expect_null(strstr(run.out, "[40, 41)"), "group 40 shown:\n%s",
                 run.out);
  free_run(&run);

  run = RUN_TOOL("explain", "--channels", "64", "--num-output", "128",
                 "--group", "64", "--kernel", "3,3", "--all-groups");
  expect_exit(&run, 0);
  expect_contains(run.out, "[40, 41)", "stdout");
  expect_contains(run.out, "[80, 82)", "stdout");
  free_run(&run);
}

Test(cli, explain_without_input_size) {
  tool_run run = RUN_TOOL("explain", "--channels", "8", "--num-output", "8",
                          "--kernel", "3,3,3", "--group", "4", "--no-bias");
  expect_exit(&run, 0);
  const char *line = find_line(run.out, "weight shape:");
  cr_assert_not_null(line);
  expect_contains(line, "[8, 2, 3, 3, 3]", "weight shape line");
  expect_contains(run.out, "without --input-size", "stdout");
  expect_contains(run.out, "none (--no-bias)", "stdout");
  free_run(&run);
}

/* ------------------------------------------------------------------------ */
/* conv                                                                     */

/* A layer to run through `groupcl conv`, with its flags as text. */
typedef struct conv_case {
  int spatial_dims;
  int64_t batch, channels, num_output, group;
  int64_t in[3];
  int64_t kernel[3];
  int64_t stride[3];
  int64_t pad[3];       /* before each axis, and after unless asymmetric */
  int64_t pad_after[3]; /* read when pad_asymmetric is set */
  int pad_asymmetric;
  int64_t dilation[3];
  int64_t output_padding[3];
  int bias_term;
  int transposed;           /* pass --transposed */
  const char *stride_flag; /* as given on the command line; NULL: omitted */
  const char *pad_flag;
  const char *dilation_flag;
  const char *output_padding_flag;
  const char *schedule_flag; /* --schedule value, or NULL */
  int trace;                  /* pass --trace and check the file */
} conv_case;

static void fill_values(float *values, size_t count, uint32_t seed) {
  uint32_t state = seed;
  for (size_t i = 0; i < count; i++) {
    state = state * 1664525u + 1013904223u;
    values[i] = (float)((state >> 8) & 0xffff) / 32768.0f - 1.0f;
  }
}

static size_t shape_count(int rank, const int64_t *shape) {
  size_t count = 1;
  for (int i = 0; i < rank; i++) {
    count *= (size_t)shape[i];
  }
  return count;
}

static void write_array(const char *name, int rank, const int64_t *shape,
                        uint32_t seed, float **values, char *path) {
  const size_t count = shape_count(rank, shape);
  *values = malloc(count * sizeof **values);
  cr_assert_not_null(*values);
  fill_values(*values, count, seed);

  char error[512];
  make_path(path, name);
  cr_assert_eq(npy_write(path, rank, shape, *values, error, sizeof error), 0,
               "npy_write: %s", error);
}

static void add_args(const char **args, int *count, const char *flag,
                     const char *value) {
  if (value != NULL) {
    args[(*count)++] = flag;
    args[(*count)++] = value;
  }
}

static void case_desc(const conv_case *c, gcl_conv_desc *desc,
                      int64_t *input_shape, int64_t *weight_shape) {
  gcl_conv_desc_init(desc, c->spatial_dims, c->channels, c->num_output, 1);
  desc->group = c->group;
  desc->bias_term = c->bias_term;
  desc->transposed = c->transposed;
  desc->pad_asymmetric = c->pad_asymmetric;
  input_shape[0] = c->batch;
  input_shape[1] = c->channels;
  /* Transposed weights are [C][K/group][k...], as in Caffe's Deconvolution. */
  weight_shape[0] = c->transposed ? c->channels : c->num_output;
  weight_shape[1] = c->transposed ? c->num_output / c->group
                                  : c->channels / c->group;
  for (int axis = 0; axis < c->spatial_dims; axis++) {
    desc->kernel[axis] = c->kernel[axis];
    desc->stride[axis] = c->stride[axis];
    desc->pad[axis] = c->pad[axis];
    desc->pad_after[axis] = c->pad_after[axis];
    desc->dilation[axis] = c->dilation[axis];
    desc->output_padding[axis] = c->output_padding[axis];
    input_shape[2 + axis] = c->in[axis];
    weight_shape[2 + axis] = c->kernel[axis];
  }
}

/* Adds the flags of the layer that conv and conv-backward share. */
static void add_layer_args(const conv_case *c, const char **args, int *count,
                           char *group_text, size_t group_text_size) {
  snprintf(group_text, group_text_size, "%lld", (long long)c->group);
  add_args(args, count, "--group", group_text);
  add_args(args, count, "--stride", c->stride_flag);
  add_args(args, count, "--pad", c->pad_flag);
  add_args(args, count, "--dilation", c->dilation_flag);
  add_args(args, count, "--output-padding", c->output_padding_flag);
  if (c->transposed) {
    args[(*count)++] = "--transposed";
  }
}

/*
 * Reads the .npy file at path and expects the given shape and values
 * within the tolerances above.
 */
static void expect_npy_close(const char *path, int rank, const int64_t *shape,
                             const float *expected) {
  npy_array array = {0};
  char error[512];
  cr_assert_eq(npy_read(path, &array, error, sizeof error), 0,
               "npy_read: %s", error);
  cr_assert_eq(array.rank, rank, "%s has rank %d, expected %d", path,
               array.rank, rank);
  for (int i = 0; i < rank; i++) {
    cr_assert_eq(array.shape[i], shape[i], "%s axis %d: %lld, expected %lld",
                 path, i, (long long)array.shape[i], (long long)shape[i]);
  }

  for (size_t i = 0; i < array.count; i++) {
    const double difference = fabs((double)array.data[i] - expected[i]);
    const double tolerance =
        TOLERANCE_ABSOLUTE + TOLERANCE_RELATIVE * fabs((double)expected[i]);
    cr_assert_leq(difference, tolerance,
                  "%s element %zu: tool %.8g, reference %.8g", path, i,
                  (double)array.data[i], (double)expected[i]);
  }
  npy_array_free(&array);
}

/* Runs `groupcl conv` on the case and compares Y with the host reference. */
static void check_conv_case(const conv_case *c) {
  gcl_conv_desc desc;
  int64_t input_shape[GCL_MAX_RANK];
  int64_t weight_shape[GCL_MAX_RANK];
  const int rank = c->spatial_dims + 2;
  case_desc(c, &desc, input_shape, weight_shape);

  char input_path[PATH_CAPACITY];
  char weights_path[PATH_CAPACITY];
  char bias_path[PATH_CAPACITY];
  char output_path[PATH_CAPACITY];
  char group_text[32];
  float *input = NULL;
  float *weights = NULL;
  float *bias = NULL;
  write_array("x.npy", rank, input_shape, 1, &input, input_path);
  write_array("w.npy", rank, weight_shape, 2, &weights, weights_path);
  if (c->bias_term) {
    write_array("b.npy", 1, &c->num_output, 3, &bias, bias_path);
  }
  make_path(output_path, "y.npy");

  const char *args[MAX_TOOL_ARGS] = {"conv", "--input", input_path,
                                     "--weights", weights_path, "--output",
                                     output_path};
  int count = 7;
  add_layer_args(c, args, &count, group_text, sizeof group_text);
  add_args(args, &count, "--bias", c->bias_term ? bias_path : NULL);
  add_args(args, &count, "--schedule", c->schedule_flag);
  char trace_path[PATH_CAPACITY];
  make_path(trace_path, "trace.json");
  add_args(args, &count, "--trace", c->trace ? trace_path : NULL);
  args[count] = NULL;

  tool_run run = run_tool(NULL, args);
  expect_exit(&run, 0);
  free_run(&run);
  if (c->trace) {
    char *text = read_whole_file(trace_path);
    cr_assert_not_null(text, "no trace file at %s", trace_path);
    expect_contains(text, "{\"displayTimeUnit\"", "trace");
    expect_contains(text, "\"ph\":\"X\"", "trace");
    free(text);
  }

  int64_t expected_shape[GCL_MAX_RANK];
  cr_assert_eq(gcl_conv_output_shape(&desc, rank, input_shape,
                                     expected_shape),
               GCL_SUCCESS, "%s", gcl_last_error());
  const size_t output_count = shape_count(rank, expected_shape);
  float *expected = malloc(output_count * sizeof *expected);
  cr_assert_not_null(expected);
  cr_assert_eq(gcl_conv_reference_forward(&desc, rank, input_shape, input,
                                          weights, bias, expected),
               GCL_SUCCESS, "%s", gcl_last_error());

  expect_npy_close(output_path, rank, expected_shape, expected);
  free(expected);
  free(input);
  free(weights);
  free(bias);
}

Test(cli, conv_on_three_queues_with_trace) {
  const conv_case c = {.spatial_dims = 2,
                       .batch = 2,
                       .channels = 14,
                       .num_output = 7,
                       .group = 7,
                       .in = {6, 8},
                       .kernel = {3, 3},
                       .stride = {1, 1},
                       .pad = {1, 1},
                       .dilation = {1, 1},
                       .bias_term = 1,
                       .pad_flag = "1",
                       .schedule_flag = "queues:3",
                       .trace = 1};
  check_conv_case(&c);
}

Test(cli, conv_1d_matches_reference) {
  const conv_case c = {.spatial_dims = 1,
                       .batch = 2,
                       .channels = 4,
                       .num_output = 6,
                       .group = 2,
                       .in = {13},
                       .kernel = {3},
                       .stride = {2},
                       .pad = {1},
                       .dilation = {2},
                       .bias_term = 1,
                       .stride_flag = "2",
                       .pad_flag = "1",
                       .dilation_flag = "2"};
  check_conv_case(&c);
}

Test(cli, conv_2d_matches_reference) {
  const conv_case c = {.spatial_dims = 2,
                       .batch = 3,
                       .channels = 6,
                       .num_output = 9,
                       .group = 3,
                       .in = {7, 9},
                       .kernel = {3, 2},
                       .stride = {2, 1},
                       .pad = {1, 0},
                       .dilation = {1, 2},
                       .bias_term = 1,
                       .stride_flag = "2,1",
                       .pad_flag = "1,0",
                       .dilation_flag = "1,2"};
  check_conv_case(&c);
}

Test(cli, conv_2d_without_bias_matches_reference) {
  const conv_case c = {.spatial_dims = 2,
                       .batch = 2,
                       .channels = 4,
                       .num_output = 4,
                       .group = 1,
                       .in = {6, 5},
                       .kernel = {3, 3},
                       .stride = {1, 1},
                       .pad = {0, 0},
                       .dilation = {1, 1},
                       .bias_term = 0};
  check_conv_case(&c);
}

Test(cli, conv_3d_depthwise_matches_reference) {
  const conv_case c = {.spatial_dims = 3,
                       .batch = 2,
                       .channels = 4,
                       .num_output = 8,
                       .group = 4,
                       .in = {5, 6, 7},
                       .kernel = {3, 3, 2},
                       .stride = {1, 2, 2},
                       .pad = {1, 1, 1},
                       .dilation = {1, 1, 2},
                       .bias_term = 1,
                       .stride_flag = "1,2,2",
                       .pad_flag = "1",
                       .dilation_flag = "1,1,2"};
  check_conv_case(&c);
}

Test(cli, conv_asymmetric_pad_matches_reference) {
  const conv_case c = {.spatial_dims = 2,
                       .batch = 2,
                       .channels = 4,
                       .num_output = 6,
                       .group = 2,
                       .in = {6, 7},
                       .kernel = {3, 3},
                       .stride = {1, 2},
                       .pad = {1, 0},
                       .pad_after = {2, 1},
                       .pad_asymmetric = 1,
                       .dilation = {1, 1},
                       .bias_term = 1,
                       .stride_flag = "1,2",
                       .pad_flag = "1:2,0:1"};
  check_conv_case(&c);
}

Test(cli, conv_transposed_matches_reference) {
  const conv_case c = {.spatial_dims = 2,
                       .batch = 2,
                       .channels = 6,
                       .num_output = 4,
                       .group = 2,
                       .in = {4, 5},
                       .kernel = {3, 2},
                       .stride = {2, 2},
                       .pad = {1, 0},
                       .dilation = {1, 1},
                       .bias_term = 1,
                       .transposed = 1,
                       .stride_flag = "2",
                       .pad_flag = "1,0"};
  check_conv_case(&c);
}

Test(cli, conv_transposed_output_padding_matches_reference) {
  const conv_case c = {.spatial_dims = 1,
                       .batch = 1,
                       .channels = 3,
                       .num_output = 6,
                       .group = 3,
                       .in = {7},
                       .kernel = {3},
                       .stride = {3},
                       .pad = {2},
                       .pad_after = {0},
                       .pad_asymmetric = 1,
                       .dilation = {1},
                       .output_padding = {2},
                       .bias_term = 0,
                       .transposed = 1,
                       .stride_flag = "3",
                       .pad_flag = "2:0",
                       .output_padding_flag = "2"};
  check_conv_case(&c);
}

Test(cli, conv_transposed_3d_on_queues_matches_reference) {
  const conv_case c = {.spatial_dims = 3,
                       .batch = 2,
                       .channels = 4,
                       .num_output = 4,
                       .group = 4,
                       .in = {3, 4, 5},
                       .kernel = {2, 3, 3},
                       .stride = {1, 2, 1},
                       .pad = {0, 1, 1},
                       .pad_after = {1, 1, 0},
                       .pad_asymmetric = 1,
                       .dilation = {1, 1, 2},
                       .output_padding = {0, 1, 1},
                       .bias_term = 1,
                       .transposed = 1,
                       .stride_flag = "1,2,1",
                       .pad_flag = "0:1,1,1:0",
                       .dilation_flag = "1,1,2",
                       .output_padding_flag = "0,1,1",
                       .schedule_flag = "queues:2"};
  check_conv_case(&c);
}

/* Writes an array with the given values to test_directory/name. */
static void write_values(const char *name, int rank, const int64_t *shape,
                         const float *values, char *path) {
  char error[512];
  make_path(path, name);
  cr_assert_eq(npy_write(path, rank, shape, values, error, sizeof error), 0,
               "npy_write: %s", error);
}

/* Reads the array at path, which must have `count` values, into values. */
static void read_vector(const char *path, size_t count, float *values) {
  npy_array array = {0};
  char error[512];
  cr_assert_eq(npy_read(path, &array, error, sizeof error), 0,
               "npy_read: %s", error);
  cr_assert_eq(array.count, count, "%s has %zu values, expected %zu", path,
               array.count, count);
  memcpy(values, array.data, count * sizeof *values);
  npy_array_free(&array);
}

Test(cli, conv_transposed_spreads_input_by_stride) {
  /*
   * A transposed convolution adds the filter, scaled by each input value,
   * at stride steps: x = [1, 2] and w = [1, 10] with stride 2 give
   * [1, 10, 2, 20], and output padding 1 appends the zero that the last
   * stride step reaches.
   */
  const int64_t input_shape[3] = {1, 1, 2};
  const int64_t weight_shape[3] = {1, 1, 2};
  const float input[2] = {1.0f, 2.0f};
  const float weights[2] = {1.0f, 10.0f};
  char input_path[PATH_CAPACITY];
  char weights_path[PATH_CAPACITY];
  char output_path[PATH_CAPACITY];
  write_values("x.npy", 3, input_shape, input, input_path);
  write_values("w.npy", 3, weight_shape, weights, weights_path);
  make_path(output_path, "y.npy");

  tool_run run = RUN_TOOL("conv", "--input", input_path, "--weights",
                          weights_path, "--output", output_path,
                          "--transposed", "--stride", "2",
                          "--output-padding", "1");
  expect_exit(&run, 0);
  free_run(&run);

  float output[5];
  read_vector(output_path, 5, output);
  const float expected[5] = {1.0f, 10.0f, 2.0f, 20.0f, 0.0f};
  for (int i = 0; i < 5; i++) {
    cr_expect_eq(output[i], expected[i], "y[%d] = %g, expected %g", i,
                 (double)output[i], (double)expected[i]);
  }
}

/* Writes small valid X [1][4][5][5] and W [4][2][3][3] for failure tests. */
static void write_small_layer(char *input_path, char *weights_path) {
  const int64_t input_shape[4] = {1, 4, 5, 5};
  const int64_t weight_shape[4] = {4, 2, 3, 3};
  float *input = NULL;
  float *weights = NULL;
  write_array("x.npy", 4, input_shape, 1, &input, input_path);
  write_array("w.npy", 4, weight_shape, 2, &weights, weights_path);
  free(input);
  free(weights);
}

Test(cli, conv_weight_shape_mismatch_leaves_no_output) {
  char input_path[PATH_CAPACITY];
  char weights_path[PATH_CAPACITY];
  char output_path[PATH_CAPACITY];
  write_small_layer(input_path, weights_path);
  make_path(output_path, "y.npy");

  /* With group 1 the weights must be [4][4][3][3], not [4][2][3][3]. */
  tool_run run = RUN_TOOL("conv", "--input", input_path, "--weights",
                          weights_path, "--output", output_path);
  expect_exit(&run, 3);
  expect_contains(run.err, "groupcl conv: ", "stderr");
  expect_contains(run.err, weights_path, "stderr");
  cr_expect_not(file_exists(output_path), "%s exists after a failed run",
                output_path);
  free_run(&run);
}

Test(cli, conv_bias_shape_mismatch_is_invalid_input) {
  char input_path[PATH_CAPACITY];
  char weights_path[PATH_CAPACITY];
  char bias_path[PATH_CAPACITY];
  char output_path[PATH_CAPACITY];
  write_small_layer(input_path, weights_path);
  make_path(output_path, "y.npy");
  const int64_t bias_shape[1] = {5};
  float *bias = NULL;
  write_array("b.npy", 1, bias_shape, 3, &bias, bias_path);
  free(bias);

  tool_run run = RUN_TOOL("conv", "--input", input_path, "--weights",
                          weights_path, "--bias", bias_path, "--group", "2",
                          "--output", output_path);
  expect_exit(&run, 3);
  cr_expect_not(file_exists(output_path));
  free_run(&run);
}

Test(cli, conv_malformed_input_leaves_no_output) {
  char input_path[PATH_CAPACITY];
  char weights_path[PATH_CAPACITY];
  char output_path[PATH_CAPACITY];
  write_small_layer(input_path, weights_path);
  make_path(output_path, "y.npy");

  FILE *file = fopen(input_path, "wb");
  cr_assert_not_null(file);
  fputs("this is not a .npy file\n", file);
  cr_assert_eq(fclose(file), 0);

  tool_run run = RUN_TOOL("conv", "--input", input_path, "--weights",
                          weights_path, "--group", "2", "--output",
                          output_path);
  expect_exit(&run, 3);
  expect_contains(run.err, "groupcl conv: --input: ", "stderr");
  expect_contains(run.err, input_path, "stderr");
  cr_expect_not(file_exists(output_path));
  free_run(&run);
}

Test(cli, conv_missing_input_file_is_invalid_input) {
  char weights_path[PATH_CAPACITY];
  char input_path[PATH_CAPACITY];
  char output_path[PATH_CAPACITY];
  write_small_layer(input_path, weights_path);
  make_path(input_path, "absent.npy");
  make_path(output_path, "y.npy");

  tool_run run = RUN_TOOL("conv", "--input", input_path, "--weights",
                          weights_path, "--output", output_path);
  expect_exit(&run, 3);
  expect_contains(run.err, "absent.npy", "stderr");
  free_run(&run);
}

Test(cli, conv_rejects_input_of_rank_two) {
  char input_path[PATH_CAPACITY];
  char weights_path[PATH_CAPACITY];
  char output_path[PATH_CAPACITY];
  write_small_layer(input_path, weights_path);
  make_path(output_path, "y.npy");
  const int64_t matrix_shape[2] = {4, 5};
  float *matrix = NULL;
  write_array("x.npy", 2, matrix_shape, 1, &matrix, input_path);
  free(matrix);

  tool_run run = RUN_TOOL("conv", "--input", input_path, "--weights",
                          weights_path, "--output", output_path);
  expect_exit(&run, 3);
  expect_contains(run.err, "rank 2", "stderr");
  cr_expect_not(file_exists(output_path));
  free_run(&run);
}

Test(cli, conv_axis_list_must_fit_input) {
  char input_path[PATH_CAPACITY];
  char weights_path[PATH_CAPACITY];
  char output_path[PATH_CAPACITY];
  write_small_layer(input_path, weights_path);
  make_path(output_path, "y.npy");

  tool_run run = RUN_TOOL("conv", "--input", input_path, "--weights",
                          weights_path, "--group", "2", "--stride", "1,1,1",
                          "--output", output_path);
  expect_exit(&run, 2);
  expect_contains(run.err, "--stride has 3 values", "stderr");
  cr_expect_not(file_exists(output_path));
  free_run(&run);
}

Test(cli, conv_unknown_device_exits_4) {
  char input_path[PATH_CAPACITY];
  char weights_path[PATH_CAPACITY];
  char output_path[PATH_CAPACITY];
  write_small_layer(input_path, weights_path);
  make_path(output_path, "y.npy");

  tool_run run = RUN_TOOL("conv", "--input", input_path, "--weights",
                          weights_path, "--group", "2", "--output",
                          output_path, "--device", "nonexistent-device");
  expect_exit(&run, 4);
  expect_contains(run.err, "nonexistent-device", "stderr");
  expect_contains(run.err, "groupcl devices", "stderr");
  cr_expect_not(file_exists(output_path));

  /* The message lists the devices that exist, so it names the first one. */
  gcl_device_info *devices = NULL;
  size_t device_count = 0;
  cr_assert_eq(gcl_devices_list(&devices, &device_count), GCL_SUCCESS);
  if (device_count > 0) {
    expect_contains(run.err, devices[0].device_name, "stderr");
  }
  gcl_devices_free(devices);
  free_run(&run);
}

Test(cli, conv_empty_device_spec_is_usage_error) {
  char input_path[PATH_CAPACITY];
  char weights_path[PATH_CAPACITY];
  char output_path[PATH_CAPACITY];
  write_small_layer(input_path, weights_path);
  make_path(output_path, "y.npy");

  tool_run run = RUN_TOOL("conv", "--input", input_path, "--weights",
                          weights_path, "--group", "2", "--output",
                          output_path, "--device", ",");
  expect_exit(&run, 2);
  expect_contains(run.err, "--device: ", "stderr");
  expect_contains(run.err, "contains no term", "stderr");
  cr_expect_not(file_exists(output_path));
  free_run(&run);
}

Test(cli, conv_reads_device_from_environment) {
  char input_path[PATH_CAPACITY];
  char weights_path[PATH_CAPACITY];
  char output_path[PATH_CAPACITY];
  write_small_layer(input_path, weights_path);
  make_path(output_path, "y.npy");

  tool_run run = RUN_TOOL_WITH_ENV(
      "GROUPCL_DEVICES=nonexistent-device", "conv", "--input", input_path,
      "--weights", weights_path, "--group", "2", "--output", output_path);
  expect_exit(&run, 4);
  expect_contains(run.err, "GROUPCL_DEVICES: ", "stderr");
  expect_contains(run.err, "nonexistent-device", "stderr");
  free_run(&run);
}

Test(cli, conv_transposed_weight_mismatch_leaves_no_output) {
  char input_path[PATH_CAPACITY];
  char weights_path[PATH_CAPACITY];
  char output_path[PATH_CAPACITY];
  write_small_layer(input_path, weights_path);
  make_path(output_path, "y.npy");

  /* X has 4 channels and W [4][2][3][3] fits, but not with --group 3. */
  tool_run run = RUN_TOOL("conv", "--input", input_path, "--weights",
                          weights_path, "--group", "3", "--transposed",
                          "--output", output_path);
  expect_exit(&run, 3);
  expect_contains(run.err, "groupcl conv: invalid layer: ", "stderr");
  expect_contains(run.err, "group 3", "stderr");
  cr_expect_not(file_exists(output_path));
  free_run(&run);

  /* Transposed weights start with C: a 5-channel input does not fit. */
  const int64_t wide_shape[4] = {1, 5, 5, 5};
  float *wide = NULL;
  write_array("x.npy", 4, wide_shape, 1, &wide, input_path);
  free(wide);
  run = RUN_TOOL("conv", "--input", input_path, "--weights", weights_path,
                 "--transposed", "--output", output_path);
  expect_exit(&run, 3);
  expect_contains(run.err, weights_path, "stderr");
  expect_contains(run.err, "(channels, num_output / group, kernel...)",
                  "stderr");
  cr_expect_not(file_exists(output_path));
  free_run(&run);
}

Test(cli, conv_output_padding_needs_transposed) {
  char input_path[PATH_CAPACITY];
  char weights_path[PATH_CAPACITY];
  char output_path[PATH_CAPACITY];
  write_small_layer(input_path, weights_path);
  make_path(output_path, "y.npy");

  tool_run run = RUN_TOOL("conv", "--input", input_path, "--weights",
                          weights_path, "--group", "2", "--stride", "2",
                          "--output-padding", "1", "--output", output_path);
  expect_exit(&run, 2);
  expect_contains(run.err, "--output-padding applies only to transposed",
                  "stderr");
  cr_expect_not(file_exists(output_path));
  free_run(&run);
}

Test(cli, conv_output_padding_must_be_below_stride) {
  char input_path[PATH_CAPACITY];
  char weights_path[PATH_CAPACITY];
  char output_path[PATH_CAPACITY];
  write_small_layer(input_path, weights_path);
  make_path(output_path, "y.npy");

  tool_run run = RUN_TOOL("conv", "--input", input_path, "--weights",
                          weights_path, "--group", "2", "--transposed",
                          "--stride", "2", "--output-padding", "2",
                          "--output", output_path);
  expect_exit(&run, 3);
  expect_contains(run.err, "output_padding 2", "stderr");
  expect_contains(run.err, "smaller than the stride 2", "stderr");
  cr_expect_not(file_exists(output_path));
  free_run(&run);
}

Test(cli, malformed_pad_is_usage_error) {
  /* Each text, and the part of it that the message must quote. */
  const char *const cases[][2] = {
      {"1:", "'1:' is not a padding"},
      {":1", "':1' is not a padding"},
      {"1:2:3", "'1:2:3' is not a padding"},
      {"1,x:2", "'x:2' is not a padding"},
      {"1:2,", "'' is not a padding"},
      {"", "'' is not a padding"},
      {"-1", "has the value -1"},
      {"0:-2", "has the value -2"},
      {"3000000000:1", "has the value 3000000000,"},
      {"1:2,0,1,1", "more than 3 values"},
  };
  char input_path[PATH_CAPACITY];
  char weights_path[PATH_CAPACITY];
  char output_path[PATH_CAPACITY];
  write_small_layer(input_path, weights_path);
  make_path(output_path, "y.npy");

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    tool_run run = RUN_TOOL("conv", "--input", input_path, "--weights",
                            weights_path, "--group", "2", "--pad",
                            cases[i][0], "--output", output_path);
    cr_expect_eq(run.exit_code, 2, "--pad '%s': exit %d, stderr %s",
                 cases[i][0], run.exit_code, run.err);
    expect_contains(run.err, "groupcl conv: --pad '", "stderr");
    expect_contains(run.err, cases[i][1], "stderr");
    expect_contains(run.err, "Try 'groupcl conv --help'.", "stderr");
    free_run(&run);
  }
  cr_expect_not(file_exists(output_path));
}

Test(cli, pad_list_must_fit_input) {
  char input_path[PATH_CAPACITY];
  char weights_path[PATH_CAPACITY];
  char output_path[PATH_CAPACITY];
  write_small_layer(input_path, weights_path);
  make_path(output_path, "y.npy");

  tool_run run = RUN_TOOL("conv", "--input", input_path, "--weights",
                          weights_path, "--group", "2", "--pad", "1:2,0,1",
                          "--output", output_path);
  expect_exit(&run, 2);
  expect_contains(run.err, "--pad has 3 values, but the layer has 2",
                  "stderr");
  cr_expect_not(file_exists(output_path));
  free_run(&run);
}

Test(cli, conv_unknown_algorithm_is_usage_error) {
  tool_run run = RUN_TOOL("conv", "--input", "x.npy", "--weights", "w.npy",
                          "--output", "y.npy", "--algorithm", "fft");
  expect_exit(&run, 2);
  expect_contains(run.err, "'fft'", "stderr");
  free_run(&run);
}

Test(cli, conv_verbose_prints_summary) {
  char input_path[PATH_CAPACITY];
  char weights_path[PATH_CAPACITY];
  char output_path[PATH_CAPACITY];
  write_small_layer(input_path, weights_path);
  make_path(output_path, "y.npy");

  tool_run run = RUN_TOOL("conv", "--input", input_path, "--weights",
                          weights_path, "--group", "2", "--output",
                          output_path, "--algorithm", "caffe_gemm",
                          "--verbose");
  expect_exit(&run, 0);
  expect_contains(run.err, "algorithm caffe_gemm", "stderr");
  expect_contains(run.err, " ms", "stderr");
  cr_expect(file_exists(output_path));
  free_run(&run);
}

/* ------------------------------------------------------------------------ */
/* conv-backward                                                            */

/* The gradients a conv-backward run requests, as bits. */
enum requested_gradients {
  REQUEST_INPUT = 1,
  REQUEST_WEIGHTS = 2,
  REQUEST_BIAS = 4,
  REQUEST_ALL = 7
};

/* Arrays and paths of one conv-backward run. */
typedef struct backward_files {
  float *input, *weights, *grad_output;
  char input_path[PATH_CAPACITY];
  char weights_path[PATH_CAPACITY];
  char grad_output_path[PATH_CAPACITY];
  char grad_input_path[PATH_CAPACITY];
  char grad_weights_path[PATH_CAPACITY];
  char grad_bias_path[PATH_CAPACITY];
} backward_files;

/* Writes X, W and a DY of the layer's output shape for the case. */
static void write_backward_files(const gcl_conv_desc *desc, int rank,
                                 const int64_t *input_shape,
                                 const int64_t *weight_shape,
                                 backward_files *files) {
  int64_t output_shape[GCL_MAX_RANK];
  cr_assert_eq(gcl_conv_output_shape(desc, rank, input_shape, output_shape),
               GCL_SUCCESS, "%s", gcl_last_error());
  write_array("x.npy", rank, input_shape, 1, &files->input,
              files->input_path);
  write_array("w.npy", rank, weight_shape, 2, &files->weights,
              files->weights_path);
  write_array("dy.npy", rank, output_shape, 3, &files->grad_output,
              files->grad_output_path);
  make_path(files->grad_input_path, "dx.npy");
  make_path(files->grad_weights_path, "dw.npy");
  make_path(files->grad_bias_path, "db.npy");
}

static void free_backward_files(backward_files *files) {
  free(files->input);
  free(files->weights);
  free(files->grad_output);
}

/*
 * Runs `groupcl conv-backward` on the case, requesting the gradients in
 * `requested` (with --check when check is set). Compares each written
 * gradient with gcl_conv_reference_backward and expects no file for the
 * others.
 */
static void check_backward_case(const conv_case *c, int requested,
                                int check) {
  gcl_conv_desc desc;
  int64_t input_shape[GCL_MAX_RANK];
  int64_t weight_shape[GCL_MAX_RANK];
  const int rank = c->spatial_dims + 2;
  case_desc(c, &desc, input_shape, weight_shape);
  desc.bias_term = (requested & REQUEST_BIAS) != 0;

  backward_files files;
  write_backward_files(&desc, rank, input_shape, weight_shape, &files);

  char group_text[32];
  const char *args[MAX_TOOL_ARGS] = {
      "conv-backward", "--input",       files.input_path,
      "--weights",     files.weights_path, "--grad-output",
      files.grad_output_path};
  int count = 7;
  add_layer_args(c, args, &count, group_text, sizeof group_text);
  add_args(args, &count, "--schedule", c->schedule_flag);
  add_args(args, &count, "--grad-input",
           requested & REQUEST_INPUT ? files.grad_input_path : NULL);
  add_args(args, &count, "--grad-weights",
           requested & REQUEST_WEIGHTS ? files.grad_weights_path : NULL);
  add_args(args, &count, "--grad-bias",
           requested & REQUEST_BIAS ? files.grad_bias_path : NULL);
  if (check) {
    args[count++] = "--check";
  }
  args[count] = NULL;

  tool_run run = run_tool(NULL, args);
  expect_exit(&run, 0);
  if (check) {
    const char *lines[3] = {"--grad-input: max error",
                            "--grad-weights: max error",
                            "--grad-bias: max error"};
    for (int kind = 0; kind < 3; kind++) {
      if (requested & (1 << kind)) {
        expect_contains(run.out, lines[kind], "stdout");
      } else {
        cr_expect_null(strstr(run.out, lines[kind]), "stdout has %s:\n%s",
                       lines[kind], run.out);
      }
    }
  }
  free_run(&run);

  const size_t weight_count = shape_count(rank, weight_shape);
  float *grad_input = malloc(shape_count(rank, input_shape) * sizeof(float));
  float *grad_weights = malloc(weight_count * sizeof(float));
  float *grad_bias = malloc((size_t)desc.num_output * sizeof(float));
  cr_assert(grad_input != NULL && grad_weights != NULL && grad_bias != NULL);
  cr_assert_eq(gcl_conv_reference_backward(
                   &desc, rank, input_shape, files.input, files.weights,
                   files.grad_output, grad_input, grad_weights,
                   desc.bias_term ? grad_bias : NULL),
               GCL_SUCCESS, "%s", gcl_last_error());

  if (requested & REQUEST_INPUT) {
    expect_npy_close(files.grad_input_path, rank, input_shape, grad_input);
  } else {
    cr_expect_not(file_exists(files.grad_input_path));
  }
  if (requested & REQUEST_WEIGHTS) {
    expect_npy_close(files.grad_weights_path, rank, weight_shape,
                     grad_weights);
  } else {
    cr_expect_not(file_exists(files.grad_weights_path));
  }
  if (requested & REQUEST_BIAS) {
    expect_npy_close(files.grad_bias_path, 1, &desc.num_output, grad_bias);
  } else {
    cr_expect_not(file_exists(files.grad_bias_path));
  }

  free(grad_input);
  free(grad_weights);
  free(grad_bias);
  free_backward_files(&files);
}

/* A grouped 2-D layer with stride and asymmetric padding. */
static const conv_case backward_2d_case = {.spatial_dims = 2,
                                           .batch = 2,
                                           .channels = 4,
                                           .num_output = 6,
                                           .group = 2,
                                           .in = {6, 5},
                                           .kernel = {3, 2},
                                           .stride = {2, 1},
                                           .pad = {1, 0},
                                           .pad_after = {2, 1},
                                           .pad_asymmetric = 1,
                                           .dilation = {1, 1},
                                           .stride_flag = "2,1",
                                           .pad_flag = "1:2,0:1"};

Test(cli, conv_backward_all_gradients_match_reference) {
  check_backward_case(&backward_2d_case, REQUEST_ALL, 1);
}

Test(cli, conv_backward_writes_each_gradient_alone) {
  const int kinds[3] = {REQUEST_INPUT, REQUEST_WEIGHTS, REQUEST_BIAS};
  const char *names[3] = {"dx.npy", "dw.npy", "db.npy"};
  for (int i = 0; i < 3; i++) {
    check_backward_case(&backward_2d_case, kinds[i], 0);

    char path[PATH_CAPACITY];
    make_path(path, names[i]);
    cr_assert_eq(remove(path), 0, "remove %s: %s", path, strerror(errno));
  }
}

Test(cli, conv_backward_transposed_matches_reference) {
  const conv_case c = {.spatial_dims = 1,
                       .batch = 2,
                       .channels = 4,
                       .num_output = 6,
                       .group = 2,
                       .in = {7},
                       .kernel = {3},
                       .stride = {2},
                       .pad = {1},
                       .pad_after = {0},
                       .pad_asymmetric = 1,
                       .dilation = {2},
                       .output_padding = {1},
                       .transposed = 1,
                       .stride_flag = "2",
                       .pad_flag = "1:0",
                       .dilation_flag = "2",
                       .output_padding_flag = "1",
                       .schedule_flag = "queues:2"};
  check_backward_case(&c, REQUEST_ALL, 1);
}

Test(cli, conv_backward_3d_depthwise_matches_reference) {
  const conv_case c = {.spatial_dims = 3,
                       .batch = 1,
                       .channels = 3,
                       .num_output = 6,
                       .group = 3,
                       .in = {3, 5, 4},
                       .kernel = {2, 3, 3},
                       .stride = {1, 1, 2},
                       .pad = {0, 1, 1},
                       .dilation = {1, 1, 1},
                       .stride_flag = "1,1,2",
                       .pad_flag = "0,1,1"};
  check_backward_case(&c, REQUEST_INPUT | REQUEST_WEIGHTS, 0);
}

Test(cli, conv_backward_matches_hand_computed_gradients) {
  /*
   * x = [1, 2, 3] padded to [0, 1, 2, 3] by --pad 1:0, w = [1, 10]:
   * y[o] = xp[o] + 10 xp[o+1]. With dy = [1, 100, 10000]:
   *   dx[j] = sum over o of dy[o] w[j+1-o] = [110, 11000, 100000]
   *   dw[k] = sum over o of dy[o] xp[o+k] = [20100, 30201]
   *   db    = 1 + 100 + 10000 = 10101
   */
  const int64_t input_shape[3] = {1, 1, 3};
  const int64_t weight_shape[3] = {1, 1, 2};
  const int64_t output_shape[3] = {1, 1, 3};
  const float input[3] = {1.0f, 2.0f, 3.0f};
  const float weights[2] = {1.0f, 10.0f};
  const float grad_output[3] = {1.0f, 100.0f, 10000.0f};
  backward_files files;
  write_values("x.npy", 3, input_shape, input, files.input_path);
  write_values("w.npy", 3, weight_shape, weights, files.weights_path);
  write_values("dy.npy", 3, output_shape, grad_output,
               files.grad_output_path);
  make_path(files.grad_input_path, "dx.npy");
  make_path(files.grad_weights_path, "dw.npy");
  make_path(files.grad_bias_path, "db.npy");

  tool_run run = RUN_TOOL(
      "conv-backward", "--input", files.input_path, "--weights",
      files.weights_path, "--grad-output", files.grad_output_path, "--pad",
      "1:0", "--grad-input", files.grad_input_path, "--grad-weights",
      files.grad_weights_path, "--grad-bias", files.grad_bias_path);
  expect_exit(&run, 0);
  free_run(&run);

  float values[3];
  read_vector(files.grad_input_path, 3, values);
  cr_expect_eq(values[0], 110.0f, "dx[0] = %g", (double)values[0]);
  cr_expect_eq(values[1], 11000.0f, "dx[1] = %g", (double)values[1]);
  cr_expect_eq(values[2], 100000.0f, "dx[2] = %g", (double)values[2]);
  read_vector(files.grad_weights_path, 2, values);
  cr_expect_eq(values[0], 20100.0f, "dw[0] = %g", (double)values[0]);
  cr_expect_eq(values[1], 30201.0f, "dw[1] = %g", (double)values[1]);
  read_vector(files.grad_bias_path, 1, values);
  cr_expect_eq(values[0], 10101.0f, "db[0] = %g", (double)values[0]);
}

/* Writes X, W and DY of backward_2d_case for the failure tests. */
static void write_backward_2d_files(backward_files *files) {
  gcl_conv_desc desc;
  int64_t input_shape[GCL_MAX_RANK];
  int64_t weight_shape[GCL_MAX_RANK];
  case_desc(&backward_2d_case, &desc, input_shape, weight_shape);
  write_backward_files(&desc, 4, input_shape, weight_shape, files);
}

/*
 * Expects no file in the test folder whose name starts with name, which
 * also catches the temporary "NAME.tmpXXXXXX" files of an atomic write.
 */
static void expect_no_file_like(const char *name) {
  DIR *folder = opendir(test_directory);
  cr_assert_not_null(folder, "opendir %s: %s", test_directory,
                     strerror(errno));
  struct dirent *entry;
  while ((entry = readdir(folder)) != NULL) {
    cr_expect_neq(strncmp(entry->d_name, name, strlen(name)), 0,
                  "%s/%s exists after a failed run", test_directory,
                  entry->d_name);
  }
  closedir(folder);
}

Test(cli, conv_backward_grad_output_shape_mismatch) {
  backward_files files;
  write_backward_2d_files(&files);

  /* The layer's output is [2, 6, 4, 5]; this DY has one row too few. */
  const int64_t wrong_shape[4] = {2, 6, 3, 5};
  float *wrong = NULL;
  write_array("dy.npy", 4, wrong_shape, 3, &wrong, files.grad_output_path);
  free(wrong);

  tool_run run = RUN_TOOL(
      "conv-backward", "--input", files.input_path, "--weights",
      files.weights_path, "--grad-output", files.grad_output_path,
      "--group", "2", "--stride", "2,1", "--pad", "1:2,0:1", "--grad-input",
      files.grad_input_path, "--grad-weights", files.grad_weights_path,
      "--grad-bias", files.grad_bias_path);
  expect_exit(&run, 3);
  expect_contains(run.err, "groupcl conv-backward: --grad-output ", "stderr");
  expect_contains(run.err, "has shape [2, 6, 3, 5]", "stderr");
  expect_contains(run.err, "of shape [2, 4, 6, 5] has shape [2, 6, 4, 5]",
                  "stderr");
  cr_expect_str_empty(run.out);
  expect_no_file_like("dx.npy");
  expect_no_file_like("dw.npy");
  expect_no_file_like("db.npy");
  free_run(&run);
  free_backward_files(&files);
}

Test(cli, conv_backward_weight_mismatch_is_invalid_input) {
  backward_files files;
  write_backward_2d_files(&files);

  /* Without --group 2 the weights must be [6, 4, 3, 2], not [6, 2, 3, 2]. */
  tool_run run = RUN_TOOL(
      "conv-backward", "--input", files.input_path, "--weights",
      files.weights_path, "--grad-output", files.grad_output_path,
      "--stride", "2,1", "--pad", "1:2,0:1", "--grad-weights",
      files.grad_weights_path);
  expect_exit(&run, 3);
  expect_contains(run.err, files.weights_path, "stderr");
  expect_contains(run.err, "--group 2", "stderr");
  expect_no_file_like("dw.npy");
  free_run(&run);
  free_backward_files(&files);
}

Test(cli, conv_backward_unwritable_path_leaves_no_files) {
  backward_files files;
  write_backward_2d_files(&files);
  char missing_folder_path[PATH_CAPACITY];
  make_path(missing_folder_path, "absent/dw.npy");

  /* dx.npy is written before dw.npy fails, and must be removed. */
  tool_run run = RUN_TOOL(
      "conv-backward", "--input", files.input_path, "--weights",
      files.weights_path, "--grad-output", files.grad_output_path,
      "--group", "2", "--stride", "2,1", "--pad", "1:2,0:1", "--grad-input",
      files.grad_input_path, "--grad-weights", missing_folder_path,
      "--grad-bias", files.grad_bias_path);
  expect_exit(&run, 1);
  expect_contains(run.err, "groupcl conv-backward: --grad-weights: ",
                  "stderr");
  expect_contains(run.err, missing_folder_path, "stderr");
  expect_no_file_like("dx.npy");
  expect_no_file_like("db.npy");
  expect_no_file_like("absent");
  free_run(&run);
  free_backward_files(&files);
}

Test(cli, conv_backward_folder_path_leaves_no_files) {
  backward_files files;
  write_backward_2d_files(&files);
  cr_assert_eq(mkdir(files.grad_bias_path, 0700), 0, "mkdir %s: %s",
               files.grad_bias_path, strerror(errno));

  /* db.npy is a folder, so the rename of the last gradient would fail. */
  tool_run run = RUN_TOOL(
      "conv-backward", "--input", files.input_path, "--weights",
      files.weights_path, "--grad-output", files.grad_output_path,
      "--group", "2", "--stride", "2,1", "--pad", "1:2,0:1", "--grad-input",
      files.grad_input_path, "--grad-weights", files.grad_weights_path,
      "--grad-bias", files.grad_bias_path);
  expect_exit(&run, 1);
  expect_contains(run.err, "--grad-bias: ", "stderr");
  expect_contains(run.err, "is a folder", "stderr");
  expect_no_file_like("dx.npy");
  expect_no_file_like("dw.npy");
  expect_no_file_like("db.npy.tmp");
  free_run(&run);
  free_backward_files(&files);
}

Test(cli, conv_backward_keeps_existing_files_on_failure) {
  backward_files files;
  write_backward_2d_files(&files);
  char old_path[PATH_CAPACITY];
  write_text_file("dx.npy", "old contents\n", old_path);

  /* A DY of the wrong shape fails the run before anything is written. */
  tool_run run = RUN_TOOL(
      "conv-backward", "--input", files.input_path, "--weights",
      files.weights_path, "--grad-output", files.input_path, "--group", "2",
      "--stride", "2,1", "--pad", "1:2,0:1", "--grad-input",
      files.grad_input_path);
  expect_exit(&run, 3);
  char *text = read_whole_file(files.grad_input_path);
  cr_expect_str_eq(text, "old contents\n");
  free(text);
  free_run(&run);
  free_backward_files(&files);
}

Test(cli, conv_backward_requires_options) {
  tool_run run = RUN_TOOL("conv-backward", "--input", "x.npy", "--weights",
                          "w.npy", "--grad-output", "dy.npy");
  expect_exit(&run, 2);
  expect_contains(run.err, "missing gradient to write", "stderr");
  expect_contains(run.err, "--grad-input, --grad-weights and --grad-bias",
                  "stderr");
  expect_contains(run.err, "Try 'groupcl conv-backward --help'.", "stderr");
  free_run(&run);

  run = RUN_TOOL("conv-backward", "--input", "x.npy", "--weights", "w.npy",
                 "--grad-input", "dx.npy");
  expect_exit(&run, 2);
  expect_contains(run.err, "missing --grad-output", "stderr");
  free_run(&run);

  run = RUN_TOOL("conv-backward", "--weights", "w.npy", "--grad-output",
                 "dy.npy", "--grad-input", "dx.npy");
  expect_exit(&run, 2);
  expect_contains(run.err, "missing --input", "stderr");
  free_run(&run);

  run = RUN_TOOL("conv-backward", "--input", "x.npy", "--grad-output",
                 "dy.npy", "--grad-input", "dx.npy");
  expect_exit(&run, 2);
  expect_contains(run.err, "missing --weights", "stderr");
  free_run(&run);
}

Test(cli, conv_backward_rejects_same_path_twice) {
  tool_run run = RUN_TOOL("conv-backward", "--input", "x.npy", "--weights",
                          "w.npy", "--grad-output", "dy.npy",
                          "--grad-input", "g.npy", "--grad-bias", "g.npy");
  expect_exit(&run, 2);
  expect_contains(run.err, "--grad-input and --grad-bias both name g.npy",
                  "stderr");
  free_run(&run);
}

Test(cli, conv_backward_rejects_bad_layer_flags) {
  tool_run run = RUN_TOOL("conv-backward", "--input", "x.npy", "--weights",
                          "w.npy", "--grad-output", "dy.npy",
                          "--grad-input", "dx.npy", "--pad", "1:2:3");
  expect_exit(&run, 2);
  expect_contains(run.err, "groupcl conv-backward: --pad '1:2:3'", "stderr");
  free_run(&run);

  run = RUN_TOOL("conv-backward", "--input", "x.npy", "--weights", "w.npy",
                 "--grad-output", "dy.npy", "--grad-input", "dx.npy",
                 "--output-padding", "1");
  expect_exit(&run, 2);
  expect_contains(run.err, "--output-padding applies only to transposed",
                  "stderr");
  free_run(&run);

  run = RUN_TOOL("conv-backward", "--input", "x.npy", "--weights", "w.npy",
                 "--grad-output", "dy.npy", "--grad-input", "dx.npy",
                 "--bias", "b.npy");
  expect_exit(&run, 2);
  expect_contains(run.err, "unknown option '--bias'", "stderr");
  free_run(&run);
}

/* ------------------------------------------------------------------------ */
/* devices and demo                                                         */

Test(cli, devices_lists_each_device) {
  gcl_device_info *devices = NULL;
  size_t device_count = 0;
  cr_assert_eq(gcl_devices_list(&devices, &device_count), GCL_SUCCESS);

  tool_run run = RUN_TOOL("devices");
  if (device_count == 0) {
    expect_exit(&run, 4);
    expect_contains(run.err, "pocl-opencl-icd", "stderr");
  } else {
    expect_exit(&run, 0);
    expect_contains(run.out, "P:D", "stdout");
    expect_contains(run.out, "fp64", "stdout");
    expect_contains(run.out, devices[0].device_name, "stdout");
  }
  gcl_devices_free(devices);
  free_run(&run);
}

Test(cli, devices_without_driver_exits_4) {
  /* An empty vendor folder hides every installed OpenCL driver. */
  char vendors[PATH_CAPACITY];
  char entry[PATH_CAPACITY + 32];
  make_path(vendors, "no-vendors");
  cr_assert_eq(mkdir(vendors, 0700), 0, "mkdir %s: %s", vendors,
               strerror(errno));
  snprintf(entry, sizeof entry, "OCL_ICD_VENDORS=%s", vendors);

  tool_run run = RUN_TOOL_WITH_ENV(entry, "devices");
  expect_exit(&run, 4);
  expect_contains(run.err, "groupcl devices: no OpenCL device found",
                  "stderr");
  expect_contains(run.err, "apt-get install pocl-opencl-icd", "stderr");
  free_run(&run);
}

static void expect_png(const char *name) {
  char path[PATH_CAPACITY];
  snprintf(path, sizeof path, "%s/demo-out/%s", test_directory, name);

  FILE *file = fopen(path, "rb");
  cr_assert_not_null(file, "%s was not written", path);
  unsigned char signature[8] = {0};
  const size_t got = fread(signature, 1, sizeof signature, file);
  fclose(file);
  cr_expect_eq(got, sizeof signature);
  cr_expect_eq(memcmp(signature, "\x89PNG\r\n\x1a\n", 8), 0,
               "%s is not a PNG file", path);
}

Test(cli, demo_writes_pngs) {
  char output_dir[PATH_CAPACITY];
  make_path(output_dir, "demo-out");

  tool_run run = RUN_TOOL("demo", "--output-dir", output_dir);
  expect_exit(&run, 0);
  expect_contains(run.out, "device: ", "stdout");
  expect_contains(run.out, "GFLOP/s", "stdout");
  expect_contains(run.out, "max error", "stdout");
  free_run(&run);

  expect_png("input.png");
  expect_png("blur.png");
  expect_png("edges.png");
}

Test(cli, demo_missing_image_is_invalid_input) {
  char image_path[PATH_CAPACITY];
  char output_dir[PATH_CAPACITY];
  make_path(image_path, "absent.png");
  make_path(output_dir, "demo-out");

  tool_run run = RUN_TOOL("demo", "--image", image_path, "--output-dir",
                          output_dir);
  expect_exit(&run, 3);
  expect_contains(run.err, "absent.png", "stderr");
  free_run(&run);
}

Test(cli, conv_rejects_unknown_schedule) {
  char input_path[PATH_CAPACITY];
  char weights_path[PATH_CAPACITY];
  char output_path[PATH_CAPACITY];
  write_small_layer(input_path, weights_path);
  make_path(output_path, "y.npy");

  tool_run run = RUN_TOOL("conv", "--input", input_path, "--weights",
                          weights_path, "--group", "2", "--output",
                          output_path, "--schedule", "queues:0");
  expect_exit(&run, 2);
  expect_contains(run.err, "--schedule: ", "stderr");
  cr_expect_not(file_exists(output_path));
  free_run(&run);
}

Test(cli, tune_stores_fastest_algorithm) {
  char cache_entry[PATH_CAPACITY + 32];
  char database[PATH_CAPACITY];
  make_path(database, "tuning.tsv");
  snprintf(cache_entry, sizeof cache_entry, "GROUPCL_CACHE_DIR=%s",
           test_directory);

  tool_run run = RUN_TOOL_WITH_ENV(cache_entry, "tune", "--channels", "8",
                                   "--num-output", "8", "--kernel", "3,3",
                                   "--group", "4", "--input-size", "9,9");
  expect_exit(&run, 0);
  expect_contains(run.out, "fastest", "stdout");
  expect_contains(run.out, "caffe_gemm", "stdout");
  cr_expect(file_exists(database), "no tuning database at %s", database);
  free_run(&run);
}

Test(cli, tune_rejects_layer_and_flags_together) {
  tool_run run = RUN_TOOL("tune", "--layer", "alexnet_conv2", "--channels",
                          "8");
  expect_exit(&run, 2);
  expect_contains(run.err, "either --layer or layer flags", "stderr");
  free_run(&run);
}

Test(cli, tune_unknown_suite_layer_is_invalid_input) {
  tool_run run = RUN_TOOL("tune", "--layer", "no_such_layer");
  expect_exit(&run, 3);
  expect_contains(run.err, "no_such_layer", "stderr");
  free_run(&run);
}
