#include "sched/placement.h"

#include <math.h>
#include <string.h>

void gcl_split_proportional(int64_t total, const double *weights,
                            size_t count, int64_t *parts) {
  double sum = 0.0;
  int64_t assigned = 0;

  for (size_t i = 0; i < count; i++)
    sum += weights[i] > 0.0 ? weights[i] : 0.0;

  for (size_t i = 0; i < count; i++) {
    double weight = weights[i] > 0.0 ? weights[i] : 0.0;
    double exact = sum > 0.0 ? (double)total * weight / sum
                             : (double)total / (double)count;

    parts[i] = (int64_t)floor(exact);
    assigned += parts[i];
  }

  /* Hand the rest out one by one to the largest remainders. */
  while (assigned < total) {
    size_t best = 0;
    double best_remainder = -1.0;

    for (size_t i = 0; i < count; i++) {
      double weight = weights[i] > 0.0 ? weights[i] : 0.0;
      double exact = sum > 0.0 ? (double)total * weight / sum
                               : (double)total / (double)count;
      double remainder = exact - (double)parts[i];

      if (remainder > best_remainder) {
        best_remainder = remainder;
        best = i;
      }
    }
    parts[best]++;
    assigned++;
  }
}

static void describe_slot(const gcl_geometry *g, const gcl_target *target,
                          int64_t group_begin, int64_t group_end,
                          int64_t batch_begin, int64_t batch_end,
                          gcl_slot_info *slot) {
  int64_t groups = group_end - group_begin;
  int64_t images = batch_end - batch_begin;
  uint64_t weight_count = (uint64_t)(groups * g->outputs_per_group *
                                     g->channels_per_group * g->kernel_size);

  memset(slot, 0, sizeof *slot);
  slot->device_index = target->device_index;
  slot->queue_index = target->queue_index;
  slot->group_begin = group_begin;
  slot->group_end = group_end;
  slot->batch_begin = batch_begin;
  slot->batch_end = batch_end;
  slot->input_channel_begin = group_begin * g->channels_per_group;
  slot->input_channel_end = group_end * g->channels_per_group;
  slot->output_channel_begin = group_begin * g->outputs_per_group;
  slot->output_channel_end = group_end * g->outputs_per_group;
  if (g->bias_term)
    weight_count += (uint64_t)(groups * g->outputs_per_group);
  slot->weight_bytes = weight_count * sizeof(float);
  slot->input_bytes = (uint64_t)(images * groups * g->channels_per_group *
                                 g->in_size) *
                      sizeof(float);
  slot->output_bytes = (uint64_t)(images * groups * g->outputs_per_group *
                                  g->out_size) *
                       sizeof(float);
  slot->share = (double)(groups * images) / (double)(g->group * g->batch);
}

/* Splits one dimension by throughput; other dimension whole. */
static size_t place_proportional(const gcl_geometry *g,
                                 const gcl_target *targets, size_t count,
                                 int split_groups, gcl_slot_info *slots) {
  double weights[64];
  int64_t parts[64];
  int64_t begin = 0;
  size_t used = 0;

  for (size_t i = 0; i < count; i++)
    weights[i] = targets[i].throughput;
  gcl_split_proportional(split_groups ? g->group : g->batch, weights, count,
                         parts);

  for (size_t i = 0; i < count; i++) {
    int64_t end = begin + parts[i];

    if (parts[i] == 0)
      continue;
    if (split_groups)
      describe_slot(g, &targets[i], begin, end, 0, g->batch, &slots[used]);
    else
      describe_slot(g, &targets[i], 0, g->group, begin, end, &slots[used]);
    used++;
    begin = end;
  }
  return used;
}

/*
 * NOTE: tiles get equal shares of a group's batch whatever the targets'
 * throughput, so on unequal devices this case balances only roughly.
 */
static size_t place_tiles(const gcl_geometry *g, const gcl_target *targets,
                          size_t count, gcl_slot_info *slots) {
  int64_t per_group = (int64_t)count / g->group;
  size_t used = 0;

  if (per_group > g->batch)
    per_group = g->batch;
  for (int64_t group = 0; group < g->group; group++) {
    for (int64_t part = 0; part < per_group; part++) {
      int64_t begin = g->batch * part / per_group;
      int64_t end = g->batch * (part + 1) / per_group;

      describe_slot(g, &targets[used], group, group + 1, begin, end,
                    &slots[used]);
      used++;
    }
  }
  return used;
}

size_t gcl_place(const gcl_geometry *g, const gcl_target *targets,
                 size_t target_count, gcl_slot_info *slots) {
  if (target_count > 64)
    target_count = 64;
  if (g->group >= (int64_t)target_count)
    return place_proportional(g, targets, target_count, 1, slots);
  if (g->group == 1)
    return place_proportional(g, targets, target_count, 0, slots);
  return place_tiles(g, targets, target_count, slots);
}

void gcl_slot_geometry(const gcl_geometry *full, const gcl_slot_info *slot,
                       gcl_geometry *sub) {
  int64_t groups = slot->group_end - slot->group_begin;

  *sub = *full;
  sub->batch = slot->batch_end - slot->batch_begin;
  sub->group = groups;
  sub->channels = groups * full->channels_per_group;
  sub->num_output = groups * full->outputs_per_group;
}
