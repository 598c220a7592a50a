/*
 * groupcl conv: runs one grouped convolution, or a transposed one, on .npy
 * files. The layer is taken from the array shapes (C from the input, K and
 * the filter size from the weights) plus the layer flags of conv_layer.h.
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd_options.h"
#include "cli_args.h"
#include "conv_layer.h"
#include "npy.h"

#define COMMAND "conv"

enum conv_option_code {
  OPTION_INPUT = CONV_LAYER_OPTION_END,
  OPTION_WEIGHTS,
  OPTION_BIAS,
  OPTION_OUTPUT,
  OPTION_DEVICE,
  OPTION_ALGORITHM,
  OPTION_SCHEDULE,
  OPTION_TRACE,
  OPTION_VERBOSE
};

static const struct option conv_options[] = {
    {"input", required_argument, NULL, OPTION_INPUT},
    {"weights", required_argument, NULL, OPTION_WEIGHTS},
    {"bias", required_argument, NULL, OPTION_BIAS},
    {"output", required_argument, NULL, OPTION_OUTPUT},
    CONV_LAYER_LONG_OPTIONS,
    {"device", required_argument, NULL, OPTION_DEVICE},
    {"algorithm", required_argument, NULL, OPTION_ALGORITHM},
    {"schedule", required_argument, NULL, OPTION_SCHEDULE},
    {"trace", required_argument, NULL, OPTION_TRACE},
    {"verbose", no_argument, NULL, OPTION_VERBOSE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}};

/* Everything one run holds, so that a single function can release it. */
typedef struct conv_job {
  conv_layer layer;
  npy_array bias;
  size_t output_count;
  float *output;
  gcl_context *context;
  gcl_conv *conv;
  gcl_plan *plan;
} conv_job;

/* Prints the --algorithm lines of the help, with the library's names. */
static void print_algorithm_help(void) {
  fputs("  --algorithm NAME    algorithm to run (default auto): auto lets the\n"
        "                      library choose by its cost model, or one of\n"
        "                     ",
        stdout);
  for (int id = 1; id < GCL_ALGORITHM_COUNT; id++)
    printf(" %s%s", gcl_algorithm_name((gcl_algorithm)id),
           id + 1 < GCL_ALGORITHM_COUNT ? "," : "\n");
  fputs("                      (exit status 3 if it cannot run the layer)\n",
        stdout);
}

static void print_conv_help(void) {
  fputs(
    "Usage: groupcl conv --input X.npy --weights W.npy --output Y.npy\n"
    "                    [--bias B.npy] [--group G] [--stride S] [--pad P]\n"
    "                    [--dilation D] [--transposed [--output-padding P]]\n"
    "                    [--device SPEC] [--algorithm NAME]\n"
    "                    [--schedule POLICY] [--trace FILE.json] [--verbose]\n"
    "\n"
    "Computes Y = conv(X) with Caffe's Convolution semantics on an OpenCL\n"
    "device, or with --transposed the transposed convolution of Caffe's\n"
    "Deconvolution. Arrays are .npy files of little-endian float32 in C\n"
    "order, as numpy.save writes them for dtype float32:\n"
    "  X  [N, C, W], [N, C, H, W] or [N, C, D, H, W]; its rank (3, 4 or 5)\n"
    "     sets the number of spatial axes (1, 2 or 3)\n"
    "  W  [K, C/group, kernel...], with the filter size on each spatial\n"
    "     axis; [C, K/group, kernel...] with --transposed\n"
    "  B  [K]\n"
    "  Y  [N, K, out...], where on each axis, with pad the sum of the pads\n"
    "     before and after:\n"
    "       out = (in + pad - (dilation*(kernel-1)+1)) / stride + 1,\n"
    "             rounded down\n"
    "       out = stride*(in-1) + dilation*(kernel-1) + 1 - pad\n"
    "             + output_padding (with --transposed)\n"
    "\n"
    "Options:\n"
    "  --input X.npy       input array (required)\n"
    "  --weights W.npy     weights (required)\n"
    "  --output Y.npy      output array, written only when the run succeeds;\n"
    "                      an existing file is replaced (required)\n"
    "  --bias B.npy        bias added to each output channel (default: none)\n",
    stdout);
  conv_layer_print_flags_help();
  fputs(
    "  --device SPEC       OpenCL device(s) to use (default: GROUPCL_DEVICES,\n"
    "                      else 'auto'); see 'groupcl --help'\n",
    stdout);
  print_algorithm_help();
  puts(
    "  --schedule POLICY   where the groups run (default auto): single (one\n"
    "                      queue), queues:N (N queues of the first device),\n"
    "                      devices (every selected device, in proportion to\n"
    "                      its measured speed) or auto\n"
    "  --trace FILE.json   write a Chrome trace-event timeline of the run\n"
    "                      (one row per device queue; open it in Perfetto or\n"
    "                      chrome://tracing), only when the run succeeds\n"
    "  --verbose           print the device, the algorithm and the times in\n"
    "                      ms on stderr; the forward time includes copying\n"
    "                      X to the device and Y back\n"
    "  -h, --help          print this help and exit\n"
    "\n"
    "--stride, --pad, --dilation and --output-padding take one value for\n"
    "every axis or one per spatial axis, ordered depth, height, width (for\n"
    "example --stride 2,1 or --pad 1:2,0:1).\n"
    "\n"
    "Exit status: 0 success, 1 runtime failure, 2 usage error, 3 invalid\n"
    "layer or input file, 4 no matching device.");
}

