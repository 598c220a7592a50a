#include "runtime/context.h"

#include "runtime/devices.h"
#include "util/alloc.h"
#include "util/cl_calls.h"
#include "util/cl_objects.h"
#include "util/error.h"
#include "util/log.h"

#include <clblast_c.h>
#include <stdlib.h>
#include <string.h>

/*
 * Contexts that ran CLBlast and are not destroyed yet. CLBlast 1.5 caches
 * its compiled programs per OpenCL context for the life of the process,
 * and each cached program keeps its context alive. On PoCL 3.1 that left
 * 2 to 4 MB resident per destroyed context, more with more routines and
 * sizes run (measured with tests/test_soak).
 * CLBlastClearCache() is the only way to drop them and it clears the cache
 * of every context, so it runs only when the last of these contexts goes:
 * a live groupcl context never has to rebuild CLBlast's kernels.
 */
static atomic_long clblast_contexts;

void gcl_context_note_clblast(gcl_context *context) {
  if (atomic_exchange(&context->ran_clblast, 1) == 0)
    atomic_fetch_add(&clblast_contexts, 1);
}

/* Clears CLBlast's caches when the context is the last live one that ran
 * CLBlast. Runs after the context's own OpenCL objects are released. */
static void forget_clblast(gcl_context *context) {
  if (atomic_load(&context->ran_clblast) &&
      atomic_fetch_sub(&clblast_contexts, 1) == 1) {
    CLBlastStatusCode code = CLBlastClearCache();

    if (code != CLBlastSuccess)
      GCL_LOG_WARN("CLBlastClearCache failed with CLBlast status %d; its "
                   "cached programs stay in memory",
                   (int)code);
  }
}

static gcl_status open_slot(gcl_device_slot *slot,
                            const gcl_selected_device *device) {
  cl_context_properties properties[] = {
      CL_CONTEXT_PLATFORM, (cl_context_properties)device->platform, 0};
  cl_int code;

  slot->platform = device->platform;
  slot->device = device->device;
  slot->info = device->info;

  slot->cl_ctx =
      gcl_clCreateContext(properties, 1, &device->device, NULL, NULL, &code);
  if (slot->cl_ctx == NULL)
    return gcl_fail_cl(code, "clCreateContext for device '%s'",
                       device->info.device_name);
  gcl_cl_object_created(GCL_CL_CONTEXT);

  slot->queue = gcl_clCreateCommandQueue(slot->cl_ctx, device->device,
                                         CL_QUEUE_PROFILING_ENABLE, &code);
  if (slot->queue == NULL)
    return gcl_fail_cl(code, "clCreateCommandQueue for device '%s'",
                       device->info.device_name);
  gcl_cl_object_created(GCL_CL_QUEUE);

  GCL_LOG_INFO("opened device %u:%u '%s' (%s)", device->info.platform_index,
               device->info.device_index, device->info.device_name,
               device->info.platform_name);
  return GCL_SUCCESS;
}

static gcl_context *allocate_context(size_t device_count) {
  gcl_context *context = gcl_calloc(1, sizeof *context);

  if (context == NULL)
    return NULL;
  context->devices = gcl_calloc(device_count, sizeof *context->devices);
  context->programs = gcl_program_cache_create();
  if (context->devices == NULL || context->programs == NULL ||
      mtx_init(&context->lock, mtx_plain) != thrd_success) {
    gcl_program_cache_destroy(context->programs);
    gcl_free(context->devices);
    gcl_free(context);
    return NULL;
  }
  return context;
}

static const char *resolve_spec(const char *device_spec) {
  const char *from_environment;

  if (device_spec != NULL && device_spec[0] != '\0')
    return device_spec;
  from_environment = getenv("GROUPCL_DEVICES");
  if (from_environment != NULL && from_environment[0] != '\0')
    return from_environment;
  return "auto";
}

gcl_status gcl_context_create(const char *device_spec, gcl_context **context) {
  gcl_selected_device *selected = NULL;
  size_t count = 0;
  gcl_context *created;
  gcl_status status;

  gcl_clear_error();
  if (context == NULL)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "gcl_context_create: context must not be NULL");
  *context = NULL;

  status = gcl_devices_select(resolve_spec(device_spec), &selected, &count);
  if (status != GCL_SUCCESS)
    return status;

  created = allocate_context(count);
  if (created == NULL) {
    gcl_free(selected);
    return gcl_fail(GCL_ERROR_OUT_OF_MEMORY,
                    "out of host memory creating a context");
  }

  /* Count the slots as they open, so destroy releases exactly those. */
  for (size_t i = 0; i < count && status == GCL_SUCCESS; i++) {
    created->device_count++;
    status = open_slot(&created->devices[i], &selected[i]);
  }
  gcl_free(selected);
  if (status != GCL_SUCCESS) {
    gcl_context_destroy(created);
    return status;
  }
  *context = created;
  return GCL_SUCCESS;
}

