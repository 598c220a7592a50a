/*
 * Device listing and selection: gcl_devices_list, the device specs of
 * gcl_context_create (including GROUPCL_DEVICES), and contexts built on the
 * caller's own OpenCL objects with gcl_context_create_from_cl.
 *
 * The tests need at least one OpenCL device (PoCL's CPU device is enough).
 * Criterion runs every test in its own process, so setenv stays local.
 */
#define _POSIX_C_SOURCE 200809L
#include "helpers.h"

#include <criterion/criterion.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define assert_status(actual, expected, label)                                 \
  cr_assert_eq((actual), (expected),                                           \
               "%s: status %d (%s), expected %d (%s); gcl_last_error(): %s",   \
               (label), (int)(actual), gcl_status_string(actual),              \
               (int)(expected), gcl_status_string(expected), gcl_last_error())

#define assert_error_contains(text, label)                                     \
  cr_assert(strstr(gcl_last_error(), (text)) != NULL,                          \
            "%s: gcl_last_error() should contain \"%s\" but is \"%s\"",        \
            (label), (text), gcl_last_error())

/* Lists the devices and fails the test unless there is at least one. */
static gcl_device_info *list_devices(size_t *count) {
  gcl_device_info *devices = NULL;
  gcl_status status = gcl_devices_list(&devices, count);

  assert_status(status, GCL_SUCCESS, "gcl_devices_list");
  cr_assert_geq(*count, 1, "no OpenCL device is installed");
  return devices;
}

static size_t count_of_type(const gcl_device_info *devices, size_t count,
                            cl_device_type type) {
  size_t found = 0;

  for (size_t i = 0; i < count; i++)
    found += (devices[i].type & type) != 0;
  return found;
}

/* Creates a context from spec and fails the test on any error. */
static gcl_context *open_context(const char *spec) {
  gcl_context *context = NULL;
  gcl_status status = gcl_context_create(spec, &context);

  cr_assert_eq(status, GCL_SUCCESS, "spec '%s': status %s: %s", spec,
               gcl_status_string(status), gcl_last_error());
  cr_assert_not_null(context, "spec '%s': no context", spec);
  cr_assert_geq(gcl_context_device_count(context), 1,
                "spec '%s': a context without devices", spec);
  return context;
}

static gcl_device_info context_device(const gcl_context *context,
                                      size_t index) {
  gcl_device_info info;
  gcl_status status = gcl_context_device_info(context, index, &info);

  assert_status(status, GCL_SUCCESS, "gcl_context_device_info");
  return info;
}

/* ---- gcl_devices_list ------------------------------------------------------ */

Test(devices_list, describes_every_device) {
  size_t count = 0;
  gcl_device_info *devices = list_devices(&count);

  for (size_t i = 0; i < count; i++) {
    const gcl_device_info *d = &devices[i];

    cr_assert_str_not_empty(d->device_name, "device %zu has no name", i);
    cr_assert_str_not_empty(d->platform_name, "device %zu: no platform name",
                            i);
    cr_assert_geq(d->compute_units, 1, "%s: %u compute units", d->device_name,
                  (unsigned)d->compute_units);
    cr_assert_gt(d->global_mem_bytes, 0, "%s: no global memory",
                 d->device_name);
    cr_assert_gt(d->max_alloc_bytes, 0, "%s: max allocation is 0",
                 d->device_name);
    cr_assert_leq(d->max_alloc_bytes, d->global_mem_bytes,
                  "%s: max allocation %llu above global memory %llu",
                  d->device_name, (unsigned long long)d->max_alloc_bytes,
                  (unsigned long long)d->global_mem_bytes);
    cr_assert(strncmp(d->opencl_c_version, "OpenCL C ", 9) == 0,
              "%s: OpenCL C version is \"%s\"", d->device_name,
              d->opencl_c_version);
  }
  gcl_devices_free(devices);
}