static int parse_conv_option(int code, const char *text,
                             conv_request *request) {
  if (conv_layer_flags_has_option(code)) {
    return conv_layer_flags_parse(COMMAND, code, text, &request->layer);
  }

  switch (code) {
  case OPTION_INPUT:
    request->input_path = text;
    return 0;
  case OPTION_WEIGHTS:
    request->weights_path = text;
    return 0;
  case OPTION_BIAS:
    request->bias_path = text;
    return 0;
  case OPTION_OUTPUT:
    request->output_path = text;
    return 0;
  case OPTION_DEVICE:
    request->device_spec = text;
    return 0;
  case OPTION_ALGORITHM:
    if (gcl_algorithm_from_name(text, &request->algorithm) != GCL_SUCCESS)
      return cli_usage_error(COMMAND, "--algorithm: %s.", gcl_last_error());
    return 0;
  case OPTION_SCHEDULE:
    if (gcl_schedule_parse(text, &request->schedule) != GCL_SUCCESS)
      return cli_usage_error(COMMAND, "--schedule: %s.", gcl_last_error());
    return 0;
  case OPTION_TRACE:
    request->trace_path = text;
    return 0;
  case OPTION_VERBOSE:
    request->verbose = 1;
    return 0;
  default:
    request->show_help = 1;
    return 0;
  }
}

int parse_conv_options(int argc, char **argv, conv_request *request) {
  memset(request, 0, sizeof *request);
  conv_layer_flags_init(&request->layer);
  request->algorithm = GCL_ALGORITHM_AUTO;
  gcl_plan_options_init(&request->schedule);

  int code;
  cli_reset_getopt();
  while ((code = getopt_long(argc, argv, ":h", conv_options, NULL)) != -1) {
    if (code == '?' || code == ':') {
      return cli_report_getopt_error(COMMAND, code, argv, conv_options);
    }
    const int rc = parse_conv_option(code, optarg, request);
    if (rc != 0) {
      return rc;
    }
  }
  if (request->show_help) {
    return 0;
  }

  if (request->input_path == NULL) {
    return cli_usage_error(COMMAND, "missing --input, the input .npy file.");
  }
  if (request->weights_path == NULL) {
    return cli_usage_error(COMMAND,
                           "missing --weights, the weights .npy file.");
  }
  if (request->output_path == NULL) {
    return cli_usage_error(COMMAND,
                           "missing --output, the .npy file to write.");
  }
  const int rc = conv_layer_flags_check(COMMAND, &request->layer);
  if (rc != 0) {
    return rc;
  }
  return cli_check_no_operands(COMMAND, argc, argv);
}

static int read_arrays(const conv_request *request, conv_job *job) {
  int rc = conv_layer_read(COMMAND, request->input_path,
                           request->weights_path, request->layer.transposed,
                           &job->layer);
  if (rc == 0 && request->bias_path != NULL) {
    rc = conv_layer_read_array(COMMAND, "--bias", request->bias_path,
                               &job->bias);
  }
  return rc;
}

/* Builds the layer from the arrays and flags and checks it. */
static int check_layer(const conv_request *request, conv_job *job) {
  int rc = conv_layer_build(COMMAND, &request->layer,
                            request->bias_path != NULL, &job->layer);
  if (rc == 0) {
    rc = conv_layer_check(COMMAND, request->weights_path, request->bias_path,
                          job->bias.rank, job->bias.shape, &job->layer);
  }
  return rc;
}

