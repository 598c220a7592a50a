#define _POSIX_C_SOURCE 200809L
#define _GNU_SOURCE

#include "cli_args.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/*
 * Maximum length of the text that cli_parse_axis_values splits. Three
 * 10-digit values, their signs and two commas fit with room to spare.
 */
#define CLI_MAX_LIST_TEXT 127

/* Outcome of parse_integer. */
typedef enum integer_parse {
  INTEGER_VALID,
  INTEGER_MALFORMED,
  INTEGER_OUT_OF_RANGE
} integer_parse;

/* Parses a whole decimal number in [min, max] without printing anything. */
static integer_parse parse_integer(const char *text, int64_t min, int64_t max,
                                   int64_t *value) {
  /* strtoll skips leading spaces and reads "" as 0, so check the start. */
  const char first = text[0];
  if (first != '-' && first != '+' && !isdigit((unsigned char)first)) {
    return INTEGER_MALFORMED;
  }

  char *end = NULL;
  errno = 0;
  const long long parsed = strtoll(text, &end, 10);
  if (end == text || *end != '\0') {
    return INTEGER_MALFORMED;
  }
  if (errno == ERANGE || parsed < min || parsed > max) {
    return INTEGER_OUT_OF_RANGE;
  }

  *value = (int64_t)parsed;
  return INTEGER_VALID;
}

int cli_parse_int64(const char *command, const char *option, const char *text,
                    int64_t min, int64_t max, int64_t *value) {
  switch (parse_integer(text, min, max, value)) {
  case INTEGER_VALID:
    return 0;
  case INTEGER_MALFORMED:
    return cli_usage_error(command,
                           "%s '%s' is not a whole number. Give a decimal "
                           "integer such as %" PRId64 ".",
                           option, text, min > 1 ? min : 1);
  default:
    return cli_usage_error(command,
                           "%s is %s, but it must be from %" PRId64
                           " to %" PRId64 ".",
                           option, text, min, max);
  }
}

int cli_parse_axis_values(const char *command, const char *option,
                          const char *text, int64_t min, int64_t max,
                          cli_axis_values *list) {
  if (strlen(text) > CLI_MAX_LIST_TEXT) {
    return cli_usage_error(command,
                           "%s has a value of %zu characters, which is too "
                           "long. Give at most %d comma-separated integers.",
                           option, strlen(text), GCL_MAX_SPATIAL_DIMS);
  }

  /* Split a copy, so that each item is parsed on its own. */
  char buffer[CLI_MAX_LIST_TEXT + 1];
  strcpy(buffer, text);

  int count = 0;
  char *item = buffer;
  for (;;) {
    char *comma = strchr(item, ',');
    if (comma != NULL) {
      *comma = '\0';
    }

    if (count == GCL_MAX_SPATIAL_DIMS) {
      return cli_usage_error(command,
                             "%s '%s' has more than %d values, but a layer "
                             "has at most %d spatial axes.",
                             option, text, GCL_MAX_SPATIAL_DIMS,
                             GCL_MAX_SPATIAL_DIMS);
    }

    const integer_parse result =
        parse_integer(item, min, max, &list->values[count]);
    if (result == INTEGER_MALFORMED) {
      return cli_usage_error(command,
                             "%s '%s' is not a list of whole numbers. Give one "
                             "decimal integer, or one per spatial axis "
                             "separated by commas, such as 3 or 3,3.",
                             option, text);
    }
    if (result == INTEGER_OUT_OF_RANGE) {
      return cli_usage_error(command,
                             "%s '%s' has the value %s, but each value must "
                             "be from %" PRId64 " to %" PRId64 ".",
                             option, text, item, min, max);
    }
    count++;

    if (comma == NULL) {
      break;
    }
    item = comma + 1;
  }

  list->count = count;
  return 0;
}

/* Text that failed to parse, for the message: length bytes from start. */
typedef struct bad_text {
  const char *start;
  int length;
} bad_text;

/*
 * Parses one axis's padding, "N" or "BEFORE:AFTER", without printing. On
 * failure *bad names the number that failed, or the whole item when its
 * form is wrong. The item is left as it was.
 */
static integer_parse parse_pad_item(char *item, int64_t *before,
                                    int64_t *after, bad_text *bad) {
  const int64_t max = CLI_MAX_OPTION_VALUE;
  char *colon = strchr(item, ':');
  bad->start = item;
  bad->length = (int)strlen(item);
  if (colon == NULL) {
    const integer_parse result = parse_integer(item, 0, max, before);
    *after = *before;
    return result;
  }

  *colon = '\0';
  const integer_parse before_result = parse_integer(item, 0, max, before);
  const integer_parse after_result = parse_integer(colon + 1, 0, max, after);
  *colon = ':';

  /* A malformed part makes the whole item malformed, "1:2:3" included. */
  if (before_result == INTEGER_MALFORMED ||
      after_result == INTEGER_MALFORMED) {
    return INTEGER_MALFORMED;
  }
  if (before_result == INTEGER_OUT_OF_RANGE) {
    bad->length = (int)(colon - item);
    return INTEGER_OUT_OF_RANGE;
  }
  if (after_result == INTEGER_OUT_OF_RANGE) {
    bad->start = colon + 1;
    bad->length = (int)strlen(colon + 1);
  }
  return after_result;
}

