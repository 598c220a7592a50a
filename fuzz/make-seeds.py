#!/usr/bin/env python3
"""Write the seed corpora of the fuzz harnesses into fuzz/corpus/.

Each harness gets a dozen or so small inputs, valid ones and ones that
break a single rule, so that libFuzzer starts next to every branch. It
can run from any folder, and it rewrites the seed files and nothing else.

The validation seeds copy the layout of gcl_conv_desc on x86-64 and
other LP64 little-endian hosts: an int, 4 bytes of padding, 15 int64
values and two ints, 136 bytes in all. When the struct changes, update
DESC_FORMAT and run this script again.
"""

import os
import struct

FUZZ_DIR = os.path.dirname(os.path.abspath(__file__))

# spatial_dims, channels, num_output, group, kernel[3], stride[3], pad[3],
# dilation[3], bias_term, transposed
DESC_FORMAT = "<i4x3q3q3q3q3qii"
MAX_EXTENT = 2**31 - 1


def write(harness, name, data):
    path = os.path.join(FUZZ_DIR, "corpus", harness, name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(path, "wb") as seed:
        seed.write(data)


# --- .npy files ---------------------------------------------------------


def npy(dictionary, body_size, major=1, alignment=64):
    """Return a .npy image with the given header dict and zero data."""
    preamble = 10 if major == 1 else 12
    header = dictionary.encode() + b"\n"
    while (preamble + len(header)) % alignment:
        header = header[:-1] + b" \n"
    length_bytes = 2 if major == 1 else 4
    return (b"\x93NUMPY" + bytes([major, 0])
            + len(header).to_bytes(length_bytes, "little")
            + header + bytes(body_size))


def float_dict(shape, descr="<f4", fortran="False"):
    return ("{'descr': '%s', 'fortran_order': %s, 'shape': %s, }"
            % (descr, fortran, shape))


def npy_seeds():
    write("npy", "scalar.npy", npy(float_dict("()"), 4))
    write("npy", "vector.npy", npy(float_dict("(3,)"), 12))
    write("npy", "matrix.npy", npy(float_dict("(2, 3)"), 24))
    write("npy", "rank4.npy", npy(float_dict("(1, 2, 2, 2)"), 32))
    write("npy", "empty.npy", npy(float_dict("(0, 5)"), 0))
    write("npy", "version2.npy", npy(float_dict("(2,)"), 8, major=2))
    write("npy", "version3.npy", npy(float_dict("(2,)"), 8, major=3))
    write("npy", "unaligned.npy", npy(float_dict("(2,)"), 8, alignment=1))
    write("npy", "python2_long.npy", npy(float_dict("(2L, 1L)"), 8))
    write("npy", "double_quotes.npy",
          npy('{"shape": (1,), "fortran_order": False, "descr": "<f4"}', 4))
    write("npy", "truncated_body.npy", npy(float_dict("(4,)"), 12))
    write("npy", "trailing_bytes.npy", npy(float_dict("(1,)"), 8))
    write("npy", "float64.npy", npy(float_dict("(1,)", descr="<f8"), 8))
    write("npy", "fortran.npy", npy(float_dict("(2, 2)", fortran="True"), 16))
    write("npy", "rank9.npy",
          npy(float_dict("(1, 1, 1, 1, 1, 1, 1, 1, 1)"), 4))
    write("npy", "huge_shape.npy",
          npy(float_dict("(4611686018427387904, 4)"), 0))


# --- Layers ---------------------------------------------------------------


def layer(dims, channels, num_output, kernel, input_size, group=1,
          stride=1, pad=0, dilation=1, bias_term=1, transposed=0, batch=1,
          rank=None):
    """Return a validation input: descriptor, rank byte, input shape."""

    def axes(value):
        values = list(value) if isinstance(value, (list, tuple)) \
            else [value] * dims
        return values + [0] * (3 - len(values))

    desc = struct.pack(DESC_FORMAT, dims, channels, num_output, group,
                       *axes(kernel), *axes(stride), *axes(pad),
                       *axes(dilation), bias_term, transposed)
    shape = [batch, channels] + list(input_size)
    rank = len(shape) if rank is None else rank
    return desc + struct.pack("<b", rank) + struct.pack(
        "<%dq" % len(shape), *shape)


def validation_seeds():
    write("validation", "conv1d.bin", layer(1, 4, 8, 3, [16], pad=1))
    write("validation", "conv2d.bin", layer(2, 3, 6, 3, [8, 8]))
    write("validation", "conv3d.bin", layer(3, 2, 2, 2, [3, 4, 5]))
    write("validation", "grouped.bin",
          layer(2, 8, 8, 3, [6, 6], group=4, pad=1))
    write("validation", "depthwise.bin",
          layer(2, 4, 8, 3, [5, 5], group=4, stride=2, pad=1))
    write("validation", "dilated.bin",
          layer(2, 2, 2, 3, [9, 9], dilation=2, bias_term=0))
    write("validation", "rectangular.bin",
          layer(2, 2, 4, [1, 3], [4, 7], stride=[1, 2], pad=[0, 1],
                batch=2))
    write("validation", "extent_limit.bin",
          layer(1, 1, 1, 1, [MAX_EXTENT]))
    write("validation", "group_not_dividing.bin",
          layer(2, 6, 4, 3, [8, 8], group=4))
    write("validation", "window_too_large.bin",
          layer(2, 1, 1, 5, [3, 3], dilation=2))
    write("validation", "rank_mismatch.bin",
          layer(2, 3, 3, 1, [4, 4], rank=3))
    write("validation", "transposed.bin",
          layer(2, 2, 2, 3, [4, 4], transposed=1))
    write("validation", "zero_stride.bin", layer(1, 1, 1, 1, [4], stride=0))
    write("validation", "short.bin", struct.pack("<i", 2))


# --- Command lines ------------------------------------------------------


def words(*arguments):
    return "\n".join(arguments)


def cli_seeds():
    write("cli", "devices.txt", words("devices"))

    write("cli", "conv.txt", words(
        "conv", "--input", "x.npy", "--weights", "w.npy", "--bias", "b.npy",
        "--output", "y.npy", "--group", "2", "--stride", "1,2", "--pad",
        "1", "--dilation", "1", "--algorithm", "direct", "--schedule",
        "queues:4", "--trace", "t.json", "--verbose"))
    write("cli", "conv_missing_output.txt", words(
        "conv", "--input", "x.npy", "--weights", "w.npy"))

    write("cli", "demo.txt", words(
        "demo", "--image", "in.png", "--output-dir", "out", "--device",
        "cpu"))

    write("cli", "explain.txt", words(
        "explain", "--channels", "64", "--num-output", "128", "--kernel",
        "3,3", "--group", "32", "--pad", "1", "--input-size", "56,56",
        "--batch", "2", "--all-groups", "--schedule", "single"))
    write("cli", "explain_3d.txt", words(
        "explain", "--channels", "4", "--num-output", "4", "--kernel",
        "3", "--stride", "1,1,2", "--dilation", "2", "--no-bias",
        "--input-size", "8,8,8"))
    write("cli", "explain_prototxt.txt", words(
        "explain", "--prototxt", "net.prototxt", "--layer", "conv1",
        "--json"))
    write("cli", "explain_lengths_differ.txt", words(
        "explain", "--channels", "2", "--num-output", "2", "--kernel",
        "3,3", "--stride", "1,1,1"))

    write("cli", "split.txt", words(
        "split", "--channels", "8", "--num-output", "8", "--kernel", "3",
        "--group", "8", "--input-size", "16,16", "--runs", "3",
        "--warmup", "0", "--algorithm", "depthwise", "--csv", "s.csv",
        "--trace-dir", "traces", "--device", "all"))
    write("cli", "split_suite.txt", words(
        "split", "--suite", "suite.csv", "--layer", "alexnet_conv2"))

    write("cli", "tune.txt", words("tune", "--layer", "a,b,c"))
    write("cli", "tune_flags.txt", words(
        "tune", "--channels", "3", "--num-output", "3", "--kernel", "5",
        "--group", "3", "--input-size", "2147483647"))

    write("cli", "bench.txt", words(
        "bench", "--channels", "16", "--num-output", "32", "--kernel",
        "1", "--input-size", "7,7", "--runs", "5", "--warmup", "1",
        "--peak-gflops", "1.5e3", "--no-onednn", "--json", "b.json",
        "--chart", "b.png"))
    write("cli", "bench_prototxt.txt", words(
        "bench", "--prototxt", "net.prototxt", "--csv", "b.csv"))

    write("cli", "short_options.txt", words("conv", "-hx", "-x"))
    write("cli", "out_of_range.txt", words(
        "explain", "--channels", "2147483648", "--num-output", "-1",
        "--kernel", "3,,3"))


if __name__ == "__main__":
    npy_seeds()
    validation_seeds()
    cli_seeds()