Test(devices_list, rejects_null_arguments) {
  gcl_device_info *devices = NULL;
  size_t count = 0;

  assert_status(gcl_devices_list(NULL, &count), GCL_ERROR_INVALID_ARGUMENT,
                "devices NULL");
  assert_status(gcl_devices_list(&devices, NULL), GCL_ERROR_INVALID_ARGUMENT,
                "count NULL");
  assert_error_contains("must not be NULL", "count NULL");
  gcl_devices_free(NULL);
}

Test(device_type_name, names_each_type) {
  static const struct {
    cl_device_type type;
    const char *name;
  } cases[] = {
      {CL_DEVICE_TYPE_GPU, "GPU"},
      {CL_DEVICE_TYPE_CPU, "CPU"},
      {CL_DEVICE_TYPE_ACCELERATOR, "accelerator"},
      {CL_DEVICE_TYPE_CUSTOM, "custom"},
      {CL_DEVICE_TYPE_DEFAULT, "default"},
      {CL_DEVICE_TYPE_GPU | CL_DEVICE_TYPE_DEFAULT, "GPU"},
      {0, "other"},
  };

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char buffer[16];
    const char *name =
        gcl_device_type_name(cases[i].type, buffer, sizeof buffer);

    cr_assert_eq(name, buffer, "type %#llx: the result is not the buffer",
                 (unsigned long long)cases[i].type);
    cr_assert_str_eq(buffer, cases[i].name, "type %#llx: \"%s\", expected \"%s\"",
                     (unsigned long long)cases[i].type, buffer,
                     cases[i].name);
  }
}

/* ---- gcl_context_create: specs that select ---------------------------------- */

Test(context_create, auto_prefers_gpu_then_cpu) {
  size_t count = 0;
  gcl_device_info *devices = list_devices(&count);
  size_t gpus = count_of_type(devices, count, CL_DEVICE_TYPE_GPU);
  size_t cpus = count_of_type(devices, count, CL_DEVICE_TYPE_CPU);
  cl_device_type expected_type = gpus > 0 ? CL_DEVICE_TYPE_GPU : CL_DEVICE_TYPE_CPU;
  size_t expected = count;
  gcl_context *context = open_context("auto");
  size_t selected = gcl_context_device_count(context);

  if (gpus > 0)
    expected = gpus;
  else if (cpus > 0)
    expected = cpus;

  cr_assert_eq(selected, expected, "auto selected %zu devices, expected %zu",
               selected, expected);
  for (size_t i = 0; i < selected && gpus + cpus > 0; i++) {
    gcl_device_info info = context_device(context, i);

    cr_assert((info.type & expected_type) != 0, "auto selected %s of type %#llx",
              info.device_name, (unsigned long long)info.type);
  }
  gcl_context_destroy(context);
  gcl_devices_free(devices);
}

Test(context_create, all_selects_every_device) {
  size_t count = 0;
  gcl_device_info *devices = list_devices(&count);
  gcl_context *context = open_context("all");

  cr_assert_eq(gcl_context_device_count(context), count,
               "all selected %zu of %zu devices",
               gcl_context_device_count(context), count);
  for (size_t i = 0; i < count; i++) {
    gcl_device_info info = context_device(context, i);

    cr_assert_str_eq(info.device_name, devices[i].device_name,
                     "device %zu is \"%s\", listed as \"%s\"", i,
                     info.device_name, devices[i].device_name);
  }
  gcl_context_destroy(context);
  gcl_devices_free(devices);
}

Test(context_create, cpu_selects_cpu_devices) {
  size_t count = 0;
  gcl_device_info *devices = list_devices(&count);
  size_t cpus = count_of_type(devices, count, CL_DEVICE_TYPE_CPU);
  gcl_context *context;

  if (cpus == 0) {
    gcl_devices_free(devices);
    cr_skip_test("no OpenCL CPU device on this machine");
  }
  context = open_context("cpu");
  cr_assert_eq(gcl_context_device_count(context), cpus,
               "cpu selected %zu devices, %zu CPUs exist",
               gcl_context_device_count(context), cpus);
  for (size_t i = 0; i < cpus; i++) {
    gcl_device_info info = context_device(context, i);

    cr_assert((info.type & CL_DEVICE_TYPE_CPU) != 0,
              "cpu selected %s of type %#llx", info.device_name,
              (unsigned long long)info.type);
  }
  gcl_context_destroy(context);
  gcl_devices_free(devices);
}

