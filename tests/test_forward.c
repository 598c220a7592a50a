/*
 * Forward pass against the test reference over a table of hand-picked and
 * generated layers, through the host-pointer entry point, plus the cl_mem
 * entry point with events.
 */
#include "helpers.h"
#include "layer_table.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ParameterizedTestParameters(forward, layer_table) {
  size_t count;
  const test_layer *layers = test_layer_table(&count, NULL);

  return cr_make_param_array(test_layer, (test_layer *)layers, count);
}

/* Runs one layer through the library and returns the guarded output. */
static float *run_layer(gcl_context *context, const test_layer *layer,
                        const float *input, const float *weights,
                        const float *bias) {
  int64_t input_shape[GCL_MAX_RANK], output_shape[GCL_MAX_RANK];
  size_t output_count = test_output_count(layer);
  float *output = test_alloc_guarded(output_count);
  gcl_conv_desc desc;
  gcl_conv *conv = NULL;
  gcl_plan *plan = NULL;
  gcl_status status;

  test_layer_desc(layer, &desc, input_shape);
  status = gcl_conv_create(context, &desc, weights,
                           layer->bias_term ? bias : NULL, &conv);
  cr_assert_eq(status, GCL_SUCCESS, "%s: gcl_conv_create: %s", layer->name,
               gcl_last_error());
  status = gcl_plan_create(conv, layer->spatial_dims + 2, input_shape, NULL,
                           &plan);
  cr_assert_eq(status, GCL_SUCCESS, "%s: gcl_plan_create: %s", layer->name,
               gcl_last_error());

  gcl_plan_output_shape(plan, output_shape);
  for (int a = 0; a < layer->spatial_dims; a++)
    cr_assert_eq(output_shape[2 + a],
                 test_output_size(layer->in[a], layer->kernel[a],
                                  layer->stride[a], layer->pad[a],
                                  layer->dilation[a]),
                 "%s: output size on axis %d", layer->name, a);

  status = gcl_plan_forward(plan, input, output);
  cr_assert_eq(status, GCL_SUCCESS, "%s: gcl_plan_forward: %s", layer->name,
               gcl_last_error());
  test_check_guard(output, output_count, layer->name);

  gcl_plan_destroy(plan);
  gcl_conv_destroy(conv);
  return output;
}

ParameterizedTest(test_layer *layer, forward, layer_table) {
  size_t n_in = test_input_count(layer);
  size_t n_w = test_weight_count(layer);
  size_t n_out = test_output_count(layer);
  float *input = malloc(n_in * sizeof *input);
  float *weights = malloc(n_w * sizeof *weights);
  float *bias = malloc((size_t)layer->num_output * sizeof *bias);
  double *expected = malloc(n_out * sizeof *expected);
  double *magnitude = malloc(n_out * sizeof *magnitude);
  gcl_context *context = test_context();
  float *output;

  cr_assert(input && weights && bias && expected && magnitude,
            "out of memory");
  test_fill(input, n_in, 1);
  test_fill(weights, n_w, 2);
  test_fill(bias, (size_t)layer->num_output, 3);

  output = run_layer(context, layer, input, weights, bias);
  test_reference_with_magnitude(layer, input, weights,
                                layer->bias_term ? bias : NULL, expected,
                                magnitude);
  test_expect_close(layer, output, expected, magnitude);

  gcl_context_destroy(context);
  free(input);
  free(weights);
  free(bias);
  free(expected);
  free(magnitude);
  free(output);
}

/* ---- the cl_mem entry point ---------------------------------------------- */

static const test_layer cl_layer =
    L2("cl_buffers_group2", 2, 4, 6, 2, 9, 8, 3, 3, 1, 2, 1, 1, 1, 1, 1);

typedef struct cl_fixture {
  gcl_context *context;
  gcl_conv *conv;
  gcl_plan *plan;
  float *input, *weights, *bias;
  size_t n_in, n_out;
} cl_fixture;

