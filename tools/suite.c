#define _POSIX_C_SOURCE 200809L

#include "suite.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define SUITE_HEADER "name,N,C,H,W,K,kh,kw,stride,pad,dilation,group,D,kd"

/* Column names of the header after "name", indexed by enum suite_column. */
static const char *const column_names[SUITE_VALUE_COLUMNS] = {
    "N",   "C",        "H",     "W", "K", "kh", "kw", "stride",
    "pad", "dilation", "group", "D", "kd"};

/* A file being read, for the "FILE:LINE: " prefix of messages. */
typedef struct suite_reader {
  const char *path;
  int line;
  char *error;
  size_t error_size;
} suite_reader;

static int fail_at_line(const suite_reader *reader, const char *format, ...)
    CLI_PRINTF(2, 3);

static int fail_at_line(const suite_reader *reader, const char *format, ...) {
  const int used = snprintf(reader->error, reader->error_size, "%s:%d: ",
                            reader->path, reader->line);
  if (used >= 0 && (size_t)used < reader->error_size) {
    va_list args;
    va_start(args, format);
    vsnprintf(reader->error + used, reader->error_size - (size_t)used,
              format, args);
    va_end(args);
  }
  return -1;
}

/* Removes the line ending, "\n" or "\r\n", in place. */
static void strip_line_end(char *line) {
  size_t length = strlen(line);
  if (length > 0 && line[length - 1] == '\n') {
    line[--length] = '\0';
  }
  if (length > 0 && line[length - 1] == '\r') {
    line[length - 1] = '\0';
  }
}

static int check_name(const suite_reader *reader, const char *name) {
  if (name[0] == '\0') {
    return fail_at_line(reader, "column 'name' is empty. Give each layer a "
                                "name.");
  }
  if (strlen(name) > SUITE_NAME_MAX) {
    return fail_at_line(reader, "column 'name' is %zu characters long, but "
                                "at most %d are allowed.",
                        strlen(name), SUITE_NAME_MAX);
  }
  for (const char *c = name; *c != '\0'; c++) {
    if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-' && *c != '.') {
      return fail_at_line(reader, "column 'name' is '%s', which contains "
                                  "'%c'. Use only letters, digits, '_', '-' "
                                  "and '.'.",
                          name, *c);
    }
  }
  return 0;
}

/* Parses a field of decimal digits only (no sign, no spaces) into value. */
static int parse_value(const suite_reader *reader, int column,
                       const char *text, int64_t *value) {
  const int64_t min = column == SUITE_COLUMN_PAD ? 0 : 1;
  const size_t length = strlen(text);
  int digits_only = length > 0;
  for (size_t i = 0; i < length; i++) {
    digits_only = digits_only && isdigit((unsigned char)text[i]);
  }
  if (!digits_only) {
    return fail_at_line(reader, "column '%s' is '%s', which is not a whole "
                                "number. Give a decimal integer such as "
                                "%" PRId64 ".",
                        column_names[column], text, min > 1 ? min : 1);
  }

  errno = 0;
  const long long parsed = strtoll(text, NULL, 10);
  if (errno == ERANGE || parsed < min || parsed > CLI_MAX_OPTION_VALUE) {
    return fail_at_line(reader, "column '%s' is %s, but it must be from "
                                "%" PRId64 " to %" PRId64 ".",
                        column_names[column], text, min,
                        CLI_MAX_OPTION_VALUE);
  }
  *value = (int64_t)parsed;
  return 0;
}