Test(context_create, index_selects_one_device) {
  size_t count = 0;
  gcl_device_info *devices = list_devices(&count);

  for (size_t i = 0; i < count; i++) {
    char spec[32];
    gcl_context *context;
    gcl_device_info info;

    snprintf(spec, sizeof spec, "%u:%u", devices[i].platform_index,
             devices[i].device_index);
    context = open_context(spec);
    cr_assert_eq(gcl_context_device_count(context), 1,
                 "'%s' selected %zu devices", spec,
                 gcl_context_device_count(context));
    info = context_device(context, 0);
    cr_assert_eq(info.platform_index, devices[i].platform_index,
                 "'%s': platform index %u", spec, info.platform_index);
    cr_assert_eq(info.device_index, devices[i].device_index,
                 "'%s': device index %u", spec, info.device_index);
    cr_assert_str_eq(info.device_name, devices[i].device_name,
                     "'%s' selected \"%s\", listed as \"%s\"", spec,
                     info.device_name, devices[i].device_name);
    gcl_context_destroy(context);
  }
  gcl_devices_free(devices);
}

/* Copies up to 6 characters of name, without commas, in flipped case. */
static int flipped_case_part(const char *name, char *part, size_t size) {
  size_t length = strlen(name);

  for (size_t start = length / 3; start < length; start++) {
    size_t used = 0;
    int letters = 0;

    while (used < 6 && used + 1 < size && start + used < length &&
           name[start + used] != ',') {
      unsigned char ch = (unsigned char)name[start + used];

      letters += isalpha(ch) != 0;
      part[used++] = (char)(islower(ch) ? toupper(ch) : tolower(ch));
    }
    part[used] = '\0';
    if (used >= 3 && letters > 0)
      return 1;
  }
  return 0;
}

Test(context_create, name_part_ignores_case) {
  size_t count = 0;
  gcl_device_info *devices = list_devices(&count);
  char part[8];
  gcl_context *context;
  gcl_device_info info;

  if (!flipped_case_part(devices[0].device_name, part, sizeof part)) {
    gcl_devices_free(devices);
    cr_skip_test("the device name has no usable part");
  }
  cr_assert(strstr(devices[0].device_name, part) == NULL,
            "the part '%s' keeps the case of \"%s\"", part,
            devices[0].device_name);
  context = open_context(part);
  /* The first listed device matches, so it comes first. */
  info = context_device(context, 0);
  cr_assert_str_eq(info.device_name, devices[0].device_name,
                   "'%s' selected \"%s\" first, expected \"%s\"", part,
                   info.device_name, devices[0].device_name);
  gcl_context_destroy(context);
  gcl_devices_free(devices);
}

Test(context_create, comma_list_selects_union) {
  size_t count = 0;
  gcl_device_info *devices = list_devices(&count);
  static const struct {
    const char *spec;
    int every_device; /* else exactly one */
  } cases[] = {
      {"0:0,all", 1},
      {"all,0:0", 1},
      {"0:0,0:0", 0},
      {"0:0,,0:0,", 0},
      {"0:0, all", 1},
      {" all ", 1},
      {"0:0 , 0:0", 0},
  };

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    gcl_context *context = open_context(cases[i].spec);
    size_t expected = cases[i].every_device ? count : 1;

    cr_assert_eq(gcl_context_device_count(context), expected,
                 "'%s' selected %zu devices, expected %zu", cases[i].spec,
                 gcl_context_device_count(context), expected);
    gcl_context_destroy(context);
  }
  gcl_devices_free(devices);
}

