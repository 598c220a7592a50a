/*
 * Group scheduling: the placement rules, every policy against the
 * reference and against the single-queue output, two PoCL devices, and a
 * failure on one device.
 */
#define _POSIX_C_SOURCE 200809L
#include "helpers.h"

#include "conv/plan.h"
#include "sched/placement.h"
#include "util/fault.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- placement, without devices ------------------------------------------ */

static gcl_geometry geometry_of(int64_t batch, int64_t channels,
                                int64_t num_output, int64_t group) {
  gcl_conv_desc desc;
  int64_t shape[4] = {batch, channels, 6, 6};
  gcl_geometry g;

  gcl_conv_desc_init(&desc, 2, channels, num_output, 3);
  desc.group = group;
  cr_assert_eq(gcl_geometry_init(&desc, 4, shape, &g), GCL_SUCCESS, "%s",
               gcl_last_error());
  return g;
}

static void equal_targets(gcl_target *targets, size_t count) {
  for (size_t i = 0; i < count; i++) {
    targets[i].device_index = 0;
    targets[i].queue_index = (unsigned)i;
    targets[i].throughput = 1.0;
  }
}

Test(placement, seven_groups_over_two_queues) {
  gcl_geometry g = geometry_of(1, 14, 21, 7);
  gcl_target targets[2];
  gcl_slot_info slots[2];

  equal_targets(targets, 2);
  cr_assert_eq(gcl_place(&g, targets, 2, slots), 2);
  cr_assert_eq(slots[0].group_begin, 0);
  cr_assert_eq(slots[0].group_end, 4);
  cr_assert_eq(slots[1].group_begin, 4);
  cr_assert_eq(slots[1].group_end, 7);
  cr_assert_eq(slots[1].input_channel_begin, 8);
  cr_assert_eq(slots[1].input_channel_end, 14);
  cr_assert_eq(slots[1].output_channel_begin, 12);
  cr_assert_eq(slots[1].output_channel_end, 21);
  /* 3 groups x 3 outputs x 2 channels x 9 taps, plus 9 bias values. */
  cr_assert_eq(slots[1].weight_bytes, (uint64_t)(3 * 3 * 2 * 9 + 9) * 4);
}

Test(placement, groups_follow_throughput) {
  gcl_geometry g = geometry_of(1, 8, 8, 8);
  gcl_target targets[2];
  gcl_slot_info slots[2];

  equal_targets(targets, 2);
  targets[0].throughput = 3.0;
  cr_assert_eq(gcl_place(&g, targets, 2, slots), 2);
  cr_assert_eq(slots[0].group_end - slots[0].group_begin, 6);
  cr_assert_eq(slots[1].group_end - slots[1].group_begin, 2);
  cr_assert_float_eq(slots[0].share, 0.75, 1e-12);
}

Test(placement, group_one_splits_batch) {
  gcl_geometry g = geometry_of(5, 4, 4, 1);
  gcl_target targets[2];
  gcl_slot_info slots[2];

  equal_targets(targets, 2);
  cr_assert_eq(gcl_place(&g, targets, 2, slots), 2);
  cr_assert_eq(slots[0].batch_begin, 0);
  cr_assert_eq(slots[0].batch_end, 3);
  cr_assert_eq(slots[1].batch_begin, 3);
  cr_assert_eq(slots[1].batch_end, 5);
  cr_assert_eq(slots[1].group_end, 1);
}

Test(placement, fewer_groups_than_slots_tiles) {
  gcl_geometry g = geometry_of(4, 4, 4, 2);
  gcl_target targets[4];
  gcl_slot_info slots[4];

  equal_targets(targets, 4);
  cr_assert_eq(gcl_place(&g, targets, 4, slots), 4);
  cr_assert_eq(slots[1].group_begin, 0);
  cr_assert_eq(slots[1].batch_begin, 2);
  cr_assert_eq(slots[2].group_begin, 1);
  cr_assert_eq(slots[2].batch_end, 2);
}

