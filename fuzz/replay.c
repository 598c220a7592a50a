/*
 * Replay driver for make check: feeds stored inputs to a fuzz harness's
 * LLVMFuzzerTestOneInput without libFuzzer, so any compiler can build it.
 *
 * Usage: replay_HARNESS [PATH...]
 * Each PATH is a file or a folder, whose files run in name order. Names
 * starting with '.' are skipped, so a folder can keep a placeholder file.
 * Without PATHs the folders in FUZZ_REPLAY_DIRS run, a ':'-separated list
 * set at build time: the harness's seed corpus and regression inputs.
 *
 * Exits 0 after every input ran, and 1 when a path cannot be read or no
 * input was found. An input that breaks a harness check aborts the process,
 * which the test harness reports as a failure. The name of each input is
 * printed before it runs, so the log names the one that aborted.
 */
#define _POSIX_C_SOURCE 200809L

#include "fuzz.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#ifndef FUZZ_REPLAY_DIRS
#define FUZZ_REPLAY_DIRS ""
#endif

/* Reads a whole file into an allocation of exactly its size, so that
 * AddressSanitizer catches a harness that reads past the end. */
static int read_input(const char *path, uint8_t **data, size_t *size) {
  FILE *file = fopen(path, "rb");
  struct stat status;

  if (file == NULL || fstat(fileno(file), &status) != 0) {
    fprintf(stderr, "replay: cannot read %s: %s\n", path, strerror(errno));
    if (file != NULL)
      fclose(file);
    return -1;
  }

  *size = (size_t)status.st_size;
  *data = malloc(*size > 0 ? *size : 1);
  if (*data == NULL || fread(*data, 1, *size, file) != *size) {
    fprintf(stderr, "replay: cannot read the %zu bytes of %s\n", *size,
            path);
    free(*data);
    fclose(file);
    return -1;
  }
  fclose(file);
  return 0;
}

static int replay_file(const char *path) {
  uint8_t *data = NULL;
  size_t size = 0;

  if (read_input(path, &data, &size) != 0)
    return -1;
  printf("replaying %s (%zu bytes)\n", path, size);
  fflush(stdout);
  LLVMFuzzerTestOneInput(data, size);
  free(data);
  return 0;
}

static int skip_hidden(const struct dirent *entry) {
  return entry->d_name[0] != '.';
}

/* Replays every file of a folder and adds their number to *count. */
static int replay_folder(const char *folder, size_t *count) {
  struct dirent **entries = NULL;
  int entry_count = scandir(folder, &entries, skip_hidden, alphasort);
  int rc = 0;

  if (entry_count < 0) {
    fprintf(stderr, "replay: cannot list %s: %s\n", folder, strerror(errno));
    return -1;
  }
  for (int i = 0; i < entry_count; i++) {
    char path[4096];

    snprintf(path, sizeof path, "%s/%s", folder, entries[i]->d_name);
    if (rc == 0 && replay_file(path) != 0)
      rc = -1;
    else if (rc == 0)
      (*count)++;
    free(entries[i]);
  }
  free(entries);
  return rc;
}

static int replay_path(const char *path, size_t *count) {
  struct stat status;

  if (stat(path, &status) != 0) {
    fprintf(stderr, "replay: cannot open %s: %s\n", path, strerror(errno));
    return -1;
  }
  if (S_ISDIR(status.st_mode))
    return replay_folder(path, count);
  if (replay_file(path) != 0)
    return -1;
  (*count)++;
  return 0;
}

/* Replays each folder of the ':'-separated list. */
static int replay_list(const char *list, size_t *count) {
  char *copy = strdup(list);
  int rc = 0;

  if (copy == NULL) {
    fputs("replay: out of memory\n", stderr);
    return -1;
  }
  for (char *folder = copy; folder != NULL && rc == 0;) {
    char *colon = strchr(folder, ':');
    if (colon != NULL)
      *colon = '\0';
    if (folder[0] != '\0')
      rc = replay_path(folder, count);
    folder = colon != NULL ? colon + 1 : NULL;
  }
  free(copy);
  return rc;
}

int main(int argc, char **argv) {
  size_t count = 0;
  int rc = 0;

  if (argc > 1) {
    for (int i = 1; i < argc && rc == 0; i++)
      rc = replay_path(argv[i], &count);
  } else {
    rc = replay_list(FUZZ_REPLAY_DIRS, &count);
  }
  if (rc != 0)
    return 1;
  if (count == 0) {
    fputs("replay: no input found; give files or folders, or build with "
          "FUZZ_REPLAY_DIRS set\n",
          stderr);
    return 1;
  }
  printf("replayed %zu inputs without a failed check\n", count);
  return 0;
}
