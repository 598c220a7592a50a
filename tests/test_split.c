/*
 * Tests of `groupcl split` and of the placement table of `groupcl explain
 * --schedule`, run as a user runs them. Each test starts the built binary
 * (GCL_TOOL_PATH) with posix_spawn, sends its stdout and stderr to files in
 * a fresh mkdtemp folder under /tmp, and checks the exit status, the
 * messages and the files it writes. The tool runs with GROUPCL_DEVICES
 * removed from its environment. Tests that need two devices set
 * POCL_DEVICES="pthread pthread" and skip where PoCL does not show two.
 */
#define _XOPEN_SOURCE 700

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool_runner.h"

#define TWO_DEVICES "POCL_DEVICES=pthread pthread"

/* The configurations split runs on two devices, in table order. */
static const char *const two_device_labels[] = {
    "single",   "queues:2", "queues:4", "queues:8",
    "device 0", "device 1", "devices"};
#define TWO_DEVICE_CONFIGURATIONS 7

/* A suite with a 2-D, a 1-D (height 1) and a 3-D layer. */
static const char small_suite[] =
    "name,N,C,H,W,K,kh,kw,stride,pad,dilation,group,D,kd\n"
    "tiny,1,8,6,6,8,3,3,1,1,1,2,1,1\n"
    "wide1d,1,8,1,20,8,1,5,2,2,1,4,1,1\n"
    "volume,2,4,5,6,4,3,3,1,1,1,2,4,3\n";

static void create_split_directory(void) { create_test_directory("split"); }

TestSuite(split, .init = create_split_directory,
          .fini = remove_test_directory, .timeout = 300);

/* Skips the test unless PoCL shows two devices with TWO_DEVICES set. */
static void require_two_devices(void) {
  tool_run run = RUN_TOOL_WITH_ENV(TWO_DEVICES, "devices");
  const int two = run.exit_code == 0 && strstr(run.out, "\n0:1 ") != NULL;
  free_run(&run);
  if (!two) {
    cr_skip_test("PoCL does not show two devices with " TWO_DEVICES);
  }
}

/* ------------------------------------------------------------------------ */
/* split: help and usage errors                                             */

Test(split, help_describes_options) {
  tool_run run = RUN_TOOL("split", "--help");
  expect_exit(&run, 0);
  expect_contains(run.out, "Usage: groupcl split", "stdout");
  expect_contains(run.out, "--runs N", "stdout");
  expect_contains(run.out, "(default 10)", "stdout");
  expect_contains(run.out, "--device SPEC", "stdout");
  expect_contains(run.out, "(default all)", "stdout");
  expect_contains(run.out, "--csv FILE", "stdout");
  expect_contains(run.out, "--trace-dir DIR", "stdout");
  expect_contains(run.out, "thread pool", "stdout");
  cr_expect_str_empty(run.err, "split --help wrote to stderr: %s", run.err);
  free_run(&run);

  run = RUN_TOOL("help", "split");
  expect_exit(&run, 0);
  expect_contains(run.out, "Usage: groupcl split", "stdout");
  free_run(&run);
}

Test(split, top_level_help_lists_split) {
  tool_run run = RUN_TOOL("--help");
  expect_exit(&run, 0);
  expect_contains(run.out, "  split ", "stdout");
  free_run(&run);
}

Test(split, missing_layer_is_usage_error) {
  tool_run run = RUN_TOOL("split");
  expect_exit(&run, 2);
  expect_contains(run.err, "groupcl split: missing layer", "stderr");
  expect_contains(run.err, "Try 'groupcl split --help'.", "stderr");
  free_run(&run);

  run = RUN_TOOL("split", "--channels", "4", "--num-output", "4", "--kernel",
                 "3");
  expect_exit(&run, 2);
  expect_contains(run.err, "missing --input-size", "stderr");
  free_run(&run);
}

Test(split, layer_and_flags_conflict) {
  tool_run run = RUN_TOOL("split", "--layer", "alexnet_conv2", "--channels",
                          "4");
  expect_exit(&run, 2);
  expect_contains(run.err, "Give only one of them", "stderr");
  free_run(&run);
}

