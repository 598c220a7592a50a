/*
 * NumPy .npy reader and writer for float32 C-order arrays.
 *
 * File layout (numpy.lib.format): the magic "\x93NUMPY", one byte each for
 * the major and minor version, the header length (uint16 little-endian in
 * version 1.0, uint32 little-endian in 2.0 and 3.0), then the header: an
 * ASCII Python dict literal such as
 *   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
 * padded with spaces and ended by '\n'. The raw array data follow at once.
 */
#define _POSIX_C_SOURCE 200809L

#include "npy.h"

#include "atomic_file.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__GNUC__)
#define NPY_PRINTF_FORMAT(format_index, first_argument) \
  __attribute__((format(printf, format_index, first_argument)))
#else
#define NPY_PRINTF_FORMAT(format_index, first_argument)
#endif

static const char npy_magic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

/* Magic, version bytes and header length field of each format version. */
#define NPY_PREAMBLE_SIZE_V1 10
#define NPY_PREAMBLE_SIZE_V2 12

/*
 * Maximum header length accepted when reading. The header of a float32 array
 * of rank 8 or less is under 256 bytes, and the limit stops a corrupt length
 * field from causing a huge allocation.
 */
#define NPY_MAX_HEADER_LENGTH 65536u

/* Writers align the start of the data to this many bytes, as NumPy does. */
#define NPY_DATA_ALIGNMENT 64u

/* Maximum length of a string in the header. Longer ones are rejected. */
#define NPY_MAX_STRING_LENGTH 63

static void set_error(char *error, size_t error_size, const char *format, ...)
    NPY_PRINTF_FORMAT(3, 4);

static void set_error(char *error, size_t error_size, const char *format,
                      ...) {
  va_list arguments;

  if (error == NULL || error_size == 0)
    return;

  va_start(arguments, format);
  vsnprintf(error, error_size, format, arguments);
  va_end(arguments);
}

/* ------------------------------------------------------------------------ */
/* Byte order                                                               */

static bool host_is_little_endian(void) {
  const uint32_t one = 1;
  unsigned char first_byte;

  memcpy(&first_byte, &one, 1);
  return first_byte == 1;
}

static void swap_float_bytes(float *values, size_t count) {
  for (size_t i = 0; i < count; i++) {
    unsigned char bytes[4];
    unsigned char swapped[4];

    memcpy(bytes, &values[i], 4);
    swapped[0] = bytes[3];
    swapped[1] = bytes[2];
    swapped[2] = bytes[1];
    swapped[3] = bytes[0];
    memcpy(&values[i], swapped, 4);
  }
}

/* ------------------------------------------------------------------------ */
/* Shape arithmetic, shared by reading and writing                          */

/*
 * Computes the element count of a shape into *count. Fails when a dimension
 * is negative or when the count or its size in bytes does not fit in size_t.
 */
