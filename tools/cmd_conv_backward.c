/*
 * groupcl conv-backward: computes the gradients of a loss with respect to
 * the input, the weights and the bias of one layer from .npy files, on an
 * OpenCL device. The layer is built as `groupcl conv` builds it. Only the
 * requested gradients are written, and none unless all of them were
 * computed and written.
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "cli.h"
#include "cmd_options.h"
#include "cli_args.h"
#include "conv_layer.h"
#include "npy.h"
#include "suite.h"

#define COMMAND "conv-backward"

/*
 * --check fails when |device - reference| > CHECK_TOLERANCE * magnitude for
 * some element. The magnitude is the same gradient computed from |X|, |W|
 * and |DY|: the sum of the absolute values of the products behind the
 * element. Rounding a float sum of n products, in any order, changes it by
 * at most about n * 6e-8 times that magnitude.
 * NOTE: 1e-4 covers that bound only up to about 1700 products. Longer sums
 * pass when their rounding errors partly cancel, as they usually do.
 */
#define CHECK_TOLERANCE 1e-4

enum backward_option_code {
  OPTION_INPUT = CONV_LAYER_OPTION_END,
  OPTION_WEIGHTS,
  OPTION_GRAD_OUTPUT,
  OPTION_GRAD_INPUT,
  OPTION_GRAD_WEIGHTS,
  OPTION_GRAD_BIAS,
  OPTION_DEVICE,
  OPTION_SCHEDULE,
  OPTION_CHECK,
  OPTION_VERBOSE
};

static const struct option backward_options[] = {
    {"input", required_argument, NULL, OPTION_INPUT},
    {"weights", required_argument, NULL, OPTION_WEIGHTS},
    {"grad-output", required_argument, NULL, OPTION_GRAD_OUTPUT},
    {"grad-input", required_argument, NULL, OPTION_GRAD_INPUT},
    {"grad-weights", required_argument, NULL, OPTION_GRAD_WEIGHTS},
    {"grad-bias", required_argument, NULL, OPTION_GRAD_BIAS},
    CONV_LAYER_LONG_OPTIONS,
    {"device", required_argument, NULL, OPTION_DEVICE},
    {"schedule", required_argument, NULL, OPTION_SCHEDULE},
    {"check", no_argument, NULL, OPTION_CHECK},
    {"verbose", no_argument, NULL, OPTION_VERBOSE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}};

static const char *const gradient_options[GRADIENT_COUNT] = {
    "--grad-input", "--grad-weights", "--grad-bias"};


/* One requested gradient: its shape, the device result and its file. */
typedef struct gradient {
  int rank;
  int64_t shape[GCL_MAX_RANK];
  size_t count;
  float *values;
  char *temporary_path; /* written but not yet renamed; NULL otherwise */
} gradient;

/* Everything one run holds, so that a single function can release it. */
typedef struct backward_job {
  conv_layer layer;
  npy_array grad_output;
  gradient gradients[GRADIENT_COUNT];
  float *zero_bias; /* bias of a layer with a bias term; no gradient reads it */
  gcl_context *context;
  gcl_conv *conv;
  gcl_plan *plan;
} backward_job;

