/*
 * Runs the built groupcl binary (GCL_TOOL_PATH) from Criterion tests and
 * checks what it prints. A suite's .init fixture creates a fresh mkdtemp
 * folder under /tmp (test_directory) before each test and its .fini fixture
 * removes it. Each run starts the tool with posix_spawn, stdin from
 * /dev/null, stdout and stderr sent to tool-stdout.txt and tool-stderr.txt
 * in that folder, and GROUPCL_DEVICES removed from its environment unless
 * the run sets it.
 *
 * Compile tool_runner.c into each test binary with -DGCL_TOOL_PATH set to
 * the tool's absolute path.
 */
#ifndef GCL_TESTS_TOOL_RUNNER_H
#define GCL_TESTS_TOOL_RUNNER_H

/* Size of the path buffers that make_path and write_text_file fill. */
#define PATH_CAPACITY 512

/* Maximum number of arguments after the tool's name in one run. */
#define MAX_TOOL_ARGS 48

/* Folder of the running test, such as /tmp/groupcl_test_cli_Ab12Cd. */
extern char test_directory[64];

/* Exit status and captured output of one run of the tool. */
typedef struct tool_run {
  int exit_code; /* -1 when the tool died from a signal */
  char *out;     /* stdout, NUL-terminated, freed by free_run */
  char *err;     /* stderr, NUL-terminated, freed by free_run */
} tool_run;

/*
 * Creates test_directory as /tmp/groupcl_test_<suite_name>_XXXXXX. Call it
 * from the suite's .init fixture, which Criterion runs before each test.
 */
void create_test_directory(const char *suite_name);

/* Removes test_directory and everything in it, for the .fini fixture. */
void remove_test_directory(void);

/* Writes test_directory/name into path (PATH_CAPACITY bytes). */
void make_path(char *path, const char *name);

/* Returns 1 when path exists (any type of file), otherwise 0. */
int file_exists(const char *path);

/* Reads a whole file into a NUL-terminated malloc'd string. */
char *read_whole_file(const char *path);

/* Writes text to test_directory/name and stores that path in path. */
void write_text_file(const char *name, const char *text, char *path);

/*
 * Runs the tool with args (NULL-terminated, without the tool's name) and
 * waits for it to end. extra_environment is NULL or one "NAME=VALUE" entry,
 * which replaces any inherited variable of that name, GROUPCL_DEVICES
 * included. Fails the test when the tool cannot be started.
 */
tool_run run_tool(const char *extra_environment, const char *const *args);

#define RUN_TOOL(...) run_tool(NULL, (const char *[]){__VA_ARGS__, NULL})
#define RUN_TOOL_WITH_ENV(entry, ...) \
  run_tool(entry, (const char *[]){__VA_ARGS__, NULL})

/* Frees the captured output of run. */
void free_run(tool_run *run);

/*
 * Asserts the exit code, printing stdout and stderr when it differs. The
 * message names the caller's file and line, because Criterion reports the
 * line of the assertion inside tool_runner.c.
 */
#define expect_exit(run, expected) \
  expect_exit_at(__FILE__, __LINE__, run, expected)
void expect_exit_at(const char *file, int line, const tool_run *run,
                    int expected);

/*
 * Expects part in text, printing text (named stream) and the caller's file
 * and line when it is missing. The test goes on after a failure.
 */
#define expect_contains(text, part, stream) \
  expect_contains_at(__FILE__, __LINE__, text, part, stream)
void expect_contains_at(const char *file, int line, const char *text,
                        const char *part, const char *stream);

/*
 * Returns the first line of text that starts with prefix after leading
 * spaces, or NULL. The line lives in a static buffer that the next call
 * overwrites, and lines of 1024 bytes or more are never matched.
 */
char *find_line(const char *text, const char *prefix);

#endif
