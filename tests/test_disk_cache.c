/*
 * The persistent caches: program binaries on disk
 * (lib/program/disk_cache.h) and the tuning database (lib/tune/tuning_db.h).
 * Every test points GROUPCL_CACHE_DIR at its own mkdtemp folder; Criterion
 * runs each test in its own process, so the environment does not leak.
 */
#define _POSIX_C_SOURCE 200809L
#include "helpers.h"
#include "program/disk_cache.h"
#include "program/program_cache.h"
#include "tune/tuning_db.h"
#include "util/error.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define assert_status(actual, expected, label)                                 \
  cr_assert_eq((actual), (expected),                                           \
               "%s: status %d (%s), expected %d (%s); gcl_last_error(): %s",   \
               (label), (int)(actual), gcl_status_string(actual),              \
               (int)(expected), gcl_status_string(expected), gcl_last_error())

/* Writes 3 * i + 1 into element i, so a wrong program shows in the data. */
static const char fill_source[] =
    "__kernel void fill(__global float *data) {\n"
    "  size_t i = get_global_id(0);\n"
    "  data[i] = 3.0f * (float)i + 1.0f;\n"
    "}\n";

#define FILL_COUNT 64

/* Header bytes before the key: magic, format version, key length. */
#define FILE_HEADER_SIZE 20

/* ---- folders ---------------------------------------------------------------- */

static void remove_tree(const char *path) {
  DIR *folder = opendir(path);
  struct dirent *item;

  if (folder == NULL) {
    unlink(path);
    return;
  }
  while ((item = readdir(folder)) != NULL) {
    char child[4096];

    if (strcmp(item->d_name, ".") == 0 || strcmp(item->d_name, "..") == 0)
      continue;
    snprintf(child, sizeof child, "%s/%s", path, item->d_name);
    remove_tree(child);
  }
  closedir(folder);
  rmdir(path);
}

/* Counts the entries of folder (0 if it does not exist) and fails the test
 * if any of them is a leftover temporary file. */
static int count_entries(const char *folder) {
  DIR *listing = opendir(folder);
  struct dirent *item;
  int count = 0;

  if (listing == NULL)
    return 0;
  while ((item = readdir(listing)) != NULL) {
    if (strcmp(item->d_name, ".") == 0 || strcmp(item->d_name, "..") == 0)
      continue;
    cr_expect(strncmp(item->d_name, ".tmp-", 5) != 0,
              "temporary file %s/%s was left behind", folder, item->d_name);
    count++;
  }
  closedir(listing);
  return count;
}

/* Writes the path of the only file under programs/ into path. */
static void only_program_file(const char *root, char *path, size_t size) {
  char programs[256];
  DIR *listing;
  struct dirent *item;
  int found = 0;

  snprintf(programs, sizeof programs, "%s/programs", root);
  cr_assert_eq(count_entries(programs), 1,
               "%s should hold exactly one cached program", programs);
  listing = opendir(programs);
  cr_assert_not_null(listing, "cannot open %s", programs);
  while ((item = readdir(listing)) != NULL) {
    if (item->d_name[0] == '.')
      continue;
    cr_assert_eq(strlen(item->d_name), 20,
                 "cache file name %s is not 16 hex digits and .bin",
                 item->d_name);
    cr_assert_str_eq(item->d_name + 16, ".bin");
    snprintf(path, size, "%s/%s", programs, item->d_name);
    found = 1;
  }
  closedir(listing);
  cr_assert(found, "no cached program in %s", programs);
}

static unsigned char *read_whole(const char *path, size_t *size) {
  FILE *file = fopen(path, "rb");
  unsigned char *data;
  long length;

  cr_assert_not_null(file, "cannot open %s", path);
  cr_assert_eq(fseek(file, 0, SEEK_END), 0);
  length = ftell(file);
  cr_assert_geq(length, 0);
  rewind(file);
  data = malloc((size_t)length + 1);
  cr_assert_not_null(data);
  cr_assert_eq(fread(data, 1, (size_t)length, file), (size_t)length);
  fclose(file);
  *size = (size_t)length;
  return data;
}

static void write_whole(const char *path, const void *data, size_t size) {
  FILE *file = fopen(path, "wb");

  cr_assert_not_null(file, "cannot create %s", path);
  cr_assert_eq(fwrite(data, 1, size, file), size);
  cr_assert_eq(fclose(file), 0);
}

/* ---- fixture ---------------------------------------------------------------- */

typedef struct disk_fixture {
  char root[64]; /* the test's cache folder */
  gcl_context *context;
  cl_context cl_ctx;
  cl_device_id device;
  cl_command_queue queue;
} disk_fixture;

