/*
 * groupcl explain: validates a layer given by flags under Caffe's rules and
 * prints its shapes, the channel ranges of each group and its cost. With
 * --device or --schedule it also plans the layer and prints the placement:
 * which groups and images each device queue runs, and the bytes it moves.
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd_options.h"
#include "cli_args.h"
#include "explain_net.h"
#include "suite.h"

#define COMMAND "explain"

/* Above this many groups the table shows only its head and tail. */
#define FULL_TABLE_MAX_GROUPS 16
#define TABLE_HEAD_GROUPS 8
#define TABLE_TAIL_GROUPS 4

enum explain_option_code {
  OPTION_ALL_GROUPS = LAYER_OPTION_END,
  OPTION_DEVICE,
  OPTION_SCHEDULE,
  OPTION_PROTOTXT,
  OPTION_LAYER,
  OPTION_JSON
};

static const struct option explain_options[] = {
    LAYER_LONG_OPTIONS,
    {"all-groups", no_argument, NULL, OPTION_ALL_GROUPS},
    {"device", required_argument, NULL, OPTION_DEVICE},
    {"schedule", required_argument, NULL, OPTION_SCHEDULE},
    {"prototxt", required_argument, NULL, OPTION_PROTOTXT},
    {"layer", required_argument, NULL, OPTION_LAYER},
    {"json", no_argument, NULL, OPTION_JSON},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}};

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
    "                       [--device SPEC] [--schedule POLICY]\n"
    "   or: groupcl explain --prototxt NET [--layer NAME] [--json]\n"
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
    "  --device SPEC       OpenCL device(s) to plan on (default:\n"
    "                      GROUPCL_DEVICES, else 'auto'); see 'groupcl\n"
    "                      --help'. Shows the placement.\n"
    "  --schedule POLICY   how the plan spreads the groups (default auto):\n"
    "                      single (one queue of the first device), queues:N\n"
    "                      (N in-order queues of the first device, 1 to 64),\n"
    "                      devices (every device of --device, in proportion\n"
    "                      to its measured speed) or auto (the library\n"
    "                      chooses). Shows the placement.\n"
    "  --prototxt NET      read a Caffe network (.prototxt), infer its\n"
    "                      shapes for phase TEST and list every\n"
    "                      Convolution and Deconvolution layer with its\n"
    "                      shapes, group, weights and MACs, plus totals\n"
    "  --layer NAME        with --prototxt: show only the layer NAME\n"
    "  --json              with --prototxt: print a JSON object with a\n"
    "                      'layers' array and 'totals'\n"
    "  -h, --help          print this help and exit\n"
    "\n"
    "Spatial axes: --kernel, --stride, --pad, --dilation and --input-size\n"
    "take one integer or one per spatial axis. The layer has as many\n"
    "spatial axes as the longest of these lists, and a single value applies\n"
    "to every axis. So '--kernel 3 --input-size 32,32' is a 2-D layer with\n"
    "a 3x3 filter, while '--kernel 3 --input-size 32' is 1-D.\n"
    "\n"
    "Placement: with --device or --schedule, explain also creates a plan\n"
    "for the layer (with zero weights; this compiles the OpenCL kernels)\n"
    "and prints one row per slot, a device queue with its range of groups\n"
    "and images: the channel ranges, the weight bytes uploaded once, the\n"
    "bytes copied to and from the device on every call, and the share of\n"
    "the work. This needs --input-size.\n"
    "\n"
    "Exits with status 3 and the reason when the layer is invalid.");
}

static int parse_schedule(const char *text, explain_request *request) {
  request->show_placement = 1;
  request->schedule_text = text;
  if (gcl_schedule_parse(text, &request->options) != GCL_SUCCESS) {
    return cli_usage_error(COMMAND, "--schedule: %s.", gcl_last_error());
  }
  return 0;
}

static int parse_explain_option(int code, const char *text,
                                explain_request *request) {
  if (layer_flags_has_option(code)) {
    request->layer_flag_given = 1;
    return layer_flags_parse(COMMAND, code, text, &request->layer);
  }

  switch (code) {
  case OPTION_ALL_GROUPS:
    request->all_groups = 1;
    return 0;
  case OPTION_DEVICE:
    request->show_placement = 1;
    request->device_spec = text;
    return 0;
  case OPTION_SCHEDULE:
    return parse_schedule(text, request);
  case OPTION_PROTOTXT:
    request->prototxt_path = text;
    return 0;
  case OPTION_LAYER:
    request->layer_name = text;
    return 0;
  case OPTION_JSON:
    request->json = 1;
    return 0;
  default: /* 'h' */
    request->show_help = 1;
    return 0;
  }
}

