/*
 * PNG reading and writing through libpng 1.6's classic API.
 *
 * libpng reports errors by calling an error function that must not return,
 * so each call sequence runs in a function that first sets the jump buffer
 * with setjmp. Everything that needs freeing lives in a state struct owned
 * by the caller, so a longjmp loses no resources: the caller frees them
 * whichever way the decoding or encoding ended.
 */
#define _POSIX_C_SOURCE 200809L

#include "png_io.h"

#include "atomic_file.h"

#include <png.h>

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__GNUC__)
#define PNG_IO_PRINTF_FORMAT(format_index, first_argument) \
  __attribute__((format(printf, format_index, first_argument)))
#else
#define PNG_IO_PRINTF_FORMAT(format_index, first_argument)
#endif

/* libpng's messages are one short line, and longer ones are cut. */
#define PNG_MESSAGE_CAPACITY 256

#define PNG_SIGNATURE_SIZE 8

static void set_error(char *error, size_t error_size, const char *format, ...)
    PNG_IO_PRINTF_FORMAT(3, 4);

static void set_error(char *error, size_t error_size, const char *format,
                      ...) {
  va_list arguments;

  if (error == NULL || error_size == 0)
    return;

  va_start(arguments, format);
  vsnprintf(error, error_size, format, arguments);
  va_end(arguments);
}

/* Stores libpng's message in the buffer given as error pointer and jumps. */
static void store_png_error(png_structp png, png_const_charp message) {
  char *buffer = png_get_error_ptr(png);

  snprintf(buffer, PNG_MESSAGE_CAPACITY, "%s", message);
  png_longjmp(png, 1);
}

/*
 * Drops libpng's warnings, which concern ancillary data such as a colour
 * profile that does not match and never the pixel values, so that the tool
 * does not print them.
 */
static void ignore_png_warning(png_structp png, png_const_charp message) {
  (void)png;
  (void)message;
}

/* ------------------------------------------------------------------------ */
/* Reading                                                                  */

/* Resources of one read, freed by release_reader however the read ended. */
typedef struct png_reader {
  FILE *file;
  png_structp png;
  png_infop info;
  unsigned char *bytes; /* interleaved 8-bit RGB, height rows of width * 3 */
  png_bytep *rows;
  png_uint_32 width;
  png_uint_32 height;
  char message[PNG_MESSAGE_CAPACITY];
} png_reader;

static void release_reader(png_reader *reader) {
  if (reader->png != NULL)
    png_destroy_read_struct(&reader->png, &reader->info, NULL);
  if (reader->file != NULL)
    fclose(reader->file); /* read-only, so a close error loses nothing */
  free(reader->rows);
  free(reader->bytes);
}

static int check_signature(png_reader *reader, const char *path, char *error,
                           size_t error_size) {
  unsigned char signature[PNG_SIGNATURE_SIZE];

  if (fread(signature, 1, sizeof signature, reader->file) !=
          sizeof signature ||
      png_sig_cmp(signature, 0, sizeof signature) != 0) {
    set_error(error, error_size,
              "%s is not a PNG file: it does not start with the PNG "
              "signature",
              path);
    return -1;
  }
  return 0;
}

/*
 * Requests 8-bit RGB output from libpng whatever the stored format. Palettes
 * and grey below 8 bits are expanded, 16 bits are scaled with rounding, alpha
 * (a palette's tRNS chunk too) is dropped and grey is replicated. No gamma
 * correction is applied, so the values are the stored ones.
 */
static void request_rgb8(png_structp png, png_infop info) {
  png_byte color_type = png_get_color_type(png, info);
  png_byte bit_depth = png_get_bit_depth(png, info);

  if (color_type == PNG_COLOR_TYPE_PALETTE)
    png_set_palette_to_rgb(png);
  if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8)
    png_set_expand_gray_1_2_4_to_8(png);
  if (bit_depth == 16)
    png_set_scale_16(png);
  if ((color_type & PNG_COLOR_MASK_ALPHA) != 0 ||
      png_get_valid(png, info, PNG_INFO_tRNS) != 0)
    png_set_strip_alpha(png);
  if ((color_type & PNG_COLOR_MASK_COLOR) == 0)
    png_set_gray_to_rgb(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);
}