static void print_backward_help(void) {
  fputs(
    "Usage: groupcl conv-backward --input X.npy --weights W.npy\n"
    "           --grad-output DY.npy [--grad-input DX.npy]\n"
    "           [--grad-weights DW.npy] [--grad-bias DB.npy] [--group G]\n"
    "           [--stride S] [--pad P] [--dilation D]\n"
    "           [--transposed [--output-padding P]] [--device SPEC]\n"
    "           [--schedule POLICY] [--check] [--verbose]\n"
    "\n"
    "Computes the gradients of a loss L with respect to the input, the\n"
    "weights and the bias of the layer that 'groupcl conv' runs with the\n"
    "same X, W and flags, from DY = dL/dY, on an OpenCL device. Arrays are\n"
    ".npy files of little-endian float32 in C order, as for 'groupcl conv':\n"
    "  X   the layer's input, [N, C, in...]\n"
    "  W   the weights, [K, C/group, kernel...], or [C, K/group, kernel...]\n"
    "      with --transposed\n"
    "  DY  the gradient of the loss with respect to the layer's output Y,\n"
    "      with the shape of Y\n"
    "  DX  dL/dX, with the shape of X\n"
    "  DW  dL/dW, with the shape of W\n"
    "  DB  dL/dB, [K]: the sum of DY over the batch and the positions of\n"
    "      each output channel\n"
    "\n"
    "Give at least one of --grad-input, --grad-weights and --grad-bias;\n"
    "only those gradients are computed. No file is written unless every\n"
    "requested gradient was computed (and, with --check, matched the host\n"
    "reference) and written; existing files are then replaced. The bias\n"
    "enters no gradient, so the command reads no bias file: --grad-bias\n"
    "makes the layer one with a bias term.\n"
    "\n"
    "Options:\n"
    "  --input X.npy       forward input (required)\n"
    "  --weights W.npy     weights (required)\n"
    "  --grad-output DY.npy\n"
    "                      gradient of the output (required)\n"
    "  --grad-input DX.npy\n"
    "                      write the input gradient to DX.npy\n"
    "  --grad-weights DW.npy\n"
    "                      write the weight gradient to DW.npy\n"
    "  --grad-bias DB.npy  write the bias gradient to DB.npy\n",
    stdout);
  conv_layer_print_flags_help();
  puts(
    "  --device SPEC       OpenCL device(s) to use (default: GROUPCL_DEVICES,\n"
    "                      else 'auto'); see 'groupcl --help'\n"
    "  --schedule POLICY   where the groups run (default auto): single (one\n"
    "                      queue), queues:N (N queues of the first device),\n"
    "                      devices (every selected device, in proportion to\n"
    "                      its measured speed) or auto\n"
    "  --check             also compute the gradients on the host with\n"
    "                      gcl_conv_reference_backward and print the largest\n"
    "                      error of each, absolute and relative to the sum\n"
    "                      of |products| behind the element; a relative\n"
    "                      error above 1e-4 fails the run with exit status 1\n"
    "  --verbose           print the device and the times in ms on stderr;\n"
    "                      the backward time includes the copies between\n"
    "                      host and device\n"
    "  -h, --help          print this help and exit\n"
    "\n"
    "--stride, --pad, --dilation and --output-padding take one value for\n"
    "every axis or one per spatial axis, ordered depth, height, width (for\n"
    "example --stride 2,1 or --pad 1:2,0:1).\n"
    "\n"
    "Exit status: 0 success, 1 runtime failure or failed --check, 2 usage\n"
    "error, 3 invalid layer or input file, 4 no matching device.");
}

static int parse_backward_option(int code, const char *text,
                                 conv_backward_request *request) {
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
  case OPTION_GRAD_OUTPUT:
    request->grad_output_path = text;
    return 0;
  case OPTION_GRAD_INPUT:
    request->gradient_paths[GRADIENT_INPUT] = text;
    return 0;
  case OPTION_GRAD_WEIGHTS:
    request->gradient_paths[GRADIENT_WEIGHTS] = text;
    return 0;
  case OPTION_GRAD_BIAS:
    request->gradient_paths[GRADIENT_BIAS] = text;
    return 0;
  case OPTION_DEVICE:
    request->device_spec = text;
    return 0;
  case OPTION_SCHEDULE:
    if (gcl_schedule_parse(text, &request->schedule) != GCL_SUCCESS)
      return cli_usage_error(COMMAND, "--schedule: %s.", gcl_last_error());
    return 0;
  case OPTION_CHECK:
    request->check = 1;
    return 0;
  case OPTION_VERBOSE:
    request->verbose = 1;
    return 0;
  default:
    request->show_help = 1;
    return 0;
  }
}

/*
 * Requires at least one gradient file and distinct names, because a second
 * gradient written to the same path would replace the first.
 */
static int check_gradient_paths(const conv_backward_request *request) {
  const char *const *paths = request->gradient_paths;
  if (paths[GRADIENT_INPUT] == NULL && paths[GRADIENT_WEIGHTS] == NULL &&
      paths[GRADIENT_BIAS] == NULL) {
    return cli_usage_error(COMMAND,
                           "missing gradient to write. Give at least one of "
                           "--grad-input, --grad-weights and --grad-bias.");
  }

  for (int first = 0; first < GRADIENT_COUNT; first++) {
    for (int second = first + 1; second < GRADIENT_COUNT; second++) {
      if (paths[first] != NULL && paths[second] != NULL &&
          strcmp(paths[first], paths[second]) == 0) {
        return cli_usage_error(COMMAND,
                               "%s and %s both name %s. Give each gradient "
                               "its own file.",
                               gradient_options[first],
                               gradient_options[second], paths[first]);
      }
    }
  }
  return 0;
}