/* Splits one data line at its commas and parses every field into row. */
static int parse_row(const suite_reader *reader, char *line, suite_row *row) {
  char *fields[SUITE_VALUE_COLUMNS + 1];
  int field_count = 0;
  char *field = line;
  for (;;) {
    char *comma = strchr(field, ',');
    if (field_count <= SUITE_VALUE_COLUMNS) {
      fields[field_count] = field;
    }
    field_count++;
    if (comma == NULL) {
      break;
    }
    *comma = '\0';
    field = comma + 1;
  }

  if (field_count != SUITE_VALUE_COLUMNS + 1) {
    return fail_at_line(reader, "the line has %d fields, but the header "
                                "'" SUITE_HEADER "' has %d.",
                        field_count, SUITE_VALUE_COLUMNS + 1);
  }
  if (check_name(reader, fields[0]) != 0) {
    return -1;
  }
  memset(row, 0, sizeof *row);
  strcpy(row->name, fields[0]);
  row->line = reader->line;

  for (int column = 0; column < SUITE_VALUE_COLUMNS; column++) {
    if (parse_value(reader, column, fields[column + 1],
                    &row->values[column]) != 0) {
      return -1;
    }
  }
  return 0;
}

/* Appends row, growing the array by doubling. */
static int append_row(const suite_reader *reader, suite_file *suite,
                      size_t *capacity, const suite_row *row) {
  const suite_row *existing = suite_find(suite, row->name);
  if (existing != NULL) {
    return fail_at_line(reader, "layer name '%s' is already used on line %d. "
                                "Give each layer a unique name.",
                        row->name, existing->line);
  }

  if (suite->count == *capacity) {
    const size_t grown_capacity = *capacity == 0 ? 32 : 2 * *capacity;
    suite_row *grown = realloc(suite->rows, grown_capacity * sizeof *grown);
    if (grown == NULL) {
      return fail_at_line(reader, "out of memory for %zu layers.",
                          grown_capacity);
    }
    suite->rows = grown;
    *capacity = grown_capacity;
  }
  suite->rows[suite->count++] = *row;
  return 0;
}

/* Reads the header and every row of an open file. */
static int read_lines(FILE *file, suite_reader *reader,
                      suite_file *suite) {
  char *line = NULL;
  size_t line_capacity = 0;
  size_t row_capacity = 0;
  int rc = 0;

  while (rc == 0 && getline(&line, &line_capacity, file) != -1) {
    reader->line++;
    strip_line_end(line);

    if (reader->line == 1) {
      if (strcmp(line, SUITE_HEADER) != 0) {
        rc = fail_at_line(reader, "the header is '%s', but it must be '"
                                  SUITE_HEADER "'.",
                          line);
      }
      continue;
    }
    if (line[0] == '\0') {
      continue;
    }

    suite_row row;
    rc = parse_row(reader, line, &row);
    if (rc == 0) {
      rc = append_row(reader, suite, &row_capacity, &row);
    }
  }

  if (rc == 0 && ferror(file)) {
    rc = fail_at_line(reader, "reading failed: %s.", strerror(errno));
  }
  free(line);
  return rc;
}

int suite_read(const char *path, suite_file *suite, char *error,
               size_t error_size) {
  memset(suite, 0, sizeof *suite);
  suite_reader reader = {path, 0, error, error_size};

  FILE *file = fopen(path, "r");
  if (file == NULL) {
    snprintf(error, error_size, "%s: cannot open the suite file: %s. Check "
                                "the path given with --suite.",
             path, strerror(errno));
    return -1;
  }

  int rc = read_lines(file, &reader, suite);
  fclose(file);

  if (rc == 0 && suite->count == 0) {
    snprintf(error, error_size, "%s: the file has no layers. After the "
                                "header '" SUITE_HEADER "', give one layer "
                                "per line.",
             path);
    rc = -1;
  }
  if (rc != 0) {
    suite_free(suite);
  }
  return rc;
}

void suite_free(suite_file *suite) {
  free(suite->rows);
  suite->rows = NULL;
  suite->count = 0;
}

const suite_row *suite_find(const suite_file *suite, const char *name) {
  for (size_t i = 0; i < suite->count; i++) {
    if (strcmp(suite->rows[i].name, name) == 0) {
      return &suite->rows[i];
    }
  }
  return NULL;
}

