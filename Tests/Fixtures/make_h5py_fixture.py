#!/usr/bin/env python3
"""Writes Tests/Fixtures/h5py_written.h5: the attribute and dataset types h5py produces, for
HDF5Tests to check that the Swift reader accepts files it did not write itself.

Run from the repository root:

    python Tests/Fixtures/make_h5py_fixture.py

Made with h5py==3.16.0 (bundled HDF5 2.0.0), numpy==2.3.5. The file is committed with this
script; the Swift tests never need Python.
"""
import h5py
import numpy as np

PATH = "Tests/Fixtures/h5py_written.h5"

with h5py.File(PATH, "w") as f:
    f.attrs["vlen_utf8"] = "héllo, wörld"  # str: variable-length UTF-8
    f.attrs["vlen_ascii"] = np.array(b"ascii bytes", dtype=h5py.string_dtype("ascii"))
    f.attrs["fixed_ascii"] = np.bytes_("fixed")  # fixed length, NUL-padded
    f.attrs["fixed_utf8"] = np.array("fixé".encode(), dtype=h5py.string_dtype("utf-8", 12))
    f.attrs["int32"] = np.int32(-7)
    f.attrs["int64"] = 1234567890123
    f.attrs["uint8"] = np.uint8(200)
    f.attrs["float64"] = 0.25
    f.attrs["float32"] = np.float32(0.5)
    f.attrs["int32s"] = np.array([1, -2, 3], dtype=np.int32)
    f.attrs["uint64s"] = np.array([2**64 - 1, 0, 42], dtype=np.uint64)
    f.attrs["strings"] = ["a", "b"]  # unsupported: an array of strings
    f.attrs["float64s"] = np.array([1.0, 2.0])  # unsupported: an array of floats

    module = f.create_group("adapter/model.layers.0.self_attn.q_proj")
    module["lora_A"] = np.arange(6, dtype=np.float32).reshape(2, 3) / 4
    module.attrs["r"] = np.int32(4)
    module.attrs["alpha"] = 16

    f["scalar"] = np.float32(2.5)
    f["float64"] = np.arange(3, dtype=np.float64)
    f["counts"] = np.arange(3, dtype=np.int32)

# A version-2 checkpoint's first attributes with `stage` as a variable-length string whose
# global-heap object claims 2**62 bytes: libhdf5 1.10 fails inside H5Aread on such a reference
# (Fuzz/libhdf5-findings), so Facet must refuse the attribute by its type alone.
CORRUPT = "Tests/Fixtures/corrupt_vlen_heap.h5"
with h5py.File(CORRUPT, "w") as f:
    f.attrs["format"] = np.bytes_("facet-checkpoint")
    f.attrs["version"] = np.int64(2)
    f.attrs["stage"] = "sft"
data = bytearray(open(CORRUPT, "rb").read())
heap = data.index(b"GCOL")
first_object = heap + 16  # signature, version, 3 reserved bytes, collection size
assert data[first_object:first_object + 2] == b"\x01\x00", "the first heap object is not object 1"
data[first_object + 8:first_object + 16] = (2**62).to_bytes(8, "little")  # its size
open(CORRUPT, "wb").write(bytes(data))