static void fixture_open(disk_fixture *f) {
  cl_int code;

  memset(f, 0, sizeof *f);
  snprintf(f->root, sizeof f->root, "/tmp/gcl-disk-cache-XXXXXX");
  cr_assert_not_null(mkdtemp(f->root), "mkdtemp failed");
  cr_assert_eq(setenv("GROUPCL_CACHE_DIR", f->root, 1), 0);
  unsetenv("GROUPCL_CACHE");
  unsetenv("GROUPCL_BUILD_OPTIONS");

  f->context = test_context();
  f->cl_ctx = gcl_context_cl_context(f->context, 0);
  f->queue = gcl_context_cl_queue(f->context, 0);
  cr_assert_not_null(f->cl_ctx, "the context has no OpenCL context");
  cr_assert_not_null(f->queue, "the context has no queue");
  code = clGetContextInfo(f->cl_ctx, CL_CONTEXT_DEVICES, sizeof f->device,
                          &f->device, NULL);
  cr_assert_eq(code, CL_SUCCESS, "clGetContextInfo(CL_CONTEXT_DEVICES): %d",
               code);
}

static void fixture_close(disk_fixture *f) {
  gcl_context_destroy(f->context);
  remove_tree(f->root);
}

typedef struct counts {
  uint64_t built, hits, loaded;
} counts;

/* Builds fill_source in a fresh program cache, as a new process would, and
 * returns the counts; the program is checked by running it. */
static counts build_fresh(disk_fixture *f, const char *label) {
  gcl_program_cache *cache = gcl_program_cache_create();
  cl_program program = NULL;
  counts result;

  cr_assert_not_null(cache, "gcl_program_cache_create failed");
  assert_status(gcl_program_build(cache, f->cl_ctx, f->device, "fill.cl",
                                  fill_source, "-DUNUSED=1", &program),
                GCL_SUCCESS, label);
  cr_assert_not_null(program, "%s: no program", label);
  gcl_program_cache_stats(cache, &result.built, &result.hits, &result.loaded);

  /* Runs the kernel and checks every element. */
  {
    float data[FILL_COUNT];
    size_t global = FILL_COUNT;
    cl_int code;
    cl_kernel kernel = clCreateKernel(program, "fill", &code);
    cl_mem buffer;

    cr_assert_eq(code, CL_SUCCESS, "%s: clCreateKernel(fill): %d", label,
                 code);
    buffer = clCreateBuffer(f->cl_ctx, CL_MEM_WRITE_ONLY, sizeof data, NULL,
                            &code);
    cr_assert_eq(code, CL_SUCCESS, "%s: clCreateBuffer: %d", label, code);
    cr_assert_eq(clSetKernelArg(kernel, 0, sizeof buffer, &buffer),
                 CL_SUCCESS);
    cr_assert_eq(clEnqueueNDRangeKernel(f->queue, kernel, 1, NULL, &global,
                                        NULL, 0, NULL, NULL),
                 CL_SUCCESS, "%s: the kernel did not start", label);
    cr_assert_eq(clEnqueueReadBuffer(f->queue, buffer, CL_TRUE, 0,
                                     sizeof data, data, 0, NULL, NULL),
                 CL_SUCCESS, "%s: reading the result failed", label);
    for (int i = 0; i < FILL_COUNT; i++)
      cr_assert_eq(data[i], 3.0f * (float)i + 1.0f,
                   "%s: element %d is %g, expected %g", label, i,
                   (double)data[i], 3.0 * i + 1.0);
    clReleaseMemObject(buffer);
    clReleaseKernel(kernel);
  }
  gcl_program_cache_destroy(cache);
  return result;
}

static void expect_counts(counts actual, uint64_t built, uint64_t loaded,
                          const char *label) {
  cr_assert_eq(actual.built, built, "%s: %llu built, expected %llu", label,
               (unsigned long long)actual.built, (unsigned long long)built);
  cr_assert_eq(actual.loaded, loaded, "%s: %llu loaded, expected %llu",
               label, (unsigned long long)actual.loaded,
               (unsigned long long)loaded);
}

/* ---- program binaries --------------------------------------------------------- */

Test(disk_cache, source_build_writes_file) {
  disk_fixture f;
  char path[4096];
  unsigned char *data;
  size_t size;

  fixture_open(&f);
  expect_counts(build_fresh(&f, "cold"), 1, 0, "cold");
  only_program_file(f.root, path, sizeof path);
  cr_assert_eq(count_entries(f.root), 1, "the cache folder holds more than "
               "programs/");

  data = read_whole(path, &size);
  cr_assert_gt(size, FILE_HEADER_SIZE + 16);
  cr_assert_eq(memcmp(data, "GCLPROG\n", 8), 0, "wrong magic bytes");
  cr_assert_eq(data[8], GCL_DISK_CACHE_FORMAT, "wrong format version");
  free(data);
  fixture_close(&f);
}

