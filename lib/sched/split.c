#include "sched/split.h"

#include "algo/algo_common.h"
#include "runtime/memory_caps.h"
#include "util/alloc.h"
#include "util/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Devices the memory check follows; placement uses at most this many. */
#define MAX_FIT_DEVICES 64

/* ---- parts and steps of one slot ------------------------------------------ */

static int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

static int64_t slot_groups(const gcl_slot_info *slot) {
  return slot->group_end - slot->group_begin;
}

static int64_t slot_images(const gcl_slot_info *slot) {
  return slot->batch_end - slot->batch_begin;
}

/* Largest divisor of images from 2 to 8, or 1: the steps an unsplit slot
 * off the first device runs in, so copies of one step overlap the compute
 * of another. */
static int64_t overlap_steps(int64_t images) {
  for (int64_t steps = 8; steps >= 2; steps--) {
    if (images % steps == 0)
      return steps;
  }
  return 1;
}

int64_t gcl_split_part_count(const gcl_split *split,
                             const gcl_slot_info *slot) {
  if (!split->active)
    return 1;
  return ceil_div(slot_groups(slot), split->groups_per_part);
}

void gcl_split_part_groups(const gcl_split *split, const gcl_slot_info *slot,
                           int64_t part, int64_t *begin, int64_t *end) {
  int64_t parts = gcl_split_part_count(split, slot);
  int64_t groups = slot_groups(slot);

  *begin = slot->group_begin + part * groups / parts;
  *end = slot->group_begin + (part + 1) * groups / parts;
}

int64_t gcl_split_step_count(const gcl_split *split,
                             const gcl_slot_info *slot) {
  if (split->active)
    return ceil_div(slot_images(slot), split->images_per_step);
  return slot->device_index != 0 ? overlap_steps(slot_images(slot)) : 1;
}

int64_t gcl_split_step_images(const gcl_split *split,
                              const gcl_slot_info *slot) {
  return ceil_div(slot_images(slot), gcl_split_step_count(split, slot));
}

int64_t gcl_split_step_first(const gcl_split *split,
                             const gcl_slot_info *slot, int64_t step) {
  int64_t images = gcl_split_step_images(split, slot);
  int64_t offset = step * images;

  if (offset > slot_images(slot) - images)
    offset = slot_images(slot) - images;
  return slot->batch_begin + offset;
}

int gcl_split_sliced(const gcl_split *split, const gcl_slot_info *slot) {
  return split->active || slot->device_index != 0;
}

int64_t gcl_split_slice_units(const gcl_split *split,
                              const gcl_slot_info *slot) {
  return split->active ? 1 : gcl_split_step_count(split, slot);
}

void gcl_split_part_geometry(const gcl_geometry *layer, int64_t groups,
                             int64_t images, gcl_geometry *part) {
  *part = *layer;
  part->batch = images;
  part->group = groups;
  part->channels = groups * layer->channels_per_group;
  part->num_output = groups * layer->outputs_per_group;
}

/* ---- the memory check of one layout -------------------------------------- */

typedef enum limit_kind {
  LIMIT_ALLOCATION, /* CL_DEVICE_MAX_MEM_ALLOC_SIZE, per buffer */
  LIMIT_MEMORY,     /* global memory less the other plans, per device */
  LIMIT_INDEX       /* gcl_index_limit(), in floats */
} limit_kind;

/* The first limit a layout breaks. */
typedef struct fit_issue {
  size_t device;
  const char *buffer;
  uint64_t amount; /* bytes, or floats for LIMIT_INDEX */
  uint64_t limit;
  limit_kind kind;
} fit_issue;

typedef struct fit_check {
  gcl_context *context;
  const gcl_geometry *layer;
  const gcl_algo *algo;
  const gcl_split *split;
  uint64_t total[MAX_FIT_DEVICES];
  int failed;
  fit_issue issue;
} fit_check;

static void record_issue(fit_check *fit, size_t device, const char *buffer,
                         uint64_t amount, uint64_t limit, limit_kind kind) {
  if (fit->failed)
    return;
  fit->failed = 1;
  fit->issue.device = device;
  fit->issue.buffer = buffer;
  fit->issue.amount = amount;
  fit->issue.limit = limit;
  fit->issue.kind = kind;
}

