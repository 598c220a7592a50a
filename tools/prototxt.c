/*
 * Protobuf text format reader for Caffe network files. The grammar handled:
 *   message := field*
 *   field   := NAME ':' scalar | NAME ':'? '{' message '}'
 *            | NAME ':' '[' scalar (',' scalar)* ']'   (one node per item)
 *   scalar  := NUMBER | IDENTIFIER | STRING STRING*    (adjacent strings join)
 * A field may end in ';' or ','. Not handled: `<...>` message delimiters,
 * extension names in brackets and Any expansion, none of which Caffe's
 * network files use.
 */
#define _POSIX_C_SOURCE 200809L

#include "prototxt.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct reader {
  const char *file_name;
  const char *text;
  size_t length;
  size_t position;
  int line;
  int column;
  char *error;
  size_t error_size;
  int failed;
} reader;

/* ------------------------------------------------------------------------ */
/* Characters and errors                                                     */

static int peek(const reader *r) {
  return r->position < r->length ? (unsigned char)r->text[r->position] : -1;
}

static void advance(reader *r) {
  if (r->text[r->position] == '\n') {
    r->line++;
    r->column = 1;
  } else {
    r->column++;
  }
  r->position++;
}

static void skip_space_and_comments(reader *r) {
  for (;;) {
    const int c = peek(r);
    if (c == '#') {
      while (peek(r) != -1 && peek(r) != '\n') {
        advance(r);
      }
    } else if (c != -1 && isspace(c)) {
      advance(r);
    } else {
      return;
    }
  }
}

/* Describes the text at the current position for "found ..." messages. */
static void describe_here(const reader *r, char *buffer, size_t size) {
  const int c = peek(r);
  if (c == -1) {
    snprintf(buffer, size, "end of file");
    return;
  }
  if (c == '\n') {
    snprintf(buffer, size, "end of line");
    return;
  }
  if (!isalnum(c) && c != '_' && c != '-' && c != '.') {
    snprintf(buffer, size, "'%c'", c);
    return;
  }
  size_t end = r->position;
  while (end < r->length && end - r->position < 32 &&
         (isalnum((unsigned char)r->text[end]) || r->text[end] == '_' ||
          r->text[end] == '-' || r->text[end] == '.')) {
    end++;
  }
  snprintf(buffer, size, "'%.*s'", (int)(end - r->position),
           r->text + r->position);
}

/* Records "FILE:LINE:COLUMN: expected WHAT, found ..." once. */
static void fail_expected(reader *r, const char *what) {
  if (r->failed) {
    return;
  }
  char found[48];
  describe_here(r, found, sizeof found);
  snprintf(r->error, r->error_size, "%s:%d:%d: expected %s, found %s",
           r->file_name, r->line, r->column, what, found);
  r->failed = 1;
}

static void fail_out_of_memory(reader *r) {
  if (!r->failed) {
    snprintf(r->error, r->error_size, "%s: out of memory while reading",
             r->file_name);
    r->failed = 1;
  }
}

/* ------------------------------------------------------------------------ */
/* Nodes                                                                     */

static ptx_node *new_node(reader *r, const char *name, size_t name_length,
                          int line, int column) {
  ptx_node *node = calloc(1, sizeof *node);
  if (node == NULL) {
    fail_out_of_memory(r);
    return NULL;
  }
  node->name = strndup(name, name_length);
  if (node->name == NULL) {
    free(node);
    fail_out_of_memory(r);
    return NULL;
  }
  node->line = line;
  node->column = column;
  return node;
}

static void append_child(ptx_node *parent, ptx_node *child) {
  if (parent->last_child == NULL) {
    parent->first_child = child;
  } else {
    parent->last_child->next = child;
  }
  parent->last_child = child;
}

void ptx_free(ptx_node *root) {
  while (root != NULL) {
    ptx_node *next = root->next;
    ptx_free(root->first_child);
    free(root->name);
    free(root->value);
    free(root);
    root = next;
  }
}

/* ------------------------------------------------------------------------ */
/* Scalars                                                                   */

static int is_word_char(int c) {
  return c != -1 && (isalnum(c) || c == '_' || c == '.' || c == '+' ||
                     c == '-');
}

/* Reads a number or identifier (digits, letters, '.', '_', signs). */
static char *read_word(reader *r) {
  const size_t start = r->position;
  while (is_word_char(peek(r))) {
    advance(r);
  }
  char *word = strndup(r->text + start, r->position - start);
  if (word == NULL) {
    fail_out_of_memory(r);
  }
  return word;
}

