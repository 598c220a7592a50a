/*
 * Reading and writing NumPy .npy files (format versions 1.0, 2.0 and 3.0)
 * holding float32 arrays in C order. Used by the groupcl tool and its tests.
 */
#ifndef GROUPCL_TOOLS_NPY_H
#define GROUPCL_TOOLS_NPY_H

#include <stddef.h>
#include <stdint.h>

#define NPY_MAX_RANK 8

/* A float32 array read from a .npy file; data is malloc'ed. */
typedef struct npy_array {
  int rank;
  int64_t shape[NPY_MAX_RANK];
  size_t count; /* product of shape; 1 for rank 0 */
  float *data;
} npy_array;

/*
 * Reads a little-endian float32 ('<f4') C-order array from path into array.
 * Returns 0 on success. On failure returns -1, leaves array empty (data NULL)
 * and writes a message naming the file and the problem into error.
 */
int npy_read(const char *path, npy_array *array, char *error,
             size_t error_size);

/*
 * Reads a .npy image held in memory (size bytes at bytes), with the checks
 * and messages of npy_read. name stands for the buffer in messages, where
 * npy_read names the file. The data are copied, so the caller may free
 * bytes afterwards. Returns 0 on success, else -1 with a message in error.
 */
int npy_read_memory(const void *bytes, size_t size, const char *name,
                    npy_array *array, char *error, size_t error_size);

/*
 * Frees the data of an array filled by npy_read or npy_read_memory. An
 * empty array is accepted too.
 */
void npy_array_free(npy_array *array);

/*
 * Writes a float32 C-order array to path as .npy version 1.0. The data go to
 * a temporary file in the same folder that is renamed over path only when
 * everything was written, so path never contains a partial file. Returns 0 on
 * success, else -1 with a message in error.
 */
int npy_write(const char *path, int rank, const int64_t *shape,
              const float *data, char *error, size_t error_size);

/*
 * Writes the array like npy_write, but leaves it in the temporary file next
 * to path, so that a caller can write several files and publish none unless
 * all were written. On success returns 0 and stores the malloc'ed temporary
 * name in *temporary_path, for atomic_file_publish or atomic_file_discard.
 * On failure returns -1 with a message in error and leaves no file behind.
 */
int npy_write_temporary(const char *path, int rank, const int64_t *shape,
                        const float *data, char **temporary_path, char *error,
                        size_t error_size);

#endif
