#!/bin/sh
# Runs the forward suite again with PoCL exposing two CPU devices: once with
# a context on both and once on the second device alone, so nothing depends
# on being device 0. Then runs a short soak on both, so the leak checks also
# cover slots on another device, and the backward suite's placement test,
# whose "devices" placement spreads the groups over the two and must match
# the single-device results. Skips (exit 77) where PoCL is not the OpenCL
# driver.
set -eu
builddir=${builddir:-.}

if ! POCL_DEVICES="pthread pthread" GROUPCL_DEVICES=0:1 \
    "$builddir/groupcl" devices >/dev/null 2>&1; then
  echo "PoCL with two pthread devices is not available; skipping" >&2
  exit 77
fi

for spec in all 0:1; do
  echo "forward suite with POCL_DEVICES='pthread pthread' GROUPCL_DEVICES=$spec"
  POCL_DEVICES="pthread pthread" GROUPCL_DEVICES=$spec \
    "$builddir/tests/test_forward" --short-filename
done

echo "soak with POCL_DEVICES='pthread pthread' GROUPCL_DEVICES=all"
POCL_DEVICES="pthread pthread" GROUPCL_DEVICES=all GROUPCL_SOAK_PLANS=600 \
  GROUPCL_SOAK_CONTEXTS=2 "$builddir/tests/test_soak" --short-filename

echo "backward placements with POCL_DEVICES='pthread pthread' GROUPCL_DEVICES=all"
POCL_DEVICES="pthread pthread" GROUPCL_DEVICES=all \
  "$builddir/tests/test_backward" --short-filename \
  --filter 'backward/every_placement'
