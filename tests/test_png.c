/*
 * Tests of the PNG reader and writer: round trips, value mapping, stored
 * formats other than 8-bit RGB (made here with libpng directly), broken
 * files, temporary-file handling, and a real photograph from
 * examples/data. Every test works in a fresh folder made by mkdtemp under
 * /tmp and removed afterwards.
 */
#define _POSIX_C_SOURCE 200809L

#include <criterion/criterion.h>

#include <png.h>

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "png_io.h"

#define PATH_CAPACITY 512
#define ERROR_CAPACITY 1024

static char test_directory[64];

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

static void create_test_directory(void) {
  strcpy(test_directory, "/tmp/groupcl_test_png_XXXXXX");
  cr_assert_not_null(mkdtemp(test_directory), "mkdtemp failed: %s",
                     strerror(errno));
}

/* Removes the test folder with its files and one level of subfolders. */
static void remove_test_directory(void) {
  DIR *directory = opendir(test_directory);
  struct dirent *entry;
  char path[PATH_CAPACITY];

  if (directory == NULL)
    return;
  while ((entry = readdir(directory)) != NULL) {
    if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
      continue;
    snprintf(path, sizeof path, "%s/%s", test_directory, entry->d_name);
    if (unlink(path) != 0)
      rmdir(path);
  }
  closedir(directory);
  rmdir(test_directory);
}

TestSuite(png, .init = create_test_directory, .fini = remove_test_directory);

static void make_path(char *path, const char *name) {
  snprintf(path, PATH_CAPACITY, "%s/%s", test_directory, name);
}

/*
 * Lists the names in the test folder, separated by spaces, into names and
 * returns how many there are.
 */
static int list_test_directory(char *names, size_t names_size) {
  DIR *directory = opendir(test_directory);
  struct dirent *entry;
  int count = 0;

  cr_assert_not_null(directory, "cannot open %s: %s", test_directory,
                     strerror(errno));
  names[0] = '\0';
  while ((entry = readdir(directory)) != NULL) {
    if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
      continue;
    strncat(names, entry->d_name, names_size - strlen(names) - 2);
    strcat(names, " ");
    count++;
  }
  closedir(directory);
  return count;
}

static void write_file(const char *path, const void *bytes, size_t size) {
  FILE *file = fopen(path, "wb");

  cr_assert_not_null(file, "cannot create %s: %s", path, strerror(errno));
  cr_assert_eq(fwrite(bytes, 1, size, file), size, "short write to %s",
               path);
  cr_assert_eq(fclose(file), 0, "closing %s failed", path);
}

static void assert_contains(const char *text, const char *fragment) {
  cr_assert_not_null(strstr(text, fragment),
                     "message \"%s\" does not contain \"%s\"", text, fragment);
}

/* Converts a value read back from a PNG to the stored 8-bit sample. */
static int to_byte(float value) { return (int)(value * 255.0f + 0.5f); }

/* Checks pixel (x, y) of a planar [3][height][width] image. */
static void assert_pixel(const float *pixels, int width, int height, int x,
                         int y, int red, int green, int blue) {
  size_t plane = (size_t)width * (size_t)height;
  size_t index = (size_t)y * (size_t)width + (size_t)x;
  const int expected[3] = {red, green, blue};

  for (int channel = 0; channel < 3; channel++) {
    int actual = to_byte(pixels[(size_t)channel * plane + index]);

    cr_assert_eq(actual, expected[channel],
                 "pixel (%d, %d) channel %d is %d, expected %d", x, y, channel,
                 actual, expected[channel]);
  }
}

/* Reads path, which must succeed, and checks its size. */
static float *read_expecting_size(const char *path, int expected_width,
                                  int expected_height) {
  char error[ERROR_CAPACITY] = "";
  float *pixels = NULL;
  int width = 0;
  int height = 0;

  cr_assert_eq(png_read_rgb(path, &width, &height, &pixels, error,
                            sizeof error),
               0, "png_read_rgb failed: %s", error);
  cr_assert_not_null(pixels);
  cr_assert_eq(width, expected_width, "width %d, expected %d", width,
               expected_width);
  cr_assert_eq(height, expected_height, "height %d, expected %d", height,
               expected_height);
  return pixels;
}