static void cl_fixture_open(cl_fixture *f) {
  int64_t input_shape[GCL_MAX_RANK];
  gcl_conv_desc desc;

  memset(f, 0, sizeof *f);
  f->n_in = test_input_count(&cl_layer);
  f->n_out = test_output_count(&cl_layer);
  f->input = malloc(f->n_in * sizeof *f->input);
  f->weights = malloc(test_weight_count(&cl_layer) * sizeof *f->weights);
  f->bias = malloc((size_t)cl_layer.num_output * sizeof *f->bias);
  cr_assert(f->input && f->weights && f->bias, "out of memory");
  test_fill(f->input, f->n_in, 11);
  test_fill(f->weights, test_weight_count(&cl_layer), 12);
  test_fill(f->bias, (size_t)cl_layer.num_output, 13);

  f->context = test_context();
  test_layer_desc(&cl_layer, &desc, input_shape);
  cr_assert_eq(gcl_conv_create(f->context, &desc, f->weights, f->bias,
                               &f->conv),
               GCL_SUCCESS, "%s", gcl_last_error());
  cr_assert_eq(gcl_plan_create(f->conv, 4, input_shape, NULL, &f->plan),
               GCL_SUCCESS, "%s", gcl_last_error());
}

static void cl_fixture_close(cl_fixture *f) {
  gcl_plan_destroy(f->plan);
  gcl_conv_destroy(f->conv);
  gcl_context_destroy(f->context);
  free(f->input);
  free(f->weights);
  free(f->bias);
}

Test(forward_cl, waits_for_user_event_and_signals_done) {
  cl_fixture f;
  cl_context cl_ctx;
  cl_command_queue queue;
  cl_mem input, output;
  cl_event gate, done = NULL;
  cl_int code;
  float *result;
  double *expected, *magnitude;

  cl_fixture_open(&f);
  cl_ctx = gcl_context_cl_context(f.context, 0);
  queue = gcl_context_cl_queue(f.context, 0);
  input = clCreateBuffer(cl_ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                         f.n_in * sizeof(float), f.input, &code);
  cr_assert_eq(code, CL_SUCCESS);
  output = clCreateBuffer(cl_ctx, CL_MEM_READ_WRITE, f.n_out * sizeof(float),
                          NULL, &code);
  cr_assert_eq(code, CL_SUCCESS);
  gate = clCreateUserEvent(cl_ctx, &code);
  cr_assert_eq(code, CL_SUCCESS);

  cr_assert_eq(gcl_plan_forward_cl(f.plan, input, output, 1, &gate, &done),
               GCL_SUCCESS, "%s", gcl_last_error());
  cr_assert_not_null(done);

  /* Nothing may complete before the caller's event does. */
  {
    cl_int state;

    clGetEventInfo(done, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof state,
                   &state, NULL);
    cr_assert_neq(state, CL_COMPLETE, "the plan ran before its wait event");
  }
  clSetUserEventStatus(gate, CL_COMPLETE);
  cr_assert_eq(clWaitForEvents(1, &done), CL_SUCCESS);

  result = test_alloc_guarded(f.n_out);
  cr_assert_eq(clEnqueueReadBuffer(queue, output, CL_TRUE, 0,
                                   f.n_out * sizeof(float), result, 0, NULL,
                                   NULL),
               CL_SUCCESS);
  expected = malloc(f.n_out * sizeof *expected);
  magnitude = malloc(f.n_out * sizeof *magnitude);
  test_reference_with_magnitude(&cl_layer, f.input, f.weights, f.bias,
                                expected, magnitude);
  test_expect_close(&cl_layer, result, expected, magnitude);
  test_check_guard(result, f.n_out, "cl_mem output");

  clReleaseEvent(done);
  clReleaseEvent(gate);
  clReleaseMemObject(input);
  clReleaseMemObject(output);
  free(result);
  free(expected);
  free(magnitude);
  cl_fixture_close(&f);
}

Test(forward_cl, rejects_small_buffer) {
  cl_fixture f;
  cl_mem input, output;
  cl_int code;

  cl_fixture_open(&f);
  input = clCreateBuffer(gcl_context_cl_context(f.context, 0),
                         CL_MEM_READ_WRITE, f.n_in * sizeof(float), NULL,
                         &code);
  output = clCreateBuffer(gcl_context_cl_context(f.context, 0),
                          CL_MEM_READ_WRITE, f.n_out * sizeof(float) - 4,
                          NULL, &code);
  cr_assert_eq(gcl_plan_forward_cl(f.plan, input, output, 0, NULL, NULL),
               GCL_ERROR_SHAPE_MISMATCH);
  cr_assert(strstr(gcl_last_error(), "output buffer holds") != NULL, "%s",
            gcl_last_error());
  clReleaseMemObject(input);
  clReleaseMemObject(output);
  cl_fixture_close(&f);
}