Test(placement, more_slots_than_work) {
  gcl_geometry g = geometry_of(1, 3, 3, 3);
  gcl_target targets[8];
  gcl_slot_info slots[8];

  equal_targets(targets, 8);
  cr_assert_eq(gcl_place(&g, targets, 8, slots), 3);
}

/* Every (group, image) pair must belong to exactly one slot. */
Test(placement, random_splits_cover_once) {
  uint64_t state = 12345;

  for (int trial = 0; trial < 300; trial++) {
    int64_t group, batch;
    size_t count, used;
    gcl_target targets[16];
    gcl_slot_info slots[16];
    gcl_geometry g;
    int covered[40][6] = {{0}};
    double share = 0.0;

    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    group = 1 + (int64_t)((state >> 33) % 40);
    batch = 1 + (int64_t)((state >> 17) % 6);
    count = 1 + (size_t)((state >> 45) % 16);
    g = geometry_of(batch, group, 2 * group, group);
    equal_targets(targets, count);
    for (size_t i = 0; i < count; i++)
      targets[i].throughput = 1.0 + (double)((state >> (i % 40)) % 5);

    used = gcl_place(&g, targets, count, slots);
    cr_assert_leq(used, count);
    for (size_t s = 0; s < used; s++) {
      for (int64_t gi = slots[s].group_begin; gi < slots[s].group_end; gi++)
        for (int64_t n = slots[s].batch_begin; n < slots[s].batch_end; n++)
          covered[gi][n]++;
      share += slots[s].share;
    }
    for (int64_t gi = 0; gi < group; gi++)
      for (int64_t n = 0; n < batch; n++)
        cr_assert_eq(covered[gi][n], 1,
                     "trial %d: group %lld image %lld covered %d times "
                     "(G=%lld N=%lld slots=%zu)",
                     trial, (long long)gi, (long long)n, covered[gi][n],
                     (long long)group, (long long)batch, count);
    cr_assert_float_eq(share, 1.0, 1e-9, "trial %d: shares add to %g", trial,
                       share);
  }
}

Test(schedule, parse_accepts_and_rejects) {
  gcl_plan_options options;

  gcl_plan_options_init(&options);
  cr_assert_eq(gcl_schedule_parse("queues:4", &options), GCL_SUCCESS);
  cr_assert_eq(options.schedule, GCL_SCHEDULE_QUEUES);
  cr_assert_eq(options.queues, 4);
  cr_assert_eq(gcl_schedule_parse("devices", &options), GCL_SUCCESS);
  cr_assert_eq(options.schedule, GCL_SCHEDULE_DEVICES);
  cr_assert_eq(gcl_schedule_parse("single", &options), GCL_SUCCESS);
  cr_assert_eq(options.schedule, GCL_SCHEDULE_SINGLE);
  cr_assert_eq(gcl_schedule_parse("queues:0", &options),
               GCL_ERROR_INVALID_ARGUMENT);
  cr_assert_eq(gcl_schedule_parse("queues:3x", &options),
               GCL_ERROR_INVALID_ARGUMENT);
  cr_assert_eq(gcl_schedule_parse("fastest", &options),
               GCL_ERROR_INVALID_ARGUMENT);
  cr_assert(strstr(gcl_last_error(), "'fastest'") != NULL, "%s",
            gcl_last_error());
}

/* ---- policies against the reference ---------------------------------------- */

typedef struct policy_case {
  const char *schedule;
  int two_devices; /* run with POCL_DEVICES="pthread pthread" */
} policy_case;

static const policy_case policies[] = {
    {"queues:2", 0}, {"queues:3", 0}, {"queues:8", 0},
    {"devices", 1},  {"queues:4", 1}, {"auto", 1},
};