static int check_required_options(const conv_backward_request *request) {
  if (request->input_path == NULL) {
    return cli_usage_error(COMMAND, "missing --input, the input .npy file.");
  }
  if (request->weights_path == NULL) {
    return cli_usage_error(COMMAND,
                           "missing --weights, the weights .npy file.");
  }
  if (request->grad_output_path == NULL) {
    return cli_usage_error(COMMAND,
                           "missing --grad-output, the .npy file of the "
                           "output gradient.");
  }
  return check_gradient_paths(request);
}

int parse_conv_backward_options(int argc, char **argv,
                                conv_backward_request *request) {
  memset(request, 0, sizeof *request);
  conv_layer_flags_init(&request->layer);
  gcl_plan_options_init(&request->schedule);

  int code;
  cli_reset_getopt();
  while ((code = getopt_long(argc, argv, ":h", backward_options, NULL)) !=
         -1) {
    if (code == '?' || code == ':') {
      return cli_report_getopt_error(COMMAND, code, argv, backward_options);
    }
    const int rc = parse_backward_option(code, optarg, request);
    if (rc != 0) {
      return rc;
    }
  }
  if (request->show_help) {
    return 0;
  }

  int rc = check_required_options(request);
  if (rc == 0) {
    rc = conv_layer_flags_check(COMMAND, &request->layer);
  }
  if (rc == 0) {
    rc = cli_check_no_operands(COMMAND, argc, argv);
  }
  return rc;
}

/* Reads the arrays, builds the layer and checks it, DY's shape included. */
static int prepare_layer(const conv_backward_request *request, backward_job *job) {
  conv_layer *layer = &job->layer;
  const int bias_term = request->gradient_paths[GRADIENT_BIAS] != NULL;

  int rc = conv_layer_read(COMMAND, request->input_path,
                           request->weights_path, request->layer.transposed,
                           layer);
  if (rc == 0) {
    rc = conv_layer_read_array(COMMAND, "--grad-output",
                               request->grad_output_path, &job->grad_output);
  }
  if (rc == 0) {
    rc = conv_layer_build(COMMAND, &request->layer, bias_term, layer);
  }
  if (rc == 0) {
    const int64_t bias_shape[1] = {layer->desc.num_output};
    rc = conv_layer_check(COMMAND, request->weights_path, NULL,
                          bias_term ? 1 : 0, bias_shape, layer);
  }
  return rc;
}

/* Requires DY to have exactly the shape of the layer's output. */
static int check_grad_output_shape(const conv_backward_request *request,
                                   const backward_job *job) {
  const conv_layer *layer = &job->layer;
  const npy_array *grad_output = &job->grad_output;
  const int rank = layer->input.rank;

  int same = grad_output->rank == rank;
  for (int i = 0; same && i < rank; i++) {
    same = grad_output->shape[i] == layer->output_shape[i];
  }
  if (same) {
    return 0;
  }

  char given[160];
  char input[160];
  char expected[160];
  cli_error(COMMAND,
            "--grad-output %s has shape %s, but the layer's output for "
            "--input %s of shape %s has shape %s. DY must have the shape of "
            "the output.",
            request->grad_output_path,
            cli_format_shape(grad_output->rank, grad_output->shape, given,
                             sizeof given),
            request->input_path,
            cli_format_shape(rank, layer->input.shape, input, sizeof input),
            cli_format_shape(rank, layer->output_shape, expected,
                             sizeof expected));
  return CLI_EXIT_INPUT;
}

/* Sets the shape of each requested gradient and allocates its values. */
static int allocate_gradients(const conv_backward_request *request,
                              backward_job *job) {
  const conv_layer *layer = &job->layer;
  const npy_array *sources[GRADIENT_COUNT] = {&layer->input, &layer->weights,
                                              NULL};

  for (int kind = 0; kind < GRADIENT_COUNT; kind++) {
    if (request->gradient_paths[kind] == NULL) {
      continue;
    }
    gradient *target = &job->gradients[kind];
    if (sources[kind] != NULL) {
      target->rank = sources[kind]->rank;
      memcpy(target->shape, sources[kind]->shape,
             (size_t)target->rank * sizeof *target->shape);
    } else {
      target->rank = 1;
      target->shape[0] = layer->desc.num_output;
    }
    const int rc = suite_allocate_floats(
        COMMAND, gradient_options[kind] + 2, target->rank, target->shape,
        &target->values, &target->count);
    if (rc != 0) {
      return rc;
    }
  }
  return 0;
}