Test(disk_cache, fresh_cache_loads_from_disk) {
  disk_fixture f;
  gcl_program_cache *cache;
  cl_program first = NULL, second = NULL;
  uint64_t built, hits, loaded;

  fixture_open(&f);
  expect_counts(build_fresh(&f, "cold"), 1, 0, "cold");
  expect_counts(build_fresh(&f, "warm"), 0, 1, "warm");

  /* Within one cache, the memory hit still comes first. */
  cache = gcl_program_cache_create();
  cr_assert_not_null(cache);
  assert_status(gcl_program_build(cache, f.cl_ctx, f.device, "fill.cl",
                                  fill_source, "-DUNUSED=1", &first),
                GCL_SUCCESS, "load");
  assert_status(gcl_program_build(cache, f.cl_ctx, f.device, "fill.cl",
                                  fill_source, "-DUNUSED=1", &second),
                GCL_SUCCESS, "hit");
  cr_assert_eq(second, first, "the memory cache returned another program");
  gcl_program_cache_stats(cache, &built, &hits, &loaded);
  cr_assert_eq(built, 0);
  cr_assert_eq(loaded, 1);
  cr_assert_eq(hits, 1);
  gcl_program_cache_destroy(cache);
  fixture_close(&f);
}

Test(disk_cache, other_options_use_other_file) {
  disk_fixture f;
  gcl_program_cache *cache = NULL;
  cl_program program = NULL;
  char programs[4096];

  fixture_open(&f);
  expect_counts(build_fresh(&f, "cold"), 1, 0, "cold");
  cr_assert_eq(setenv("GROUPCL_BUILD_OPTIONS", "-DEXTRA=2", 1), 0);
  cache = gcl_program_cache_create();
  cr_assert_not_null(cache);
  assert_status(gcl_program_build(cache, f.cl_ctx, f.device, "fill.cl",
                                  fill_source, "-DUNUSED=1", &program),
                GCL_SUCCESS, "with GROUPCL_BUILD_OPTIONS");
  gcl_program_cache_destroy(cache);
  snprintf(programs, sizeof programs, "%s/programs", f.root);
  cr_assert_eq(count_entries(programs), 2,
               "GROUPCL_BUILD_OPTIONS did not give a second cache file");
  fixture_close(&f);
}

/* ---- damaged files -------------------------------------------------------- */

typedef enum damage {
  DAMAGE_BINARY_BYTE,
  DAMAGE_CHECKSUM_BYTE,
  DAMAGE_TRUNCATE_HALF,
  DAMAGE_TRUNCATE_HEADER,
  DAMAGE_MAGIC,
  DAMAGE_FORMAT_VERSION,
  DAMAGE_KEY_BYTE,
  DAMAGE_TRAILING_BYTES,
  DAMAGE_EMPTY
} damage;

static void apply_damage(const char *path, damage kind) {
  size_t size;
  unsigned char *data = read_whole(path, &size);

  switch (kind) {
  case DAMAGE_BINARY_BYTE:
    data[size - 9] ^= 0x5a; /* the binary's last byte */
    break;
  case DAMAGE_CHECKSUM_BYTE:
    data[size - 1] ^= 0x01;
    break;
  case DAMAGE_TRUNCATE_HALF:
    size /= 2;
    break;
  case DAMAGE_TRUNCATE_HEADER:
    size = 10;
    break;
  case DAMAGE_MAGIC:
    data[0] = 'X';
    break;
  case DAMAGE_FORMAT_VERSION:
    data[8] = (unsigned char)(GCL_DISK_CACHE_FORMAT + 1);
    break;
  case DAMAGE_KEY_BYTE:
    data[FILE_HEADER_SIZE + 5] ^= 0x20;
    break;
  case DAMAGE_TRAILING_BYTES:
    data = realloc(data, size + 3);
    cr_assert_not_null(data);
    memcpy(data + size, "xyz", 3);
    size += 3;
    break;
  case DAMAGE_EMPTY:
    size = 0;
    break;
  }
  write_whole(path, data, size);
  free(data);
}

/* Damages the cached file; the next build must ignore it, rebuild from
 * source and replace it with a file that then loads. */