Test(context_create, opens_in_order_profiling_queue) {
  gcl_context *context = open_context("0:0");
  cl_command_queue queue = gcl_context_cl_queue(context, 0);
  cl_command_queue_properties properties = 0;
  cl_context queue_context = NULL;
  cl_int code;

  cr_assert_not_null(queue, "the context has no queue");
  code = clGetCommandQueueInfo(queue, CL_QUEUE_PROPERTIES, sizeof properties,
                               &properties, NULL);
  cr_assert_eq(code, CL_SUCCESS, "clGetCommandQueueInfo: %d", code);
  cr_assert((properties & CL_QUEUE_PROFILING_ENABLE) != 0,
            "queue properties %#llx lack profiling",
            (unsigned long long)properties);
  cr_assert((properties & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE) == 0,
            "queue properties %#llx are out-of-order",
            (unsigned long long)properties);
  code = clGetCommandQueueInfo(queue, CL_QUEUE_CONTEXT, sizeof queue_context,
                               &queue_context, NULL);
  cr_assert_eq(code, CL_SUCCESS, "clGetCommandQueueInfo: %d", code);
  cr_assert_eq(queue_context, gcl_context_cl_context(context, 0),
               "the queue belongs to another OpenCL context");
  gcl_context_destroy(context);
}

/* ---- gcl_context_create: specs that fail ------------------------------------ */

/* Checks a DEVICE_NOT_FOUND failure and its list of existing devices. */
static void expect_not_found(const char *spec, const char *term,
                             const gcl_device_info *first) {
  gcl_context *context = (gcl_context *)&context; /* any non-NULL value */
  gcl_status status = gcl_context_create(spec, &context);
  char quoted[64];

  assert_status(status, GCL_ERROR_DEVICE_NOT_FOUND, spec);
  cr_assert_null(context, "'%s': context is %p after a failure", spec,
                 (void *)context);
  snprintf(quoted, sizeof quoted, "'%s'", term);
  assert_error_contains(quoted, spec);
  assert_error_contains("Devices that exist", spec);
  assert_error_contains(first->device_name, spec);
}

Test(context_create, gpu_missing_lists_devices) {
  size_t count = 0;
  gcl_device_info *devices = list_devices(&count);

  if (count_of_type(devices, count, CL_DEVICE_TYPE_GPU) > 0) {
    gcl_devices_free(devices);
    cr_skip_test("this machine has an OpenCL GPU");
  }
  expect_not_found("gpu", "gpu", &devices[0]);
  assert_error_contains("0:0", "gpu");
  gcl_devices_free(devices);
}

Test(context_create, rejects_unknown_specs) {
  size_t count = 0;
  gcl_device_info *devices = list_devices(&count);
  static const struct {
    const char *spec;
    const char *term; /* the term the message must quote */
  } cases[] = {
      {"9:9", "9:9"},
      {"0:99", "0:99"},
      {"no-such-device", "no-such-device"},
      {"0:0,no-such-device", "no-such-device"},
      {"all,9:9", "9:9"},
  };

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    expect_not_found(cases[i].spec, cases[i].term, &devices[0]);
  gcl_devices_free(devices);
}

Test(context_create, rejects_spec_without_terms) {
  static const char *const specs[] = {",", ",,,"};

  for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
    gcl_context *context = NULL;
    gcl_status status = gcl_context_create(specs[i], &context);

    assert_status(status, GCL_ERROR_INVALID_ARGUMENT, specs[i]);
    assert_error_contains("contains no term", specs[i]);
    cr_assert_null(context, "'%s': context is %p", specs[i], (void *)context);
  }
}

Test(context_create, rejects_null_result) {
  assert_status(gcl_context_create("auto", NULL), GCL_ERROR_INVALID_ARGUMENT,
                "context NULL");
  assert_error_contains("must not be NULL", "context NULL");
}

/* ---- GROUPCL_DEVICES ------------------------------------------------------- */

