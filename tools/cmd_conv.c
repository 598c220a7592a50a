/*
 * groupcl conv: runs one grouped convolution on .npy files. The layer is
 * taken from the array shapes (C from the input, K and the filter size from
 * the weights) plus the flags for group, stride, pad and dilation.
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
#include "npy.h"

#define COMMAND "conv"

enum conv_option_code {
  OPTION_INPUT = 256,
  OPTION_WEIGHTS,
  OPTION_BIAS,
  OPTION_OUTPUT,
  OPTION_GROUP,
  OPTION_STRIDE,
  OPTION_PAD,
  OPTION_DILATION,
  OPTION_TRANSPOSED,
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
    {"group", required_argument, NULL, OPTION_GROUP},
    {"stride", required_argument, NULL, OPTION_STRIDE},
    {"pad", required_argument, NULL, OPTION_PAD},
    {"dilation", required_argument, NULL, OPTION_DILATION},
    {"transposed", no_argument, NULL, OPTION_TRANSPOSED},
    {"device", required_argument, NULL, OPTION_DEVICE},
    {"algorithm", required_argument, NULL, OPTION_ALGORITHM},
    {"schedule", required_argument, NULL, OPTION_SCHEDULE},
    {"trace", required_argument, NULL, OPTION_TRACE},
    {"verbose", no_argument, NULL, OPTION_VERBOSE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}};

/* Everything one run holds, so that a single function can release it. */
typedef struct conv_job {
  npy_array input;
  npy_array weights;
  npy_array bias;
  gcl_conv_desc desc;
  int64_t output_shape[GCL_MAX_RANK];
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
    "                    [--dilation D] [--device SPEC]\n"
    "                    [--algorithm NAME] [--schedule POLICY]\n"
    "                    [--trace FILE.json] [--transposed] [--verbose]\n"
    "\n"
    "Computes Y = conv(X) with Caffe's Convolution semantics on an OpenCL\n"
    "device. Arrays are .npy files of little-endian float32 in C order, as\n"
    "numpy.save writes them for dtype float32:\n"
    "  X  [N, C, W], [N, C, H, W] or [N, C, D, H, W]; its rank (3, 4 or 5)\n"
    "     sets the number of spatial axes (1, 2 or 3)\n"
    "  W  [K, C/group, kernel...], with the filter size on each spatial axis\n"
    "  B  [K]\n"
    "  Y  [N, K, out...], where out = (in + 2*pad - (dilation*(kernel-1)+1))\n"
    "     / stride + 1 on each axis, rounded down\n"
    "\n"
    "Options:\n"
    "  --input X.npy       input array (required)\n"
    "  --weights W.npy     weights (required)\n"
    "  --output Y.npy      output array, written only when the run succeeds;\n"
    "                      an existing file is replaced (required)\n"
    "  --bias B.npy        bias added to each output channel (default: none)\n"
    "  --group G           number of groups; must divide C and K (default 1)\n"
    "  --stride S          step between windows in elements (default 1)\n"
    "  --pad P             zero padding in elements on both sides (default 0)\n"
    "  --dilation D        spacing between filter taps in elements\n"
    "                      (default 1)\n"
    "  --transposed        Deconvolution; not supported yet, so the run\n"
    "                      stops with exit status 3\n"
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
    "--stride, --pad and --dilation take one integer for every axis or one\n"
    "per spatial axis, ordered depth, height, width (for example 2,1).\n"
    "\n"
    "Exit status: 0 success, 1 runtime failure, 2 usage error, 3 invalid\n"
    "layer or input file, 4 no matching device.");
}

static int parse_conv_option(int code, const char *text,
                             conv_request *request) {
  const int64_t max = CLI_MAX_OPTION_VALUE;

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
  case OPTION_GROUP:
    return cli_parse_int64(COMMAND, "--group", text, 1, max, &request->group);
  case OPTION_STRIDE:
    return cli_parse_axis_values(COMMAND, "--stride", text, 1, max,
                                 &request->stride);
  case OPTION_PAD:
    return cli_parse_axis_values(COMMAND, "--pad", text, 0, max,
                                 &request->pad);
  case OPTION_DILATION:
    return cli_parse_axis_values(COMMAND, "--dilation", text, 1, max,
                                 &request->dilation);
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
  case OPTION_TRANSPOSED:
    request->transposed = 1;
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
  request->group = 1;
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
  return cli_check_no_operands(COMMAND, argc, argv);
}

/* Reads one array; a file that cannot be read or parsed is invalid input. */
static int read_array(const char *option, const char *path, npy_array *array) {
  /* npy_read's message names the file, so only the option is added. */
  char error[512];
  if (npy_read(path, array, error, sizeof error) != 0) {
    cli_error(COMMAND, "%s: %s", option, error);
    return CLI_EXIT_INPUT;
  }
  return 0;
}

static int read_arrays(const conv_request *request, conv_job *job) {
  char shape_text[160];

  int rc = read_array("--input", request->input_path, &job->input);
  if (rc != 0) {
    return rc;
  }
  const int rank = job->input.rank;
  if (rank < 3 || rank > GCL_MAX_RANK) {
    cli_error(COMMAND,
              "--input %s has rank %d (shape %s), but the input must have "
              "rank 3, 4 or 5: [N, C, W], [N, C, H, W] or [N, C, D, H, W].",
              request->input_path, rank,
              cli_format_shape(rank, job->input.shape, shape_text,
                               sizeof shape_text));
    return CLI_EXIT_INPUT;
  }

  rc = read_array("--weights", request->weights_path, &job->weights);
  if (rc != 0) {
    return rc;
  }
  if (job->weights.rank != rank) {
    cli_error(COMMAND,
              "--weights %s has rank %d (shape %s), but the input has rank "
              "%d, so the weights must have rank %d: [K, C/group, kernel...].",
              request->weights_path, job->weights.rank,
              cli_format_shape(job->weights.rank, job->weights.shape,
                               shape_text, sizeof shape_text),
              rank, rank);
    return CLI_EXIT_INPUT;
  }

  if (request->bias_path != NULL) {
    rc = read_array("--bias", request->bias_path, &job->bias);
  }
  return rc;
}