static int count_elements(const char *path, int rank, const int64_t *shape,
                          size_t *count, char *error, size_t error_size) {
  size_t product = 1;

  for (int axis = 0; axis < rank; axis++) {
    if (shape[axis] < 0) {
      set_error(error, error_size,
                "%s: dimension %d of the shape is negative (%lld)", path, axis,
                (long long)shape[axis]);
      return -1;
    }
  }

  for (int axis = 0; axis < rank; axis++) {
    uint64_t dimension = (uint64_t)shape[axis];

    /* A zero dimension makes the product 0 whatever the other sizes are. */
    if (dimension == 0) {
      *count = 0;
      return 0;
    }
    if (dimension > SIZE_MAX / sizeof(float) / product) {
      set_error(error, error_size,
                "%s: the shape is too large: its size in bytes overflows "
                "size_t (dimension %d is %lld)",
                path, axis, (long long)shape[axis]);
      return -1;
    }
    product *= (size_t)dimension;
  }

  *count = product;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Header dictionary parser                                                 */

/* Values found in the header dictionary. */
typedef struct header_fields {
  char descr[NPY_MAX_STRING_LENGTH + 1];
  bool fortran_order;
  int rank;
  int64_t shape[NPY_MAX_RANK];
  bool has_descr;
  bool has_fortran_order;
  bool has_shape;
} header_fields;

/* Cursor over the header text, with where to report errors. */
typedef struct header_parser {
  const char *text;
  size_t length;
  size_t position;
  const char *path;
  char *error;
  size_t error_size;
} header_parser;

static void report_malformed(header_parser *parser, const char *expected) {
  set_error(parser->error, parser->error_size,
            "%s: malformed .npy header: expected %s at character %zu of the "
            "header dictionary",
            parser->path, expected, parser->position);
}

static bool at_end(const header_parser *parser) {
  return parser->position >= parser->length;
}

static char peek(const header_parser *parser) {
  return at_end(parser) ? '\0' : parser->text[parser->position];
}

static void skip_whitespace(header_parser *parser) {
  while (!at_end(parser)) {
    char c = parser->text[parser->position];

    if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
      return;
    parser->position++;
  }
}

/* Skips whitespace, then consumes `expected` if it comes next. */
static bool accept_char(header_parser *parser, char expected) {
  skip_whitespace(parser);
  if (peek(parser) != expected)
    return false;
  parser->position++;
  return true;
}

/*
 * Parses a Python string literal in single or double quotes. Escape sequences
 * are not decoded, because the keys and the dtype this reader accepts contain
 * none. A string with one fails later as an unknown key or dtype.
 */
static int parse_string(header_parser *parser, char *value,
                        size_t value_size) {
  char quote;
  size_t start;
  size_t length;

  skip_whitespace(parser);
  quote = peek(parser);
  if (quote != '\'' && quote != '"') {
    report_malformed(parser, "a quoted string");
    return -1;
  }
  parser->position++;
  start = parser->position;

  while (!at_end(parser) && parser->text[parser->position] != quote)
    parser->position++;
  if (at_end(parser)) {
    parser->position = start - 1;
    report_malformed(parser, "a closing quote for the string starting");
    return -1;
  }

  length = parser->position - start;
  if (length >= value_size) {
    set_error(parser->error, parser->error_size,
              "%s: malformed .npy header: string at character %zu is longer "
              "than %zu characters",
              parser->path, start - 1, value_size - 1);
    return -1;
  }
  memcpy(value, parser->text + start, length);
  value[length] = '\0';
  parser->position++; /* the closing quote */
  return 0;
}

static bool is_identifier_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_';
}

/* Consumes the word if it comes next as a whole identifier. */
static bool accept_word(header_parser *parser, const char *word) {
  size_t length = strlen(word);
  size_t end;

  skip_whitespace(parser);
  end = parser->position + length;
  if (end > parser->length ||
      memcmp(parser->text + parser->position, word, length) != 0)
    return false;
  if (end < parser->length && is_identifier_char(parser->text[end]))
    return false;
  parser->position = end;
  return true;
}

static int parse_bool(header_parser *parser, bool *value) {
  if (accept_word(parser, "True")) {
    *value = true;
    return 0;
  }
  if (accept_word(parser, "False")) {
    *value = false;
    return 0;
  }
  report_malformed(parser, "True or False");
  return -1;
}

/*
 * Parses a decimal integer with an optional sign. A trailing 'L' is allowed
 * because Python 2 wrote long integers that way in shapes.
 */
static int parse_integer(header_parser *parser, int64_t *value) {
  bool negative = false;
  uint64_t magnitude = 0;
  size_t digits = 0;

  skip_whitespace(parser);
  if (peek(parser) == '-' || peek(parser) == '+') {
    negative = peek(parser) == '-';
    parser->position++;
  }

  while (peek(parser) >= '0' && peek(parser) <= '9') {
    unsigned digit = (unsigned)(peek(parser) - '0');

    if (magnitude > (UINT64_MAX - digit) / 10) {
      set_error(parser->error, parser->error_size,
                "%s: a dimension in the shape at character %zu of the header "
                "does not fit in 64 bits",
                parser->path, parser->position);
      return -1;
    }
    magnitude = magnitude * 10 + digit;
    digits++;
    parser->position++;
  }
  if (digits == 0) {
    report_malformed(parser, "an integer");
    return -1;
  }
  if (peek(parser) == 'L' || peek(parser) == 'l')
    parser->position++;

  /* int64_t has one more negative value than positive ones. */
  if (magnitude > (uint64_t)INT64_MAX + (negative ? 1u : 0u)) {
    set_error(parser->error, parser->error_size,
              "%s: a dimension in the shape of the header does not fit in a "
              "64-bit signed integer",
              parser->path);
    return -1;
  }
  if (negative)
    *value = magnitude == 0 ? 0 : -(int64_t)(magnitude - 1) - 1;
  else
    *value = (int64_t)magnitude;
  return 0;
}

