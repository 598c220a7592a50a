/*
 * Runs one layer whose input contains more than 2^31 floats through
 * gcl_plan_forward, and checks sampled images against
 * gcl_conv_reference_forward. The samples are the first and last image,
 * the images on both sides of input float 2^31, and the first image of
 * every step.
 * Prints the plan's split, the times and the peak resident memory, which
 * on a CPU device includes the device buffers.
 *
 * Not part of make check: the default layer needs about 8.3 GiB for its
 * input and 1 GiB for its output, and more than that again for the device
 * and a gathered copy of the output. Run it from the build folder:
 *   tests/big_layer [--batch N] [--channels C] [--outputs K] [--group G]
 *                   [--side S] [--kernel KS] [--algorithm NAME]
 * Exits 0 when every sampled output matches, 1 otherwise.
 */
#define _POSIX_C_SOURCE 200809L
#include <groupcl.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct big_options {
  int64_t batch, channels, outputs, group, side, kernel;
  gcl_algorithm algorithm;
} big_options;

static double seconds_now(void) {
  struct timespec now;

  timespec_get(&now, TIME_UTC);
  return (double)now.tv_sec + 1e-9 * (double)now.tv_nsec;
}

/* Returns the peak resident set of the process in KiB, from Linux's
 * /proc/self/status, or -1 where that is missing. */
static long peak_resident_kib(void) {
  FILE *file = fopen("/proc/self/status", "r");
  char line[256];
  long kib = -1;

  if (file == NULL)
    return -1;
  while (fgets(line, sizeof line, file) != NULL) {
    if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
      break;
  }
  fclose(file);
  return kib;
}

static int parse_options(int argc, char **argv, big_options *options) {
  /* 64 channels of 56x56 in 8 groups, 1x1 to 8 outputs: 11000 images
   * hold 2.21e9 input floats, above 2^31 = 2.147e9. */
  *options = (big_options){11000, 64, 8, 8, 56, 1, GCL_ALGORITHM_AUTO};
  for (int i = 1; i < argc; i += 2) {
    long long value;

    if (i + 1 == argc) {
      fprintf(stderr, "big_layer: option '%s' needs a value\n", argv[i]);
      return 0;
    }
    value = atoll(argv[i + 1]);

    if (strcmp(argv[i], "--batch") == 0)
      options->batch = value;
    else if (strcmp(argv[i], "--channels") == 0)
      options->channels = value;
    else if (strcmp(argv[i], "--outputs") == 0)
      options->outputs = value;
    else if (strcmp(argv[i], "--group") == 0)
      options->group = value;
    else if (strcmp(argv[i], "--side") == 0)
      options->side = value;
    else if (strcmp(argv[i], "--kernel") == 0)
      options->kernel = value;
    else if (strcmp(argv[i], "--algorithm") == 0) {
      if (gcl_algorithm_from_name(argv[i + 1], &options->algorithm) !=
          GCL_SUCCESS) {
        fprintf(stderr, "big_layer: %s\n", gcl_last_error());
        return 0;
      }
    } else {
      fprintf(stderr,
              "big_layer: unknown option '%s'; use --batch, --channels, "
              "--outputs, --group, --side, --kernel or --algorithm\n",
              argv[i]);
      return 0;
    }
  }
  return 1;
}

/* Fills data with values in [-1, 1) that differ between neighbouring
 * images, so that a misplaced image shows. */
static void fill(float *data, size_t count, uint64_t seed) {
  for (size_t i = 0; i < count; i++) {
    uint64_t x = (i + seed) * 0x9E3779B97F4A7C15ULL;

    data[i] = (float)((x >> 40) & 0xFFFF) / 32768.0f - 1.0f;
  }
}

/* Compares image n of the output with the host reference of that image. */
static int check_image(const gcl_conv_desc *desc, const int64_t *shape,
                       const float *input, const float *weights,
                       const float *bias, const float *output, int64_t n,
                       size_t in_image, size_t out_image, float *expected) {
  int64_t one[4] = {1, shape[1], shape[2], shape[3]};
  const float *actual = output + (size_t)n * out_image;
  float worst = 0.0f;

  if (gcl_conv_reference_forward(desc, 4, one, input + (size_t)n * in_image,
                                 weights, bias, expected) != GCL_SUCCESS) {
    fprintf(stderr, "big_layer: reference: %s\n", gcl_last_error());
    return 0;
  }
  for (size_t i = 0; i < out_image; i++) {
    float error = fabsf(actual[i] - expected[i]) / (1.0f + fabsf(expected[i]));

    if (!(error <= 1e-4f)) {
      fprintf(stderr,
              "big_layer: image %lld, output %zu is %.9g, expected %.9g\n",
              (long long)n, i, (double)actual[i], (double)expected[i]);
      return 0;
    }
    if (error > worst)
      worst = error;
  }
  printf("image %lld matches the reference (largest relative error %.2g)\n",
         (long long)n, (double)worst);
  return 1;
}

