#define _POSIX_C_SOURCE 200809L
#include "tune/tuning_db.h"

#include "program/disk_cache.h"
#include "util/alloc.h"
#include "util/error.h"
#include "util/log.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Times are stored as whole nanoseconds, an integer, so that the file does
 * not depend on the locale's decimal point; 1e9 s keeps them below 2^63. */
#define MAX_SECONDS 1e9
#define MAX_NANOSECONDS 1000000000000000000ULL

/* Warnings about corrupt lines per read; the rest are only counted. */
#define MAX_LINE_WARNINGS 3

#define FILE_HEADER                                                            \
  "# groupcl tuning database, one entry per line, tab-separated: device "    \
  "key, layer key, algorithm, nanoseconds\n"

/* ---- keys --------------------------------------------------------------- */

/* Output like snprintf: the length counts what did not fit, too. */
typedef struct key_writer {
  char *buffer;
  size_t size;
  size_t length;
} key_writer;

static void put_char(key_writer *writer, char c) {
  if (writer->length + 1 < writer->size)
    writer->buffer[writer->length] = c;
  writer->length++;
}

/* Terminates the buffer, cutting the key short if it did not fit. */
static size_t finish_key(key_writer *writer) {
  if (writer->size > 0)
    writer->buffer[writer->length < writer->size ? writer->length
                                                 : writer->size - 1] = '\0';
  return writer->length;
}

static void put_text(key_writer *writer, const char *text) {
  for (; *text != '\0'; text++)
    put_char(writer, *text);
}

/* Escapes the separator '|' and every character that may not appear in a
 * database field, so distinct names always give distinct keys. */
static void put_escaped(key_writer *writer, const char *text) {
  for (; *text != '\0'; text++) {
    switch (*text) {
    case '\\':
      put_text(writer, "\\\\");
      break;
    case '|':
      put_text(writer, "\\|");
      break;
    case '\t':
      put_text(writer, "\\t");
      break;
    case '\n':
      put_text(writer, "\\n");
      break;
    case '\r':
      put_text(writer, "\\r");
      break;
    default:
      put_char(writer, *text);
    }
  }
}

static void put_number(key_writer *writer, const char *name, int64_t value) {
  char text[64];

  snprintf(text, sizeof text, " %s=%" PRId64, name, value);
  put_text(writer, text);
}

static void put_triple(key_writer *writer, const char *name,
                       const int64_t *values) {
  char text[96];

  snprintf(text, sizeof text, " %s=%" PRId64 "x%" PRId64 "x%" PRId64, name,
           values[0], values[1], values[2]);
  put_text(writer, text);
}

size_t gcl_tuning_device_key(const gcl_device_info *info, char *buffer,
                             size_t size) {
  key_writer writer = {buffer, size, 0};
  char version[64];

  snprintf(version, sizeof version, "groupcl %d.%d.%d", GCL_VERSION_MAJOR,
           GCL_VERSION_MINOR, GCL_VERSION_PATCH);
  put_escaped(&writer, info->platform_name);
  put_text(&writer, " | ");
  put_escaped(&writer, info->device_name);
  put_text(&writer, " | ");
  put_escaped(&writer, info->driver_version);
  put_text(&writer, " | ");
  put_text(&writer, version);
  return finish_key(&writer);
}

size_t gcl_tuning_layer_key(const gcl_geometry *geometry, char *buffer,
                            size_t size) {
  key_writer writer = {buffer, size, 0};

  put_text(&writer, "conv");
  put_number(&writer, "dims", geometry->spatial_dims);
  put_number(&writer, "batch", geometry->batch);
  put_number(&writer, "channels", geometry->channels);
  put_number(&writer, "num_output", geometry->num_output);
  put_number(&writer, "group", geometry->group);
  put_number(&writer, "channels_per_group", geometry->channels_per_group);
  put_number(&writer, "outputs_per_group", geometry->outputs_per_group);
  put_triple(&writer, "in", geometry->in);
  put_triple(&writer, "out", geometry->out);
  put_triple(&writer, "kernel", geometry->kernel);
  put_triple(&writer, "stride", geometry->stride);
  put_triple(&writer, "pad", geometry->pad);
  /* Written only when they differ from a plain convolution, so that keys
     stored before these fields existed still match. */
  if (memcmp(geometry->pad_after, geometry->pad, sizeof geometry->pad) != 0)
    put_triple(&writer, "pad_after", geometry->pad_after);
  if (geometry->transposed) {
    put_number(&writer, "transposed", 1);
    put_triple(&writer, "output_padding", geometry->output_padding);
  }
  put_triple(&writer, "dilation", geometry->dilation);
  put_number(&writer, "in_size", geometry->in_size);
  put_number(&writer, "out_size", geometry->out_size);
  put_number(&writer, "kernel_size", geometry->kernel_size);
  put_number(&writer, "bias", geometry->bias_term);
  return finish_key(&writer);
}