Test(split, bad_numbers_are_usage_errors) {
  tool_run run = RUN_TOOL("split", "--layer", "alexnet_conv2", "--runs", "0");
  expect_exit(&run, 2);
  expect_contains(run.err, "--runs", "stderr");
  free_run(&run);

  run = RUN_TOOL("split", "--layer", "alexnet_conv2", "--algorithm",
                 "fft");
  expect_exit(&run, 2);
  expect_contains(run.err, "'fft'", "stderr");
  expect_contains(run.err, "caffe_gemm", "stderr");
  free_run(&run);
}

/* ------------------------------------------------------------------------ */
/* split: runs and output files                                             */

/* Checks that the table has a row that starts with label. */
static void expect_table_row(const char *out, const char *label) {
  char prefix[64];
  snprintf(prefix, sizeof prefix, "%s ", label);
  const char *line = find_line(out, prefix);
  cr_expect_not_null(line, "no table row for %s:\n%s", label, out);
}

/* Splits a CSV line at its commas, in place, and counts the fields. */
static int split_fields(char *line, char **fields, int capacity) {
  int count = 0;
  char *field = line;
  for (;;) {
    char *comma = strchr(field, ',');
    if (count < capacity) {
      fields[count] = field;
    }
    count++;
    if (comma == NULL) {
      break;
    }
    *comma = '\0';
    field = comma + 1;
  }
  return count;
}

static void check_csv(const char *path) {
  char *text = read_whole_file(path);
  char *save = NULL;
  char *line = strtok_r(text, "\n", &save);
  cr_assert_not_null(line, "%s is empty", path);
  cr_expect_str_eq(line, "layer,configuration,slots,ms,speedup,efficiency,"
                         "busy_ms_device0,busy_ms_device1,bytes_moved,"
                         "max_diff");

  int rows = 0;
  while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
    char *fields[16];
    const int count = split_fields(line, fields, 16);
    cr_assert_eq(count, 10, "CSV row %d has %d fields", rows + 1, count);
    cr_expect_str_eq(fields[0], "c16_k16_g4_12x12");
    if (rows < TWO_DEVICE_CONFIGURATIONS) {
      cr_expect_str_eq(fields[1], two_device_labels[rows]);
    }
    cr_expect_gt(atof(fields[3]), 0.0, "%s: ms is %s", fields[1], fields[3]);
    cr_expect_gt(atof(fields[8]), 0.0, "%s: bytes_moved is %s", fields[1],
                 fields[8]);
    cr_expect_leq(atof(fields[9]), 1e-5, "%s: max_diff is %s", fields[1],
                  fields[9]);
    rows++;
  }
  cr_expect_eq(rows, TWO_DEVICE_CONFIGURATIONS, "CSV has %d data rows",
               rows);
  free(text);
}

static void check_traces(const char *trace_dir) {
  static const char *const files[] = {
      "single", "queues-2", "queues-4", "queues-8",
      "device-0", "device-1", "devices"};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    char path[PATH_CAPACITY + 64];
    snprintf(path, sizeof path, "%s/c16_k16_g4_12x12-%s.json", trace_dir,
             files[i]);
    cr_assert(file_exists(path), "trace %s was not written", path);
    char *text = read_whole_file(path);
    cr_expect_eq(strncmp(text, "{\"displayTimeUnit\"", 18), 0,
                 "%s starts with %.40s", path, text);
    free(text);
  }
}

Test(split, two_devices_run_every_configuration) {
  require_two_devices();
  char csv_path[PATH_CAPACITY];
  char trace_dir[PATH_CAPACITY];
  make_path(csv_path, "split.csv");
  make_path(trace_dir, "traces");

  tool_run run = RUN_TOOL_WITH_ENV(
      TWO_DEVICES, "split", "--channels", "16", "--num-output", "16",
      "--group", "4", "--kernel", "3", "--pad", "1", "--input-size", "12,12",
      "--device", "all", "--runs", "3", "--warmup", "1", "--csv", csv_path,
      "--trace-dir", trace_dir);
  expect_exit(&run, 0);
  for (int i = 0; i < TWO_DEVICE_CONFIGURATIONS; i++) {
    expect_table_row(run.out, two_device_labels[i]);
  }
  expect_contains(run.out, "dev1 busy ms", "stdout");
  expect_contains(run.out, "thread pool", "stdout");
  /* stderr is a file, not a terminal, so no progress line appears. */
  cr_expect_str_empty(run.err, "stderr: %s", run.err);
  free_run(&run);

  check_csv(csv_path);
  check_traces(trace_dir);
}

