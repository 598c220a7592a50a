/*
 * Layers for the explain and split subcommands, from two sources: the rows
 * of a layer suite CSV file (bench/suite.csv), and the layer flags that both
 * subcommands take (--channels, --kernel, --input-size, ...).
 */
#ifndef GROUPCL_TOOLS_SUITE_H
#define GROUPCL_TOOLS_SUITE_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>

#include "cli_args.h"
#include "groupcl.h"

/* ------------------------------------------------------------------------ */
/* Suite files                                                              */

/*
 * Columns of a suite file, in the order of its header line:
 *   name,N,C,H,W,K,kh,kw,stride,pad,dilation,group,D,kd
 * N is the batch, and C and K are the input and output channels. D, H and W
 * are the input depth, height and width, and kd, kh and kw the filter size.
 * stride, pad and dilation apply to every spatial axis of the layer.
 */
enum suite_column {
  SUITE_COLUMN_BATCH = 0, /* N */
  SUITE_COLUMN_CHANNELS,  /* C */
  SUITE_COLUMN_HEIGHT,    /* H */
  SUITE_COLUMN_WIDTH,     /* W */
  SUITE_COLUMN_NUM_OUTPUT, /* K */
  SUITE_COLUMN_KERNEL_H,  /* kh */
  SUITE_COLUMN_KERNEL_W,  /* kw */
  SUITE_COLUMN_STRIDE,
  SUITE_COLUMN_PAD,
  SUITE_COLUMN_DILATION,
  SUITE_COLUMN_GROUP,
  SUITE_COLUMN_DEPTH,    /* D */
  SUITE_COLUMN_KERNEL_D, /* kd */
  SUITE_VALUE_COLUMNS    /* number of integer columns after the name */
};

/* Maximum length of a layer name in a suite file, in bytes. */
#define SUITE_NAME_MAX 63

typedef struct suite_row {
  char name[SUITE_NAME_MAX + 1];
  int line; /* line number in the file, from 1 */
  int64_t values[SUITE_VALUE_COLUMNS]; /* indexed by enum suite_column */
} suite_row;

typedef struct suite_file {
  suite_row *rows;
  size_t count;
} suite_file;

/*
 * Reads a suite file. The first line must be the header above, exactly.
 * Every other line is one layer: a name of letters, digits, '_', '-' and
 * '.', then 13 decimal integers (pad >= 0, the others >= 1). Names must be
 * unique. Empty lines are skipped and a trailing '\r' is ignored. On failure
 * returns -1 and writes "FILE:LINE: REASON" into error, naming the column.
 */
int suite_read(const char *path, suite_file *suite, char *error,
               size_t error_size);

void suite_free(suite_file *suite);

/*
 * Returns the installed suite (DATADIR/suite.csv), else the source tree's
 * bench/suite.csv, else NULL when neither is readable.
 */
const char *suite_default_path(void);

/* Returns the row named name, or NULL. */
const suite_row *suite_find(const suite_file *suite, const char *name);

/*
 * Writes the names of the rows, separated by ", ", into buffer. A list that
 * does not fit ends in "...". Returns buffer.
 */
const char *suite_list_names(const suite_file *suite, char *buffer,
                             size_t size);

/*
 * Writes the layer a row stands for. D = 1 and kd = 1 give a 2-D layer,
 * anything else a 3-D one. A 1-D layer appears as H = 1 and kh = 1 with
 * W > 1: it becomes a 2-D layer of height 1 whose height axis has stride 1,
 * pad 0 and dilation 1, so that the row's stride, pad and dilation act on
 * the width only. bias_term is 1. input_shape has rank spatial_dims + 2.
 */
void suite_row_layer(const suite_row *row, gcl_conv_desc *desc, int *rank,
                     int64_t *input_shape);

/* ------------------------------------------------------------------------ */
/* Layers to run                                                            */

/* A layer with a name and an input shape, ready to plan. */
typedef struct suite_layer {
  char name[SUITE_NAME_MAX + 1];
  gcl_conv_desc desc;
  int rank;
  int64_t input_shape[GCL_MAX_RANK];
  int64_t output_shape[GCL_MAX_RANK]; /* set by suite_layer_check */
  int64_t weight_shape[GCL_MAX_RANK]; /* set by suite_layer_check */
} suite_layer;

