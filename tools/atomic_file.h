/*
 * Files that appear complete or not at all: data go to a temporary file in
 * the target's folder, which is renamed over the target only on success.
 */
#ifndef GROUPCL_TOOLS_ATOMIC_FILE_H
#define GROUPCL_TOOLS_ATOMIC_FILE_H

#include <stddef.h>
#include <stdio.h>

/*
 * Creates "PATH.tmpXXXXXX" next to path with the mode a plain new file would
 * get, and opens it for binary writing. On success returns the stream and
 * stores the malloc'ed temporary name in *temporary_path. On failure returns
 * NULL with a message naming path in error.
 */
FILE *atomic_file_create(const char *path, char **temporary_path, char *error,
                         size_t error_size);

/*
 * Renames the closed temporary file over path and frees temporary_path.
 * Returns 0, or -1 with a message after removing the temporary file.
 */
int atomic_file_publish(char *temporary_path, const char *path, char *error,
                        size_t error_size);

/* Removes the closed temporary file and frees temporary_path. */
void atomic_file_discard(char *temporary_path);

#endif
