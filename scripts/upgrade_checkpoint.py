#!/usr/bin/env python3
"""Converts a version-1 Facet checkpoint to version 2: every variable-length string attribute
becomes a fixed-length UTF-8 one (Facet no longer reads variable-length strings: libhdf5 1.10
crashes on corrupt ones). Writes a new file and never touches the old one.

    python3 scripts/upgrade_checkpoint.py OLD.h5 NEW.h5      (needs h5py and numpy)
"""
import os
import shutil
import sys

import h5py
import numpy as np


def fixed(text):
    data = text.encode("utf-8") or b"\0"
    return np.array(data, dtype=h5py.string_dtype("utf-8", len(data)))


def upgrade(obj):
    for name, value in list(obj.attrs.items()):
        if isinstance(value, str):
            obj.attrs[name] = fixed(value)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[-1].strip())
    old, new = sys.argv[1:]
    if os.path.exists(new):
        sys.exit(f"error: {new} exists; choose a new name")
    with h5py.File(old, "r") as f:
        if f.attrs.get("format") != "facet-checkpoint" or f.attrs.get("version") != 1:
            sys.exit(f"error: {old} is not a version-1 Facet checkpoint")
    temporary = new + ".tmp"
    shutil.copyfile(old, temporary)
    with h5py.File(temporary, "r+") as f:
        upgrade(f)
        f.visititems(lambda _, item: upgrade(item))
        f.attrs["version"] = np.int64(2)
    os.replace(temporary, new)
    print(f"{new}: version 2")


if __name__ == "__main__":
    main()
