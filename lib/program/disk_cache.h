/*
 * Persistent caches on disk: the cache folder, atomic file writes, and
 * compiled OpenCL program binaries, so a second process compiles nothing.
 *
 * Folder: $GROUPCL_CACHE_DIR if set and non-empty, else
 * $XDG_CACHE_HOME/groupcl (only an absolute XDG_CACHE_HOME counts, because
 * the XDG Base Directory Specification calls relative paths invalid), else
 * $HOME/.cache/groupcl. The
 * first write creates it with mode 0700. GROUPCL_CACHE=off disables every
 * disk cache, reads and writes alike.
 *
 * Program binaries live in programs/HASH.bin, where HASH is 16 hex digits
 * of the 64-bit FNV-1a hash of the key. The key names the platform (name
 * and version), the device name, the driver version, the groupcl version,
 * the full build options and the source text. A file holds, with every
 * integer little-endian:
 *   8 bytes  magic "GCLPROG\n"
 *   u32      format version (GCL_DISK_CACHE_FORMAT)
 *   u64      key length, then the key itself, so a hash collision is caught
 *   u64      binary length, then the binary
 *   u64      FNV-1a 64 checksum of the binary
 * A file that fails any check is ignored with a warning, and the next
 * source build replaces it. A failure of the disk cache is logged as a
 * warning and does not fail the build, because the cache only saves
 * compile time.
 */
#ifndef GCL_PROGRAM_DISK_CACHE_H
#define GCL_PROGRAM_DISK_CACHE_H

#include "groupcl.h"

/* Bumped whenever the file layout changes; other versions count as stale. */
#define GCL_DISK_CACHE_FORMAT 1u

/* Room for any cache path; a longer GROUPCL_CACHE_DIR disables the cache. */
#define GCL_CACHE_PATH_MAX 4096

/* Returns 0 when GROUPCL_CACHE=off disables the disk caches, else 1. */
int gcl_disk_cache_enabled(void);

/*
 * Writes the cache folder into buffer. Returns 0 when the environment names
 * no folder (none of the three variables is usable) or the path does not
 * fit in size bytes, else 1. Creates nothing.
 */
int gcl_disk_cache_folder(char *buffer, size_t size);

/*
 * Replaces path with size bytes of data: writes a temporary file in folder
 * (which must hold path) and renames it over path, so readers in other
 * processes see either the old file or the whole new one. Creates folder
 * and its missing parents first, with mode 0700. Fails with GCL_ERROR_IO and leaves no temporary file behind.
 */
gcl_status gcl_disk_cache_write_file(const char *folder, const char *path,
                                     const void *data, size_t size);

/* 64-bit FNV-1a hash of size bytes, continuing from hash. */
uint64_t gcl_fnv1a64(uint64_t hash, const void *data, size_t size);

/* The FNV-1a 64 offset basis, the hash of no bytes. */
#define GCL_FNV1A64_INIT 0xcbf29ce484222325ULL

/*
 * Returns the disk cache key of a program (malloc'd, the caller frees it),
 * or NULL when the disk cache is off or the device cannot be queried
 * (logged). options is the full option string passed to clBuildProgram.
 */
char *gcl_disk_cache_key(cl_device_id device, const char *source,
                         const char *options);

/*
 * Looks up key in the program cache folder and, on a hit, creates the
 * program from the stored binary and builds it with options for device.
 * Returns 1 and the built program on success. Returns 0 when the caller
 * must build from source, and logs a warning if a file was damaged or the
 * driver rejected it. file_name only labels messages.
 */
int gcl_disk_cache_load(cl_context cl_ctx, cl_device_id device,
                        const char *key, const char *options,
                        const char *file_name, cl_program *program);

/*
 * Stores the binary of program, built for device alone, under key.
 * Failures are logged as warnings and otherwise ignored.
 */
void gcl_disk_cache_store(cl_device_id device, const char *key,
                          const char *file_name, cl_program program);

#endif