const char *suite_list_names(const suite_file *suite, char *buffer,
                             size_t size) {
  static const char ellipsis[] = ", ...";
  size_t used = 0;
  buffer[0] = '\0';

  for (size_t i = 0; i < suite->count; i++) {
    const char *separator = i > 0 ? ", " : "";
    const size_t needed = strlen(separator) + strlen(suite->rows[i].name);
    /* Keep room for the ellipsis, in case a later name does not fit. */
    if (used + needed + sizeof ellipsis > size) {
      snprintf(buffer + used, size - used, "%s", ellipsis);
      break;
    }
    used += (size_t)snprintf(buffer + used, size - used, "%s%s", separator,
                             suite->rows[i].name);
  }
  return buffer;
}

void suite_row_layer(const suite_row *row, gcl_conv_desc *desc, int *rank,
                     int64_t *input_shape) {
  const int64_t *v = row->values;
  const int three_d = v[SUITE_COLUMN_DEPTH] != 1 ||
                      v[SUITE_COLUMN_KERNEL_D] != 1;
  const int spatial_dims = three_d ? 3 : 2;
  const int64_t sizes[3] = {v[SUITE_COLUMN_DEPTH], v[SUITE_COLUMN_HEIGHT],
                            v[SUITE_COLUMN_WIDTH]};
  const int64_t kernels[3] = {v[SUITE_COLUMN_KERNEL_D],
                              v[SUITE_COLUMN_KERNEL_H],
                              v[SUITE_COLUMN_KERNEL_W]};
  const int first = three_d ? 0 : 1; /* 2-D layers skip the depth axis */

  gcl_conv_desc_init(desc, spatial_dims, v[SUITE_COLUMN_CHANNELS],
                     v[SUITE_COLUMN_NUM_OUTPUT], 1);
  desc->group = v[SUITE_COLUMN_GROUP];
  input_shape[0] = v[SUITE_COLUMN_BATCH];
  input_shape[1] = v[SUITE_COLUMN_CHANNELS];
  for (int axis = 0; axis < spatial_dims; axis++) {
    desc->kernel[axis] = kernels[first + axis];
    desc->stride[axis] = v[SUITE_COLUMN_STRIDE];
    desc->pad[axis] = v[SUITE_COLUMN_PAD];
    desc->dilation[axis] = v[SUITE_COLUMN_DILATION];
    input_shape[2 + axis] = sizes[first + axis];
  }

  /* A 1-D layer written as height 1: only the width axis is strided. */
  const int one_d = !three_d && v[SUITE_COLUMN_HEIGHT] == 1 &&
                    v[SUITE_COLUMN_KERNEL_H] == 1 &&
                    v[SUITE_COLUMN_WIDTH] > 1;
  if (one_d) {
    desc->stride[0] = 1;
    desc->pad[0] = 0;
    desc->dilation[0] = 1;
  }
  *rank = spatial_dims + 2;
}

/* ------------------------------------------------------------------------ */
/* Layers to run                                                            */

int suite_load_layer(const char *command, const char *path, const char *name,
                     suite_layer *layer) {
  suite_file rows;
  char error[1024];
  if (suite_read(path, &rows, error, sizeof error) != 0) {
    cli_error(command, "%s", error);
    return CLI_EXIT_INPUT;
  }

  int rc = 0;
  const suite_row *row = suite_find(&rows, name);
  if (row == NULL) {
    char names[2048];
    cli_error(command, "--layer '%s' is not in %s. Its layers are: %s.",
              name, path, suite_list_names(&rows, names, sizeof names));
    rc = CLI_EXIT_INPUT;
  } else {
    snprintf(layer->name, sizeof layer->name, "%s", row->name);
    suite_row_layer(row, &layer->desc, &layer->rank, layer->input_shape);
  }
  suite_free(&rows);
  return rc;
}