/* ---- the table in memory ---------------------------------------------------- */

typedef struct tuning_entry {
  char *device_key;
  char *layer_key;
  char *algorithm;
  uint64_t nanoseconds;
} tuning_entry;

typedef struct tuning_table {
  tuning_entry *entries;
  size_t count;
  size_t capacity;
} tuning_table;

static void free_table(tuning_table *table) {
  for (size_t i = 0; i < table->count; i++) {
    gcl_free(table->entries[i].device_key);
    gcl_free(table->entries[i].layer_key);
    gcl_free(table->entries[i].algorithm);
  }
  gcl_free(table->entries);
  memset(table, 0, sizeof *table);
}

static tuning_entry *find_entry(const tuning_table *table,
                                const char *device_key,
                                const char *layer_key) {
  for (size_t i = 0; i < table->count; i++) {
    tuning_entry *entry = &table->entries[i];

    if (strcmp(entry->device_key, device_key) == 0 &&
        strcmp(entry->layer_key, layer_key) == 0)
      return entry;
  }
  return NULL;
}

/* Replaces the entry for the two keys or appends one; 0 if out of memory. */
static int put_entry(tuning_table *table, const char *device_key,
                     const char *layer_key, const char *algorithm,
                     uint64_t nanoseconds) {
  tuning_entry *entry = find_entry(table, device_key, layer_key);
  char *copy = gcl_strdup(algorithm);

  if (copy == NULL)
    return 0;
  if (entry != NULL) {
    gcl_free(entry->algorithm);
    entry->algorithm = copy;
    entry->nanoseconds = nanoseconds;
    return 1;
  }

  if (table->count == table->capacity) {
    size_t capacity = table->capacity > 0 ? table->capacity * 2 : 16;
    tuning_entry *grown =
        gcl_realloc(table->entries, capacity * sizeof *table->entries);

    if (grown == NULL) {
      gcl_free(copy);
      return 0;
    }
    table->entries = grown;
    table->capacity = capacity;
  }
  entry = &table->entries[table->count];
  entry->device_key = gcl_strdup(device_key);
  entry->layer_key = gcl_strdup(layer_key);
  entry->algorithm = copy;
  entry->nanoseconds = nanoseconds;
  if (entry->device_key == NULL || entry->layer_key == NULL) {
    gcl_free(entry->device_key);
    gcl_free(entry->layer_key);
    gcl_free(copy);
    return 0;
  }
  table->count++;
  return 1;
}

/* ---- reading the file ------------------------------------------------------- */

/* Parses whole nanoseconds: decimal digits only, at most MAX_NANOSECONDS. */
static int parse_nanoseconds(const char *text, uint64_t *value) {
  char *end;
  unsigned long long parsed;

  if (text[0] < '0' || text[0] > '9')
    return 0;
  errno = 0;
  parsed = strtoull(text, &end, 10);
  if (errno != 0 || *end != '\0' || parsed > MAX_NANOSECONDS)
    return 0;
  *value = parsed;
  return 1;
}

/*
 * Splits one line (without its newline) into the table. Returns 1 when the
 * line was used or is a comment, 0 with a reason when it is corrupt, and -1
 * when memory ran out.
 */
static int parse_line(tuning_table *table, char *line, const char **reason) {
  char *fields[4];
  size_t count = 0;
  uint64_t nanoseconds;

  if (line[0] == '#' || line[0] == '\0')
    return 1;
  for (char *cursor = line;; cursor++) {
    if (count == 4) {
      *reason = "more than 4 tab-separated fields";
      return 0;
    }
    fields[count++] = cursor;
    cursor = strchr(cursor, '\t');
    if (cursor == NULL)
      break;
    *cursor = '\0';
  }

  if (count != 4) {
    *reason = "fewer than 4 tab-separated fields";
    return 0;
  }
  if (fields[0][0] == '\0' || fields[1][0] == '\0' || fields[2][0] == '\0') {
    *reason = "an empty key or algorithm";
    return 0;
  }
  if (!parse_nanoseconds(fields[3], &nanoseconds)) {
    *reason = "the time is not a whole number of nanoseconds below 1e18";
    return 0;
  }
  return put_entry(table, fields[0], fields[1], fields[2], nanoseconds) ? 1
                                                                       : -1;
}

