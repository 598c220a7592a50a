/*
 * The layer that `groupcl conv` and `groupcl conv-backward` run, built from
 * the shapes of the input and weight .npy files plus the layer flags
 * (--group, --stride, --pad, --dilation, --transposed, --output-padding).
 * Every function prints its own message for the command and returns the
 * exit code, or 0 on success.
 */
#ifndef GROUPCL_TOOLS_CONV_LAYER_H
#define GROUPCL_TOOLS_CONV_LAYER_H

#include <stdint.h>

#include "cli_args.h"
#include "groupcl.h"
#include "npy.h"

/*
 * getopt_long codes of the layer flags. A command numbers its own options
 * from CONV_LAYER_OPTION_END.
 */
enum conv_layer_option_code {
  CONV_LAYER_OPTION_GROUP = 256,
  CONV_LAYER_OPTION_STRIDE,
  CONV_LAYER_OPTION_PAD,
  CONV_LAYER_OPTION_DILATION,
  CONV_LAYER_OPTION_TRANSPOSED,
  CONV_LAYER_OPTION_OUTPUT_PADDING,
  CONV_LAYER_OPTION_END /* first code free for a command's own options */
};

/* The entries of a getopt_long option table for the layer flags. */
#define CONV_LAYER_LONG_OPTIONS                                             \
  {"group", required_argument, NULL, CONV_LAYER_OPTION_GROUP},              \
      {"stride", required_argument, NULL, CONV_LAYER_OPTION_STRIDE},        \
      {"pad", required_argument, NULL, CONV_LAYER_OPTION_PAD},              \
      {"dilation", required_argument, NULL, CONV_LAYER_OPTION_DILATION},    \
      {"transposed", no_argument, NULL, CONV_LAYER_OPTION_TRANSPOSED},      \
      {"output-padding", required_argument, NULL,                           \
       CONV_LAYER_OPTION_OUTPUT_PADDING}

/* Values of the layer flags as given on the command line. */
typedef struct conv_layer_flags {
  int64_t group;
  cli_axis_values stride;
  cli_pad_values pad;
  cli_axis_values dilation;
  cli_axis_values output_padding;
  int transposed;
} conv_layer_flags;

/* Sets the defaults: group 1, a convolution, no per-axis flag given. */
void conv_layer_flags_init(conv_layer_flags *flags);

/* Returns nonzero when code is one of the layer flags' getopt codes. */
int conv_layer_flags_has_option(int code);

/* Parses the value of the layer flag with getopt code `code`. */
int conv_layer_flags_parse(const char *command, int code, const char *text,
                           conv_layer_flags *flags);

/* Reports --output-padding given without --transposed as a usage error. */
int conv_layer_flags_check(const char *command,
                           const conv_layer_flags *flags);

/* Prints the help lines of the layer flags, aligned as in `conv --help`. */
void conv_layer_print_flags_help(void);

/* The arrays and the layer of one run. */
typedef struct conv_layer {
  npy_array input;
  npy_array weights;
  gcl_conv_desc desc;
  int64_t output_shape[GCL_MAX_RANK]; /* set by conv_layer_check */
} conv_layer;

/*
 * Reads one float32 .npy file. A file that cannot be read or parsed is
 * invalid input (exit status 3), reported as "OPTION: MESSAGE".
 */
int conv_layer_read_array(const char *command, const char *option,
                          const char *path, npy_array *array);

/*
 * Reads --input and --weights into layer and checks that the input has rank
 * 3, 4 or 5 and the weights the same rank.
 */
int conv_layer_read(const char *command, const char *input_path,
                    const char *weights_path, int transposed,
                    conv_layer *layer);

/*
 * Fills layer->desc from the array shapes and the flags. C comes from the
 * input and the filter size from the weights. K is the weights' first axis,
 * or for a transposed layer their second axis times the group.
 */
int conv_layer_build(const char *command, const conv_layer_flags *flags,
                     int bias_term, conv_layer *layer);

/*
 * Checks the layer under Caffe's rules, the weight shape and the bias shape
 * (bias_rank 0 for none), and computes layer->output_shape. bias_path, when
 * not NULL, is named with the weights in a shape mismatch message.
 */
int conv_layer_check(const char *command, const char *weights_path,
                     const char *bias_path, int bias_rank,
                     const int64_t *bias_shape, conv_layer *layer);

/* Frees the arrays of a layer. Accepts a layer that was only zeroed. */
void conv_layer_free(conv_layer *layer);

#endif
