/*
 * Message helpers and small utilities shared by the subcommands of the
 * groupcl tool. They live apart from main() so that the fuzz harness of the
 * option parsers can link them.
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cli.h"

static void vprint_error(const char *command, const char *format,
                         va_list args) {
  if (command != NULL) {
    fprintf(stderr, "groupcl %s: ", command);
  } else {
    fputs("groupcl: ", stderr);
  }
  vfprintf(stderr, format, args);
  fputc('\n', stderr);
}

void cli_error(const char *command, const char *format, ...) {
  va_list args;
  va_start(args, format);
  vprint_error(command, format, args);
  va_end(args);
}

int cli_usage_error(const char *command, const char *format, ...) {
  va_list args;
  va_start(args, format);
  vprint_error(command, format, args);
  va_end(args);

  if (command != NULL) {
    fprintf(stderr, "Try 'groupcl %s --help'.\n", command);
  } else {
    fputs("Try 'groupcl --help'.\n", stderr);
  }
  return CLI_EXIT_USAGE;
}

int cli_exit_code_for_status(gcl_status status) {
  switch (status) {
  case GCL_SUCCESS:
    return CLI_EXIT_SUCCESS;
  case GCL_ERROR_INVALID_LAYER:
  case GCL_ERROR_SHAPE_MISMATCH:
  case GCL_ERROR_UNSUPPORTED:
    return CLI_EXIT_INPUT;
  case GCL_ERROR_DEVICE_NOT_FOUND:
    return CLI_EXIT_NO_DEVICE;
  default:
    return CLI_EXIT_RUNTIME;
  }
}

int cli_library_error(const char *command, const char *what,
                      gcl_status status) {
  const char *detail = gcl_last_error();
  if (detail[0] != '\0') {
    cli_error(command, "%s failed (%s): %s", what, gcl_status_string(status),
              detail);
  } else {
    cli_error(command, "%s failed (%s).", what, gcl_status_string(status));
  }
  return cli_exit_code_for_status(status);
}

int cli_create_context(const char *command, const char *device_spec,
                       gcl_context **context) {
  const gcl_status status = gcl_context_create(device_spec, context);
  if (status == GCL_SUCCESS) {
    return 0;
  }
  if (status == GCL_ERROR_INVALID_ARGUMENT) {
    /* A malformed spec, such as ",", is a usage error. */
    cli_error(command, "--device: %s", gcl_last_error());
    return CLI_EXIT_USAGE;
  }
  if (status != GCL_ERROR_DEVICE_NOT_FOUND) {
    return cli_library_error(command, "creating the OpenCL context", status);
  }

  /* The library's message names the spec and lists the devices. */
  const char *environment_spec = getenv("GROUPCL_DEVICES");
  if (device_spec != NULL && device_spec[0] != '\0') {
    cli_error(command, "--device: %s", gcl_last_error());
  } else if (environment_spec != NULL && environment_spec[0] != '\0') {
    cli_error(command, "GROUPCL_DEVICES: %s", gcl_last_error());
  } else {
    cli_error(command, "%s", gcl_last_error());
  }
  fputs("Run 'groupcl devices' to list the devices, then pick one with "
        "--device P:D or a part of its name.\n",
        stderr);
  return CLI_EXIT_NO_DEVICE;
}

const char *cli_context_device_name(const gcl_context *context, char *buffer,
                                    size_t size) {
  gcl_device_info info;
  if (gcl_context_device_info(context, 0, &info) != GCL_SUCCESS) {
    snprintf(buffer, size, "(unknown device)");
    return buffer;
  }

  const size_t device_count = gcl_context_device_count(context);
  if (device_count > 1) {
    snprintf(buffer, size, "%s (+%zu more)", info.device_name,
             device_count - 1);
  } else {
    snprintf(buffer, size, "%s", info.device_name);
  }
  return buffer;
}

const char *cli_format_shape(int rank, const int64_t *shape, char *buffer,
                             size_t size) {
  size_t used = (size_t)snprintf(buffer, size, "[");
  for (int i = 0; i < rank && used < size; i++) {
    used += (size_t)snprintf(buffer + used, size - used, "%s%" PRId64,
                             i > 0 ? ", " : "", shape[i]);
  }
  if (used < size) {
    snprintf(buffer + used, size - used, "]");
  }
  return buffer;
}

double cli_now_ms(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)now.tv_sec * 1e3 + (double)now.tv_nsec / 1e6;
}
