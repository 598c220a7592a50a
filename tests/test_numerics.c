/*
 * Numerical edge cases: NaN, infinities, denormals and very large finite
 * values in the input, the weights and the bias, for every algorithm on
 * layers it runs. Each output is checked against the float64 test
 * reference (tests/reference.c), which never multiplies the zero padding:
 * NaN exactly where the reference is NaN, the same infinity where it is
 * infinite, and finite values within test_expect_close's bound. Outputs
 * whose window contains none of the special values must not change at all.
 *
 * Where an algorithm deviates from the reference, the test asserts the
 * deviation documented next to gcl_algorithm in include/groupcl.h, and
 * that it still occurs, so it fails when the behaviour changes either way.
 */
#include "helpers.h"
#include "layer_table.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Smallest positive denormal float, 2^-149. */
#define DENORMAL_STEP 1.40129846e-45

/* A denormal input or weight: 1e-40 is about 2^-133, so its products
 * with values in [-1, 1) are denormal too. */
#define DENORMAL 1e-40f

typedef struct numeric_case {
  test_layer layer; /* named LAYER/ALGORITHM */
  gcl_algorithm algorithm;
} numeric_case;

/* Layers with padding on every axis, partial Winograd tiles (7x9), a
 * channel multiplier and 1x1 filters; each with the algorithms that run it. */
#define GROUPED_3X3 L2("grouped_3x3", 2, 4, 6, 2, 7, 9, 3, 3, 1, 1, 1, 1, 1, 1, 1)
#define DEPTHWISE_3X3                                                         \
  L2("depthwise_3x3", 1, 4, 8, 4, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1, 1)
#define POINTWISE L2("pointwise", 1, 4, 4, 2, 5, 6, 1, 1, 1, 1, 0, 0, 1, 1, 1)
#define GROUPED_3D                                                            \
  L3("grouped_3d", 1, 2, 4, 2, 4, 5, 5, 3, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1)
#define STRIDED_1D L1("strided_1d", 1, 2, 2, 1, 12, 5, 2, 2, 1, 1)
#define DEPTHWISE_1D L1("depthwise_1d", 1, 3, 3, 3, 11, 3, 1, 1, 1, 1)

static numeric_case numeric_cases[] = {
    {GROUPED_3X3, GCL_ALGORITHM_DIRECT},
    {GROUPED_3X3, GCL_ALGORITHM_WINOGRAD},
    {GROUPED_3X3, GCL_ALGORITHM_GEMM_BATCHED},
    {GROUPED_3X3, GCL_ALGORITHM_CAFFE_GEMM},
    {DEPTHWISE_3X3, GCL_ALGORITHM_DEPTHWISE},
    {DEPTHWISE_3X3, GCL_ALGORITHM_DIRECT},
    {DEPTHWISE_3X3, GCL_ALGORITHM_WINOGRAD},
    {DEPTHWISE_3X3, GCL_ALGORITHM_GEMM_BATCHED},
    {POINTWISE, GCL_ALGORITHM_POINTWISE},
    {POINTWISE, GCL_ALGORITHM_DIRECT},
    {POINTWISE, GCL_ALGORITHM_GEMM_BATCHED},
    {POINTWISE, GCL_ALGORITHM_CAFFE_GEMM},
    {GROUPED_3D, GCL_ALGORITHM_DIRECT},
    {GROUPED_3D, GCL_ALGORITHM_GEMM_BATCHED},
    {STRIDED_1D, GCL_ALGORITHM_DIRECT},
    {STRIDED_1D, GCL_ALGORITHM_CAFFE_GEMM},
    {DEPTHWISE_1D, GCL_ALGORITHM_DEPTHWISE},
    {DEPTHWISE_1D, GCL_ALGORITHM_GEMM_BATCHED},
};

#define CASE_COUNT (sizeof numeric_cases / sizeof numeric_cases[0])

/* Returns the case table with each layer named LAYER/ALGORITHM. Every
 * parameter function calls it, so renaming is done once, whichever runs
 * first. */
static struct criterion_test_params named_cases(void) {
  for (size_t i = 0; i < CASE_COUNT; i++) {
    test_layer *layer = &numeric_cases[i].layer;
    char name[sizeof layer->name];

    memcpy(name, layer->name, sizeof name);
    if (strchr(name, '/') == NULL)
      snprintf(layer->name, sizeof layer->name, "%.24s/%.14s", name,
               gcl_algorithm_name(numeric_cases[i].algorithm));
  }
  return cr_make_param_array(numeric_case, numeric_cases, CASE_COUNT);
}

ParameterizedTestParameters(numerics, nonfinite_inputs) {
  return named_cases();
}

ParameterizedTestParameters(numerics, large_inputs) { return named_cases(); }

ParameterizedTestParameters(numerics, denormals) { return named_cases(); }

