/*
 * gcl_add_bias: output[n][k][position] += bias[k], in place, for a tensor
 * whose image n starts at element offset + n * image_stride.
 *
 * Work-items: global size (OUT_SIZE, NUM_OUTPUT, batch); one element each.
 * The offset and the image term are 64-bit; the index inside one image is
 * an int, and the host checks that one image holds fewer than 2^31 floats.
 */

#ifndef NUM_OUTPUT
#error "NUM_OUTPUT (output channels) must be defined"
#endif
#ifndef OUT_SIZE
#error "OUT_SIZE (output elements per channel) must be defined"
#endif

__kernel void gcl_add_bias(__global float *output, long offset,
                           long image_stride, __global const float *bias) {
  const int position = get_global_id(0);
  const int k = get_global_id(1);
  const long n = get_global_id(2);

  output[offset + n * image_stride + k * OUT_SIZE + position] += bias[k];
}
