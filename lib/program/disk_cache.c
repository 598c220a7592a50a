#define _POSIX_C_SOURCE 200809L
#include "program/disk_cache.h"

#include "util/alloc.h"
#include "util/cl_calls.h"
#include "util/cl_objects.h"
#include "util/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Start of every program cache file; the newline catches text-mode damage. */
static const unsigned char file_magic[8] = {'G', 'C', 'L', 'P',
                                            'R', 'O', 'G', '\n'};

/* Magic, format version and key length come before the key. */
#define HEADER_SIZE (8 + 4 + 8)

/* A cache file larger than this is not read: no program binary is near it,
 * so the file is not ours or is damaged, and reading it would waste memory. */
#define MAX_FILE_SIZE ((uint64_t)1 << 30)

/* Room for one strerror_r message, and for a reason that quotes a path. */
#define ERRNO_TEXT_SIZE 256
#define REASON_SIZE (GCL_CACHE_PATH_MAX + 2 * ERRNO_TEXT_SIZE)

/* ---- folder and files ----------------------------------------------------- */

int gcl_disk_cache_enabled(void) {
  const char *value = getenv("GROUPCL_CACHE");

  return value == NULL || strcmp(value, "off") != 0;
}

/* Joins base and suffix into buffer; returns 0 if the result does not fit. */
static int join_path(char *buffer, size_t size, const char *base,
                     const char *suffix) {
  int length = snprintf(buffer, size, "%s%s", base, suffix);

  return length >= 0 && (size_t)length < size;
}

int gcl_disk_cache_folder(char *buffer, size_t size) {
  const char *explicit_folder = getenv("GROUPCL_CACHE_DIR");
  const char *xdg_cache = getenv("XDG_CACHE_HOME");
  const char *home = getenv("HOME");

  if (explicit_folder != NULL && explicit_folder[0] != '\0')
    return join_path(buffer, size, explicit_folder, "");
  if (xdg_cache != NULL && xdg_cache[0] == '/')
    return join_path(buffer, size, xdg_cache, "/groupcl");
  if (home != NULL && home[0] != '\0')
    return join_path(buffer, size, home, "/.cache/groupcl");
  return 0;
}

/* Formats "WHAT 'PATH': ERRNO TEXT" into reason; strerror_r keeps it
 * thread-safe. */
static void describe_errno(char *reason, size_t size, const char *what,
                           const char *path, int code) {
  char text[ERRNO_TEXT_SIZE];

  if (strerror_r(code, text, sizeof text) != 0)
    snprintf(text, sizeof text, "error %d", code);
  snprintf(reason, size, "%s '%s': %s", what, path, text);
}

/* Creates one folder unless a folder of that name exists. */
static int make_one_folder(const char *path, char *reason, size_t size) {
  struct stat info;
  int code;

  if (mkdir(path, 0700) == 0)
    return 1;
  code = errno;
  if (code == EEXIST && stat(path, &info) == 0) {
    if (S_ISDIR(info.st_mode))
      return 1;
    snprintf(reason, size, "cache path '%s' exists but is not a folder",
             path);
    return 0;
  }
  describe_errno(reason, size, "cannot create cache folder", path, code);
  return 0;
}

/* mkdir -p with mode 0700; existing parents keep their own mode. */
static int make_folder(const char *folder, char *reason, size_t size) {
  char path[GCL_CACHE_PATH_MAX];
  size_t length = strlen(folder);

  if (length == 0 || length >= sizeof path) {
    snprintf(reason, size, "cache folder path is empty or longer than %d "
             "bytes", GCL_CACHE_PATH_MAX - 1);
    return 0;
  }
  memcpy(path, folder, length + 1);

  /* Cut the path after each component in turn, the whole path last. */
  for (size_t end = 1; end <= length; end++) {
    char saved = path[end];

    if (saved != '/' && saved != '\0')
      continue;
    path[end] = '\0';
    if (!make_one_folder(path, reason, size))
      return 0;
    path[end] = saved;
  }
  return 1;
}

