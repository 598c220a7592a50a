/*
 * groupcl explain: validates a layer given by flags under Caffe's rules and
 * prints its shapes, the channel ranges of each group and its cost.
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cli_args.h"

#define COMMAND "explain"

/* Above this many groups the table shows only its head and tail. */
#define FULL_TABLE_MAX_GROUPS 16
#define TABLE_HEAD_GROUPS 8
#define TABLE_TAIL_GROUPS 4

enum explain_option_code {
  OPTION_CHANNELS = 256,
  OPTION_NUM_OUTPUT,
  OPTION_KERNEL,
  OPTION_STRIDE,
  OPTION_PAD,
  OPTION_DILATION,
  OPTION_GROUP,
  OPTION_NO_BIAS,
  OPTION_INPUT_SIZE,
  OPTION_BATCH,
  OPTION_ALL_GROUPS
};

static const struct option explain_options[] = {
    {"channels", required_argument, NULL, OPTION_CHANNELS},
    {"num-output", required_argument, NULL, OPTION_NUM_OUTPUT},
    {"kernel", required_argument, NULL, OPTION_KERNEL},
    {"stride", required_argument, NULL, OPTION_STRIDE},
    {"pad", required_argument, NULL, OPTION_PAD},
    {"dilation", required_argument, NULL, OPTION_DILATION},
    {"group", required_argument, NULL, OPTION_GROUP},
    {"no-bias", no_argument, NULL, OPTION_NO_BIAS},
    {"input-size", required_argument, NULL, OPTION_INPUT_SIZE},
    {"batch", required_argument, NULL, OPTION_BATCH},
    {"all-groups", no_argument, NULL, OPTION_ALL_GROUPS},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}};

typedef struct explain_request {
  int64_t channels;   /* 0 until --channels is given */
  int64_t num_output; /* 0 until --num-output is given */
  int64_t group;
  int64_t batch;
  cli_axis_values kernel;
  cli_axis_values stride;
  cli_axis_values pad;
  cli_axis_values dilation;
  cli_axis_values input_size;
  int bias_term;
  int all_groups;
  int show_help;
} explain_request;

/* The layer and, when --input-size was given, its tensor shapes. */
typedef struct explained_layer {
  gcl_conv_desc desc;
  int rank;
  int has_input_size;
  int64_t input_shape[GCL_MAX_RANK];
  int64_t output_shape[GCL_MAX_RANK];
  int64_t weight_shape[GCL_MAX_RANK];
} explained_layer;

static void print_explain_help(void) {
  puts(
    "Usage: groupcl explain --channels C --num-output K --kernel K1[,K2[,K3]]\n"
    "                       [--stride S] [--pad P] [--dilation D] [--group G]\n"
    "                       [--no-bias] [--input-size S1[,S2[,S3]]]\n"
    "                       [--batch N] [--all-groups]\n"
    "\n"
    "Checks a Convolution layer against Caffe's rules and prints its input,\n"
    "output and weight shapes, the channel range of each group, and its\n"
    "multiply-accumulates (MACs) and weight count, with groups and as an\n"
    "ungrouped layer (group 1) of the same channels.\n"
    "\n"
    "Options:\n"
    "  --channels C        input channels (required)\n"
    "  --num-output K      output channels, Caffe's num_output (required)\n"
    "  --kernel K1[,K2[,K3]]\n"
    "                      filter size in elements per spatial axis\n"
    "                      (required)\n"
    "  --stride S          step between windows in elements (default 1)\n"
    "  --pad P             zero padding in elements, added on both sides\n"
    "                      of each axis (default 0)\n"
    "  --dilation D        spacing between filter taps in elements\n"
    "                      (default 1)\n"
    "  --group G           number of groups; must divide both C and K\n"
    "                      (default 1)\n"
    "  --no-bias           the layer has no bias (Caffe's bias_term: false)\n"
    "  --input-size S1[,S2[,S3]]\n"
    "                      spatial input size in elements, ordered depth,\n"
    "                      height, width; needed for the output shape and\n"
    "                      the MACs (default: not given)\n"
    "  --batch N           images per batch, for the shapes and the MACs\n"
    "                      per batch (default 1)\n"
    "  --all-groups        list every group, not only the first 8 and the\n"
    "                      last 4 when there are more than 16\n"
    "  -h, --help          print this help and exit\n"
    "\n"
    "Spatial axes: --kernel, --stride, --pad, --dilation and --input-size\n"
    "take one integer or one per spatial axis. The layer has as many\n"
    "spatial axes as the longest of these lists, and a single value applies\n"
    "to every axis. So '--kernel 3 --input-size 32,32' is a 2-D layer with\n"
    "a 3x3 filter, while '--kernel 3 --input-size 32' is 1-D.\n"
    "\n"
    "Exits with status 3 and the reason when the layer is invalid.");
}

