/*
 * Winograd F(2x2, 3x3) grouped convolution forward (Caffe's `group`),
 * float32, NCHW, 3x3 filters, stride 1, dilation 1, any pad. The output is
 * cut into 2x2 tiles; tile (th, tw) of image n reads the 4x4 input patch at
 * row 2*th - PAD_H and column 2*tw - PAD_W, with zeros outside the input.
 * Per tile, input channel c and output channel k of a group:
 *   V = B^T d B   (d: the 4x4 input patch)
 *   U = G w G^T   (w: the 3x3 filter, transformed once on the host)
 *   M = sum over c of U (.) V   (element-wise, 16 products per channel)
 *   Y = A^T M A + bias   (the 2x2 outputs)
 * with
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
 *   G   = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1]
 *   A^T = [1 1 1 0; 0 1 -1 -1].
 * For each of the 16 positions p of the 4x4 transform, the sum over c is a
 * matrix product per group: M_p (KG x tiles) = U_p (KG x CG) V_p (CG x tiles).
 *
 * Three kernels, one launch each, over all images and groups. A tile row
 * is n * TILES_H + th, and tile t is row * TILES_W + tw.
 *   gcl_winograd_input: one work-item per (tile row, input channel),
 *     global { batch * TILES_H, GROUP * CG }, dim 1 = g * CG + c. Loops over
 *     the row's tiles and writes V[g][p][c][t]. The last row's work-items
 *     also write zeros to the padding tiles TILES <= t < TILES_PADDED.
 *   gcl_winograd_multiply: one work-item per block of TB tiles and KV * KVB
 *     output channels of one position p of one group, global
 *     { TILES_PADDED / TB, KG_PADDED / (KV * KVB), GROUP * 16 },
 *     dim 2 = g * 16 + p. Reads U[g][p][c][k] and V, writes M[g][p][k][t].
 *     Each work-item keeps TB * KVB vectors of KV output channels in
 *     registers; every V element it loads is broadcast to KVB vectors.
 *   gcl_winograd_output: one work-item per (output channel, tile row),
 *     global { GROUP * KG, batch * TILES_H }, dim 0 = g * KG + k. Loops over
 *     the row's tiles and writes the outputs that lie inside the plane.
 * None of the kernels uses local memory or barriers, so any local size
 * works. Stored tile-contiguous, M costs the multiply kernel scalar stores
 * but lets the output transform read runs of consecutive tiles, which was
 * faster overall on PoCL 3.1 on a CPU.
 *
 * The host stores U as U[g][p][c][k] with KG_PADDED channels per row, the
 * entries k >= KG zero. Tensors are views: image n of the input starts at
 * element input_offset + n * input_image_stride of its buffer, and likewise
 * for the output. Offsets, strides and the image term are 64-bit, so a view
 * may lie anywhere in a buffer of more than 2^31 floats. Indices inside one
 * image and into V and M are 32-bit ints: the host checks that one image,
 * V and M each hold fewer than 2^31 floats.
 */

/* Layer sizes: required, from gcl_geometry_build_options(). */
#ifndef CHANNELS_PER_GROUP
#error "CHANNELS_PER_GROUP (input channels per group) must be defined"
#endif
#ifndef OUTPUTS_PER_GROUP
#error "OUTPUTS_PER_GROUP (output channels per group) must be defined"
#endif
#ifndef GROUP
#error "GROUP (number of groups) must be defined"
#endif
#ifndef IN_H
#error "IN_H (input height) must be defined"
#endif
#ifndef IN_W
#error "IN_W (input width) must be defined"
#endif
#ifndef OUT_H
#error "OUT_H (output height) must be defined"
#endif
#ifndef OUT_W
#error "OUT_W (output width) must be defined"
#endif
/* Padding above and left of the input (Caffe pads both sides equally). */
#ifndef PAD_H
#define PAD_H 0
#endif
#ifndef PAD_W
#define PAD_W 0
#endif
/* Tiles per image column and row: ceil(OUT_H / 2), ceil(OUT_W / 2). */
#ifndef TILES_H
#define TILES_H ((OUT_H + 1) / 2)
#endif
#ifndef TILES_W
#define TILES_W ((OUT_W + 1) / 2)
#endif
/* Tiles of all images, batch * TILES_H * TILES_W: required. */
#ifndef TILES
#error "TILES (tiles of the whole batch) must be defined"
#endif
/* Tiles per block of the multiply kernel. */
#ifndef TB
#define TB 8
#endif
/* TILES rounded up to a multiple of TB: the row length of V and M. */
#ifndef TILES_PADDED
#define TILES_PADDED (((TILES + TB - 1) / TB) * TB)
#endif
/* Vector width along the output channels: 4, 8 or 16 lanes. */
#ifndef KV
#define KV 16
#endif
/* Vectors of output channels per work-item of the multiply kernel. */
#ifndef KVB
#define KVB 1
#endif
/* OUTPUTS_PER_GROUP rounded up to a multiple of KV * KVB. */
#ifndef KG_PADDED
#define KG_PADDED                                                             \
  (((OUTPUTS_PER_GROUP + KV * KVB - 1) / (KV * KVB)) * (KV * KVB))