/* Creates the context, the conv and a plan that prepares the backward pass. */
static int plan_on_device(const conv_backward_request *request,
                          backward_job *job) {
  const conv_layer *layer = &job->layer;
  int rc = cli_create_context(COMMAND, request->device_spec, &job->context);
  if (rc != 0) {
    return rc;
  }

  if (layer->desc.bias_term) {
    job->zero_bias = calloc((size_t)layer->desc.num_output, sizeof(float));
    if (job->zero_bias == NULL) {
      cli_error(COMMAND, "out of memory for a bias of %" PRId64 " floats.",
                layer->desc.num_output);
      return CLI_EXIT_RUNTIME;
    }
  }
  gcl_status status = gcl_conv_create(job->context, &layer->desc,
                                      layer->weights.data, job->zero_bias,
                                      &job->conv);
  if (status != GCL_SUCCESS) {
    return cli_library_error(COMMAND, "creating the convolution", status);
  }

  gcl_plan_options options;
  gcl_plan_options_init(&options);
  options.schedule = request->schedule.schedule;
  options.queues = request->schedule.queues;
  options.backward = 1;
  status = gcl_plan_create(job->conv, layer->input.rank, layer->input.shape,
                           &options, &job->plan);
  if (status != GCL_SUCCESS) {
    return cli_library_error(COMMAND, "planning the backward pass", status);
  }
  return 0;
}

/* Runs the backward pass and reports the times with --verbose. */
static int run_on_device(const conv_backward_request *request, backward_job *job) {
  const double plan_start = cli_now_ms();
  const int rc = plan_on_device(request, job);
  if (rc != 0) {
    return rc;
  }

  gcl_backward_args args;
  memset(&args, 0, sizeof args);
  args.input = job->layer.input.data;
  args.grad_output = job->grad_output.data;
  args.grad_input = job->gradients[GRADIENT_INPUT].values;
  args.grad_weights = job->gradients[GRADIENT_WEIGHTS].values;
  args.grad_bias = job->gradients[GRADIENT_BIAS].values;
  args.overwrite = 1;

  const double backward_start = cli_now_ms();
  const gcl_status status = gcl_plan_backward(job->plan, &args);
  const double backward_end = cli_now_ms();
  if (status != GCL_SUCCESS) {
    return cli_library_error(COMMAND, "running the backward pass", status);
  }

  if (request->verbose) {
    char device_name[192];
    cli_error(COMMAND,
              "device %s, %zu slot(s), context and plan %.1f ms, backward "
              "%.3f ms",
              cli_context_device_name(job->context, device_name,
                                      sizeof device_name),
              gcl_plan_slot_count(job->plan), backward_start - plan_start,
              backward_end - backward_start);
  }
  return 0;
}

/* ------------------------------------------------------------------------ */
/* --check                                                                  */

/* Host results that the device's gradients are compared with. */
typedef struct reference_gradients {
  float *expected[GRADIENT_COUNT];
  float *magnitude[GRADIENT_COUNT];
  float *absolute_input;
  float *absolute_weights;
  float *absolute_grad_output;
} reference_gradients;

static void release_reference(reference_gradients *reference) {
  for (int kind = 0; kind < GRADIENT_COUNT; kind++) {
    free(reference->expected[kind]);
    free(reference->magnitude[kind]);
  }
  free(reference->absolute_input);
  free(reference->absolute_weights);
  free(reference->absolute_grad_output);
}

/* Returns a malloc'ed copy of values with every element made positive. */
static float *absolute_copy(const float *values, size_t count) {
  float *copy = malloc((count > 0 ? count : 1) * sizeof *copy);
  if (copy != NULL) {
    for (size_t i = 0; i < count; i++) {
      copy[i] = fabsf(values[i]);
    }
  }
  return copy;
}

static int allocate_reference(const backward_job *job,
                              reference_gradients *reference) {
  const conv_layer *layer = &job->layer;
  for (int kind = 0; kind < GRADIENT_COUNT; kind++) {
    const gradient *target = &job->gradients[kind];
    if (target->values == NULL) {
      continue;
    }
    int rc = suite_allocate_floats(COMMAND, "reference gradient",
                                   target->rank, target->shape,
                                   &reference->expected[kind], NULL);
    if (rc == 0) {
      rc = suite_allocate_floats(COMMAND, "reference gradient",
                                 target->rank, target->shape,
                                 &reference->magnitude[kind], NULL);
    }
    if (rc != 0) {
      return rc;
    }
  }

  reference->absolute_input =
      absolute_copy(layer->input.data, layer->input.count);
  reference->absolute_weights =
      absolute_copy(layer->weights.data, layer->weights.count);
  reference->absolute_grad_output =
      absolute_copy(job->grad_output.data, job->grad_output.count);
  if (reference->absolute_input == NULL ||
      reference->absolute_weights == NULL ||
      reference->absolute_grad_output == NULL) {
    cli_error(COMMAND, "out of memory for the --check reference. Give a "
                       "smaller layer.");
    return CLI_EXIT_RUNTIME;
  }
  return 0;
}