/* Counts `copies` buffers of `bytes` on a device. indexed: kernels index
 * the buffer from its start with ints. */
static void add_buffer(fit_check *fit, size_t device, const char *name,
                       uint64_t bytes, uint64_t copies, int indexed) {
  const gcl_device_info *info = &fit->context->devices[device].info;
  uint64_t limit = (uint64_t)gcl_index_limit();

  if (bytes > info->max_alloc_bytes)
    record_issue(fit, device, name, bytes, info->max_alloc_bytes,
                 LIMIT_ALLOCATION);
  else if (indexed && bytes / sizeof(float) > limit)
    record_issue(fit, device, name, bytes / sizeof(float), limit,
                 LIMIT_INDEX);
  fit->total[device] += bytes * copies;
}

/* Counts `copies` parts of `groups` groups over `images` images. */
static void add_parts(fit_check *fit, size_t device, int64_t groups,
                      int64_t images, int64_t copies) {
  const gcl_device_info *info = &fit->context->devices[device].info;
  uint64_t limit = (uint64_t)gcl_index_limit();
  gcl_buffer_sizes sizes = {0};
  gcl_geometry part;

  gcl_split_part_geometry(fit->layer, groups, images, &part);
  if ((uint64_t)(part.channels * part.in_size) > limit)
    record_issue(fit, device, "input image of one part",
                 (uint64_t)(part.channels * part.in_size), limit,
                 LIMIT_INDEX);
  if ((uint64_t)(part.num_output * part.out_size) > limit)
    record_issue(fit, device, "output image of one part",
                 (uint64_t)(part.num_output * part.out_size), limit,
                 LIMIT_INDEX);

  fit->algo->device_buffers(&part, info, &sizes);
  for (size_t i = 0; i < sizes.count; i++)
    add_buffer(fit, device, sizes.items[i].name, sizes.items[i].bytes,
               (uint64_t)copies, 1);
}

static void add_slot(fit_check *fit, const gcl_slot_info *slot) {
  const gcl_geometry *g = fit->layer;
  int64_t parts = gcl_split_part_count(fit->split, slot);
  int64_t groups = slot_groups(slot);
  int64_t large = ceil_div(groups, parts);
  int64_t large_count = groups % parts == 0 ? parts : groups % parts;
  int64_t images = gcl_split_step_images(fit->split, slot);
  uint64_t units, row;

  add_parts(fit, slot->device_index, large, images, large_count);
  if (large_count < parts)
    add_parts(fit, slot->device_index, large - 1, images,
              parts - large_count);
  if (!gcl_split_sliced(fit->split, slot))
    return;

  units = (uint64_t)gcl_split_slice_units(fit->split, slot);
  row = (uint64_t)(images * large) * sizeof(float);
  add_buffer(fit, slot->device_index, "input slice",
             units * row * (uint64_t)(g->channels_per_group * g->in_size), 1,
             0);
  add_buffer(fit, slot->device_index, "output slice",
             units * row * (uint64_t)(g->outputs_per_group * g->out_size), 1,
             0);
}

/* Compares each device's total with its global memory, less what the
 * context's other plans hold. */
static void check_totals(fit_check *fit) {
  for (size_t d = 0; d < fit->context->device_count && d < MAX_FIT_DEVICES;
       d++) {
    const gcl_device_info *info = &fit->context->devices[d].info;
    uint64_t reserved, budget;

    pthread_mutex_lock(&fit->context->lock);
    reserved = fit->context->devices[d].reserved_bytes;
    pthread_mutex_unlock(&fit->context->lock);
    budget = info->global_mem_bytes > reserved
                 ? info->global_mem_bytes - reserved
                 : 0;
    if (fit->total[d] > budget)
      record_issue(fit, d, "buffers together", fit->total[d], budget,
                   LIMIT_MEMORY);
  }
}