static int write_all(int descriptor, const void *data, size_t size) {
  const unsigned char *cursor = data;

  while (size > 0) {
    ssize_t written = write(descriptor, cursor, size);

    if (written < 0 && errno == EINTR)
      continue;
    if (written <= 0)
      return 0;
    cursor += written;
    size -= (size_t)written;
  }
  return 1;
}

/* Writes data to a fresh temporary file in folder and renames it to path;
 * fills reason and removes the temporary file on failure. */
static int replace_file(const char *folder, const char *path,
                        const void *data, size_t size, char *reason,
                        size_t reason_size) {
  char temporary[GCL_CACHE_PATH_MAX];
  int descriptor;
  int ok;

  if (!join_path(temporary, sizeof temporary, folder, "/.tmp-XXXXXX")) {
    snprintf(reason, reason_size, "cache folder path '%s' is too long",
             folder);
    return 0;
  }
  descriptor = mkstemp(temporary);
  if (descriptor < 0) {
    describe_errno(reason, reason_size, "cannot create a temporary file in",
                   folder, errno);
    return 0;
  }

  ok = write_all(descriptor, data, size);
  if (!ok)
    describe_errno(reason, reason_size, "cannot write", temporary, errno);
  if (close(descriptor) != 0 && ok) {
    describe_errno(reason, reason_size, "cannot close", temporary, errno);
    ok = 0;
  }

  /* No fsync: after a crash a torn file fails the length or checksum check
   * and is rebuilt, which costs less than syncing every store. */
  if (ok && rename(temporary, path) != 0) {
    describe_errno(reason, reason_size, "cannot rename the temporary file to",
                   path, errno);
    ok = 0;
  }
  if (!ok)
    unlink(temporary);
  return ok;
}

gcl_status gcl_disk_cache_write_file(const char *folder, const char *path,
                                     const void *data, size_t size) {
  char reason[REASON_SIZE];

  if (!make_folder(folder, reason, sizeof reason) ||
      !replace_file(folder, path, data, size, reason, sizeof reason))
    return gcl_fail(GCL_ERROR_IO,
                    "%s; set GROUPCL_CACHE_DIR to a writable folder, or "
                    "GROUPCL_CACHE=off to disable the disk cache",
                    reason);
  return GCL_SUCCESS;
}

uint64_t gcl_fnv1a64(uint64_t hash, const void *data, size_t size) {
  const unsigned char *bytes = data;

  for (size_t i = 0; i < size; i++) {
    hash ^= bytes[i];
    hash *= 0x100000001b3ULL; /* the 64-bit FNV prime */
  }
  return hash;
}

/* ---- keys --------------------------------------------------------------- */

/* Returns a malloc'd copy of a string property of device, or NULL. */
static char *device_text(cl_device_id device, cl_device_info param) {
  size_t size = 0;
  char *text;

  if (clGetDeviceInfo(device, param, 0, NULL, &size) != CL_SUCCESS)
    return NULL;
  text = gcl_calloc(size + 1, 1);
  if (text != NULL &&
      clGetDeviceInfo(device, param, size, text, NULL) != CL_SUCCESS) {
    gcl_free(text);
    return NULL;
  }
  return text;
}

/* Returns a malloc'd copy of a string property of platform, or NULL. */
static char *platform_text(cl_platform_id platform, cl_platform_info param) {
  size_t size = 0;
  char *text;

  if (clGetPlatformInfo(platform, param, 0, NULL, &size) != CL_SUCCESS)
    return NULL;
  text = gcl_calloc(size + 1, 1);
  if (text != NULL &&
      clGetPlatformInfo(platform, param, size, text, NULL) != CL_SUCCESS) {
    gcl_free(text);
    return NULL;
  }
  return text;
}

/* Driver-reported names that a binary depends on. */
typedef struct device_names {
  char *platform;
  char *platform_version;
  char *device;
  char *driver;
} device_names;

static void free_names(device_names *names) {
  gcl_free(names->platform);
  gcl_free(names->platform_version);
  gcl_free(names->device);
  gcl_free(names->driver);
}