ParameterizedTestParameters(numerics, nonfinite_weights) {
  return named_cases();
}

ParameterizedTestParameters(numerics, large_weights) {
  return named_cases();
}

ParameterizedTestParameters(numerics, special_bias) { return named_cases(); }

/* ---- layer geometry ----------------------------------------------------------- */

/* A layer's spatial sizes widened to three axes: depth, height, width. */
typedef struct axes3 {
  int64_t in[3], out[3], kernel[3], stride[3], pad[3], dilation[3];
} axes3;

static axes3 widen(const test_layer *layer) {
  int offset = 3 - layer->spatial_dims;
  axes3 axes;

  for (int a = 0; a < 3; a++) {
    int s = a - offset;

    axes.in[a] = s >= 0 ? layer->in[s] : 1;
    axes.kernel[a] = s >= 0 ? layer->kernel[s] : 1;
    axes.stride[a] = s >= 0 ? layer->stride[s] : 1;
    axes.pad[a] = s >= 0 ? layer->pad[s] : 0;
    axes.dilation[a] = s >= 0 ? layer->dilation[s] : 1;
    axes.out[a] = test_output_size(axes.in[a], axes.kernel[a],
                                   axes.stride[a], axes.pad[a],
                                   axes.dilation[a]);
  }
  return axes;
}

static int64_t product3(const int64_t v[3]) { return v[0] * v[1] * v[2]; }

/* An element of the input or output: image, channel, spatial position. */
typedef struct element {
  int64_t n, c, x[3];
} element;

static size_t input_index(const test_layer *layer, const axes3 *axes,
                          element e) {
  int64_t spatial = (e.x[0] * axes->in[1] + e.x[1]) * axes->in[2] + e.x[2];

  return (size_t)((e.n * layer->channels + e.c) * product3(axes->in) +
                  spatial);
}

static element output_element(const test_layer *layer, const axes3 *axes,
                              size_t index) {
  int64_t plane = product3(axes->out);
  int64_t position = (int64_t)index % plane;
  element e;

  e.n = (int64_t)index / plane / layer->num_output;
  e.c = (int64_t)index / plane % layer->num_output;
  e.x[2] = position % axes->out[2];
  e.x[1] = position / axes->out[2] % axes->out[1];
  e.x[0] = position / (axes->out[2] * axes->out[1]);
  return e;
}

/* Input coordinate on one axis that output position o reads through tap t
 * (it may lie in the padding). */
static int64_t tap_coordinate(const axes3 *axes, int a, int64_t o,
                              int64_t t) {
  return o * axes->stride[a] - axes->pad[a] + t * axes->dilation[a];
}

static int inside_input(const axes3 *axes, int a, int64_t x) {
  return x >= 0 && x < axes->in[a];
}

/* Returns 1 if output `out` reads input `in` through some filter tap. */
static int window_contains(const test_layer *layer, const axes3 *axes,
                           element out, element in) {
  int64_t per_group_in = layer->channels / layer->group;
  int64_t per_group_out = layer->num_output / layer->group;

  if (out.n != in.n || out.c / per_group_out != in.c / per_group_in)
    return 0;
  for (int a = 0; a < 3; a++) {
    int found = 0;

    for (int64_t t = 0; t < axes->kernel[a] && !found; t++)
      found = tap_coordinate(axes, a, out.x[a], t) == in.x[a];
    if (!found)
      return 0;
  }
  return 1;
}

/* ---- test data -------------------------------------------------------------- */

/* One run of a plan: its tensors, the reference and the outputs. */
typedef struct numeric_run {
  const test_layer *layer;
  gcl_algorithm algorithm;
  axes3 axes;
  size_t n_in, n_w, n_out;
  float *input, *weights, *bias; /* as the scenario sets them */
  float *output;
  float *baseline; /* output for the layer's plain data */
  double *expected, *magnitude;
  const char *scenario;
} numeric_run;

static void *allocate(size_t count, size_t size) {
  void *memory = calloc(count > 0 ? count : 1, size);

  cr_assert_not_null(memory, "out of memory for %zu elements", count);
  return memory;
}

static void open_run(numeric_run *run, const numeric_case *test) {
  const test_layer *layer = &test->layer;

  memset(run, 0, sizeof *run);
  run->layer = layer;
  run->algorithm = test->algorithm;
  run->axes = widen(layer);
  run->n_in = test_input_count(layer);
  run->n_w = test_weight_count(layer);
  run->n_out = test_output_count(layer);
  run->input = allocate(run->n_in, sizeof(float));
  run->weights = allocate(run->n_w, sizeof(float));
  run->bias = allocate((size_t)layer->num_output, sizeof(float));
  run->output = allocate(run->n_out, sizeof(float));
  run->baseline = allocate(run->n_out, sizeof(float));
  run->expected = allocate(run->n_out, sizeof(double));
  run->magnitude = allocate(run->n_out, sizeof(double));
}