Test(split, queues_eight_uses_only_group_count) {
  /* 4 groups and 1 image give at most 4 slots with work. */
  tool_run run = RUN_TOOL("split", "--channels", "8", "--num-output", "8",
                          "--group", "4", "--kernel", "3", "--input-size",
                          "6,6", "--device", "0:0", "--runs", "1",
                          "--warmup", "0");
  expect_exit(&run, 0);
  const char *line = find_line(run.out, "queues:8 ");
  cr_assert_not_null(line, "no queues:8 row:\n%s", run.out);
  char label[32];
  int slots = 0;
  cr_assert_eq(sscanf(line, "%31s %d", label, &slots), 2);
  cr_expect_eq(slots, 4, "queues:8 row: %s", line);
  cr_expect_null(find_line(run.out, "devices "),
                 "one device, yet a devices row:\n%s", run.out);
  free_run(&run);
}

Test(split, suite_row_by_name) {
  char suite_path[PATH_CAPACITY];
  write_text_file("suite.csv", small_suite, suite_path);

  tool_run run = RUN_TOOL("split", "--suite", suite_path, "--layer", "tiny",
                          "--device", "0:0", "--runs", "1", "--warmup", "0");
  expect_exit(&run, 0);
  expect_contains(run.out, "layer tiny: C 8, K 8, group 2", "stdout");
  expect_contains(run.out, "output [1, 8, 6, 6]", "stdout");
  expect_table_row(run.out, "queues:2");
  free_run(&run);
}

Test(split, suite_one_d_row_pads_width_only) {
  char suite_path[PATH_CAPACITY];
  write_text_file("suite.csv", small_suite, suite_path);

  /* Pad 2 and stride 2 act on the width: (20 + 4 - 5) / 2 + 1 = 10. */
  tool_run run = RUN_TOOL("split", "--suite", suite_path, "--layer", "wide1d",
                          "--device", "0:0", "--runs", "1", "--warmup", "0");
  expect_exit(&run, 0);
  expect_contains(run.out, "output [1, 8, 1, 10]", "stdout");
  free_run(&run);
}

Test(split, suite_three_d_row) {
  char suite_path[PATH_CAPACITY];
  write_text_file("suite.csv", small_suite, suite_path);

  tool_run run = RUN_TOOL("split", "--suite", suite_path, "--layer", "volume",
                          "--device", "0:0", "--runs", "1", "--warmup", "0");
  expect_exit(&run, 0);
  expect_contains(run.out, "input [2, 4, 4, 5, 6]", "stdout");
  expect_contains(run.out, "output [2, 4, 4, 5, 6]", "stdout");
  free_run(&run);
}

Test(split, unknown_layer_lists_names) {
  char suite_path[PATH_CAPACITY];
  write_text_file("suite.csv", small_suite, suite_path);

  tool_run run = RUN_TOOL("split", "--suite", suite_path, "--layer", "nope");
  expect_exit(&run, 3);
  expect_contains(run.err, "--layer 'nope' is not in", "stderr");
  expect_contains(run.err, "tiny, wide1d, volume", "stderr");
  cr_expect_str_empty(run.out);
  free_run(&run);
}

/* Runs split on a suite of the given text and checks the error message. */
static void expect_suite_error(const char *text, const char *location,
                               const char *reason) {
  char suite_path[PATH_CAPACITY];
  char expected[PATH_CAPACITY + 32];
  write_text_file("broken.csv", text, suite_path);
  snprintf(expected, sizeof expected, "%s:%s", suite_path, location);

  tool_run run = RUN_TOOL("split", "--suite", suite_path, "--layer", "tiny");
  expect_exit(&run, 3);
  expect_contains(run.err, expected, "stderr");
  expect_contains(run.err, reason, "stderr");
  free_run(&run);
}