static const test_layer schedule_layers[] = {
    {"group1_batch3", 2, 3, 4, 6, 1, {7, 6}, {3, 3}, {1, 1}, {1, 1}, {1, 1}, 1,
     TEST_PLAIN_CONVOLUTION},
    {"group2", 2, 2, 6, 4, 2, {9, 8}, {3, 3}, {1, 2}, {1, 1}, {1, 1}, 1,
     TEST_PLAIN_CONVOLUTION},
    {"group3", 1, 1, 6, 9, 3, {11}, {3}, {2}, {1}, {2}, 0,
     TEST_PLAIN_CONVOLUTION},
    {"group7_uneven", 2, 2, 14, 21, 7, {6, 7}, {3, 3}, {1, 1}, {1, 1}, {1, 1},
     1, TEST_PLAIN_CONVOLUTION},
    {"group32_resnext", 2, 1, 64, 64, 32, {7, 7}, {3, 3}, {1, 1}, {1, 1},
     {1, 1}, 1, TEST_PLAIN_CONVOLUTION},
    {"depthwise_mult2", 2, 2, 8, 16, 8, {8, 8}, {3, 3}, {1, 1}, {1, 1},
     {1, 1}, 1, TEST_PLAIN_CONVOLUTION},
    {"group4_3d", 3, 1, 4, 8, 4, {4, 5, 5}, {3, 3, 3}, {1, 1, 1}, {1, 1, 1},
     {1, 1, 1}, 1, TEST_PLAIN_CONVOLUTION},
};

#define POLICY_COUNT (sizeof policies / sizeof policies[0])
#define LAYER_COUNT (sizeof schedule_layers / sizeof schedule_layers[0])

typedef struct schedule_case {
  size_t policy;
  size_t layer;
} schedule_case;

static schedule_case schedule_cases[POLICY_COUNT * LAYER_COUNT];

ParameterizedTestParameters(schedule, policy_table) {
  for (size_t p = 0; p < POLICY_COUNT; p++)
    for (size_t l = 0; l < LAYER_COUNT; l++)
      schedule_cases[p * LAYER_COUNT + l] = (schedule_case){p, l};
  return cr_make_param_array(schedule_case, schedule_cases,
                             POLICY_COUNT * LAYER_COUNT);
}

typedef struct layer_data {
  float *input, *weights, *bias;
  size_t n_in, n_out;
} layer_data;

static layer_data make_data(const test_layer *layer) {
  layer_data d;

  d.n_in = test_input_count(layer);
  d.n_out = test_output_count(layer);
  d.input = malloc(d.n_in * sizeof(float));
  d.weights = malloc(test_weight_count(layer) * sizeof(float));
  d.bias = malloc((size_t)layer->num_output * sizeof(float));
  cr_assert(d.input && d.weights && d.bias, "out of memory");
  test_fill(d.input, d.n_in, 21);
  test_fill(d.weights, test_weight_count(layer), 22);
  test_fill(d.bias, (size_t)layer->num_output, 23);
  return d;
}

static void free_data(layer_data *d) {
  free(d->input);
  free(d->weights);
  free(d->bias);
}

/* Runs a layer under a schedule; returns the plan's output (guarded). */
static float *run_scheduled(gcl_context *context, const test_layer *layer,
                            const layer_data *d, const char *schedule,
                            size_t *slot_count) {
  int64_t shape[GCL_MAX_RANK];
  gcl_plan_options options;
  gcl_conv_desc desc;
  gcl_conv *conv = NULL;
  gcl_plan *plan = NULL;
  float *output = test_alloc_guarded(d->n_out);

  test_layer_desc(layer, &desc, shape);
  gcl_plan_options_init(&options);
  cr_assert_eq(gcl_schedule_parse(schedule, &options), GCL_SUCCESS);
  cr_assert_eq(gcl_conv_create(context, &desc, d->weights,
                               layer->bias_term ? d->bias : NULL, &conv),
               GCL_SUCCESS, "%s", gcl_last_error());
  cr_assert_eq(gcl_plan_create(conv, layer->spatial_dims + 2, shape, &options,
                               &plan),
               GCL_SUCCESS, "%s under %s: %s", layer->name, schedule,
               gcl_last_error());
  cr_assert_eq(gcl_plan_forward(plan, d->input, output), GCL_SUCCESS,
               "%s under %s: %s", layer->name, schedule, gcl_last_error());
  test_check_guard(output, d->n_out, layer->name);
  if (slot_count != NULL)
    *slot_count = gcl_plan_slot_count(plan);
  gcl_plan_destroy(plan);
  gcl_conv_destroy(conv);
  return output;
}

