/*
 * Tests of the .npy reader and writer: round trips, headers written by hand
 * in every supported version, each kind of malformed file, and the
 * temporary-file handling of npy_write. Every test works in a fresh folder
 * made by mkdtemp under /tmp and removed afterwards.
 */
#define _POSIX_C_SOURCE 200809L

#include <criterion/criterion.h>

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
#include "npy.h"

#define PATH_CAPACITY 512
#define ERROR_CAPACITY 1024

static char test_directory[64];

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */

static void create_test_directory(void) {
  strcpy(test_directory, "/tmp/groupcl_test_npy_XXXXXX");
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

TestSuite(npy, .init = create_test_directory, .fini = remove_test_directory);

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

/* Reads a whole file into a malloc'ed buffer and stores its size. */
static unsigned char *read_file(const char *path, size_t *size) {
  FILE *file = fopen(path, "rb");
  unsigned char *bytes;
  long length;

  cr_assert_not_null(file, "cannot open %s: %s", path, strerror(errno));
  cr_assert_eq(fseek(file, 0, SEEK_END), 0);
  length = ftell(file);
  cr_assert(length >= 0, "ftell on %s failed", path);
  rewind(file);

  bytes = malloc((size_t)length + 1);
  cr_assert_not_null(bytes);
  cr_assert_eq(fread(bytes, 1, (size_t)length, file), (size_t)length);
  fclose(file);
  *size = (size_t)length;
  return bytes;
}

/*
 * Builds a .npy file in memory and returns its size. The file has the magic,
 * version major.0 and the header length field (2 bytes for version 1, else
 * 4). The dict follows, padded with spaces and a '\n' so that the data start
 * at a multiple of alignment (1 for no padding), and then the body.
 */
static size_t build_npy(unsigned char *buffer, size_t capacity, int major,
                        const char *dict, size_t alignment, const void *body,
                        size_t body_size) {
  size_t preamble = major == 1 ? 10 : 12;
  size_t header = strlen(dict) + 1;
  size_t total;

  while ((preamble + header) % alignment != 0)
    header++;
  total = preamble + header + body_size;
  cr_assert(total <= capacity, "test file of %zu bytes exceeds %zu", total,
            capacity);

  memcpy(buffer, "\x93NUMPY", 6);
  buffer[6] = (unsigned char)major;
  buffer[7] = 0;
  for (size_t i = 0; i < preamble - 8; i++)
    buffer[8 + i] = (unsigned char)((header >> (8 * i)) & 0xff);

  memset(buffer + preamble, ' ', header);
  memcpy(buffer + preamble, dict, strlen(dict));
  buffer[preamble + header - 1] = '\n';
  if (body_size > 0)
    memcpy(buffer + preamble + header, body, body_size);
  return total;
}

/* Writes a version 1.0 file, 64-byte aligned, with the given dict and body. */
static void write_npy_v1(const char *path, const char *dict,
                         size_t body_size) {
  static unsigned char buffer[4096];
  static const unsigned char zeros[1024];
  size_t size;

  cr_assert(body_size <= sizeof zeros);
  size = build_npy(buffer, sizeof buffer, 1, dict, 64, zeros, body_size);
  write_file(path, buffer, size);
}

static void assert_contains(const char *text, const char *fragment) {
  cr_assert_not_null(strstr(text, fragment),
                     "message \"%s\" does not contain \"%s\"", text, fragment);
}

/*
 * Checks that reading path fails, leaves the array empty, and gives a
 * message naming the file and containing each fragment (second may be NULL).
 */
static void expect_read_failure(const char *path, const char *fragment,
                                const char *second_fragment) {
  float stale_value = 1.0f;
  npy_array array = {.rank = 3, .count = 7, .data = &stale_value};
  char error[ERROR_CAPACITY] = "";

  cr_assert_eq(npy_read(path, &array, error, sizeof error), -1,
               "reading %s should fail", path);
  cr_assert_null(array.data, "data must be NULL after a failed read");
  cr_assert_eq(array.rank, 0);
  cr_assert_eq(array.count, 0);
  assert_contains(error, path);
  assert_contains(error, fragment);
  if (second_fragment != NULL)
    assert_contains(error, second_fragment);
}

/* Fills values with a pattern that differs in every element and byte. */
static void fill_pattern(float *values, size_t count) {
  for (size_t i = 0; i < count; i++)
    values[i] = (float)i * 0.37f - 11.5f + 1e-3f * (float)(i % 7);
}

/* Writes an array of the given shape, reads it back and compares bits. */
static void check_round_trip(int rank, const int64_t *shape) {
  char path[PATH_CAPACITY];
  char error[ERROR_CAPACITY] = "";
  size_t count = 1;
  float *values;
  npy_array array;

  for (int axis = 0; axis < rank; axis++)
    count *= (size_t)shape[axis];
  values = malloc((count > 0 ? count : 1) * sizeof(float));
  cr_assert_not_null(values);
  fill_pattern(values, count);
  make_path(path, "round_trip.npy");

  cr_assert_eq(npy_write(path, rank, shape, values, error, sizeof error), 0,
               "rank %d: npy_write failed: %s", rank, error);
  cr_assert_eq(npy_read(path, &array, error, sizeof error), 0,
               "rank %d: npy_read failed: %s", rank, error);

  cr_assert_eq(array.rank, rank);
  for (int axis = 0; axis < rank; axis++)
    cr_assert_eq(array.shape[axis], shape[axis],
                 "rank %d: dimension %d read as %lld, written as %lld", rank,
                 axis, (long long)array.shape[axis], (long long)shape[axis]);
  cr_assert_eq(array.count, count, "rank %d: count %zu, expected %zu", rank,
               array.count, count);
  cr_assert_eq(memcmp(array.data, values, count * sizeof(float)), 0,
               "rank %d: data differ after the round trip", rank);

  npy_array_free(&array);
  free(values);
}

/* Returns the header text of a written file, without the trailing '\n'. */
static char *written_header(const char *path, size_t *file_size) {
  unsigned char *bytes = read_file(path, file_size);
  size_t header_length;
  char *header;

  cr_assert(*file_size >= 10, "file of %zu bytes is too short", *file_size);
  header_length = (size_t)bytes[8] | (size_t)bytes[9] << 8;
  cr_assert(10 + header_length <= *file_size);
  header = malloc(header_length + 1);
  cr_assert_not_null(header);
  memcpy(header, bytes + 10, header_length);
  header[header_length] = '\0';
  free(bytes);
  return header;
}

/* ------------------------------------------------------------------------ */
/* Round trips                                                              */

Test(npy, round_trip_ranks_0_to_5) {
  static const int64_t shapes[][5] = {
      {0}, {7}, {3, 5}, {2, 3, 5}, {1, 2, 3, 4}, {2, 1, 3, 1, 5},
  };

  for (int rank = 0; rank <= 5; rank++)
    check_round_trip(rank, shapes[rank]);
}

Test(npy, round_trip_zero_size) {
  static const int64_t empty_rows[] = {0, 3};
  static const int64_t empty_middle[] = {3, 0, 2};

  check_round_trip(2, empty_rows);
  check_round_trip(3, empty_middle);
}

Test(npy, round_trip_odd_sizes) {
  static const int64_t prime_shape[] = {13, 7, 3};
  static const int64_t long_vector[] = {100003};

  check_round_trip(3, prime_shape);
  check_round_trip(1, long_vector);
}

Test(npy, round_trip_max_rank) {
  static const int64_t shape[NPY_MAX_RANK] = {2, 1, 3, 1, 2, 1, 1, 2};

  check_round_trip(NPY_MAX_RANK, shape);
}

Test(npy, round_trip_keeps_special_values) {
  const float values[] = {0.0f, -0.0f, 1.0f / 0.0f, -1.0f / 0.0f,
                          0.0f / 0.0f, 1e-45f, 3.4028235e38f};
  const int64_t shape[] = {7};
  char path[PATH_CAPACITY];
  char error[ERROR_CAPACITY] = "";
  npy_array array;

  make_path(path, "special.npy");
  cr_assert_eq(npy_write(path, 1, shape, values, error, sizeof error), 0,
               "npy_write failed: %s", error);
  cr_assert_eq(npy_read(path, &array, error, sizeof error), 0,
               "npy_read failed: %s", error);
  cr_assert_eq(array.count, 7);
  cr_assert_eq(memcmp(array.data, values, sizeof values), 0,
               "the bits of zero, infinity, NaN or a denormal changed");
  npy_array_free(&array);
}

/* ------------------------------------------------------------------------ */
/* Written format                                                           */

Test(npy, write_produces_numpy_layout) {
  const int64_t shape[] = {2, 3};
  const float values[] = {1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f};
  const unsigned char one_little_endian[] = {0x00, 0x00, 0x80, 0x3f};
  char path[PATH_CAPACITY];
  char error[ERROR_CAPACITY] = "";
  unsigned char *bytes;
  size_t size;
  size_t header_length;

  make_path(path, "layout.npy");
  cr_assert_eq(npy_write(path, 2, shape, values, error, sizeof error), 0,
               "npy_write failed: %s", error);
  bytes = read_file(path, &size);

  cr_assert_eq(memcmp(bytes, "\x93NUMPY", 6), 0, "wrong magic");
  cr_assert_eq(bytes[6], 1, "major version %d", bytes[6]);
  cr_assert_eq(bytes[7], 0, "minor version %d", bytes[7]);
  header_length = (size_t)bytes[8] | (size_t)bytes[9] << 8;
  cr_assert_eq((10 + header_length) % 64, 0,
               "data start at %zu, not a multiple of 64", 10 + header_length);
  cr_assert_eq(bytes[10 + header_length - 1], '\n');
  cr_assert_eq(size, 10 + header_length + sizeof values, "file size %zu",
               size);
  cr_assert_eq(memcmp(bytes + 10 + header_length, one_little_endian, 4), 0,
               "1.0f is not stored as little-endian float32");
  free(bytes);
}

Test(npy, write_header_text_like_numpy) {
  static const struct {
    int rank;
    int64_t shape[3];
    const char *dict;
  } cases[] = {
      {0, {0}, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }"},
      {1, {5}, "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }"},
      {3,
       {2, 0, 4},
       "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 0, 4), }"},
  };
  const float values[5] = {0};
  char path[PATH_CAPACITY];
  char error[ERROR_CAPACITY] = "";

  make_path(path, "header.npy");
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    size_t file_size;
    char *header;
    size_t dict_length = strlen(cases[i].dict);

    cr_assert_eq(npy_write(path, cases[i].rank, cases[i].shape, values, error,
                           sizeof error),
                 0, "npy_write failed: %s", error);
    header = written_header(path, &file_size);
    cr_assert_eq(strncmp(header, cases[i].dict, dict_length), 0,
                 "header \"%s\" does not start with \"%s\"", header,
                 cases[i].dict);
    cr_assert_eq(strspn(header + dict_length, " "),
                 strlen(header) - dict_length - 1,
                 "header \"%s\" is not padded with spaces", header);
    free(header);
  }
}

