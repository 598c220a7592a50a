/*
 * gcl_conv_1x1: grouped convolution forward with 1x1 filters, stride 1 and
 * no padding, float32, NCDHW, as one matrix product per image and group,
 * with no column matrix:
 *   output[n][g] (KG x P) = weights[g] (KG x CG) * input[n][g] (CG x P) + bias
 * where P = IN_D * IN_H * IN_W is the flattened spatial axis (equal in input
 * and output), CG = CHANNELS_PER_GROUP and KG = OUTPUTS_PER_GROUP.
 *
 * Work-item mapping: one work-item computes KB output channels times NV * VW
 * consecutive positions, in KB * NV vector accumulators. Per input channel
 * it loads NV vectors and does KB * NV vector FMAs. The last position block
 * of a plane takes a path that reads and writes only the valid positions,
 * so no load leaves the tensor. No local memory and no barriers.
 *   global size = { ceil(P / (NV * VW)), KBLOCKS, batch * GROUP }
 *   dim 0: position block, p0 = id0 * NV * VW
 *   dim 1: output channel block within the group
 *   dim 2: n * GROUP + g
 *
 * The host repacks the weights once per plan into
 *   packed[GROUP][KBLOCKS][CG][KB],
 *   packed[g][b][c][j] = weights[g*KG + b*KB + j][c],
 * with zeros where b*KB + j >= KG (the conv_direct.cl layout with a 1x1
 * filter).
 *
 * Tensors are views: image n of the input starts at element
 * input_offset + n * input_image_stride of its buffer, and likewise for the
 * output. Offsets, strides and the image index are 64-bit, so a view may lie
 * anywhere in a buffer of more than 2^31 floats. Indices inside one image
 * are 32-bit ints: the host checks that one image of the view, and the
 * packed weights, hold fewer than 2^31 floats.
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
#ifndef IN_W
#error "IN_W (input width) must be defined"
#endif
/* Input depth and height, 1 for layers without those axes. */
#ifndef IN_D
#define IN_D 1
#endif
#ifndef IN_H
#define IN_H 1
#endif
/* Vector width along the positions: 4, 8 or 16 lanes. */
#ifndef VW
#define VW 16
#endif
/* Vectors of positions per work-item. */
#ifndef NV
#define NV 2
#endif
/* Output channels per work-item. KB * NV accumulators must fit registers. */
#ifndef KB
#define KB 12
#endif
/* Channel blocks per group, ceil(OUTPUTS_PER_GROUP / KB). */
#ifndef KBLOCKS
#define KBLOCKS ((OUTPUTS_PER_GROUP + KB - 1) / KB)
#endif
/* 1 to add the bias argument, 0 to ignore it (it may then be NULL). */
#ifndef HAS_BIAS
#define HAS_BIAS 1
#endif

#define CG CHANNELS_PER_GROUP
#define KG OUTPUTS_PER_GROUP
#define POSITIONS (IN_D * IN_H * IN_W)

/* PoCL 3.1 compiles plain `inline` helpers as calls, so the `whole` flag
   would not fold and the accumulators would spill. Force inlining. */
#define GCL_INLINE __attribute__((always_inline)) inline

#if VW == 16
typedef float16 vfloat;
#define VLOAD vload16
#define VSTORE vstore16
#elif VW == 8
typedef float8 vfloat;
#define VLOAD vload8
#define VSTORE vstore8
#elif VW == 4
typedef float4 vfloat;
#define VLOAD vload4
#define VSTORE vstore4
#else
#error "VW must be 4, 8 or 16"
#endif

/* Loads VW positions from p, or only the first `count` (then zero-filled)
   when whole is false. */
GCL_INLINE vfloat load_positions(const global float *p, int count,
                                 const bool whole) {
  float lanes[VW];

  if (whole)
    return VLOAD(0, p);
#pragma unroll
  for (int i = 0; i < VW; ++i)
    lanes[i] = (i < count) ? p[min(i, max(count - 1, 0))] : 0.0f;
  return VLOAD(0, lanes);
}

/* Stores the first `count` lanes of v at p. count may exceed VW. */
GCL_INLINE void store_positions(global float *p, vfloat v, int count) {
  if (count >= VW) {
    VSTORE(v, 0, p);
  } else {
    float lanes[VW];

    VSTORE(v, 0, lanes);
    for (int i = 0; i < count; ++i)
      p[i] = lanes[i];
  }
}

/*
 * Computes and stores one tile. xg is input channel g*CG of image n, wb the
 * packed weights of the channel block, bg the bias of the group and yg
 * output channel g*KG of image n.
 */
GCL_INLINE void pointwise_tile(const global float *restrict xg,
                               const global float *restrict wb,
                               const global float *restrict bg,
                               global float *restrict yg, int kb0, int p0,
                               const bool whole) {
  vfloat acc[KB][NV];

#pragma unroll
  for (int j = 0; j < KB; ++j) {
#if HAS_BIAS
    const float b0 = (kb0 + j < KG) ? bg[kb0 + j] : 0.0f;
#else
    const float b0 = 0.0f;
#endif
#pragma unroll
    for (int v = 0; v < NV; ++v)
      acc[j][v] = (vfloat)(b0);
  }

  for (int c = 0; c < CG; ++c) {
    const global float *xc = xg + c * POSITIONS + p0;
    vfloat xv[NV];

#pragma unroll
    for (int v = 0; v < NV; ++v)
      xv[v] = load_positions(xc + v * VW, POSITIONS - p0 - v * VW, whole);
#pragma unroll
    for (int j = 0; j < KB; ++j) {
      const vfloat wv = (vfloat)(wb[c * KB + j]);
#pragma unroll
      for (int v = 0; v < NV; ++v)
        acc[j][v] = fma(wv, xv[v], acc[j][v]);
    }
  }

#pragma unroll
  for (int j = 0; j < KB; ++j) {
    if (KG % KB != 0 && kb0 + j >= KG)
      break;
#pragma unroll
    for (int v = 0; v < NV; ++v) {
      const int count = POSITIONS - p0 - v * VW;
      if (count <= 0)
        break;
      store_positions(yg + (kb0 + j) * POSITIONS + p0 + v * VW, acc[j][v],
                      count);
    }
  }
}

/*
 * input_elements is unused: every load stays inside the tensor. It keeps
 * the argument list of gcl_conv_direct and gcl_conv_depthwise.
 */
__kernel void gcl_conv_1x1(const global float *restrict input,
                           long input_offset, long input_image_stride,
                           long input_elements,
                           const global float *restrict packed,
                           const global float *restrict bias,
                           global float *restrict output, long output_offset,
                           long output_image_stride) {
  const int p0 = (int)get_global_id(0) * (NV * VW);
  const int block = (int)get_global_id(1);
  const size_t z = get_global_id(2);
  const int g = z % GROUP;
  const long n = z / GROUP;
  const int kb0 = block * KB;

  const global float *xg =
      input + input_offset + n * input_image_stride + g * CG * POSITIONS;
  const global float *wb = packed + (g * KBLOCKS + block) * (CG * KB);
  const global float *bg = HAS_BIAS ? bias + g * KG : bias;
  global float *yg =
      output + output_offset + n * output_image_stride + g * KG * POSITIONS;

  (void)input_elements;
  if (p0 + NV * VW <= POSITIONS)
    pointwise_tile(xg, wb, bg, yg, kb0, p0, true);
  else
    pointwise_tile(xg, wb, bg, yg, kb0, p0, false);
}