/* Returns 1 if the layout of fit->split fits every device. */
static int layout_fits(fit_check *fit, const gcl_slot_info *slots,
                       size_t slot_count) {
  const gcl_geometry *g = fit->layer;

  memset(fit->total, 0, sizeof fit->total);
  fit->failed = 0;
  if (!fit->split->active) {
    /* The host-array calls stage the full tensors on the first device. */
    add_buffer(fit, 0, "input tensor",
               (uint64_t)(g->batch * g->channels * g->in_size) *
                   sizeof(float),
               1, 0);
    add_buffer(fit, 0, "output tensor",
               (uint64_t)(g->batch * g->num_output * g->out_size) *
                   sizeof(float),
               1, 0);
  }
  for (size_t i = 0; i < slot_count; i++)
    add_slot(fit, &slots[i]);
  if (!fit->failed)
    check_totals(fit);
  return !fit->failed;
}

/* ---- messages ------------------------------------------------------------- */

static void describe_issue(const gcl_context *context, const fit_issue *issue,
                           char *buffer, size_t size) {
  const char *device = context->devices[issue->device].info.device_name;

  switch (issue->kind) {
  case LIMIT_ALLOCATION:
    snprintf(buffer, size,
             "the %s needs %llu bytes, more than device %zu '%s' allows in "
             "one buffer (%llu bytes, CL_DEVICE_MAX_MEM_ALLOC_SIZE)",
             issue->buffer, (unsigned long long)issue->amount, issue->device,
             device, (unsigned long long)issue->limit);
    break;
  case LIMIT_MEMORY:
    snprintf(buffer, size,
             "the plan's %s need %llu bytes on device %zu '%s', more than "
             "its global memory less what the context's other plans hold "
             "(%llu bytes)",
             issue->buffer, (unsigned long long)issue->amount, issue->device,
             device, (unsigned long long)issue->limit);
    break;
  case LIMIT_INDEX:
    snprintf(buffer, size,
             "the %s holds %llu floats, more than the kernels index with "
             "32-bit ints (%llu)",
             issue->buffer, (unsigned long long)issue->amount,
             (unsigned long long)issue->limit);
    break;
  }
}

static gcl_status fail_to_fit(const fit_check *fit, int64_t groups) {
  const char *buffer = fit->issue.buffer;
  int workspace = strstr(buffer, "workspace") != NULL ||
                  strstr(buffer, "temporary") != NULL;
  char issue[512], caps[256];

  describe_issue(fit->context, &fit->issue, issue, sizeof issue);
  gcl_memory_caps_text(caps, sizeof caps);
  return gcl_fail(
      fit->issue.kind == LIMIT_INDEX ? GCL_ERROR_UNSUPPORTED
                                     : GCL_ERROR_OUT_OF_MEMORY,
      "the layer does not fit even when it runs one image of one group at "
      "a time with algorithm %s: %s. groupcl tried the batch in parts down "
      "to 1 image, then the %lld groups in parts down to 1 group; use a "
      "smaller input, %sor a device with more memory%s%s",
      fit->algo->name, issue, (long long)groups,
      workspace ? "an algorithm with less workspace (direct and depthwise "
                  "need none), "
                : "",
      caps[0] != '\0' ? ". Limits lowered by" : "", caps);
}

/* ---- the search ------------------------------------------------------------ */

/* Appends why one image with all of a slot's groups does not fit, the
 * reason the groups split. */
static void add_group_reason(const gcl_context *context,
                             const fit_issue *issue, gcl_split *split) {
  size_t used = strlen(split->reason);
  char text[384];

  describe_issue(context, issue, text, sizeof text);
  if (strcmp(text, split->reason) != 0)
    snprintf(split->reason + used, sizeof split->reason - used,
             "; with one image per step, %s", text);
}

/* Returns the largest image cap up to max_images that fits with the
 * split's group cap, or 0 when not even one image fits. */
static int64_t largest_fitting_images(fit_check *fit, gcl_split *trial,
                                      const gcl_slot_info *slots,
                                      size_t slot_count,
                                      int64_t max_images) {
  int64_t low = 1, high = max_images;

  trial->images_per_step = 1;
  if (!layout_fits(fit, slots, slot_count))
    return 0;
  /* Memory falls as the cap falls, so the fitting caps form a range. */
  while (low < high) {
    int64_t middle = low + (high - low + 1) / 2;

    trial->images_per_step = middle;
    if (layout_fits(fit, slots, slot_count))
      low = middle;
    else
      high = middle - 1;
  }
  trial->images_per_step = low;
  layout_fits(fit, slots, slot_count);
  return low;
}