Test(split, malformed_suite_names_line) {
  expect_suite_error("name,N,C,H,W,K,kh,kw,stride,pad,dilation,group,D,kd\n"
                     "tiny,1,8,6,6,8,3,3,1,1,1,2,1,1\n"
                     "bad,1,8,x,6,8,3,3,1,1,1,2,1,1\n",
                     "3:", "column 'H' is 'x'");
  expect_suite_error("name,N,C,H,W,K,kh,kw,stride,pad,dilation,group,D,kd\n"
                     "tiny,1,8,6,6,8,3,3,1,1,1,2,1\n",
                     "2:", "13 fields");
  expect_suite_error("name,N,C,H,W,K,kh,kw,stride,pad,dilation,group,D\n"
                     "tiny,1,8,6,6,8,3,3,1,1,1,2,1\n",
                     "1:", "the header is");
  expect_suite_error("name,N,C,H,W,K,kh,kw,stride,pad,dilation,group,D,kd\n"
                     "tiny,1,8,6,6,8,3,3,0,1,1,2,1,1\n",
                     "2:", "column 'stride' is 0");
  expect_suite_error("name,N,C,H,W,K,kh,kw,stride,pad,dilation,group,D,kd\n"
                     "tiny,1,8,6,6,8,3,3,1,1,1,2,1,1\n"
                     "tiny,1,8,6,6,8,3,3,1,1,1,2,1,1\n",
                     "3:", "already used on line 2");
  expect_suite_error("name,N,C,H,W,K,kh,kw,stride,pad,dilation,group,D,kd\n"
                     "tiny,1,8,6,6,8,3,3,1,-1,1,2,1,1\n",
                     "2:", "column 'pad' is '-1'");
}

Test(split, missing_suite_file_is_invalid_input) {
  char suite_path[PATH_CAPACITY];
  make_path(suite_path, "absent.csv");
  tool_run run = RUN_TOOL("split", "--suite", suite_path, "--layer", "tiny");
  expect_exit(&run, 3);
  expect_contains(run.err, "absent.csv", "stderr");
  free_run(&run);
}

Test(split, invalid_layer_writes_no_files) {
  char csv_path[PATH_CAPACITY];
  make_path(csv_path, "split.csv");
  tool_run run = RUN_TOOL("split", "--channels", "8", "--num-output", "6",
                          "--group", "4", "--kernel", "3", "--input-size",
                          "6,6", "--csv", csv_path);
  expect_exit(&run, 3);
  expect_contains(run.err, "invalid layer", "stderr");
  cr_expect_not(file_exists(csv_path), "%s exists after a failed run",
                csv_path);
  free_run(&run);
}

Test(split, unwritable_csv_fails_before_running) {
  char suite_path[PATH_CAPACITY];
  char csv_path[PATH_CAPACITY];
  write_text_file("suite.csv", small_suite, suite_path);
  make_path(csv_path, "absent-folder/split.csv");

  tool_run run = RUN_TOOL("split", "--suite", suite_path, "--layer", "tiny",
                          "--device", "0:0", "--csv", csv_path);
  expect_exit(&run, 1);
  expect_contains(run.err, "cannot write --csv", "stderr");
  expect_contains(run.err, "absent-folder/split.csv", "stderr");
  cr_expect_null(strstr(run.out, "configuration"), "the runs started:\n%s",
                 run.out);
  free_run(&run);
}

Test(split, default_suite_has_alexnet) {
  /* alexnet_conv4 is small enough to run once in a test. */
  tool_run run = RUN_TOOL("split", "--layer", "alexnet_conv4", "--device",
                          "0:0", "--runs", "1", "--warmup", "0");
  expect_exit(&run, 0);
  expect_contains(run.out, "layer alexnet_conv4: C 384, K 384, group 2",
                  "stdout");
  free_run(&run);
}

/* ------------------------------------------------------------------------ */
/* explain --schedule                                                       */

/* Returns the part of the explain output after the placement heading. */
static const char *placement_section(const char *out) {
  const char *section = strstr(out, "Placement (");
  cr_assert_not_null(section, "no placement section:\n%s", out);
  return section;
}