/*
 * Reads the suite file at path and writes its row `name` into layer. On
 * failure prints why ("groupcl COMMAND: FILE:LINE: ...", or the names of
 * the rows when none is called name) and returns CLI_EXIT_INPUT.
 */
int suite_load_layer(const char *command, const char *path, const char *name,
                     suite_layer *layer);

/*
 * Checks the layer under Caffe's rules and writes its output and weight
 * shapes. Prints "invalid layer NAME: REASON" and returns CLI_EXIT_INPUT
 * when the layer is invalid.
 */
int suite_layer_check(const char *command, suite_layer *layer);

/* ------------------------------------------------------------------------ */
/* Layer flags                                                              */

/*
 * getopt_long codes of the layer flags. A command numbers its own options
 * from LAYER_OPTION_END.
 */
enum layer_option_code {
  LAYER_OPTION_CHANNELS = 256,
  LAYER_OPTION_NUM_OUTPUT,
  LAYER_OPTION_KERNEL,
  LAYER_OPTION_STRIDE,
  LAYER_OPTION_PAD,
  LAYER_OPTION_DILATION,
  LAYER_OPTION_GROUP,
  LAYER_OPTION_NO_BIAS,
  LAYER_OPTION_INPUT_SIZE,
  LAYER_OPTION_BATCH,
  LAYER_OPTION_END /* first code free for a command's own options */
};

/* The entries of a getopt_long option table for the layer flags. */
#define LAYER_LONG_OPTIONS                                                  \
  {"channels", required_argument, NULL, LAYER_OPTION_CHANNELS},             \
      {"num-output", required_argument, NULL, LAYER_OPTION_NUM_OUTPUT},     \
      {"kernel", required_argument, NULL, LAYER_OPTION_KERNEL},             \
      {"stride", required_argument, NULL, LAYER_OPTION_STRIDE},             \
      {"pad", required_argument, NULL, LAYER_OPTION_PAD},                   \
      {"dilation", required_argument, NULL, LAYER_OPTION_DILATION},         \
      {"group", required_argument, NULL, LAYER_OPTION_GROUP},               \
      {"no-bias", no_argument, NULL, LAYER_OPTION_NO_BIAS},                 \
      {"input-size", required_argument, NULL, LAYER_OPTION_INPUT_SIZE},     \
      {"batch", required_argument, NULL, LAYER_OPTION_BATCH}

/* Values of the layer flags as given on the command line. */
typedef struct layer_flags {
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
  int any_given; /* nonzero once any layer flag was given */
} layer_flags;

/* Sets the defaults: group 1, batch 1, bias on, nothing given. */
void layer_flags_init(layer_flags *flags);

/* Returns nonzero when code is one of the layer flags' getopt codes. */
int layer_flags_has_option(int code);

/* Parses the value of the layer flag with getopt code `code`. */
int layer_flags_parse(const char *command, int code, const char *text,
                      layer_flags *flags);

/* Reports a missing --channels, --num-output or --kernel. */
int layer_flags_check_required(const char *command, const layer_flags *flags);

/*
 * Takes the number of spatial axes from the longest of the axis lists.
 * Lists with more than one value must all have the same length.
 */
int layer_flags_count_axes(const char *command, const layer_flags *flags,
                           int *spatial_dims);

/* Fills desc from the flags for a layer of spatial_dims axes. */
int layer_flags_build_desc(const char *command, const layer_flags *flags,
                           int spatial_dims, gcl_conv_desc *desc);

/*
 * Writes the layer of the flags, which must include --input-size, into
 * layer, named after its shape (as c16_k16_g4_12x12).
 */
int layer_flags_build_layer(const char *command, const layer_flags *flags,
                            suite_layer *layer);

/* ------------------------------------------------------------------------ */
/* Layer data                                                               */

/*
 * Allocates the floats of a tensor of the given shape. On overflow or
 * failure prints "out of memory for the WHAT SHAPE" for command and returns
 * CLI_EXIT_RUNTIME. count, when not NULL, receives the element count.
 */
int suite_allocate_floats(const char *command, const char *what, int rank,
                          const int64_t *shape, float **array, size_t *count);

/* Fills values with reproducible uniform numbers in [-1, 1) from seed. */
void suite_fill_random(float *values, size_t count, uint32_t seed);

#endif
