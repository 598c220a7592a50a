#define _POSIX_C_SOURCE 200809L
#include "atomic_file.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void set_error(char *error, size_t error_size, const char *format,
                      ...) {
  va_list args;

  if (error == NULL || error_size == 0)
    return;
  va_start(args, format);
  vsnprintf(error, error_size, format, args);
  va_end(args);
}

/*
 * Returns the mode a new file gets from open(..., 0666): mkstemp creates
 * 0600 files, which would surprise a user who later shares the output.
 * NOTE: umask can only be read by setting it, so this briefly changes the
 * process umask and is not safe while other threads create files.
 */
static mode_t default_file_mode(void) {
  mode_t mask = umask(0);

  umask(mask);
  return 0666 & ~mask;
}

FILE *atomic_file_create(const char *path, char **temporary_path, char *error,
                         size_t error_size) {
  static const char suffix[] = ".tmpXXXXXX";
  size_t length = strlen(path);
  FILE *file = NULL;
  int descriptor;

  *temporary_path = malloc(length + sizeof suffix);
  if (*temporary_path == NULL) {
    set_error(error, error_size, "%s: out of memory", path);
    return NULL;
  }
  memcpy(*temporary_path, path, length);
  memcpy(*temporary_path + length, suffix, sizeof suffix);

  descriptor = mkstemp(*temporary_path);
  if (descriptor < 0) {
    set_error(error, error_size,
              "cannot create a temporary file next to %s: %s; check that the "
              "folder exists and is writable",
              path, strerror(errno));
    free(*temporary_path);
    *temporary_path = NULL;
    return NULL;
  }

  if (fchmod(descriptor, default_file_mode()) == 0)
    file = fdopen(descriptor, "wb");
  if (file == NULL) {
    set_error(error, error_size, "cannot prepare %s for writing: %s",
              *temporary_path, strerror(errno));
    close(descriptor);
    unlink(*temporary_path);
    free(*temporary_path);
    *temporary_path = NULL;
    return NULL;
  }
  return file;
}

int atomic_file_publish(char *temporary_path, const char *path, char *error,
                        size_t error_size) {
  if (rename(temporary_path, path) != 0) {
    set_error(error, error_size, "cannot rename %s to %s: %s", temporary_path,
              path, strerror(errno));
    unlink(temporary_path);
    free(temporary_path);
    return -1;
  }
  free(temporary_path);
  return 0;
}

void atomic_file_discard(char *temporary_path) {
  if (temporary_path == NULL)
    return;
  unlink(temporary_path);
  free(temporary_path);
}
