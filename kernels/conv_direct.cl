/*
 * gcl_conv_direct: grouped convolution forward (Caffe's `group`), float32,
 * NCDHW, read straight from the input without a column matrix:
 *   output[n][g*KG + k][od][oh][ow] = bias[g*KG + k] + sum over c < CG and
 *     the filter taps (kd, kh, kw) of weights[g*KG + k][c][kd][kh][kw] *
 *     input[n][g*CG + c][od*SD - PD + kd*DD][oh*SH - PH + kh*DH]
 *          [ow*SW - PW + kw*DW]
 * with zeros outside the input, where CG = CHANNELS_PER_GROUP and
 * KG = OUTPUTS_PER_GROUP. 1-D and 2-D layers use size-1 leading axes.
 *
 * Work-item mapping: one work-item computes a tile of KB output channels of
 * one group, RB consecutive output rows and VW consecutive output columns of
 * one output depth slice, held in KB * RB vector accumulators. Every input
 * row it loads feeds all RB output rows and KB channels that use it. No
 * local memory and no barriers, so any local size works.
 *   global size = { ceil(OUT_W / VW), ceil(OUT_H / RB),
 *                   batch * GROUP * KBLOCKS * OUT_D }
 *   dim 0: output column block, ow0 = id0 * VW
 *   dim 1: output row block, oh0 = id1 * RB
 *   dim 2: ((n * GROUP + g) * KBLOCKS + block) * OUT_D + od
 *
 * The host repacks the weights once per plan into
 *   packed[GROUP][KBLOCKS][CG][KERNEL_D][KERNEL_H][KERNEL_W][KB],
 *   packed[g][b][c][kd][kh][kw][j] = weights[g*KG + b*KB + j][c][kd][kh][kw],
 * with zeros where b*KB + j >= KG, so that the KB weights one input vector
 * meets are adjacent (one broadcast operand each).
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
#ifndef OUT_W
#error "OUT_W (output width) must be defined"
#endif
/* Input and output depth and height, 1 for layers without those axes. */
#ifndef IN_D
#define IN_D 1
#endif
#ifndef IN_H
#define IN_H 1
#endif
#ifndef OUT_D
#define OUT_D 1
#endif
#ifndef OUT_H
#define OUT_H 1
#endif
/* Filter size, stride, pad and dilation per axis (Caffe's defaults). */
#ifndef KERNEL_D
#define KERNEL_D 1
#endif
#ifndef KERNEL_H
#define KERNEL_H 1
#endif
#ifndef KERNEL_W
#define KERNEL_W 1
#endif
#ifndef STRIDE_D
#define STRIDE_D 1
#endif
#ifndef STRIDE_H
#define STRIDE_H 1
#endif
#ifndef STRIDE_W
#define STRIDE_W 1
#endif
#ifndef PAD_D
#define PAD_D 0
#endif
#ifndef PAD_H
#define PAD_H 0
#endif
#ifndef PAD_W
#define PAD_W 0
#endif
#ifndef DILATION_D
#define DILATION_D 1
#endif
#ifndef DILATION_H
#define DILATION_H 1
#endif
#ifndef DILATION_W
#define DILATION_W 1
#endif
/* Vector width along the output width: 4, 8 or 16 lanes. */
#ifndef VW
#define VW 16
#endif
/* Output channels per work-item. KB * RB accumulators must fit registers. */
#ifndef KB
#define KB 4
#endif
/* Output rows per work-item. */
#ifndef RB
#define RB 2
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
#define IN_PLANE (IN_H * IN_W)
#define OUT_PLANE (OUT_H * OUT_W)
#define OUT_SIZE (OUT_D * OUT_PLANE)
#define TAPS (KERNEL_D * KERNEL_H * KERNEL_W)
/* Input rows one work-item reads per input plane. */
#define ROWS_IN ((RB - 1) * STRIDE_H + (KERNEL_H - 1) * DILATION_H + 1)

/* PoCL 3.1 compiles plain `inline` helpers as calls, so the literal load
   mode would not fold and the accumulators would spill. Force inlining. */
#define GCL_INLINE __attribute__((always_inline)) inline

/* Load modes, passed as literals so that each call site folds to one path. */
#define LOAD_MASKED 0 /* vector loads, after the caller checked the bounds */
#define LOAD_SAFE 1   /* per-lane loads at columns clamped into the row */