static int parse_axis_option(int code, const char *text,
                             explain_request *request) {
  const char *option = NULL;
  cli_axis_values *list = NULL;
  int64_t min = 1;

  switch (code) {
  case OPTION_KERNEL:
    option = "--kernel";
    list = &request->kernel;
    break;
  case OPTION_STRIDE:
    option = "--stride";
    list = &request->stride;
    break;
  case OPTION_PAD:
    option = "--pad";
    list = &request->pad;
    min = 0;
    break;
  case OPTION_DILATION:
    option = "--dilation";
    list = &request->dilation;
    break;
  default:
    option = "--input-size";
    list = &request->input_size;
    break;
  }
  return cli_parse_axis_values(COMMAND, option, text, min,
                               CLI_MAX_OPTION_VALUE, list);
}

static int parse_explain_option(int code, const char *text,
                                explain_request *request) {
  const int64_t max = CLI_MAX_OPTION_VALUE;

  switch (code) {
  case OPTION_CHANNELS:
    return cli_parse_int64(COMMAND, "--channels", text, 1, max,
                           &request->channels);
  case OPTION_NUM_OUTPUT:
    return cli_parse_int64(COMMAND, "--num-output", text, 1, max,
                           &request->num_output);
  case OPTION_GROUP:
    return cli_parse_int64(COMMAND, "--group", text, 1, max, &request->group);
  case OPTION_BATCH:
    return cli_parse_int64(COMMAND, "--batch", text, 1, max, &request->batch);
  case OPTION_NO_BIAS:
    request->bias_term = 0;
    return 0;
  case OPTION_ALL_GROUPS:
    request->all_groups = 1;
    return 0;
  case 'h':
    request->show_help = 1;
    return 0;
  default:
    return parse_axis_option(code, text, request);
  }
}

static int parse_explain_options(int argc, char **argv,
                                 explain_request *request) {
  memset(request, 0, sizeof *request);
  request->group = 1;
  request->batch = 1;
  request->bias_term = 1;

  int code;
  while ((code = getopt_long(argc, argv, ":h", explain_options, NULL)) != -1) {
    if (code == '?' || code == ':') {
      return cli_report_getopt_error(COMMAND, code, argv, explain_options);
    }
    const int rc = parse_explain_option(code, optarg, request);
    if (rc != 0) {
      return rc;
    }
  }
  if (request->show_help) {
    return 0;
  }

  if (request->channels == 0) {
    return cli_usage_error(COMMAND, "missing --channels, the number of "
                                    "input channels.");
  }
  if (request->num_output == 0) {
    return cli_usage_error(COMMAND, "missing --num-output, the number of "
                                    "output channels.");
  }
  if (request->kernel.count == 0) {
    return cli_usage_error(COMMAND, "missing --kernel, the filter size (for "
                                    "example --kernel 3,3).");
  }
  return cli_check_no_operands(COMMAND, argc, argv);
}

/*
 * Takes the number of spatial axes from the longest list. Lists with more
 * than one value must all have the same length.
 */