static int build_desc(const conv_request *request, conv_job *job) {
  const int spatial_dims = job->input.rank - 2;
  gcl_conv_desc *desc = &job->desc;

  gcl_conv_desc_init(desc, spatial_dims, job->input.shape[1],
                     job->weights.shape[0], 1);
  desc->group = request->group;
  desc->bias_term = request->bias_path != NULL;
  for (int axis = 0; axis < spatial_dims; axis++) {
    desc->kernel[axis] = job->weights.shape[2 + axis];
  }

  int rc = cli_expand_axis_values(COMMAND, "--stride", &request->stride,
                                  spatial_dims, 1, desc->stride);
  if (rc == 0) {
    rc = cli_expand_axis_values(COMMAND, "--pad", &request->pad, spatial_dims,
                                0, desc->pad);
  }
  if (rc == 0) {
    rc = cli_expand_axis_values(COMMAND, "--dilation", &request->dilation,
                                spatial_dims, 1, desc->dilation);
  }
  return rc;
}

/*
 * Reports a check that failed on the user's files or flags as "PROBLEM:
 * DETAIL". Out-of-range values come from the user here, so the library's
 * invalid-argument status counts as invalid input too.
 */
static int report_invalid(const char *problem, gcl_status status) {
  const int rc = cli_exit_code_for_status(status);
  if (status == GCL_ERROR_INVALID_ARGUMENT || rc == CLI_EXIT_INPUT) {
    cli_error(COMMAND, "%s: %s", problem, gcl_last_error());
    return CLI_EXIT_INPUT;
  }
  return cli_library_error(COMMAND, "checking the layer", status);
}

/*
 * Suggests a --group value when the weights' second axis (C/group) fits C
 * and K with another group, because a missing --group is a common mistake.
 */
static void suggest_group(const conv_job *job) {
  const int64_t channels = job->input.shape[1];
  const int64_t per_group = job->weights.shape[1];
  if (per_group <= 0 || channels % per_group != 0) {
    return;
  }

  const int64_t fitting_group = channels / per_group;
  if (fitting_group != job->desc.group &&
      job->desc.num_output % fitting_group == 0) {
    cli_error(COMMAND,
              "the weights have %" PRId64 " input channels per group, which "
              "fits %" PRId64 " input channels with --group %" PRId64 ".",
              per_group, channels, fitting_group);
  }
}

/* Checks the layer and the array shapes, and computes the output shape. */
static int check_layer(const conv_request *request, conv_job *job) {
  const gcl_conv_desc *desc = &job->desc;

  gcl_status status = gcl_conv_validate(desc);
  if (status != GCL_SUCCESS) {
    return report_invalid("invalid layer", status);
  }

  status = gcl_conv_check_params(desc, job->weights.rank, job->weights.shape,
                                 job->bias.rank, job->bias.shape);
  if (status != GCL_SUCCESS) {
    char problem[600];
    snprintf(problem, sizeof problem, "--weights %s%s%s do not fit the layer",
             request->weights_path, desc->bias_term ? " or --bias " : "",
             desc->bias_term ? request->bias_path : "");
    const int rc = report_invalid(problem, status);
    suggest_group(job);
    return rc;
  }

  status = gcl_conv_output_shape(desc, job->input.rank, job->input.shape,
                                 job->output_shape);
  if (status != GCL_SUCCESS) {
    return report_invalid("invalid layer for this input", status);
  }
  return 0;
}

static int allocate_output(conv_job *job) {
  size_t count = 1;
  for (int i = 0; i < job->input.rank; i++) {
    const uint64_t extent = (uint64_t)job->output_shape[i];
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

  const float *bias = job->desc.bias_term ? job->bias.data : NULL;
  gcl_status status = gcl_conv_create(job->context, &job->desc,
                                      job->weights.data, bias, &job->conv);
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
  status = gcl_plan_create(job->conv, job->input.rank, job->input.shape,
                           &options, &job->plan);
  if (status != GCL_SUCCESS) {
    return cli_library_error(COMMAND, "planning the convolution", status);
  }

  const double forward_start = cli_now_ms();
  status = gcl_plan_forward(job->plan, job->input.data, job->output);
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
  if (npy_write(request->output_path, job->input.rank, job->output_shape,
                job->output, error, sizeof error) != 0) {
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
  npy_array_free(&job->weights);
  npy_array_free(&job->input);
}

static int run_conv(const conv_request *request) {
  conv_job job;
  memset(&job, 0, sizeof job);

  int rc = read_arrays(request, &job);
  if (rc == 0) {
    rc = build_desc(request, &job);
  }
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

  /*
   * Deconvolution computes the gradient of a convolution with respect to its
   * input, which needs the backward pass. The layer is valid, so this is
   * reported as input the tool cannot handle rather than as a usage error.
   */
  if (request.transposed) {
    cli_error(COMMAND, "--transposed (Deconvolution) is not supported yet; "
                       "it needs the backward pass, which is not implemented "
                       "in this version");
    return CLI_EXIT_INPUT;
  }

  return run_conv(&request);
}
