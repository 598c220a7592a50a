/*
 * Declarations shared by the fuzz harnesses and the replay driver. Each
 * harness defines LLVMFuzzerTestOneInput. clang's -fsanitize=fuzzer links
 * it with libFuzzer's main(), and make check links it with fuzz/replay.c,
 * which feeds it the stored inputs.
 */
#ifndef GROUPCL_FUZZ_FUZZ_H
#define GROUPCL_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Runs one input and returns 0. A broken rule aborts the process. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Aborts with the location, the condition and a printf-style message when
 * condition is false. libFuzzer saves an input that aborts as a crash, and
 * the replay test fails on it.
 */
#define FUZZ_REQUIRE(condition, ...)                                          \
  do {                                                                        \
    if (!(condition)) {                                                       \
      fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__,        \
              #condition);                                                    \
      fprintf(stderr, __VA_ARGS__);                                           \
      fputc('\n', stderr);                                                    \
      abort();                                                                \
    }                                                                         \
  } while (0)

#endif