/* ------------------------------------------------------------------------ */
/* Headers written by hand                                                  */

static const float four_values[] = {1.5f, -2.0f, 0.25f, 8.0f};

/* Writes a file with the given version, dict and alignment, and reads it. */
static void check_read_hand_written(int major, const char *dict,
                                    size_t alignment) {
  unsigned char buffer[512];
  char path[PATH_CAPACITY];
  char error[ERROR_CAPACITY] = "";
  npy_array array;
  size_t size;

  size = build_npy(buffer, sizeof buffer, major, dict, alignment, four_values,
                   sizeof four_values);
  make_path(path, "hand.npy");
  write_file(path, buffer, size);

  cr_assert_eq(npy_read(path, &array, error, sizeof error), 0,
               "reading header %s failed: %s", dict, error);
  cr_assert_eq(array.rank, 2);
  cr_assert_eq(array.shape[0], 2);
  cr_assert_eq(array.shape[1], 2);
  cr_assert_eq(array.count, 4);
  cr_assert_eq(memcmp(array.data, four_values, sizeof four_values), 0,
               "data of header %s read wrongly", dict);
  npy_array_free(&array);
}

Test(npy, read_version_2_header) {
  check_read_hand_written(
      2,
      "{\"shape\" : ( 2 ,2 , ) ,\"fortran_order\":False,\t\"descr\":\"<f4\",}",
      64);
}