/* Sets the layer's plain data: reproducible values in [-1, 1). */
static void plain_data(numeric_run *run) {
  test_fill(run->input, run->n_in, 101);
  test_fill(run->weights, run->n_w, 102);
  test_fill(run->bias, (size_t)run->layer->num_output, 103);
}

static void close_run(numeric_run *run) {
  free(run->input);
  free(run->weights);
  free(run->bias);
  free(run->output);
  free(run->baseline);
  free(run->expected);
  free(run->magnitude);
}

/* Creates a conv and a plan of the case for the current weights and bias. */
static gcl_plan *open_plan(gcl_context *context, const numeric_run *run,
                           gcl_conv **conv) {
  int64_t input_shape[GCL_MAX_RANK];
  gcl_plan_options options;
  gcl_conv_desc desc;
  gcl_plan *plan = NULL;
  gcl_status status;

  test_layer_desc(run->layer, &desc, input_shape);
  status = gcl_conv_create(context, &desc, run->weights,
                           run->layer->bias_term ? run->bias : NULL, conv);
  cr_assert_eq(status, GCL_SUCCESS, "%s: gcl_conv_create: %s",
               run->layer->name, gcl_last_error());
  gcl_plan_options_init(&options);
  options.algorithm = run->algorithm;
  status = gcl_plan_create(*conv, run->layer->spatial_dims + 2, input_shape,
                           &options, &plan);
  cr_assert_eq(status, GCL_SUCCESS, "%s: gcl_plan_create: %s",
               run->layer->name, gcl_last_error());
  return plan;
}

static void close_plan(gcl_plan *plan, gcl_conv *conv) {
  gcl_plan_destroy(plan);
  gcl_conv_destroy(conv);
}

/* Runs the plan on the current input into run->output and computes the
 * reference of the current tensors. */
static void run_plan(gcl_plan *plan, numeric_run *run) {
  gcl_status status = gcl_plan_forward(plan, run->input, run->output);

  cr_assert_eq(status, GCL_SUCCESS, "%s, %s: gcl_plan_forward: %s",
               run->layer->name, run->scenario, gcl_last_error());
  test_reference_with_magnitude(run->layer, run->input, run->weights,
                                run->layer->bias_term ? run->bias : NULL,
                                run->expected, run->magnitude);
}

/* Runs a fresh plan of the current weights and bias on the current input. */
static void run_new_plan(gcl_context *context, numeric_run *run) {
  gcl_conv *conv = NULL;
  gcl_plan *plan = open_plan(context, run, &conv);

  run_plan(plan, run);
  close_plan(plan, conv);
}

/* Runs the plain data through a fresh plan and keeps the output as the
 * baseline that unaffected outputs must match bit for bit. */
static void run_baseline(gcl_context *context, numeric_run *run) {
  run->scenario = "plain data";
  plain_data(run);
  run_new_plan(context, run);
  memcpy(run->baseline, run->output, run->n_out * sizeof(float));
}

/* ---- positions of the special values ------------------------------------------ */

/* Input element at the middle of channel c of image n. */
static element middle_input(const numeric_run *run, int64_t n, int64_t c) {
  element e = {n, c, {0, 0, 0}};

  for (int a = 0; a < 3; a++)
    e.x[a] = run->axes.in[a] / 2;
  return e;
}

/* Input element at the origin of the last channel of the last image, next
 * to the padding. */
static element corner_input(const numeric_run *run) {
  element e = {run->layer->batch - 1, run->layer->channels - 1, {0, 0, 0}};

  return e;
}

/* Filter tap: the middle of the window, or its origin (which meets the
 * padding at the border outputs). */
typedef struct weight_tap {
  int64_t k, c; /* output channel, input channel within the group */
  int64_t t[3];
} weight_tap;

static weight_tap pick_tap(const numeric_run *run, int at_origin) {
  weight_tap tap = {run->layer->num_output - 1, 0, {0, 0, 0}};

  for (int a = 0; a < 3; a++)
    tap.t[a] = at_origin ? 0 : run->axes.kernel[a] / 2;
  return tap;
}

static size_t weight_index(const numeric_run *run, weight_tap tap) {
  const int64_t *kernel = run->axes.kernel;
  int64_t per_group_in = run->layer->channels / run->layer->group;
  int64_t position = (tap.t[0] * kernel[1] + tap.t[1]) * kernel[2] + tap.t[2];

  return (size_t)((tap.k * per_group_in + tap.c) * product3(kernel) +
                  position);
}

/* Writes which axes put the tap of output `out` in the padding. */
static void padded_axes(const numeric_run *run, weight_tap tap, element out,
                        int padded[3]) {
  for (int a = 0; a < 3; a++)
    padded[a] = !inside_input(&run->axes, a,
                              tap_coordinate(&run->axes, a, out.x[a],
                                             tap.t[a]));
}

