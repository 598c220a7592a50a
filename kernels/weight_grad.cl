/*
 * Weight and bias gradients of a grouped convolution, float32, NCDHW.
 *
 * The layer is described as the convolution that links its two sides: the
 * large side (CHANNELS channels of IN_D x IN_H x IN_W, the convolution's
 * input) and the small side (NUM_OUTPUT channels of OUT_D x OUT_H x OUT_W,
 * its output). For a convolution the large side is the input and the small
 * side the output gradient; for a transposed layer it is the other way.
 *
 * gcl_weight_grad computes, for every group g, small-side channel k < KG,
 * large-side channel c < CG and tap t = (kd, kh, kw),
 *   grad[g*KG + k][c][t] = sum over images n and small-side positions o of
 *     small[n][g*KG + k][o] * large[n][g*CG + c][o*S - P + t*D]
 * with zeros outside the large side. Each work-item owns KB channels k, one
 * c and one (kd, kh) with every kw, and sums in a fixed order (images, then
 * rows, then column vectors, then the vector's lanes from 0 up), so the
 * result is the same bitwise on every run, with no atomics.
 *   global size = { KERNEL_D * KERNEL_H, CG, GROUP * KBLOCKS }
 *
 * gcl_bias_grad sums each channel of a gradient over images and positions,
 * one work-item per channel, in the same fixed order.
 *
 * Tensors are views: image n starts at offset + n * image_stride. Offsets,
 * strides and the image term are 64-bit, so a view may lie anywhere in a
 * buffer of more than 2^31 floats. Indices inside one image are 32-bit
 * ints: the host checks that one image of each view holds fewer than 2^31
 * floats.
 */

#ifndef CHANNELS_PER_GROUP
#define CHANNELS_PER_GROUP 1
#endif
#ifndef OUTPUTS_PER_GROUP
#define OUTPUTS_PER_GROUP 1
#endif
#ifndef GROUP
#define GROUP 1
#endif
#ifndef IN_D
#define IN_D 1
#endif
#ifndef IN_H
#define IN_H 1
#endif
#ifndef IN_W
#define IN_W 1
#endif
#ifndef OUT_D
#define OUT_D 1
#endif
#ifndef OUT_H
#define OUT_H 1
#endif
#ifndef OUT_W
#define OUT_W 1
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
/* Small-side columns per vector: 4, 8 or 16. */
#ifndef VW
#define VW 16
#endif
/* Small-side channels per work-item. */
#ifndef KB
#define KB 4
#endif
#ifndef KBLOCKS
#define KBLOCKS ((OUTPUTS_PER_GROUP + KB - 1) / KB)
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

#define INT_VEC_(n) int##n
#define INT_VEC(n) INT_VEC_(n)
#define intv INT_VEC(VW)

GCL_INLINE intv lane_index(void) {
  int lanes[VW];

  for (int j = 0; j < VW; j++)
    lanes[j] = j;
  return VLOAD(VW)(0, lanes);
}

/*
 * Loads the large-side values at columns first + j * STRIDE_W of a row for
 * the lanes j whose mask is set, zero elsewhere. row_start is the row's
 * first element in a buffer of `elements` floats: a vector load may read
 * past the row (the mask drops those lanes) but never past the buffer.
 */
GCL_INLINE floatv load_large(__global const float *buffer, long row_start,
                             int first, long elements, intv mask) {
  const long from = row_start + first;
  floatv v;

  if (STRIDE_W == 1 && from >= 0 && from + VW <= elements) {
    v = VLOAD(VW)(0, buffer + from);
  } else {
    float lanes[VW];

    for (int j = 0; j < VW; j++) {
      int column = clamp(first + j * STRIDE_W, 0, IN_W - 1);

      lanes[j] = buffer[row_start + column];
    }
    v = VLOAD(VW)(0, lanes);
  }
  return select((floatv)(0.0f), v, mask);
}

/*
 * Loads small-side columns m0 .. m0 + VW - 1 of the row starting at
 * element row_start, zero in lanes outside `inside`. As in load_large, a
 * vector load may read past the row but never past the buffer.
 */
GCL_INLINE floatv load_small(__global const float *buffer, long row_start,
                             int m0, long elements, intv inside) {
  const long from = row_start + m0;
  floatv v;

  if (from + VW <= elements) {
    v = VLOAD(VW)(0, buffer + from);
  } else {
    float lanes[VW];

    for (int j = 0; j < VW; j++)
      lanes[j] = buffer[row_start + min(m0 + j, OUT_W - 1)];
    v = VLOAD(VW)(0, lanes);
  }
  return select((floatv)(0.0f), v, inside);
}