static int query_names(cl_device_id device, device_names *names) {
  cl_platform_id platform = NULL;

  memset(names, 0, sizeof *names);
  if (clGetDeviceInfo(device, CL_DEVICE_PLATFORM, sizeof platform, &platform,
                      NULL) != CL_SUCCESS)
    return 0;
  names->platform = platform_text(platform, CL_PLATFORM_NAME);
  names->platform_version = platform_text(platform, CL_PLATFORM_VERSION);
  names->device = device_text(device, CL_DEVICE_NAME);
  names->driver = device_text(device, CL_DRIVER_VERSION);
  if (names->platform == NULL || names->platform_version == NULL ||
      names->device == NULL || names->driver == NULL) {
    free_names(names);
    return 0;
  }
  return 1;
}

/* Each field carries its length, so no value can forge the next field. */
#define KEY_FORMAT                                                             \
  "groupcl program key\n"                                                      \
  "platform %zu:%s\n"                                                          \
  "platform version %zu:%s\n"                                                  \
  "device %zu:%s\n"                                                            \
  "driver %zu:%s\n"                                                            \
  "groupcl %d.%d.%d\n"                                                         \
  "options %zu:%s\n"                                                           \
  "source %zu:%s"

#define KEY_ARGUMENTS(names, options, source)                                  \
  strlen((names).platform), (names).platform,                                  \
      strlen((names).platform_version), (names).platform_version,              \
      strlen((names).device), (names).device, strlen((names).driver),          \
      (names).driver, GCL_VERSION_MAJOR, GCL_VERSION_MINOR,                    \
      GCL_VERSION_PATCH, strlen(options), (options), strlen(source), (source)

char *gcl_disk_cache_key(cl_device_id device, const char *source,
                         const char *options) {
  device_names names;
  char *key = NULL;
  int length;

  if (!gcl_disk_cache_enabled())
    return NULL;
  if (!query_names(device, &names)) {
    GCL_LOG_WARN("disk cache skipped: cannot query the device's platform, "
                 "name or driver version (or out of host memory)");
    return NULL;
  }

  length = snprintf(NULL, 0, KEY_FORMAT, KEY_ARGUMENTS(names, options, source));
  if (length >= 0)
    key = gcl_malloc((size_t)length + 1);
  if (key != NULL)
    snprintf(key, (size_t)length + 1, KEY_FORMAT,
             KEY_ARGUMENTS(names, options, source));
  else
    GCL_LOG_WARN("disk cache skipped: out of host memory for the key");
  free_names(&names);
  return key;
}

/* Fills the programs folder and the file path for key; 0 if the environment
 * names no cache folder or a path is too long. */
static int program_paths(const char *key, char *programs, char *path) {
  char folder[GCL_CACHE_PATH_MAX];
  char file_name[32];
  uint64_t hash = gcl_fnv1a64(GCL_FNV1A64_INIT, key, strlen(key));

  if (!gcl_disk_cache_folder(folder, sizeof folder)) {
    GCL_LOG_DEBUG("disk cache skipped: set GROUPCL_CACHE_DIR, XDG_CACHE_HOME "
                  "or HOME to a folder that fits in %d bytes",
                  GCL_CACHE_PATH_MAX - 64);
    return 0;
  }
  snprintf(file_name, sizeof file_name, "/%016" PRIx64 ".bin", hash);
  return join_path(programs, GCL_CACHE_PATH_MAX, folder, "/programs") &&
         join_path(path, GCL_CACHE_PATH_MAX, programs, file_name);
}

/* ---- file layout ---------------------------------------------------------- */

static unsigned char *put_u64(unsigned char *cursor, uint64_t value) {
  for (int i = 0; i < 8; i++)
    cursor[i] = (unsigned char)(value >> (8 * i));
  return cursor + 8;
}

static uint64_t get_u64(const unsigned char *cursor) {
  uint64_t value = 0;

  for (int i = 0; i < 8; i++)
    value |= (uint64_t)cursor[i] << (8 * i);
  return value;
}

static uint32_t get_u32(const unsigned char *cursor) {
  uint32_t value = 0;

  for (int i = 0; i < 4; i++)
    value |= (uint32_t)cursor[i] << (8 * i);
  return value;
}