Test(forward_cl, rejects_buffer_of_other_context) {
  cl_fixture f;
  cl_context other;
  cl_device_id device;
  cl_mem input, output;
  cl_int code;

  cl_fixture_open(&f);
  clGetContextInfo(gcl_context_cl_context(f.context, 0), CL_CONTEXT_DEVICES,
                   sizeof device, &device, NULL);
  other = clCreateContext(NULL, 1, &device, NULL, NULL, &code);
  cr_assert_eq(code, CL_SUCCESS);
  input = clCreateBuffer(other, CL_MEM_READ_WRITE, f.n_in * sizeof(float),
                         NULL, &code);
  output = clCreateBuffer(gcl_context_cl_context(f.context, 0),
                          CL_MEM_READ_WRITE, f.n_out * sizeof(float), NULL,
                          &code);
  cr_assert_eq(gcl_plan_forward_cl(f.plan, input, output, 0, NULL, NULL),
               GCL_ERROR_INVALID_ARGUMENT);
  cr_assert(strstr(gcl_last_error(), "another OpenCL context") != NULL, "%s",
            gcl_last_error());
  clReleaseMemObject(input);
  clReleaseMemObject(output);
  clReleaseContext(other);
  cl_fixture_close(&f);
}

Test(forward, repeated_calls_are_bitwise_equal) {
  cl_fixture f;
  float *first, *second;

  cl_fixture_open(&f);
  first = test_alloc_guarded(f.n_out);
  second = test_alloc_guarded(f.n_out);
  cr_assert_eq(gcl_plan_forward(f.plan, f.input, first), GCL_SUCCESS);
  cr_assert_eq(gcl_plan_forward(f.plan, f.input, second), GCL_SUCCESS);
  cr_assert_eq(memcmp(first, second, f.n_out * sizeof(float)), 0,
               "two runs of one plan differ");
  free(first);
  free(second);
  cl_fixture_close(&f);
}

Test(forward, second_plan_compiles_nothing) {
  cl_fixture f;
  gcl_context_stats before, after;
  int64_t input_shape[GCL_MAX_RANK];
  gcl_conv_desc desc;
  gcl_plan *again = NULL;

  cl_fixture_open(&f);
  test_layer_desc(&cl_layer, &desc, input_shape);
  cr_assert_eq(gcl_context_get_stats(f.context, &before), GCL_SUCCESS);
  cr_assert_gt(before.programs_built + before.programs_loaded, 0);
  cr_assert_eq(gcl_plan_create(f.conv, 4, input_shape, NULL, &again),
               GCL_SUCCESS, "%s", gcl_last_error());
  cr_assert_eq(gcl_context_get_stats(f.context, &after), GCL_SUCCESS);
  cr_assert_eq(after.programs_built, before.programs_built,
               "the second plan built %llu programs",
               (unsigned long long)(after.programs_built -
                                    before.programs_built));
  cr_assert_eq(after.programs_loaded, before.programs_loaded,
               "the second plan loaded %llu programs from disk",
               (unsigned long long)(after.programs_loaded -
                                    before.programs_loaded));
  cr_assert_gt(after.program_cache_hits, before.program_cache_hits);
  gcl_plan_destroy(again);
  cl_fixture_close(&f);
}

Test(forward, plan_rejects_wrong_input_channels) {
  cl_fixture f;
  int64_t shape[4] = {1, 5, 9, 8};
  gcl_plan *plan = NULL;

  cl_fixture_open(&f);
  cr_assert_eq(gcl_plan_create(f.conv, 4, shape, NULL, &plan),
               GCL_ERROR_SHAPE_MISMATCH);
  cr_assert_null(plan);
  cr_assert(strstr(gcl_last_error(), "has 5 channels but the layer expects 4") !=
                NULL,
            "%s", gcl_last_error());
  cl_fixture_close(&f);
}
