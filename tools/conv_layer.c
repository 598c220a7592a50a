/* The layer of `groupcl conv` and `conv-backward`; see conv_layer.h. */
#define _POSIX_C_SOURCE 200809L

#include "conv_layer.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

void conv_layer_flags_init(conv_layer_flags *flags) {
  memset(flags, 0, sizeof *flags);
  flags->group = 1;
}

int conv_layer_flags_has_option(int code) {
  return code >= CONV_LAYER_OPTION_GROUP && code < CONV_LAYER_OPTION_END;
}

int conv_layer_flags_parse(const char *command, int code, const char *text,
                           conv_layer_flags *flags) {
  const int64_t max = CLI_MAX_OPTION_VALUE;

  switch (code) {
  case CONV_LAYER_OPTION_GROUP:
    return cli_parse_int64(command, "--group", text, 1, max, &flags->group);
  case CONV_LAYER_OPTION_STRIDE:
    return cli_parse_axis_values(command, "--stride", text, 1, max,
                                 &flags->stride);
  case CONV_LAYER_OPTION_PAD:
    return cli_parse_pad_values(command, "--pad", text, &flags->pad);
  case CONV_LAYER_OPTION_DILATION:
    return cli_parse_axis_values(command, "--dilation", text, 1, max,
                                 &flags->dilation);
  case CONV_LAYER_OPTION_TRANSPOSED:
    flags->transposed = 1;
    return 0;
  default:
    return cli_parse_axis_values(command, "--output-padding", text, 0, max,
                                 &flags->output_padding);
  }
}

int conv_layer_flags_check(const char *command,
                           const conv_layer_flags *flags) {
  if (flags->output_padding.count > 0 && !flags->transposed) {
    return cli_usage_error(command,
                           "--output-padding applies only to transposed "
                           "layers. Add --transposed, or remove "
                           "--output-padding.");
  }
  return 0;
}

void conv_layer_print_flags_help(void) {
  fputs(
    "  --group G           number of groups; must divide C and K (default 1)\n"
    "  --stride S          step between windows in elements (default 1)\n"
    "  --pad P             zero padding in elements (default 0): N on both\n"
    "                      sides of an axis, or BEFORE:AFTER, as in 1:2\n"
    "  --dilation D        spacing between filter taps in elements\n"
    "                      (default 1)\n"
    "  --transposed        transposed convolution (Caffe's Deconvolution),\n"
    "                      with W [C, K/group, kernel...]\n"
    "  --output-padding P  with --transposed: elements added to the output\n"
    "                      at the end of each axis; each must be smaller\n"
    "                      than the stride or the dilation (default 0)\n",
    stdout);
}

int conv_layer_read_array(const char *command, const char *option,
                          const char *path, npy_array *array) {
  /* npy_read's message names the file, so only the option is added. */
  char error[512];
  if (npy_read(path, array, error, sizeof error) != 0) {
    cli_error(command, "%s: %s", option, error);
    return CLI_EXIT_INPUT;
  }
  return 0;
}

int conv_layer_read(const char *command, const char *input_path,
                    const char *weights_path, int transposed,
                    conv_layer *layer) {
  char shape_text[160];

  int rc = conv_layer_read_array(command, "--input", input_path,
                                 &layer->input);
  if (rc != 0) {
    return rc;
  }
  const int rank = layer->input.rank;
  if (rank < 3 || rank > GCL_MAX_RANK) {
    cli_error(command,
              "--input %s has rank %d (shape %s), but the input must have "
              "rank 3, 4 or 5: [N, C, W], [N, C, H, W] or [N, C, D, H, W].",
              input_path, rank,
              cli_format_shape(rank, layer->input.shape, shape_text,
                               sizeof shape_text));
    return CLI_EXIT_INPUT;
  }

  rc = conv_layer_read_array(command, "--weights", weights_path,
                             &layer->weights);
  if (rc != 0) {
    return rc;
  }
  if (layer->weights.rank != rank) {
    cli_error(command,
              "--weights %s has rank %d (shape %s), but the input has rank "
              "%d, so the weights must have rank %d: %s.",
              weights_path, layer->weights.rank,
              cli_format_shape(layer->weights.rank, layer->weights.shape,
                               shape_text, sizeof shape_text),
              rank, rank,
              transposed ? "[C, K/group, kernel...]"
                         : "[K, C/group, kernel...]");
    return CLI_EXIT_INPUT;
  }
  return 0;
}

/*
 * Computes K of a transposed layer, whose weights contain K/group output
 * channels per group on their second axis.
 */
