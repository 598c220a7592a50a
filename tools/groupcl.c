/*
 * groupcl: command-line tool of the groupcl library. This file dispatches to
 * the subcommands; tools/cli.c contains the message helpers they share.
 */
#define _POSIX_C_SOURCE 200809L

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <stdio.h>
#include <string.h>

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
       "Devices: explain, conv, conv-backward, tune, demo and bench take\n"
       "--device SPEC. Without it the GROUPCL_DEVICES environment variable is used,\n"
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
