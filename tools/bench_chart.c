/*
 * Draws the bar chart of `groupcl bench --chart` into a planar RGB float
 * image and writes it with png_write.
 */
#include "bench_chart.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "png_io.h"

/* Glyphs are 5 pixels wide and 7 high. Text advances 6 pixels a glyph. */
#define GLYPH_WIDTH 5
#define GLYPH_HEIGHT 7
#define GLYPH_ADVANCE 6
#define TITLE_SCALE 2

/* Layout, in pixels. */
#define MARGIN 16
#define AXIS_LABEL_WIDTH 48 /* room for "10000" left of the axis */
#define BAR_WIDTH 6
#define GROUP_GAP 10
#define PLOT_HEIGHT 320
#define LEGEND_BOX 10
#define LEGEND_ROW 16
#define MIN_WIDTH 480

typedef struct rgb {
  float red, green, blue;
} rgb;

/* A planar image [3][height][width] with values in [0, 1]. */
typedef struct canvas {
  int width;
  int height;
  float *pixels;
} canvas;

/* Rows of a glyph from top to bottom, with bit 4 as the leftmost column. */
typedef struct glyph {
  char character;
  unsigned char rows[GLYPH_HEIGHT];
} glyph;

static const glyph font[] = {
    {' ', {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}},
    {'A', {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}},
    {'B', {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}},
    {'C', {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}},
    {'D', {0x1E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1E}},
    {'E', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}},
    {'F', {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}},
    {'G', {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}},
    {'H', {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}},
    {'I', {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'J', {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}},
    {'K', {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}},
    {'L', {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}},
    {'M', {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}},
    {'N', {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}},
    {'O', {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}},
    {'P', {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}},
    {'Q', {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}},
    {'R', {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}},
    {'S', {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}},
    {'T', {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}},
    {'U', {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}},
    {'V', {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}},
    {'W', {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}},
    {'X', {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11}},
    {'Y', {0x11, 0x11, 0x0A, 0x04, 0x04, 0x04, 0x04}},
    {'Z', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F}},
    {'0', {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}},
    {'1', {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}},
    {'2', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}},
    {'3', {0x1E, 0x01, 0x01, 0x0E, 0x01, 0x01, 0x1E}},
    {'4', {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}},
    {'5', {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}},
    {'6', {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}},
    {'7', {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}},
    {'9', {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}},
    {'_', {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F}},
    {'-', {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00}},
    {'.', {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C}},
    {',', {0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08}},
    {':', {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00}},
    {'/', {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00}},
    {'%', {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}},
    {'(', {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}},
    {')', {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}},
    {'+', {0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00}},
    {'=', {0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00}},
    {'*', {0x00, 0x15, 0x0E, 0x1F, 0x0E, 0x15, 0x00}},
    {'?', {0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04}},
};

#define FONT_SIZE (sizeof font / sizeof font[0])

/* Bar colours, one per series in legend order, repeating after ten. */
static const rgb palette[] = {
    {0.12f, 0.47f, 0.71f}, {1.00f, 0.50f, 0.05f}, {0.17f, 0.63f, 0.17f},
    {0.84f, 0.15f, 0.16f}, {0.58f, 0.40f, 0.74f}, {0.55f, 0.34f, 0.29f},
    {0.89f, 0.47f, 0.76f}, {0.50f, 0.50f, 0.50f}, {0.74f, 0.74f, 0.13f},
    {0.09f, 0.75f, 0.81f}};

#define PALETTE_SIZE (sizeof palette / sizeof palette[0])

static const rgb white = {1.0f, 1.0f, 1.0f};
static const rgb black = {0.0f, 0.0f, 0.0f};
static const rgb decade_line = {0.65f, 0.65f, 0.65f};
static const rgb minor_line = {0.88f, 0.88f, 0.88f};
static const rgb group_shade = {0.95f, 0.95f, 0.97f};

/* Where the parts of the chart go, from the sizes of its contents. */
typedef struct chart_layout {
  int plot_left;
  int plot_top;
  int plot_width;
  int legend_top;
  int label_top; /* top of the vertical layer names */
  int width;
  int height;
  int group_width;
  double log_low; /* log10 of the GFLOP/s at the bottom of the plot */
  double log_high;
} chart_layout;