/* Computes the reference gradients and their magnitudes on the host. */
static int compute_reference(const backward_job *job,
                             reference_gradients *reference) {
  const conv_layer *layer = &job->layer;
  gcl_status status = gcl_conv_reference_backward(
      &layer->desc, layer->input.rank, layer->input.shape, layer->input.data,
      layer->weights.data, job->grad_output.data,
      reference->expected[GRADIENT_INPUT],
      reference->expected[GRADIENT_WEIGHTS],
      reference->expected[GRADIENT_BIAS]);
  if (status == GCL_SUCCESS) {
    status = gcl_conv_reference_backward(
        &layer->desc, layer->input.rank, layer->input.shape,
        reference->absolute_input, reference->absolute_weights,
        reference->absolute_grad_output,
        reference->magnitude[GRADIENT_INPUT],
        reference->magnitude[GRADIENT_WEIGHTS],
        reference->magnitude[GRADIENT_BIAS]);
  }
  if (status != GCL_SUCCESS) {
    return cli_library_error(COMMAND, "computing the host reference",
                             status);
  }
  return 0;
}

/* Formats a flat index into a tensor of the given shape as "[0, 2, 1]". */
static const char *format_index(int rank, const int64_t *shape, size_t flat,
                                char *buffer, size_t size) {
  int64_t index[GCL_MAX_RANK];
  for (int i = rank - 1; i >= 0; i--) {
    index[i] = (int64_t)(flat % (size_t)shape[i]);
    flat /= (size_t)shape[i];
  }
  return cli_format_shape(rank, index, buffer, size);
}

/*
 * Compares one device gradient with the reference, prints its largest
 * errors on stdout and returns CLI_EXIT_RUNTIME, after naming the worst
 * element, when an element is off by more than the tolerance. Where the
 * magnitude is 0 the reference is exactly 0, and the absolute error stands
 * for the relative one. NaN in both results counts as equal, and NaN in
 * only one as a failure.
 */
static int compare_gradient(int kind, const gradient *target,
                            const float *expected, const float *magnitude) {
  double max_absolute = 0.0;
  double max_relative = 0.0;
  size_t worst = 0;

  for (size_t i = 0; i < target->count; i++) {
    const double actual = target->values[i];
    if (isnan(actual) && isnan(expected[i])) {
      continue;
    }
    double error = fabs(actual - (double)expected[i]);
    if (isnan(error)) {
      error = INFINITY;
    }
    const double relative =
        magnitude[i] > 0.0f ? error / (double)magnitude[i] : error;
    if (error > max_absolute) {
      max_absolute = error;
    }
    if (relative > max_relative) {
      max_relative = relative;
      worst = i;
    }
  }

  printf("%s: max error %.3g absolute, %.3g relative to the sum of "
         "|products|\n",
         gradient_options[kind], max_absolute, max_relative);
  if (max_relative <= CHECK_TOLERANCE) {
    return 0;
  }

  char index[160];
  cli_error(COMMAND,
            "%s differs from gcl_conv_reference_backward at %s: %.8g "
            "instead of %.8g, while the sum of |products| there is %.8g "
            "and the tolerance %g of it. The OpenCL driver may be faulty, "
            "so try another device with --device.",
            gradient_options[kind],
            format_index(target->rank, target->shape, worst, index,
                         sizeof index),
            (double)target->values[worst], (double)expected[worst],
            (double)magnitude[worst], CHECK_TOLERANCE);
  return CLI_EXIT_RUNTIME;
}