static void expect_damage_rebuilt(damage kind, const char *label) {
  disk_fixture f;
  char path[4096];
  size_t size;
  unsigned char *replaced;

  fixture_open(&f);
  expect_counts(build_fresh(&f, label), 1, 0, label);
  only_program_file(f.root, path, sizeof path);
  apply_damage(path, kind);

  expect_counts(build_fresh(&f, label), 1, 0, label);
  only_program_file(f.root, path, sizeof path);
  replaced = read_whole(path, &size);
  cr_assert_eq(memcmp(replaced, "GCLPROG\n", 8), 0,
               "%s: the damaged file was not replaced", label);
  free(replaced);
  expect_counts(build_fresh(&f, label), 0, 1, label);
  fixture_close(&f);
}

Test(disk_damage, flipped_binary_byte) {
  expect_damage_rebuilt(DAMAGE_BINARY_BYTE, "flipped binary byte");
}

Test(disk_damage, flipped_checksum_byte) {
  expect_damage_rebuilt(DAMAGE_CHECKSUM_BYTE, "flipped checksum byte");
}

Test(disk_damage, truncated_to_half) {
  expect_damage_rebuilt(DAMAGE_TRUNCATE_HALF, "truncated to half");
}

Test(disk_damage, truncated_inside_header) {
  expect_damage_rebuilt(DAMAGE_TRUNCATE_HEADER, "truncated inside header");
}

Test(disk_damage, empty_file) {
  expect_damage_rebuilt(DAMAGE_EMPTY, "empty file");
}

Test(disk_damage, wrong_magic) {
  expect_damage_rebuilt(DAMAGE_MAGIC, "wrong magic");
}

Test(disk_damage, stale_format_version) {
  expect_damage_rebuilt(DAMAGE_FORMAT_VERSION, "stale format version");
}

Test(disk_damage, key_mismatch) {
  expect_damage_rebuilt(DAMAGE_KEY_BYTE, "key mismatch");
}

Test(disk_damage, trailing_bytes) {
  expect_damage_rebuilt(DAMAGE_TRAILING_BYTES, "trailing bytes");
}

/* ---- disabled and unwritable caches -------------------------------------- */

Test(disk_cache, off_writes_and_reads_nothing) {
  disk_fixture f;
  char programs[4096];

  fixture_open(&f);
  cr_assert_eq(setenv("GROUPCL_CACHE", "off", 1), 0);
  expect_counts(build_fresh(&f, "off, first"), 1, 0, "off, first");
  cr_assert_eq(count_entries(f.root), 0,
               "GROUPCL_CACHE=off still wrote into the cache folder");

  /* A warm file is not read while the cache is off. */
  cr_assert_eq(unsetenv("GROUPCL_CACHE"), 0);
  expect_counts(build_fresh(&f, "on"), 1, 0, "on");
  cr_assert_eq(setenv("GROUPCL_CACHE", "off", 1), 0);
  expect_counts(build_fresh(&f, "off, warm"), 1, 0, "off, warm");
  snprintf(programs, sizeof programs, "%s/programs", f.root);
  cr_assert_eq(count_entries(programs), 1);
  fixture_close(&f);
}

Test(disk_cache, folder_is_regular_file) {
  disk_fixture f;
  char file_path[4096];

  fixture_open(&f);
  snprintf(file_path, sizeof file_path, "%s/not-a-folder", f.root);
  write_whole(file_path, "x", 1);
  cr_assert_eq(setenv("GROUPCL_CACHE_DIR", file_path, 1), 0);

  gcl_clear_error();
  expect_counts(build_fresh(&f, "unwritable"), 1, 0, "unwritable");
  cr_assert_str_eq(gcl_last_error(), "",
                   "a failed cache write left an error message");
  expect_counts(build_fresh(&f, "unwritable again"), 1, 0,
                "unwritable again");
  cr_assert_eq(count_entries(f.root), 1, "something was written next to the "
               "regular file");
  fixture_close(&f);
}

Test(disk_cache, creates_nested_folder_private) {
  disk_fixture f;
  char nested[4096];
  struct stat info;

  fixture_open(&f);
  snprintf(nested, sizeof nested, "%s/a/b/groupcl", f.root);
  cr_assert_eq(setenv("GROUPCL_CACHE_DIR", nested, 1), 0);
  expect_counts(build_fresh(&f, "nested"), 1, 0, "nested");
  cr_assert_eq(stat(nested, &info), 0, "%s was not created", nested);
  cr_assert_eq(info.st_mode & 0777, 0700, "%s has mode %o, expected 0700",
               nested, (unsigned)(info.st_mode & 0777));
  expect_counts(build_fresh(&f, "nested, warm"), 0, 1, "nested, warm");
  fixture_close(&f);
}