Test(npy, read_version_3_header) {
  check_read_hand_written(
      3, "{'fortran_order': False, 'descr': '<f4', 'shape': (2, 2)}", 64);
}

Test(npy, read_16_byte_aligned_header) {
  check_read_hand_written(
      1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", 16);
}

Test(npy, read_unaligned_header) {
  check_read_hand_written(
      1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", 1);
}

Test(npy, read_python_2_long_dimensions) {
  check_read_hand_written(
      1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 2L), }", 64);
}

Test(npy, read_scalar_and_vector_headers) {
  char path[PATH_CAPACITY];
  char error[ERROR_CAPACITY] = "";
  npy_array array;

  make_path(path, "scalar.npy");
  write_npy_v1(path, "{'descr': '<f4', 'fortran_order': False, 'shape': ()}",
               4);
  cr_assert_eq(npy_read(path, &array, error, sizeof error), 0,
               "reading a scalar failed: %s", error);
  cr_assert_eq(array.rank, 0);
  cr_assert_eq(array.count, 1);
  npy_array_free(&array);

  make_path(path, "vector.npy");
  write_npy_v1(path, "{'descr': '<f4', 'fortran_order': False, 'shape': (5,)}",
               20);
  cr_assert_eq(npy_read(path, &array, error, sizeof error), 0,
               "reading a vector failed: %s", error);
  cr_assert_eq(array.rank, 1);
  cr_assert_eq(array.shape[0], 5);
  cr_assert_eq(array.count, 5);
  npy_array_free(&array);
}

/* ------------------------------------------------------------------------ */
/* Malformed files                                                          */

Test(npy, reject_missing_file) {
  char path[PATH_CAPACITY];

  make_path(path, "missing.npy");
  expect_read_failure(path, "cannot open", strerror(ENOENT));
}

Test(npy, reject_empty_file) {
  char path[PATH_CAPACITY];

  make_path(path, "empty.npy");
  write_file(path, "", 0);
  expect_read_failure(path, "not a .npy file", NULL);
}

Test(npy, reject_folder) {
  expect_read_failure(test_directory, "not a regular file", NULL);
}

Test(npy, reject_wrong_magic) {
  unsigned char buffer[512];
  char path[PATH_CAPACITY];
  size_t size = build_npy(
      buffer, sizeof buffer, 1,
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", 64,
      four_values, sizeof four_values);

  buffer[5] = 'Z';
  make_path(path, "magic.npy");
  write_file(path, buffer, size);
  expect_read_failure(path, "not a .npy file", "magic");
}

Test(npy, reject_unsupported_versions) {
  unsigned char buffer[512];
  char path[PATH_CAPACITY];
  size_t size = build_npy(
      buffer, sizeof buffer, 1,
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", 64,
      four_values, sizeof four_values);

  make_path(path, "version.npy");
  buffer[6] = 4;
  write_file(path, buffer, size);
  expect_read_failure(path, "unsupported .npy format version 4.0", NULL);

  buffer[6] = 1;
  buffer[7] = 1;
  write_file(path, buffer, size);
  expect_read_failure(path, "unsupported .npy format version 1.1", NULL);
}

Test(npy, reject_float64) {
  char path[PATH_CAPACITY];

  make_path(path, "f8.npy");
  write_npy_v1(path, "{'descr': '<f8', 'fortran_order': False, 'shape': (2,)}",
               16);
  expect_read_failure(path, "'<f8'", "x.astype('<f4')");
}

Test(npy, reject_big_endian_float32) {
  char path[PATH_CAPACITY];

  make_path(path, "big_endian.npy");
  write_npy_v1(path, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,)}",
               8);
  expect_read_failure(path, "'>f4'", "x.astype('<f4')");
}