/*
 * Checks that reading path fails, leaves the outputs empty, and gives a
 * message naming the file and containing fragment.
 */
static void expect_read_failure(const char *path, const char *fragment) {
  char error[ERROR_CAPACITY] = "";
  float stale_value = 0.5f;
  float *pixels = &stale_value;
  int width = 7;
  int height = 7;

  cr_assert_eq(png_read_rgb(path, &width, &height, &pixels, error,
                            sizeof error),
               -1, "reading %s should fail", path);
  cr_assert_null(pixels, "pixels must be NULL after a failed read");
  cr_assert_eq(width, 0);
  cr_assert_eq(height, 0);
  assert_contains(error, path);
  assert_contains(error, fragment);
}

/* A PNG in a stored format, written with libpng directly. */
typedef struct raw_png {
  int width;
  int height;
  int bit_depth;
  int color_type;
  int interlace;
  const unsigned char *data; /* rows in PNG byte order, row_bytes apart */
  size_t row_bytes;
  const png_color *palette;
  int palette_size;
  const png_byte *transparency; /* alpha of the first palette entries */
  int transparency_count;
} raw_png;

static int encode_raw_png(FILE *file, const raw_png *image) {
  png_structp png =
      png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png != NULL ? png_create_info_struct(png) : NULL;
  png_bytep rows[64];

  if (info == NULL || image->height > 64) {
    png_destroy_write_struct(&png, &info);
    return -1;
  }
  if (setjmp(png_jmpbuf(png)) != 0) {
    png_destroy_write_struct(&png, &info);
    return -1;
  }

  png_init_io(png, file);
  png_set_IHDR(png, info, (png_uint_32)image->width,
               (png_uint_32)image->height, image->bit_depth, image->color_type,
               image->interlace, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (image->palette != NULL)
    png_set_PLTE(png, info, image->palette, image->palette_size);
  if (image->transparency != NULL)
    png_set_tRNS(png, info, image->transparency, image->transparency_count,
                 NULL);
  png_write_info(png, info);

  for (int y = 0; y < image->height; y++)
    rows[y] = (png_bytep)(image->data + (size_t)y * image->row_bytes);
  png_write_image(png, rows);
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  return 0;
}

static void write_raw_png(const char *path, const raw_png *image) {
  FILE *file = fopen(path, "wb");
  int status;

  cr_assert_not_null(file, "cannot create %s: %s", path, strerror(errno));
  status = encode_raw_png(file, image);
  cr_assert_eq(fclose(file), 0, "closing %s failed", path);
  cr_assert_eq(status, 0, "libpng could not write the test image %s", path);
}

/* Writes a small valid RGB image with png_write, for the failure tests. */
static void write_sample_image(const char *path, int width, int height) {
  size_t count = 3 * (size_t)width * (size_t)height;
  float *pixels = malloc(count * sizeof(float));
  char error[ERROR_CAPACITY] = "";

  cr_assert_not_null(pixels);
  for (size_t i = 0; i < count; i++)
    pixels[i] = (float)((i * 37) % 256) / 255.0f;
  cr_assert_eq(png_write(path, 3, width, height, pixels, 0.0f, 1.0f, error,
                         sizeof error),
               0, "png_write failed: %s", error);
  free(pixels);
}

/* ------------------------------------------------------------------------ */
/* Round trips and value mapping                                            */

Test(png, rgb_round_trip) {
  enum { width = 5, height = 3 };
  float pixels[3 * width * height];
  char path[PATH_CAPACITY];
  char error[ERROR_CAPACITY] = "";
  float *read_back;

  /* Every sample k / 255 is stored exactly as the byte k. */
  for (int i = 0; i < 3 * width * height; i++)
    pixels[i] = (float)((i * 17 + 3) % 256) / 255.0f;
  make_path(path, "rgb.png");
  cr_assert_eq(png_write(path, 3, width, height, pixels, 0.0f, 1.0f, error,
                         sizeof error),
               0, "png_write failed: %s", error);

  read_back = read_expecting_size(path, width, height);
  for (int i = 0; i < 3 * width * height; i++)
    cr_assert_eq(to_byte(read_back[i]), (i * 17 + 3) % 256,
                 "sample %d read back as %d, written as %d", i,
                 to_byte(read_back[i]), (i * 17 + 3) % 256);
  free(read_back);
}

Test(png, grey_round_trip_replicates) {
  enum { width = 4, height = 6 };
  float pixels[width * height];
  char path[PATH_CAPACITY];
  char error[ERROR_CAPACITY] = "";
  float *read_back;

  for (int i = 0; i < width * height; i++)
    pixels[i] = (float)(i * 11) / 255.0f;
  make_path(path, "grey.png");
  cr_assert_eq(png_write(path, 1, width, height, pixels, 0.0f, 1.0f, error,
                         sizeof error),
               0, "png_write failed: %s", error);

  read_back = read_expecting_size(path, width, height);
  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++) {
      int grey = (y * width + x) * 11;

      assert_pixel(read_back, width, height, x, y, grey, grey, grey);
    }
  free(read_back);
}

