/*
 * gcl_im2col: expands one image into the column matrix of Caffe's GEMM path,
 *   col[channel * KERNEL_SIZE + tap][position],
 * where tap runs over the filter window (kd, kh, kw) and position over the
 * output (od, oh, ow). Taps that fall into the zero padding are written as 0.
 *
 * Work-items: global size (OUT_SIZE, CHANNELS); one work-item writes the
 * KERNEL_SIZE entries of one (channel, output position) pair.
 *
 * Every size is a compile-time constant (-D). 1-D and 2-D layers use size-1
 * leading axes. The image's offset is 64-bit, so the input may be a buffer
 * of more than 2^31 floats. Indices inside the image and the column matrix
 * are ints: the host checks that both hold fewer than 2^31 floats.
 */

#ifndef CHANNELS
#error "CHANNELS (input channels) must be defined"
#endif
/* Input spatial sizes (depth, height, width). */
#ifndef IN_D
#define IN_D 1
#endif
#ifndef IN_H
#define IN_H 1
#endif
#ifndef IN_W
#error "IN_W must be defined"
#endif
/* Output spatial sizes. */
#ifndef OUT_D
#define OUT_D 1
#endif
#ifndef OUT_H
#define OUT_H 1
#endif
#ifndef OUT_W
#error "OUT_W must be defined"
#endif
/* Filter window, stride, pad and dilation per axis. */
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

#define IN_SIZE (IN_D * IN_H * IN_W)
#define OUT_SIZE (OUT_D * OUT_H * OUT_W)
#define KERNEL_SIZE (KERNEL_D * KERNEL_H * KERNEL_W)

/* input_offset: first element of the image, in floats. */
__kernel void gcl_im2col(__global const float *input, long input_offset,
                         __global float *col) {
  const int position = get_global_id(0);
  const int channel = get_global_id(1);
  const int ow = position % OUT_W;
  const int oh = (position / OUT_W) % OUT_H;
  const int od = position / (OUT_W * OUT_H);
  __global const float *plane = input + input_offset + channel * IN_SIZE;
  __global float *column = col + channel * KERNEL_SIZE * OUT_SIZE + position;
  int tap = 0;

  for (int kd = 0; kd < KERNEL_D; kd++) {
    const int z = od * STRIDE_D - PAD_D + kd * DILATION_D;

    for (int kh = 0; kh < KERNEL_H; kh++) {
      const int y = oh * STRIDE_H - PAD_H + kh * DILATION_H;

      for (int kw = 0; kw < KERNEL_W; kw++) {
        const int x = ow * STRIDE_W - PAD_W + kw * DILATION_W;
        const bool inside = z >= 0 && z < IN_D && y >= 0 && y < IN_H &&
                            x >= 0 && x < IN_W;

        column[tap * OUT_SIZE] =
            inside ? plane[(z * IN_H + y) * IN_W + x] : 0.0f;
        tap++;
      }
    }
  }
}