#endif
/* 1 to add the bias argument, 0 to ignore it (it may then be NULL). */
#ifndef HAS_BIAS
#define HAS_BIAS 1
#endif

#define CG CHANNELS_PER_GROUP
#define KG OUTPUTS_PER_GROUP
#define IN_PLANE (IN_H * IN_W)
#define OUT_PLANE (OUT_H * OUT_W)
#define IMAGE_TILES (TILES_H * TILES_W)

/* PoCL 3.1 compiles plain `inline` helpers as calls, which costs 2-4x in
   these loops. Force inlining. */
#define GCL_INLINE __attribute__((always_inline)) inline

#if KV == 16
typedef float16 kfloat;
#define KLOAD vload16
#define KSTORE vstore16
#elif KV == 8
typedef float8 kfloat;
#define KLOAD vload8
#define KSTORE vstore8
#elif KV == 4
typedef float4 kfloat;
#define KLOAD vload4
#define KSTORE vstore4
#else
#error "KV must be 4, 8 or 16"
#endif

/* Returns B^T applied to the column (a, b, c, d): a - c, b + c, c - b, b - d. */
GCL_INLINE float4 input_transform_1d(float4 x) {
  return (float4)(x.s0 - x.s2, x.s1 + x.s2, x.s2 - x.s1, x.s1 - x.s3);
}

/*
 * Loads columns iw0 .. iw0 + 3 of input row ih, with zeros outside the
 * plane. The fast path is one unaligned vector load for rows inside it.
 */
GCL_INLINE float4 load_patch_row(const global float *plane, int ih, int iw0) {
  float4 row = (float4)(0.0f);

  if (ih < 0 || ih >= IN_H)
    return row;
  if (iw0 >= 0 && iw0 + 4 <= IN_W)
    return vload4(0, plane + ih * IN_W + iw0);
  if (iw0 >= 0 && iw0 < IN_W)
    row.s0 = plane[ih * IN_W + iw0];
  if (iw0 + 1 >= 0 && iw0 + 1 < IN_W)
    row.s1 = plane[ih * IN_W + iw0 + 1];
  if (iw0 + 2 >= 0 && iw0 + 2 < IN_W)
    row.s2 = plane[ih * IN_W + iw0 + 2];
  if (iw0 + 3 >= 0 && iw0 + 3 < IN_W)
    row.s3 = plane[ih * IN_W + iw0 + 3];
  return row;
}

/* Writes V = B^T d B of the 4x4 patch d (rows d0 .. d3) to v[p * CG *
 * TILES_PADDED] for the 16 positions p. */
GCL_INLINE void store_input_transform(global float *v, float4 d0, float4 d1,
                                      float4 d2, float4 d3) {
  /* B^T d combines the rows, then (B^T d) B does the same on each row. */
  const float4 r0 = input_transform_1d(d0 - d2);
  const float4 r1 = input_transform_1d(d1 + d2);
  const float4 r2 = input_transform_1d(d2 - d1);
  const float4 r3 = input_transform_1d(d1 - d3);
  const float values[16] = {r0.s0, r0.s1, r0.s2, r0.s3, r1.s0, r1.s1,
                            r1.s2, r1.s3, r2.s0, r2.s1, r2.s2, r2.s3,
                            r3.s0, r3.s1, r3.s2, r3.s3};

#pragma unroll
  for (int p = 0; p < 16; ++p)
    v[p * CG * TILES_PADDED] = values[p];
}

__kernel void gcl_winograd_input(const global float *restrict input,
                                 long input_offset, long input_image_stride,
                                 global float *restrict transformed) {
  const int row = (int)get_global_id(0); /* n * TILES_H + th */
  const int c = (int)get_global_id(1) % CG;
  const int g = (int)get_global_id(1) / CG;
  const long n = row / TILES_H;
  const int ih0 = 2 * (row % TILES_H) - PAD_H;
  const global float *plane =
      input + input_offset + n * input_image_stride + (g * CG + c) * IN_PLANE;
  global float *v =
      transformed + (g * 16 * CG + c) * TILES_PADDED + row * TILES_W;

  for (int tw = 0; tw < TILES_W; ++tw) {
    const int iw0 = 2 * tw - PAD_W;

    store_input_transform(v + tw, load_patch_row(plane, ih0, iw0),
                          load_patch_row(plane, ih0 + 1, iw0),
                          load_patch_row(plane, ih0 + 2, iw0),
                          load_patch_row(plane, ih0 + 3, iw0));
  }

  /* The last row also zeroes the padding tiles, which the multiply kernel
     reads but whose products nobody uses. */
  if (TILES_PADDED > TILES && row == TILES / TILES_W - 1) {
    for (int t = TILES; t < TILES_PADDED; ++t)
#pragma unroll
      for (int p = 0; p < 16; ++p)
        transformed[((g * 16 + p) * CG + c) * TILES_PADDED + t] = 0.0f;
  }
}

