/*
 * Declarations shared by the files of the groupcl command-line tool: exit
 * codes, message helpers and the entry point of each subcommand.
 */
#ifndef GROUPCL_TOOLS_CLI_H
#define GROUPCL_TOOLS_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "groupcl.h"

/* Exit codes of the tool, documented by `groupcl --help`. */
enum cli_exit {
  CLI_EXIT_SUCCESS = 0,
  CLI_EXIT_RUNTIME = 1,   /* OpenCL error, out of memory, cannot write output */
  CLI_EXIT_USAGE = 2,     /* unknown flag, missing flag, malformed number */
  CLI_EXIT_INPUT = 3,     /* invalid layer, bad .npy file, shape mismatch */
  CLI_EXIT_NO_DEVICE = 4  /* no device matches the device spec */
};

#if defined(__GNUC__)
#define CLI_PRINTF(format_index, first_arg) \
  __attribute__((format(printf, format_index, first_arg)))
#else
#define CLI_PRINTF(format_index, first_arg)
#endif

/*
 * Prints "groupcl COMMAND: MESSAGE" to stderr, or "groupcl: MESSAGE" when
 * command is NULL. The message gets a newline appended.
 */
void cli_error(const char *command, const char *format, ...) CLI_PRINTF(2, 3);

/*
 * Prints a usage error like cli_error, followed by the line
 * "Try 'groupcl COMMAND --help'.", and returns CLI_EXIT_USAGE.
 */
int cli_usage_error(const char *command, const char *format, ...)
    CLI_PRINTF(2, 3);

/*
 * Maps a failed library call to an exit code: invalid layer, shape mismatch
 * and unsupported features are invalid input (3), a missing device is 4 and
 * everything else is a runtime failure (1).
 */
int cli_exit_code_for_status(gcl_status status);

/*
 * Prints "groupcl COMMAND: WHAT failed (STATUS): DETAIL" for a failed library
 * call, where DETAIL is gcl_last_error(), and returns the exit code from
 * cli_exit_code_for_status.
 */
int cli_library_error(const char *command, const char *what,
                      gcl_status status);

/*
 * Creates a context for --device SPEC and returns 0. device_spec is NULL when
 * the option was not given, so that the library reads GROUPCL_DEVICES. On
 * failure the function prints why, naming the spec, and returns the exit code.
 */
int cli_create_context(const char *command, const char *device_spec,
                       gcl_context **context);

/*
 * Writes the name of the context's first device into buffer, followed by
 * "(+N more)" when the context selected several devices.
 */
const char *cli_context_device_name(const gcl_context *context, char *buffer,
                                    size_t size);

/* Formats a tensor shape as "[1, 4, 8, 8]" into buffer and returns buffer. */
const char *cli_format_shape(int rank, const int64_t *shape, char *buffer,
                             size_t size);

/* Returns CLOCK_MONOTONIC time in milliseconds, for timing only. */
double cli_now_ms(void);

/* Subcommands. Each receives argv with argv[0] set to the subcommand name. */
int cmd_devices(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_conv(int argc, char **argv);
int cmd_conv_backward(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_split(int argc, char **argv);
int cmd_tune(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_bench_backward(int argc, char **argv);

/*
 * Prints a note to stdout when two or more of the context's devices are CPU
 * devices of one PoCL platform: PoCL 3.1 runs all of them on one thread
 * pool, so splitting a layer across them adds no throughput.
 */
void cli_note_shared_cpu_devices(const gcl_context *context);

#endif