Test(png, value_mapping_and_clamping) {
  /* low -1 and high 1: byte = (value + 1) / 2 * 255, rounded, clamped. */
  const float values[] = {-1.0f, 1.0f,     0.0f,      -2.0f, 5.0f,
                          NAN,   0.5f,     -INFINITY, INFINITY,
                          -0.99f};
  const int expected[] = {0, 255, 128, 0, 255, 0, 191, 0, 255, 1};
  enum { count = sizeof values / sizeof values[0] };
  char path[PATH_CAPACITY];
  char error[ERROR_CAPACITY] = "";
  float *read_back;

  make_path(path, "mapping.png");
  cr_assert_eq(png_write(path, 1, count, 1, values, -1.0f, 1.0f, error,
                         sizeof error),
               0, "png_write failed: %s", error);

  read_back = read_expecting_size(path, count, 1);
  for (int i = 0; i < count; i++)
    cr_assert_eq(to_byte(read_back[i]), expected[i],
                 "value %g mapped to %d, expected %d", (double)values[i],
                 to_byte(read_back[i]), expected[i]);
  free(read_back);
}

Test(png, inverted_range_maps_high_to_black) {
  const float values[] = {1.0f, 0.0f, 0.25f};
  const int expected[] = {0, 255, 191};
  char path[PATH_CAPACITY];
  char error[ERROR_CAPACITY] = "";
  float *read_back;

  make_path(path, "inverted.png");
  cr_assert_eq(png_write(path, 1, 3, 1, values, 1.0f, 0.0f, error,
                         sizeof error),
               0, "png_write failed: %s", error);

  read_back = read_expecting_size(path, 3, 1);
  for (int i = 0; i < 3; i++)
    cr_assert_eq(to_byte(read_back[i]), expected[i],
                 "value %g mapped to %d, expected %d", (double)values[i],
                 to_byte(read_back[i]), expected[i]);
  free(read_back);
}

/* ------------------------------------------------------------------------ */
/* Stored formats other than 8-bit RGB                                      */

Test(png, read_grey_1_bit) {
  const unsigned char data[] = {0xa1}; /* 1 0 1 0 0 0 0 1 */
  const raw_png image = {8, 1, 1, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                         data, 1, NULL, 0, NULL, 0};
  const int expected[] = {255, 0, 255, 0, 0, 0, 0, 255};
  char path[PATH_CAPACITY];
  float *pixels;

  make_path(path, "grey1.png");
  write_raw_png(path, &image);
  pixels = read_expecting_size(path, 8, 1);
  for (int x = 0; x < 8; x++)
    assert_pixel(pixels, 8, 1, x, 0, expected[x], expected[x], expected[x]);
  free(pixels);
}

