/*
 * Fuzz harness of the .npy reader. npy_read_memory parses the input bytes
 * as a whole file. Every input must either be read or be rejected with a
 * message and an empty array. An array that was read must have a shape
 * whose product is its element count, and its data must be the last bytes
 * of the input, because the reader accepts no trailing bytes.
 */
#include "fuzz.h"

#include <string.h>

#include "npy.h"

static int host_is_little_endian(void) {
  const uint32_t probe = 1;
  unsigned char first_byte;

  memcpy(&first_byte, &probe, 1);
  return first_byte == 1;
}

/* Checks an array read from size bytes at data. */
static void check_array(const npy_array *array, const uint8_t *data,
                        size_t size) {
  size_t product = 1;

  FUZZ_REQUIRE(array->rank >= 0 && array->rank <= NPY_MAX_RANK,
               "rank %d is outside 0..%d", array->rank, NPY_MAX_RANK);
  for (int axis = 0; axis < array->rank; axis++) {
    FUZZ_REQUIRE(array->shape[axis] >= 0, "dimension %d is %lld", axis,
                 (long long)array->shape[axis]);
    /* An unsigned product may wrap, but a zero dimension still gives 0. */
    product *= (size_t)array->shape[axis];
  }
  FUZZ_REQUIRE(product == array->count, "shape product %zu, count %zu",
               product, array->count);
  FUZZ_REQUIRE(array->data != NULL, "a successful read left data NULL");
  FUZZ_REQUIRE(array->count <= size / sizeof(float),
               "%zu floats cannot come from %zu bytes", array->count, size);

  /*
   * Reading every element also lets AddressSanitizer check the allocation.
   * A big-endian host swaps the bytes, so only a little-endian one can
   * compare them with the input.
   */
  size_t bytes = array->count * sizeof(float);
  if (host_is_little_endian())
    FUZZ_REQUIRE(memcmp(array->data, data + size - bytes, bytes) == 0,
                 "the %zu data bytes differ from the end of the input",
                 bytes);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  npy_array array;
  char error[512] = "";

  if (npy_read_memory(data, size, "input", &array, error, sizeof error) != 0) {
    FUZZ_REQUIRE(array.data == NULL, "a failed read left data set");
    FUZZ_REQUIRE(array.count == 0, "a failed read left count %zu",
                 array.count);
    FUZZ_REQUIRE(error[0] != '\0', "a failed read gave no message");
    return 0;
  }

  check_array(&array, data, size);
  npy_array_free(&array);
  return 0;
}