/* Lays out a cache file; returns it malloc'd with its size, or NULL. */
static unsigned char *encode_file(const char *key, const unsigned char *binary,
                                  size_t binary_size, size_t *file_size) {
  size_t key_size = strlen(key);
  unsigned char *image;
  unsigned char *cursor;

  if (binary_size > MAX_FILE_SIZE || key_size > MAX_FILE_SIZE)
    return NULL;
  *file_size = HEADER_SIZE + key_size + 8 + binary_size + 8;
  image = gcl_malloc(*file_size);
  if (image == NULL)
    return NULL;

  memcpy(image, file_magic, sizeof file_magic);
  for (int i = 0; i < 4; i++)
    image[8 + i] = (unsigned char)(GCL_DISK_CACHE_FORMAT >> (8 * i));
  cursor = put_u64(image + 12, key_size);
  memcpy(cursor, key, key_size);
  cursor = put_u64(cursor + key_size, binary_size);
  memcpy(cursor, binary, binary_size);
  put_u64(cursor + binary_size,
          gcl_fnv1a64(GCL_FNV1A64_INIT, binary, binary_size));
  return image;
}

/*
 * Checks a whole cache file against key. Returns the binary inside image
 * and its size, or NULL with the reason the file cannot be used.
 */
static const unsigned char *decode_file(const unsigned char *image,
                                        uint64_t size, const char *key,
                                        size_t *binary_size, char *reason,
                                        size_t reason_size) {
  uint64_t key_size, stored_binary_size, stored_checksum, rest;
  const unsigned char *binary;

  if (size < HEADER_SIZE) {
    snprintf(reason, reason_size, "truncated: %" PRIu64 " bytes is shorter "
             "than the %d-byte header", size, HEADER_SIZE);
    return NULL;
  }
  if (memcmp(image, file_magic, sizeof file_magic) != 0) {
    snprintf(reason, reason_size, "wrong magic bytes: not a groupcl program "
             "cache file");
    return NULL;
  }
  if (get_u32(image + 8) != GCL_DISK_CACHE_FORMAT) {
    snprintf(reason, reason_size, "stale: format version %" PRIu32
             ", expected %u", get_u32(image + 8), GCL_DISK_CACHE_FORMAT);
    return NULL;
  }

  key_size = get_u64(image + 12);
  rest = size - HEADER_SIZE;
  if (key_size > rest || rest - key_size < 16) {
    snprintf(reason, reason_size, "truncated: the %" PRIu64 "-byte key and "
             "the lengths do not fit in the file", key_size);
    return NULL;
  }
  if (key_size != strlen(key) ||
      memcmp(image + HEADER_SIZE, key, (size_t)key_size) != 0) {
    snprintf(reason, reason_size, "key mismatch: the file belongs to another "
             "program, device, driver or groupcl version (hash collision or "
             "damaged key)");
    return NULL;
  }

  rest -= key_size + 16;
  stored_binary_size = get_u64(image + HEADER_SIZE + key_size);
  if (stored_binary_size != rest) {
    snprintf(reason, reason_size, "%s: the binary length is %" PRIu64
             " bytes but %" PRIu64 " bytes remain",
             stored_binary_size > rest ? "truncated" : "trailing bytes",
             stored_binary_size, rest);
    return NULL;
  }

  binary = image + HEADER_SIZE + key_size + 8;
  stored_checksum = get_u64(binary + stored_binary_size);
  if (stored_checksum != gcl_fnv1a64(GCL_FNV1A64_INIT, binary,
                                     (size_t)stored_binary_size)) {
    snprintf(reason, reason_size, "checksum mismatch: the binary is damaged");
    return NULL;
  }
  *binary_size = (size_t)stored_binary_size;
  return binary;
}

/* ---- storing ---------------------------------------------------------------- */

/* Finds device in the program's device list: fills its position and the
 * list's length, or returns 0. */
