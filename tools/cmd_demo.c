/*
 * groupcl demo: runs two grouped convolutions on a photograph, a depthwise
 * Gaussian blur and a bank of oriented edge filters per colour channel,
 * checks them against the host reference and writes the results as PNGs.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "cmd_options.h"
#include "cli_args.h"
#include "png_io.h"

#define COMMAND "demo"

/* Makefile.am defines both; these defaults serve builds outside it. */
#ifndef GCL_DATADIR
#define GCL_DATADIR "/usr/local/share/groupcl"
#endif
#ifndef GCL_SRCDIR
#define GCL_SRCDIR "."
#endif

#define DEFAULT_OUTPUT_DIR "groupcl-demo"
#define DEMO_PATH_MAX 4096

/* Timing: one untimed run compiles and warms caches, then the median of 5. */
#define WARMUP_RUNS 1
#define TIMED_RUNS 5

/* A device result passes when |device - reference| <= ABS + REL * |ref|. */
#define TOLERANCE_ABSOLUTE 1e-5
#define TOLERANCE_RELATIVE 1e-4

#define COLOUR_CHANNELS 3
#define BLUR_SIZE 5
#define BLUR_SIGMA 1.5
#define EDGE_ORIENTATIONS 4
#define EDGE_BIAS 0.01f

/* Edges brighter than this quantile of the magnitude are drawn white. */
#define EDGE_WHITE_QUANTILE 0.99

enum demo_option_code { OPTION_IMAGE = 256, OPTION_OUTPUT_DIR, OPTION_DEVICE };

static const struct option demo_options[] = {
    {"image", required_argument, NULL, OPTION_IMAGE},
    {"output-dir", required_argument, NULL, OPTION_OUTPUT_DIR},
    {"device", required_argument, NULL, OPTION_DEVICE},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0}};

/* One layer of the demo with its parameters, results and measurements. */
typedef struct demo_layer {
  const char *name;
  gcl_conv_desc desc;
  float *weights;
  float *bias; /* NULL when desc.bias_term is 0 */
  int64_t output_shape[4];
  size_t output_count;
  float *output;
  float *reference;
  double median_ms;
  double max_abs_error;
  double max_rel_error;
} demo_layer;

/* A photograph as the tensor [1][3][height][width], values in [0, 1]. */
typedef struct demo_image {
  const char *path;
  int width;
  int height;
  float *pixels;
  int64_t shape[4];
} demo_image;

static void print_demo_help(void) {
  puts(
    "Usage: groupcl demo [--image FILE] [--output-dir DIR] [--device SPEC]\n"
    "\n"
    "Runs two grouped convolutions on a colour photograph:\n"
    "  blur   depthwise, group 3, K 3: a 5x5 Gaussian filter (sigma 1.5\n"
    "         pixels) on each colour channel, pad 2\n"
    "  edges  group 3, K 12: four 3x3 Sobel filters at 0, 45, 90 and 135\n"
    "         degrees on each colour channel, pad 1, bias 0.01\n"
    "For each it prints the median time in ms of 5 runs after a warm-up\n"
    "(each run copies the image to the device and the result back),\n"
    "the speed in GFLOP/s (2 FLOPs per multiply-accumulate) and the largest\n"
    "difference from the host reference, gcl_conv_reference_forward. A\n"
    "difference above 1e-4 relative plus 1e-5 absolute ends the run with\n"
    "exit status 1.\n"
    "\n"
    "It writes three PNG files into the output folder: input.png (the\n"
    "photograph), blur.png (the blurred colour image) and edges.png (grey,\n"
    "the edge magnitude summed over the 4 orientations and 3 channels).\n"
    "The zero padding darkens the border of blur.png and draws a frame\n"
    "of edges around edges.png, as it does in Caffe.\n"
    "\n"
    "Options:\n"
    "  --image FILE       PNG photograph (default: chelsea.png from\n"
    "                     " GCL_DATADIR ",\n"
    "                     else from the source tree)\n"
    "  --output-dir DIR   folder for the PNG files, created when missing\n"
    "                     (default ./" DEFAULT_OUTPUT_DIR ")\n"
    "  --device SPEC      OpenCL device(s) to use (default: GROUPCL_DEVICES,\n"
    "                     else 'auto'); see 'groupcl --help'\n"
    "  -h, --help         print this help and exit");
}