Test(disk_cache, folder_from_environment) {
  char folder[GCL_CACHE_PATH_MAX];

  cr_assert_eq(setenv("GROUPCL_CACHE_DIR", "/tmp/explicit", 1), 0);
  cr_assert_eq(setenv("XDG_CACHE_HOME", "/tmp/xdg", 1), 0);
  cr_assert_eq(setenv("HOME", "/tmp/home", 1), 0);
  cr_assert(gcl_disk_cache_folder(folder, sizeof folder));
  cr_assert_str_eq(folder, "/tmp/explicit");

  cr_assert_eq(setenv("GROUPCL_CACHE_DIR", "", 1), 0);
  cr_assert(gcl_disk_cache_folder(folder, sizeof folder));
  cr_assert_str_eq(folder, "/tmp/xdg/groupcl");

  /* The XDG Base Directory Specification calls a relative path invalid. */
  cr_assert_eq(setenv("XDG_CACHE_HOME", "relative", 1), 0);
  cr_assert(gcl_disk_cache_folder(folder, sizeof folder));
  cr_assert_str_eq(folder, "/tmp/home/.cache/groupcl");

  cr_assert_eq(unsetenv("XDG_CACHE_HOME"), 0);
  cr_assert_eq(unsetenv("HOME"), 0);
  cr_assert_not(gcl_disk_cache_folder(folder, sizeof folder),
                "a folder was found with no variable set: %s", folder);
}

Test(disk_cache, context_stats_count_loads) {
  disk_fixture f;
  gcl_conv_desc desc;
  gcl_conv *conv = NULL;
  gcl_plan *plan = NULL;
  gcl_context *second = NULL;
  gcl_context_stats stats;
  const int64_t input_shape[4] = {1, 4, 6, 6};
  float weights[4 * 2 * 3 * 3];

  fixture_open(&f);
  test_fill(weights, sizeof weights / sizeof weights[0], 7);
  gcl_conv_desc_init(&desc, 2, 4, 4, 3);
  desc.group = 2;
  desc.bias_term = 0;

  /* Two contexts in one process stand for two processes: the second has
   * an empty memory cache but finds the first one's files. */
  for (int round = 0; round < 2; round++) {
    gcl_context *context = round == 0 ? f.context : NULL;

    if (round == 1) {
      assert_status(gcl_context_create(NULL, &second), GCL_SUCCESS,
                    "second context");
      context = second;
    }
    assert_status(gcl_conv_create(context, &desc, weights, NULL, &conv),
                  GCL_SUCCESS, "conv");
    assert_status(gcl_plan_create(conv, 4, input_shape, NULL, &plan),
                  GCL_SUCCESS, "plan");
    assert_status(gcl_context_get_stats(context, &stats), GCL_SUCCESS,
                  "stats");
    if (round == 0) {
      cr_assert_gt(stats.programs_built, 0, "the cold plan built nothing");
      cr_assert_eq(stats.programs_loaded, 0);
    } else {
      cr_assert_eq(stats.programs_built, 0,
                   "the warm plan built %llu programs",
                   (unsigned long long)stats.programs_built);
      cr_assert_gt(stats.programs_loaded, 0, "the warm plan loaded nothing");
    }
    gcl_plan_destroy(plan);
    gcl_conv_destroy(conv);
  }
  gcl_context_destroy(second);
  fixture_close(&f);
}

/* ---- tuning database ---------------------------------------------------- */

typedef struct tuning_fixture {
  char root[64];
  char path[128]; /* root/tuning.tsv */
} tuning_fixture;

static void tuning_open(tuning_fixture *t) {
  snprintf(t->root, sizeof t->root, "/tmp/gcl-tuning-XXXXXX");
  cr_assert_not_null(mkdtemp(t->root), "mkdtemp failed");
  snprintf(t->path, sizeof t->path, "%s/%s", t->root, GCL_TUNING_FILE_NAME);
  cr_assert_eq(setenv("GROUPCL_CACHE_DIR", t->root, 1), 0);
  unsetenv("GROUPCL_CACHE");
}

static void tuning_close(tuning_fixture *t) { remove_tree(t->root); }

/* Looks up one entry and checks whether it is found, with what values. */
static void expect_entry(const char *device_key, const char *layer_key,
                         const char *algorithm, double seconds) {
  char stored[64] = "";
  double stored_seconds = -1.0;
  int found = -1;

  assert_status(gcl_tuning_lookup(device_key, layer_key, stored,
                                  sizeof stored, &stored_seconds, &found),
                GCL_SUCCESS, "lookup");
  if (algorithm == NULL) {
    cr_assert_eq(found, 0, "(%s, %s) was found: %s", device_key, layer_key,
                 stored);
    return;
  }
  cr_assert_eq(found, 1, "(%s, %s) was not found", device_key, layer_key);
  cr_assert_str_eq(stored, algorithm, "(%s, %s)", device_key, layer_key);
  cr_assert(fabs(stored_seconds - seconds) <= 1e-9,
            "(%s, %s): %.12g s stored, expected %.12g s", device_key,
            layer_key, stored_seconds, seconds);
}

