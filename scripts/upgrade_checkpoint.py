#!/usr/bin/env python3
"""Converts a checkpoint of an earlier Facet (version 1 or 2) to version 3: every variable-length
string attribute becomes a fixed-length UTF-8 one (libhdf5 1.10 crashes on corrupt ones), and the
file gets the 512-byte user block with the CRC-32 header Facet checks before libhdf5 reads the
file. Writes a new file and never touches the old one.

    python3 scripts/upgrade_checkpoint.py OLD.h5 NEW.h5      (needs h5py and numpy)
"""
import os
import sys
import zlib

import h5py
import numpy as np

USER_BLOCK = 512


def fixed(text):
    data = text.encode("utf-8") or b"\0"
    return np.array(data, dtype=h5py.string_dtype("utf-8", len(data)))


def copy_attributes(source, target):
    for name in source.attrs:
        value = source.attrs[name]
        if isinstance(value, str):
            target.attrs[name] = fixed(value)
        else:
            target.attrs.create(name, value, dtype=source.attrs.get_id(name).dtype)


def copy_tree(source, target):
    copy_attributes(source, target)
    for name, item in source.items():
        if isinstance(item, h5py.Group):
            copy_tree(item, target.create_group(name))
        else:
            dataset = target.create_dataset(name, data=item[()], dtype=item.dtype)
            copy_attributes(item, dataset)


def seal(path):
    with open(path, "r+b") as f:
        f.seek(USER_BLOCK)
        body = f.read()
        header = f"facet-checkpoint\ncrc32 {zlib.crc32(body):08x}\nbytes {len(body)}\n".encode()
        f.seek(0)
        f.write(header + b"\0" * (USER_BLOCK - len(header)))
        f.flush()
        os.fsync(f.fileno())


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[-1].strip())
    old, new = sys.argv[1:]
    if os.path.exists(new):
        sys.exit(f"error: {new} exists; choose a new name")
    with h5py.File(old, "r") as f:
        found = f.attrs.get("format")
        found = found.decode() if isinstance(found, bytes) else found
        if found != "facet-checkpoint" or f.attrs.get("version") not in (1, 2):
            sys.exit(f"error: {old} is not a version-1 or version-2 Facet checkpoint")
    temporary = new + ".tmp"
    with h5py.File(old, "r") as source, h5py.File(temporary, "w", userblock_size=USER_BLOCK, libver="v108") as target:
        copy_tree(source, target)
        target.attrs["version"] = np.int64(3)
    seal(temporary)
    os.replace(temporary, new)
    print(f"{new}: version 3")


if __name__ == "__main__":
    main()