int parse_demo_options(int argc, char **argv, demo_request *request) {
  memset(request, 0, sizeof *request);
  request->output_dir = DEFAULT_OUTPUT_DIR;

  int code;
  cli_reset_getopt();
  while ((code = getopt_long(argc, argv, ":h", demo_options, NULL)) != -1) {
    switch (code) {
    case OPTION_IMAGE:
      request->image_path = optarg;
      break;
    case OPTION_OUTPUT_DIR:
      request->output_dir = optarg;
      break;
    case OPTION_DEVICE:
      request->device_spec = optarg;
      break;
    case 'h':
      request->show_help = 1;
      break;
    default:
      return cli_report_getopt_error(COMMAND, code, argv, demo_options);
    }
  }
  if (request->show_help) {
    return 0;
  }
  if (request->output_dir[0] == '\0') {
    return cli_usage_error(COMMAND, "--output-dir is empty. Give a folder, "
                                    "for example --output-dir .");
  }
  return cli_check_no_operands(COMMAND, argc, argv);
}

/* Picks the installed photograph, or the source tree's copy before install. */
static const char *default_image_path(void) {
  static const char installed[] = GCL_DATADIR "/chelsea.png";
  if (access(installed, R_OK) == 0) {
    return installed;
  }
  return GCL_SRCDIR "/examples/data/chelsea.png";
}

static int load_image(const demo_request *request, demo_image *image) {
  char error[512];

  image->path = request->image_path != NULL ? request->image_path
                                            : default_image_path();
  if (png_read_rgb(image->path, &image->width, &image->height, &image->pixels,
                   error, sizeof error) != 0) {
    cli_error(COMMAND, "--image: %s", error);
    return CLI_EXIT_INPUT;
  }

  image->shape[0] = 1;
  image->shape[1] = COLOUR_CHANNELS;
  image->shape[2] = image->height;
  image->shape[3] = image->width;
  return 0;
}

/* Creates path and its missing parents, as `mkdir -p` does. */
static int make_directories(const char *path) {
  char partial[DEMO_PATH_MAX];
  const size_t length = strlen(path);
  if (length >= sizeof partial) {
    errno = ENAMETOOLONG;
    return -1;
  }

  memcpy(partial, path, length + 1);
  for (size_t i = 1; i <= length; i++) {
    if (partial[i] != '/' && partial[i] != '\0') {
      continue;
    }
    const char saved = partial[i];
    partial[i] = '\0';
    if (mkdir(partial, 0777) != 0 && errno != EEXIST) {
      return -1;
    }
    partial[i] = saved;
  }

  struct stat info;
  if (stat(path, &info) != 0) {
    return -1;
  }
  if (!S_ISDIR(info.st_mode)) {
    errno = ENOTDIR;
    return -1;
  }
  return 0;
}

/* Fills [3][1][5][5] with one normalised Gaussian filter per channel. */
static void fill_blur_weights(float *weights) {
  const int centre = BLUR_SIZE / 2;
  double taps[BLUR_SIZE * BLUR_SIZE];
  double sum = 0.0;

  for (int y = 0; y < BLUR_SIZE; y++) {
    for (int x = 0; x < BLUR_SIZE; x++) {
      const double squared = (double)((y - centre) * (y - centre) +
                                      (x - centre) * (x - centre));
      taps[y * BLUR_SIZE + x] = exp(-squared / (2.0 * BLUR_SIGMA * BLUR_SIGMA));
      sum += taps[y * BLUR_SIZE + x];
    }
  }

  for (int channel = 0; channel < COLOUR_CHANNELS; channel++) {
    for (int i = 0; i < BLUR_SIZE * BLUR_SIZE; i++) {
      weights[channel * BLUR_SIZE * BLUR_SIZE + i] = (float)(taps[i] / sum);
    }
  }
}

/*
 * Fills [12][1][3][3]: output channel 4*c + o filters colour channel c with
 * a Sobel filter turned by o * 45 degrees.
 */
static void fill_edge_weights(float *weights, float *bias) {
  static const float sobel[EDGE_ORIENTATIONS][9] = {
      {-1, 0, 1, -2, 0, 2, -1, 0, 1},  /* 0 degrees: vertical edges */
      {0, 1, 2, -1, 0, 1, -2, -1, 0},  /* 45 degrees */
      {1, 2, 1, 0, 0, 0, -1, -2, -1},  /* 90 degrees: horizontal edges */
      {2, 1, 0, 1, 0, -1, 0, -1, -2}}; /* 135 degrees */

  for (int channel = 0; channel < COLOUR_CHANNELS; channel++) {
    for (int o = 0; o < EDGE_ORIENTATIONS; o++) {
      const int output_channel = channel * EDGE_ORIENTATIONS + o;
      memcpy(weights + output_channel * 9, sobel[o], sizeof sobel[o]);
      bias[output_channel] = EDGE_BIAS;
    }
  }
}

