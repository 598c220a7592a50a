/*
 * Tests of the prototxt reader, Caffe shape inference on real networks
 * (tests/nets, shapes as documented for each network) and
 * `groupcl explain --prototxt`.
 */
#define _POSIX_C_SOURCE 200809L

#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "net_shapes.h"
#include "prototxt.h"
#include "tool_runner.h"

#define NET(file) GCL_NETS_DIR "/" file

/* ------------------------------------------------------------------------ */
/* Reader                                                                    */

static ptx_node *parse_text(const char *text) {
  char error[512] = "";
  ptx_node *root = NULL;
  const int rc = ptx_parse("test.prototxt", text, strlen(text), &root, error,
                           sizeof error);
  cr_assert_eq(rc, 0, "parse failed: %s", error);
  return root;
}

/* Parses malformed text and returns the error message. */
static const char *parse_error(const char *text) {
  static char error[512];
  ptx_node *root = NULL;
  error[0] = '\0';
  const int rc = ptx_parse("bad.prototxt", text, strlen(text), &root, error,
                           sizeof error);
  cr_assert_eq(rc, -1, "malformed text was accepted: %s", text);
  cr_assert_null(root);
  return error;
}

Test(reader, nested_and_repeated) {
  ptx_node *root = parse_text("layer { name: \"a\" param { dim: 1 dim: 2 } }\n"
                              "layer: { name: 'b' }\n");
  cr_assert_eq(ptx_count(root, "layer"), 2);

  const ptx_node *first = ptx_find(root, "layer");
  const ptx_node *param = ptx_find(first, "param");
  cr_assert_not_null(param);
  cr_assert_eq(ptx_count(param, "dim"), 2);
  cr_assert_str_eq(ptx_find_next(ptx_find(param, "dim"))->value, "2");

  const ptx_node *second = ptx_find_next(first);
  cr_assert_str_eq(ptx_find(second, "name")->value, "b");
  cr_assert_eq(second->line, 2);
  ptx_free(root);
}

Test(reader, strings_and_escapes) {
  ptx_node *root = parse_text("a: \"x\\\"y\\n\\\\\" b: 'it''s' c: \"\\101\\x42\"");
  cr_assert_str_eq(ptx_find(root, "a")->value, "x\"y\n\\");
  cr_assert_str_eq(ptx_find(root, "b")->value, "its");
  cr_assert_str_eq(ptx_find(root, "c")->value, "AB");
  cr_assert(ptx_find(root, "a")->is_string);
  ptx_free(root);
}

Test(reader, scalars_comments_lists) {
  ptx_node *root = parse_text("# header\n"
                              "pool: MAX  # enum\n"
                              "flag: true; value: -1.5e-3,\n"
                              "dim: [1, 3, 224]\n");
  cr_assert_str_eq(ptx_find(root, "pool")->value, "MAX");
  cr_assert_str_eq(ptx_find(root, "flag")->value, "true");
  cr_assert_str_eq(ptx_find(root, "value")->value, "-1.5e-3");
  cr_assert_eq(ptx_count(root, "dim"), 3);

  int64_t dim = 0;
  char error[256];
  const ptx_node *last = ptx_find_next(ptx_find_next(ptx_find(root, "dim")));
  cr_assert_eq(ptx_int64("t", last, &dim, error, sizeof error), 0);
  cr_assert_eq(dim, 224);
  cr_assert_neq(ptx_int64("t", ptx_find(root, "pool"), &dim, error,
                          sizeof error), 0);
  ptx_free(root);
}

Test(reader, errors_name_line_column) {
  cr_assert_str_eq(parse_error("layer {\n  name: \"a\"\n"),
                   "bad.prototxt:3:1: expected '}' closing the message, "
                   "found end of file");
  cr_assert_str_eq(parse_error("layer {\n  name \"a\"\n}"),
                   "bad.prototxt:2:8: expected ':' or '{' after the field "
                   "name, found '\"'");
  cr_assert_str_eq(parse_error("a: \"open\nb: 1"),
                   "bad.prototxt:1:9: expected '\"' closing the string, "
                   "found end of line");
  cr_assert_str_eq(parse_error("}"),
                   "bad.prototxt:1:1: expected a field name, found '}'");
  cr_assert_str_eq(parse_error("a: }"),
                   "bad.prototxt:1:4: expected a value (number, string, "
                   "identifier or '{'), found '}'");
}

