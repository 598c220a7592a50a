#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

static gcl_log_level threshold = GCL_LOG_OFF;
static pthread_once_t threshold_once = PTHREAD_ONCE_INIT;

static void read_threshold(void) {
  static const char *const names[] = {"off", "error", "warn", "info", "debug"};
  const char *value = getenv("GROUPCL_LOG");

  if (value == NULL || value[0] == '\0')
    return;
  for (int level = 0; level <= GCL_LOG_DEBUG; level++) {
    if (strcmp(value, names[level]) == 0) {
      threshold = (gcl_log_level)level;
      return;
    }
  }

  /* The user asked for logging, so a misspelt level gets one warning and
   * the warning level, rather than silence. */
  threshold = GCL_LOG_WARN;
  fprintf(stderr,
          "groupcl warning: GROUPCL_LOG=%s is not a level; use off, error, "
          "warn, info or debug\n",
          value);
}

gcl_log_level gcl_log_threshold(void) {
  pthread_once(&threshold_once, read_threshold);
  return threshold;
}

void gcl_log_write(gcl_log_level level, const char *format, ...) {
  static const char *const labels[] = {"", "error", "warning", "info",
                                       "debug"};
  char line[2048];
  va_list args;

  va_start(args, format);
  vsnprintf(line, sizeof line, format, args);
  va_end(args);

  /* One fprintf call per line, so lines from several threads do not mix. */
  fprintf(stderr, "groupcl %s: %s\n", labels[level], line);
}