ParameterizedTest(schedule_case *c, schedule, policy_table) {
  const policy_case *policy = &policies[c->policy];
  const test_layer *layer = &schedule_layers[c->layer];
  layer_data d;
  gcl_context *context;
  float *single, *scheduled;
  double *expected, *magnitude;
  size_t slots = 0;

  if (policy->two_devices)
    setenv("POCL_DEVICES", "pthread pthread", 1);
  setenv("GROUPCL_DEVICES", "all", 1);
  context = test_context();
  if (policy->two_devices)
    cr_assert_eq(gcl_context_device_count(context), 2,
                 "POCL_DEVICES did not give two devices");

  d = make_data(layer);
  single = run_scheduled(context, layer, &d, "single", NULL);
  scheduled = run_scheduled(context, layer, &d, policy->schedule, &slots);
  cr_assert_geq(slots, 1);

  expected = malloc(d.n_out * sizeof *expected);
  magnitude = malloc(d.n_out * sizeof *magnitude);
  test_reference_with_magnitude(layer, d.input, d.weights,
                                layer->bias_term ? d.bias : NULL, expected,
                                magnitude);
  test_expect_close(layer, scheduled, expected, magnitude);
  /* The same kernels ran on the same kind of device: equal to the bit. */
  for (size_t i = 0; i < d.n_out; i++)
    cr_assert_eq(memcmp(&single[i], &scheduled[i], sizeof(float)), 0,
                 "%s under %s: element %zu is %.9g, single gave %.9g",
                 layer->name, policy->schedule, i, (double)scheduled[i],
                 (double)single[i]);

  free(single);
  free(scheduled);
  free(expected);
  free(magnitude);
  free_data(&d);
  gcl_context_destroy(context);
}

/* ---- the caller's buffers under a split ---------------------------------- */

static void run_cl_buffers(const char *schedule) {
  const test_layer *layer = &schedule_layers[3]; /* group 7, batch 2 */
  int64_t shape[GCL_MAX_RANK];
  gcl_plan_options options;
  gcl_conv_desc desc;
  gcl_conv *conv = NULL;
  gcl_plan *plan = NULL;
  gcl_context *context;
  layer_data d = make_data(layer);
  cl_mem input, output;
  cl_event done = NULL;
  cl_int code;
  float *result = test_alloc_guarded(d.n_out);
  double *expected = malloc(d.n_out * sizeof *expected);
  double *magnitude = malloc(d.n_out * sizeof *magnitude);

  context = test_context();
  test_layer_desc(layer, &desc, shape);
  gcl_plan_options_init(&options);
  cr_assert_eq(gcl_schedule_parse(schedule, &options), GCL_SUCCESS);
  cr_assert_eq(gcl_conv_create(context, &desc, d.weights, d.bias, &conv),
               GCL_SUCCESS);
  cr_assert_eq(gcl_plan_create(conv, 4, shape, &options, &plan), GCL_SUCCESS,
               "%s", gcl_last_error());

  input = clCreateBuffer(gcl_context_cl_context(context, 0),
                         CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                         d.n_in * sizeof(float), d.input, &code);
  cr_assert_eq(code, CL_SUCCESS);
  output = clCreateBuffer(gcl_context_cl_context(context, 0),
                          CL_MEM_READ_WRITE, d.n_out * sizeof(float), NULL,
                          &code);
  cr_assert_eq(code, CL_SUCCESS);
  cr_assert_eq(gcl_plan_forward_cl(plan, input, output, 0, NULL, &done),
               GCL_SUCCESS, "%s", gcl_last_error());
  cr_assert_eq(clWaitForEvents(1, &done), CL_SUCCESS);
  cr_assert_eq(clEnqueueReadBuffer(gcl_context_cl_queue(context, 0), output,
                                   CL_TRUE, 0, d.n_out * sizeof(float),
                                   result, 0, NULL, NULL),
               CL_SUCCESS);

  test_reference_with_magnitude(layer, d.input, d.weights, d.bias, expected,
                                magnitude);
  test_expect_close(layer, result, expected, magnitude);

  clReleaseEvent(done);
  clReleaseMemObject(input);
  clReleaseMemObject(output);
  gcl_plan_destroy(plan);
  gcl_conv_destroy(conv);
  gcl_context_destroy(context);
  free(result);
  free(expected);
  free(magnitude);
  free_data(&d);
}