/* ------------------------------------------------------------------------ */
/* Shapes of real networks                                                   */

typedef struct loaded_net {
  ptx_node *root;
  net_result net;
  int rc;
} loaded_net;

static loaded_net load(const char *path) {
  loaded_net loaded;
  char error[640];
  cr_assert_eq(ptx_parse_file(path, &loaded.root, error, sizeof error), 0,
               "%s", error);
  loaded.rc = net_infer(path, loaded.root, &loaded.net);
  return loaded;
}

static void unload(loaded_net *loaded) {
  net_result_free(&loaded->net);
  ptx_free(loaded->root);
}

/* Expects the first top of layer name to have shape dims (count axes). */
static void expect_output(const net_result *net, const char *name,
                          int count, const int64_t *dims) {
  const net_layer *layer = net_find_layer(net, name);
  cr_assert_not_null(layer, "layer %s was not evaluated", name);
  cr_assert_eq(layer->output.rank, count, "%s: rank %d", name,
               layer->output.rank);
  for (int i = 0; i < count; i++) {
    cr_expect_eq(layer->output.dims[i], dims[i], "%s axis %d: %lld, not %lld",
                 name, i, (long long)layer->output.dims[i],
                 (long long)dims[i]);
  }
}

#define EXPECT_OUTPUT(net, name, ...)                                       \
  expect_output(net, name,                                                  \
                (int)(sizeof((int64_t[]){__VA_ARGS__}) / sizeof(int64_t)), \
                (int64_t[]){__VA_ARGS__})

Test(shapes, alexnet) {
  loaded_net alexnet = load(NET("bvlc_alexnet.prototxt"));
  cr_assert_eq(alexnet.rc, 0, "%s", alexnet.net.stop_reason);
  EXPECT_OUTPUT(&alexnet.net, "conv1", 10, 96, 55, 55);
  EXPECT_OUTPUT(&alexnet.net, "conv2", 10, 256, 27, 27);
  EXPECT_OUTPUT(&alexnet.net, "pool5", 10, 256, 6, 6);
  EXPECT_OUTPUT(&alexnet.net, "fc8", 10, 1000);
  cr_expect_eq(net_find_layer(&alexnet.net, "conv2")->desc.group, 2);
  cr_expect_eq(net_find_layer(&alexnet.net, "conv2")->desc.channels, 96);
  unload(&alexnet);
}

Test(shapes, legacy_alexnet_matches_new) {
  loaded_net modern = load(NET("bvlc_alexnet.prototxt"));
  loaded_net legacy = load(NET("bvlc_alexnet_v1_legacy.prototxt"));
  cr_assert_eq(legacy.rc, 0, "%s", legacy.net.stop_reason);

  const char *convs[] = {"conv1", "conv2", "conv3", "conv4", "conv5"};
  for (size_t i = 0; i < 5; i++) {
    const net_layer *a = net_find_layer(&modern.net, convs[i]);
    const net_layer *b = net_find_layer(&legacy.net, convs[i]);
    cr_assert_not_null(b, "legacy file lacks %s", convs[i]);
    cr_expect_str_eq(b->type, "Convolution");
    cr_expect_eq(memcmp(&a->output, &b->output, sizeof a->output), 0,
                 "%s output differs", convs[i]);
    cr_expect_eq(a->desc.group, b->desc.group, "%s group", convs[i]);
  }
  EXPECT_OUTPUT(&legacy.net, "fc8", 10, 1000);
  unload(&modern);
  unload(&legacy);
}