/* Finds the platform and enumeration indices of a caller's device. */
static gcl_status describe_foreign_device(cl_device_id device,
                                          gcl_device_slot *slot) {
  gcl_device_info listed;
  gcl_device_info *all = NULL;
  size_t count = 0;
  cl_int code;
  gcl_status status;

  code = clGetDeviceInfo(device, CL_DEVICE_PLATFORM, sizeof slot->platform,
                         &slot->platform, NULL);
  if (code != CL_SUCCESS)
    return gcl_fail_cl(code, "clGetDeviceInfo(CL_DEVICE_PLATFORM) on the "
                             "caller's device");

  status = gcl_device_query(slot->platform, device, 0, 0, &listed);
  if (status != GCL_SUCCESS)
    return status;

  /* Best effort: report the same indices gcl_devices_list would, unless
   * the host is out of memory, which the caller must hear about. */
  status = gcl_devices_list(&all, &count);
  if (status == GCL_ERROR_OUT_OF_MEMORY)
    return status;
  if (status == GCL_SUCCESS) {
    for (size_t i = 0; i < count; i++) {
      if (strcmp(all[i].device_name, listed.device_name) == 0 &&
          strcmp(all[i].platform_name, listed.platform_name) == 0) {
        listed.platform_index = all[i].platform_index;
        listed.device_index = all[i].device_index;
        break;
      }
    }
    gcl_devices_free(all);
  }
  gcl_clear_error();
  slot->info = listed;
  return GCL_SUCCESS;
}

static gcl_status check_foreign_queue(cl_context cl_ctx, cl_device_id device,
                                      cl_command_queue queue) {
  cl_context queue_context;
  cl_device_id queue_device;
  cl_command_queue_properties properties;
  cl_int code;

  code = clGetCommandQueueInfo(queue, CL_QUEUE_CONTEXT, sizeof queue_context,
                               &queue_context, NULL);
  if (code == CL_SUCCESS)
    code = clGetCommandQueueInfo(queue, CL_QUEUE_DEVICE, sizeof queue_device,
                                 &queue_device, NULL);
  if (code == CL_SUCCESS)
    code = clGetCommandQueueInfo(queue, CL_QUEUE_PROPERTIES,
                                 sizeof properties, &properties, NULL);
  if (code != CL_SUCCESS)
    return gcl_fail_cl(code, "clGetCommandQueueInfo on the caller's queue");

  if (queue_context != cl_ctx || queue_device != device)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "the caller's command queue belongs to another context "
                    "or device than the ones given");
  if (properties & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE)
    return gcl_fail(GCL_ERROR_UNSUPPORTED,
                    "the caller's command queue is out-of-order; groupcl "
                    "needs an in-order queue");
  return GCL_SUCCESS;
}

gcl_status gcl_context_create_from_cl(cl_context cl_ctx, cl_device_id device,
                                      cl_command_queue queue,
                                      gcl_context **context) {
  gcl_context *created;
  gcl_status status;

  gcl_clear_error();
  if (context == NULL || cl_ctx == NULL || device == NULL || queue == NULL)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "gcl_context_create_from_cl: the OpenCL context, device, "
                    "queue and the result pointer must not be NULL");
  *context = NULL;

  status = check_foreign_queue(cl_ctx, device, queue);
  if (status != GCL_SUCCESS)
    return status;

  created = allocate_context(1);
  if (created == NULL)
    return gcl_fail(GCL_ERROR_OUT_OF_MEMORY,
                    "out of host memory creating a context");

  status = describe_foreign_device(device, &created->devices[0]);
  if (status != GCL_SUCCESS) {
    gcl_context_destroy(created);
    return status;
  }
  if (clRetainContext(cl_ctx) == CL_SUCCESS)
    gcl_cl_object_created(GCL_CL_CONTEXT);
  if (clRetainCommandQueue(queue) == CL_SUCCESS)
    gcl_cl_object_created(GCL_CL_QUEUE);
  created->devices[0].device = device;
  created->devices[0].cl_ctx = cl_ctx;
  created->devices[0].queue = queue;
  created->device_count = 1;
  *context = created;
  return GCL_SUCCESS;
}

void gcl_context_destroy(gcl_context *context) {
  if (context == NULL)
    return;

  /* Programs first: they hold references to the OpenCL contexts. */
  gcl_program_cache_destroy(context->programs);
  for (size_t i = 0; i < context->device_count; i++) {
    gcl_device_slot *slot = &context->devices[i];

    if (slot->queue != NULL) {
      clFinish(slot->queue);
      gcl_release_queue(slot->queue);
    }
    gcl_release_context(slot->cl_ctx);
  }
  forget_clblast(context);
  mtx_destroy(&context->lock);
  gcl_free(context->devices);
  gcl_free(context);
}

size_t gcl_context_device_count(const gcl_context *context) {
  return context == NULL ? 0 : context->device_count;
}

gcl_status gcl_context_device_info(const gcl_context *context, size_t index,
                                   gcl_device_info *info) {
  gcl_clear_error();
  if (context == NULL || info == NULL)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "gcl_context_device_info: context and info must not be "
                    "NULL");
  if (index >= context->device_count)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "device index %zu is out of range; the context has %zu "
                    "device(s)",
                    index, context->device_count);
  *info = context->devices[index].info;
  return GCL_SUCCESS;
}

gcl_status gcl_context_get_stats(const gcl_context *context,
                                 gcl_context_stats *stats) {
  gcl_clear_error();
  if (context == NULL || stats == NULL)
    return gcl_fail(GCL_ERROR_INVALID_ARGUMENT,
                    "gcl_context_get_stats: context and stats must not be "
                    "NULL");
  memset(stats, 0, sizeof *stats);
  gcl_program_cache_stats(context->programs, &stats->programs_built,
                          &stats->program_cache_hits,
                          &stats->programs_loaded);
  return GCL_SUCCESS;
}

cl_context gcl_context_cl_context(const gcl_context *context, size_t index) {
  if (context == NULL || index >= context->device_count)
    return NULL;
  return context->devices[index].cl_ctx;
}

cl_command_queue gcl_context_cl_queue(const gcl_context *context,
                                      size_t index) {
  if (context == NULL || index >= context->device_count)
    return NULL;
  return context->devices[index].queue;
}
