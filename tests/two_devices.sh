#!/bin/sh
# Runs the forward suite again with PoCL exposing two CPU devices: once with
# a context on both and once on the second device alone, so nothing depends
# on being device 0. Skips (exit 77) where PoCL is not the OpenCL driver.
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