static int find_device(cl_program program, cl_device_id device,
                       size_t *position, size_t *count) {
  cl_uint device_count = 0;
  cl_device_id *devices;
  int found = 0;

  if (clGetProgramInfo(program, CL_PROGRAM_NUM_DEVICES, sizeof device_count,
                       &device_count, NULL) != CL_SUCCESS ||
      device_count == 0)
    return 0;
  devices = gcl_calloc(device_count, sizeof *devices);
  if (devices == NULL)
    return 0;
  if (clGetProgramInfo(program, CL_PROGRAM_DEVICES,
                       device_count * sizeof *devices, devices,
                       NULL) == CL_SUCCESS) {
    for (cl_uint i = 0; i < device_count && !found; i++) {
      if (devices[i] == device) {
        *position = i;
        found = 1;
      }
    }
  }
  *count = device_count;
  gcl_free(devices);
  return found;
}

/*
 * NOTE: PoCL 3.1 compiles every kernel of the program for the CPU when
 * CL_PROGRAM_BINARIES is read, so on PoCL a cold store costs more than the
 * source build. Measured for the direct kernel of a 32-to-64-channel 3x3
 * group-4 layer on 2 EPYC cores: 0.6-0.7 s to build, 2.4-2.5 s to build and
 * store. Drivers that keep the finished binary should not pay this, but no
 * such driver was tried.
 *
 * Fetches the binary of program for device. A program made in a context
 * with several devices has one binary slot per device, in the order of
 * CL_PROGRAM_DEVICES; only device's slot gets a buffer, and OpenCL 1.2
 * skips slots that are NULL.
 */
static unsigned char *fetch_binary(cl_program program, cl_device_id device,
                                   size_t *binary_size, cl_int *code) {
  size_t position = 0, count = 0;
  size_t *sizes = NULL;
  unsigned char **slots = NULL;
  unsigned char *binary = NULL;

  *code = CL_INVALID_DEVICE;
  if (!find_device(program, device, &position, &count))
    return NULL;
  sizes = gcl_calloc(count, sizeof *sizes);
  slots = gcl_calloc(count, sizeof *slots);
  *code = CL_OUT_OF_HOST_MEMORY;
  if (sizes == NULL || slots == NULL)
    goto done;

  *code = clGetProgramInfo(program, CL_PROGRAM_BINARY_SIZES,
                           count * sizeof *sizes, sizes, NULL);
  if (*code != CL_SUCCESS)
    goto done;
  *code = CL_INVALID_PROGRAM_EXECUTABLE; /* the driver kept no binary */
  if (sizes[position] == 0)
    goto done;
  slots[position] = gcl_malloc(sizes[position]);
  *code = CL_OUT_OF_HOST_MEMORY;
  if (slots[position] == NULL)
    goto done;
  *code = clGetProgramInfo(program, CL_PROGRAM_BINARIES,
                           count * sizeof *slots, slots, NULL);
  if (*code == CL_SUCCESS) {
    binary = slots[position];
    slots[position] = NULL;
    *binary_size = sizes[position];
  }

done:
  if (slots != NULL)
    gcl_free(slots[position]);
  gcl_free(slots);
  gcl_free(sizes);
  return binary;
}

void gcl_disk_cache_store(cl_device_id device, const char *key,
                          const char *file_name, cl_program program) {
  char programs[GCL_CACHE_PATH_MAX], path[GCL_CACHE_PATH_MAX];
  char reason[REASON_SIZE];
  unsigned char *binary, *image;
  size_t binary_size = 0, image_size = 0;
  cl_int code;

  if (!program_paths(key, programs, path))
    return;
  binary = fetch_binary(program, device, &binary_size, &code);
  if (binary == NULL) {
    GCL_LOG_WARN("disk cache: cannot fetch the binary of %s: %s (%d); it "
                 "will be compiled again next time",
                 file_name, gcl_cl_error_name(code), (int)code);
    return;
  }

  image = encode_file(key, binary, binary_size, &image_size);
  gcl_free(binary);
  if (image == NULL) {
    GCL_LOG_WARN("disk cache: out of host memory to store %s", file_name);
    return;
  }
  if (!make_folder(programs, reason, sizeof reason) ||
      !replace_file(programs, path, image, image_size, reason,
                    sizeof reason))
    GCL_LOG_WARN("disk cache: cannot store %s: %s; set GROUPCL_CACHE_DIR to "
                 "a writable folder or GROUPCL_CACHE=off",
                 file_name, reason);
  else
    GCL_LOG_INFO("disk cache: stored %s (%zu bytes) in %s", file_name,
                 binary_size, path);
  gcl_free(image);
}