Test(split, explain_queues_three_splits_seven_groups) {
  tool_run run = RUN_TOOL("explain", "--channels", "28", "--num-output", "14",
                          "--group", "7", "--kernel", "3", "--input-size",
                          "10,10", "--device", "0:0", "--schedule",
                          "queues:3");
  expect_exit(&run, 0);
  const char *section = placement_section(run.out);
  expect_contains(section, "schedule:  queues, 3 slots", "placement");
  expect_contains(section, "algorithm: ", "placement");

  /* Rows: slot, device, queue, groups, images, input and output channels. */
  static const char *const rows[][2] = {
      {"0       0      0  ",
       "[0, 3)        [0, 1)        [0, 12)       [0, 6)"},
      {"1       0      1  ",
       "[3, 5)        [0, 1)        [12, 20)      [6, 10)"},
      {"2       0      2  ",
       "[5, 7)        [0, 1)        [20, 28)      [10, 14)"}};
  for (size_t i = 0; i < 3; i++) {
    const char *line = find_line(section, rows[i][0]);
    cr_assert_not_null(line, "no row for slot %zu:\n%s", i, section);
    expect_contains(line, rows[i][1], "slot row");
  }
  cr_expect_null(find_line(section, "3       0"), "a fourth slot:\n%s",
                 section);
  free_run(&run);
}

Test(split, explain_placement_counts_bytes) {
  /* Slot 0: groups [0, 3) of 4 in, 2 out channels, 3x3 filter, bias. */
  tool_run run = RUN_TOOL("explain", "--channels", "28", "--num-output", "14",
                          "--group", "7", "--kernel", "3", "--input-size",
                          "10,10", "--device", "0:0", "--schedule",
                          "queues:3");
  expect_exit(&run, 0);
  const char *line = find_line(placement_section(run.out), "0       0");
  cr_assert_not_null(line);
  expect_contains(line, "888", "slot 0 row");   /* (6*4*9 + 6) * 4 bytes */
  expect_contains(line, "4,800", "slot 0 row"); /* 12 * 100 * 4 bytes */
  expect_contains(line, "1,536", "slot 0 row"); /* 6 * 64 * 4 bytes */
  expect_contains(line, "42.9%", "slot 0 row"); /* 3 of 7 groups */
  free_run(&run);
}

Test(split, explain_devices_uses_both) {
  require_two_devices();
  tool_run run = RUN_TOOL_WITH_ENV(
      TWO_DEVICES, "explain", "--channels", "16", "--num-output", "16",
      "--group", "4", "--kernel", "3", "--input-size", "12,12", "--device",
      "all", "--schedule", "devices");
  expect_exit(&run, 0);
  const char *section = placement_section(run.out);
  expect_contains(section, "schedule:  devices, 2 slots on 2 devices",
                  "placement");
  cr_expect_not_null(find_line(section, "0       0      0"),
                     "no slot on device 0:\n%s", section);
  cr_expect_not_null(find_line(section, "1       1      0"),
                     "no slot on device 1:\n%s", section);
  expect_contains(section, "thread pool", "placement");
  free_run(&run);
}

Test(split, explain_bogus_schedule_is_usage_error) {
  tool_run run = RUN_TOOL("explain", "--channels", "28", "--num-output", "14",
                          "--group", "7", "--kernel", "3", "--input-size",
                          "10,10", "--schedule", "bogus");
  expect_exit(&run, 2);
  expect_contains(run.err, "groupcl explain: --schedule: ", "stderr");
  expect_contains(run.err, "'bogus'", "stderr");
  expect_contains(run.err, "Try 'groupcl explain --help'.", "stderr");
  cr_expect_str_empty(run.out);
  free_run(&run);

  run = RUN_TOOL("explain", "--channels", "28", "--num-output", "14",
                 "--group", "7", "--kernel", "3", "--input-size", "10,10",
                 "--schedule", "queues:0");
  expect_exit(&run, 2);
  expect_contains(run.err, "between 1 and 64", "stderr");
  free_run(&run);
}

Test(split, explain_schedule_needs_input_size) {
  tool_run run = RUN_TOOL("explain", "--channels", "28", "--num-output", "14",
                          "--group", "7", "--kernel", "3", "--schedule",
                          "single");
  expect_exit(&run, 2);
  expect_contains(run.err, "needs --input-size", "stderr");
  free_run(&run);
}

Test(split, explain_without_schedule_shows_no_placement) {
  tool_run run = RUN_TOOL("explain", "--channels", "28", "--num-output", "14",
                          "--group", "7", "--kernel", "3", "--input-size",
                          "10,10");
  expect_exit(&run, 0);
  cr_expect_null(strstr(run.out, "Placement"), "placement shown:\n%s",
                 run.out);
  free_run(&run);
}