Test(shapes, resnext50) {
  loaded_net net = load(NET("resnext50_32x4d.prototxt"));
  cr_assert_eq(net.rc, 0, "%s", net.net.stop_reason);
  EXPECT_OUTPUT(&net.net, "resx16_conv3", 1, 2048, 7, 7);
  EXPECT_OUTPUT(&net.net, "resx16_conv2", 1, 1024, 7, 7);
  const net_layer *grouped = net_find_layer(&net.net, "resx16_conv2");
  cr_expect_eq(grouped->desc.group, 32);
  cr_expect_eq(grouped->desc.channels, 1024);
  unload(&net);
}

Test(shapes, mobilenet_v1_depthwise) {
  loaded_net net = load(NET("mobilenet_v1.prototxt"));
  cr_assert_eq(net.rc, 0, "%s", net.net.stop_reason);
  const net_layer *dw = net_find_layer(&net.net, "conv6/dw");
  cr_assert_not_null(dw);
  cr_expect_eq(dw->desc.group, 1024);
  cr_expect_eq(dw->desc.channels, 1024);
  EXPECT_OUTPUT(&net.net, "conv6/dw", 1, 1024, 7, 7);
  EXPECT_OUTPUT(&net.net, "conv5_6/dw", 1, 512, 7, 7);
  EXPECT_OUTPUT(&net.net, "fc7", 1, 1000, 1, 1);
  unload(&net);
}

Test(shapes, mobilenet_v2_final) {
  loaded_net net = load(NET("mobilenet_v2.prototxt"));
  cr_assert_eq(net.rc, 0, "%s", net.net.stop_reason);
  EXPECT_OUTPUT(&net.net, "conv6_4", 1, 1280, 7, 7);
  EXPECT_OUTPUT(&net.net, "pool6", 1, 1280, 1, 1);
  EXPECT_OUTPUT(&net.net, "fc7", 1, 1000, 1, 1);
  unload(&net);
}

Test(shapes, googlenet_concat) {
  loaded_net net = load(NET("bvlc_googlenet.prototxt"));
  cr_assert_eq(net.rc, 0, "%s", net.net.stop_reason);
  EXPECT_OUTPUT(&net.net, "inception_5b/output", 10, 1024, 7, 7);
  EXPECT_OUTPUT(&net.net, "loss3/classifier", 10, 1000);
  unload(&net);
}

/*
 * With the file's 227x227 input, Caffe's ceil rounding gives pools of
 * 113 -> 56 -> 28 -> 14; floor rounding would give 13.
 */
Test(shapes, squeezenet_ceil_pooling) {
  loaded_net net = load(NET("squeezenet_v1.1.prototxt"));
  cr_assert_eq(net.rc, 0, "%s", net.net.stop_reason);
  EXPECT_OUTPUT(&net.net, "pool1", 10, 64, 56, 56);
  EXPECT_OUTPUT(&net.net, "pool3", 10, 128, 28, 28);
  EXPECT_OUTPUT(&net.net, "fire9/concat", 10, 512, 14, 14);
  EXPECT_OUTPUT(&net.net, "pool10", 10, 1000, 1, 1);
  unload(&net);
}

Test(shapes, fcn8s_deconv_and_crop) {
  loaded_net net = load(NET("fcn8s_voc.prototxt"));
  cr_assert_eq(net.rc, 0, "%s", net.net.stop_reason);
  EXPECT_OUTPUT(&net.net, "upscore8", 1, 21, 568, 568);
  EXPECT_OUTPUT(&net.net, "score", 1, 21, 500, 500);
  cr_expect(net_find_layer(&net.net, "upscore8")->transposed);
  unload(&net);
}

Test(shapes, yolo_stops_at_custom_layer) {
  loaded_net net = load(NET("mobilenet_yolov3_lite.prototxt"));
  cr_assert_eq(net.rc, 1);
  cr_expect(strstr(net.net.stop_reason, "Yolov3DetectionOutput") != NULL,
            "%s", net.net.stop_reason);
  cr_expect(strstr(net.net.stop_reason, ":958:3:") != NULL, "%s",
            net.net.stop_reason);

  const net_layer *up = net_find_layer(&net.net, "upsample");
  cr_assert_not_null(up);
  cr_expect_str_eq(up->type, "Deconvolution");
  cr_expect(up->transposed);
  cr_expect_eq(up->desc.channels, 1024);
  cr_expect_eq(up->desc.num_output, 512);
  cr_expect_eq(up->desc.group, 512);
  cr_expect_null(up->invalid_reason);
  EXPECT_OUTPUT(&net.net, "upsample", 1, 512, 19, 19);
  EXPECT_OUTPUT(&net.net, "conv20", 1, 75, 20, 20);
  unload(&net);
}

