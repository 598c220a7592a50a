/*
 * Tests of `groupcl bench`, run as a user runs it. Each test starts the
 * built binary (GCL_TOOL_PATH) with posix_spawn and sends its stdout and
 * stderr to files in a fresh mkdtemp folder under /tmp. Then it checks the
 * exit status, the messages and the files written. GROUPCL_DEVICES is removed
 * from the tool's environment. Layers are tiny and --runs small, so the
 * time goes mostly into compiling the OpenCL kernels.
 */
#define _XOPEN_SOURCE 700

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "groupcl.h"
#include "tool_runner.h"

/* Makefile.am defines it as the source tree's tests/nets. */
#ifndef GCL_NETS_DIR
#define GCL_NETS_DIR "tests/nets"
#endif

#define ALEXNET GCL_NETS_DIR "/bvlc_alexnet.prototxt"

/* One row per convolution algorithm (every algorithm but auto and
 * transposed), one for auto, and one for oneDNN. */
#define GROUPCL_ROWS (GCL_ALGORITHM_COUNT - 1)
#ifdef HAVE_DNNL
#define ROWS_PER_LAYER (GROUPCL_ROWS + 1)
#else
#define ROWS_PER_LAYER GROUPCL_ROWS
#endif

/* Columns the CSV header must contain. */
static const char *const required_columns[] = {
    "layer",           "algorithm",       "ms",
    "gflops",          "peak_fraction",   "speedup_vs_caffe",
    "compile_ms",      "programs_built",  "programs_loaded",
    "max_rel_error"};

/* A suite of two small layers: a grouped 2-D one and a 1-D (height 1) one. */
static const char small_suite[] =
    "name,N,C,H,W,K,kh,kw,stride,pad,dilation,group,D,kd\n"
    "tiny,1,8,6,6,8,3,3,1,1,1,2,1,1\n"
    "wide1d,1,8,1,20,8,1,5,2,2,1,4,1,1\n";

/*
 * A tiny network: a grouped convolution that bench times, a Deconvolution
 * that it skips, and a convolution whose group 3 does not divide its 8
 * channels, which is invalid and stops shape inference.
 */
static const char mixed_network[] =
    "name: \"mixed\"\n"
    "input: \"data\"\n"
    "input_shape { dim: 1 dim: 8 dim: 6 dim: 6 }\n"
    "layer { name: \"conv_ok\" type: \"Convolution\" bottom: \"data\"\n"
    "  top: \"a\" convolution_param { num_output: 8 kernel_size: 3 pad: 1\n"
    "  group: 2 } }\n"
    "layer { name: \"up\" type: \"Deconvolution\" bottom: \"a\" top: \"b\"\n"
    "  convolution_param { num_output: 8 kernel_size: 2 stride: 2 } }\n"
    "layer { name: \"conv_bad\" type: \"Convolution\" bottom: \"b\"\n"
    "  top: \"c\" convolution_param { num_output: 8 kernel_size: 3\n"
    "  group: 3 } }\n";

/* A network whose only convolution is a Deconvolution. */
static const char deconvolution_network[] =
    "input: \"data\"\n"
    "input_shape { dim: 1 dim: 4 dim: 5 dim: 5 }\n"
    "layer { name: \"up\" type: \"Deconvolution\" bottom: \"data\"\n"
    "  top: \"b\" convolution_param { num_output: 4 kernel_size: 2 } }\n";

static const unsigned char png_magic[8] = {0x89, 'P',  'N',  'G',
                                           '\r', '\n', 0x1a, '\n'};

static void create_bench_directory(void) { create_test_directory("bench"); }

TestSuite(bench, .init = create_bench_directory,
          .fini = remove_test_directory, .timeout = 300);

#define RUN_BENCH(...) RUN_TOOL("bench", __VA_ARGS__)

/* Counts the entries of the test folder other than the captured output. */
static int count_other_files(void) {
  DIR *folder = opendir(test_directory);
  cr_assert_not_null(folder);
  int count = 0;
  const struct dirent *entry;
  while ((entry = readdir(folder)) != NULL) {
    const char *name = entry->d_name;
    if (strcmp(name, ".") != 0 && strcmp(name, "..") != 0 &&
        strncmp(name, "tool-", 5) != 0) {
      count++;
    }
  }
  closedir(folder);
  return count;
}

/* ------------------------------------------------------------------------ */
/* Checking the files                                                       */

/* Returns the index of column name in the CSV header line, or -1. */
static int column_index(const char *header, const char *name) {
  int index = 0;
  const char *field = header;
  for (;;) {
    const size_t length = strcspn(field, ",\n");
    if (length == strlen(name) && strncmp(field, name, length) == 0) {
      return index;
    }
    if (field[length] != ',') {
      return -1;
    }
    field += length + 1;
    index++;
  }
}

