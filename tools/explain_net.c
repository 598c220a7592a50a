/*
 * groupcl explain --prototxt NET: lists the convolution layers of a Caffe
 * network with their shapes and costs, grouped and ungrouped.
 */
#define _POSIX_C_SOURCE 200809L

#include "explain_net.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "net_shapes.h"

#define COMMAND "explain"

/* Costs of one layer or of the network, with the layer's group and 1. */
typedef struct cost_totals {
  uint64_t weights;
  uint64_t weights_ungrouped;
  uint64_t macs;
  uint64_t macs_ungrouped;
  int overflow;
} cost_totals;

static int selected(const net_layer *layer, const char *layer_name) {
  return layer->is_conv &&
         (layer_name == NULL || strcmp(layer->name, layer_name) == 0);
}

static cost_totals layer_cost(const net_layer *layer) {
  cost_totals cost = {0, 0, 0, 0, 0};
  if (layer->invalid_reason != NULL) {
    return cost;
  }
  cost.overflow = net_conv_cost(layer, 0, &cost.weights, &cost.macs) != 0 ||
                  net_conv_cost(layer, 1, &cost.weights_ungrouped,
                                &cost.macs_ungrouped) != 0;
  return cost;
}

static void add_cost(cost_totals *total, const cost_totals *cost) {
  total->weights += cost->weights;
  total->weights_ungrouped += cost->weights_ungrouped;
  total->macs += cost->macs;
  total->macs_ungrouped += cost->macs_ungrouped;
  total->overflow |= cost->overflow;
}

/* ------------------------------------------------------------------------ */
/* Table                                                                     */

static const char *shape_text(const net_shape *shape, char *buffer,
                              size_t size) {
  if (shape->rank == 0) {
    snprintf(buffer, size, "?");
    return buffer;
  }
  return cli_format_shape(shape->rank, shape->dims, buffer, size);
}

static void print_table_row(const net_layer *layer, int name_width) {
  char input[128];
  char output[128];
  const gcl_conv_desc *desc = &layer->desc;
  const cost_totals cost = layer_cost(layer);

  printf("%-*s  %-13s  %-22s  %-22s", name_width, layer->name, layer->type,
         shape_text(&layer->input, input, sizeof input),
         layer->invalid_reason != NULL
             ? "invalid"
             : shape_text(&layer->output, output, sizeof output));
  if (layer->invalid_reason != NULL) {
    printf("  %6" PRId64 "  invalid: %s\n", desc->group,
           layer->invalid_reason);
    return;
  }
  printf("  %6" PRId64 "  %5" PRId64 "/%-5" PRId64 "  %12" PRIu64
         "  %12" PRIu64 "  %15" PRIu64 "  %15" PRIu64 "%s\n",
         desc->group, desc->channels / desc->group,
         desc->num_output / desc->group, cost.weights,
         cost.weights_ungrouped, cost.macs, cost.macs_ungrouped,
         cost.overflow ? "  (overflow)" : "");
}

static int name_column_width(const net_result *net, const char *layer_name) {
  int width = 5;
  for (size_t i = 0; i < net->layer_count; i++) {
    const int length = (int)strlen(net->layers[i].name);
    if (selected(&net->layers[i], layer_name) && length > width) {
      width = length;
    }
  }
  return width;
}

static void print_table(const char *path, const net_result *net,
                        const char *layer_name) {
  const int width = name_column_width(net, layer_name);
  cost_totals total = {0, 0, 0, 0, 0};
  size_t layers = 0;

  printf("Network %s (phase TEST)\n", path);
  printf("%-*s  %-13s  %-22s  %-22s  %6s  %11s  %12s  %12s  %15s  %15s\n",
         width, "layer", "type", "input", "output", "group", "C/g in/out",
         "weights", "weights g=1", "MACs", "MACs g=1");
  for (size_t i = 0; i < net->layer_count; i++) {
    if (selected(&net->layers[i], layer_name)) {
      print_table_row(&net->layers[i], width);
      const cost_totals cost = layer_cost(&net->layers[i]);
      add_cost(&total, &cost);
      layers++;
    }
  }

  printf("Totals over %zu layer%s: %" PRIu64 " weights (%" PRIu64
         " ungrouped), %" PRIu64 " MACs (%" PRIu64 " ungrouped)%s\n",
         layers, layers == 1 ? "" : "s", total.weights,
         total.weights_ungrouped, total.macs, total.macs_ungrouped,
         net->stopped ? ", up to where inference stopped" : "");
  puts("MACs cover the whole input batch; weights exclude the bias; g=1 is "
       "the same layer without groups.");
}

/* ------------------------------------------------------------------------ */
/* JSON                                                                      */

static void print_json_string(const char *text) {
  putchar('"');
  for (const unsigned char *c = (const unsigned char *)text; *c != '\0';
       c++) {
    if (*c == '"' || *c == '\\') {
      printf("\\%c", *c);
    } else if (*c < 0x20) {
      printf("\\u%04x", *c);
    } else {
      putchar(*c);
    }
  }
  putchar('"');
}