static void record_totals(const fit_check *fit, uint64_t *device_bytes) {
  for (size_t d = 0; d < fit->context->device_count; d++)
    device_bytes[d] = d < MAX_FIT_DEVICES ? fit->total[d] : 0;
}

gcl_status gcl_split_choose(gcl_context *context, const gcl_geometry *layer,
                            const gcl_algo *algo, const gcl_slot_info *slots,
                            size_t slot_count, gcl_split *split,
                            uint64_t *device_bytes) {
  fit_check fit = {context, layer, algo, NULL, {0}, 0, {0}};
  gcl_split trial;
  int64_t max_groups = 1, max_images = 1, last_cap = 0;

  memset(&trial, 0, sizeof trial);
  for (size_t i = 0; i < slot_count; i++) {
    if (slot_groups(&slots[i]) > max_groups)
      max_groups = slot_groups(&slots[i]);
    if (slot_images(&slots[i]) > max_images)
      max_images = slot_images(&slots[i]);
  }
  trial.groups_per_part = max_groups;
  trial.images_per_step = max_images;
  fit.split = &trial;
  if (layout_fits(&fit, slots, slot_count)) {
    *split = trial;
    record_totals(&fit, device_bytes);
    return GCL_SUCCESS;
  }

  describe_issue(context, &fit.issue, trial.reason, sizeof trial.reason);
  trial.active = 1;
  for (int64_t parts = 1; parts <= max_groups; parts++) {
    int64_t cap = ceil_div(max_groups, parts);

    if (cap == last_cap)
      continue;
    last_cap = cap;
    trial.groups_per_part = cap;
    if (largest_fitting_images(&fit, &trial, slots, slot_count,
                               max_images) > 0) {
      *split = trial;
      record_totals(&fit, device_bytes);
      return GCL_SUCCESS;
    }
    if (parts == 1)
      add_group_reason(context, &fit.issue, &trial);
  }
  return fail_to_fit(&fit, layer->group);
}

/* Places the whole layer on queue 0 of one device. */
static void single_slot(const gcl_geometry *layer, size_t device_index,
                        gcl_slot_info *slot) {
  gcl_target target = {device_index, 0, 1.0};

  gcl_place(layer, &target, 1, slot);
}

int gcl_split_feasible(gcl_context *context, const gcl_geometry *layer,
                       const gcl_algo *algo, size_t device_index,
                       char *reason, size_t reason_size) {
  gcl_split smallest = {1, 1, 1, ""};
  fit_check fit = {context, layer, algo, &smallest, {0}, 0, {0}};
  gcl_slot_info slot;

  single_slot(layer, device_index, &slot);
  if (layout_fits(&fit, &slot, 1))
    return 1;
  describe_issue(context, &fit.issue, reason, reason_size);
  return 0;
}

gcl_status gcl_split_probe(gcl_context *context, const gcl_geometry *layer,
                           const gcl_algo *algo, size_t device_index,
                           gcl_geometry *part, int64_t *units) {
  uint64_t *bytes = gcl_calloc(context->device_count, sizeof *bytes);
  gcl_slot_info slot;
  gcl_split split;
  int64_t first, last;
  gcl_status status;

  if (bytes == NULL)
    return gcl_fail(GCL_ERROR_OUT_OF_MEMORY, "out of host memory");
  single_slot(layer, device_index, &slot);
  status = gcl_split_choose(context, layer, algo, &slot, 1, &split, bytes);
  gcl_free(bytes);
  if (status != GCL_SUCCESS)
    return status;

  gcl_split_part_groups(&split, &slot, 0, &first, &last);
  gcl_split_part_geometry(layer, last - first,
                          gcl_split_step_images(&split, &slot), part);
  *units = gcl_split_part_count(&split, &slot) *
           gcl_split_step_count(&split, &slot);
  return GCL_SUCCESS;
}