static int count_spatial_axes(const explain_request *request,
                              int *spatial_dims) {
  const cli_axis_values *lists[] = {&request->kernel, &request->stride,
                                    &request->pad, &request->dilation,
                                    &request->input_size};
  const char *names[] = {"--kernel", "--stride", "--pad", "--dilation",
                         "--input-size"};
  const int list_count = (int)(sizeof lists / sizeof lists[0]);

  int longest = 0;
  for (int i = 1; i < list_count; i++) {
    if (lists[i]->count > lists[longest]->count) {
      longest = i;
    }
  }

  for (int i = 0; i < list_count; i++) {
    if (lists[i]->count > 1 && lists[i]->count != lists[longest]->count) {
      return cli_usage_error(
          COMMAND,
          "%s has %d values but %s has %d. Give one value per spatial axis "
          "in each, or a single value for all axes.",
          names[i], lists[i]->count, names[longest], lists[longest]->count);
    }
  }

  *spatial_dims = lists[longest]->count;
  return 0;
}

static int build_desc(const explain_request *request, int spatial_dims,
                      gcl_conv_desc *desc) {
  gcl_conv_desc_init(desc, spatial_dims, request->channels,
                     request->num_output, request->kernel.values[0]);
  desc->group = request->group;
  desc->bias_term = request->bias_term;

  int rc = cli_expand_axis_values(COMMAND, "--kernel", &request->kernel,
                                  spatial_dims, 1, desc->kernel);
  if (rc == 0) {
    rc = cli_expand_axis_values(COMMAND, "--stride", &request->stride,
                                spatial_dims, 1, desc->stride);
  }
  if (rc == 0) {
    rc = cli_expand_axis_values(COMMAND, "--pad", &request->pad, spatial_dims,
                                0, desc->pad);
  }
  if (rc == 0) {
    rc = cli_expand_axis_values(COMMAND, "--dilation", &request->dilation,
                                spatial_dims, 1, desc->dilation);
  }
  return rc;
}

/* Reports a layer the library rejected, with the library's reason as is. */
static int report_invalid_layer(gcl_status status) {
  const int rc = cli_exit_code_for_status(status);
  if (status == GCL_ERROR_INVALID_ARGUMENT || rc == CLI_EXIT_INPUT) {
    /* Out-of-range values are the user's input here, not a program bug. */
    cli_error(COMMAND, "invalid layer: %s", gcl_last_error());
    return CLI_EXIT_INPUT;
  }
  return cli_library_error(COMMAND, "checking the layer", status);
}

static int explain_layer(const explain_request *request, int spatial_dims,
                         explained_layer *layer) {
  memset(layer, 0, sizeof *layer);
  layer->rank = spatial_dims + 2;

  int rc = build_desc(request, spatial_dims, &layer->desc);
  if (rc != 0) {
    return rc;
  }

  gcl_status status = gcl_conv_validate(&layer->desc);
  if (status == GCL_SUCCESS) {
    status = gcl_conv_weight_shape(&layer->desc, layer->weight_shape);
  }
  if (status != GCL_SUCCESS) {
    return report_invalid_layer(status);
  }

  layer->input_shape[0] = request->batch;
  layer->input_shape[1] = request->channels;
  if (request->input_size.count == 0) {
    return 0;
  }

  rc = cli_expand_axis_values(COMMAND, "--input-size", &request->input_size,
                              spatial_dims, 1, layer->input_shape + 2);
  if (rc != 0) {
    return rc;
  }
  layer->has_input_size = 1;
  status = gcl_conv_output_shape(&layer->desc, layer->rank,
                                 layer->input_shape, layer->output_shape);
  if (status != GCL_SUCCESS) {
    return report_invalid_layer(status);
  }
  return 0;
}

/* Names the axes of a tensor, as "(N, C, H, W)"; channel is "C" or "K". */
static const char *axis_legend(int spatial_dims, char channel, char *buffer,
                               size_t size) {
  static const char *const spatial_names[] = {"W", "H, W", "D, H, W"};
  snprintf(buffer, size, "(N, %c, %s)", channel,
           spatial_names[spatial_dims - 1]);
  return buffer;
}