#if VW == 16
typedef float16 vfloat;
typedef int16 vint;
#define VLOAD vload16
#define VSTORE vstore16
#define LANE_INDEX ((int16)(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15))
#define EVEN_LANES(a, b)                                                      \
  __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22,   \
                          24, 26, 28, 30)
#elif VW == 8
typedef float8 vfloat;
typedef int8 vint;
#define VLOAD vload8
#define VSTORE vstore8
#define LANE_INDEX ((int8)(0, 1, 2, 3, 4, 5, 6, 7))
#define EVEN_LANES(a, b) __builtin_shufflevector(a, b, 0, 2, 4, 6, 8, 10, 12, 14)
#elif VW == 4
typedef float4 vfloat;
typedef int4 vint;
#define VLOAD vload4
#define VSTORE vstore4
#define LANE_INDEX ((int4)(0, 1, 2, 3))
#define EVEN_LANES(a, b) __builtin_shufflevector(a, b, 0, 2, 4, 6)
#else
#error "VW must be 4, 8 or 16"
#endif

/* Floats after the first column that one LOAD_MASKED load touches. */
#if STRIDE_W == 1
#define LOAD_SPAN VW
#elif STRIDE_W == 2
#define LOAD_SPAN (2 * VW)
#else
#define LOAD_SPAN ((VW - 1) * STRIDE_W + 1)
#endif

/* Returns the lane mask (-1 = inside the row) of columns iw0 + lane * SW. */
GCL_INLINE vint column_mask(int iw0) {
  const vint iw = (vint)(iw0) + LANE_INDEX * STRIDE_W;
  return (iw >= 0) & (iw < IN_W);
}

/*
 * Loads columns iw0, iw0 + SW, ... of one input row, with zeros where the
 * column lies outside [0, IN_W). LOAD_MASKED may read floats of the
 * neighbouring rows or channels, which the mask then drops.
 */
GCL_INLINE vfloat load_columns(const global float *row, int iw0, vint mask,
                               const int mode) {
  vfloat v;

  if (mode == LOAD_SAFE) {
    float lanes[VW];
#pragma unroll
    for (int i = 0; i < VW; ++i)
      lanes[i] = row[clamp(iw0 + i * STRIDE_W, 0, IN_W - 1)];
    v = VLOAD(0, lanes);
  } else {
#if STRIDE_W == 1
    v = VLOAD(0, row + iw0);
#elif STRIDE_W == 2
    /* Two vector loads and one shuffle of the even lanes. */
    v = EVEN_LANES(VLOAD(0, row + iw0), VLOAD(0, row + iw0 + VW));
#else
    float lanes[VW];
#pragma unroll
    for (int i = 0; i < VW; ++i)
      lanes[i] = row[iw0 + i * STRIDE_W];
    v = VLOAD(0, lanes);
#endif
  }
  return select((vfloat)(0.0f), v, mask);
}