/* ------------------------------------------------------------------------ */
/* Rules on small networks                                                   */

static const char *const small_prefix =
    "input: \"data\"\ninput_shape { dim: 1 dim: 4 dim: 8 dim: 8 }\n";

static loaded_net infer_text(const char *layers) {
  char text[2048];
  snprintf(text, sizeof text, "%s%s", small_prefix, layers);
  loaded_net loaded;
  loaded.root = parse_text(text);
  loaded.rc = net_infer("small.prototxt", loaded.root, &loaded.net);
  return loaded;
}

Test(rules, kernel_size_with_kernel_h) {
  loaded_net net = infer_text(
      "layer { name: \"c\" type: \"Convolution\" bottom: \"data\" top: \"c\"\n"
      "  convolution_param { num_output: 4 kernel_size: 3 kernel_h: 3 "
      "kernel_w: 3 } }\n");
  cr_assert_eq(net.rc, 1);
  cr_expect(strstr(net.net.stop_reason, "small.prototxt:4:") != NULL, "%s",
            net.net.stop_reason);
  cr_expect(strstr(net.net.stop_reason, "kernel_size cannot be combined with "
                                        "kernel_h/kernel_w") != NULL,
            "%s", net.net.stop_reason);
  unload(&net);
}

Test(rules, per_axis_and_h_w_forms) {
  loaded_net net = infer_text(
      "layer { name: \"a\" type: \"Convolution\" bottom: \"data\" top: \"a\"\n"
      "  convolution_param { num_output: 4 kernel_size: 3 kernel_size: 1 "
      "pad: 1 pad: 0 stride: 2 } }\n"
      "layer { name: \"b\" type: \"Convolution\" bottom: \"data\" top: \"b\"\n"
      "  convolution_param { num_output: 2 kernel_h: 1 kernel_w: 3 "
      "stride_h: 2 stride_w: 1 pad_w: 1 pad_h: 0 group: 2 dilation: 2 "
      "engine: CAFFE force_nd_im2col: true } }\n");
  cr_assert_eq(net.rc, 0, "%s", net.net.stop_reason);
  EXPECT_OUTPUT(&net.net, "a", 1, 4, 4, 4);
  EXPECT_OUTPUT(&net.net, "b", 1, 2, 4, 6);
  cr_expect(net_find_layer(&net.net, "b")->force_nd_im2col);
  unload(&net);
}

Test(rules, invalid_group_reported) {
  loaded_net net = infer_text(
      "layer { name: \"ok\" type: \"ReLU\" bottom: \"data\" top: \"data\" }\n"
      "layer { name: \"bad\" type: \"Convolution\" bottom: \"data\" top: "
      "\"c\"\n  convolution_param { num_output: 6 kernel_size: 1 group: 4 } "
      "}\n");
  cr_assert_eq(net.rc, 1);
  const net_layer *bad = net_find_layer(&net.net, "bad");
  cr_assert_not_null(bad);
  cr_assert_not_null(bad->invalid_reason);
  cr_expect(strstr(net.net.stop_reason, "invalid layer") != NULL, "%s",
            net.net.stop_reason);
  EXPECT_OUTPUT(&net.net, "ok", 1, 4, 8, 8);
  unload(&net);
}