Test(npy, reject_structured_dtype) {
  char path[PATH_CAPACITY];

  make_path(path, "structured.npy");
  write_npy_v1(path,
               "{'descr': [('a', '<f4')], 'fortran_order': False, "
               "'shape': (2,)}",
               8);
  expect_read_failure(path, "structured dtype", NULL);
}

Test(npy, reject_fortran_order) {
  char path[PATH_CAPACITY];

  make_path(path, "fortran.npy");
  write_npy_v1(path,
               "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2)}", 16);
  expect_read_failure(path, "Fortran order", "np.ascontiguousarray");
}

Test(npy, reject_header_length_past_end) {
  unsigned char buffer[512];
  char path[PATH_CAPACITY];
  size_t size = build_npy(
      buffer, sizeof buffer, 1,
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", 64,
      four_values, sizeof four_values);

  /* 4000 bytes of header in a file of 80 bytes. */
  buffer[8] = 4000 & 0xff;
  buffer[9] = 4000 >> 8;
  make_path(path, "past_end.npy");
  write_file(path, buffer, size);
  expect_read_failure(path, "past the end of the file", "4000");
}

Test(npy, reject_header_length_above_limit) {
  unsigned char buffer[512];
  char path[PATH_CAPACITY];
  size_t size = build_npy(
      buffer, sizeof buffer, 2,
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", 64,
      four_values, sizeof four_values);

  /* 0x10000000 = 268435456 bytes, as a corrupt length field might read. */
  buffer[8] = 0;
  buffer[9] = 0;
  buffer[10] = 0;
  buffer[11] = 0x10;
  make_path(path, "huge_header.npy");
  write_file(path, buffer, size);
  expect_read_failure(path, "268435456", "above the limit");
}