/* Sums a vector's lanes from lane 0 up. */
GCL_INLINE float lane_sum(floatv v) {
  float lanes[VW];
  float sum = 0.0f;

  VSTORE(VW)(v, 0, lanes);
  for (int j = 0; j < VW; j++)
    sum += lanes[j];
  return sum;
}

__kernel void gcl_weight_grad(__global const float *large, long large_offset,
                              long large_image_stride, long large_elements,
                              __global const float *small, long small_offset,
                              long small_image_stride, long small_elements,
                              int batch,
                              __global float *grad) {
  const int kd = get_global_id(0) / KERNEL_H;
  const int kh = get_global_id(0) % KERNEL_H;
  const int c = get_global_id(1);
  const int g = get_global_id(2) / KBLOCKS;
  const int k0 = (get_global_id(2) % KBLOCKS) * KB;
  floatv acc[KB][KERNEL_W];

#pragma unroll
  for (int k = 0; k < KB; k++)
#pragma unroll
    for (int kw = 0; kw < KERNEL_W; kw++)
      acc[k][kw] = (floatv)(0.0f);

  for (int n = 0; n < batch; n++) {
    const long plane_start = large_offset + n * large_image_stride +
                             (g * CG + c) * IN_PLANE;
    const long small_start = small_offset + n * small_image_stride +
                             (g * KG + k0) * OUT_PLANE;

    for (int od = 0; od < OUT_D; od++) {
      const int id = od * STRIDE_D - PAD_D + kd * DILATION_D;

      if (id < 0 || id >= IN_D)
        continue;
      for (int oh = 0; oh < OUT_H; oh++) {
        const int ih = oh * STRIDE_H - PAD_H + kh * DILATION_H;

        if (ih < 0 || ih >= IN_H)
          continue;
        const long row_start = plane_start + (id * IN_H + ih) * IN_W;
        const long small_row = small_start + (od * OUT_H + oh) * OUT_W;

        for (int m0 = 0; m0 < OUT_W; m0 += VW) {
          /* Lanes past the row's end meet zeros on the small side; they
             are zeroed on the large side too, so that an infinity there
             cannot turn 0 * inf into NaN. */
          const intv inside = lane_index() < (intv)(OUT_W - m0);
          floatv y[KB];

#pragma unroll
          for (int k = 0; k < KB; k++)
            y[k] = k0 + k < KG
                       ? load_small(small, small_row + k * OUT_PLANE, m0,
                                    small_elements, inside)
                       : (floatv)(0.0f);
#pragma unroll
          for (int kw = 0; kw < KERNEL_W; kw++) {
            const int first = m0 * STRIDE_W - PAD_W + kw * DILATION_W;
            const intv columns = (intv)(first) + lane_index() * STRIDE_W;
            const intv mask = inside & (columns >= 0) & (columns < IN_W);
            const floatv x =
                load_large(large, row_start, first, large_elements, mask);

#pragma unroll
            for (int k = 0; k < KB; k++)
              acc[k][kw] = fma(y[k], x, acc[k][kw]);
          }
        }
      }
    }
  }

  for (int k = 0; k < KB && k0 + k < KG; k++)
    for (int kw = 0; kw < KERNEL_W; kw++)
      grad[((g * KG + k0 + k) * CG + c) * TAPS +
           (kd * KERNEL_H + kh) * KERNEL_W + kw] = lane_sum(acc[k][kw]);
}

__kernel void gcl_bias_grad(__global const float *gradient, long offset,
                            long image_stride, int batch, int plane,
                            __global float *grad_bias) {
  const int channel = get_global_id(0);
  float8 acc = (float8)(0.0f);
  float sum = 0.0f;
  float lanes[8];

  for (int n = 0; n < batch; n++) {
    __global const float *values =
        gradient + offset + n * image_stride + channel * plane;
    int i = 0;

    for (; i + 8 <= plane; i += 8)
      acc += vload8(0, values + i);
    for (; i < plane; i++)
      sum += values[i];
  }
  vstore8(acc, 0, lanes);
  for (int j = 0; j < 8; j++)
    sum += lanes[j];
  grad_bias[channel] = sum;
}