/* Checks the sampled images; returns 1 when all match. */
static int check_samples(const gcl_conv_desc *desc, const int64_t *shape,
                         const float *input, const float *weights,
                         const float *bias, const float *output,
                         const gcl_split_info *split, size_t in_image,
                         size_t out_image) {
  int64_t boundary = (int64_t)(((uint64_t)1 << 31) / in_image);
  int64_t samples[64];
  size_t count = 0;
  float *expected = malloc(out_image * sizeof *expected);
  int ok = expected != NULL;

  samples[count++] = 0;
  samples[count++] = boundary;
  if (boundary + 1 < shape[0])
    samples[count++] = boundary + 1;
  for (int64_t step = 1; step < split->steps && count < 62; step++)
    samples[count++] = step * split->images_per_step;
  samples[count++] = shape[0] - 1;
  for (size_t i = 0; i < count && ok; i++) {
    if (samples[i] < shape[0])
      ok = check_image(desc, shape, input, weights, bias, output, samples[i],
                       in_image, out_image, expected);
  }
  free(expected);
  return ok;
}

int main(int argc, char **argv) {
  big_options o;
  gcl_conv_desc desc;
  gcl_context *context = NULL;
  gcl_conv *conv = NULL;
  gcl_plan *plan = NULL;
  gcl_split_info split;
  int64_t shape[4], out_shape[4];
  size_t in_image, out_image, weights_count;
  float *input, *output, *weights, *bias;
  double start;
  int ok;

  if (!parse_options(argc, argv, &o))
    return 2;
  gcl_conv_desc_init(&desc, 2, o.channels, o.outputs, o.kernel);
  desc.group = o.group;
  desc.pad[0] = desc.pad[1] = o.kernel / 2;
  shape[0] = o.batch;
  shape[1] = o.channels;
  shape[2] = shape[3] = o.side;
  if (gcl_conv_output_shape(&desc, 4, shape, out_shape) != GCL_SUCCESS) {
    fprintf(stderr, "big_layer: %s\n", gcl_last_error());
    return 2;
  }
  in_image = (size_t)(o.channels * o.side * o.side);
  out_image = (size_t)(out_shape[1] * out_shape[2] * out_shape[3]);
  weights_count = (size_t)(o.outputs * (o.channels / o.group) * o.kernel *
                           o.kernel);
  printf("input %lld x %lld x %lld x %lld = %zu floats (%.2f GiB), output "
         "%zu floats\n",
         (long long)shape[0], (long long)shape[1], (long long)shape[2],
         (long long)shape[3], in_image * (size_t)o.batch,
         (double)(in_image * (size_t)o.batch) * 4.0 / 1073741824.0,
         out_image * (size_t)o.batch);

  input = malloc(in_image * (size_t)o.batch * sizeof *input);
  output = malloc(out_image * (size_t)o.batch * sizeof *output);
  weights = malloc(weights_count * sizeof *weights);
  bias = malloc((size_t)o.outputs * sizeof *bias);
  if (input == NULL || output == NULL || weights == NULL || bias == NULL) {
    fprintf(stderr, "big_layer: out of host memory for the tensors\n");
    return 1;
  }
  fill(input, in_image * (size_t)o.batch, 1);
  fill(weights, weights_count, 2);
  fill(bias, (size_t)o.outputs, 3);

  start = seconds_now();
  ok = gcl_context_create(NULL, &context) == GCL_SUCCESS &&
       gcl_conv_create(context, &desc, weights, bias, &conv) == GCL_SUCCESS;
  if (ok) {
    gcl_plan_options options;

    gcl_plan_options_init(&options);
    options.algorithm = o.algorithm;
    ok = gcl_plan_create(conv, 4, shape, &options, &plan) == GCL_SUCCESS &&
         gcl_plan_split_info(plan, &split) == GCL_SUCCESS;
  }
  if (!ok) {
    fprintf(stderr, "big_layer: %s\n", gcl_last_error());
    return 1;
  }
  printf("planned %s in %.2f s: %s, %lld step(s) of %lld images, %lld "
         "group part(s) of %lld groups, %llu device bytes\n  reason: %s\n",
         gcl_algorithm_name(gcl_plan_algorithm(plan)), seconds_now() - start,
         split.split ? "split" : "not split", (long long)split.steps,
         (long long)split.images_per_step, (long long)split.parts,
         (long long)split.groups_per_part,
         (unsigned long long)split.max_device_bytes, split.reason);

  start = seconds_now();
  if (gcl_plan_forward(plan, input, output) != GCL_SUCCESS) {
    fprintf(stderr, "big_layer: %s\n", gcl_last_error());
    return 1;
  }
  printf("forward pass: %.2f s\n", seconds_now() - start);
  ok = check_samples(&desc, shape, input, weights, bias, output, &split,
                     in_image, out_image);
  printf("peak resident memory: %.2f GiB\n",
         (double)peak_resident_kib() / 1048576.0);

  gcl_plan_destroy(plan);
  gcl_conv_destroy(conv);
  gcl_context_destroy(context);
  free(input);
  free(output);
  free(weights);
  free(bias);
  return ok ? 0 : 1;
}