/* ---- what an output may be ------------------------------------------------------ */

typedef enum output_rule {
  /* NaN, the same infinity, or within the bound, as the reference. */
  RULE_REFERENCE,
  /* As RULE_REFERENCE, but NaN is also allowed where it is infinite. */
  RULE_INFINITY_OR_NAN,
  /* NaN, whatever the reference. */
  RULE_NAN,
  /* As RULE_REFERENCE, or infinite or NaN where it is finite (overflow). */
  RULE_REFERENCE_OR_OVERFLOW,
  /* Within the bound plus check_outputs's extra_error of the reference. */
  RULE_WIDER_BOUND,
  /* 0, or within 16 denormal steps of the reference. */
  RULE_ZERO_OR_DENORMAL,
  /* Exactly 0 (either sign). */
  RULE_ZERO,
  /* Bit for bit the baseline output. */
  RULE_UNCHANGED
} output_rule;

/* How often the outputs of a run departed from the reference, by kind. */
typedef struct departures {
  size_t nan_for_infinity;   /* NaN where the reference is infinite */
  size_t nonfinite_for_finite; /* NaN or infinity where it is finite */
  size_t beyond_bound;       /* finite, but outside the exact bound */
  size_t kept_denormals;     /* nonzero outputs where the reference is a
                                denormal */
  size_t flushed_denormals;  /* zero outputs where it is a denormal */
} departures;

static const char *rule_name(output_rule rule) {
  switch (rule) {
  case RULE_REFERENCE:
    return "as the reference";
  case RULE_INFINITY_OR_NAN:
    return "as the reference, or NaN where it is infinite";
  case RULE_NAN:
    return "NaN";
  case RULE_REFERENCE_OR_OVERFLOW:
    return "as the reference, or overflowed";
  case RULE_WIDER_BOUND:
    return "within the documented wider bound";
  case RULE_ZERO_OR_DENORMAL:
    return "0 or the denormal reference";
  case RULE_ZERO:
    return "0";
  case RULE_UNCHANGED:
    return "unchanged from the plain data";
  }
  return "unknown";
}

/* Returns 1 if actual is NaN, infinity or finite as expected is, with the
 * same sign for infinities and within bound for finite values. */
static int matches_reference(double actual, double expected, double bound) {
  if (isnan(expected))
    return isnan(actual);
  if (isinf(expected))
    return actual == expected;
  return isfinite(actual) && fabs(actual - expected) <= bound;
}

static int output_allowed(output_rule rule, float output, double expected,
                          double bound, double extra_error, float baseline) {
  double actual = output;

  switch (rule) {
  case RULE_REFERENCE:
    return matches_reference(actual, expected, bound);
  case RULE_INFINITY_OR_NAN:
    return matches_reference(actual, expected, bound) ||
           (isinf(expected) && isnan(actual));
  case RULE_NAN:
    return isnan(actual);
  case RULE_REFERENCE_OR_OVERFLOW:
    return matches_reference(actual, expected, bound) || !isfinite(actual);
  case RULE_WIDER_BOUND:
    return isfinite(actual) && fabs(actual - expected) <= bound + extra_error;
  case RULE_ZERO_OR_DENORMAL:
    return actual == 0.0 || fabs(actual - expected) <= 16 * DENORMAL_STEP;
  case RULE_ZERO:
    return actual == 0.0;
  case RULE_UNCHANGED:
    return memcmp(&output, &baseline, sizeof output) == 0;
  }
  return 0;
}

static void tally(departures *seen, double actual, double expected,
                  double bound) {
  if (isinf(expected) && isnan(actual))
    seen->nan_for_infinity++;
  if (isfinite(expected) && !isfinite(actual))
    seen->nonfinite_for_finite++;
  if (isfinite(expected) && isfinite(actual) &&
      fabs(actual - expected) > bound)
    seen->beyond_bound++;
  if (expected != 0.0 && fabs(expected) < FLT_MIN) {
    if (actual == 0.0)
      seen->flushed_denormals++;
    else
      seen->kept_denormals++;
  }
}

/*
 * Checks every output of the run against its rule and returns how the
 * outputs departed from the reference. The reference is rounded to float
 * first, so that a sum beyond FLT_MAX counts as infinite.
 */
static departures check_outputs(const numeric_run *run,
                                const output_rule *rules,
                                double extra_error) {
  departures seen = {0, 0, 0, 0, 0};

  for (size_t i = 0; i < run->n_out; i++) {
    double actual = run->output[i];
    double expected = isfinite((float)run->expected[i])
                          ? run->expected[i]
                          : (double)(float)run->expected[i];
    double bound = 1e-6 + 3e-6 * run->magnitude[i];

    if (!output_allowed(rules[i], run->output[i], expected, bound,
                        extra_error, run->baseline[i])) {
      element e = output_element(run->layer, &run->axes, i);

      cr_assert_fail("%s, %s: output (n=%lld, channel=%lld, position "
                     "%lld,%lld,%lld) is %.9g, expected %s: reference "
                     "%.9g, plain-data output %.9g, bound %.3g",
                     run->layer->name, run->scenario, (long long)e.n,
                     (long long)e.c, (long long)e.x[0], (long long)e.x[1],
                     (long long)e.x[2], actual, rule_name(rules[i]), expected,
                     (double)run->baseline[i], bound + extra_error);
    }
    tally(&seen, actual, expected, bound);
  }
  return seen;
}