static int allocate_floats(size_t count, float **array) {
  *array = calloc(count, sizeof **array);
  if (*array == NULL) {
    cli_error(COMMAND, "out of memory for %zu floats. Try a smaller --image.",
              count);
    return CLI_EXIT_RUNTIME;
  }
  return 0;
}

/* Computes a layer's output shape and allocates its output and reference. */
static int allocate_results(const demo_image *image, demo_layer *layer) {
  const gcl_status status = gcl_conv_output_shape(&layer->desc, 4,
                                                  image->shape,
                                                  layer->output_shape);
  if (status != GCL_SUCCESS) {
    cli_error(COMMAND, "--image %s is too small for the %s filter: %s",
              image->path, layer->name, gcl_last_error());
    return CLI_EXIT_INPUT;
  }

  layer->output_count = 1;
  for (int i = 0; i < 4; i++) {
    layer->output_count *= (size_t)layer->output_shape[i];
  }
  int rc = allocate_floats(layer->output_count, &layer->output);
  if (rc == 0) {
    rc = allocate_floats(layer->output_count, &layer->reference);
  }
  return rc;
}

/*
 * Sets up both layers. Each pads by half its filter size at stride 1, so its
 * output planes have the size of the image.
 */
static int prepare_layers(const demo_image *image, demo_layer *blur,
                          demo_layer *edges) {
  blur->name = "blur";
  gcl_conv_desc_init(&blur->desc, 2, COLOUR_CHANNELS, COLOUR_CHANNELS,
                     BLUR_SIZE);
  blur->desc.group = COLOUR_CHANNELS;
  blur->desc.pad[0] = blur->desc.pad[1] = BLUR_SIZE / 2;
  blur->desc.bias_term = 0;

  edges->name = "edges";
  gcl_conv_desc_init(&edges->desc, 2, COLOUR_CHANNELS,
                     COLOUR_CHANNELS * EDGE_ORIENTATIONS, 3);
  edges->desc.group = COLOUR_CHANNELS;
  edges->desc.pad[0] = edges->desc.pad[1] = 1;

  int rc = allocate_floats(COLOUR_CHANNELS * BLUR_SIZE * BLUR_SIZE,
                           &blur->weights);
  if (rc == 0) {
    rc = allocate_floats(COLOUR_CHANNELS * EDGE_ORIENTATIONS * 9,
                         &edges->weights);
  }
  if (rc == 0) {
    rc = allocate_floats(COLOUR_CHANNELS * EDGE_ORIENTATIONS, &edges->bias);
  }
  if (rc == 0) {
    rc = allocate_results(image, blur);
  }
  if (rc == 0) {
    rc = allocate_results(image, edges);
  }
  if (rc != 0) {
    return rc;
  }

  fill_blur_weights(blur->weights);
  fill_edge_weights(edges->weights, edges->bias);
  return 0;
}