Test(schedule, cl_buffers_on_four_queues) { run_cl_buffers("queues:4"); }

Test(schedule, cl_buffers_on_two_devices) {
  setenv("POCL_DEVICES", "pthread pthread", 1);
  setenv("GROUPCL_DEVICES", "all", 1);
  run_cl_buffers("devices");
}

/* PoCL's basic driver is a second, different CPU device implementation. */
Test(schedule, mixed_device_set) {
  const test_layer *layer = &schedule_layers[4];
  layer_data d = make_data(layer);
  gcl_context *context;
  float *single, *split;
  size_t slots = 0;

  setenv("POCL_DEVICES", "pthread basic", 1);
  setenv("GROUPCL_DEVICES", "all", 1);
  context = test_context();
  cr_assert_eq(gcl_context_device_count(context), 2);
  /* Equal throughput in the context's memo, so the plan splits the groups
   * 16 and 16 without measuring. The two drivers measure 4x to 5x apart on
   * this small layer. A gap above 63x leaves the slower device none of the
   * 32 groups, and that happened twice on a loaded 2-core machine. */
  context->devices[0].throughput = 1.0;
  context->devices[1].throughput = 1.0;
  single = run_scheduled(context, layer, &d, "single", NULL);
  split = run_scheduled(context, layer, &d, "devices", &slots);
  cr_assert_eq(slots, 2);
  for (size_t i = 0; i < d.n_out; i++)
    cr_assert_float_eq(split[i], single[i], 1e-5f, "element %zu", i);
  free(single);
  free(split);
  free_data(&d);
  gcl_context_destroy(context);
}

/* ---- failures on one device ------------------------------------------------ */

typedef struct two_device_setup {
  gcl_context *context;
  gcl_conv *conv;
  layer_data data;
  int64_t shape[GCL_MAX_RANK];
} two_device_setup;

static void open_two_devices(two_device_setup *s) {
  const test_layer *layer = &schedule_layers[3];
  gcl_conv_desc desc;

  setenv("POCL_DEVICES", "pthread pthread", 1);
  setenv("GROUPCL_DEVICES", "all", 1);
  s->context = test_context();
  cr_assert_eq(gcl_context_device_count(s->context), 2);
  s->data = make_data(layer);
  test_layer_desc(layer, &desc, s->shape);
  cr_assert_eq(gcl_conv_create(s->context, &desc, s->data.weights,
                               s->data.bias, &s->conv),
               GCL_SUCCESS);
}

static void close_two_devices(two_device_setup *s) {
  gcl_conv_destroy(s->conv);
  gcl_context_destroy(s->context);
  free_data(&s->data);
  gcl_fault_clear();
}

static cl_device_id second_device(gcl_context *context) {
  return context->devices[1].device;
}