__kernel void gcl_winograd_multiply(const global float *restrict filters,
                                    const global float *restrict transformed,
                                    global float *restrict products) {
  const int t0 = (int)get_global_id(0) * TB;
  const int k0 = (int)get_global_id(1) * (KV * KVB);
  const int gp = (int)get_global_id(2); /* g * 16 + p */
  const global float *u = filters + gp * CG * KG_PADDED + k0;
  const global float *v = transformed + gp * CG * TILES_PADDED + t0;
  global float *m = products + (gp * KG_PADDED + k0) * TILES_PADDED;
  kfloat acc[TB][KVB];

#pragma unroll
  for (int i = 0; i < TB; ++i)
#pragma unroll
    for (int j = 0; j < KVB; ++j)
      acc[i][j] = (kfloat)(0.0f);

  for (int c = 0; c < CG; ++c) {
    kfloat uc[KVB];

#pragma unroll
    for (int j = 0; j < KVB; ++j)
      uc[j] = KLOAD(0, u + c * KG_PADDED + j * KV);
#pragma unroll
    for (int i = 0; i < TB; ++i) {
      const kfloat vc = (kfloat)(v[c * TILES_PADDED + i]);
#pragma unroll
      for (int j = 0; j < KVB; ++j)
        acc[i][j] = fma(uc[j], vc, acc[i][j]);
    }
  }

  /* M is stored tile-contiguous, so each lane goes to its own row. */
#pragma unroll
  for (int j = 0; j < KVB; ++j)
#pragma unroll
    for (int i = 0; i < TB; ++i) {
      float lanes[KV];

      KSTORE(acc[i][j], 0, lanes);
#pragma unroll
      for (int l = 0; l < KV; ++l)
        m[(j * KV + l) * TILES_PADDED + t0 + i] = lanes[l];
    }
}

/* Returns A^T applied to the column (a, b, c, d): (a + b + c, b - c - d). */
GCL_INLINE float2 output_transform_1d(float4 x) {
  return (float2)(x.s0 + x.s1 + x.s2, x.s1 - x.s2 - x.s3);
}

__kernel void gcl_winograd_output(const global float *restrict products,
                                  const global float *restrict bias,
                                  global float *restrict output,
                                  long output_offset,
                                  long output_image_stride) {
  const int row = (int)get_global_id(1); /* n * TILES_H + th */
  const int k = (int)get_global_id(0) % KG;
  const int g = (int)get_global_id(0) / KG;
  const long n = row / TILES_H;
  const int oh = 2 * (row % TILES_H);
  const global float *m = products + g * 16 * TILES_PADDED * KG_PADDED +
                          k * TILES_PADDED + row * TILES_W;
  global float *y = output + output_offset + n * output_image_stride +
                    (g * KG + k) * OUT_PLANE + oh * OUT_W;
  const int bottom_inside = OUT_H % 2 == 0 || oh + 1 < OUT_H;
#if HAS_BIAS
  const float b = bias[g * KG + k];
#else
  const float b = 0.0f;
#endif

  for (int tw = 0; tw < TILES_W; ++tw) {
    const global float *mt = m + tw;
    const int ow = 2 * tw;
    const int right_inside = OUT_W % 2 == 0 || ow + 1 < OUT_W;
    float4 rows[4];

#pragma unroll
    for (int r = 0; r < 4; ++r)
      rows[r] = (float4)(mt[(4 * r) * TILES_PADDED * KG_PADDED],
                         mt[(4 * r + 1) * TILES_PADDED * KG_PADDED],
                         mt[(4 * r + 2) * TILES_PADDED * KG_PADDED],
                         mt[(4 * r + 3) * TILES_PADDED * KG_PADDED]);

    /* A^T M combines the rows, then (A^T M) A each resulting row. */
    {
      const float2 top =
          output_transform_1d(rows[0] + rows[1] + rows[2]) + b;
      const float2 bottom =
          output_transform_1d(rows[1] - rows[2] - rows[3]) + b;

      y[ow] = top.s0;
      if (right_inside)
        y[ow + 1] = top.s1;
      if (bottom_inside) {
        y[OUT_W + ow] = bottom.s0;
        if (right_inside)
          y[OUT_W + ow + 1] = bottom.s1;
      }
    }
  }
}