Test(context_create, reads_environment_for_null_spec) {
  size_t count = 0;
  gcl_device_info *devices = list_devices(&count);
  gcl_context *context = NULL;

  cr_assert_eq(setenv("GROUPCL_DEVICES", "no-such-device", 1), 0);
  expect_not_found(NULL, "no-such-device", &devices[0]);
  expect_not_found("", "no-such-device", &devices[0]);

  cr_assert_eq(setenv("GROUPCL_DEVICES", "0:0", 1), 0);
  assert_status(gcl_context_create(NULL, &context), GCL_SUCCESS,
                "GROUPCL_DEVICES=0:0");
  cr_assert_eq(gcl_context_device_count(context), 1,
               "GROUPCL_DEVICES=0:0 selected %zu devices",
               gcl_context_device_count(context));
  gcl_context_destroy(context);
  gcl_devices_free(devices);
}

Test(context_create, spec_overrides_environment) {
  gcl_context *context;

  cr_assert_eq(setenv("GROUPCL_DEVICES", "no-such-device", 1), 0);
  context = open_context("0:0");
  gcl_context_destroy(context);
}

/* ---- gcl_context_device_info and NULL handling ------------------------------ */

Test(context_device_info, checks_index) {
  gcl_context *context = open_context("0:0");
  size_t devices = gcl_context_device_count(context);
  gcl_device_info info;

  memset(&info, 0, sizeof info);
  assert_status(gcl_context_device_info(context, 0, &info), GCL_SUCCESS,
                "index 0");
  cr_assert_str_not_empty(info.device_name, "index 0 has no device name");
  cr_assert_str_empty(gcl_last_error(), "a success left \"%s\"",
                      gcl_last_error());

  assert_status(gcl_context_device_info(context, devices, &info),
                GCL_ERROR_INVALID_ARGUMENT, "index past the end");
  assert_error_contains("out of range", "index past the end");
  assert_status(gcl_context_device_info(context, (size_t)-1, &info),
                GCL_ERROR_INVALID_ARGUMENT, "index SIZE_MAX");
  assert_status(gcl_context_device_info(context, 0, NULL),
                GCL_ERROR_INVALID_ARGUMENT, "info NULL");
  assert_status(gcl_context_device_info(NULL, 0, &info),
                GCL_ERROR_INVALID_ARGUMENT, "context NULL");
  cr_assert_null(gcl_context_cl_context(context, devices),
                 "an OpenCL context past the last device");
  cr_assert_null(gcl_context_cl_queue(context, devices),
                 "a queue past the last device");
  gcl_context_destroy(context);
}

Test(context_destroy, accepts_null) {
  gcl_context_destroy(NULL);
  cr_assert_eq(gcl_context_device_count(NULL), 0,
               "a NULL context has %zu devices", gcl_context_device_count(NULL));
  cr_assert_null(gcl_context_cl_context(NULL, 0),
                 "a NULL context has an OpenCL context");
  cr_assert_null(gcl_context_cl_queue(NULL, 0), "a NULL context has a queue");
}

/* ---- gcl_context_create_from_cl --------------------------------------------- */

/* OpenCL objects that the test creates itself, as an application would. */
typedef struct own_cl {
  cl_platform_id platform;
  cl_device_id device;
  cl_context context;
  cl_command_queue queue;
} own_cl;

static void own_cl_open(own_cl *own) {
  cl_platform_id platforms[8];
  cl_uint platform_count = 0;
  cl_int code;

  memset(own, 0, sizeof *own);
  code = clGetPlatformIDs(8, platforms, &platform_count);
  cr_assert_eq(code, CL_SUCCESS, "clGetPlatformIDs: %d", code);
  for (cl_uint p = 0; p < platform_count && own->device == NULL; p++) {
    if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, 1, &own->device,
                       NULL) == CL_SUCCESS)
      own->platform = platforms[p];
    else
      own->device = NULL;
  }
  cr_assert_not_null(own->device, "no OpenCL device");

  {
    cl_context_properties context_properties[] = {
        CL_CONTEXT_PLATFORM, (cl_context_properties)own->platform, 0};

    own->context = clCreateContext(context_properties, 1, &own->device, NULL,
                                   NULL, &code);
  }
  cr_assert_eq(code, CL_SUCCESS, "clCreateContext: %d", code);
  own->queue =
      clCreateCommandQueue(own->context, own->device, 0, &code);
  cr_assert_eq(code, CL_SUCCESS, "clCreateCommandQueue: %d", code);
}