Test(schedule, build_failure_on_one_device) {
  two_device_setup s;
  gcl_plan_options options;
  gcl_plan *plan = NULL;
  float *output;

  open_two_devices(&s);
  gcl_plan_options_init(&options);
  options.schedule = GCL_SCHEDULE_DEVICES;
  {
    const double even[2] = {1.0, 1.0};

    options.device_throughput = even;
    gcl_fault_arm(GCL_FAULT_BUILD, second_device(s.context), 1);
    cr_assert_eq(gcl_plan_create(s.conv, 4, s.shape, &options, &plan),
                 GCL_ERROR_BUILD_FAILED);
  }
  cr_assert_null(plan);
  cr_assert(strstr(gcl_last_error(), "device 1 '") != NULL,
            "the message does not name device 1: %s", gcl_last_error());
  cr_assert(strstr(gcl_last_error(), "kernel build failed") != NULL, "%s",
            gcl_last_error());

  /* The context still works: a plan on the healthy device runs. */
  gcl_fault_clear();
  options.schedule = GCL_SCHEDULE_SINGLE;
  options.device_throughput = NULL;
  cr_assert_eq(gcl_plan_create(s.conv, 4, s.shape, &options, &plan),
               GCL_SUCCESS, "%s", gcl_last_error());
  output = test_alloc_guarded(s.data.n_out);
  cr_assert_eq(gcl_plan_forward(plan, s.data.input, output), GCL_SUCCESS);
  free(output);
  gcl_plan_destroy(plan);
  close_two_devices(&s);
}

Test(schedule, allocation_failure_on_one_device) {
  two_device_setup s;
  gcl_plan_options options;
  gcl_plan *plan = NULL;
  const double even[2] = {1.0, 1.0};

  open_two_devices(&s);
  gcl_plan_options_init(&options);
  options.schedule = GCL_SCHEDULE_DEVICES;
  options.device_throughput = even;
  gcl_fault_arm(GCL_FAULT_BUFFER, second_device(s.context), 2);
  cr_assert_eq(gcl_plan_create(s.conv, 4, s.shape, &options, &plan),
               GCL_ERROR_OUT_OF_MEMORY);
  cr_assert_null(plan);
  cr_assert(strstr(gcl_last_error(), "device 1 '") != NULL, "%s",
            gcl_last_error());
  close_two_devices(&s);
}

Test(schedule, run_failure_leaves_output_untouched) {
  two_device_setup s;
  gcl_plan_options options;
  gcl_plan *plan = NULL;
  const double even[2] = {1.0, 1.0};
  float *output;

  open_two_devices(&s);
  gcl_plan_options_init(&options);
  options.schedule = GCL_SCHEDULE_DEVICES;
  options.device_throughput = even;
  cr_assert_eq(gcl_plan_create(s.conv, 4, s.shape, &options, &plan),
               GCL_SUCCESS, "%s", gcl_last_error());
  cr_assert_eq(gcl_plan_slot_count(plan), 2);

  output = test_alloc_guarded(s.data.n_out);
  gcl_fault_arm(GCL_FAULT_ENQUEUE, second_device(s.context), 1);
  cr_assert_eq(gcl_plan_forward(plan, s.data.input, output),
               GCL_ERROR_OUT_OF_MEMORY);
  cr_assert(strstr(gcl_last_error(), "device 1 '") != NULL, "%s",
            gcl_last_error());
  test_check_guard(output, 0, "output after a failed run");

  /* The same plan works again once the device is healthy. */
  gcl_fault_clear();
  cr_assert_eq(gcl_plan_forward(plan, s.data.input, output), GCL_SUCCESS,
               "%s", gcl_last_error());
  free(output);
  gcl_plan_destroy(plan);
  close_two_devices(&s);
}

/* ---- description, measurement and timeline --------------------------------- */

Test(schedule, throughput_measured_once) {
  two_device_setup s;
  gcl_plan_options options;
  gcl_plan *plan = NULL;
  double first[2];

  open_two_devices(&s);
  gcl_plan_options_init(&options);
  options.schedule = GCL_SCHEDULE_DEVICES;
  cr_assert_eq(gcl_plan_create(s.conv, 4, s.shape, &options, &plan),
               GCL_SUCCESS, "%s", gcl_last_error());
  gcl_plan_destroy(plan);
  for (int d = 0; d < 2; d++) {
    first[d] = s.context->devices[d].throughput;
    cr_assert_gt(first[d], 0.0, "device %d was not measured", d);
  }

  cr_assert_eq(gcl_plan_create(s.conv, 4, s.shape, &options, &plan),
               GCL_SUCCESS);
  for (int d = 0; d < 2; d++)
    cr_assert_eq(s.context->devices[d].throughput, first[d],
                 "device %d was measured again", d);
  gcl_plan_destroy(plan);
  close_two_devices(&s);
}

