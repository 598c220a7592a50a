/*
 * A persistent tuning database: for each (device, layer) pair, the
 * algorithm that won a measurement and its time, so a later process can
 * skip the measurement.
 *
 * Storage: tuning.tsv in the disk cache folder (see
 * lib/program/disk_cache.h). Lines starting with '#' are comments; every
 * other line has four tab-separated fields:
 *   device key, layer key, algorithm name, time in whole nanoseconds
 * A line that breaks this layout is skipped with a warning and dropped by
 * the next store. GROUPCL_CACHE=off makes lookups find nothing and stores
 * write nothing.
 *
 * A store reads the file, replaces or appends its entry and renames a new
 * file over the old one. Stores from threads of one process take turns, so
 * none is lost. Two processes storing at the same time may lose one of the
 * two updates, but the file is never left partly written.
 */
#ifndef GCL_TUNE_TUNING_DB_H
#define GCL_TUNE_TUNING_DB_H

#include "conv/conv.h"
#include "groupcl.h"

/* Buffer size that fits any key the two key functions produce. */
#define GCL_TUNING_KEY_SIZE 1024

/* File name of the database inside the cache folder. */
#define GCL_TUNING_FILE_NAME "tuning.tsv"

/*
 * Formats the device key: platform name, device name, driver version and
 * groupcl version, joined by " | ". Backslashes, '|', tabs, CR and newlines
 * in the names are escaped with a backslash. Returns the key's length. A
 * result >= size means the buffer was too small and the key is cut short,
 * which GCL_TUNING_KEY_SIZE bytes always prevent.
 */
size_t gcl_tuning_device_key(const gcl_device_info *info, char *buffer,
                             size_t size);

/*
 * Formats the layer key from every field of the widened geometry, batch
 * included. Returns the key's length like gcl_tuning_device_key.
 */
size_t gcl_tuning_layer_key(const gcl_geometry *geometry, char *buffer,
                            size_t size);

/*
 * Looks up the entry for (device_key, layer_key). On a hit, sets *found to
 * 1 and copies the algorithm name into algorithm (size bytes) and its time
 * into *seconds (nanosecond resolution). A missing or unreadable file, or
 * GROUPCL_CACHE=off, gives *found = 0 and GCL_SUCCESS; an unreadable file
 * also logs a warning. Fails with GCL_ERROR_INVALID_ARGUMENT for a NULL
 * pointer, an empty key, a key with a tab, CR or newline or a leading '#',
 * or a stored algorithm name that does not fit in size bytes. Fails with
 * GCL_ERROR_OUT_OF_MEMORY when host memory runs out.
 */
gcl_status gcl_tuning_lookup(const char *device_key, const char *layer_key,
                             char *algorithm, size_t size, double *seconds,
                             int *found);

/*
 * Stores algorithm and seconds for (device_key, layer_key), replacing an
 * earlier entry. seconds must be finite, >= 0 and below 1e9. Does nothing
 * under GROUPCL_CACHE=off. Fails with GCL_ERROR_INVALID_ARGUMENT for a key
 * or name that gcl_tuning_lookup would reject, and with GCL_ERROR_IO when
 * there is no cache folder or the file cannot be written. The database only
 * saves time, so callers may ignore a GCL_ERROR_IO.
 */
gcl_status gcl_tuning_store(const char *device_key, const char *layer_key,
                            const char *algorithm, double seconds);

#endif