/* Allocates the row buffer for the image size that libpng reported. */
static int allocate_rows(png_reader *reader, size_t row_bytes) {
  size_t height = reader->height;

  if (height == 0) {
    snprintf(reader->message, sizeof reader->message, "the image has no rows");
    return -1;
  }
  if (row_bytes != (size_t)reader->width * 3 ||
      png_get_channels(reader->png, reader->info) != 3 ||
      png_get_bit_depth(reader->png, reader->info) != 8) {
    snprintf(reader->message, sizeof reader->message,
             "libpng did not convert the image to 8-bit RGB");
    return -1;
  }
  if (height > SIZE_MAX / sizeof(png_bytep) || row_bytes > SIZE_MAX / height) {
    snprintf(reader->message, sizeof reader->message,
             "the image of %lu x %lu pixels is too large",
             (unsigned long)reader->width, (unsigned long)reader->height);
    return -1;
  }

  reader->bytes = malloc(row_bytes * height);
  reader->rows = malloc(height * sizeof(png_bytep));
  if (reader->bytes == NULL || reader->rows == NULL) {
    snprintf(reader->message, sizeof reader->message,
             "out of memory for an image of %lu x %lu pixels",
             (unsigned long)reader->width, (unsigned long)reader->height);
    return -1;
  }
  for (size_t y = 0; y < height; y++)
    reader->rows[y] = reader->bytes + y * row_bytes;
  return 0;
}

/*
 * Decodes the whole image into reader->bytes. On failure returns -1 with the
 * reason in reader->message. Locals changed after setjmp are not used after
 * a longjmp, as C requires.
 */
static int decode_rgb8(png_reader *reader) {
  if (setjmp(png_jmpbuf(reader->png)) != 0)
    return -1;

  png_init_io(reader->png, reader->file);
  png_set_sig_bytes(reader->png, PNG_SIGNATURE_SIZE);
  png_read_info(reader->png, reader->info);
  reader->width = png_get_image_width(reader->png, reader->info);
  reader->height = png_get_image_height(reader->png, reader->info);

  request_rgb8(reader->png, reader->info);
  if (allocate_rows(reader, png_get_rowbytes(reader->png, reader->info)) != 0)
    return -1;

  png_read_image(reader->png, reader->rows);
  png_read_end(reader->png, NULL);
  return 0;
}

/* Converts interleaved 8-bit RGB into a planar float array in [0, 1]. */
static float *convert_to_planar(const png_reader *reader) {
  size_t width = reader->width;
  size_t height = reader->height;
  size_t plane = width * height;
  float *pixels;

  if (plane > SIZE_MAX / 3 / sizeof(float))
    return NULL;
  pixels = malloc(3 * plane * sizeof(float));
  if (pixels == NULL)
    return NULL;

  for (size_t y = 0; y < height; y++) {
    const unsigned char *row = reader->rows[y];

    for (size_t x = 0; x < width; x++)
      for (size_t channel = 0; channel < 3; channel++)
        pixels[channel * plane + y * width + x] =
            (float)row[3 * x + channel] / 255.0f;
  }
  return pixels;
}

/*
 * Opens the file, checks its signature and creates libpng's state. On
 * failure, writes the reason into error.
 */