Test(png, read_grey_16_bit) {
  /*
   * Big-endian samples scale to 8 bits with rounding (v / 257): 0x8080 is
   * 128 and 0xffff is 255, and 0x00c0 (0.75) and 0xff40 (254.26) show that
   * the reader rounds instead of keeping the high byte (0 and 255).
   */
  const unsigned char data[] = {0x00, 0x00, 0x80, 0x80, 0xff,
                                0xff, 0x00, 0xc0, 0xff, 0x40};
  const raw_png image = {5, 1, 16, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                         data, 10, NULL, 0, NULL, 0};
  const int expected[] = {0, 128, 255, 1, 254};
  char path[PATH_CAPACITY];
  float *pixels;

  make_path(path, "grey16.png");
  write_raw_png(path, &image);
  pixels = read_expecting_size(path, 5, 1);
  for (int x = 0; x < 5; x++)
    assert_pixel(pixels, 5, 1, x, 0, expected[x], expected[x], expected[x]);
  free(pixels);
}

Test(png, read_palette_with_transparency) {
  const png_color palette[] = {
      {255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {10, 20, 30}};
  const png_byte alpha[] = {0, 128}; /* entries 0 and 1 are transparent */
  const unsigned char data[] = {0x1b}; /* 2-bit indices 0, 1, 2, 3 */
  const raw_png image = {4,       1, 2, PNG_COLOR_TYPE_PALETTE,
                         PNG_INTERLACE_NONE, data,  1, palette,
                         4,       alpha, 2};
  char path[PATH_CAPACITY];
  float *pixels;

  make_path(path, "palette.png");
  write_raw_png(path, &image);
  pixels = read_expecting_size(path, 4, 1);
  assert_pixel(pixels, 4, 1, 0, 0, 255, 0, 0);
  assert_pixel(pixels, 4, 1, 1, 0, 0, 255, 0);
  assert_pixel(pixels, 4, 1, 2, 0, 0, 0, 255);
  assert_pixel(pixels, 4, 1, 3, 0, 10, 20, 30);
  free(pixels);
}

Test(png, read_rgba_16_bit_drops_alpha) {
  /* Samples b * 257 scale exactly to b. Alpha 0 must not darken pixel 0. */
  const unsigned char data[] = {
      0xff, 0xff, 0x80, 0x80, 0x00, 0x00, 0x00, 0x00,
      0x01, 0x01, 0x7f, 0x7f, 0xfe, 0xfe, 0xff, 0xff,
  };
  const raw_png image = {2, 1, 16, PNG_COLOR_TYPE_RGB_ALPHA,
                         PNG_INTERLACE_NONE, data, 16, NULL, 0, NULL, 0};
  char path[PATH_CAPACITY];
  float *pixels;

  make_path(path, "rgba16.png");
  write_raw_png(path, &image);
  pixels = read_expecting_size(path, 2, 1);
  assert_pixel(pixels, 2, 1, 0, 0, 255, 128, 0);
  assert_pixel(pixels, 2, 1, 1, 0, 1, 127, 254);
  free(pixels);
}

Test(png, read_grey_alpha_drops_alpha) {
  const unsigned char data[] = {77, 0, 200, 255};
  const raw_png image = {2, 1, 8, PNG_COLOR_TYPE_GRAY_ALPHA,
                         PNG_INTERLACE_NONE, data, 4, NULL, 0, NULL, 0};
  char path[PATH_CAPACITY];
  float *pixels;

  make_path(path, "grey_alpha.png");
  write_raw_png(path, &image);
  pixels = read_expecting_size(path, 2, 1);
  assert_pixel(pixels, 2, 1, 0, 0, 77, 77, 77);
  assert_pixel(pixels, 2, 1, 1, 0, 200, 200, 200);
  free(pixels);
}

Test(png, read_interlaced_rgb) {
  enum { width = 9, height = 7 };
  unsigned char data[height][width * 3];
  const raw_png image = {width, height, 8, PNG_COLOR_TYPE_RGB,
                         PNG_INTERLACE_ADAM7, &data[0][0], width * 3,
                         NULL, 0, NULL, 0};
  char path[PATH_CAPACITY];
  float *pixels;

  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++) {
      data[y][3 * x] = (unsigned char)(x * 20);
      data[y][3 * x + 1] = (unsigned char)(y * 30);
      data[y][3 * x + 2] = (unsigned char)(x + y * width);
    }
  make_path(path, "interlaced.png");
  write_raw_png(path, &image);

  pixels = read_expecting_size(path, width, height);
  for (int y = 0; y < height; y++)
    for (int x = 0; x < width; x++)
      assert_pixel(pixels, width, height, x, y, x * 20, y * 30,
                   x + y * width);
  free(pixels);
}