Test(npy, reject_truncated_preamble) {
  char path[PATH_CAPACITY];

  make_path(path, "short.npy");
  write_file(path, "\x93NUMPY\x02\x00\x40", 9);
  expect_read_failure(path, "truncated", NULL);
}

Test(npy, reject_malformed_dicts) {
  static const struct {
    const char *dict;
    const char *fragment;
  } cases[] = {
      {"hello world", "malformed .npy header"},
      {"{'descr': '<f4', 'fortran_order': False}", "'shape' is missing"},
      {"{'shape': (2,), 'fortran_order': False}", "'descr' is missing"},
      {"{'descr': '<f4', 'shape': (2,)}", "'fortran_order' is missing"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), ",
       "malformed .npy header"},
      {"{'descr': '<f4, 'fortran_order': False, 'shape': (2,)}",
       "malformed .npy header"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,",
       "malformed .npy header"},
      {"{'descr': '<f4', 'fortran_order': 'no', 'shape': (2,)}",
       "True or False"},
      {"{'descr': '<f4', 'fortran_order': Falsey, 'shape': (2,)}",
       "True or False"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': [2]}",
       "shape tuple"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, x)}",
       "an integer"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}",
       "unknown key 'x'"},
      {"{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, "
       "'shape': (2,)}",
       "'descr' appears more than once"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} extra",
       "after the closing '}'"},
      {"{'descr': '<f4' 'fortran_order': False, 'shape': (2,)}",
       "',' or '}'"},
  };
  char path[PATH_CAPACITY];

  make_path(path, "malformed.npy");
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    write_npy_v1(path, cases[i].dict, 8);
    expect_read_failure(path, cases[i].fragment, NULL);
  }
}

Test(npy, reject_non_ascii_header) {
  char path[PATH_CAPACITY];

  make_path(path, "binary_header.npy");
  write_npy_v1(path,
               "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)\x01}",
               8);
  expect_read_failure(path, "0x01", "not printable ASCII");
}

Test(npy, reject_shape_overflow) {
  static const char *dicts[] = {
      "{'descr': '<f4', 'fortran_order': False, "
      "'shape': (4611686018427387904, 4611686018427387904)}",
      "{'descr': '<f4', 'fortran_order': False, "
      "'shape': (2147483648, 2147483648)}",
      "{'descr': '<f4', 'fortran_order': False, "
      "'shape': (99999999999999999999,)}",
  };
  char path[PATH_CAPACITY];

  make_path(path, "overflow.npy");
  for (size_t i = 0; i < sizeof dicts / sizeof dicts[0]; i++) {
    write_npy_v1(path, dicts[i], 0);
    expect_read_failure(path, "shape", NULL);
  }
}