/* ---- algorithms' documented behaviour ------------------------------------------ */

static int is_winograd(const numeric_run *run) {
  return run->algorithm == GCL_ALGORITHM_WINOGRAD;
}

/*
 * Returns 1 if the algorithm multiplies a filter tap by the zero padding
 * when the tap lies in the padding on the axes marked in padded (depth,
 * height, width), so that a non-finite weight gives NaN there. The GEMM
 * algorithms read zeros from the column matrix on every axis. Direct and
 * depthwise load whole vectors along the width and zero the lanes in the
 * padding, but skip rows and depth slices in it, so only a tap in the
 * width padding of a row inside the input is multiplied. Winograd is
 * handled apart.
 */
static int multiplies_padding(gcl_algorithm algorithm, const int padded[3]) {
  switch (algorithm) {
  case GCL_ALGORITHM_CAFFE_GEMM:
  case GCL_ALGORITHM_GEMM_BATCHED:
    return padded[0] || padded[1] || padded[2];
  case GCL_ALGORITHM_DIRECT:
  case GCL_ALGORITHM_DEPTHWISE:
    return padded[2] && !padded[0] && !padded[1];
  default:
    return 0;
  }
}

/* ---- special inputs -------------------------------------------------------------- */

/*
 * Sets values at the given input elements, runs the plan, and checks:
 * outputs that read none of them are unchanged, and outputs that read one
 * follow `affected`.
 */
static departures run_special_inputs(gcl_plan *plan, numeric_run *run,
                                     const char *scenario,
                                     const element *elements,
                                     const float *values, size_t count,
                                     output_rule affected) {
  output_rule *rules = allocate(run->n_out, sizeof *rules);
  departures seen;

  run->scenario = scenario;
  plain_data(run);
  for (size_t j = 0; j < count; j++)
    run->input[input_index(run->layer, &run->axes, elements[j])] = values[j];
  run_plan(plan, run);

  for (size_t i = 0; i < run->n_out; i++) {
    element out = output_element(run->layer, &run->axes, i);

    rules[i] = RULE_UNCHANGED;
    for (size_t j = 0; j < count; j++) {
      if (window_contains(run->layer, &run->axes, out, elements[j]))
        rules[i] = affected;
    }
  }
  seen = check_outputs(run, rules, 0.0);
  free(rules);
  return seen;
}

/*
 * NaN and infinities in the input. All algorithms but winograd follow the
 * reference. Winograd's input transform adds and subtracts the four rows
 * and columns of a tile, so an infinity meets its own negation: outputs
 * whose window contains it may be NaN where the reference is infinite. Each
 * output of F(2x2, 3x3) reads only transform entries of inputs in its own
 * window, so nothing spreads beyond the window.
 */
ParameterizedTest(numeric_case *test, numerics, nonfinite_inputs) {
  gcl_context *context = test_context();
  numeric_run run;
  gcl_conv *conv = NULL;
  gcl_plan *plan;
  output_rule affected;
  departures seen;

  open_run(&run, test);
  run_baseline(context, &run);
  plan = open_plan(context, &run, &conv);
  affected = is_winograd(&run) ? RULE_INFINITY_OR_NAN : RULE_REFERENCE;

  {
    element at[] = {middle_input(&run, 0, 0)};
    float values[] = {NAN};

    run_special_inputs(plan, &run, "NaN input", at, values, 1, affected);
  }
  {
    element at[] = {middle_input(&run, 0, run.layer->channels - 1)};
    float values[] = {INFINITY};

    seen = run_special_inputs(plan, &run, "+inf input", at, values, 1,
                              affected);
    if (is_winograd(&run))
      cr_expect_gt(seen.nan_for_infinity, 0,
                   "%s: winograd no longer turns an infinite input into "
                   "NaN; update the note at GCL_ALGORITHM_WINOGRAD",
                   run.layer->name);
  }
  {
    element at[] = {corner_input(&run)};
    float values[] = {-INFINITY};

    run_special_inputs(plan, &run, "-inf input next to the padding", at,
                       values, 1, affected);
  }
  {
    element at[] = {middle_input(&run, 0, 0), middle_input(&run, 0, 0)};
    float values[] = {INFINITY, -INFINITY};

    at[1].x[2] += 1;
    run_special_inputs(plan, &run, "+inf and -inf inputs side by side", at,
                       values, 2, affected);
  }
  {
    element at[] = {middle_input(&run, 0, 0), corner_input(&run)};
    float values[] = {NAN, INFINITY};

    at[1].x[2] = run.axes.in[2] - 1;
    run_special_inputs(plan, &run, "NaN and +inf in different channels", at,
                       values, 2, affected);
  }

  /* No NaN may stay behind in a workspace: the plain data again. */
  run.scenario = "plain data after the special inputs";
  plain_data(&run);
  run_plan(plan, &run);
  cr_assert_arr_eq(run.output, run.baseline, run.n_out * sizeof(float),
                   "%s: the plain data gave another output after runs with "
                   "NaN and infinities",
                   run.layer->name);

  close_plan(plan, conv);
  close_run(&run);
  gcl_context_destroy(context);
}