static int compare_doubles(const void *a, const void *b) {
  const double x = *(const double *)a;
  const double y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Runs the plan WARMUP_RUNS times untimed, then TIMED_RUNS times. */
static int time_forward(gcl_plan *plan, const float *input, demo_layer *layer) {
  double times[TIMED_RUNS];

  for (int run = 0; run < WARMUP_RUNS + TIMED_RUNS; run++) {
    const double start = cli_now_ms();
    const gcl_status status = gcl_plan_forward(plan, input, layer->output);
    const double end = cli_now_ms();
    if (status != GCL_SUCCESS) {
      return cli_library_error(COMMAND, "running the convolution", status);
    }
    if (run >= WARMUP_RUNS) {
      times[run - WARMUP_RUNS] = end - start;
    }
  }

  qsort(times, TIMED_RUNS, sizeof times[0], compare_doubles);
  layer->median_ms = times[TIMED_RUNS / 2];
  return 0;
}

/* Creates the conv and its plan for the image, and times the forward pass. */
static int run_layer(gcl_context *context, const demo_image *image,
                     demo_layer *layer) {
  gcl_conv *conv = NULL;
  gcl_plan *plan = NULL;
  int rc = 0;

  gcl_status status = gcl_conv_create(context, &layer->desc, layer->weights,
                                      layer->bias, &conv);
  if (status != GCL_SUCCESS) {
    rc = cli_library_error(COMMAND, "creating the convolution", status);
  }
  if (rc == 0) {
    status = gcl_plan_create(conv, 4, image->shape, NULL, &plan);
    if (status != GCL_SUCCESS) {
      rc = cli_library_error(COMMAND, "planning the convolution", status);
    }
  }
  if (rc == 0) {
    rc = time_forward(plan, image->pixels, layer);
  }

  gcl_plan_destroy(plan);
  gcl_conv_destroy(conv);
  return rc;
}

/*
 * Compares the device output with the host reference. The relative error is
 * taken only where |reference| exceeds the absolute tolerance, because the
 * ratio is meaningless for elements that are nearly zero.
 */
static int check_layer(const demo_image *image, demo_layer *layer) {
  const gcl_status status = gcl_conv_reference_forward(
      &layer->desc, 4, image->shape, image->pixels, layer->weights,
      layer->bias, layer->reference);
  if (status != GCL_SUCCESS) {
    return cli_library_error(COMMAND, "computing the host reference", status);
  }

  size_t worst = 0;
  double worst_excess = -INFINITY;
  for (size_t i = 0; i < layer->output_count; i++) {
    const double expected = layer->reference[i];
    const double error = fabs((double)layer->output[i] - expected);
    const double excess =
        error - (TOLERANCE_ABSOLUTE + TOLERANCE_RELATIVE * fabs(expected));

    if (error > layer->max_abs_error || isnan(error)) {
      layer->max_abs_error = error;
    }
    if (fabs(expected) > TOLERANCE_ABSOLUTE &&
        error / fabs(expected) > layer->max_rel_error) {
      layer->max_rel_error = error / fabs(expected);
    }
    if (excess > worst_excess || isnan(error)) {
      worst_excess = isnan(error) ? INFINITY : excess;
      worst = i;
    }
  }

  if (worst_excess > 0.0) {
    const size_t width = (size_t)layer->output_shape[3];
    const size_t plane = (size_t)layer->output_shape[2] * width;
    cli_error(COMMAND,
              "%s: the device output differs from the reference at [0, %zu, "
              "%zu, %zu]: %.8g instead of %.8g (tolerance %g relative + %g "
              "absolute). The OpenCL driver may be faulty, so try another "
              "device with --device.",
              layer->name, worst / plane, worst % plane / width,
              worst % width, (double)layer->output[worst],
              (double)layer->reference[worst], TOLERANCE_RELATIVE,
              TOLERANCE_ABSOLUTE);
    return CLI_EXIT_RUNTIME;
  }
  return 0;
}

static void print_layer_report(const demo_layer *layer) {
  const gcl_conv_desc *desc = &layer->desc;
  /* Each output element reads C/group channels through the filter window. */
  const double macs = (double)layer->output_count *
                      (double)(desc->channels / desc->group) *
                      (double)(desc->kernel[0] * desc->kernel[1]);
  const double gflops = 2.0 * macs / (layer->median_ms * 1e6);

  printf("%s: C %lld, K %lld, group %lld, kernel %lldx%lld, pad %lld, %s\n",
         layer->name, (long long)desc->channels, (long long)desc->num_output,
         (long long)desc->group, (long long)desc->kernel[0],
         (long long)desc->kernel[1], (long long)desc->pad[0],
         desc->bias_term ? "with bias" : "no bias");
  printf("  time:       %.3f ms (median of %d runs after %d warm-up)\n",
         layer->median_ms, TIMED_RUNS, WARMUP_RUNS);
  printf("  speed:      %.2f GFLOP/s (%.2f million MACs)\n", gflops,
         macs / 1e6);
  printf("  max error:  %.3g absolute, %.3g relative (where |reference| > "
         "%g), against gcl_conv_reference_forward\n",
         layer->max_abs_error, layer->max_rel_error, TOLERANCE_ABSOLUTE);
}

/* Returns the value below which `quantile` of the values lie. */
static float find_quantile(const float *values, size_t count, double quantile,
                           int *failed) {
  double *sorted = malloc(count * sizeof *sorted);
  if (sorted == NULL) {
    *failed = 1;
    return 1.0f;
  }
  for (size_t i = 0; i < count; i++) {
    sorted[i] = values[i];
  }
  qsort(sorted, count, sizeof *sorted, compare_doubles);

  const float result = (float)sorted[(size_t)(quantile * (double)(count - 1))];
  free(sorted);
  return result;
}

/*
 * Sums |response - bias| over the 12 edge maps into one grey plane. The bias
 * is taken off so that flat areas stay black.
 */
static float *edge_magnitude(const demo_image *image, const demo_layer *edges,
                             float *white_level) {
  const size_t plane = (size_t)image->width * (size_t)image->height;
  float *magnitude = calloc(plane, sizeof *magnitude);
  if (magnitude == NULL) {
    return NULL;
  }

  for (int64_t k = 0; k < edges->desc.num_output; k++) {
    const float *map = edges->output + (size_t)k * plane;
    for (size_t i = 0; i < plane; i++) {
      magnitude[i] += fabsf(map[i] - edges->bias[k]);
    }
  }

  int failed = 0;
  *white_level = find_quantile(magnitude, plane, EDGE_WHITE_QUANTILE, &failed);
  if (failed) {
    free(magnitude);
    return NULL;
  }
  if (!(*white_level > 0.0f)) {
    *white_level = 1.0f; /* a flat image has no edges to scale to */
  }
  return magnitude;
}

static int write_png(const char *dir, const char *name, int channels,
                     const demo_image *image, const float *pixels, float high) {
  char path[DEMO_PATH_MAX];
  char error[512];

  if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path) {
    cli_error(COMMAND, "--output-dir %s is too long. Give a shorter path.",
              dir);
    return CLI_EXIT_RUNTIME;
  }
  if (png_write(path, channels, image->width, image->height, pixels, 0.0f,
                high, error, sizeof error) != 0) {
    cli_error(COMMAND, "%s", error);
    return CLI_EXIT_RUNTIME;
  }
  printf("  %s\n", path);
  return 0;
}