/* Counts the lines of the database that are not comments. */
static int count_data_lines(const char *path) {
  FILE *file = fopen(path, "r");
  char line[4096];
  int count = 0;

  cr_assert_not_null(file, "cannot open %s", path);
  while (fgets(line, sizeof line, file) != NULL) {
    if (line[0] != '#')
      count++;
  }
  fclose(file);
  return count;
}

Test(tuning, store_then_lookup) {
  tuning_fixture t;

  tuning_open(&t);
  expect_entry("dev", "layer", NULL, 0.0);
  assert_status(gcl_tuning_store("dev", "layer", "direct", 0.00125),
                GCL_SUCCESS, "store");
  expect_entry("dev", "layer", "direct", 0.00125);
  expect_entry("dev", "other layer", NULL, 0.0);
  expect_entry("other dev", "layer", NULL, 0.0);
  cr_assert_eq(count_entries(t.root), 1, "more than tuning.tsv was written");
  tuning_close(&t);
}

Test(tuning, store_replaces_entry) {
  tuning_fixture t;

  tuning_open(&t);
  assert_status(gcl_tuning_store("dev", "layer", "direct", 0.5), GCL_SUCCESS,
                "first store");
  assert_status(gcl_tuning_store("dev", "layer", "caffe_gemm", 0.25),
                GCL_SUCCESS, "second store");
  expect_entry("dev", "layer", "caffe_gemm", 0.25);
  cr_assert_eq(count_data_lines(t.path), 1, "the entry was appended twice");
  tuning_close(&t);
}

Test(tuning, two_keys_kept_apart) {
  tuning_fixture t;

  tuning_open(&t);
  assert_status(gcl_tuning_store("dev", "layer A", "direct", 1.0),
                GCL_SUCCESS, "store A");
  assert_status(gcl_tuning_store("dev", "layer B", "depthwise", 2e-6),
                GCL_SUCCESS, "store B");
  assert_status(gcl_tuning_store("dev 2", "layer A", "pointwise", 3.0),
                GCL_SUCCESS, "store A on dev 2");
  expect_entry("dev", "layer A", "direct", 1.0);
  expect_entry("dev", "layer B", "depthwise", 2e-6);
  expect_entry("dev 2", "layer A", "pointwise", 3.0);
  expect_entry("dev 2", "layer B", NULL, 0.0);
  cr_assert_eq(count_data_lines(t.path), 3);
  tuning_close(&t);
}

Test(tuning, corrupt_lines_skipped_then_dropped) {
  static const char content[] =
      "# a comment\n"
      "dev\tgood 1\tdirect\t1000\n"
      "dev\ttwo fields only\n"
      "dev\tbad time\tdirect\t12ms\n"
      "dev\tnegative\tdirect\t-5\n"
      "dev\tfive fields\tdirect\t5\textra\n"
      "dev\t\tdirect\t5\n"
      "\n"
      "dev\tgood 2\tcaffe_gemm\t2000000000\n";
  tuning_fixture t;

  tuning_open(&t);
  write_whole(t.path, content, sizeof content - 1);
  expect_entry("dev", "good 1", "direct", 1e-6);
  expect_entry("dev", "good 2", "caffe_gemm", 2.0);
  expect_entry("dev", "bad time", NULL, 0.0);
  expect_entry("dev", "negative", NULL, 0.0);
  expect_entry("dev", "five fields", NULL, 0.0);

  assert_status(gcl_tuning_store("dev", "new", "direct", 0.001), GCL_SUCCESS,
                "store after corrupt lines");
  cr_assert_eq(count_data_lines(t.path), 3,
               "the corrupt lines were not dropped by the store");
  expect_entry("dev", "good 1", "direct", 1e-6);
  expect_entry("dev", "good 2", "caffe_gemm", 2.0);
  expect_entry("dev", "new", "direct", 0.001);
  tuning_close(&t);
}