/* Stores the first `count` lanes of v at p. count may exceed VW. */
GCL_INLINE void store_columns(global float *p, vfloat v, int count) {
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
GCL_INLINE void conv_tile(const global float *restrict xg,
                          const global float *restrict wb,
                          const global float *restrict bg,
                          global float *restrict yg, int kb0, int od,
                          int oh0, int ow0, const int mode) {
  const int id0 = od * STRIDE_D - PAD_D;
  const int ih0 = oh0 * STRIDE_H - PAD_H;
  const int iw0 = ow0 * STRIDE_W - PAD_W;
  vint mask[KERNEL_W];
  vfloat acc[KB][RB];

#pragma unroll
  for (int kw = 0; kw < KERNEL_W; ++kw)
    mask[kw] = column_mask(iw0 + kw * DILATION_W);

#pragma unroll
  for (int j = 0; j < KB; ++j) {
#if HAS_BIAS
    const float b0 = (kb0 + j < KG) ? bg[kb0 + j] : 0.0f;
#else
    const float b0 = 0.0f;
#endif
#pragma unroll
    for (int o = 0; o < RB; ++o)
      acc[j][o] = (vfloat)(b0);
  }

  for (int c = 0; c < CG; ++c) {
    for (int kd = 0; kd < KERNEL_D; ++kd) {
      const int id = id0 + kd * DILATION_D;
      if (id < 0 || id >= IN_D)
        continue;
      const global float *plane = xg + (c * IN_D + id) * IN_PLANE;
      const global float *wk = wb + (c * KERNEL_D + kd) * (KERNEL_H * KERNEL_W * KB);

#pragma unroll
      for (int r = 0; r < ROWS_IN; ++r) {
        const int ih = ih0 + r;
        if (ih < 0 || ih >= IN_H)
          continue;
        const global float *row = plane + ih * IN_W;
#pragma unroll
        for (int kw = 0; kw < KERNEL_W; ++kw) {
          const vfloat xv =
              load_columns(row, iw0 + kw * DILATION_W, mask[kw], mode);
          /* Input row r feeds output row o through filter row kh when
             o * SH + kh * DH == r; these tests fold at compile time. */
#pragma unroll
          for (int o = 0; o < RB; ++o) {
            const int t = r - o * STRIDE_H;
            if (t >= 0 && t % DILATION_H == 0 && t / DILATION_H < KERNEL_H) {
              const int kh = t / DILATION_H;
#pragma unroll
              for (int j = 0; j < KB; ++j)
                acc[j][o] = fma((vfloat)(wk[(kh * KERNEL_W + kw) * KB + j]),
                                xv, acc[j][o]);
            }
          }
        }
      }
    }
  }

#pragma unroll
  for (int o = 0; o < RB; ++o) {
    if (oh0 + o >= OUT_H)
      break;
#pragma unroll
    for (int j = 0; j < KB; ++j) {
      if (KG % KB != 0 && kb0 + j >= KG)
        break;
      store_columns(yg + (kb0 + j) * OUT_SIZE + od * OUT_PLANE +
                        (oh0 + o) * OUT_W + ow0,
                    acc[j][o], OUT_W - ow0);
    }
  }
}

/*
 * input_elements is the number of floats in the input buffer. Vector loads
 * may run past the ends of a row, so a work-item whose reads could leave
 * the buffer takes the per-lane path instead.
 */
__kernel void gcl_conv_direct(const global float *restrict input,
                              long input_offset, long input_image_stride,
                              long input_elements,
                              const global float *restrict packed,
                              const global float *restrict bias,
                              global float *restrict output,
                              long output_offset, long output_image_stride) {
  /* A constant ow0 when one vector covers the row lets the partial store
     unroll. */
  const int ow0 = (OUT_W <= VW) ? 0 : (int)get_global_id(0) * VW;
  const int oh0 = (int)get_global_id(1) * RB;
  const size_t z = get_global_id(2);
  const int od = z % OUT_D;
  const int block = (z / OUT_D) % KBLOCKS;
  const int g = (z / (OUT_D * KBLOCKS)) % GROUP;
  const long n = z / (OUT_D * KBLOCKS * GROUP);
  const int kb0 = block * KB;

  const global float *xg =
      input + input_offset + n * input_image_stride + g * CG * IN_D * IN_PLANE;
  const global float *wb = packed + (g * KBLOCKS + block) * (CG * TAPS * KB);
  const global float *bg = HAS_BIAS ? bias + g * KG : bias;
  global float *yg =
      output + output_offset + n * output_image_stride + g * KG * OUT_SIZE;

  /* The lowest and highest addresses this work-item can read: the first
     and last valid depth and row, over the span of its vector loads. */
  const int id_lo = max(od * STRIDE_D - PAD_D, 0);
  const int id_hi =
      min(od * STRIDE_D - PAD_D + (KERNEL_D - 1) * DILATION_D, IN_D - 1);
  const int ih_lo = max(oh0 * STRIDE_H - PAD_H, 0);
  const int ih_hi = min((oh0 + RB - 1) * STRIDE_H - PAD_H +
                            (KERNEL_H - 1) * DILATION_H,
                        IN_H - 1);
  const int iw_lo = ow0 * STRIDE_W - PAD_W;
  const int iw_end = iw_lo + (KERNEL_W - 1) * DILATION_W + LOAD_SPAN;
  const long base = (long)(xg - input);
  const long first = base + (long)id_lo * IN_PLANE + ih_lo * IN_W + iw_lo;
  const long end = base + (long)((CG - 1) * IN_D + id_hi) * IN_PLANE +
                   ih_hi * IN_W + iw_end;

  if (first >= 0 && end <= input_elements)
    conv_tile(xg, wb, bg, yg, kb0, od, oh0, ow0, LOAD_MASKED);
  else
    conv_tile(xg, wb, bg, yg, kb0, od, oh0, ow0, LOAD_SAFE);
}
