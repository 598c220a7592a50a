/*
 * A reader for protobuf text format as Caffe's .prototxt files use it:
 * `name: value` fields (numbers, quoted strings, enum identifiers, true and
 * false), nested messages `name { ... }` or `name: { ... }`, repeated fields,
 * `[a, b]` lists and `#` comments. It builds a tree without a schema, so
 * every value stays text until the caller converts it.
 */
#ifndef GROUPCL_TOOLS_PROTOTXT_H
#define GROUPCL_TOOLS_PROTOTXT_H

#include <stddef.h>
#include <stdint.h>

/* One field: a scalar (value != NULL) or a message (value == NULL). */
typedef struct ptx_node {
  char *name;
  char *value;      /* scalar text; strings are unescaped */
  int is_string;    /* the value was a quoted string */
  int line;         /* 1-based position of the field name */
  int column;
  struct ptx_node *first_child;
  struct ptx_node *last_child;
  struct ptx_node *next; /* next field of the same message */
} ptx_node;

/*
 * Parses text (length bytes, need not be NUL-terminated) into a root message
 * named "" and returns 0. On malformed input it returns -1 and writes
 * "FILE:LINE:COLUMN: expected ..., found ..." into error; out of memory
 * also returns -1 with a message.
 */
int ptx_parse(const char *file_name, const char *text, size_t length,
              ptx_node **root, char *error, size_t error_size);

/* Reads and parses a file; a file that cannot be read returns -2. */
int ptx_parse_file(const char *path, ptx_node **root, char *error,
                   size_t error_size);

/* Frees a tree. Accepts NULL. */
void ptx_free(ptx_node *root);

/* Returns the first field named name in message, or NULL. */
const ptx_node *ptx_find(const ptx_node *message, const char *name);

/* Returns the next field after node with the same name, or NULL. */
const ptx_node *ptx_find_next(const ptx_node *node);

/* Counts the fields named name in message. */
size_t ptx_count(const ptx_node *message, const char *name);

/*
 * Converts a scalar field to an integer and returns 0, or returns -1 and
 * writes "FILE:LINE:COLUMN: expected an integer for NAME, found ..." into
 * error when the field is a message or its text is not an integer.
 */
int ptx_int64(const char *file_name, const ptx_node *node, int64_t *value,
              char *error, size_t error_size);

/* Converts true/false (or 1/0) like ptx_int64. */
int ptx_bool(const char *file_name, const ptx_node *node, int *value,
             char *error, size_t error_size);

#endif