/* ------------------------------------------------------------------------ */
/* Drawing                                                                  */

static void set_pixel(canvas *image, int x, int y, rgb colour) {
  if (x < 0 || y < 0 || x >= image->width || y >= image->height) {
    return;
  }
  const size_t plane = (size_t)image->width * (size_t)image->height;
  const size_t at = (size_t)y * (size_t)image->width + (size_t)x;
  image->pixels[at] = colour.red;
  image->pixels[plane + at] = colour.green;
  image->pixels[2 * plane + at] = colour.blue;
}

static void fill_rect(canvas *image, int x, int y, int width, int height,
                      rgb colour) {
  for (int row = y; row < y + height; row++) {
    for (int column = x; column < x + width; column++) {
      set_pixel(image, column, row, colour);
    }
  }
}

/* Returns the glyph of c, upper case for letters, or '?' when it has none. */
static const glyph *find_glyph(char c) {
  const char upper = (char)toupper((unsigned char)c);
  const glyph *unknown = NULL;
  for (size_t i = 0; i < FONT_SIZE; i++) {
    if (font[i].character == upper) {
      return &font[i];
    }
    if (font[i].character == '?') {
      unknown = &font[i];
    }
  }
  return unknown;
}

static int text_width(const char *text, int scale) {
  const int length = (int)strlen(text);
  return length > 0 ? (length * GLYPH_ADVANCE - 1) * scale : 0;
}

/* Draws text left to right with its top-left corner at (x, y). */
static void draw_text(canvas *image, int x, int y, const char *text,
                      int scale, rgb colour) {
  for (int i = 0; text[i] != '\0'; i++) {
    const glyph *shape = find_glyph(text[i]);
    const int left = x + i * GLYPH_ADVANCE * scale;
    for (int row = 0; row < GLYPH_HEIGHT; row++) {
      for (int column = 0; column < GLYPH_WIDTH; column++) {
        if (shape->rows[row] & (0x10 >> column)) {
          fill_rect(image, left + column * scale, y + row * scale, scale,
                    scale, colour);
        }
      }
    }
  }
}

/*
 * Draws text turned a quarter clockwise, reading downwards from (x, y), so
 * that a glyph's top faces right. The text is GLYPH_HEIGHT pixels wide.
 */
static void draw_text_down(canvas *image, int x, int y, const char *text,
                           rgb colour) {
  for (int i = 0; text[i] != '\0'; i++) {
    const glyph *shape = find_glyph(text[i]);
    const int top = y + i * GLYPH_ADVANCE;
    for (int row = 0; row < GLYPH_HEIGHT; row++) {
      for (int column = 0; column < GLYPH_WIDTH; column++) {
        if (shape->rows[row] & (0x10 >> column)) {
          set_pixel(image, x + GLYPH_HEIGHT - 1 - row, top + column, colour);
        }
      }
    }
  }
}

/* ------------------------------------------------------------------------ */
/* Layout                                                                   */

static int is_bar_value(double value) {
  return isfinite(value) && value > 0.0;
}

/* Sets the axis to whole decades around the smallest and largest value. */
static void choose_axis(const bench_chart *chart, chart_layout *layout) {
  double smallest = INFINITY;
  double largest = 0.0;
  const size_t count = chart->layer_count * chart->series_count;
  for (size_t i = 0; i < count; i++) {
    if (is_bar_value(chart->values[i])) {
      smallest = fmin(smallest, chart->values[i]);
      largest = fmax(largest, chart->values[i]);
    }
  }

  if (largest == 0.0) { /* no bars: show 1 to 10 GFLOP/s */
    smallest = 1.0;
    largest = 1.0;
  }
  layout->log_low = floor(log10(smallest));
  layout->log_high = ceil(log10(largest));
  if (layout->log_high <= layout->log_low) {
    layout->log_high = layout->log_low + 1.0;
  }
}