/*
 * Parses a tuple of integers: "()", "(5,)", "(2, 3)", with an optional
 * trailing comma. "(5)" is accepted as a 1-D shape too. Dimensions past
 * NPY_MAX_RANK are counted but not stored, so the error can name the rank.
 */
static int parse_shape(header_parser *parser, header_fields *fields) {
  int rank = 0;

  if (!accept_char(parser, '(')) {
    report_malformed(parser, "'(' to start the shape tuple");
    return -1;
  }

  while (!accept_char(parser, ')')) {
    int64_t dimension;

    if (parse_integer(parser, &dimension) != 0)
      return -1;
    if (rank < NPY_MAX_RANK)
      fields->shape[rank] = dimension;
    rank++;

    if (accept_char(parser, ','))
      continue;
    if (accept_char(parser, ')'))
      break;
    report_malformed(parser, "',' or ')' in the shape tuple");
    return -1;
  }

  if (rank > NPY_MAX_RANK) {
    set_error(parser->error, parser->error_size,
              "%s: the array has rank %d, above the maximum of %d supported "
              "here",
              parser->path, rank, NPY_MAX_RANK);
    return -1;
  }
  fields->rank = rank;
  return 0;
}

static int reject_duplicate_key(header_parser *parser, const char *key,
                                bool seen) {
  if (!seen)
    return 0;
  set_error(parser->error, parser->error_size,
            "%s: malformed .npy header: key '%s' appears more than once",
            parser->path, key);
  return -1;
}

/* Parses the value that follows `key:` and stores it in fields. */
static int parse_entry_value(header_parser *parser, const char *key,
                             header_fields *fields) {
  if (strcmp(key, "descr") == 0) {
    if (reject_duplicate_key(parser, key, fields->has_descr) != 0)
      return -1;
    fields->has_descr = true;
    skip_whitespace(parser);
    if (peek(parser) == '[') {
      set_error(parser->error, parser->error_size,
                "%s: the array has a structured dtype, but only float32 "
                "('<f4') is supported; convert with numpy: x.astype('<f4')",
                parser->path);
      return -1;
    }
    return parse_string(parser, fields->descr, sizeof fields->descr);
  }

  if (strcmp(key, "fortran_order") == 0) {
    if (reject_duplicate_key(parser, key, fields->has_fortran_order) != 0)
      return -1;
    fields->has_fortran_order = true;
    return parse_bool(parser, &fields->fortran_order);
  }

  if (strcmp(key, "shape") == 0) {
    if (reject_duplicate_key(parser, key, fields->has_shape) != 0)
      return -1;
    fields->has_shape = true;
    return parse_shape(parser, fields);
  }

  set_error(parser->error, parser->error_size,
            "%s: malformed .npy header: unknown key '%s' (expected 'descr', "
            "'fortran_order' and 'shape')",
            parser->path, key);
  return -1;
}

static int require_key(header_parser *parser, const char *key, bool seen) {
  if (seen)
    return 0;
  set_error(parser->error, parser->error_size,
            "%s: malformed .npy header: the key '%s' is missing", parser->path,
            key);
  return -1;
}

/*
 * Parses the header dictionary: keys in any order, either quote style, any
 * whitespace and an optional trailing comma. Only whitespace may follow the
 * closing brace.
 */