static int transposed_num_output(const char *command, const conv_layer *layer,
                                 int64_t group, int64_t *num_output) {
  const int64_t per_group = layer->weights.shape[1];
  if (per_group > CLI_MAX_OPTION_VALUE / group) {
    cli_error(command,
              "invalid layer: the weights have %" PRId64 " output channels "
              "per group, so with --group %" PRId64 " the layer would have "
              "more than %" PRId64 " output channels.",
              per_group, group, CLI_MAX_OPTION_VALUE);
    return CLI_EXIT_INPUT;
  }
  *num_output = per_group * group;
  return 0;
}

int conv_layer_build(const char *command, const conv_layer_flags *flags,
                     int bias_term, conv_layer *layer) {
  const int spatial_dims = layer->input.rank - 2;
  gcl_conv_desc *desc = &layer->desc;

  int64_t num_output = layer->weights.shape[0];
  if (flags->transposed) {
    const int rc =
        transposed_num_output(command, layer, flags->group, &num_output);
    if (rc != 0) {
      return rc;
    }
  }

  gcl_conv_desc_init(desc, spatial_dims, layer->input.shape[1], num_output,
                     1);
  desc->group = flags->group;
  desc->bias_term = bias_term;
  desc->transposed = flags->transposed;
  for (int axis = 0; axis < spatial_dims; axis++) {
    desc->kernel[axis] = layer->weights.shape[2 + axis];
  }

  int rc = cli_expand_axis_values(command, "--stride", &flags->stride,
                                  spatial_dims, 1, desc->stride);
  if (rc == 0) {
    rc = cli_expand_pad_values(command, "--pad", &flags->pad, spatial_dims,
                               desc);
  }
  if (rc == 0) {
    rc = cli_expand_axis_values(command, "--dilation", &flags->dilation,
                                spatial_dims, 1, desc->dilation);
  }
  if (rc == 0) {
    rc = cli_expand_axis_values(command, "--output-padding",
                                &flags->output_padding, spatial_dims, 0,
                                desc->output_padding);
  }
  return rc;
}

/*
 * Reports a check that failed on the user's files or flags as "PROBLEM:
 * DETAIL". Out-of-range values come from the user here, so the library's
 * invalid-argument status counts as invalid input too.
 */
static int report_invalid(const char *command, const char *problem,
                          gcl_status status) {
  const int rc = cli_exit_code_for_status(status);
  if (status == GCL_ERROR_INVALID_ARGUMENT || rc == CLI_EXIT_INPUT) {
    cli_error(command, "%s: %s", problem, gcl_last_error());
    return CLI_EXIT_INPUT;
  }
  return cli_library_error(command, "checking the layer", status);
}

/*
 * Suggests a --group value when the weights' second axis (C/group) fits C
 * and K with another group, because a missing --group is a common mistake.
 * A transposed layer takes K from the group, so there is nothing to suggest.
 */
static void suggest_group(const char *command, const conv_layer *layer) {
  const int64_t channels = layer->input.shape[1];
  const int64_t per_group = layer->weights.shape[1];
  if (layer->desc.transposed || per_group <= 0 ||
      channels % per_group != 0) {
    return;
  }

  const int64_t fitting_group = channels / per_group;
  if (fitting_group != layer->desc.group &&
      layer->desc.num_output % fitting_group == 0) {
    cli_error(command,
              "the weights have %" PRId64 " input channels per group, which "
              "fits %" PRId64 " input channels with --group %" PRId64 ".",
              per_group, channels, fitting_group);
  }
}

int conv_layer_check(const char *command, const char *weights_path,
                     const char *bias_path, int bias_rank,
                     const int64_t *bias_shape, conv_layer *layer) {
  const gcl_conv_desc *desc = &layer->desc;

  gcl_status status = gcl_conv_validate(desc);
  if (status != GCL_SUCCESS) {
    return report_invalid(command, "invalid layer", status);
  }

  status = gcl_conv_check_params(desc, layer->weights.rank,
                                 layer->weights.shape, bias_rank, bias_shape);
  if (status != GCL_SUCCESS) {
    char problem[600];
    snprintf(problem, sizeof problem, "--weights %s%s%s do not fit the layer",
             weights_path, bias_path != NULL ? " or --bias " : "",
             bias_path != NULL ? bias_path : "");
    const int rc = report_invalid(command, problem, status);
    suggest_group(command, layer);
    return rc;
  }

  status = gcl_conv_output_shape(desc, layer->input.rank, layer->input.shape,
                                 layer->output_shape);
  if (status != GCL_SUCCESS) {
    return report_invalid(command, "invalid layer for this input", status);
  }
  return 0;
}

void conv_layer_free(conv_layer *layer) {
  npy_array_free(&layer->weights);
  npy_array_free(&layer->input);
}