static int write_images(const demo_request *request, const demo_image *image,
                        const demo_layer *blur, const demo_layer *edges) {
  float white_level = 1.0f;
  float *magnitude = edge_magnitude(image, edges, &white_level);
  if (magnitude == NULL) {
    cli_error(COMMAND, "out of memory for the edge image. Try a smaller "
                       "--image.");
    return CLI_EXIT_RUNTIME;
  }

  puts("wrote:");
  const char *dir = request->output_dir;
  int rc = write_png(dir, "input.png", 3, image, image->pixels, 1.0f);
  if (rc == 0) {
    rc = write_png(dir, "blur.png", 3, image, blur->output, 1.0f);
  }
  if (rc == 0) {
    rc = write_png(dir, "edges.png", 1, image, magnitude, white_level);
  }

  free(magnitude);
  return rc;
}

static void release_layer(demo_layer *layer) {
  free(layer->weights);
  free(layer->bias);
  free(layer->output);
  free(layer->reference);
}

/* Runs, checks and reports both layers on the device. */
static int run_layers(const demo_request *request, const demo_image *image,
                      demo_layer *blur, demo_layer *edges) {
  gcl_context *context = NULL;
  int rc = cli_create_context(COMMAND, request->device_spec, &context);
  if (rc != 0) {
    return rc;
  }

  char device_name[192];
  printf("device: %s\n",
         cli_context_device_name(context, device_name, sizeof device_name));
  printf("image:  %s, %d x %d pixels (width x height)\n\n", image->path,
         image->width, image->height);

  for (int i = 0; i < 2 && rc == 0; i++) {
    demo_layer *layer = i == 0 ? blur : edges;
    rc = run_layer(context, image, layer);
    if (rc == 0) {
      rc = check_layer(image, layer);
    }
    if (rc == 0) {
      print_layer_report(layer);
    }
  }

  gcl_context_destroy(context);
  return rc;
}

static int run_demo(const demo_request *request) {
  demo_image image;
  demo_layer blur;
  demo_layer edges;
  memset(&image, 0, sizeof image);
  memset(&blur, 0, sizeof blur);
  memset(&edges, 0, sizeof edges);

  int rc = load_image(request, &image);
  if (rc == 0 && make_directories(request->output_dir) != 0) {
    cli_error(COMMAND, "cannot create --output-dir %s: %s. Give a folder "
                       "you can write to.",
              request->output_dir, strerror(errno));
    rc = CLI_EXIT_RUNTIME;
  }
  if (rc == 0) {
    rc = prepare_layers(&image, &blur, &edges);
  }
  if (rc == 0) {
    rc = run_layers(request, &image, &blur, &edges);
  }
  if (rc == 0) {
    rc = write_images(request, &image, &blur, &edges);
  }

  release_layer(&blur);
  release_layer(&edges);
  free(image.pixels);
  return rc;
}

int cmd_demo(int argc, char **argv) {
  demo_request request;
  const int rc = parse_demo_options(argc, argv, &request);
  if (rc != 0) {
    return rc;
  }
  if (request.show_help) {
    print_demo_help();
    return CLI_EXIT_SUCCESS;
  }
  return run_demo(&request);
}
