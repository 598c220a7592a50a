/*
 * PNG input and output for the demo, through libpng. Images are held as
 * planar float arrays [channels][height][width] with values in [0, 1].
 */
#ifndef GROUPCL_TOOLS_PNG_IO_H
#define GROUPCL_TOOLS_PNG_IO_H

#include <stddef.h>

/*
 * Reads a PNG file of any bit depth and colour type, converted to 8-bit RGB
 * (grey is replicated, alpha is dropped), into a malloc'ed planar array
 * *pixels of shape [3][height][width]. Returns 0 on success, else -1 with a
 * message naming the file in error.
 */
int png_read_rgb(const char *path, int *width, int *height, float **pixels,
                 char *error, size_t error_size);

/*
 * Writes a planar image [channels][height][width] (channels 1 for grey or 3
 * for RGB) as an 8-bit PNG. Values are mapped linearly so that `low` becomes
 * 0 and `high` becomes 255, clamping outside. The file is written to a
 * temporary name and renamed into place only on success. Returns 0 on
 * success, else -1 with a message in error.
 */
int png_write(const char *path, int channels, int width, int height,
              const float *pixels, float low, float high, char *error,
              size_t error_size);

#endif