static void print_shapes(const explained_layer *layer) {
  const gcl_conv_desc *desc = &layer->desc;
  char text[192];
  char legend[32];

  printf("Convolution layer with %d spatial ax%s, group %" PRId64 ", %s\n",
         desc->spatial_dims, desc->spatial_dims == 1 ? "is" : "es",
         desc->group, desc->bias_term ? "with bias" : "without bias");

  if (layer->has_input_size) {
    cli_format_shape(layer->rank, layer->input_shape, text, sizeof text);
    printf("  input shape:   %-24s %s\n", text,
           axis_legend(desc->spatial_dims, 'C', legend, sizeof legend));
    cli_format_shape(layer->rank, layer->output_shape, text, sizeof text);
    printf("  output shape:  %-24s %s\n", text,
           axis_legend(desc->spatial_dims, 'K', legend, sizeof legend));
  } else {
    printf("  input shape:   [%" PRId64 ", %" PRId64 ", ...]  (give "
           "--input-size for the spatial size)\n",
           layer->input_shape[0], layer->input_shape[1]);
    puts("  output shape:  unknown without --input-size");
  }

  printf("  weight shape:  %-24s (K, C/group, kernel...)\n",
         cli_format_shape(layer->rank, layer->weight_shape, text, sizeof text));
  if (desc->bias_term) {
    printf("  bias shape:    [%" PRId64 "]\n", desc->num_output);
  } else {
    puts("  bias shape:    none (--no-bias)");
  }
}

static void print_channels_per_group(const gcl_conv_desc *desc) {
  const int64_t in_per_group = desc->channels / desc->group;
  const int64_t out_per_group = desc->num_output / desc->group;

  printf("  channels per group: %" PRId64 " in, %" PRId64 " out\n",
         in_per_group, out_per_group);

  if (desc->group == desc->channels && desc->group > 1) {
    if (out_per_group > 1) {
      printf("  depthwise: one group per input channel, channel multiplier "
             "%" PRId64 " (K/C)\n",
             out_per_group);
    } else {
      puts("  depthwise: one group per input channel");
    }
  }
}

static void print_group_row(const gcl_conv_desc *desc, int64_t group_index) {
  const int64_t in_per_group = desc->channels / desc->group;
  const int64_t out_per_group = desc->num_output / desc->group;
  char input_range[64];
  char output_range[64];

  snprintf(input_range, sizeof input_range, "[%" PRId64 ", %" PRId64 ")",
           group_index * in_per_group, (group_index + 1) * in_per_group);
  snprintf(output_range, sizeof output_range, "[%" PRId64 ", %" PRId64 ")",
           group_index * out_per_group, (group_index + 1) * out_per_group);
  printf("  %6" PRId64 "  %-16s  %s\n", group_index, input_range,
         output_range);
}

/* Prints one row per group, or the head and tail of a long table. */
static void print_group_table(const gcl_conv_desc *desc, int all_groups) {
  const int64_t groups = desc->group;
  const int shorten = !all_groups && groups > FULL_TABLE_MAX_GROUPS;

  printf("\nGroups (channel ranges are [first, last + 1)):\n");
  printf("  %6s  %-16s  %s\n", "group", "input channels", "output channels");

  for (int64_t g = 0; g < groups; g++) {
    if (shorten && g == TABLE_HEAD_GROUPS) {
      printf("  %6s  (%" PRId64 " groups not shown, --all-groups lists "
             "them)\n",
             "...", groups - TABLE_HEAD_GROUPS - TABLE_TAIL_GROUPS);
      g = groups - TABLE_TAIL_GROUPS;
    }
    print_group_row(desc, g);
  }
}

/* Writes a * b into *product, or returns -1 when it overflows 64 bits. */
static int multiply_checked(uint64_t a, uint64_t b, uint64_t *product) {
  if (a != 0 && b > UINT64_MAX / a) {
    return -1;
  }
  *product = a * b;
  return 0;
}

/* Formats a count with thousands separators, as "115,605,504". */
static const char *format_count(uint64_t value, int overflow, char *buffer,
                                size_t size) {
  if (overflow) {
    snprintf(buffer, size, "more than 2^64");
    return buffer;
  }

  char digits[32];
  const int length = snprintf(digits, sizeof digits, "%" PRIu64, value);
  size_t used = 0;
  for (int i = 0; i < length && used + 2 < size; i++) {
    if (i > 0 && (length - i) % 3 == 0) {
      buffer[used++] = ',';
    }
    buffer[used++] = digits[i];
  }
  buffer[used] = '\0';
  return buffer;
}