int cli_parse_pad_values(const char *command, const char *option,
                         const char *text, cli_pad_values *pads) {
  if (strlen(text) > CLI_MAX_LIST_TEXT) {
    return cli_usage_error(command,
                           "%s has a value of %zu characters, which is too "
                           "long. Give at most %d comma-separated paddings.",
                           option, strlen(text), GCL_MAX_SPATIAL_DIMS);
  }

  char buffer[CLI_MAX_LIST_TEXT + 1];
  strcpy(buffer, text);

  int count = 0;
  char *item = buffer;
  for (;;) {
    char *comma = strchr(item, ',');
    if (comma != NULL) {
      *comma = '\0';
    }

    if (count == GCL_MAX_SPATIAL_DIMS) {
      return cli_usage_error(command,
                             "%s '%s' has more than %d values, but a layer "
                             "has at most %d spatial axes.",
                             option, text, GCL_MAX_SPATIAL_DIMS,
                             GCL_MAX_SPATIAL_DIMS);
    }

    bad_text bad;
    const integer_parse result =
        parse_pad_item(item, &pads->before.values[count],
                       &pads->after.values[count], &bad);
    if (result == INTEGER_MALFORMED) {
      return cli_usage_error(command,
                             "%s '%s': '%.*s' is not a padding. Give N or "
                             "BEFORE:AFTER in whole numbers for each spatial "
                             "axis, separated by commas, such as 1, 1,0 or "
                             "1:2,0:1.",
                             option, text, bad.length, bad.start);
    }
    if (result == INTEGER_OUT_OF_RANGE) {
      return cli_usage_error(command,
                             "%s '%s' has the value %.*s, but each value "
                             "must be from 0 to %" PRId64 ".",
                             option, text, bad.length, bad.start,
                             CLI_MAX_OPTION_VALUE);
    }
    count++;

    if (comma == NULL) {
      break;
    }
    item = comma + 1;
  }

  pads->before.count = count;
  pads->after.count = count;
  return 0;
}

int cli_expand_axis_values(const char *command, const char *option,
                           const cli_axis_values *list, int spatial_dims,
                           int64_t default_value, int64_t *axis_values) {
  if (list->count > 1 && list->count != spatial_dims) {
    return cli_usage_error(command,
                           "%s has %d values, but the layer has %d spatial "
                           "axes. Give one value for every axis, or a single "
                           "value for all of them.",
                           option, list->count, spatial_dims);
  }

  for (int axis = 0; axis < spatial_dims; axis++) {
    if (list->count == 0) {
      axis_values[axis] = default_value;
    } else if (list->count == 1) {
      axis_values[axis] = list->values[0];
    } else {
      axis_values[axis] = list->values[axis];
    }
  }
  return 0;
}

const char *cli_option_name(const struct option *options, int code) {
  for (const struct option *entry = options; entry->name != NULL; entry++) {
    if (entry->flag == NULL && entry->val == code) {
      return entry->name;
    }
  }
  return NULL;
}

int cli_report_getopt_error(const char *command, int result, char **argv,
                            const struct option *options) {
  /*
   * getopt_long sets optopt to the short option or to the code of a long
   * option. It sets 0 for an unknown long option, so the message quotes the
   * argument just consumed instead.
   */
  const char *long_name = cli_option_name(options, optopt);
  const char *consumed = optind > 0 ? argv[optind - 1] : "";

  if (result == ':') {
    if (long_name != NULL) {
      return cli_usage_error(command, "option --%s needs a value.",
                             long_name);
    }
    return cli_usage_error(command, "option -%c needs a value.", optopt);
  }

  if (optopt != 0 && long_name == NULL && isprint(optopt)) {
    return cli_usage_error(command, "unknown option -%c.", optopt);
  }
  if (optopt != 0 && long_name != NULL) {
    /* A long option given a value it does not take, as in --no-bias=1. */
    return cli_usage_error(command,
                           "option --%s takes no value. Write it without "
                           "'=VALUE'.",
                           long_name);
  }
  return cli_usage_error(command, "unknown option '%s'.", consumed);
}

void cli_reset_getopt(void) {
  /*
   * With optind = 1, glibc 2.36 goes on reading the previous argv when that
   * parse stopped inside a cluster such as "-qh": a later "-a" then returns
   * 'h'. glibc's getopt_core.h defines optind = 0 as a full restart.
   */
  optind = 0;
  /* Messages come from cli_report_getopt_error only. */
  opterr = 0;
}

int cli_check_no_operands(const char *command, int argc, char **argv) {
  if (optind < argc) {
    return cli_usage_error(command,
                           "unexpected argument '%s'. Every input is given "
                           "through an option.",
                           argv[optind]);
  }
  return 0;
}

int cli_expand_pad_values(const char *command, const char *option,
                          const cli_pad_values *pads, int spatial_dims,
                          gcl_conv_desc *desc) {
  /* Both lists have the same count, so only the first call can fail. */
  int rc = cli_expand_axis_values(command, option, &pads->before,
                                  spatial_dims, 0, desc->pad);
  if (rc == 0) {
    rc = cli_expand_axis_values(command, option, &pads->after, spatial_dims,
                                0, desc->pad_after);
  }
  if (rc != 0) {
    return rc;
  }

  desc->pad_asymmetric = 0;
  for (int axis = 0; axis < spatial_dims; axis++) {
    if (desc->pad_after[axis] != desc->pad[axis]) {
      desc->pad_asymmetric = 1;
    }
  }
  if (!desc->pad_asymmetric) {
    memset(desc->pad_after, 0, sizeof desc->pad_after);
  }
  return 0;
}