/*
 * Returns the elements of a 2x2 block of inputs at columns 2 and 3 of
 * rows 2 and 3 (the width alone for 1-D layers), in channel 0 of image 0.
 * With pad 1, winograd's second tile reads them as the middle rows and
 * columns of its 4x4 patch, which its input transform adds up.
 */
static size_t block_inputs(const numeric_run *run, element *block) {
  element origin = middle_input(run, 0, 0);
  int rows = run->layer->spatial_dims >= 2 ? 2 : 1;
  size_t count = 0;

  for (int r = 0; r < rows; r++)
    for (int column = 0; column < 2; column++) {
      element e = origin;

      if (rows == 2)
        e.x[1] = 2 + r;
      e.x[2] = 2 + column;
      block[count++] = e;
    }
  return count;
}

/*
 * Very large finite inputs. 1e30 must land in exactly the outputs whose
 * window contains it, as in the reference, and leave the others unchanged.
 * A block of inputs of 1e38 overflows winograd's input transform, which
 * adds four of them (4e38 > FLT_MAX), although the outputs are finite.
 */
ParameterizedTest(numeric_case *test, numerics, large_inputs) {
  gcl_context *context = test_context();
  numeric_run run;
  gcl_conv *conv = NULL;
  gcl_plan *plan;
  departures seen;

  open_run(&run, test);
  run_baseline(context, &run);
  plan = open_plan(context, &run, &conv);

  {
    element at[] = {middle_input(&run, 0, 0)};
    float values[] = {1e30f};

    run_special_inputs(plan, &run, "1e30 input", at, values, 1,
                       RULE_REFERENCE);
  }
  {
    element at[] = {corner_input(&run)};
    float values[] = {-1e30f};

    run_special_inputs(plan, &run, "-1e30 input next to the padding", at,
                       values, 1, RULE_REFERENCE);
  }
  {
    element at[4];
    float values[4] = {1e38f, 1e38f, 1e38f, 1e38f};
    size_t count = block_inputs(&run, at);

    seen = run_special_inputs(
        plan, &run, "block of 1e38 inputs", at, values, count,
        is_winograd(&run) ? RULE_REFERENCE_OR_OVERFLOW : RULE_REFERENCE);
    if (is_winograd(&run))
      cr_expect_gt(seen.nonfinite_for_finite, 0,
                   "%s: winograd's transforms no longer overflow on inputs "
                   "of 1e38; update the note at GCL_ALGORITHM_WINOGRAD",
                   run.layer->name);
  }

  close_plan(plan, conv);
  close_run(&run);
  gcl_context_destroy(context);
}

/* ---- denormals -------------------------------------------------------------------- */

/* Expects exactly 0 from the outputs that do not read the denormal, and 0
 * or the denormal reference from those that do. */
static departures check_lone_denormal(numeric_run *run,
                                      const int *reads_denormal) {
  output_rule *rules = allocate(run->n_out, sizeof *rules);
  departures seen;

  for (size_t i = 0; i < run->n_out; i++) {
    cr_assert(reads_denormal[i] || run->expected[i] == 0.0,
              "%s: the reference is not 0 at output %zu", run->layer->name,
              i);
    rules[i] = reads_denormal[i] ? RULE_ZERO_OR_DENORMAL : RULE_ZERO;
  }
  seen = check_outputs(run, rules, 0.0);
  free(rules);
  return seen;
}

/*
 * Denormals in the input and the weights. OpenCL lets a device flush them
 * to zero, so where the reference is a denormal the output may be 0 or
 * that denormal. A lone denormal must appear in no other output, and
 * denormals among normal values must not change the normal results.
 */
