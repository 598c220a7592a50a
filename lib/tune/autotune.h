/* Choosing a plan's algorithm by measurement, remembered on disk. */
#ifndef GCL_TUNE_AUTOTUNE_H
#define GCL_TUNE_AUTOTUNE_H

#include "conv/plan.h"

/*
 * Returns the algorithm the tuning database stores for the plan's layer on
 * its first device, or NULL when there is none or it no longer supports
 * the layer.
 */
const gcl_algo *gcl_tuned_algorithm(const gcl_plan *plan);

/*
 * Times every algorithm that supports the layer on the first device,
 * records each time in plan->tuning, stores the fastest in the tuning
 * database and returns it in *winner.
 */
gcl_status gcl_tune_algorithms(gcl_plan *plan, const gcl_conv *conv,
                               const gcl_algo **winner);

#endif