/* Removes a trailing newline and carriage return. */
static void strip_line_end(char *line, ssize_t *length) {
  while (*length > 0 &&
         (line[*length - 1] == '\n' || line[*length - 1] == '\r'))
    line[--*length] = '\0';
}

static void warn_unreadable(const char *path, int code) {
  char text[256];

  /* strerror_r, unlike strerror, is safe when several threads fail. */
  if (strerror_r(code, text, sizeof text) != 0)
    snprintf(text, sizeof text, "error %d", code);
  GCL_LOG_WARN("tuning database %s cannot be read: %s; it counts as empty",
               path, text);
}

/*
 * Reads every valid line of path into table; corrupt lines are skipped
 * with a warning. A missing file is an empty table, and an unreadable one
 * too, with a warning. Fails only when host memory runs out.
 */
static gcl_status read_table(const char *path, tuning_table *table) {
  FILE *file = fopen(path, "r");
  char *line = NULL;
  size_t capacity = 0, line_number = 0, corrupt = 0;
  ssize_t length;
  int result = 1;

  memset(table, 0, sizeof *table);
  if (file == NULL) {
    if (errno != ENOENT)
      warn_unreadable(path, errno);
    return GCL_SUCCESS;
  }

  while (result >= 0 && (length = getline(&line, &capacity, file)) >= 0) {
    const char *reason = NULL;

    line_number++;
    strip_line_end(line, &length);
    result = parse_line(table, line, &reason);
    if (result == 0 && ++corrupt <= MAX_LINE_WARNINGS)
      GCL_LOG_WARN("tuning database %s: skipping line %zu: %s; the next "
                   "store drops it",
                   path, line_number, reason);
  }
  if (corrupt > MAX_LINE_WARNINGS)
    GCL_LOG_WARN("tuning database %s: skipped %zu more corrupt lines", path,
                 corrupt - MAX_LINE_WARNINGS);
  if (result >= 0 && ferror(file))
    GCL_LOG_WARN("tuning database %s: read error after line %zu; using the "
                 "lines before it",
                 path, line_number);
  free(line);
  fclose(file);

  if (result < 0) {
    free_table(table);
    return gcl_fail(GCL_ERROR_OUT_OF_MEMORY,
                    "out of host memory reading the tuning database %s",
                    path);
  }
  return GCL_SUCCESS;
}

/* ---- writing the file ------------------------------------------------------- */

/* Formats the whole file; returns it malloc'd with its length, or NULL. */
static char *format_table(const tuning_table *table, size_t *length) {
  size_t size = sizeof FILE_HEADER;
  char *text, *cursor;

  for (size_t i = 0; i < table->count; i++) {
    const tuning_entry *entry = &table->entries[i];

    /* Three tabs, a newline and at most 20 digits. */
    size += strlen(entry->device_key) + strlen(entry->layer_key) +
            strlen(entry->algorithm) + 4 + 20;
  }
  text = gcl_malloc(size);
  if (text == NULL)
    return NULL;

  cursor = text + snprintf(text, size, "%s", FILE_HEADER);
  for (size_t i = 0; i < table->count; i++) {
    const tuning_entry *entry = &table->entries[i];

    cursor += snprintf(cursor, size - (size_t)(cursor - text),
                       "%s\t%s\t%s\t%" PRIu64 "\n", entry->device_key,
                       entry->layer_key, entry->algorithm,
                       entry->nanoseconds);
  }
  *length = (size_t)(cursor - text);
  return text;
}

/* ---- public functions ------------------------------------------------------- */

/* Checks one key or name: present, not empty, no tab, newline or CR, and
 * no leading '#', which would turn its line into a comment. */
static gcl_status check_field(const char *function, const char *name,
                              const char *value) {
  if (value == NULL || value[0] == '\0')
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "%s: %s must be a non-empty string", function, name);
  if (value[0] == '#')
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "%s: %s '%s' starts with '#', which marks a comment in "
                    "the tuning database",
                    function, name, value);
  if (strpbrk(value, "\t\n\r") != NULL)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "%s: %s '%s' contains a tab or line break; build keys "
                    "with gcl_tuning_device_key and gcl_tuning_layer_key, "
                    "which escape them",
                    function, name, value);
  return GCL_SUCCESS;
}