/* Copies field `index` of a CSV line (fields before it are unquoted). */
static void csv_field(const char *line, int index, char *field, size_t size) {
  const char *start = line;
  for (int i = 0; i < index; i++) {
    start = strchr(start, ',');
    cr_assert_not_null(start, "line has no field %d: %s", index, line);
    start++;
  }
  const size_t length = strcspn(start, ",\n");
  snprintf(field, size, "%.*s", (int)length, start);
}

/* Splits text into lines in place and returns their count (<= capacity). */
static int split_lines(char *text, char **lines, int capacity) {
  int count = 0;
  char *save = NULL;
  for (char *line = strtok_r(text, "\n", &save);
       line != NULL && count < capacity;
       line = strtok_r(NULL, "\n", &save)) {
    lines[count++] = line;
  }
  return count;
}

/*
 * Checks that the CSV has the required columns and rows_per_layer rows for
 * each of `layers`, in their order, and that n/a rows, and only they, have
 * an empty time.
 */
static void check_csv(const char *path, int rows_per_layer,
                      const char *const *layers, int layer_count) {
  const int rows_expected = rows_per_layer * layer_count;
  char *text = read_whole_file(path);
  char *lines[256];
  const int line_count = split_lines(text, lines, 256);
  cr_assert_geq(line_count, 1, "%s is empty", path);

  for (size_t i = 0;
       i < sizeof required_columns / sizeof required_columns[0]; i++) {
    cr_expect_geq(column_index(lines[0], required_columns[i]), 0,
                  "CSV header lacks %s: %s", required_columns[i], lines[0]);
  }
  cr_assert_eq(line_count - 1, rows_expected, "%d rows, expected %d:\n%s",
               line_count - 1, rows_expected, text);

  const int status_column = column_index(lines[0], "status");
  const int ms_column = column_index(lines[0], "ms");
  cr_assert_geq(status_column, 0);
  for (int i = 1; i < line_count; i++) {
    char layer[128], status[64], ms[64];
    csv_field(lines[i], 0, layer, sizeof layer);
    csv_field(lines[i], status_column, status, sizeof status);
    csv_field(lines[i], ms_column, ms, sizeof ms);

    const int layer_index = (i - 1) / rows_per_layer;
    cr_assert_lt(layer_index, layer_count);
    cr_expect_str_eq(layer, layers[layer_index], "row %d: %s", i, lines[i]);
    const int not_available = strcmp(status, "n/a") == 0;
    cr_expect_eq(not_available, ms[0] == '\0',
                 "row %d: status %s but ms '%s'", i, status, ms);
  }
  free(text);
}

/* Counts occurrences of part in text. */
static int count_occurrences(const char *text, const char *part) {
  int count = 0;
  for (const char *at = strstr(text, part); at != NULL;
       at = strstr(at + 1, part)) {
    count++;
  }
  return count;
}

/* Checks that braces and brackets outside strings balance. */
static void check_json(const char *path, int rows_expected) {
  char *text = read_whole_file(path);
  cr_assert(text[0] == '{' || text[0] == '[', "JSON starts with '%c'",
            text[0]);

  int depth = 0;
  int in_string = 0;
  for (const char *c = text; *c != '\0'; c++) {
    if (in_string) {
      if (*c == '\\') {
        c++;
      } else if (*c == '"') {
        in_string = 0;
      }
      continue;
    }
    if (*c == '"') {
      in_string = 1;
    } else if (*c == '{' || *c == '[') {
      depth++;
    } else if (*c == '}' || *c == ']') {
      depth--;
      cr_assert_geq(depth, 0, "unbalanced JSON at offset %ld",
                    (long)(c - text));
    }
  }
  cr_expect_eq(depth, 0, "JSON braces do not balance");
  cr_expect_eq(in_string, 0, "JSON ends inside a string");
  cr_expect_eq(count_occurrences(text, "\"algorithm\":"), rows_expected);
  expect_contains(text, "\"summary\"", "JSON");
  cr_expect_null(strstr(text, "nan"), "JSON contains nan:\n%s", text);
  free(text);
}

static void check_png(const char *path) {
  FILE *file = fopen(path, "rb");
  cr_assert_not_null(file, "no chart at %s: %s", path, strerror(errno));
  unsigned char magic[8];
  const size_t got = fread(magic, 1, sizeof magic, file);
  fclose(file);
  cr_assert_eq(got, sizeof magic);
  cr_expect_eq(memcmp(magic, png_magic, sizeof magic), 0,
               "%s does not start with the PNG signature", path);
}

/* ------------------------------------------------------------------------ */
/* Tests                                                                    */

