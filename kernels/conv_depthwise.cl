/*
 * gcl_conv_depthwise: depthwise convolution forward, float32, NCDHW: one
 * group per input channel, with M = OUTPUTS_PER_GROUP output channels per
 * input channel (the channel multiplier):
 *   output[n][c*M + m][od][oh][ow] = bias[c*M + m] + sum over the filter
 *     taps (kd, kh, kw) of weights[c*M + m][0][kd][kh][kw] *
 *     input[n][c][od*SD - PD + kd*DD][oh*SH - PH + kh*DH][ow*SW - PW + kw*DW]
 * with zeros outside the input. 1-D and 2-D layers use size-1 leading axes.
 *
 * Work-item mapping: one work-item reads one input channel and computes its
 * M output channels for RB consecutive output rows and VW consecutive
 * output columns of one output depth slice, in M * RB vector accumulators.
 * Every input row it loads feeds all RB output rows that use it. No local
 * memory and no barriers, so any local size works.
 *   global size = { ceil(OUT_W / VW), ceil(OUT_H / RB),
 *                   batch * CHANNELS * OUT_D }
 *   dim 0: output column block, ow0 = id0 * VW
 *   dim 1: output row block, oh0 = id1 * RB
 *   dim 2: (n * CHANNELS + c) * OUT_D + od
 *
 * The weights keep Caffe's layout weights[CHANNELS * M][1][KD][KH][KW].
 *
 * Tensors are views: image n of the input starts at element
 * input_offset + n * input_image_stride of its buffer, and likewise for the
 * output. Offsets, strides and the image index are 64-bit, so a view may lie
 * anywhere in a buffer of more than 2^31 floats. Indices inside one image
 * are 32-bit ints: the host checks that one image of the view holds fewer
 * than 2^31 floats.
 */

/* Layer sizes: required, from gcl_geometry_build_options(). */
#ifndef CHANNELS
#error "CHANNELS (input channels, one group each) must be defined"
#endif
#ifndef OUTPUTS_PER_GROUP
#error "OUTPUTS_PER_GROUP (the channel multiplier) must be defined"
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
/* Output rows per work-item. M * RB accumulators must fit registers. */
#ifndef RB
#define RB 4
#endif
/* 1 to add the bias argument, 0 to ignore it (it may then be NULL). */
#ifndef HAS_BIAS
#define HAS_BIAS 1
#endif

#define M OUTPUTS_PER_GROUP
#define IN_PLANE (IN_H * IN_W)
#define IN_SIZE (IN_D * IN_PLANE)
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
 * Computes and stores one tile. xc is the input channel of image n, wc its
 * M filters, bc their bias and yc its first output channel.
 */
GCL_INLINE void depthwise_tile(const global float *restrict xc,
                               const global float *restrict wc,
                               const global float *restrict bc,
                               global float *restrict yc, int od, int oh0,
                               int ow0, const int mode) {
  const int id0 = od * STRIDE_D - PAD_D;
  const int ih0 = oh0 * STRIDE_H - PAD_H;
  const int iw0 = ow0 * STRIDE_W - PAD_W;
  vint mask[KERNEL_W];
  vfloat acc[M][RB];

#pragma unroll
  for (int kw = 0; kw < KERNEL_W; ++kw)
    mask[kw] = column_mask(iw0 + kw * DILATION_W);

#pragma unroll
  for (int m = 0; m < M; ++m) {
#if HAS_BIAS
    const float b0 = bc[m];
#else
    const float b0 = 0.0f;
#endif
#pragma unroll
    for (int o = 0; o < RB; ++o)
      acc[m][o] = (vfloat)(b0);
  }

  for (int kd = 0; kd < KERNEL_D; ++kd) {
    const int id = id0 + kd * DILATION_D;
    if (id < 0 || id >= IN_D)
      continue;
    const global float *plane = xc + id * IN_PLANE;
    const global float *wk = wc + kd * (KERNEL_H * KERNEL_W);

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
            for (int m = 0; m < M; ++m)
              acc[m][o] = fma((vfloat)(wk[m * TAPS + kh * KERNEL_W + kw]),
                              xv, acc[m][o]);
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
    for (int m = 0; m < M; ++m)
      store_columns(yc + m * OUT_SIZE + od * OUT_PLANE + (oh0 + o) * OUT_W +
                        ow0,
                    acc[m][o], OUT_W - ow0);
  }
}

/*
 * input_elements is the number of floats in the input buffer. Vector loads
 * may run past the ends of a row, so a work-item whose reads could leave
 * the buffer takes the per-lane path instead.
 */
__kernel void gcl_conv_depthwise(const global float *restrict input,
                                 long input_offset, long input_image_stride,
                                 long input_elements,
                                 const global float *restrict weights,
                                 const global float *restrict bias,
                                 global float *restrict output,
                                 long output_offset,
                                 long output_image_stride) {
  /* A constant ow0 when one vector covers the row lets the partial store
     unroll. */
  const int ow0 = (OUT_W <= VW) ? 0 : (int)get_global_id(0) * VW;
  const int oh0 = (int)get_global_id(1) * RB;
  const size_t z = get_global_id(2);
  const int od = z % OUT_D;
  const int c = (z / OUT_D) % CHANNELS;
  const long n = z / (OUT_D * CHANNELS);

  const global float *xc =
      input + input_offset + n * input_image_stride + c * IN_SIZE;
  const global float *wc = weights + c * (M * TAPS);
  const global float *bc = HAS_BIAS ? bias + c * M : bias;
  global float *yc =
      output + output_offset + n * output_image_stride + c * M * OUT_SIZE;

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
  const long base = (long)(xc - input);
  const long first = base + (long)id_lo * IN_PLANE + ih_lo * IN_W + iw_lo;
  const long end = base + (long)id_hi * IN_PLANE + ih_hi * IN_W + iw_end;

  if (first >= 0 && end <= input_elements)
    depthwise_tile(xc, wc, bc, yc, od, oh0, ow0, LOAD_MASKED);
  else
    depthwise_tile(xc, wc, bc, yc, od, oh0, ow0, LOAD_SAFE);
}
