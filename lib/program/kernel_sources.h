/* OpenCL C sources embedded at build time from the files in kernels/. */
#ifndef GCL_PROGRAM_KERNEL_SOURCES_H
#define GCL_PROGRAM_KERNEL_SOURCES_H

typedef struct gcl_kernel_source {
  const char *file_name; /* "kernels/im2col.cl" */
  const char *text;
} gcl_kernel_source;

/* Terminated by an entry whose file_name is NULL. */
extern const gcl_kernel_source gcl_kernel_sources[];

#endif