Test(bench, help_lists_options) {
  tool_run run = RUN_BENCH("--help");
  expect_exit(&run, 0);
  expect_contains(run.out, "Usage: groupcl bench", "stdout");
  const char *options[] = {"--suite", "--prototxt", "--layer", "--device",
                           "--runs",
                           "--csv", "--json", "--chart", "--peak-gflops",
                           "--no-onednn", "--verbose"};
  for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
    expect_contains(run.out, options[i], "stdout");
  }
  cr_expect_str_empty(run.err, "--help wrote to stderr: %s", run.err);
  free_run(&run);
}

Test(bench, flag_layer_writes_files) {
  char csv[PATH_CAPACITY], json[PATH_CAPACITY], chart[PATH_CAPACITY];
  make_path(csv, "out.csv");
  make_path(json, "out.json");
  make_path(chart, "out.png");

  tool_run run = RUN_BENCH("--channels", "8", "--num-output", "8",
                           "--kernel", "3", "--pad", "1", "--group", "2",
                           "--input-size", "8,8", "--runs", "2", "--warmup",
                           "1", "--csv", csv, "--json", json, "--chart",
                           chart);
  expect_exit(&run, 0);
  expect_contains(run.out, "layer c8_k8_g2_8x8", "stdout");
  expect_contains(run.out, "caffe_gemm", "stdout");
  expect_contains(run.out, "auto (", "stdout");
  expect_contains(run.out, "summary over 1 layer", "stdout");
  expect_contains(run.out, "peak: 500 GFLOP/s", "stdout");

  const char *const layers[] = {"c8_k8_g2_8x8"};
  check_csv(csv, ROWS_PER_LAYER, layers, 1);
  check_json(json, ROWS_PER_LAYER);
  check_png(chart);
  free_run(&run);
}

Test(bench, suite_layers_in_order) {
  char suite[PATH_CAPACITY], csv[PATH_CAPACITY];
  write_text_file("suite.csv", small_suite, suite);
  make_path(csv, "out.csv");

  tool_run run = RUN_BENCH("--suite", suite, "--layer", "wide1d,tiny",
                           "--runs", "1", "--warmup", "0", "--no-onednn",
                           "--peak-gflops", "100", "--csv", csv);
  expect_exit(&run, 0);
  expect_contains(run.out, "peak: 100 GFLOP/s (--peak-gflops)", "stdout");
  expect_contains(run.out, "summary over 2 layers", "stdout");
  cr_expect_null(strstr(run.out, "onednn "), "--no-onednn ran oneDNN:\n%s",
                 run.out);

  char *text = read_whole_file(csv);
  cr_expect_null(strstr(text, ",onednn,"), "CSV has a oneDNN row:\n%s", text);
  free(text);
  const char *const layers[] = {"wide1d", "tiny"};
  check_csv(csv, GROUPCL_ROWS, layers, 2);
  free_run(&run);
}

Test(bench, unknown_layer_exits_3) {
  char suite[PATH_CAPACITY];
  write_text_file("suite.csv", small_suite, suite);

  tool_run run = RUN_BENCH("--suite", suite, "--layer", "tiny,nosuch");
  expect_exit(&run, 3);
  expect_contains(run.err, "groupcl bench: --layer 'nosuch' is not in",
                  "stderr");
  expect_contains(run.err, "tiny, wide1d", "stderr");
  free_run(&run);
}

Test(bench, zero_runs_exits_2) {
  tool_run run = RUN_BENCH("--runs", "0");
  expect_exit(&run, 2);
  expect_contains(run.err, "--runs is 0", "stderr");
  expect_contains(run.err, "Try 'groupcl bench --help'.", "stderr");
  free_run(&run);
}

Test(bench, bad_peak_exits_2) {
  const char *values[] = {"0", "-5", "abc", "inf"};
  for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
    tool_run run = RUN_BENCH("--peak-gflops", values[i]);
    expect_exit(&run, 2);
    expect_contains(run.err, "--peak-gflops", "stderr");
    free_run(&run);
  }
}

Test(bench, flags_need_input_size) {
  tool_run run = RUN_BENCH("--channels", "8", "--num-output", "8",
                           "--kernel", "3");
  expect_exit(&run, 2);
  expect_contains(run.err, "missing --input-size", "stderr");
  free_run(&run);
}

Test(bench, flags_and_layer_exit_2) {
  tool_run run = RUN_BENCH("--layer", "tiny", "--channels", "8",
                           "--num-output", "8", "--kernel", "3",
                           "--input-size", "8");
  expect_exit(&run, 2);
  expect_contains(run.err, "not both", "stderr");
  free_run(&run);
}

Test(bench, csv_in_missing_folder_exits_1) {
  char csv[PATH_CAPACITY], missing[PATH_CAPACITY];
  make_path(missing, "missing");
  make_path(csv, "missing/out.csv");

  tool_run run = RUN_BENCH("--channels", "8", "--num-output", "8",
                           "--kernel", "3", "--input-size", "8,8", "--runs",
                           "1", "--csv", csv);
  expect_exit(&run, 1);
  expect_contains(run.err, "groupcl bench: --csv: cannot create", "stderr");
  cr_expect_neq(access(missing, F_OK), 0, "%s was created", missing);
  cr_expect_eq(count_other_files(), 0, "files were left in %s",
               test_directory);
  free_run(&run);
}

