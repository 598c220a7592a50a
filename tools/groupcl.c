/*
 * groupcl: command-line tool of the groupcl library. This file dispatches to
 * the subcommands and contains the message helpers they share.
 */
#define _POSIX_C_SOURCE 200809L

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

typedef struct cli_command {
  const char *name;
  int (*run)(int argc, char **argv);
  const char *summary;
} cli_command;

static const cli_command commands[] = {
    {"devices", cmd_devices, "list the OpenCL devices and their properties"},
    {"explain", cmd_explain,
     "check a layer against Caffe's rules, show its shapes and cost"},
    {"conv", cmd_conv,
     "run a grouped or transposed convolution on .npy files"},
    {"conv-backward", cmd_conv_backward,
     "compute a layer's input, weight and bias gradients from .npy files"},
    {"demo", cmd_demo,
     "blur and edge-filter a photograph with grouped convolutions"},
    {"split", cmd_split,
     "time a layer under each schedule: one queue, several, several devices"},
    {"tune", cmd_tune,
     "time every algorithm on a layer and store the fastest for later plans"},
    {"bench", cmd_bench,
     "time every algorithm on a suite of layers, against caffe_gemm and "
     "oneDNN"},
};

#define COMMAND_COUNT (sizeof commands / sizeof commands[0])

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

static void print_help(void) {
  puts("Usage: groupcl COMMAND [OPTIONS]\n"
       "       groupcl --help | --version\n"
       "\n"
       "Grouped convolution with the semantics of Caffe's `group` parameter,\n"
       "on OpenCL devices.\n"
       "\n"
       "Commands:");
  for (size_t i = 0; i < COMMAND_COUNT; i++) {
    /* A name longer than the column gets its summary on the next line. */
    if (strlen(commands[i].name) > 9) {
      printf("  %s\n  %-9s %s\n", commands[i].name, "",
             commands[i].summary);
    } else {
      printf("  %-9s %s\n", commands[i].name, commands[i].summary);
    }
  }
  puts("\n"
       "Options:\n"
       "  -h, --help     print this help and exit\n"
       "  -V, --version  print the version and exit\n"
       "\n"
       "Run 'groupcl COMMAND --help' for the options of a command.\n"
       "\n"
       "Devices: explain, conv, conv-backward, demo and bench take --device\n"
       "SPEC. Without it the GROUPCL_DEVICES environment variable is used,\n"
       "and 'auto' when that is unset too. split takes --device SPEC as\n"
       "well, with the default 'all'. SPEC is 'auto' (every GPU, else every\n"
       "CPU device), 'all', 'gpu', 'cpu', P:D (platform and device index as\n"
       "listed by 'groupcl devices'), or text found in a platform or device\n"
       "name.\n"
       "Join several specs with commas. Set GROUPCL_LOG to see the\n"
       "library's log on stderr.\n"
       "\n"
       "Exit status:\n"
       "  0  success\n"
       "  1  runtime failure: OpenCL error, out of memory, kernel build\n"
       "     failure, results differ from the reference, or an output file\n"
       "     cannot be written\n"
       "  2  usage error: unknown option, missing required option, malformed\n"
       "     or out-of-range number\n"
       "  3  invalid input: the layer breaks Caffe's rules, a .npy file is\n"
       "     malformed or its shape does not fit the layer, or the layer is\n"
       "     valid but the chosen algorithm or device cannot run it\n"
       "  4  no OpenCL device matches the device spec, or there is no device");
}

static const cli_command *find_command(const char *name) {
  for (size_t i = 0; i < COMMAND_COUNT; i++) {
    if (strcmp(commands[i].name, name) == 0) {
      return &commands[i];
    }
  }
  return NULL;
}

/* Runs `groupcl help [COMMAND]` as `groupcl [COMMAND] --help`. */
static int run_help_command(int argc, char **argv) {
  if (argc < 3) {
    print_help();
    return CLI_EXIT_SUCCESS;
  }

  const cli_command *command = find_command(argv[2]);
  if (command == NULL) {
    return cli_usage_error(NULL, "unknown command '%s'. Give one of devices, "
                                 "explain, conv, conv-backward, demo, split, "
                                 "tune or bench.",
                           argv[2]);
  }
  char help_flag[] = "--help";
  char *help_argv[] = {argv[2], help_flag, NULL};
  return command->run(2, help_argv);
}

static int dispatch(int argc, char **argv) {
  if (argc < 2) {
    return cli_usage_error(NULL, "missing command. Give one of devices, "
                                 "explain, conv, conv-backward, demo, split, "
                                 "tune or bench.");
  }

  const char *first = argv[1];
  if (strcmp(first, "--help") == 0 || strcmp(first, "-h") == 0) {
    print_help();
    return CLI_EXIT_SUCCESS;
  }
  if (strcmp(first, "--version") == 0 || strcmp(first, "-V") == 0) {
    printf("groupcl %d.%d.%d\n", GCL_VERSION_MAJOR, GCL_VERSION_MINOR,
           GCL_VERSION_PATCH);
    return CLI_EXIT_SUCCESS;
  }
  if (strcmp(first, "help") == 0) {
    return run_help_command(argc, argv);
  }
  if (first[0] == '-') {
    return cli_usage_error(NULL, "unknown option '%s'. Options other than "
                                 "--help and --version go after the command.",
                           first);
  }

  const cli_command *command = find_command(first);
  if (command == NULL) {
    return cli_usage_error(NULL, "unknown command '%s'. Give one of devices, "
                                 "explain, conv, conv-backward, demo, split, "
                                 "tune or bench.",
                           first);
  }
  return command->run(argc - 1, argv + 1);
}

int main(int argc, char **argv) {
  int rc = dispatch(argc, argv);

  /* A full disk or a closed pipe shows up only when stdout is flushed. */
  if (fflush(stdout) != 0 || ferror(stdout)) {
    cli_error(NULL, "cannot write to standard output: check that the disk "
                    "or pipe it goes to accepts data.");
    if (rc == CLI_EXIT_SUCCESS) {
      rc = CLI_EXIT_RUNTIME;
    }
  }
  return rc;
}