Test(tuning, off_reads_and_writes_nothing) {
  tuning_fixture t;
  struct stat info;

  tuning_open(&t);
  assert_status(gcl_tuning_store("dev", "layer", "direct", 0.5), GCL_SUCCESS,
                "store while on");
  cr_assert_eq(setenv("GROUPCL_CACHE", "off", 1), 0);
  expect_entry("dev", "layer", NULL, 0.0);
  assert_status(gcl_tuning_store("dev", "other", "direct", 0.5), GCL_SUCCESS,
                "store while off");
  cr_assert_eq(unsetenv("GROUPCL_CACHE"), 0);
  expect_entry("dev", "other", NULL, 0.0);
  expect_entry("dev", "layer", "direct", 0.5);

  /* With the cache off from the start, no file appears at all. */
  cr_assert_eq(unlink(t.path), 0);
  cr_assert_eq(setenv("GROUPCL_CACHE", "off", 1), 0);
  assert_status(gcl_tuning_store("dev", "layer", "direct", 0.5), GCL_SUCCESS,
                "store while off");
  cr_assert_neq(stat(t.path, &info), 0, "GROUPCL_CACHE=off wrote %s",
                t.path);
  tuning_close(&t);
}

Test(tuning, rejects_invalid_arguments) {
  tuning_fixture t;
  char algorithm[4];
  double seconds;
  int found;

  tuning_open(&t);
  assert_status(gcl_tuning_store("dev\tx", "layer", "direct", 1.0),
                GCL_ERROR_INVALID_ARGUMENT, "tab in device key");
  assert_status(gcl_tuning_store("dev", "layer\n", "direct", 1.0),
                GCL_ERROR_INVALID_ARGUMENT, "newline in layer key");
  assert_status(gcl_tuning_store("dev", "layer", "", 1.0),
                GCL_ERROR_INVALID_ARGUMENT, "empty algorithm");
  assert_status(gcl_tuning_store("#dev", "layer", "direct", 1.0),
                GCL_ERROR_INVALID_ARGUMENT, "leading #");
  assert_status(gcl_tuning_store("dev", "layer", "direct", -1.0),
                GCL_ERROR_INVALID_ARGUMENT, "negative time");
  assert_status(gcl_tuning_store("dev", "layer", "direct", NAN),
                GCL_ERROR_INVALID_ARGUMENT, "NaN time");
  cr_assert_eq(count_entries(t.root), 0, "a rejected store wrote a file");

  /* A name longer than the caller's buffer is an error, not a cut name. */
  assert_status(gcl_tuning_store("dev", "layer", "caffe_gemm", 1.0),
                GCL_SUCCESS, "store");
  assert_status(gcl_tuning_lookup("dev", "layer", algorithm, sizeof algorithm,
                                  &seconds, &found),
                GCL_ERROR_INVALID_ARGUMENT, "small buffer");
  tuning_close(&t);
}

Test(tuning, unwritable_folder_fails_with_io) {
  tuning_fixture t;
  char file_path[160];

  tuning_open(&t);
  snprintf(file_path, sizeof file_path, "%s/not-a-folder", t.root);
  write_whole(file_path, "x", 1);
  cr_assert_eq(setenv("GROUPCL_CACHE_DIR", file_path, 1), 0);
  assert_status(gcl_tuning_store("dev", "layer", "direct", 1.0),
                GCL_ERROR_IO, "cache folder is a regular file");
  cr_assert(strstr(gcl_last_error(), "GROUPCL_CACHE_DIR") != NULL,
            "the message does not say what to do: %s", gcl_last_error());
  expect_entry("dev", "layer", NULL, 0.0);
  tuning_close(&t);
}

Test(tuning, device_key_escapes_separators) {
  gcl_device_info info;
  char key[GCL_TUNING_KEY_SIZE], other[GCL_TUNING_KEY_SIZE];
  char small[8];
  size_t length;

  memset(&info, 0, sizeof info);
  strcpy(info.platform_name, "Plat\tform");
  strcpy(info.device_name, "Dev|ice\n");
  strcpy(info.driver_version, "1.2");
  length = gcl_tuning_device_key(&info, key, sizeof key);
  cr_assert_eq(length, strlen(key));
  cr_assert_null(strpbrk(key, "\t\n\r"), "unescaped control character: %s",
                 key);
  cr_assert(strstr(key, "Dev\\|ice\\n") != NULL, "key: %s", key);
  cr_assert(strstr(key, "groupcl 0.") != NULL, "no groupcl version: %s", key);

  /* A '|' inside a name must not be confused with the separator. */
  strcpy(info.platform_name, "Plat\tform | Dev");
  strcpy(info.device_name, "ice\n");
  gcl_tuning_device_key(&info, other, sizeof other);
  cr_assert_str_neq(key, other);

  cr_assert_eq(gcl_tuning_device_key(&info, small, sizeof small),
               strlen(other), "a short buffer must return the full length");
  cr_assert_eq(strlen(small), sizeof small - 1);
}