/* ---- loading ---------------------------------------------------------------- */

/* Reads a whole regular file; returns NULL with a reason, or with an empty
 * reason when the file does not exist. */
static unsigned char *read_file(const char *path, uint64_t *size,
                                char *reason, size_t reason_size) {
  FILE *file = fopen(path, "rb");
  struct stat info;
  unsigned char *image = NULL;

  reason[0] = '\0';
  if (file == NULL) {
    if (errno != ENOENT)
      describe_errno(reason, reason_size, "cannot open", path, errno);
    return NULL;
  }
  if (fstat(fileno(file), &info) != 0 || !S_ISREG(info.st_mode) ||
      (uint64_t)info.st_size > MAX_FILE_SIZE) {
    snprintf(reason, reason_size, "not a regular file of at most %" PRIu64
             " bytes", MAX_FILE_SIZE);
    fclose(file);
    return NULL;
  }

  *size = (uint64_t)info.st_size;
  image = gcl_malloc(*size > 0 ? (size_t)*size : 1);
  if (image == NULL)
    snprintf(reason, reason_size, "out of host memory for %" PRIu64 " bytes",
             *size);
  else if (fread(image, 1, (size_t)*size, file) != (size_t)*size) {
    snprintf(reason, reason_size, "cannot read all %" PRIu64 " bytes", *size);
    gcl_free(image);
    image = NULL;
  }
  fclose(file);
  return image;
}

/* Creates and builds a program from binary; 0 (logged) if the driver
 * rejects it. */
static int build_from_binary(cl_context cl_ctx, cl_device_id device,
                             const unsigned char *binary, size_t binary_size,
                             const char *options, const char *file_name,
                             const char *path, cl_program *program) {
  cl_int binary_status = CL_SUCCESS;
  cl_int code;
  cl_program created;

  created = gcl_clCreateProgramWithBinary(cl_ctx, 1, &device, &binary_size,
                                          &binary, &binary_status, &code);
  if (created != NULL)
    gcl_cl_object_created(GCL_CL_PROGRAM);
  if (created != NULL && code == CL_SUCCESS && binary_status != CL_SUCCESS)
    code = binary_status;
  if (created == NULL || code != CL_SUCCESS) {
    GCL_LOG_WARN("disk cache: the driver rejected the binary of %s in %s: "
                 "%s (%d); building from source",
                 file_name, path, gcl_cl_error_name(code), (int)code);
    gcl_release_program(created);
    return 0;
  }

  code = clBuildProgram(created, 1, &device, options, NULL, NULL);
  if (code != CL_SUCCESS) {
    GCL_LOG_WARN("disk cache: building the binary of %s from %s failed: "
                 "%s (%d); building from source",
                 file_name, path, gcl_cl_error_name(code), (int)code);
    gcl_release_program(created);
    return 0;
  }
  *program = created;
  return 1;
}

int gcl_disk_cache_load(cl_context cl_ctx, cl_device_id device,
                        const char *key, const char *options,
                        const char *file_name, cl_program *program) {
  char programs[GCL_CACHE_PATH_MAX], path[GCL_CACHE_PATH_MAX];
  char reason[REASON_SIZE];
  const unsigned char *binary;
  unsigned char *image;
  uint64_t size = 0;
  size_t binary_size = 0;
  int loaded = 0;

  if (!program_paths(key, programs, path))
    return 0;
  image = read_file(path, &size, reason, sizeof reason);
  if (image == NULL) {
    if (reason[0] != '\0')
      GCL_LOG_WARN("disk cache: ignoring %s: %s", path, reason);
    return 0;
  }

  binary = decode_file(image, size, key, &binary_size, reason, sizeof reason);
  if (binary == NULL)
    GCL_LOG_WARN("disk cache: ignoring %s: %s; it will be replaced", path,
                 reason);
  else
    loaded = build_from_binary(cl_ctx, device, binary, binary_size, options,
                               file_name, path, program);
  if (loaded)
    GCL_LOG_INFO("disk cache: loaded %s from %s", file_name, path);
  gcl_free(image);
  return loaded;
}