static int parse_header_dict(header_parser *parser, header_fields *fields) {
  memset(fields, 0, sizeof *fields);

  if (!accept_char(parser, '{')) {
    report_malformed(parser, "'{' to start the dictionary");
    return -1;
  }

  while (!accept_char(parser, '}')) {
    char key[NPY_MAX_STRING_LENGTH + 1];

    if (parse_string(parser, key, sizeof key) != 0)
      return -1;
    if (!accept_char(parser, ':')) {
      report_malformed(parser, "':' after a key");
      return -1;
    }
    if (parse_entry_value(parser, key, fields) != 0)
      return -1;

    if (accept_char(parser, ','))
      continue;
    if (accept_char(parser, '}'))
      break;
    report_malformed(parser, "',' or '}' after a value");
    return -1;
  }

  skip_whitespace(parser);
  if (!at_end(parser)) {
    report_malformed(parser, "only whitespace after the closing '}'");
    return -1;
  }

  if (require_key(parser, "descr", fields->has_descr) != 0 ||
      require_key(parser, "fortran_order", fields->has_fortran_order) != 0 ||
      require_key(parser, "shape", fields->has_shape) != 0)
    return -1;
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Reading                                                                  */

/*
 * The bytes being read: an open file, or a buffer in memory when file is
 * NULL. name is the path, or the caller's name for the buffer, and only
 * appears in messages.
 */
typedef struct npy_source {
  FILE *file;
  const unsigned char *bytes;
  uint64_t size;     /* of the file or the buffer */
  uint64_t position; /* next buffer byte to read; unused for a file */
  const char *name;
} npy_source;

/* Reads up to count bytes from the source and returns how many, as fread. */
static size_t read_source(npy_source *source, void *buffer, size_t count) {
  uint64_t available;

  if (source->file != NULL)
    return fread(buffer, 1, count, source->file);

  available = source->size - source->position;
  if (count > available)
    count = (size_t)available;
  if (count > 0)
    memcpy(buffer, source->bytes + source->position, count);
  source->position += count;
  return count;
}

/* Returns why a read came up short: a file error, or the end of the bytes. */
static const char *short_read_reason(const npy_source *source) {
  if (source->file != NULL && ferror(source->file))
    return strerror(errno);
  return "unexpected end of file";
}

/* Where the header and the data of an open .npy file lie, in bytes. */
typedef struct npy_layout {
  uint64_t file_size;
  uint32_t header_length;
  uint64_t data_offset;
} npy_layout;

static uint32_t read_little_endian(const unsigned char *bytes, int count) {
  uint32_t value = 0;

  for (int i = count - 1; i >= 0; i--)
    value = (value << 8) | bytes[i];
  return value;
}

/* Checks the magic and the version, and reads the header length. */
static int read_preamble(npy_source *source, npy_layout *layout,
                         char *error, size_t error_size) {
  const char *path = source->name;
  unsigned char preamble[NPY_PREAMBLE_SIZE_V2];
  int major;
  int minor;
  int length_bytes;

  if (read_source(source, preamble, 8) != 8 ||
      memcmp(preamble, npy_magic, sizeof npy_magic) != 0) {
    set_error(error, error_size,
              "%s is not a .npy file: it does not start with the magic "
              "\"\\x93NUMPY\"",
              path);
    return -1;
  }

  major = preamble[6];
  minor = preamble[7];
  if ((major != 1 && major != 2 && major != 3) || minor != 0) {
    set_error(error, error_size,
              "%s: unsupported .npy format version %d.%d (this reader "
              "supports 1.0, 2.0 and 3.0)",
              path, major, minor);
    return -1;
  }

  length_bytes = major == 1 ? 2 : 4;
  if (read_source(source, preamble + 8, (size_t)length_bytes) !=
      (size_t)length_bytes) {
    set_error(error, error_size,
              "%s: truncated .npy file: it ends inside the header length "
              "field",
              path);
    return -1;
  }
  layout->header_length = read_little_endian(preamble + 8, length_bytes);
  layout->data_offset = 8u + (uint64_t)length_bytes + layout->header_length;
  return 0;
}

/*
 * Checks that the header length is below the limit and inside the file. Any
 * data alignment is accepted because the data are copied into a new
 * allocation, so files from writers that aligned to 16 bytes instead of 64
 * read too.
 */
static int check_header_length(const char *path, const npy_layout *layout,
                               char *error, size_t error_size) {
  if (layout->header_length > NPY_MAX_HEADER_LENGTH) {
    set_error(error, error_size,
              "%s: the .npy header length %lu bytes is above the limit of %u "
              "bytes; the file is probably corrupt",
              path, (unsigned long)layout->header_length,
              NPY_MAX_HEADER_LENGTH);
    return -1;
  }
  if (layout->data_offset > layout->file_size) {
    set_error(error, error_size,
              "%s: the .npy header length %lu bytes goes past the end of the "
              "file (file size %llu bytes); the file is truncated or corrupt",
              path, (unsigned long)layout->header_length,
              (unsigned long long)layout->file_size);
    return -1;
  }
  return 0;
}

/* Rejects bytes that cannot appear in the ASCII header of a float array. */
static int check_header_characters(const char *path, const char *header,
                                   size_t length, char *error,
                                   size_t error_size) {
  for (size_t i = 0; i < length; i++) {
    unsigned char c = (unsigned char)header[i];

    if ((c < 0x20 || c > 0x7e) && c != '\n' && c != '\r' && c != '\t') {
      set_error(error, error_size,
                "%s: malformed .npy header: byte 0x%02x at character %zu is "
                "not printable ASCII",
                path, c, i);
      return -1;
    }
  }
  return 0;
}

/* Reads and parses the header dictionary that follows the preamble. */
static int read_header(npy_source *source, const npy_layout *layout,
                       header_fields *fields, char *error, size_t error_size) {
  const char *path = source->name;
  size_t length = layout->header_length;
  char *header = malloc(length + 1);
  header_parser parser;
  int status;

  if (header == NULL) {
    set_error(error, error_size,
              "%s: out of memory reading a .npy header of %zu bytes", path,
              length);
    return -1;
  }
  if (read_source(source, header, length) != length) {
    set_error(error, error_size, "%s: reading the .npy header failed: %s",
              path, short_read_reason(source));
    free(header);
    return -1;
  }
  header[length] = '\0';

  status = check_header_characters(path, header, length, error, error_size);
  if (status == 0) {
    parser = (header_parser){header, length, 0, path, error, error_size};
    status = parse_header_dict(&parser, fields);
  }
  free(header);
  return status;
}

/* Accepts only little-endian float32 in C order. */
static int check_fields(const char *path, const header_fields *fields,
                        char *error, size_t error_size) {
  if (strcmp(fields->descr, "<f4") != 0) {
    set_error(error, error_size,
              "%s: the array has dtype '%s', but only little-endian float32 "
              "('<f4') is supported; convert with numpy: x.astype('<f4')",
              path, fields->descr);
    return -1;
  }
  if (fields->fortran_order) {
    set_error(error, error_size,
              "%s: the array is stored in Fortran order, but only C order is "
              "supported; save it with np.save(path, "
              "np.ascontiguousarray(x))",
              path);
    return -1;
  }
  return 0;
}

/* Formats a shape as a Python tuple, for error messages. */
static void format_shape(int rank, const int64_t *shape, char *text,
                         size_t text_size) {
  size_t used = 0;

  used += (size_t)snprintf(text, text_size, "(");
  for (int axis = 0; axis < rank && used < text_size; axis++)
    used += (size_t)snprintf(text + used, text_size - used, "%s%lld",
                             axis > 0 ? ", " : "", (long long)shape[axis]);
  if (used < text_size)
    snprintf(text + used, text_size - used, rank == 1 ? ",)" : ")");
}

/* Checks that the file contains exactly the bytes the shape needs. */
static int check_body_size(const char *path, const npy_layout *layout,
                           const npy_array *array, char *error,
                           size_t error_size) {
  uint64_t expected = (uint64_t)array->count * sizeof(float);
  uint64_t actual = layout->file_size - layout->data_offset;
  char shape_text[256];

  if (actual == expected)
    return 0;

  format_shape(array->rank, array->shape, shape_text, sizeof shape_text);
  if (actual < expected) {
    set_error(error, error_size,
              "%s: truncated .npy file: shape %s needs %llu bytes of data but "
              "only %llu follow the header",
              path, shape_text, (unsigned long long)expected,
              (unsigned long long)actual);
  } else {
    set_error(error, error_size,
              "%s: the .npy file has %llu extra bytes after the %llu bytes of "
              "data that shape %s needs; it may be corrupt or hold more than "
              "one array",
              path, (unsigned long long)(actual - expected),
              (unsigned long long)expected, shape_text);
  }
  return -1;
}

static int read_body(npy_source *source, npy_array *array, char *error,
                     size_t error_size) {
  const char *path = source->name;
  size_t bytes = array->count * sizeof(float);

  /* Allocates at least one element so that an empty array has data too. */
  array->data = malloc(bytes > 0 ? bytes : sizeof(float));
  if (array->data == NULL) {
    set_error(error, error_size,
              "%s: out of memory allocating %zu bytes for the array", path,
              bytes);
    return -1;
  }

  if (read_source(source, array->data, bytes) != bytes) {
    set_error(error, error_size, "%s: reading the array data failed: %s",
              path, short_read_reason(source));
    return -1;
  }

  if (!host_is_little_endian())
    swap_float_bytes(array->data, array->count);
  return 0;
}

/* Parses a whole .npy image from the source into array. */
static int read_npy_source(npy_source *source, npy_array *array, char *error,
                           size_t error_size) {
  const char *path = source->name;
  npy_layout layout;
  header_fields fields;

  layout.file_size = source->size;
  if (read_preamble(source, &layout, error, error_size) != 0 ||
      check_header_length(path, &layout, error, error_size) != 0 ||
      read_header(source, &layout, &fields, error, error_size) != 0 ||
      check_fields(path, &fields, error, error_size) != 0)
    return -1;

  array->rank = fields.rank;
  memcpy(array->shape, fields.shape, sizeof fields.shape);
  if (count_elements(path, array->rank, array->shape, &array->count, error,
                     error_size) != 0)
    return -1;

  if (check_body_size(path, &layout, array, error, error_size) != 0)
    return -1;
  return read_body(source, array, error, error_size);
}

static int read_open_file(FILE *file, const char *path, npy_array *array,
                          char *error, size_t error_size) {
  struct stat status;
  npy_source source = {file, NULL, 0, 0, path};

  if (fstat(fileno(file), &status) != 0) {
    set_error(error, error_size, "cannot get the size of %s: %s", path,
              strerror(errno));
    return -1;
  }
  if (!S_ISREG(status.st_mode)) {
    set_error(error, error_size, "%s is not a regular file", path);
    return -1;
  }
  source.size = (uint64_t)status.st_size;
  return read_npy_source(&source, array, error, error_size);
}

int npy_read(const char *path, npy_array *array, char *error,
             size_t error_size) {
  FILE *file;
  int status;

  if (array == NULL || path == NULL) {
    set_error(error, error_size, "npy_read: path and array must not be NULL");
    return -1;
  }
  memset(array, 0, sizeof *array);

  file = fopen(path, "rb");
  if (file == NULL) {
    set_error(error, error_size, "cannot open %s: %s", path, strerror(errno));
    return -1;
  }

  status = read_open_file(file, path, array, error, error_size);
  fclose(file); /* read-only, so a close error loses nothing */

  if (status != 0)
    npy_array_free(array);
  return status;
}

int npy_read_memory(const void *bytes, size_t size, const char *name,
                    npy_array *array, char *error, size_t error_size) {
  npy_source source = {NULL, bytes, size, 0, name};
  int status;

  if (array == NULL || name == NULL || (bytes == NULL && size > 0)) {
    set_error(error, error_size,
              "npy_read_memory: name and array must not be NULL, nor bytes "
              "when size is above 0");
    return -1;
  }
  memset(array, 0, sizeof *array);

  status = read_npy_source(&source, array, error, error_size);
  if (status != 0)
    npy_array_free(array);
  return status;
}

void npy_array_free(npy_array *array) {
  if (array == NULL)
    return;
  free(array->data);
  memset(array, 0, sizeof *array);
}

/* ------------------------------------------------------------------------ */
/* Writing                                                                  */

/*
 * Formats the header the way NumPy does, dict and padding and '\n', so that
 * the data start at a multiple of NPY_DATA_ALIGNMENT. The caller checked the
 * rank, so the text fits in a few hundred bytes.
 */
static size_t format_header(int rank, const int64_t *shape, char *header,
                            size_t header_size) {
  char shape_text[256];
  int length;
  size_t total;

  format_shape(rank, shape, shape_text, sizeof shape_text);
  length = snprintf(header, header_size,
                    "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }",
                    shape_text);

  /* Room for the '\n' and the padding up to the next aligned offset. */
  total = NPY_PREAMBLE_SIZE_V1 + (size_t)length + 1;
  total = (total + NPY_DATA_ALIGNMENT - 1) / NPY_DATA_ALIGNMENT *
          NPY_DATA_ALIGNMENT;
  total -= NPY_PREAMBLE_SIZE_V1;

  memset(header + length, ' ', total - 1 - (size_t)length);
  header[total - 1] = '\n';
  return total;
}

static int write_header(FILE *file, int rank, const int64_t *shape) {
  char header[512];
  size_t length = format_header(rank, shape, header, sizeof header);
  unsigned char preamble[NPY_PREAMBLE_SIZE_V1];

  memcpy(preamble, npy_magic, sizeof npy_magic);
  preamble[6] = 1;
  preamble[7] = 0;
  preamble[8] = (unsigned char)(length & 0xff);
  preamble[9] = (unsigned char)(length >> 8);

  if (fwrite(preamble, 1, sizeof preamble, file) != sizeof preamble ||
      fwrite(header, 1, length, file) != length)
    return -1;
  return 0;
}

/* Writes the values as little-endian float32 whatever the host order is. */
static int write_data(FILE *file, const float *data, size_t count) {
  float chunk[1024];

  if (host_is_little_endian())
    return fwrite(data, sizeof(float), count, file) == count ? 0 : -1;

  for (size_t start = 0; start < count; start += 1024) {
    size_t length = count - start < 1024 ? count - start : 1024;

    memcpy(chunk, data + start, length * sizeof(float));
    swap_float_bytes(chunk, length);
    if (fwrite(chunk, sizeof(float), length, file) != length)
      return -1;
  }
  return 0;
}

/*
 * Writes header and data, flushes them to disk and closes the file. Closes
 * the file on failure too, with errno kept from the failing call.
 */
static int write_and_close(FILE *file, int rank, const int64_t *shape,
                           const float *data, size_t count) {
  int saved_errno;

  if (write_header(file, rank, shape) != 0 ||
      write_data(file, data, count) != 0 || fflush(file) != 0 ||
      fsync(fileno(file)) != 0) {
    saved_errno = errno;
    fclose(file);
    errno = saved_errno;
    return -1;
  }
  return fclose(file);
}

static int check_write_arguments(const char *path, int rank,
                                 const int64_t *shape, const float *data,
                                 size_t *count, char *error,
                                 size_t error_size) {
  if (rank < 0 || rank > NPY_MAX_RANK) {
    set_error(error, error_size,
              "%s: cannot write an array of rank %d; the rank must be 0 to %d",
              path, rank, NPY_MAX_RANK);
    return -1;
  }
  if (rank > 0 && shape == NULL) {
    set_error(error, error_size, "%s: the shape is NULL for rank %d", path,
              rank);
    return -1;
  }
  if (count_elements(path, rank, shape, count, error, error_size) != 0)
    return -1;
  if (*count > 0 && data == NULL) {
    set_error(error, error_size, "%s: the data are NULL for %zu elements",
              path, *count);
    return -1;
  }
  return 0;
}

int npy_write_temporary(const char *path, int rank, const int64_t *shape,
                        const float *data, char **temporary_path, char *error,
                        size_t error_size) {
  FILE *file;
  size_t count;

  *temporary_path = NULL;
  if (path == NULL) {
    set_error(error, error_size, "npy_write: path must not be NULL");
    return -1;
  }
  if (check_write_arguments(path, rank, shape, data, &count, error,
                            error_size) != 0)
    return -1;

  file = atomic_file_create(path, temporary_path, error, error_size);
  if (file == NULL)
    return -1;

  if (write_and_close(file, rank, shape, data, count) != 0) {
    set_error(error, error_size, "writing %s failed: %s", path,
              strerror(errno));
    atomic_file_discard(*temporary_path);
    *temporary_path = NULL;
    return -1;
  }
  return 0;
}

int npy_write(const char *path, int rank, const int64_t *shape,
              const float *data, char *error, size_t error_size) {
  char *temporary_path;

  if (npy_write_temporary(path, rank, shape, data, &temporary_path, error,
                          error_size) != 0)
    return -1;
  return atomic_file_publish(temporary_path, path, error, error_size);
}