static int allocate_output(conv_job *job) {
  size_t count = 1;
  for (int i = 0; i < job->layer.input.rank; i++) {
    const uint64_t extent = (uint64_t)job->layer.output_shape[i];
    if (extent != 0 && count > SIZE_MAX / sizeof(float) / extent) {
      cli_error(COMMAND, "the output is too large to hold in memory. Use a "
                         "smaller input or a larger stride.");
      return CLI_EXIT_RUNTIME;
    }
    count *= (size_t)extent;
  }

  job->output_count = count;
  job->output = malloc((count > 0 ? count : 1) * sizeof(float));
  if (job->output == NULL) {
    cli_error(COMMAND, "out of memory for the output of %zu floats. Use a "
                       "smaller batch or input.",
              count);
    return CLI_EXIT_RUNTIME;
  }
  return 0;
}

/* Runs the convolution on the device and reports the times with --verbose. */
static int run_on_device(const conv_request *request, conv_job *job) {
  int rc = cli_create_context(COMMAND, request->device_spec, &job->context);
  if (rc != 0) {
    return rc;
  }

  const conv_layer *layer = &job->layer;
  const float *bias = layer->desc.bias_term ? job->bias.data : NULL;
  gcl_status status = gcl_conv_create(job->context, &layer->desc,
                                      layer->weights.data, bias, &job->conv);
  if (status != GCL_SUCCESS) {
    return cli_library_error(COMMAND, "creating the convolution", status);
  }

  gcl_plan_options options;
  gcl_plan_options_init(&options);
  options.algorithm = request->algorithm;
  options.schedule = request->schedule.schedule;
  options.queues = request->schedule.queues;
  options.profile = request->trace_path != NULL;
  const double plan_start = cli_now_ms();
  status = gcl_plan_create(job->conv, layer->input.rank, layer->input.shape,
                           &options, &job->plan);
  if (status != GCL_SUCCESS) {
    return cli_library_error(COMMAND, "planning the convolution", status);
  }

  const double forward_start = cli_now_ms();
  status = gcl_plan_forward(job->plan, layer->input.data, job->output);
  const double forward_end = cli_now_ms();
  if (status != GCL_SUCCESS) {
    return cli_library_error(COMMAND, "running the convolution", status);
  }

  if (request->verbose) {
    char device_name[192];
    cli_error(COMMAND,
              "device %s, algorithm %s, %zu slot(s), plan %.1f ms, "
              "forward %.3f ms",
              cli_context_device_name(job->context, device_name,
                                      sizeof device_name),
              gcl_algorithm_name(gcl_plan_algorithm(job->plan)),
              gcl_plan_slot_count(job->plan), forward_start - plan_start,
              forward_end - forward_start);
  }
  return 0;
}

static int write_output(const conv_request *request, const conv_job *job) {
  char error[512];
  if (npy_write(request->output_path, job->layer.input.rank,
                job->layer.output_shape, job->output, error,
                sizeof error) != 0) {
    cli_error(COMMAND, "--output: %s", error);
    return CLI_EXIT_RUNTIME;
  }
  return 0;
}

static int write_trace(const conv_request *request, const conv_job *job) {
  const gcl_status status =
      gcl_plan_write_trace(job->plan, request->trace_path);
  if (status != GCL_SUCCESS) {
    cli_error(COMMAND, "--trace: %s", gcl_last_error());
    return CLI_EXIT_RUNTIME;
  }
  return 0;
}

static void release_job(conv_job *job) {
  gcl_plan_destroy(job->plan);
  gcl_conv_destroy(job->conv);
  gcl_context_destroy(job->context);
  free(job->output);
  npy_array_free(&job->bias);
  conv_layer_free(&job->layer);
}

static int run_conv(const conv_request *request) {
  conv_job job;
  memset(&job, 0, sizeof job);

  int rc = read_arrays(request, &job);
  if (rc == 0) {
    rc = check_layer(request, &job);
  }
  if (rc == 0) {
    rc = allocate_output(&job);
  }
  if (rc == 0) {
    rc = run_on_device(request, &job);
  }
  if (rc == 0) {
    rc = write_output(request, &job);
  }
  if (rc == 0 && request->trace_path != NULL) {
    rc = write_trace(request, &job);
  }

  release_job(&job);
  return rc;
}

int cmd_conv(int argc, char **argv) {
  conv_request request;
  const int rc = parse_conv_options(argc, argv, &request);
  if (rc != 0) {
    return rc;
  }
  if (request.show_help) {
    print_conv_help();
    return CLI_EXIT_SUCCESS;
  }
  return run_conv(&request);
}
