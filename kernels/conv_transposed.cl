/*
 * gcl_conv_transposed: grouped transposed convolution forward (Caffe's
 * Deconvolution with `group`), float32, NCDHW, in gather form:
 *   output[n][g*KG + k][od][oh][ow] = bias[g*KG + k] + sum over c < CG and
 *     the taps (kd, kh, kw) of weights[g*CG + c][k][kd][kh][kw] *
 *     input[n][g*CG + c][id][ih][iw]
 * over the taps where od + PD - kd*DD = id*SD for an input depth id inside
 * the input, and likewise for the height and width. CG =
 * CHANNELS_PER_GROUP (input channels of a group), KG = OUTPUTS_PER_GROUP.
 * Each output sums its own terms in a fixed order, so results do not depend
 * on the work-group size and no atomics are needed. The same kernel computes
 * a convolution's input gradient, which is this layer with sides swapped.
 *
 * Work-item mapping: one work-item computes KB output channels of one group
 * for VW output columns of one residue class r = ow mod SW, that is columns
 * ow = r + SW * (m0 + j) for j < VW. Those columns meet the same taps, and a
 * tap kw with (r + PW - kw*DW) divisible by SW reads the VW consecutive
 * input columns m0 + j + (r + PW - kw*DW) / SW: one vector load serves KB
 * vector FMAs.
 *   global size = { SW * ceil(ceil(OUT_W / SW) / VW), OUT_H,
 *                   batch * GROUP * KBLOCKS * OUT_D }
 *   dim 0: residue r = id0 % SW, column block m0 = (id0 / SW) * VW
 *   dim 1: output row oh
 *   dim 2: ((n * GROUP + g) * KBLOCKS + block) * OUT_D + od
 *
 * The host repacks the weights once per plan into
 *   packed[GROUP][KBLOCKS][CG][KERNEL_D][KERNEL_H][KERNEL_W][KB],
 *   packed[g][b][c][t][j] = weights[g*CG + c][b*KB + j][t],
 * with zeros where b*KB + j >= KG.
 *
 * Tensors are views: image n of the input starts at element
 * input_offset + n * input_image_stride of its buffer, and likewise for the
 * output. Offsets, strides and the image index are 64-bit, so a view may lie
 * anywhere in a buffer of more than 2^31 floats. Indices inside one image
 * are 32-bit ints: the host checks that one image of the view, and the
 * packed weights, hold fewer than 2^31 floats.
 */

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
/* Output columns of one residue class per work-item: 4, 8 or 16. */
#ifndef VW
#define VW 16
#endif
/* Output channels per work-item. */
#ifndef KB
#define KB 4
#endif
#ifndef KBLOCKS
#define KBLOCKS ((OUTPUTS_PER_GROUP + KB - 1) / KB)
#endif
#ifndef HAS_BIAS
#define HAS_BIAS 1
#endif

/* PoCL 3.1 compiles plain `inline` helpers as calls, which spills the
   accumulators; force inlining. */
#define GCL_INLINE __attribute__((always_inline)) inline

#define CG CHANNELS_PER_GROUP
#define KG OUTPUTS_PER_GROUP
#define TAPS (KERNEL_D * KERNEL_H * KERNEL_W)
#define IN_PLANE (IN_D * IN_H * IN_W)
#define OUT_PLANE (OUT_D * OUT_H * OUT_W)

#define VEC_(n) float##n
#define VEC(n) VEC_(n)
#define floatv VEC(VW)
#define VLOAD_(n) vload##n
#define VLOAD(n) VLOAD_(n)
#define VSTORE_(n) vstore##n
#define VSTORE(n) VSTORE_(n)

/* Returns the input index reached from output position o through tap t on
 * an axis, or -1 when the tap falls between inputs or outside them. */
GCL_INLINE int source_index(int o, int t, int stride, int pad, int dilation,
                        int size) {
  int shifted = o + pad - t * dilation;

  if (shifted < 0 || shifted % stride != 0 || shifted / stride >= size)
    return -1;
  return shifted / stride;
}

/* Loads input columns first .. first + VW - 1 of a row, with zeros outside
 * 0 .. IN_W - 1. */
GCL_INLINE floatv load_columns(__global const float *row, int first) {
  float lanes[VW];

  if (first >= 0 && first + VW <= IN_W)
    return VLOAD(VW)(0, row + first);
  for (int j = 0; j < VW; j++) {
    int column = first + j;

    lanes[j] = column >= 0 && column < IN_W ? row[column] : 0.0f;
  }
  return VLOAD(VW)(0, lanes);
}

/* Columns one input row feeds to VW outputs at unit stride. */
#define SPAN (VW + (KERNEL_W - 1) * DILATION_W)

/* Loads input columns first .. first + SPAN - 1 of a row into span, with
 * zeros outside 0 .. IN_W - 1. */