Test(npy, reject_shape_overflow_names_cause) {
  char path[PATH_CAPACITY];

  make_path(path, "overflow.npy");
  write_npy_v1(path,
               "{'descr': '<f4', 'fortran_order': False, "
               "'shape': (4611686018427387904, 4611686018427387904)}",
               0);
  expect_read_failure(path, "overflows size_t", "4611686018427387904");
}

Test(npy, reject_huge_shape_as_truncated) {
  char path[PATH_CAPACITY];

  /* 10^12 elements fit in size_t, so the reader must stop at the size. */
  make_path(path, "huge.npy");
  write_npy_v1(path,
               "{'descr': '<f4', 'fortran_order': False, "
               "'shape': (1000000, 1000000)}",
               16);
  expect_read_failure(path, "truncated", "4000000000000");
}

Test(npy, reject_negative_dimension) {
  char path[PATH_CAPACITY];

  make_path(path, "negative.npy");
  write_npy_v1(path,
               "{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 3)}",
               0);
  expect_read_failure(path, "negative", "-1");
}

Test(npy, reject_rank_above_max) {
  char path[PATH_CAPACITY];

  make_path(path, "rank9.npy");
  write_npy_v1(path,
               "{'descr': '<f4', 'fortran_order': False, "
               "'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1)}",
               4);
  expect_read_failure(path, "rank 9", NULL);
}

Test(npy, reject_truncated_body) {
  char path[PATH_CAPACITY];

  make_path(path, "truncated.npy");
  write_npy_v1(path,
               "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}",
               20);
  expect_read_failure(path, "truncated", "needs 24 bytes");
  expect_read_failure(path, "only 20", "(2, 3)");
}

Test(npy, reject_trailing_bytes) {
  char path[PATH_CAPACITY];

  make_path(path, "trailing.npy");
  write_npy_v1(path,
               "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", 12);
  expect_read_failure(path, "4 extra bytes", NULL);
}

/* ------------------------------------------------------------------------ */
/* Writing: failures and temporary files                                    */

Test(npy, write_to_missing_folder_fails) {
  const int64_t shape[] = {2};
  const float values[] = {1.0f, 2.0f};
  char path[PATH_CAPACITY];
  char error[ERROR_CAPACITY] = "";
  char names[PATH_CAPACITY];
  struct stat status;

  make_path(path, "no_such_folder/out.npy");
  cr_assert_eq(npy_write(path, 1, shape, values, error, sizeof error), -1);
  assert_contains(error, path);
  assert_contains(error, strerror(ENOENT));
  cr_assert_eq(stat(path, &status), -1, "%s exists after a failure", path);
  cr_assert_eq(list_test_directory(names, sizeof names), 0,
               "the test folder holds: %s", names);
}

Test(npy, write_leaves_no_temporary_file) {
  const int64_t shape[] = {3};
  const float first[] = {1.0f, 2.0f, 3.0f};
  const float second[] = {4.0f, 5.0f, 6.0f};
  char path[PATH_CAPACITY];
  char error[ERROR_CAPACITY] = "";
  char names[PATH_CAPACITY];
  npy_array array;

  make_path(path, "out.npy");
  cr_assert_eq(npy_write(path, 1, shape, first, error, sizeof error), 0,
               "first npy_write failed: %s", error);
  cr_assert_eq(npy_write(path, 1, shape, second, error, sizeof error), 0,
               "second npy_write failed: %s", error);

  cr_assert_eq(list_test_directory(names, sizeof names), 1,
               "the test folder holds: %s", names);
  cr_assert_str_eq(names, "out.npy ");

  cr_assert_eq(npy_read(path, &array, error, sizeof error), 0,
               "npy_read failed: %s", error);
  cr_assert_eq(memcmp(array.data, second, sizeof second), 0,
               "the second write did not replace the first");
  npy_array_free(&array);
}

