/*
 * The forward suites' table of layers: hand-picked edge cases of every
 * axis, group and filter shape, then reproducible random valid layers.
 */
#ifndef GCL_TESTS_LAYER_TABLE_H
#define GCL_TESTS_LAYER_TABLE_H

#include "reference.h"

#include <stddef.h>

/* name, dims, batch, C, K, group, in, kernel, stride, pad, dilation, bias */
#define L1(name, n, c, k, g, w, kw, s, p, d, b)                                \
  {name, 1, n, c, k, g, {w}, {kw}, {s}, {p}, {d}, b, TEST_PLAIN_CONVOLUTION}
#define L2(name, n, c, k, g, h, w, kh, kw, sh, sw, ph, pw, dh, dw, b)         \
  {name, 2, n, c, k, g, {h, w}, {kh, kw}, {sh, sw}, {ph, pw}, {dh, dw}, b,  \
   TEST_PLAIN_CONVOLUTION}
#define L3(name, n, c, k, g, d0, h, w, kd, kh, kw, sd, sh, sw, pd, ph, pw, dd, \
           dh, dw, b)                                                          \
  {name, 3, n, c, k, g, {d0, h, w}, {kd, kh, kw}, {sd, sh, sw},              \
   {pd, ph, pw}, {dd, dh, dw}, b, TEST_PLAIN_CONVOLUTION}

/* Number of random layers after the hand-picked ones. */
#define TEST_GENERATED_LAYERS 80

/* Capacity of an array that can take the whole table. */
#define TEST_LAYER_TABLE_MAX 200

/*
 * Returns the table and writes its size to count and, when hand_picked is
 * not NULL, the number of hand-picked layers at its start. The table is
 * built on the first call and is the same on every run.
 */
const test_layer *test_layer_table(size_t *count, size_t *hand_picked);

#endif