GCL_INLINE void load_span(__global const float *row, int first, float *span) {
  if (first >= 0 && first + SPAN <= IN_W) {
    for (int i = 0; i < SPAN; i++)
      span[i] = row[first + i];
    return;
  }
  for (int i = 0; i < SPAN; i++) {
    int column = first + i;

    span[i] = column >= 0 && column < IN_W ? row[column] : 0.0f;
  }
}

/* Writes lane j of each accumulator to column r + SW * (m0 + j) when that
 * column exists. */
GCL_INLINE void store_columns(__global float *plane_base, int oh, int r, int m0,
                          const floatv *acc, int k_first, int bias_first,
                          __global const float *bias) {
  for (int k = 0; k < KB; k++) {
    float lanes[VW];
    float shift = 0.0f;

    (void)bias;
    (void)bias_first;
    if (k_first + k >= KG)
      return;
#if HAS_BIAS
    shift = bias[bias_first + k];
#endif
    VSTORE(VW)(acc[k], 0, lanes);
    for (int j = 0; j < VW; j++) {
      int ow = r + STRIDE_W * (m0 + j);

      if (ow < OUT_W)
        plane_base[k * OUT_PLANE + oh * OUT_W + ow] = lanes[j] + shift;
    }
  }
}

__kernel void gcl_conv_transposed(
    __global const float *input, long input_offset, long input_image_stride,
    long input_elements, __global const float *weights,
    __global const float *bias, __global float *output, long output_offset,
    long output_image_stride) {
  const int r = get_global_id(0) % STRIDE_W;
  const int m0 = (get_global_id(0) / STRIDE_W) * VW;
  const int oh = get_global_id(1);
  size_t rest = get_global_id(2);
  const int od = rest % OUT_D;
  floatv acc[KB];

  (void)input_elements;
  rest /= OUT_D;
  const int block = rest % KBLOCKS;
  rest /= KBLOCKS;
  const int g = rest % GROUP;
  const long n = rest / GROUP;

  for (int k = 0; k < KB; k++)
    acc[k] = (floatv)(0.0f);

  __global const float *image =
      input + input_offset + n * input_image_stride + g * CG * IN_PLANE;
  __global const float *packed =
      weights + (g * KBLOCKS + block) * CG * TAPS * KB;

  for (int kd = 0; kd < KERNEL_D; kd++) {
    const int id = source_index(od, kd, STRIDE_D, PAD_D, DILATION_D, IN_D);

    if (id < 0)
      continue;
    for (int kh = 0; kh < KERNEL_H; kh++) {
      const int ih = source_index(oh, kh, STRIDE_H, PAD_H, DILATION_H, IN_H);

      if (ih < 0)
        continue;
#if STRIDE_W == 1
      /* Unit stride: every tap is used, and the taps of one input row read
         one span of columns; load it once and take each tap's vector at a
         constant offset. */
      for (int c = 0; c < CG; c++) {
        float row[SPAN];
        __global const float *w = packed + (c * TAPS +
                                            (kd * KERNEL_H + kh) * KERNEL_W) *
                                               KB;

        load_span(image + c * IN_PLANE + (id * IN_H + ih) * IN_W,
                  m0 + PAD_W - (KERNEL_W - 1) * DILATION_W, row);
#pragma unroll
        for (int kw = 0; kw < KERNEL_W; kw++) {
          const floatv x = VLOAD(VW)(0, row + (KERNEL_W - 1 - kw) * DILATION_W);

#pragma unroll
          for (int k = 0; k < KB; k++)
            acc[k] = fma(x, (floatv)(w[kw * KB + k]), acc[k]);
        }
      }
#else
      for (int kw = 0; kw < KERNEL_W; kw++) {
        const int shifted = r + PAD_W - kw * DILATION_W;
        const int tap = (kd * KERNEL_H + kh) * KERNEL_W + kw;

        /* shifted may be negative; a multiple of SW divides exactly. */
        if (shifted % STRIDE_W != 0)
          continue;
        const int first = m0 + shifted / STRIDE_W;

        for (int c = 0; c < CG; c++) {
          const floatv x = load_columns(
              image + c * IN_PLANE + (id * IN_H + ih) * IN_W, first);
          __global const float *w = packed + (c * TAPS + tap) * KB;

#pragma unroll
          for (int k = 0; k < KB; k++)
            acc[k] = fma(x, (floatv)(w[k]), acc[k]);
        }
      }
#endif
    }
  }

  if (oh >= OUT_H)
    return;
  const int k_first = block * KB;
  __global float *out = output + output_offset + n * output_image_stride +
                        (g * KG + k_first) * OUT_PLANE + od * OUT_H * OUT_W;

  store_columns(out, oh, r, m0, acc, k_first, g * KG + k_first, bias);
}