Test(npy, write_over_folder_cleans_up) {
  const int64_t shape[] = {2};
  const float values[] = {1.0f, 2.0f};
  char path[PATH_CAPACITY];
  char error[ERROR_CAPACITY] = "";
  char names[PATH_CAPACITY];

  /* rename() cannot replace a folder, so the last step fails. */
  make_path(path, "a_folder");
  cr_assert_eq(mkdir(path, 0700), 0, "mkdir %s: %s", path, strerror(errno));

  cr_assert_eq(npy_write(path, 1, shape, values, error, sizeof error), -1);
  assert_contains(error, path);
  assert_contains(error, "rename");
  cr_assert_eq(list_test_directory(names, sizeof names), 1,
               "the test folder holds: %s", names);
  cr_assert_str_eq(names, "a_folder ");
}

Test(npy, write_temporary_waits_for_publish) {
  const int64_t shape[] = {2};
  const float values[] = {1.0f, 2.0f};
  char path[PATH_CAPACITY];
  char error[ERROR_CAPACITY] = "";
  char names[PATH_CAPACITY];
  char *temporary_path = NULL;
  struct stat status;
  npy_array array;

  make_path(path, "staged.npy");
  cr_assert_eq(npy_write_temporary(path, 1, shape, values, &temporary_path,
                                   error, sizeof error),
               0, "npy_write_temporary failed: %s", error);
  cr_assert_not_null(temporary_path);
  cr_assert_eq(stat(path, &status), -1, "%s exists before the rename", path);
  cr_assert_eq(stat(temporary_path, &status), 0, "%s is missing",
               temporary_path);

  cr_assert_eq(atomic_file_publish(temporary_path, path, error, sizeof error),
               0, "atomic_file_publish failed: %s", error);
  cr_assert_eq(list_test_directory(names, sizeof names), 1,
               "the test folder holds: %s", names);
  cr_assert_eq(npy_read(path, &array, error, sizeof error), 0,
               "npy_read failed: %s", error);
  cr_assert_eq(memcmp(array.data, values, sizeof values), 0);
  npy_array_free(&array);
}

Test(npy, write_temporary_discard_leaves_nothing) {
  const int64_t shape[] = {2};
  const float values[] = {1.0f, 2.0f};
  char path[PATH_CAPACITY];
  char error[ERROR_CAPACITY] = "";
  char names[PATH_CAPACITY];
  char *temporary_path = NULL;

  make_path(path, "staged.npy");
  cr_assert_eq(npy_write_temporary(path, 1, shape, values, &temporary_path,
                                   error, sizeof error),
               0, "npy_write_temporary failed: %s", error);
  atomic_file_discard(temporary_path);
  cr_assert_eq(list_test_directory(names, sizeof names), 0,
               "the test folder holds: %s", names);

  /* A failed write sets no temporary name and leaves no file either. */
  make_path(path, "no_such_folder/staged.npy");
  temporary_path = (char *)"unchanged";
  cr_assert_eq(npy_write_temporary(path, 1, shape, values, &temporary_path,
                                   error, sizeof error),
               -1);
  cr_assert_null(temporary_path);
  assert_contains(error, path);
  cr_assert_eq(list_test_directory(names, sizeof names), 0,
               "the test folder holds: %s", names);
}

Test(npy, write_rejects_invalid_shapes) {
  static const struct {
    int rank;
    int64_t shape[NPY_MAX_RANK + 1];
    const char *fragment;
  } cases[] = {
      {2, {3, -2}, "negative"},
      {NPY_MAX_RANK + 1, {1, 1, 1, 1, 1, 1, 1, 1, 1}, "rank 9"},
      {-1, {0}, "rank -1"},
      {2, {INT64_MAX, INT64_MAX}, "overflows size_t"},
  };
  const float value = 0.0f;
  char path[PATH_CAPACITY];
  char error[ERROR_CAPACITY];
  char names[PATH_CAPACITY];

  make_path(path, "invalid.npy");
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    error[0] = '\0';
    cr_assert_eq(npy_write(path, cases[i].rank, cases[i].shape, &value, error,
                           sizeof error),
                 -1, "case %zu should fail", i);
    assert_contains(error, path);
    assert_contains(error, cases[i].fragment);
  }
  cr_assert_eq(list_test_directory(names, sizeof names), 0,
               "the test folder holds: %s", names);
}