/* ------------------------------------------------------------------------ */
/* Reading failures                                                         */

Test(png, read_non_png_fails) {
  char path[PATH_CAPACITY];

  make_path(path, "text.png");
  write_file(path, "this is not an image\n", 21);
  expect_read_failure(path, "not a PNG file");
}

Test(png, read_empty_file_fails) {
  char path[PATH_CAPACITY];

  make_path(path, "empty.png");
  write_file(path, "", 0);
  expect_read_failure(path, "not a PNG file");
}

Test(png, read_missing_file_fails) {
  char path[PATH_CAPACITY];

  make_path(path, "missing.png");
  expect_read_failure(path, strerror(ENOENT));
}

Test(png, read_truncated_file_fails) {
  char path[PATH_CAPACITY];

  make_path(path, "truncated.png");
  write_sample_image(path, 20, 20);
  cr_assert_eq(truncate(path, 60), 0, "truncate failed: %s", strerror(errno));
  expect_read_failure(path, "cannot read PNG file");
}

Test(png, read_corrupt_header_reports_libpng_message) {
  char path[PATH_CAPACITY];
  FILE *file;

  /* Byte 16 is the top byte of the width, inside the IHDR chunk's CRC. */
  make_path(path, "corrupt.png");
  write_sample_image(path, 4, 4);
  file = fopen(path, "r+b");
  cr_assert_not_null(file);
  cr_assert_eq(fseek(file, 16, SEEK_SET), 0);
  cr_assert_eq(fputc(0x7f, file), 0x7f);
  cr_assert_eq(fclose(file), 0);
  expect_read_failure(path, "CRC");
}

/* ------------------------------------------------------------------------ */
/* Writing failures and temporary files                                     */

Test(png, write_to_missing_folder_fails) {
  const float pixels[3] = {0.0f, 0.5f, 1.0f};
  char path[PATH_CAPACITY];
  char error[ERROR_CAPACITY] = "";
  char names[PATH_CAPACITY];
  struct stat status;

  make_path(path, "no_such_folder/out.png");
  cr_assert_eq(png_write(path, 3, 1, 1, pixels, 0.0f, 1.0f, error,
                         sizeof error),
               -1);
  assert_contains(error, path);
  assert_contains(error, strerror(ENOENT));
  cr_assert_eq(stat(path, &status), -1, "%s exists after a failure", path);
  cr_assert_eq(list_test_directory(names, sizeof names), 0,
               "the test folder holds: %s", names);
}

Test(png, write_leaves_no_temporary_file) {
  char path[PATH_CAPACITY];
  char names[PATH_CAPACITY];

  make_path(path, "out.png");
  write_sample_image(path, 3, 2);
  write_sample_image(path, 5, 4);
  cr_assert_eq(list_test_directory(names, sizeof names), 1,
               "the test folder holds: %s", names);
  cr_assert_str_eq(names, "out.png ");
  free(read_expecting_size(path, 5, 4));
}