static void own_cl_close(own_cl *own) {
  if (own->queue != NULL)
    clReleaseCommandQueue(own->queue);
  if (own->context != NULL)
    clReleaseContext(own->context);
}

static cl_uint context_references(cl_context context) {
  cl_uint count = 0;
  cl_int code = clGetContextInfo(context, CL_CONTEXT_REFERENCE_COUNT,
                                 sizeof count, &count, NULL);

  cr_assert_eq(code, CL_SUCCESS, "clGetContextInfo: %d", code);
  return count;
}

static cl_uint queue_references(cl_command_queue queue) {
  cl_uint count = 0;
  cl_int code = clGetCommandQueueInfo(queue, CL_QUEUE_REFERENCE_COUNT,
                                      sizeof count, &count, NULL);

  cr_assert_eq(code, CL_SUCCESS, "clGetCommandQueueInfo: %d", code);
  return count;
}

/* Writes and reads back a small buffer on the caller's objects. */
static void expect_objects_work(cl_context context, cl_command_queue queue,
                                const char *when) {
  float values[4] = {1.0f, 2.0f, 3.0f, 4.0f}, back[4] = {0};
  cl_int code;
  cl_mem buffer =
      clCreateBuffer(context, CL_MEM_READ_WRITE, sizeof values, NULL, &code);

  cr_assert_eq(code, CL_SUCCESS, "%s: clCreateBuffer: %d", when, code);
  code = clEnqueueWriteBuffer(queue, buffer, CL_TRUE, 0, sizeof values, values,
                              0, NULL, NULL);
  cr_assert_eq(code, CL_SUCCESS, "%s: clEnqueueWriteBuffer: %d", when, code);
  code = clEnqueueReadBuffer(queue, buffer, CL_TRUE, 0, sizeof back, back, 0,
                             NULL, NULL);
  cr_assert_eq(code, CL_SUCCESS, "%s: clEnqueueReadBuffer: %d", when, code);
  cr_assert_eq(memcmp(values, back, sizeof values), 0,
               "%s: the buffer read back differs", when);
  clReleaseMemObject(buffer);
}

Test(context_from_cl, retains_caller_objects) {
  own_cl own;
  gcl_context *context = NULL;
  cl_uint context_before, queue_before;

  own_cl_open(&own);
  context_before = context_references(own.context);
  queue_before = queue_references(own.queue);

  assert_status(gcl_context_create_from_cl(own.context, own.device, own.queue,
                                           &context),
                GCL_SUCCESS, "gcl_context_create_from_cl");
  cr_assert_eq(gcl_context_device_count(context), 1, "%zu devices",
               gcl_context_device_count(context));
  cr_assert_eq(gcl_context_cl_context(context, 0), own.context,
               "the context does not use the caller's cl_context");
  cr_assert_eq(gcl_context_cl_queue(context, 0), own.queue,
               "the context does not use the caller's queue");
  cr_assert_eq(context_references(own.context), context_before + 1,
               "cl_context references %u after the wrap, %u before",
               context_references(own.context), context_before);
  cr_assert_eq(queue_references(own.queue), queue_before + 1,
               "queue references %u after the wrap, %u before",
               queue_references(own.queue), queue_before);

  gcl_context_destroy(context);
  cr_assert_eq(context_references(own.context), context_before,
               "cl_context references %u after destroy, %u before the wrap",
               context_references(own.context), context_before);
  cr_assert_eq(queue_references(own.queue), queue_before,
               "queue references %u after destroy, %u before the wrap",
               queue_references(own.queue), queue_before);
  expect_objects_work(own.context, own.queue, "after gcl_context_destroy");
  own_cl_close(&own);
}