Test(npy, write_rejects_null_data) {
  const int64_t shape[] = {2};
  char path[PATH_CAPACITY];
  char error[ERROR_CAPACITY] = "";

  make_path(path, "null.npy");
  cr_assert_eq(npy_write(path, 1, shape, NULL, error, sizeof error), -1);
  assert_contains(error, "NULL");
}

Test(npy, write_mode_follows_umask) {
  const int64_t shape[] = {1};
  const float value = 1.0f;
  char path[PATH_CAPACITY];
  char error[ERROR_CAPACITY] = "";
  struct stat status;

  /* Criterion runs each test in its own process, so this umask stays here. */
  umask(027);
  make_path(path, "mode.npy");
  cr_assert_eq(npy_write(path, 1, shape, &value, error, sizeof error), 0,
               "npy_write failed: %s", error);
  cr_assert_eq(stat(path, &status), 0);
  cr_assert_eq(status.st_mode & 0777, 0640, "mode is %o, expected 640",
               (unsigned)(status.st_mode & 0777));
}

Test(npy, free_accepts_empty_array) {
  npy_array array = {0};

  npy_array_free(&array);
  npy_array_free(NULL);
  cr_assert_null(array.data);
  cr_assert_eq(array.count, 0);
}

/* ------------------------------------------------------------------------ */
/* Reading from memory                                                      */

Test(npy, read_memory_matches_file) {
  static const int64_t shape[2] = {3, 5};
  char path[PATH_CAPACITY];
  char error[ERROR_CAPACITY] = "";
  float values[15];
  unsigned char *bytes;
  size_t size;
  npy_array array;

  fill_pattern(values, 15);
  make_path(path, "memory.npy");
  cr_assert_eq(npy_write(path, 2, shape, values, error, sizeof error), 0,
               "npy_write failed: %s", error);
  bytes = read_file(path, &size);

  cr_assert_eq(npy_read_memory(bytes, size, "buffer", &array, error,
                               sizeof error),
               0, "npy_read_memory failed: %s", error);
  free(bytes);
  cr_assert_eq(array.rank, 2);
  cr_assert_eq(array.shape[0], 3);
  cr_assert_eq(array.shape[1], 5);
  cr_assert_eq(array.count, 15);
  cr_assert_eq(memcmp(array.data, values, sizeof values), 0,
               "data read from memory differ from the data written");
  npy_array_free(&array);
}

Test(npy, read_memory_rejects_truncation) {
  static const float body[6];
  unsigned char buffer[256];
  char error[ERROR_CAPACITY] = "";
  npy_array array;
  size_t size = build_npy(
      buffer, sizeof buffer, 1,
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}", 64, body,
      sizeof body);

  /* Every proper prefix ends inside the preamble, header or data. */
  for (size_t length = 0; length < size; length++) {
    cr_assert_eq(npy_read_memory(buffer, length, "prefix", &array, error,
                                 sizeof error),
                 -1, "a prefix of %zu of %zu bytes was accepted", length,
                 size);
    cr_assert_null(array.data, "data must be NULL after a failed read");
    assert_contains(error, "prefix");
  }
  cr_assert_eq(npy_read_memory(buffer, size, "whole", &array, error,
                               sizeof error),
               0, "the whole buffer was rejected: %s", error);
  npy_array_free(&array);
}

Test(npy, read_memory_rejects_null_arguments) {
  char error[ERROR_CAPACITY] = "";
  npy_array array;

  cr_assert_eq(npy_read_memory(NULL, 10, "buffer", &array, error,
                               sizeof error),
               -1);
  assert_contains(error, "must not be NULL");
  cr_assert_eq(npy_read_memory(NULL, 0, "empty", &array, error, sizeof error),
               -1);
  assert_contains(error, "empty is not a .npy file");
}