int suite_layer_check(const char *command, suite_layer *layer) {
  gcl_status status = gcl_conv_output_shape(&layer->desc, layer->rank,
                                            layer->input_shape,
                                            layer->output_shape);
  if (status == GCL_SUCCESS) {
    status = gcl_conv_weight_shape(&layer->desc, layer->weight_shape);
  }
  if (status != GCL_SUCCESS) {
    cli_error(command, "invalid layer %s: %s", layer->name, gcl_last_error());
    return CLI_EXIT_INPUT;
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Layer flags                                                              */

void layer_flags_init(layer_flags *flags) {
  memset(flags, 0, sizeof *flags);
  flags->group = 1;
  flags->batch = 1;
  flags->bias_term = 1;
}

int layer_flags_has_option(int code) {
  return code >= LAYER_OPTION_CHANNELS && code < LAYER_OPTION_END;
}

static int parse_axis_option(const char *command, int code, const char *text,
                             layer_flags *flags) {
  const char *option = NULL;
  cli_axis_values *list = NULL;
  int64_t min = 1;

  switch (code) {
  case LAYER_OPTION_KERNEL:
    option = "--kernel";
    list = &flags->kernel;
    break;
  case LAYER_OPTION_STRIDE:
    option = "--stride";
    list = &flags->stride;
    break;
  case LAYER_OPTION_PAD:
    option = "--pad";
    list = &flags->pad;
    min = 0;
    break;
  case LAYER_OPTION_DILATION:
    option = "--dilation";
    list = &flags->dilation;
    break;
  default:
    option = "--input-size";
    list = &flags->input_size;
    break;
  }
  return cli_parse_axis_values(command, option, text, min,
                               CLI_MAX_OPTION_VALUE, list);
}

int layer_flags_parse(const char *command, int code, const char *text,
                      layer_flags *flags) {
  const int64_t max = CLI_MAX_OPTION_VALUE;
  flags->any_given = 1;

  switch (code) {
  case LAYER_OPTION_CHANNELS:
    return cli_parse_int64(command, "--channels", text, 1, max,
                           &flags->channels);
  case LAYER_OPTION_NUM_OUTPUT:
    return cli_parse_int64(command, "--num-output", text, 1, max,
                           &flags->num_output);
  case LAYER_OPTION_GROUP:
    return cli_parse_int64(command, "--group", text, 1, max, &flags->group);
  case LAYER_OPTION_BATCH:
    return cli_parse_int64(command, "--batch", text, 1, max, &flags->batch);
  case LAYER_OPTION_NO_BIAS:
    flags->bias_term = 0;
    return 0;
  default:
    return parse_axis_option(command, code, text, flags);
  }
}

int layer_flags_check_required(const char *command,
                               const layer_flags *flags) {
  if (flags->channels == 0) {
    return cli_usage_error(command, "missing --channels, the number of "
                                    "input channels.");
  }
  if (flags->num_output == 0) {
    return cli_usage_error(command, "missing --num-output, the number of "
                                    "output channels.");
  }
  if (flags->kernel.count == 0) {
    return cli_usage_error(command, "missing --kernel, the filter size (for "
                                    "example --kernel 3,3).");
  }
  return 0;
}

int layer_flags_count_axes(const char *command, const layer_flags *flags,
                           int *spatial_dims) {
  const cli_axis_values *lists[] = {&flags->kernel, &flags->stride,
                                    &flags->pad, &flags->dilation,
                                    &flags->input_size};
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
          command,
          "%s has %d values but %s has %d. Give one value per spatial axis "
          "in each, or a single value for all axes.",
          names[i], lists[i]->count, names[longest], lists[longest]->count);
    }
  }

  *spatial_dims = lists[longest]->count;
  return 0;
}