static size_t longest_name(const char *const *names, size_t count) {
  size_t longest = 0;
  for (size_t i = 0; i < count; i++) {
    const size_t length = strlen(names[i]);
    longest = length > longest ? length : longest;
  }
  return longest;
}

/* Counts the legend rows, wrapping entries at the right margin. */
static int legend_rows(const bench_chart *chart, int width) {
  int rows = 1;
  int x = MARGIN;
  for (size_t i = 0; i < chart->series_count; i++) {
    const int entry = LEGEND_BOX + 4 + text_width(chart->series_names[i], 1) +
                      16;
    if (x + entry > width - MARGIN && x > MARGIN) {
      rows++;
      x = MARGIN;
    }
    x += entry;
  }
  return rows;
}

static int plan_layout(const bench_chart *chart, chart_layout *layout,
                       char *error, size_t error_size) {
  memset(layout, 0, sizeof *layout);
  layout->group_width = (int)chart->series_count * BAR_WIDTH + GROUP_GAP;
  const double plot_width = (double)chart->layer_count * layout->group_width;
  const double width = MARGIN + AXIS_LABEL_WIDTH + plot_width + MARGIN;
  if (width > BENCH_CHART_MAX_WIDTH) {
    snprintf(error, error_size, "a chart of %zu layers and %zu algorithms "
                                "would be %.0f pixels wide, more than the "
                                "limit of %d. Chart fewer layers with "
                                "--layer.",
             chart->layer_count, chart->series_count, width,
             BENCH_CHART_MAX_WIDTH);
    return -1;
  }

  layout->plot_left = MARGIN + AXIS_LABEL_WIDTH;
  layout->plot_width = (int)plot_width;
  const int title_width = text_width(chart->title, TITLE_SCALE) + 2 * MARGIN;
  layout->width = (int)width < MIN_WIDTH ? MIN_WIDTH : (int)width;
  layout->width = title_width > layout->width ? title_width : layout->width;
  layout->legend_top = MARGIN + GLYPH_HEIGHT * TITLE_SCALE + 10;
  /* The axis caption sits between the legend and the plot. */
  layout->plot_top = layout->legend_top +
                     legend_rows(chart, layout->width) * LEGEND_ROW + 20;
  layout->label_top = layout->plot_top + PLOT_HEIGHT + 6;
  const size_t name_length =
      longest_name(chart->layer_names, chart->layer_count);
  layout->height = layout->label_top + (int)name_length * GLYPH_ADVANCE +
                   MARGIN;
  choose_axis(chart, layout);
  return 0;
}

/* Returns the y coordinate of a positive GFLOP/s value on the axis. */
static int value_y(const chart_layout *layout, double value) {
  const double fraction = (log10(value) - layout->log_low) /
                          (layout->log_high - layout->log_low);
  const double clamped = fmin(fmax(fraction, 0.0), 1.0);
  return layout->plot_top + PLOT_HEIGHT -
         (int)lround(clamped * PLOT_HEIGHT);
}

/* ------------------------------------------------------------------------ */
/* Parts of the chart                                                       */

static void draw_title_and_legend(canvas *image, const bench_chart *chart,
                                  const chart_layout *layout) {
  draw_text(image, MARGIN, MARGIN, chart->title, TITLE_SCALE, black);

  int x = MARGIN;
  int y = layout->legend_top;
  for (size_t i = 0; i < chart->series_count; i++) {
    const char *name = chart->series_names[i];
    const int entry = LEGEND_BOX + 4 + text_width(name, 1) + 16;
    if (x + entry > layout->width - MARGIN && x > MARGIN) {
      x = MARGIN;
      y += LEGEND_ROW;
    }
    fill_rect(image, x, y, LEGEND_BOX, LEGEND_BOX,
              palette[i % PALETTE_SIZE]);
    draw_text(image, x + LEGEND_BOX + 4, y + 2, name, 1, black);
    x += entry;
  }
}