/* A product of counts; overflow is set when it does not fit 64 bits. */
typedef struct checked_count {
  uint64_t value;
  int overflow;
} checked_count;

static checked_count count_product(const int64_t *factors, int factor_count) {
  checked_count result = {1, 0};
  for (int i = 0; i < factor_count && !result.overflow; i++) {
    if (multiply_checked(result.value, (uint64_t)factors[i], &result.value) !=
        0) {
      result.overflow = 1;
    }
  }
  return result;
}

/*
 * Counts MACs for images of the given batch: batch * K * prod(out) *
 * (C/group) * prod(kernel). Every output element of a group reads C/group
 * input channels through the full filter window.
 */
static checked_count count_macs(const explained_layer *layer, int64_t batch,
                                int64_t group) {
  const gcl_conv_desc *desc = &layer->desc;
  int64_t factors[3 + 2 * GCL_MAX_SPATIAL_DIMS];
  int count = 0;

  factors[count++] = batch;
  factors[count++] = desc->num_output;
  factors[count++] = desc->channels / group;
  for (int axis = 0; axis < desc->spatial_dims; axis++) {
    factors[count++] = layer->output_shape[2 + axis];
    factors[count++] = desc->kernel[axis];
  }
  return count_product(factors, count);
}

/* Counts the weights, without the bias: K * (C/group) * prod(kernel). */
static checked_count count_weights(const gcl_conv_desc *desc, int64_t group) {
  int64_t factors[2 + GCL_MAX_SPATIAL_DIMS];
  int count = 0;

  factors[count++] = desc->num_output;
  factors[count++] = desc->channels / group;
  for (int axis = 0; axis < desc->spatial_dims; axis++) {
    factors[count++] = desc->kernel[axis];
  }
  return count_product(factors, count);
}

static void print_cost_row(const char *label, checked_count grouped,
                           checked_count ungrouped) {
  char grouped_text[40];
  char ungrouped_text[40];

  printf("  %-22s  %16s  %20s\n", label,
         format_count(grouped.value, grouped.overflow, grouped_text,
                      sizeof grouped_text),
         format_count(ungrouped.value, ungrouped.overflow, ungrouped_text,
                      sizeof ungrouped_text));
}

static void print_cost(const explained_layer *layer) {
  const gcl_conv_desc *desc = &layer->desc;
  const int64_t batch = layer->input_shape[0];

  printf("\nCost:\n");
  printf("  %-22s  %16s  %20s\n", "", "grouped", "ungrouped (group 1)");

  if (layer->has_input_size) {
    print_cost_row("MACs per image", count_macs(layer, 1, desc->group),
                   count_macs(layer, 1, 1));
    if (batch > 1) {
      char label[48];
      snprintf(label, sizeof label, "MACs per batch of %" PRId64, batch);
      print_cost_row(label, count_macs(layer, batch, desc->group),
                     count_macs(layer, batch, 1));
    }
  } else {
    puts("  MACs: give --input-size to count them");
  }

  print_cost_row("weights (without bias)", count_weights(desc, desc->group),
                 count_weights(desc, 1));
  if (desc->group == 1) {
    puts("  saving factor: 1, because group 1 is the ungrouped layer");
  } else {
    printf("  saving factor: %" PRId64 " (= group), so the grouped layer "
           "needs\n  1/%" PRId64 " of the MACs and weights of the ungrouped "
           "one\n",
           desc->group, desc->group);
  }
}

int cmd_explain(int argc, char **argv) {
  explain_request request;
  int rc = parse_explain_options(argc, argv, &request);
  if (rc != 0) {
    return rc;
  }
  if (request.show_help) {
    print_explain_help();
    return CLI_EXIT_SUCCESS;
  }

  int spatial_dims = 0;
  rc = count_spatial_axes(&request, &spatial_dims);
  if (rc != 0) {
    return rc;
  }

  explained_layer layer;
  rc = explain_layer(&request, spatial_dims, &layer);
  if (rc != 0) {
    return rc;
  }

  print_shapes(&layer);
  print_channels_per_group(&layer.desc);
  print_group_table(&layer.desc, request.all_groups);
  print_cost(&layer);
  return CLI_EXIT_SUCCESS;
}