Test(bench, failed_json_leaves_no_csv) {
  char csv[PATH_CAPACITY], json[PATH_CAPACITY];
  make_path(csv, "out.csv");
  make_path(json, "missing/out.json");

  tool_run run = RUN_BENCH("--channels", "8", "--num-output", "8",
                           "--kernel", "3", "--input-size", "8,8", "--runs",
                           "1", "--csv", csv, "--json", json);
  expect_exit(&run, 1);
  expect_contains(run.err, "groupcl bench: --json: cannot create", "stderr");
  cr_expect_eq(count_other_files(), 0, "files were left in %s",
               test_directory);
  free_run(&run);
}

Test(bench, network_layer_by_name) {
  tool_run run = RUN_BENCH("--prototxt", ALEXNET, "--layer", "conv2",
                           "--runs", "1", "--warmup", "0", "--no-onednn");
  expect_exit(&run, 0);
  expect_contains(run.out, "network: " ALEXNET ", 1 convolution layer",
                  "stdout");
  expect_contains(run.out, "layer conv2: C 96, K 256, group 2", "stdout");
  expect_contains(run.out, "input [10, 96, 27, 27]", "stdout");
  expect_contains(run.out, "network totals over 1 convolution layer",
                  "stdout");
  expect_contains(run.out, "auto over caffe_gemm:", "stdout");
  cr_expect_null(strstr(run.out, "layer conv1:"), "conv1 was timed:\n%s",
                 run.out);
  free_run(&run);
}

Test(bench, network_skips_and_totals) {
  char network[PATH_CAPACITY], csv[PATH_CAPACITY], json[PATH_CAPACITY];
  write_text_file("mixed.prototxt", mixed_network, network);
  make_path(csv, "out.csv");
  make_path(json, "out.json");

  tool_run run = RUN_BENCH("--prototxt", network, "--runs", "1", "--warmup",
                           "0", "--no-onednn", "--csv", csv, "--json", json);
  expect_exit(&run, 0);
  expect_contains(run.out, "skipped layer up (Deconvolution)", "stdout");
  expect_contains(run.out, "skipped layer conv_bad (Convolution)", "stdout");
  expect_contains(run.out, "layer conv_ok:", "stdout");
  expect_contains(run.out, "network totals over 1 convolution layer",
                  "stdout");
  expect_contains(run.err, "groupcl bench: warning:", "stderr");
  expect_contains(run.err, "conv_bad", "stderr");

  const char *const layers[] = {"conv_ok"};
  check_csv(csv, GROUPCL_ROWS, layers, 1);
  check_json(json, GROUPCL_ROWS);
  char *text = read_whole_file(json);
  expect_contains(text, "\"network_totals\": {\"layers\": 1", "JSON");
  expect_contains(text, "\"layer\": \"conv_bad\", \"type\": "
                        "\"Convolution\"", "JSON");
  expect_contains(text, "\"auto_vs_caffe\": ", "JSON");
  free(text);
  free_run(&run);
}

Test(bench, network_without_timed_layer_exits_3) {
  char network[PATH_CAPACITY];
  write_text_file("deconv.prototxt", deconvolution_network, network);

  tool_run run = RUN_BENCH("--prototxt", network, "--runs", "1");
  expect_exit(&run, 3);
  expect_contains(run.out, "skipped layer up (Deconvolution)", "stdout");
  expect_contains(run.err, "has no convolution layer that bench can time",
                  "stderr");
  free_run(&run);
}

Test(bench, network_unknown_layer_exits_3) {
  tool_run run = RUN_BENCH("--prototxt", ALEXNET, "--layer", "pool1");
  expect_exit(&run, 3);
  expect_contains(run.err, "--layer 'pool1' is not a convolution layer",
                  "stderr");
  expect_contains(run.err, "conv1, conv2, conv3, conv4, conv5", "stderr");
  free_run(&run);
}

Test(bench, network_with_suite_exits_2) {
  tool_run run = RUN_BENCH("--prototxt", ALEXNET, "--suite", "suite.csv");
  expect_exit(&run, 2);
  expect_contains(run.err, "--prototxt reads the layers from the network",
                  "stderr");
  free_run(&run);
}

Test(bench, network_with_layer_flags_exits_2) {
  tool_run run = RUN_BENCH("--prototxt", ALEXNET, "--batch", "2");
  expect_exit(&run, 2);
  expect_contains(run.err, "drop --suite and the layer flags", "stderr");
  free_run(&run);
}