/* --prototxt replaces the layer flags, and --layer and --json need it. */
static int check_network_options(int argc, char **argv,
                                 const explain_request *request) {
  if (request->prototxt_path == NULL) {
    return cli_usage_error(COMMAND, "--layer and --json need --prototxt "
                                    "NET.");
  }
  if (request->layer_flag_given || request->show_placement ||
      request->all_groups) {
    return cli_usage_error(COMMAND, "--prototxt reads the layers from the "
                                    "network; drop the layer flags, "
                                    "--all-groups, --device and --schedule.");
  }
  return cli_check_no_operands(COMMAND, argc, argv);
}

int parse_explain_options(int argc, char **argv,
                          explain_request *request) {
  memset(request, 0, sizeof *request);
  layer_flags_init(&request->layer);
  gcl_plan_options_init(&request->options);
  request->schedule_text = "auto";

  int code;
  cli_reset_getopt();
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
  if (request->prototxt_path != NULL || request->layer_name != NULL ||
      request->json) {
    return check_network_options(argc, argv, request);
  }

  const int rc = layer_flags_check_required(COMMAND, &request->layer);
  if (rc != 0) {
    return rc;
  }
  /* A plan needs the full input shape. */
  if (request->show_placement && request->layer.input_size.count == 0) {
    return cli_usage_error(COMMAND, "--device and --schedule show where a "
                                    "plan places the groups, which needs "
                                    "--input-size (for example --input-size "
                                    "56,56).");
  }
  return cli_check_no_operands(COMMAND, argc, argv);
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

  int rc = layer_flags_build_desc(COMMAND, &request->layer, spatial_dims,
                                  &layer->desc);
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

  layer->input_shape[0] = request->layer.batch;
  layer->input_shape[1] = request->layer.channels;
  if (request->layer.input_size.count == 0) {
    return 0;
  }

  rc = cli_expand_axis_values(COMMAND, "--input-size",
                              &request->layer.input_size,
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

/* ------------------------------------------------------------------------ */
/* Placement (--device, --schedule)                                         */

static const char *schedule_name(gcl_schedule_policy policy) {
  switch (policy) {
  case GCL_SCHEDULE_SINGLE:
    return "single";
  case GCL_SCHEDULE_QUEUES:
    return "queues";
  case GCL_SCHEDULE_DEVICES:
    return "devices";
  default:
    return "auto";
  }
}

/*
 * Creates a conv with zero weights and bias: the placement depends on the
 * shapes only, and a plan needs weights to upload.
 */
static int create_zero_conv(gcl_context *context,
                            const explained_layer *layer, gcl_conv **conv) {
  const checked_count weight_count = count_product(layer->weight_shape,
                                                   layer->rank);
  if (weight_count.overflow || weight_count.value > SIZE_MAX / sizeof(float)) {
    cli_error(COMMAND, "the layer has more weights than fit in memory. Give "
                       "smaller --channels, --num-output or --kernel.");
    return CLI_EXIT_INPUT;
  }

  float *weights = calloc((size_t)weight_count.value, sizeof *weights);
  float *bias = calloc((size_t)layer->desc.num_output, sizeof *bias);
  int rc = 0;
  if (weights == NULL || bias == NULL) {
    cli_error(COMMAND, "out of memory for %" PRIu64 " weights. Give smaller "
                       "--channels, --num-output or --kernel.",
              weight_count.value);
    rc = CLI_EXIT_RUNTIME;
  }
  if (rc == 0) {
    const gcl_status status = gcl_conv_create(
        context, &layer->desc, weights,
        layer->desc.bias_term ? bias : NULL, conv);
    if (status != GCL_SUCCESS) {
      rc = cli_library_error(COMMAND, "creating the convolution", status);
    }
  }

  /* The conv keeps its own copy of the weights. */
  free(weights);
  free(bias);
  return rc;
}

static const char *format_range(int64_t begin, int64_t end, char *buffer,
                                size_t size) {
  snprintf(buffer, size, "[%" PRId64 ", %" PRId64 ")", begin, end);
  return buffer;
}

static void print_slot_row(const gcl_context *context, size_t index,
                           const gcl_slot_info *slot) {
  char groups[40], images[40], inputs[40], outputs[40];
  char weight_bytes[40], input_bytes[40], output_bytes[40];
  gcl_device_info device;
  if (gcl_context_device_info(context, slot->device_index, &device) !=
      GCL_SUCCESS) {
    snprintf(device.device_name, sizeof device.device_name, "(unknown)");
  }

  printf("  %4zu  %6zu  %5u  %-12s  %-12s  %-12s  %-12s  %12s  %12s  %12s  "
         "%5.1f%%  %s\n",
         index, slot->device_index, slot->queue_index,
         format_range(slot->group_begin, slot->group_end, groups,
                      sizeof groups),
         format_range(slot->batch_begin, slot->batch_end, images,
                      sizeof images),
         format_range(slot->input_channel_begin, slot->input_channel_end,
                      inputs, sizeof inputs),
         format_range(slot->output_channel_begin, slot->output_channel_end,
                      outputs, sizeof outputs),
         format_count(slot->weight_bytes, 0, weight_bytes,
                      sizeof weight_bytes),
         format_count(slot->input_bytes, 0, input_bytes, sizeof input_bytes),
         format_count(slot->output_bytes, 0, output_bytes,
                      sizeof output_bytes),
         100.0 * slot->share, device.device_name);
}

static int print_placement(const explain_request *request,
                           const gcl_context *context, const gcl_plan *plan) {
  const size_t slot_count = gcl_plan_slot_count(plan);

  printf("\nPlacement (--schedule %s):\n", request->schedule_text);
  printf("  schedule:  %s, %zu slot%s on %zu device%s of the context\n",
         schedule_name(gcl_plan_schedule(plan)), slot_count,
         slot_count == 1 ? "" : "s", gcl_context_device_count(context),
         gcl_context_device_count(context) == 1 ? "" : "s");
  printf("  algorithm: %s\n",
         gcl_algorithm_name(gcl_plan_algorithm(plan)));
  printf("  %4s  %6s  %5s  %-12s  %-12s  %-12s  %-12s  %12s  %12s  %12s  "
         "%6s  %s\n",
         "slot", "device", "queue", "groups", "images", "input ch.",
         "output ch.", "weight bytes", "in bytes", "out bytes", "share",
         "device name");

  for (size_t i = 0; i < slot_count; i++) {
    gcl_slot_info slot;
    const gcl_status status = gcl_plan_slot_info(plan, i, &slot);
    if (status != GCL_SUCCESS) {
      return cli_library_error(COMMAND, "reading the placement", status);
    }
    print_slot_row(context, i, &slot);
  }

  puts("  Ranges are [first, last + 1). Weight bytes (weights and bias) are\n"
       "  uploaded once, when the plan is made. In and out bytes are copied\n"
       "  to and from the device on every forward call. Share is the\n"
       "  fraction of the layer's multiply-accumulates.");
  if (gcl_plan_schedule(plan) == GCL_SCHEDULE_DEVICES) {
    cli_note_shared_cpu_devices(context);
  }
  return 0;
}

/*
 * Plans the layer with zero weights on the requested devices and prints
 * where the plan puts each range of groups. Planning compiles the kernels
 * and, for the devices policy, measures each device once.
 */
static int explain_placement(const explain_request *request,
                             const explained_layer *layer) {
  gcl_context *context = NULL;
  gcl_conv *conv = NULL;
  gcl_plan *plan = NULL;

  int rc = cli_create_context(COMMAND, request->device_spec, &context);
  if (rc == 0) {
    rc = create_zero_conv(context, layer, &conv);
  }
  if (rc == 0) {
    const gcl_status status = gcl_plan_create(
        conv, layer->rank, layer->input_shape, &request->options, &plan);
    if (status != GCL_SUCCESS) {
      rc = cli_library_error(COMMAND, "planning the layer", status);
    }
  }
  if (rc == 0) {
    rc = print_placement(request, context, plan);
  }

  gcl_plan_destroy(plan);
  gcl_conv_destroy(conv);
  gcl_context_destroy(context);
  return rc;
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
  if (request.prototxt_path != NULL) {
    return explain_network(request.prototxt_path, request.layer_name,
                           request.json);
  }

  int spatial_dims = 0;
  rc = layer_flags_count_axes(COMMAND, &request.layer, &spatial_dims);
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
  if (request.show_placement) {
    return explain_placement(&request, &layer);
  }
  return CLI_EXIT_SUCCESS;
}
