/* groupcl devices: a table of every OpenCL device and its properties. */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd_options.h"
#include "cli_args.h"

#define COMMAND "devices"

enum { COLUMN_COUNT = 11, CELL_SIZE = 136 };

typedef char table_row[COLUMN_COUNT][CELL_SIZE];

static const char *const column_titles[COLUMN_COUNT] = {
    "P:D",          "platform",  "device", "type",
    "compute units", "global MiB", "max alloc MiB", "OpenCL C",
    "fp16",         "fp64",      "driver"};

static void print_devices_help(void) {
  puts("Usage: groupcl devices [--help]\n"
       "\n"
       "Lists every device of every OpenCL platform, one row each:\n"
       "  P:D            platform and device index, as --device P:D takes it\n"
       "  platform       platform name\n"
       "  device         device name\n"
       "  type           GPU, CPU, accelerator, custom or default\n"
       "  compute units  number of parallel compute units\n"
       "  global MiB     global memory size in MiB (1 MiB = 1048576 bytes),\n"
       "                 or GROUPCL_GLOBAL_MEM_BYTES when that is lower\n"
       "  max alloc MiB  largest single buffer the device allows, in MiB,\n"
       "                 or GROUPCL_MAX_ALLOC_BYTES when that is lower\n"
       "  OpenCL C       OpenCL C version of the device compiler\n"
       "  fp16, fp64     whether half and double precision are supported\n"
       "  driver         driver version\n"
       "\n"
       "Options:\n"
       "  -h, --help  print this help and exit\n"
       "\n"
       "Exits with status 4 when there is no OpenCL device at all.");
}

static void fill_row(const gcl_device_info *device, table_row row) {
  char type_name[32];
  const uint64_t mebibyte = UINT64_C(1) << 20;

  snprintf(row[0], CELL_SIZE, "%u:%u", device->platform_index,
           device->device_index);
  snprintf(row[1], CELL_SIZE, "%s", device->platform_name);
  snprintf(row[2], CELL_SIZE, "%s", device->device_name);
  snprintf(row[3], CELL_SIZE, "%s",
           gcl_device_type_name(device->type, type_name, sizeof type_name));
  snprintf(row[4], CELL_SIZE, "%u", (unsigned)device->compute_units);
  snprintf(row[5], CELL_SIZE, "%" PRIu64,
           (uint64_t)device->global_mem_bytes / mebibyte);
  snprintf(row[6], CELL_SIZE, "%" PRIu64,
           (uint64_t)device->max_alloc_bytes / mebibyte);
  snprintf(row[7], CELL_SIZE, "%s", device->opencl_c_version);
  snprintf(row[8], CELL_SIZE, "%s", device->has_fp16 ? "yes" : "no");
  snprintf(row[9], CELL_SIZE, "%s", device->has_fp64 ? "yes" : "no");
  snprintf(row[10], CELL_SIZE, "%s", device->driver_version);
}

static void print_row(const char *const *cells, const size_t *widths) {
  for (int column = 0; column < COLUMN_COUNT; column++) {
    /* The last column is not padded, so lines carry no trailing spaces. */
    if (column == COLUMN_COUNT - 1) {
      printf("%s\n", cells[column]);
    } else {
      printf("%-*s  ", (int)widths[column], cells[column]);
    }
  }
}

/* Prints the rows under a title line, with each column as wide as needed. */
static void print_table(table_row *rows, size_t row_count) {
  size_t widths[COLUMN_COUNT];
  for (int column = 0; column < COLUMN_COUNT; column++) {
    widths[column] = strlen(column_titles[column]);
    for (size_t i = 0; i < row_count; i++) {
      const size_t length = strlen(rows[i][column]);
      if (length > widths[column]) {
        widths[column] = length;
      }
    }
  }

  print_row(column_titles, widths);
  for (size_t i = 0; i < row_count; i++) {
    const char *cells[COLUMN_COUNT];
    for (int column = 0; column < COLUMN_COUNT; column++) {
      cells[column] = rows[i][column];
    }
    print_row(cells, widths);
  }
}

int parse_devices_options(int argc, char **argv, int *show_help) {
  static const struct option options[] = {{"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
  int code;
  cli_reset_getopt();
  while ((code = getopt_long(argc, argv, ":h", options, NULL)) != -1) {
    if (code == 'h') {
      *show_help = 1;
    } else {
      return cli_report_getopt_error(COMMAND, code, argv, options);
    }
  }
  return cli_check_no_operands(COMMAND, argc, argv);
}

int cmd_devices(int argc, char **argv) {
  int show_help = 0;
  const int usage_rc = parse_devices_options(argc, argv, &show_help);
  if (usage_rc != 0) {
    return usage_rc;
  }
  if (show_help) {
    print_devices_help();
    return CLI_EXIT_SUCCESS;
  }

  gcl_device_info *devices = NULL;
  size_t count = 0;
  const gcl_status status = gcl_devices_list(&devices, &count);
  if (status != GCL_SUCCESS) {
    return cli_library_error(COMMAND, "listing the OpenCL devices", status);
  }
  if (count == 0) {
    gcl_devices_free(devices);
    cli_error(COMMAND, "no OpenCL device found. Install an OpenCL driver, "
                       "for example PoCL for the CPU with 'apt-get install "
                       "pocl-opencl-icd', then run 'groupcl devices' again.");
    return CLI_EXIT_NO_DEVICE;
  }

  table_row *rows = calloc(count, sizeof *rows);
  if (rows == NULL) {
    gcl_devices_free(devices);
    cli_error(COMMAND, "out of memory for a table of %zu devices.", count);
    return CLI_EXIT_RUNTIME;
  }
  for (size_t i = 0; i < count; i++) {
    fill_row(&devices[i], rows[i]);
  }
  print_table(rows, count);

  free(rows);
  gcl_devices_free(devices);
  return CLI_EXIT_SUCCESS;
}
