/*
 * A PNG bar chart of benchmark results for `groupcl bench --chart`: one
 * group of bars per layer, one bar per series (an algorithm) in each group,
 * on a logarithmic GFLOP/s axis, with a legend. Text uses a built-in 5x7
 * pixel font of capital letters, digits and a little punctuation, so lower
 * case is drawn as upper case.
 */
#ifndef GROUPCL_TOOLS_BENCH_CHART_H
#define GROUPCL_TOOLS_BENCH_CHART_H

#include <stddef.h>

/* Maximum width of a chart in pixels. More layers than fit are rejected. */
#define BENCH_CHART_MAX_WIDTH 20000

typedef struct bench_chart {
  const char *title;
  size_t layer_count;
  const char *const *layer_names;  /* [layer_count] */
  size_t series_count;
  const char *const *series_names; /* [series_count], shown in the legend */
  /*
   * GFLOP/s as [layer_count][series_count]. A value that is not a positive
   * finite number, such as NaN for an algorithm that cannot run the layer,
   * draws no bar.
   */
  const double *values;
} bench_chart;

/*
 * Draws the chart and writes it as an RGB PNG file. The file is written to
 * a temporary name and renamed, so a failure leaves no file at path.
 * Returns 0 on success, else -1 with a message in error.
 */
int bench_chart_write(const char *path, const bench_chart *chart,
                      char *error, size_t error_size);

#endif