static gcl_status check_keys(const char *function, const char *device_key,
                             const char *layer_key) {
  gcl_status status = check_field(function, "device_key", device_key);

  if (status == GCL_SUCCESS)
    status = check_field(function, "layer_key", layer_key);
  return status;
}

/* Fills the cache folder and the database path; 0 if there is none. */
static int database_paths(char *folder, char *path) {
  return gcl_disk_cache_folder(folder, GCL_CACHE_PATH_MAX) &&
         snprintf(path, GCL_CACHE_PATH_MAX, "%s/%s", folder,
                  GCL_TUNING_FILE_NAME) < GCL_CACHE_PATH_MAX;
}

gcl_status gcl_tuning_lookup(const char *device_key, const char *layer_key,
                             char *algorithm, size_t size, double *seconds,
                             int *found) {
  char folder[GCL_CACHE_PATH_MAX], path[GCL_CACHE_PATH_MAX];
  tuning_table table;
  const tuning_entry *entry;
  gcl_status status;

  if (algorithm == NULL || size == 0 || seconds == NULL || found == NULL)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "gcl_tuning_lookup: algorithm, seconds and found must "
                    "not be NULL and size must be positive");
  *found = 0;
  status = check_keys("gcl_tuning_lookup", device_key, layer_key);
  if (status != GCL_SUCCESS || !gcl_disk_cache_enabled() ||
      !database_paths(folder, path))
    return status;

  status = read_table(path, &table);
  if (status != GCL_SUCCESS)
    return status;
  entry = find_entry(&table, device_key, layer_key);
  if (entry != NULL && strlen(entry->algorithm) >= size)
    status = gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                      "gcl_tuning_lookup: the stored algorithm name '%s' "
                      "does not fit in %zu bytes; pass a larger buffer",
                      entry->algorithm, size);
  else if (entry != NULL) {
    memcpy(algorithm, entry->algorithm, strlen(entry->algorithm) + 1);
    *seconds = (double)entry->nanoseconds / 1e9;
    *found = 1;
  }
  free_table(&table);
  return status;
}

/* Reads the database, puts the entry in and writes it back atomically. */
static gcl_status update_file(const char *folder, const char *path,
                              const char *device_key, const char *layer_key,
                              const char *algorithm, uint64_t nanoseconds) {
  tuning_table table;
  char *text = NULL;
  size_t length = 0;
  gcl_status status = read_table(path, &table);

  if (status != GCL_SUCCESS)
    return status;
  if (put_entry(&table, device_key, layer_key, algorithm, nanoseconds))
    text = format_table(&table, &length);
  free_table(&table);
  if (text == NULL)
    return gcl_fail(GCL_ERROR_OUT_OF_MEMORY,
                    "out of host memory writing the tuning database %s",
                    path);

  status = gcl_disk_cache_write_file(folder, path, text, length);
  gcl_free(text);
  return status;
}

gcl_status gcl_tuning_store(const char *device_key, const char *layer_key,
                            const char *algorithm, double seconds) {
  char folder[GCL_CACHE_PATH_MAX], path[GCL_CACHE_PATH_MAX];
  gcl_status status = check_keys("gcl_tuning_store", device_key, layer_key);

  if (status == GCL_SUCCESS)
    status = check_field("gcl_tuning_store", "algorithm", algorithm);
  if (status != GCL_SUCCESS)
    return status;
  if (!isfinite(seconds) || seconds < 0.0 || seconds >= MAX_SECONDS)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "gcl_tuning_store: seconds is %g; it must be finite, >= 0 "
                    "and below %g",
                    seconds, MAX_SECONDS);
  if (!gcl_disk_cache_enabled())
    return GCL_SUCCESS;
  if (!database_paths(folder, path))
    return gcl_fail(GCL_ERROR_IO,
                    "no cache folder for the tuning database; set "
                    "GROUPCL_CACHE_DIR, XDG_CACHE_HOME or HOME, or "
                    "GROUPCL_CACHE=off");

  return update_file(folder, path, device_key, layer_key, algorithm,
                     (uint64_t)(seconds * 1e9 + 0.5));
}
