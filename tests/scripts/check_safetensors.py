#!/usr/bin/env python3
"""Reads a .safetensors file the way Python users would, independently of orbit's C++ reader.

Uses the `safetensors` package when it is installed; always also parses the format by hand
(8-byte little-endian header length, JSON header, contiguous data offsets) and checks every
tensor's byte range. Prints one line per tensor; exits non-zero on any inconsistency.
Usage: check_safetensors.py FILE [EXPECTED_KEY ...]
"""
import json
import math
import struct
import sys

SIZES = {"F32": 4, "F64": 8, "I32": 4, "I64": 8}
FORMATS = {"F32": "f", "F64": "d", "I32": "i", "I64": "q"}


def main():
    path, expected = sys.argv[1], sys.argv[2:]
    data = open(path, "rb").read()
    (n,) = struct.unpack("<Q", data[:8])
    assert 8 + n <= len(data), "header length past the end of the file"
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    meta = header.pop("__metadata__", {})
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()), "metadata must map str to str"
    end = 0
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        dtype, shape, (b, e) = info["dtype"], info["shape"], info["data_offsets"]
        assert dtype in SIZES, f"{name}: unknown dtype {dtype}"
        count = math.prod(shape)
        assert b == end and e - b == count * SIZES[dtype], f"{name}: bad data_offsets {b}, {e}"
        values = struct.unpack(f"<{count}{FORMATS[dtype]}", body[b:e])
        end = e
        first = ", ".join(f"{v:.6g}" for v in values[:3])
        print(f"{name} {dtype} {shape} [{first}{', ...' if count > 3 else ''}]")
    assert end == len(body), "trailing bytes after the last tensor"
    for k in expected:
        assert k in header or k in meta, f"missing {k}"
    try:
        from safetensors import safe_open  # optional: the reference implementation
    except ImportError:
        print("safetensors package not installed: checked with the hand parser only")
    else:
        with safe_open(path, framework="numpy") as f:
            assert sorted(f.keys()) == sorted(header.keys())
            print("safetensors package reads it too")
    print(f"ok: {len(header)} tensors, {len(meta)} metadata entries")


if __name__ == "__main__":
    main()