ParameterizedTest(numeric_case *test, numerics, denormals) {
  gcl_context *context = test_context();
  int *reads_denormal;
  numeric_run run;
  departures lone_input, lone_weight;
  element at;
  weight_tap tap;

  open_run(&run, test);
  reads_denormal = allocate(run.n_out, sizeof *reads_denormal);

  /* One denormal input; everything else, the bias included, is 0. */
  run.scenario = "lone denormal input";
  test_fill(run.weights, run.n_w, 102);
  at = middle_input(&run, 0, 0);
  run.input[input_index(run.layer, &run.axes, at)] = DENORMAL;
  run_new_plan(context, &run);
  for (size_t i = 0; i < run.n_out; i++)
    reads_denormal[i] = window_contains(
        run.layer, &run.axes, output_element(run.layer, &run.axes, i), at);
  lone_input = check_lone_denormal(&run, reads_denormal);

  /* One denormal weight at the middle tap, on the plain input. */
  run.scenario = "lone denormal weight";
  test_fill(run.input, run.n_in, 101);
  memset(run.weights, 0, run.n_w * sizeof(float));
  tap = pick_tap(&run, 0);
  run.weights[weight_index(&run, tap)] = DENORMAL;
  run_new_plan(context, &run);
  for (size_t i = 0; i < run.n_out; i++)
    reads_denormal[i] = output_element(run.layer, &run.axes, i).c == tap.k;
  lone_weight = check_lone_denormal(&run, reads_denormal);
  cr_assert_gt(lone_input.kept_denormals + lone_input.flushed_denormals +
                   lone_weight.kept_denormals +
                   lone_weight.flushed_denormals,
               0, "%s: no reference output was a denormal",
               run.layer->name);

  /* Denormals among normal values, in the input and the weights. */
  run.scenario = "denormals among normal values";
  plain_data(&run);
  for (size_t i = 0; i < run.n_in; i += 5)
    run.input[i] = (i % 2 ? -DENORMAL : DENORMAL);
  for (size_t i = 0; i < run.n_w; i += 7)
    run.weights[i] = (i % 2 ? -DENORMAL : DENORMAL);
  run_new_plan(context, &run);
  {
    output_rule *rules = allocate(run.n_out, sizeof *rules);

    for (size_t i = 0; i < run.n_out; i++)
      rules[i] = RULE_REFERENCE;
    check_outputs(&run, rules, 0.0);
    free(rules);
  }

  cr_log_info("%s: denormal outputs kept %zu, flushed to 0 %zu",
              run.layer->name,
              lone_input.kept_denormals + lone_weight.kept_denormals,
              lone_input.flushed_denormals + lone_weight.flushed_denormals);
  free(reads_denormal);
  close_run(&run);
  gcl_context_destroy(context);
}

/* ---- special weights ------------------------------------------------------------- */

/*
 * Returns the rule for output i when the weight at `tap` is NaN or
 * infinite. Other output channels must not change. Where the tap reads
 * the input, the output follows the reference (winograd: an infinity may
 * come out as NaN). Where the tap lies in the padding, the reference adds
 * nothing, but an algorithm that multiplies the padding gets 0 * inf or
 * 0 * NaN = NaN, and winograd's filter transform spreads the value over
 * every output of the channel.
 */
static output_rule nonfinite_weight_rule(const numeric_run *run,
                                         weight_tap tap, size_t i) {
  element out = output_element(run->layer, &run->axes, i);
  int padded[3];

  if (out.c != tap.k)
    return RULE_UNCHANGED;
  padded_axes(run, tap, out, padded);
  if (!padded[0] && !padded[1] && !padded[2])
    return is_winograd(run) ? RULE_INFINITY_OR_NAN : RULE_REFERENCE;
  if (is_winograd(run) || multiplies_padding(run->algorithm, padded))
    return RULE_NAN;
  return RULE_REFERENCE;
}

/* Sets one weight, runs a fresh plan on the plain input, and checks every
 * output against rule_for. Returns the departures. */
static departures run_special_weight(
    gcl_context *context, numeric_run *run, const char *scenario,
    weight_tap tap, float value,
    output_rule (*rule_for)(const numeric_run *, weight_tap, size_t),
    double extra_error) {
  output_rule *rules = allocate(run->n_out, sizeof *rules);
  departures seen;

  run->scenario = scenario;
  plain_data(run);
  run->weights[weight_index(run, tap)] = value;
  run_new_plan(context, run);
  for (size_t i = 0; i < run->n_out; i++)
    rules[i] = rule_for(run, tap, i);
  seen = check_outputs(run, rules, extra_error);
  free(rules);
  return seen;
}