static int open_reader(png_reader *reader, const char *path, char *error,
                       size_t error_size) {
  reader->file = fopen(path, "rb");
  if (reader->file == NULL) {
    set_error(error, error_size, "cannot open %s: %s", path, strerror(errno));
    return -1;
  }
  if (check_signature(reader, path, error, error_size) != 0)
    return -1;

  reader->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, reader->message,
                                       store_png_error, ignore_png_warning);
  if (reader->png != NULL)
    reader->info = png_create_info_struct(reader->png);
  if (reader->png == NULL || reader->info == NULL) {
    set_error(error, error_size,
              "cannot read %s: libpng could not allocate its state", path);
    return -1;
  }
  return 0;
}

int png_read_rgb(const char *path, int *width, int *height, float **pixels,
                 char *error, size_t error_size) {
  png_reader reader;
  int status;

  if (path == NULL || width == NULL || height == NULL || pixels == NULL) {
    set_error(error, error_size,
              "png_read_rgb: path, width, height and pixels must not be NULL");
    return -1;
  }
  *width = 0;
  *height = 0;
  *pixels = NULL;
  memset(&reader, 0, sizeof reader);

  status = open_reader(&reader, path, error, error_size);
  if (status == 0 && decode_rgb8(&reader) != 0) {
    set_error(error, error_size, "cannot read PNG file %s: %s", path,
              reader.message);
    status = -1;
  }

  /* libpng 1.6's default user limits keep both sizes at most 1000000. */
  if (status == 0 && (reader.width > INT_MAX || reader.height > INT_MAX)) {
    set_error(error, error_size, "%s: the image of %lu x %lu is too large",
              path, (unsigned long)reader.width, (unsigned long)reader.height);
    status = -1;
  }
  if (status == 0) {
    *pixels = convert_to_planar(&reader);
    if (*pixels == NULL) {
      set_error(error, error_size,
                "%s: out of memory for the float image of %lu x %lu pixels",
                path, (unsigned long)reader.width,
                (unsigned long)reader.height);
      status = -1;
    }
  }
  if (status == 0) {
    *width = (int)reader.width;
    *height = (int)reader.height;
  }

  release_reader(&reader);
  return status;
}

/* ------------------------------------------------------------------------ */
/* Writing                                                                  */

/* Resources of one write, freed by the caller however the write ended. */
typedef struct png_writer {
  FILE *file;
  png_structp png;
  png_infop info;
  char message[PNG_MESSAGE_CAPACITY];
} png_writer;

/*
 * Maps value linearly so that low becomes 0 and high becomes 255, clamps
 * outside that range and rounds to nearest. NaN maps to 0.
 */
static unsigned char map_to_byte(float value, double low, double high) {
  double scaled;

  if (isnan(value))
    return 0;
  scaled = ((double)value - low) / (high - low) * 255.0;
  if (scaled <= 0.0)
    return 0;
  if (scaled >= 255.0)
    return 255;
  return (unsigned char)(scaled + 0.5);
}

/* Converts planar floats to interleaved 8-bit samples, malloc'ed. */
static unsigned char *convert_to_bytes(int channels, size_t width,
                                       size_t height, const float *pixels,
                                       float low, float high) {
  size_t plane = width * height;
  unsigned char *bytes = malloc(plane * (size_t)channels);

  if (bytes == NULL)
    return NULL;

  for (size_t index = 0; index < plane; index++)
    for (int channel = 0; channel < channels; channel++)
      bytes[index * (size_t)channels + (size_t)channel] =
          map_to_byte(pixels[(size_t)channel * plane + index], low, high);
  return bytes;
}

/*
 * Encodes the image into writer->file. On failure returns -1 with libpng's
 * reason in writer->message.
 */