Test(rules, phase_rules_reshape_slice) {
  loaded_net net = infer_text(
      "layer { name: \"train\" type: \"Dropout\" bottom: \"nothing\" top: "
      "\"x\" include { phase: TRAIN } }\n"
      "layer { name: \"s\" type: \"Slice\" bottom: \"data\" top: \"s1\" top: "
      "\"s2\" slice_param { slice_point: 1 } }\n"
      "layer { name: \"r\" type: \"Reshape\" bottom: \"s2\" top: \"r\" "
      "reshape_param { shape { dim: 0 dim: -1 } } }\n"
      "layer { name: \"skip\" type: \"Unknown\" bottom: \"r\" top: \"y\" "
      "exclude { phase: TEST } }\n");
  cr_assert_eq(net.rc, 0, "%s", net.net.stop_reason);
  cr_expect_null(net_find_layer(&net.net, "train"));
  cr_expect_null(net_find_layer(&net.net, "skip"));
  EXPECT_OUTPUT(&net.net, "s", 1, 1, 8, 8);
  cr_expect_eq(net_find_blob(&net.net, "s2")->dims[1], 3);
  EXPECT_OUTPUT(&net.net, "r", 1, 192);
  unload(&net);
}

/* ------------------------------------------------------------------------ */
/* groupcl explain --prototxt                                                */

static void create_prototxt_directory(void) {
  create_test_directory("prototxt");
}

TestSuite(explain_net, .init = create_prototxt_directory,
          .fini = remove_test_directory, .timeout = 120);

Test(explain_net, alexnet_table) {
  tool_run run = RUN_TOOL("explain", "--prototxt",
                          NET("bvlc_alexnet.prototxt"));
  expect_exit(&run, 0);
  const char *row = find_line(run.out, "conv2 ");
  cr_assert_not_null(row, "%s", run.out);
  expect_contains(row, "[10, 256, 27, 27]", "conv2 row");
  expect_contains(row, "48/128", "conv2 row");
  expect_contains(run.out, "Totals over 5 layers", "stdout");
  free_run(&run);
}

Test(explain_net, json_layer) {
  tool_run run = RUN_TOOL("explain", "--prototxt",
                          NET("bvlc_alexnet.prototxt"), "--layer", "conv2",
                          "--json");
  expect_exit(&run, 0);
  expect_contains(run.out, "\"layers\": [", "stdout");
  expect_contains(run.out, "\"name\": \"conv2\"", "stdout");
  expect_contains(run.out, "\"output\": [10, 256, 27, 27]", "stdout");
  expect_contains(run.out, "\"group\": 2", "stdout");
  expect_contains(run.out, "\"kernel\": [5, 5]", "stdout");
  expect_contains(run.out, "\"pad\": [2, 2]", "stdout");
  expect_contains(run.out, "\"totals\": {\"layers\": 1", "stdout");
  cr_expect_null(strstr(run.out, "conv1"), "%s", run.out);
  free_run(&run);
}

Test(explain_net, stopped_network_exit_3) {
  tool_run run = RUN_TOOL("explain", "--prototxt",
                          NET("mobilenet_yolov3_lite.prototxt"));
  expect_exit(&run, 3);
  expect_contains(run.out, "upsample", "stdout");
  expect_contains(run.err, "unknown layer type 'Yolov3DetectionOutput'",
                  "stderr");
  free_run(&run);
}

Test(explain_net, malformed_file_exit_3) {
  char path[PATH_CAPACITY];
  write_text_file("bad.prototxt", "layer {\n  name: \"x\"\n  type Conv\n}\n",
                  path);
  tool_run run = RUN_TOOL("explain", "--prototxt", path);
  expect_exit(&run, 3);
  expect_contains(run.err, "bad.prototxt:3:8: expected ':' or '{'", "stderr");
  free_run(&run);
}

Test(explain_net, usage_errors) {
  tool_run missing = RUN_TOOL("explain", "--json");
  expect_exit(&missing, 2);
  free_run(&missing);

  tool_run mixed = RUN_TOOL("explain", "--prototxt",
                            NET("bvlc_alexnet.prototxt"), "--group", "2");
  expect_exit(&mixed, 2);
  free_run(&mixed);

  tool_run unknown = RUN_TOOL("explain", "--prototxt",
                              NET("bvlc_alexnet.prototxt"), "--layer",
                              "fc8");
  expect_exit(&unknown, 3);
  expect_contains(unknown.err, "no Convolution or Deconvolution layer named "
                               "'fc8'", "stderr");
  free_run(&unknown);
}