/* Shades every other layer's group, so bars read as belonging to it. */
static void draw_group_shading(canvas *image, const bench_chart *chart,
                               const chart_layout *layout) {
  for (size_t layer = 1; layer < chart->layer_count; layer += 2) {
    fill_rect(image, layout->plot_left + (int)layer * layout->group_width,
              layout->plot_top, layout->group_width, PLOT_HEIGHT,
              group_shade);
  }
}

/* Draws grid lines at 1, 2 and 5 times each decade, labelled per decade. */
static void draw_grid(canvas *image, const chart_layout *layout) {
  static const double steps[] = {1.0, 2.0, 5.0};
  const int right = layout->plot_left + layout->plot_width;

  for (double decade = layout->log_low; decade <= layout->log_high;
       decade += 1.0) {
    for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
      const double value = steps[s] * pow(10.0, decade);
      if (log10(value) > layout->log_high + 1e-9) {
        break;
      }
      const int y = value_y(layout, value);
      fill_rect(image, layout->plot_left, y, right - layout->plot_left, 1,
                s == 0 ? decade_line : minor_line);
      if (s == 0) {
        char label[32];
        snprintf(label, sizeof label, "%g", value);
        draw_text(image, layout->plot_left - 6 - text_width(label, 1),
                  y - GLYPH_HEIGHT / 2, label, 1, black);
      }
    }
  }

  draw_text(image, MARGIN, layout->plot_top - 14, "GFLOP/S (LOG SCALE)", 1,
            black);
  fill_rect(image, layout->plot_left - 1, layout->plot_top, 1,
            PLOT_HEIGHT + 1, black);
  fill_rect(image, layout->plot_left - 1, layout->plot_top + PLOT_HEIGHT,
            layout->plot_width + 1, 1, black);
}

static void draw_bars(canvas *image, const bench_chart *chart,
                      const chart_layout *layout) {
  const int bottom = layout->plot_top + PLOT_HEIGHT;
  for (size_t layer = 0; layer < chart->layer_count; layer++) {
    const int group_left = layout->plot_left +
                           (int)layer * layout->group_width + GROUP_GAP / 2;
    for (size_t series = 0; series < chart->series_count; series++) {
      const double value = chart->values[layer * chart->series_count + series];
      if (!is_bar_value(value)) {
        continue;
      }
      /* At least one pixel, so that a value at the axis floor shows. */
      int top = value_y(layout, value);
      top = top < bottom - 1 ? top : bottom - 1;
      fill_rect(image, group_left + (int)series * BAR_WIDTH, top,
                BAR_WIDTH - 1, bottom - top, palette[series % PALETTE_SIZE]);
    }
  }
}

static void draw_layer_names(canvas *image, const bench_chart *chart,
                             const chart_layout *layout) {
  for (size_t layer = 0; layer < chart->layer_count; layer++) {
    const int centre = layout->plot_left + (int)layer * layout->group_width +
                       layout->group_width / 2;
    draw_text_down(image, centre - GLYPH_HEIGHT / 2, layout->label_top,
                   chart->layer_names[layer], black);
  }
}

/* ------------------------------------------------------------------------ */
/* Entry point                                                              */

int bench_chart_write(const char *path, const bench_chart *chart,
                      char *error, size_t error_size) {
  chart_layout layout;
  if (plan_layout(chart, &layout, error, error_size) != 0) {
    return -1;
  }

  canvas image = {layout.width, layout.height, NULL};
  const size_t floats = 3 * (size_t)image.width * (size_t)image.height;
  image.pixels = malloc(floats * sizeof *image.pixels);
  if (image.pixels == NULL) {
    snprintf(error, error_size, "out of memory for a %dx%d chart.",
             image.width, image.height);
    return -1;
  }

  fill_rect(&image, 0, 0, image.width, image.height, white);
  draw_title_and_legend(&image, chart, &layout);
  draw_group_shading(&image, chart, &layout);
  draw_grid(&image, &layout);
  draw_bars(&image, chart, &layout);
  draw_layer_names(&image, chart, &layout);

  const int rc = png_write(path, 3, image.width, image.height, image.pixels,
                           0.0f, 1.0f, error, error_size);
  free(image.pixels);
  return rc;
}
