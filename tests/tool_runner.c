/* Helpers that run the groupcl tool from tests, documented in tool_runner.h. */
#define _XOPEN_SOURCE 700

#include "tool_runner.h"

#include <criterion/criterion.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef GCL_TOOL_PATH
#error "GCL_TOOL_PATH must name the built groupcl binary (see Makefile.am)"
#endif

/* Maximum number of environment entries passed to the tool, NULL included. */
#define MAX_ENVIRONMENT 512

extern char **environ;

char test_directory[64];

/* ------------------------------------------------------------------------ */
/* Test folder and files                                                    */

void create_test_directory(const char *suite_name) {
  const int length = snprintf(test_directory, sizeof test_directory,
                              "/tmp/groupcl_test_%s_XXXXXX", suite_name);
  cr_assert_lt((size_t)length, sizeof test_directory,
               "suite name '%s' is too long for the test folder name",
               suite_name);
  cr_assert_not_null(mkdtemp(test_directory), "mkdtemp failed: %s",
                     strerror(errno));
}

static int remove_entry(const char *path, const struct stat *info, int type,
                        struct FTW *walk) {
  (void)info;
  (void)type;
  (void)walk;
  return remove(path);
}

void remove_test_directory(void) {
  nftw(test_directory, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

void make_path(char *path, const char *name) {
  snprintf(path, PATH_CAPACITY, "%s/%s", test_directory, name);
}

int file_exists(const char *path) {
  struct stat info;
  return stat(path, &info) == 0;
}

char *read_whole_file(const char *path) {
  FILE *file = fopen(path, "rb");
  cr_assert_not_null(file, "cannot open %s: %s", path, strerror(errno));

  size_t capacity = 4096;
  size_t length = 0;
  char *text = malloc(capacity);
  cr_assert_not_null(text);
  size_t got;
  while ((got = fread(text + length, 1, capacity - length - 1, file)) > 0) {
    length += got;
    if (capacity - length - 1 == 0) {
      capacity *= 2;
      text = realloc(text, capacity);
      cr_assert_not_null(text);
    }
  }
  cr_assert_eq(ferror(file), 0, "cannot read %s", path);
  text[length] = '\0';
  fclose(file);
  return text;
}

void write_text_file(const char *name, const char *text, char *path) {
  make_path(path, name);
  FILE *file = fopen(path, "w");
  cr_assert_not_null(file, "cannot create %s: %s", path, strerror(errno));
  cr_assert_eq(fputs(text, file) >= 0, 1);
  cr_assert_eq(fclose(file), 0);
}

/* ------------------------------------------------------------------------ */
/* Running the tool                                                         */

/*
 * Copies the environment without GROUPCL_DEVICES, adding extra_entry
 * ("NAME=VALUE") in place of any inherited variable of that name.
 */
static void build_environment(char **environment, const char *extra_entry) {
  const size_t extra_name_length =
      extra_entry != NULL ? strcspn(extra_entry, "=") + 1 : 0;

  size_t count = 0;
  for (char **entry = environ; *entry != NULL; entry++) {
    if (strncmp(*entry, "GROUPCL_DEVICES=", 16) == 0) {
      continue;
    }
    if (extra_entry != NULL &&
        strncmp(*entry, extra_entry, extra_name_length) == 0) {
      continue;
    }
    cr_assert_lt(count, MAX_ENVIRONMENT - 2, "environment too large");
    environment[count++] = *entry;
  }
  if (extra_entry != NULL) {
    environment[count++] = (char *)extra_entry;
  }
  environment[count] = NULL;
}

/* Makes the child open path for writing, truncated, as descriptor. */
static void add_output_file(posix_spawn_file_actions_t *actions,
                            int descriptor, const char *path) {
  cr_assert_eq(posix_spawn_file_actions_addopen(actions, descriptor, path,
                                                O_WRONLY | O_CREAT | O_TRUNC,
                                                0600),
               0);
}

tool_run run_tool(const char *extra_environment, const char *const *args) {
  char *argv[MAX_TOOL_ARGS + 2];
  int argc = 0;
  argv[argc++] = (char *)GCL_TOOL_PATH;
  for (; args[argc - 1] != NULL; argc++) {
    cr_assert_lt(argc, MAX_TOOL_ARGS, "too many arguments for one run");
    argv[argc] = (char *)args[argc - 1];
  }
  argv[argc] = NULL;

  char *environment[MAX_ENVIRONMENT];
  build_environment(environment, extra_environment);

  char out_path[PATH_CAPACITY];
  char err_path[PATH_CAPACITY];
  make_path(out_path, "tool-stdout.txt");
  make_path(err_path, "tool-stderr.txt");

  posix_spawn_file_actions_t actions;
  cr_assert_eq(posix_spawn_file_actions_init(&actions), 0);
  cr_assert_eq(posix_spawn_file_actions_addopen(&actions, 0, "/dev/null",
                                                O_RDONLY, 0),
               0);
  add_output_file(&actions, 1, out_path);
  add_output_file(&actions, 2, err_path);

  pid_t pid;
  const int spawn_error =
      posix_spawn(&pid, GCL_TOOL_PATH, &actions, NULL, argv, environment);
  posix_spawn_file_actions_destroy(&actions);
  cr_assert_eq(spawn_error, 0, "cannot start %s: %s", GCL_TOOL_PATH,
               strerror(spawn_error));

  int wait_status = 0;
  cr_assert_eq(waitpid(pid, &wait_status, 0), pid, "waitpid failed: %s",
               strerror(errno));

  tool_run run;
  run.exit_code = WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1;
  run.out = read_whole_file(out_path);
  run.err = read_whole_file(err_path);
  return run;
}

void free_run(tool_run *run) {
  free(run->out);
  free(run->err);
}

void expect_exit_at(const char *file, int line, const tool_run *run,
                    int expected) {
  cr_assert_eq(run->exit_code, expected,
               "%s:%d: exit code %d, expected %d\n--- stdout:\n%s"
               "--- stderr:\n%s",
               file, line, run->exit_code, expected, run->out, run->err);
}

void expect_contains_at(const char *file, int line, const char *text,
                        const char *part, const char *stream) {
  cr_expect_not_null(strstr(text, part), "%s:%d: %s lacks \"%s\":\n%s", file,
                     line, stream, part, text);
}

char *find_line(const char *text, const char *prefix) {
  static char line[1024];
  const char *start = text;
  while (*start != '\0') {
    const char *end = strchr(start, '\n');
    const size_t length = end != NULL ? (size_t)(end - start) : strlen(start);
    const char *content = start;
    while (*content == ' ') {
      content++;
    }
    if (strncmp(content, prefix, strlen(prefix)) == 0 &&
        length < sizeof line) {
      memcpy(line, start, length);
      line[length] = '\0';
      return line;
    }
    if (end == NULL) {
      break;
    }
    start = end + 1;
  }
  return NULL;
}