Test(schedule, slot_info_describes_placement) {
  two_device_setup s;
  gcl_plan_options options;
  gcl_plan *plan = NULL;
  gcl_slot_info info;
  const double uneven[2] = {2.0, 1.0};

  open_two_devices(&s);
  gcl_plan_options_init(&options);
  options.schedule = GCL_SCHEDULE_DEVICES;
  options.device_throughput = uneven;
  cr_assert_eq(gcl_plan_create(s.conv, 4, s.shape, &options, &plan),
               GCL_SUCCESS, "%s", gcl_last_error());
  cr_assert_eq(gcl_plan_schedule(plan), GCL_SCHEDULE_DEVICES);
  cr_assert_eq(gcl_plan_slot_info(plan, 1, &info), GCL_SUCCESS);
  cr_assert_eq(info.device_index, 1);
  cr_assert_eq(info.group_begin, 5); /* 7 groups split 2:1 -> 5 and 2 */
  cr_assert_eq(info.group_end, 7);
  cr_assert_eq(info.batch_end, 2);
  cr_assert_eq(info.input_bytes, (uint64_t)(2 * 2 * 2 * 6 * 7 * 4));
  cr_assert_eq(gcl_plan_slot_info(plan, 2, &info), GCL_ERROR_INVALID_ARGUMENT);
  gcl_plan_destroy(plan);
  close_two_devices(&s);
}

Test(schedule, trace_has_span_per_queue) {
  const test_layer *layer = &schedule_layers[4];
  layer_data d = make_data(layer);
  int64_t shape[GCL_MAX_RANK];
  gcl_plan_options options;
  gcl_conv_desc desc;
  gcl_conv *conv = NULL;
  gcl_plan *plan = NULL;
  gcl_context *context = test_context();
  gcl_run_info run;
  float *output = test_alloc_guarded(d.n_out);
  char path[] = "/tmp/gcl_trace_XXXXXX";
  char text[1 << 16];
  size_t length;
  FILE *file;
  int descriptor;

  test_layer_desc(layer, &desc, shape);
  gcl_plan_options_init(&options);
  options.schedule = GCL_SCHEDULE_QUEUES;
  options.queues = 3;
  options.profile = 1;
  cr_assert_eq(gcl_conv_create(context, &desc, d.weights, d.bias, &conv),
               GCL_SUCCESS);
  cr_assert_eq(gcl_plan_create(conv, 4, shape, &options, &plan), GCL_SUCCESS,
               "%s", gcl_last_error());
  cr_assert_eq(gcl_plan_forward(plan, d.input, output), GCL_SUCCESS);

  cr_assert_eq(gcl_plan_run_info(plan, &run), GCL_SUCCESS, "%s",
               gcl_last_error());
  cr_assert_eq(run.slot_count, 3);
  for (size_t i = 0; i < 3; i++)
    cr_assert_gt(run.slot_busy_seconds[i], 0.0, "slot %zu has no busy time",
                 i);
  cr_assert_gt(run.wall_seconds, 0.0);

  descriptor = mkstemp(path);
  cr_assert_geq(descriptor, 0);
  close(descriptor);
  cr_assert_eq(gcl_plan_write_trace(plan, path), GCL_SUCCESS, "%s",
               gcl_last_error());
  file = fopen(path, "r");
  cr_assert_not_null(file);
  length = fread(text, 1, sizeof text - 1, file);
  text[length] = '\0';
  fclose(file);
  unlink(path);

  cr_assert(strncmp(text, "{\"displayTimeUnit\"", 18) == 0, "%.60s", text);
  for (unsigned q = 0; q < 3; q++) {
    char needle[64];

    snprintf(needle, sizeof needle, "\"ph\":\"X\",\"pid\":0,\"tid\":%u", q);
    cr_assert(strstr(text, needle) != NULL, "no span on queue %u", q);
  }
  cr_assert(strstr(text, "\"name\":\"sgemm\"") != NULL ||
                strstr(text, "\"name\":\"direct\"") != NULL ||
                strstr(text, "\"ph\":\"X\"") != NULL,
            "no kernel span");
  cr_assert(strstr(text, "\"name\":\"write input\"") != NULL,
            "no transfer span");
  cr_assert_str_eq(text + length - 4, "\n]}\n");

  gcl_plan_destroy(plan);
  gcl_conv_destroy(conv);
  gcl_context_destroy(context);
  free(output);
  free_data(&d);
}