/* Runs --check on every requested gradient and stops at the first failure. */
static int check_gradients(const backward_job *job) {
  reference_gradients reference;
  memset(&reference, 0, sizeof reference);

  int rc = allocate_reference(job, &reference);
  if (rc == 0) {
    rc = compute_reference(job, &reference);
  }
  for (int kind = 0; rc == 0 && kind < GRADIENT_COUNT; kind++) {
    if (job->gradients[kind].values != NULL) {
      rc = compare_gradient(kind, &job->gradients[kind],
                            reference.expected[kind],
                            reference.magnitude[kind]);
    }
  }

  release_reference(&reference);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Writing the gradients                                                    */

/* Removes every gradient file that is written but not yet renamed. */
static void discard_temporaries(backward_job *job) {
  for (int kind = 0; kind < GRADIENT_COUNT; kind++) {
    atomic_file_discard(job->gradients[kind].temporary_path);
    job->gradients[kind].temporary_path = NULL;
  }
}

/*
 * Writes each requested gradient to a temporary file next to its path. A
 * path that names a folder fails here, because renaming onto it would fail
 * only after other gradients had been renamed into place.
 */
static int write_temporaries(const conv_backward_request *request,
                             backward_job *job) {
  char error[512];
  for (int kind = 0; kind < GRADIENT_COUNT; kind++) {
    gradient *target = &job->gradients[kind];
    const char *path = request->gradient_paths[kind];
    if (path == NULL) {
      continue;
    }

    struct stat info;
    if (stat(path, &info) == 0 && S_ISDIR(info.st_mode)) {
      cli_error(COMMAND, "%s: %s is a folder. Give the path of a file.",
                gradient_options[kind], path);
      return CLI_EXIT_RUNTIME;
    }
    if (npy_write_temporary(path, target->rank, target->shape,
                            target->values, &target->temporary_path, error,
                            sizeof error) != 0) {
      cli_error(COMMAND, "%s: %s", gradient_options[kind], error);
      return CLI_EXIT_RUNTIME;
    }
  }
  return 0;
}

/*
 * Renames every temporary file into place. If a rename still fails, the
 * gradients already renamed are removed, so that none is left from a failed
 * run.
 * NOTE: a file that existed at such a path before the run is lost then,
 * because the rename had already replaced it.
 */
static int publish_temporaries(const conv_backward_request *request,
                               backward_job *job) {
  char error[512];
  for (int kind = 0; kind < GRADIENT_COUNT; kind++) {
    gradient *target = &job->gradients[kind];
    if (target->temporary_path == NULL) {
      continue;
    }

    const char *path = request->gradient_paths[kind];
    char *temporary_path = target->temporary_path;
    target->temporary_path = NULL; /* atomic_file_publish frees it */
    if (atomic_file_publish(temporary_path, path, error, sizeof error) != 0) {
      cli_error(COMMAND, "%s: %s", gradient_options[kind], error);
      for (int published = 0; published < kind; published++) {
        if (request->gradient_paths[published] != NULL) {
          unlink(request->gradient_paths[published]);
        }
      }
      return CLI_EXIT_RUNTIME;
    }
  }
  return 0;
}

/* Writes all requested gradients, or none of them. */
static int write_gradients(const conv_backward_request *request,
                           backward_job *job) {
  int rc = write_temporaries(request, job);
  if (rc == 0) {
    rc = publish_temporaries(request, job);
  }
  discard_temporaries(job);
  return rc;
}

/* ------------------------------------------------------------------------ */

static void release_job(backward_job *job) {
  discard_temporaries(job);
  gcl_plan_destroy(job->plan);
  gcl_conv_destroy(job->conv);
  gcl_context_destroy(job->context);
  free(job->zero_bias);
  for (int kind = 0; kind < GRADIENT_COUNT; kind++) {
    free(job->gradients[kind].values);
  }
  npy_array_free(&job->grad_output);
  conv_layer_free(&job->layer);
}

static int run_backward(const conv_backward_request *request) {
  backward_job job;
  memset(&job, 0, sizeof job);

  int rc = prepare_layer(request, &job);
  if (rc == 0) {
    rc = check_grad_output_shape(request, &job);
  }
  if (rc == 0) {
    rc = allocate_gradients(request, &job);
  }
  if (rc == 0) {
    rc = run_on_device(request, &job);
  }
  if (rc == 0 && request->check) {
    rc = check_gradients(&job);
  }
  if (rc == 0) {
    rc = write_gradients(request, &job);
  }

  release_job(&job);
  return rc;
}

int cmd_conv_backward(int argc, char **argv) {
  conv_backward_request request;
  const int rc = parse_conv_backward_options(argc, argv, &request);
  if (rc != 0) {
    return rc;
  }
  if (request.show_help) {
    print_backward_help();
    return CLI_EXIT_SUCCESS;
  }
  return run_backward(&request);
}