Test(tuning, layer_key_covers_every_field) {
  gcl_geometry base, changed;
  char key[GCL_TUNING_KEY_SIZE], other[GCL_TUNING_KEY_SIZE];
  int64_t *fields[] = {&changed.batch,        &changed.channels,
                       &changed.num_output,   &changed.group,
                       &changed.channels_per_group,
                       &changed.outputs_per_group,
                       &changed.in[0],        &changed.out[1],
                       &changed.kernel[2],    &changed.stride[0],
                       &changed.pad[1],       &changed.dilation[2],
                       &changed.in_size,      &changed.out_size,
                       &changed.kernel_size};

  memset(&base, 0, sizeof base);
  base.spatial_dims = 2;
  base.batch = 8;
  gcl_tuning_layer_key(&base, key, sizeof key);
  cr_assert(strstr(key, "batch=8") != NULL, "key: %s", key);
  cr_assert_null(strpbrk(key, "\t\n\r"));

  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
    changed = base;
    *fields[i] += 3;
    gcl_tuning_layer_key(&changed, other, sizeof other);
    cr_assert_str_neq(key, other, "changing field %zu left the key as %s", i,
                      key);
  }
  changed = base;
  changed.bias_term = 1;
  gcl_tuning_layer_key(&changed, other, sizeof other);
  cr_assert_str_neq(key, other, "bias_term is not in the key");
  changed = base;
  changed.spatial_dims = 3;
  gcl_tuning_layer_key(&changed, other, sizeof other);
  cr_assert_str_neq(key, other, "spatial_dims is not in the key");
}

/* Stores 50 entries of its own, starting when the parent closes the pipe;
 * exits with the number of failed stores. */
static void store_as_child(int start_pipe, int child) {
  char byte;
  int failures = 0;

  while (read(start_pipe, &byte, 1) > 0)
    ;
  for (int i = 0; i < 50; i++) {
    char layer[64];

    snprintf(layer, sizeof layer, "child %d layer %02d", child, i);
    if (gcl_tuning_store("dev", layer, child == 0 ? "direct" : "caffe_gemm",
                         (double)(i + 1) * 1e-3) != GCL_SUCCESS)
      failures++;
  }
  _exit(failures);
}

/* Checks one line written by store_as_child: its fields and values. */
static void check_child_line(char *line, int *last_seen) {
  int child = -1, index = -1;
  char algorithm[32];
  unsigned long long nanoseconds = 0;
  char tail;

  cr_assert_eq(sscanf(line,
                      "dev\tchild %d layer %d\t%31[a-z_]\t%llu%c", &child,
                      &index, algorithm, &nanoseconds, &tail),
               5, "line does not parse: %s", line);
  cr_assert_eq(tail, '\n', "line has extra text: %s", line);
  cr_assert(child == 0 || child == 1, "unknown child in: %s", line);
  cr_assert(index >= 0 && index < 50, "unknown index in: %s", line);
  cr_assert_str_eq(algorithm, child == 0 ? "direct" : "caffe_gemm");
  cr_assert_eq(nanoseconds, (unsigned long long)(index + 1) * 1000000ULL,
               "wrong time in: %s", line);
  if (index == 49)
    last_seen[child] = 1;
}

Test(tuning, concurrent_stores_never_corrupt) {
  tuning_fixture t;
  int start[2];
  pid_t children[2];
  int last_seen[2] = {0, 0};
  FILE *file;
  char line[512];

  tuning_open(&t);
  cr_assert_eq(pipe(start), 0, "pipe failed");
  for (int child = 0; child < 2; child++) {
    children[child] = fork();
    cr_assert_neq(children[child], -1, "fork failed");
    if (children[child] == 0) {
      close(start[1]);
      store_as_child(start[0], child);
    }
  }
  close(start[0]);
  close(start[1]); /* both children start now */

  for (int child = 0; child < 2; child++) {
    int status = 0;

    cr_assert_eq(waitpid(children[child], &status, 0), children[child]);
    cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "child %d: %d stores failed", child, WEXITSTATUS(status));
  }

  /* Lost updates are allowed, but every line must be whole and the last
   * rename carried its writer's final entry. */
  file = fopen(t.path, "r");
  cr_assert_not_null(file, "%s is missing", t.path);
  while (fgets(line, sizeof line, file) != NULL) {
    if (line[0] != '#')
      check_child_line(line, last_seen);
  }
  fclose(file);
  cr_assert(last_seen[0] || last_seen[1],
            "neither child's last entry is in the file");
  cr_assert_eq(count_entries(t.root), 1, "temporary files were left behind");
  tuning_close(&t);
}