ParameterizedTest(numeric_case *test, numerics, nonfinite_weights) {
  gcl_context *context = test_context();
  weight_tap middle, origin;
  numeric_run run;
  departures seen;

  open_run(&run, test);
  run_baseline(context, &run);
  middle = pick_tap(&run, 0);
  origin = pick_tap(&run, 1);

  run_special_weight(context, &run, "NaN weight at the middle tap", middle,
                     NAN, nonfinite_weight_rule, 0.0);
  seen = run_special_weight(context, &run, "+inf weight at the middle tap",
                            middle, INFINITY, nonfinite_weight_rule, 0.0);
  if (is_winograd(&run))
    cr_expect_gt(seen.nan_for_infinity, 0,
                 "%s: winograd no longer turns an infinite weight into "
                 "NaN; update the note at GCL_ALGORITHM_WINOGRAD",
                 run.layer->name);
  run_special_weight(context, &run, "NaN weight at the origin tap", origin,
                     NAN, nonfinite_weight_rule, 0.0);
  run_special_weight(context, &run, "-inf weight at the origin tap", origin,
                     -INFINITY, nonfinite_weight_rule, 0.0);

  close_run(&run);
  gcl_context_destroy(context);
}

/*
 * Bound of winograd's extra error from a weight of magnitude W: the
 * transforms multiply W by up to 9/4, add up to 4 inputs per transform
 * entry and 9 products per output, so the rounding of those sums reaches
 * about 81 * 2^-24 * |W| * max |x|, near 2^-17. The test allows 2^-16;
 * the largest error measured on PoCL 3.1 was 2^-23 |W| max |x|.
 */
static double winograd_weight_error(float weight, const numeric_run *run) {
  double largest = 0.0;

  for (size_t i = 0; i < run->n_in; i++)
    largest = fmax(largest, fabs((double)run->input[i]));
  return ldexp(fabs((double)weight), -16) * largest;
}

/* Returns the rule for output i when the weight at `tap` is very large. */
static output_rule large_weight_rule(const numeric_run *run, weight_tap tap,
                                     size_t i) {
  element out = output_element(run->layer, &run->axes, i);
  int padded[3];

  if (out.c != tap.k)
    return RULE_UNCHANGED;
  if (is_winograd(run))
    return RULE_WIDER_BOUND;
  padded_axes(run, tap, out, padded);
  if (padded[0] || padded[1] || padded[2])
    return RULE_UNCHANGED; /* 0 * 1e30 adds an exact 0 */
  return RULE_REFERENCE;
}

/*
 * Very large finite weights. Outside winograd, 1e30 must land in exactly
 * the outputs whose tap reads the input, and leave every other output
 * unchanged, padding included. Winograd's filter transform spreads it over
 * the 4x4 transform of the channel, so every output of that channel gets a
 * rounding error proportional to it, even where the tap meets only padding.
 */
ParameterizedTest(numeric_case *test, numerics, large_weights) {
  gcl_context *context = test_context();
  weight_tap middle, origin;
  numeric_run run;
  departures seen;
  double extra;

  open_run(&run, test);
  run_baseline(context, &run);
  middle = pick_tap(&run, 0);
  origin = pick_tap(&run, 1);

  extra = is_winograd(&run) ? winograd_weight_error(-1e30f, &run) : 0.0;
  run_special_weight(context, &run, "-1e30 weight at the middle tap", middle,
                     -1e30f, large_weight_rule, extra);
  extra = is_winograd(&run) ? winograd_weight_error(1e30f, &run) : 0.0;
  seen = run_special_weight(context, &run, "1e30 weight at the origin tap",
                            origin, 1e30f, large_weight_rule, extra);
  if (is_winograd(&run))
    cr_expect_gt(seen.beyond_bound, 0,
                 "%s: winograd no longer spreads the error of a large "
                 "weight; update the note at GCL_ALGORITHM_WINOGRAD",
                 run.layer->name);

  close_run(&run);
  gcl_context_destroy(context);
}

/* ---- special bias ---------------------------------------------------------------- */

/* Sets the bias of the last output channel, runs a fresh plan on the
 * plain data, and expects that channel as the reference, the rest
 * unchanged. */
static void run_special_bias(gcl_context *context, numeric_run *run,
                             const char *scenario, float value) {
  output_rule *rules = allocate(run->n_out, sizeof *rules);
  int64_t channel = run->layer->num_output - 1;

  run->scenario = scenario;
  plain_data(run);
  run->bias[channel] = value;
  run_new_plan(context, run);
  for (size_t i = 0; i < run->n_out; i++)
    rules[i] = output_element(run->layer, &run->axes, i).c == channel
                   ? RULE_REFERENCE
                   : RULE_UNCHANGED;
  check_outputs(run, rules, 0.0);
  free(rules);
}

/* Every algorithm adds the bias after the sums, so NaN, infinities and
 * large values there follow the reference. */
ParameterizedTest(numeric_case *test, numerics, special_bias) {
  gcl_context *context = test_context();
  numeric_run run;

  open_run(&run, test);
  cr_assert(run.layer->bias_term, "%s: the layer has no bias",
            run.layer->name);
  run_baseline(context, &run);
  run_special_bias(context, &run, "NaN bias", NAN);
  run_special_bias(context, &run, "-inf bias", -INFINITY);
  run_special_bias(context, &run, "1e30 bias", 1e30f);

  close_run(&run);
  gcl_context_destroy(context);
}