static int encode_png(png_writer *writer, int channels, int width, int height,
                      const unsigned char *bytes) {
  size_t row_bytes = (size_t)width * (size_t)channels;

  if (setjmp(png_jmpbuf(writer->png)) != 0)
    return -1;

  png_init_io(writer->png, writer->file);
  png_set_IHDR(writer->png, writer->info, (png_uint_32)width,
               (png_uint_32)height, 8,
               channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB,
               PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  png_write_info(writer->png, writer->info);

  for (int y = 0; y < height; y++)
    png_write_row(writer->png, bytes + (size_t)y * row_bytes);
  png_write_end(writer->png, NULL);
  return 0;
}


/* Encodes the image and closes the file, which the writer owns. */
static int write_and_close(png_writer *writer, const char *path, int channels,
                           int width, int height, const unsigned char *bytes,
                           char *error, size_t error_size) {
  int status = 0;

  writer->png = png_create_write_struct(PNG_LIBPNG_VER_STRING, writer->message,
                                        store_png_error, ignore_png_warning);
  if (writer->png != NULL)
    writer->info = png_create_info_struct(writer->png);

  if (writer->png == NULL || writer->info == NULL) {
    set_error(error, error_size,
              "cannot write %s: libpng could not allocate its state", path);
    status = -1;
  } else if (encode_png(writer, channels, width, height, bytes) != 0) {
    set_error(error, error_size, "cannot write PNG file %s: %s", path,
              writer->message);
    status = -1;
  }
  if (writer->png != NULL)
    png_destroy_write_struct(&writer->png, &writer->info);

  if (status == 0 && (fflush(writer->file) != 0 ||
                      fsync(fileno(writer->file)) != 0)) {
    set_error(error, error_size, "writing %s failed: %s", path,
              strerror(errno));
    status = -1;
  }
  if (fclose(writer->file) != 0 && status == 0) {
    set_error(error, error_size, "writing %s failed: %s", path,
              strerror(errno));
    status = -1;
  }
  writer->file = NULL;
  return status;
}

static int check_write_arguments(const char *path, int channels, int width,
                                 int height, const float *pixels, float low,
                                 float high, char *error, size_t error_size) {
  if (channels != 1 && channels != 3) {
    set_error(error, error_size,
              "%s: cannot write %d channels; use 1 for grey or 3 for RGB",
              path, channels);
    return -1;
  }
  if (width <= 0 || height <= 0) {
    set_error(error, error_size,
              "%s: invalid image size %d x %d; both must be at least 1", path,
              width, height);
    return -1;
  }
  if ((size_t)width > SIZE_MAX / (size_t)height / 3) {
    set_error(error, error_size, "%s: the image of %d x %d is too large",
              path, width, height);
    return -1;
  }
  if (pixels == NULL) {
    set_error(error, error_size, "%s: the pixels are NULL", path);
    return -1;
  }
  if (!isfinite(low) || !isfinite(high) || low == high) {
    set_error(error, error_size,
              "%s: invalid value range [%g, %g]; low and high must be finite "
              "and differ",
              path, (double)low, (double)high);
    return -1;
  }
  return 0;
}

int png_write(const char *path, int channels, int width, int height,
              const float *pixels, float low, float high, char *error,
              size_t error_size) {
  png_writer writer;
  unsigned char *bytes;
  char *temporary_path = NULL;
  int status;

  if (path == NULL) {
    set_error(error, error_size, "png_write: path must not be NULL");
    return -1;
  }
  if (check_write_arguments(path, channels, width, height, pixels, low, high,
                            error, error_size) != 0)
    return -1;

  bytes = convert_to_bytes(channels, (size_t)width, (size_t)height, pixels,
                           low, high);
  if (bytes == NULL) {
    set_error(error, error_size, "%s: out of memory for %d x %d pixels", path,
              width, height);
    return -1;
  }

  memset(&writer, 0, sizeof writer);
  writer.file = atomic_file_create(path, &temporary_path, error, error_size);
  if (writer.file == NULL) {
    free(bytes);
    return -1;
  }
  status = write_and_close(&writer, path, channels, width, height, bytes,
                           error, error_size);
  free(bytes);
  if (status != 0) {
    atomic_file_discard(temporary_path);
    return -1;
  }
  return atomic_file_publish(temporary_path, path, error, error_size);
}