Test(png, write_over_folder_cleans_up) {
  const float pixels[3] = {0.0f, 0.5f, 1.0f};
  char path[PATH_CAPACITY];
  char error[ERROR_CAPACITY] = "";
  char names[PATH_CAPACITY];

  /* rename() cannot replace a folder, so the last step fails. */
  make_path(path, "a_folder");
  cr_assert_eq(mkdir(path, 0700), 0, "mkdir %s: %s", path, strerror(errno));
  cr_assert_eq(png_write(path, 3, 1, 1, pixels, 0.0f, 1.0f, error,
                         sizeof error),
               -1);
  assert_contains(error, path);
  assert_contains(error, "rename");
  cr_assert_eq(list_test_directory(names, sizeof names), 1,
               "the test folder holds: %s", names);
  cr_assert_str_eq(names, "a_folder ");
}

Test(png, write_rejects_invalid_arguments) {
  static const struct {
    int channels;
    int width;
    int height;
    float low;
    float high;
    const char *fragment;
  } cases[] = {
      {2, 1, 1, 0.0f, 1.0f, "2 channels"},
      {4, 1, 1, 0.0f, 1.0f, "4 channels"},
      {3, 0, 1, 0.0f, 1.0f, "0 x 1"},
      {3, 1, -2, 0.0f, 1.0f, "1 x -2"},
      {3, 1, 1, 0.5f, 0.5f, "must be finite and differ"},
      {3, 1, 1, NAN, 1.0f, "must be finite and differ"},
      {3, 1, 1, 0.0f, INFINITY, "must be finite and differ"},
  };
  const float pixels[3] = {0.0f, 0.5f, 1.0f};
  char path[PATH_CAPACITY];
  char error[ERROR_CAPACITY];
  char names[PATH_CAPACITY];

  make_path(path, "invalid.png");
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    error[0] = '\0';
    cr_assert_eq(png_write(path, cases[i].channels, cases[i].width,
                           cases[i].height, pixels, cases[i].low,
                           cases[i].high, error, sizeof error),
                 -1, "case %zu should fail", i);
    assert_contains(error, path);
    assert_contains(error, cases[i].fragment);
  }
  cr_assert_eq(list_test_directory(names, sizeof names), 0,
               "the test folder holds: %s", names);
}

Test(png, write_mode_follows_umask) {
  char path[PATH_CAPACITY];
  struct stat status;

  /* Criterion runs each test in its own process, so this umask stays here. */
  umask(027);
  make_path(path, "mode.png");
  write_sample_image(path, 2, 2);
  cr_assert_eq(stat(path, &status), 0);
  cr_assert_eq(status.st_mode & 0777, 0640, "mode is %o, expected 640",
               (unsigned)(status.st_mode & 0777));
}

/* ------------------------------------------------------------------------ */
/* A real photograph                                                        */

Test(png, read_chelsea_photograph) {
  /* make check sets srcdir; a run from the top of the tree needs none. */
  const char *source_directory = getenv("srcdir");
  char path[PATH_CAPACITY];
  size_t plane = 451 * 300;
  float minimum = 1.0f;
  float maximum = 0.0f;
  size_t different_channels = 0;
  float *pixels;

  snprintf(path, sizeof path, "%s/examples/data/chelsea.png",
           source_directory != NULL ? source_directory : ".");
  pixels = read_expecting_size(path, 451, 300);

  for (size_t i = 0; i < 3 * plane; i++) {
    cr_assert(pixels[i] >= 0.0f && pixels[i] <= 1.0f,
              "sample %zu is %g, outside [0, 1]", i, (double)pixels[i]);
    minimum = pixels[i] < minimum ? pixels[i] : minimum;
    maximum = pixels[i] > maximum ? pixels[i] : maximum;
  }
  for (size_t i = 0; i < plane; i++)
    different_channels += pixels[i] != pixels[2 * plane + i];

  cr_assert(maximum - minimum > 0.5f,
            "samples span only [%g, %g]; expected a real photograph",
            (double)minimum, (double)maximum);
  cr_assert(different_channels > plane / 10,
            "red and blue differ in only %zu of %zu pixels; expected colour",
            different_channels, plane);
  free(pixels);
}