int layer_flags_build_desc(const char *command, const layer_flags *flags,
                           int spatial_dims, gcl_conv_desc *desc) {
  gcl_conv_desc_init(desc, spatial_dims, flags->channels, flags->num_output,
                     flags->kernel.values[0]);
  desc->group = flags->group;
  desc->bias_term = flags->bias_term;

  int rc = cli_expand_axis_values(command, "--kernel", &flags->kernel,
                                  spatial_dims, 1, desc->kernel);
  if (rc == 0) {
    rc = cli_expand_axis_values(command, "--stride", &flags->stride,
                                spatial_dims, 1, desc->stride);
  }
  if (rc == 0) {
    rc = cli_expand_axis_values(command, "--pad", &flags->pad, spatial_dims,
                                0, desc->pad);
  }
  if (rc == 0) {
    rc = cli_expand_axis_values(command, "--dilation", &flags->dilation,
                                spatial_dims, 1, desc->dilation);
  }
  return rc;
}

/* Names a layer given by flags after its shape, as c16_k16_g4_12x12. */
static void name_flags_layer(suite_layer *layer) {
  const gcl_conv_desc *desc = &layer->desc;
  size_t used = (size_t)snprintf(layer->name, sizeof layer->name,
                                 "c%" PRId64 "_k%" PRId64 "_g%" PRId64 "_",
                                 desc->channels, desc->num_output,
                                 desc->group);
  for (int axis = 0; axis < desc->spatial_dims && used < sizeof layer->name;
       axis++) {
    used += (size_t)snprintf(layer->name + used, sizeof layer->name - used,
                             "%s%" PRId64, axis > 0 ? "x" : "",
                             layer->input_shape[2 + axis]);
  }
}

int layer_flags_build_layer(const char *command, const layer_flags *flags,
                            suite_layer *layer) {
  int spatial_dims = 0;
  int rc = layer_flags_count_axes(command, flags, &spatial_dims);
  if (rc == 0) {
    rc = layer_flags_build_desc(command, flags, spatial_dims, &layer->desc);
  }
  if (rc == 0) {
    layer->rank = spatial_dims + 2;
    layer->input_shape[0] = flags->batch;
    layer->input_shape[1] = flags->channels;
    rc = cli_expand_axis_values(command, "--input-size", &flags->input_size,
                                spatial_dims, 1, layer->input_shape + 2);
  }
  if (rc == 0) {
    name_flags_layer(layer);
  }
  return rc;
}

const char *suite_default_path(void) {
  static const char installed[] = GCL_DATADIR "/suite.csv";
  static const char source_tree[] = GCL_SRCDIR "/bench/suite.csv";

  if (access(installed, R_OK) == 0)
    return installed;
  if (access(source_tree, R_OK) == 0)
    return source_tree;
  return NULL;
}

/* Multiplies the shape out, or returns -1 when the byte count overflows. */
static int count_elements(int rank, const int64_t *shape, size_t *count) {
  *count = 1;
  for (int i = 0; i < rank; i++) {
    if ((uint64_t)shape[i] > SIZE_MAX / sizeof(float) / *count)
      return -1;
    *count *= (size_t)shape[i];
  }
  return 0;
}

int suite_allocate_floats(const char *command, const char *what, int rank,
                          const int64_t *shape, float **array,
                          size_t *count) {
  size_t elements = 0;

  if (count_elements(rank, shape, &elements) != 0 ||
      (*array = malloc(elements * sizeof **array)) == NULL) {
    char text[160];

    cli_error(command, "out of memory for the %s %s. Give a smaller layer.",
              what, cli_format_shape(rank, shape, text, sizeof text));
    return CLI_EXIT_RUNTIME;
  }
  if (count != NULL)
    *count = elements;
  return 0;
}

void suite_fill_random(float *values, size_t count, uint32_t seed) {
  uint32_t state = seed != 0 ? seed : 1;

  /* xorshift32, keeping 24 bits so every value is exact in float. */
  for (size_t i = 0; i < count; i++) {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    values[i] = (float)(state >> 8) * (2.0f / 16777216.0f) - 1.0f;
  }
}