static int hex_value(int c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

/* Reads the escape after a backslash: C escapes, \NNN octal, \xHH hex. */
static int read_escape(reader *r) {
  const int c = peek(r);
  static const char simple_in[] = "ntrabfv\\'\"?";
  static const char simple_out[] = "\n\t\r\a\b\f\v\\'\"?";
  const char *match = c == -1 ? NULL : strchr(simple_in, c);
  if (match != NULL && c != '\0') {
    advance(r);
    return simple_out[match - simple_in];
  }
  if (c >= '0' && c <= '7') {
    int value = 0;
    for (int i = 0; i < 3 && peek(r) >= '0' && peek(r) <= '7'; i++) {
      value = value * 8 + (peek(r) - '0');
      advance(r);
    }
    return value & 0xff;
  }
  if (c == 'x' || c == 'X') {
    advance(r);
    int value = 0;
    int digits = 0;
    for (; digits < 2 && hex_value(peek(r)) >= 0; digits++) {
      value = value * 16 + hex_value(peek(r));
      advance(r);
    }
    if (digits > 0) {
      return value;
    }
  }
  fail_expected(r, "an escape sequence (\\n, \\t, \\\\, \\\", \\', octal "
                   "\\NNN or hex \\xHH)");
  return -1;
}

/* Appends one quoted string (its opening quote is next) to buffer. */
static int read_one_string(reader *r, char **buffer, size_t *used,
                           size_t *capacity) {
  const int quote = peek(r);
  advance(r);

  for (;;) {
    int c = peek(r);
    if (c == -1 || c == '\n') {
      fail_expected(r, quote == '"' ? "'\"' closing the string"
                                    : "\"'\" closing the string");
      return -1;
    }
    advance(r);
    if (c == quote) {
      return 0;
    }
    if (c == '\\') {
      c = read_escape(r);
      if (c < 0) {
        return -1;
      }
    }
    if (*used + 2 > *capacity) {
      const size_t grown = *capacity * 2 + 16;
      char *larger = realloc(*buffer, grown);
      if (larger == NULL) {
        fail_out_of_memory(r);
        return -1;
      }
      *buffer = larger;
      *capacity = grown;
    }
    (*buffer)[(*used)++] = (char)c;
    (*buffer)[*used] = '\0';
  }
}

/* Reads one or more adjacent quoted strings into one value. */
static char *read_string(reader *r) {
  char *buffer = calloc(1, 16);
  size_t used = 0;
  size_t capacity = 16;
  if (buffer == NULL) {
    fail_out_of_memory(r);
    return NULL;
  }

  while (peek(r) == '"' || peek(r) == '\'') {
    if (read_one_string(r, &buffer, &used, &capacity) != 0) {
      free(buffer);
      return NULL;
    }
    skip_space_and_comments(r);
  }
  return buffer;
}

/* Reads a scalar into node->value. */
static int read_scalar(reader *r, ptx_node *node) {
  const int c = peek(r);
  if (c == '"' || c == '\'') {
    node->value = read_string(r);
    node->is_string = 1;
  } else if (is_word_char(c)) {
    node->value = read_word(r);
  } else {
    fail_expected(r, "a value (number, string, identifier or '{')");
    return -1;
  }
  return node->value == NULL ? -1 : 0;
}

/* ------------------------------------------------------------------------ */
/* Fields and messages                                                       */

static int read_fields(reader *r, ptx_node *message, int nested);

static int read_nested(reader *r, ptx_node *node) {
  advance(r); /* '{' */
  if (read_fields(r, node, 1) != 0) {
    return -1;
  }
  advance(r); /* '}' */
  return 0;
}

/* Reads `[a, b, ...]`, adding one node per item after the first one. */
static int read_list(reader *r, ptx_node *message, ptx_node *first) {
  advance(r); /* '[' */
  skip_space_and_comments(r);
  ptx_node *node = first;
  while (peek(r) != ']') {
    if (node == NULL) {
      node = new_node(r, first->name, strlen(first->name), r->line,
                      r->column);
      if (node == NULL) {
        return -1;
      }
      append_child(message, node);
    }
    const int rc = peek(r) == '{' ? read_nested(r, node) : read_scalar(r, node);
    if (rc != 0) {
      return -1;
    }
    node = NULL;
    skip_space_and_comments(r);
    if (peek(r) == ',') {
      advance(r);
      skip_space_and_comments(r);
    } else if (peek(r) != ']') {
      fail_expected(r, "',' or ']' in the list");
      return -1;
    }
  }
  advance(r); /* ']' */
  return 0;
}

/* Reads the part after a field name: ': value', ': {', '{' or ': ['. */
static int read_field_value(reader *r, ptx_node *message, ptx_node *node) {
  skip_space_and_comments(r);
  int has_colon = 0;
  if (peek(r) == ':') {
    has_colon = 1;
    advance(r);
    skip_space_and_comments(r);
  }

  if (peek(r) == '{') {
    return read_nested(r, node);
  }
  if (!has_colon) {
    fail_expected(r, "':' or '{' after the field name");
    return -1;
  }
  if (peek(r) == '[') {
    return read_list(r, message, node);
  }
  return read_scalar(r, node);
}

static int read_field(reader *r, ptx_node *message) {
  const int line = r->line;
  const int column = r->column;
  const size_t start = r->position;
  while (peek(r) != -1 && (isalnum(peek(r)) || peek(r) == '_')) {
    advance(r);
  }

  ptx_node *node = new_node(r, r->text + start, r->position - start, line,
                            column);
  if (node == NULL) {
    return -1;
  }
  append_child(message, node);
  if (read_field_value(r, message, node) != 0) {
    return -1;
  }

  skip_space_and_comments(r);
  if (peek(r) == ';' || peek(r) == ',') {
    advance(r);
  }
  return 0;
}

/*
 * Reads fields until '}' (nested, left unread) or the end of the text
 * (top level).
 */
static int read_fields(reader *r, ptx_node *message, int nested) {
  for (;;) {
    skip_space_and_comments(r);
    const int c = peek(r);
    if (c == -1) {
      if (nested) {
        fail_expected(r, "'}' closing the message");
        return -1;
      }
      return 0;
    }
    if (c == '}' && nested) {
      return 0;
    }
    if (!isalpha(c) && c != '_') {
      fail_expected(r, nested ? "a field name or '}'" : "a field name");
      return -1;
    }
    if (read_field(r, message) != 0) {
      return -1;
    }
  }
}

int ptx_parse(const char *file_name, const char *text, size_t length,
              ptx_node **root, char *error, size_t error_size) {
  reader r = {file_name, text, length, 0, 1, 1, error, error_size, 0};
  *root = new_node(&r, "", 0, 1, 1);
  if (*root == NULL) {
    return -1;
  }

  if (read_fields(&r, *root, 0) != 0 || r.failed) {
    ptx_free(*root);
    *root = NULL;
    return -1;
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* Files                                                                     */

static char *read_file(const char *path, size_t *length, char *error,
                       size_t error_size) {
  FILE *file = fopen(path, "rb");
  if (file == NULL) {
    snprintf(error, error_size, "%s: cannot open: %s", path, strerror(errno));
    return NULL;
  }

  size_t capacity = 65536;
  size_t used = 0;
  char *text = malloc(capacity);
  while (text != NULL) {
    used += fread(text + used, 1, capacity - used, file);
    if (used < capacity) {
      break;
    }
    capacity *= 2;
    char *larger = realloc(text, capacity);
    if (larger == NULL) {
      free(text);
    }
    text = larger;
  }

  const int read_error = ferror(file);
  fclose(file);
  if (text == NULL) {
    snprintf(error, error_size, "%s: out of memory while reading", path);
    return NULL;
  }
  if (read_error) {
    snprintf(error, error_size, "%s: read failed", path);
    free(text);
    return NULL;
  }
  *length = used;
  return text;
}

int ptx_parse_file(const char *path, ptx_node **root, char *error,
                   size_t error_size) {
  size_t length = 0;
  char *text = read_file(path, &length, error, error_size);
  if (text == NULL) {
    *root = NULL;
    return -2;
  }
  const int rc = ptx_parse(path, text, length, root, error, error_size);
  free(text);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Lookups and conversions                                                   */

const ptx_node *ptx_find(const ptx_node *message, const char *name) {
  for (const ptx_node *child = message->first_child; child != NULL;
       child = child->next) {
    if (strcmp(child->name, name) == 0) {
      return child;
    }
  }
  return NULL;
}

const ptx_node *ptx_find_next(const ptx_node *node) {
  for (const ptx_node *next = node->next; next != NULL; next = next->next) {
    if (strcmp(next->name, node->name) == 0) {
      return next;
    }
  }
  return NULL;
}

size_t ptx_count(const ptx_node *message, const char *name) {
  size_t count = 0;
  for (const ptx_node *node = ptx_find(message, name); node != NULL;
       node = ptx_find_next(node)) {
    count++;
  }
  return count;
}

int ptx_int64(const char *file_name, const ptx_node *node, int64_t *value,
              char *error, size_t error_size) {
  if (node->value != NULL && !node->is_string) {
    char *end = NULL;
    errno = 0;
    const long long parsed = strtoll(node->value, &end, 0);
    if (errno == 0 && end != node->value && *end == '\0') {
      *value = (int64_t)parsed;
      return 0;
    }
  }
  snprintf(error, error_size, "%s:%d:%d: expected an integer for %s, found %s",
           file_name, node->line, node->column, node->name,
           node->value == NULL ? "a message" : node->value);
  return -1;
}

int ptx_bool(const char *file_name, const ptx_node *node, int *value,
             char *error, size_t error_size) {
  if (node->value != NULL && !node->is_string) {
    if (strcmp(node->value, "true") == 0 || strcmp(node->value, "1") == 0) {
      *value = 1;
      return 0;
    }
    if (strcmp(node->value, "false") == 0 || strcmp(node->value, "0") == 0) {
      *value = 0;
      return 0;
    }
  }
  snprintf(error, error_size, "%s:%d:%d: expected true or false for %s, "
           "found %s",
           file_name, node->line, node->column, node->name,
           node->value == NULL ? "a message" : node->value);
  return -1;
}