Test(context_from_cl, outlives_caller_references) {
  own_cl own;
  gcl_context *context = NULL;

  own_cl_open(&own);
  assert_status(gcl_context_create_from_cl(own.context, own.device, own.queue,
                                           &context),
                GCL_SUCCESS, "gcl_context_create_from_cl");
  /* The caller drops its references; groupcl's keep the objects alive. */
  own_cl_close(&own);
  expect_objects_work(gcl_context_cl_context(context, 0),
                      gcl_context_cl_queue(context, 0),
                      "after the caller's release");
  gcl_context_destroy(context);
}

Test(context_from_cl, describes_caller_device) {
  own_cl own;
  gcl_context *context = NULL;
  gcl_device_info info;
  char name[128] = "";

  own_cl_open(&own);
  clGetDeviceInfo(own.device, CL_DEVICE_NAME, sizeof name, name, NULL);
  assert_status(gcl_context_create_from_cl(own.context, own.device, own.queue,
                                           &context),
                GCL_SUCCESS, "gcl_context_create_from_cl");
  info = context_device(context, 0);
  cr_assert_str_eq(info.device_name, name, "device \"%s\", expected \"%s\"",
                   info.device_name, name);
  cr_assert_geq(info.compute_units, 1, "%u compute units",
                (unsigned)info.compute_units);
  gcl_context_destroy(context);
  own_cl_close(&own);
}

Test(context_from_cl, rejects_null_arguments) {
  static const char *const names[] = {"cl_ctx", "device", "queue", "context"};
  own_cl own;

  own_cl_open(&own);
  for (int missing = 0; missing < 4; missing++) {
    gcl_context *context = NULL;
    gcl_status status = gcl_context_create_from_cl(
        missing == 0 ? NULL : own.context, missing == 1 ? NULL : own.device,
        missing == 2 ? NULL : own.queue, missing == 3 ? NULL : &context);

    assert_status(status, GCL_ERROR_INVALID_ARGUMENT, names[missing]);
    assert_error_contains("must not be NULL", names[missing]);
    cr_assert_null(context, "%s NULL: context is %p", names[missing],
                   (void *)context);
  }
  own_cl_close(&own);
}

Test(context_from_cl, rejects_queue_of_other_context) {
  own_cl own, other;
  gcl_context *context = NULL;
  gcl_status status;

  own_cl_open(&own);
  own_cl_open(&other);
  status = gcl_context_create_from_cl(own.context, own.device, other.queue,
                                      &context);
  assert_status(status, GCL_ERROR_INVALID_ARGUMENT, "queue of another context");
  assert_error_contains("another context", "queue of another context");
  cr_assert_null(context, "context is %p after a failure", (void *)context);
  own_cl_close(&other);
  own_cl_close(&own);
}

Test(context_from_cl, rejects_out_of_order_queue) {
  own_cl own;
  cl_command_queue_properties supported = 0;
  cl_command_queue out_of_order;
  gcl_context *context = NULL;
  gcl_status status;
  cl_int code;

  own_cl_open(&own);
  clGetDeviceInfo(own.device, CL_DEVICE_QUEUE_PROPERTIES, sizeof supported,
                  &supported, NULL);
  if ((supported & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE) == 0) {
    own_cl_close(&own);
    cr_skip_test("the device has no out-of-order queues");
  }
  out_of_order = clCreateCommandQueue(
      own.context, own.device, CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE, &code);
  cr_assert_eq(code, CL_SUCCESS, "clCreateCommandQueue: %d", code);

  status = gcl_context_create_from_cl(own.context, own.device, out_of_order,
                                      &context);
  assert_status(status, GCL_ERROR_UNSUPPORTED, "out-of-order queue");
  assert_error_contains("out-of-order", "out-of-order queue");
  assert_error_contains("in-order", "out-of-order queue");
  cr_assert_null(context, "context is %p after a failure", (void *)context);
  clReleaseCommandQueue(out_of_order);
  own_cl_close(&own);
}