Test(schedule, trace_needs_profiling) {
  const test_layer *layer = &schedule_layers[1];
  layer_data d = make_data(layer);
  int64_t shape[GCL_MAX_RANK];
  gcl_conv_desc desc;
  gcl_conv *conv = NULL;
  gcl_plan *plan = NULL;
  gcl_context *context = test_context();
  gcl_run_info run;

  test_layer_desc(layer, &desc, shape);
  cr_assert_eq(gcl_conv_create(context, &desc, d.weights, d.bias, &conv),
               GCL_SUCCESS);
  cr_assert_eq(gcl_plan_create(conv, 4, shape, NULL, &plan), GCL_SUCCESS);
  cr_assert_eq(gcl_plan_run_info(plan, &run), GCL_ERROR_INVALID_STATE);
  cr_assert_eq(gcl_plan_write_trace(plan, "/tmp/never-written.json"),
               GCL_ERROR_INVALID_STATE);
  cr_assert_eq(access("/tmp/never-written.json", F_OK), -1);
  gcl_plan_destroy(plan);
  gcl_conv_destroy(conv);
  gcl_context_destroy(context);
  free_data(&d);
}

/* A slot on the second device copies on its own queue, in parts. */
Test(schedule, remote_copies_overlap_in_parts) {
  two_device_setup s;
  gcl_plan_options options;
  gcl_plan *plan = NULL;
  const double even[2] = {1.0, 1.0};
  float *output;
  char path[] = "/tmp/gcl_remote_trace_XXXXXX";
  char text[1 << 16];
  size_t length;
  FILE *file;
  int descriptor;

  open_two_devices(&s);
  gcl_plan_options_init(&options);
  options.schedule = GCL_SCHEDULE_DEVICES;
  options.device_throughput = even;
  options.profile = 1;
  cr_assert_eq(gcl_plan_create(s.conv, 4, s.shape, &options, &plan),
               GCL_SUCCESS, "%s", gcl_last_error());
  cr_assert_eq(plan->slots[1].steps, 2, "batch 2 should run in 2 steps");
  output = test_alloc_guarded(s.data.n_out);
  cr_assert_eq(gcl_plan_forward(plan, s.data.input, output), GCL_SUCCESS,
               "%s", gcl_last_error());

  descriptor = mkstemp(path);
  cr_assert_geq(descriptor, 0);
  close(descriptor);
  cr_assert_eq(gcl_plan_write_trace(plan, path), GCL_SUCCESS, "%s",
               gcl_last_error());
  file = fopen(path, "r");
  cr_assert_not_null(file);
  length = fread(text, 1, sizeof text - 1, file);
  text[length] = '\0';
  fclose(file);
  unlink(path);

  cr_assert(strstr(text, "\"name\":\"copies of queue 0\"") != NULL,
            "no copy queue row");
  cr_assert(strstr(text, "\"name\":\"write input\",\"ph\":\"X\",\"pid\":1,"
                         "\"tid\":100") != NULL,
            "no input copy on device 1's copy queue");
  cr_assert(strstr(text, "\"name\":\"read output\",\"ph\":\"X\",\"pid\":1,"
                         "\"tid\":100") != NULL,
            "no output copy on device 1's copy queue");
  free(output);
  gcl_plan_destroy(plan);
  close_two_devices(&s);
}