static void print_json_array(const int64_t *values, int count) {
  putchar('[');
  for (int i = 0; i < count; i++) {
    printf("%s%" PRId64, i > 0 ? ", " : "", values[i]);
  }
  putchar(']');
}

static void print_json_layer(const net_layer *layer) {
  const gcl_conv_desc *desc = &layer->desc;
  const cost_totals cost = layer_cost(layer);

  printf("    {\"name\": ");
  print_json_string(layer->name);
  printf(", \"type\": ");
  print_json_string(layer->type);
  printf(", \"input\": ");
  print_json_array(layer->input.dims, layer->input.rank);
  printf(", \"output\": ");
  if (layer->invalid_reason != NULL) {
    printf("null");
  } else {
    print_json_array(layer->output.dims, layer->output.rank);
  }
  printf(", \"group\": %" PRId64 ", \"channels\": %" PRId64
         ", \"num_output\": %" PRId64 ", \"kernel\": ",
         desc->group, desc->channels, desc->num_output);
  print_json_array(desc->kernel, desc->spatial_dims);
  printf(", \"stride\": ");
  print_json_array(desc->stride, desc->spatial_dims);
  printf(", \"pad\": ");
  print_json_array(desc->pad, desc->spatial_dims);
  printf(", \"dilation\": ");
  print_json_array(desc->dilation, desc->spatial_dims);
  printf(", \"bias_term\": %s", desc->bias_term ? "true" : "false");
  if (layer->invalid_reason != NULL) {
    printf(", \"error\": ");
    print_json_string(layer->invalid_reason);
  } else {
    printf(", \"weights\": %" PRIu64 ", \"weights_ungrouped\": %" PRIu64
           ", \"macs\": %" PRIu64 ", \"macs_ungrouped\": %" PRIu64,
           cost.weights, cost.weights_ungrouped, cost.macs,
           cost.macs_ungrouped);
  }
  printf("}");
}

static void print_json(const char *path, const net_result *net,
                       const char *layer_name) {
  cost_totals total = {0, 0, 0, 0, 0};
  size_t layers = 0;

  printf("{\"network\": ");
  print_json_string(path);
  printf(",\n  \"layers\": [\n");
  for (size_t i = 0; i < net->layer_count; i++) {
    if (selected(&net->layers[i], layer_name)) {
      printf("%s", layers > 0 ? ",\n" : "");
      print_json_layer(&net->layers[i]);
      const cost_totals cost = layer_cost(&net->layers[i]);
      add_cost(&total, &cost);
      layers++;
    }
  }

  printf("\n  ],\n  \"totals\": {\"layers\": %zu, \"weights\": %" PRIu64
         ", \"weights_ungrouped\": %" PRIu64 ", \"macs\": %" PRIu64
         ", \"macs_ungrouped\": %" PRIu64 "},\n  \"complete\": %s,\n"
         "  \"stopped\": ",
         layers, total.weights, total.weights_ungrouped, total.macs,
         total.macs_ungrouped, net->stopped ? "false" : "true");
  if (net->stopped) {
    print_json_string(net->stop_reason);
  } else {
    printf("null");
  }
  printf("}\n");
}

/* ------------------------------------------------------------------------ */

static int has_selected_layer(const net_result *net, const char *layer_name) {
  for (size_t i = 0; i < net->layer_count; i++) {
    if (selected(&net->layers[i], layer_name)) {
      return 1;
    }
  }
  return 0;
}

int explain_network(const char *path, const char *layer_name, int json) {
  char error[640];
  ptx_node *root = NULL;
  const int parse_rc = ptx_parse_file(path, &root, error, sizeof error);
  if (parse_rc != 0) {
    cli_error(COMMAND, "%s", error);
    return CLI_EXIT_INPUT;
  }

  net_result net;
  const int infer_rc = net_infer(path, root, &net);
  ptx_free(root);
  if (infer_rc < 0) {
    cli_error(COMMAND, "%s: out of memory while inferring shapes", path);
    net_result_free(&net);
    return CLI_EXIT_RUNTIME;
  }

  int rc = CLI_EXIT_SUCCESS;
  if (layer_name != NULL && !has_selected_layer(&net, layer_name)) {
    cli_error(COMMAND, "no Convolution or Deconvolution layer named '%s' "
              "in %s%s", layer_name, path,
              net.stopped ? " before inference stopped" : "");
    rc = CLI_EXIT_INPUT;
  } else if (json) {
    print_json(path, &net, layer_name);
  } else {
    print_table(path, &net, layer_name);
  }

  if (net.stopped) {
    cli_error(COMMAND, "%s", net.stop_reason);
    rc = CLI_EXIT_INPUT;
  }
  net_result_free(&net);
  return rc;
}
