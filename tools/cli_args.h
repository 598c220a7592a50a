/*
 * Argument parsing helpers for the groupcl tool. Every parse function prints
 * its own usage error (ending in "Try 'groupcl COMMAND --help'.") and returns
 * CLI_EXIT_USAGE on failure, or 0 on success, so a caller can return the
 * value unchanged.
 */
#ifndef GROUPCL_TOOLS_CLI_ARGS_H
#define GROUPCL_TOOLS_CLI_ARGS_H

#include <getopt.h>
#include <stdint.h>

#include "groupcl.h"

/*
 * Largest value the tool accepts for a size, count or index option. Caffe
 * keeps these parameters as 32-bit integers, so larger values describe no
 * layer that Caffe could load.
 */
#define CLI_MAX_OPTION_VALUE INT64_C(2147483647)

/* Values of one option given once or once per spatial axis ("3" or "3,5"). */
typedef struct cli_axis_values {
  int count; /* 0 when the option was not given, else 1..GCL_MAX_SPATIAL_DIMS */
  int64_t values[GCL_MAX_SPATIAL_DIMS];
} cli_axis_values;

/*
 * Values of --pad: per spatial axis either one integer for both sides or
 * BEFORE:AFTER. Both lists have the same count. A single integer N is
 * stored as N before and N after.
 */
typedef struct cli_pad_values {
  cli_axis_values before;
  cli_axis_values after;
} cli_pad_values;

/*
 * Parses a decimal integer from text into *value. The whole text must be the
 * number (no spaces, no suffix) and it must lie in [min, max]. option is the
 * flag name used in messages, such as "--group".
 */
int cli_parse_int64(const char *command, const char *option, const char *text,
                    int64_t min, int64_t max, int64_t *value);

/*
 * Parses a comma-separated list of 1 to GCL_MAX_SPATIAL_DIMS integers, each
 * in [min, max], into list.
 */
int cli_parse_axis_values(const char *command, const char *option,
                          const char *text, int64_t min, int64_t max,
                          cli_axis_values *list);

/*
 * Writes one value per spatial axis into axis_values: default_value on every
 * axis when the option was not given, the single value on every axis when it
 * has one, else the list itself, which must then have spatial_dims entries.
 */
int cli_expand_axis_values(const char *command, const char *option,
                           const cli_axis_values *list, int spatial_dims,
                           int64_t default_value, int64_t *axis_values);

/*
 * Parses a comma-separated list of 1 to GCL_MAX_SPATIAL_DIMS paddings, each
 * N or BEFORE:AFTER with values in [0, CLI_MAX_OPTION_VALUE], into pads.
 */
int cli_parse_pad_values(const char *command, const char *option,
                         const char *text, cli_pad_values *pads);

/*
 * Writes desc->pad and desc->pad_after for spatial_dims axes as
 * cli_expand_axis_values does, with 0 when the option was not given. Sets
 * desc->pad_asymmetric only when some axis has different pads before and
 * after, and else sets pad_after to 0.
 */
int cli_expand_pad_values(const char *command, const char *option,
                          const cli_pad_values *pads, int spatial_dims,
                          gcl_conv_desc *desc);

/*
 * Returns the long name of the option whose getopt code is `code`, or NULL
 * when options has none. options ends with an all-zero entry.
 */
const char *cli_option_name(const struct option *options, int code);

/*
 * Reports the error behind a ':' or '?' result of getopt_long, which must
 * run with an option string that starts with ':'. Uses optind and optopt, so
 * call it right after getopt_long returned.
 */
int cli_report_getopt_error(const char *command, int result, char **argv,
                            const struct option *options);

/*
 * Resets getopt_long to start on a new argv, including the position inside
 * a cluster of short options that an earlier parse may have stopped in.
 * Every option parser calls it first.
 */
void cli_reset_getopt(void);

/* Reports arguments left after the options, which no subcommand takes. */
int cli_check_no_operands(const char *command, int argc, char **argv);

#endif
