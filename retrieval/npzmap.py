"""The arrays of an uncompressed .npz file, memory-mapped read-only.

`np.load` reads every .npz member into memory whatever `mmap_mode` says. Mapped, a
process pages in only what it touches (the postings of the words its questions ask
about), and those pages are the OS's file cache: shared between processes and
dropped under memory pressure. `np.savez` stores members uncompressed, so each is an
.npy file at a fixed offset inside the zip.
"""

from __future__ import annotations

import contextlib
import os
import struct
import threading
import zipfile
from pathlib import Path

import numpy as np

LOCAL_HEADER = 30  # bytes of a zip local file header before its name and extra field


def read_ahead(path: Path) -> None:
    """Read a mapped file through once, in a background thread at the lowest priority,
    so that the OS has it in its page cache.

    Searches touch a mapped index's pages at random: each page not yet cached is a
    read from disk (a major fault) in the middle of a question, so a process's first
    questions after a restart, or after the cache was dropped, would pay for reading
    the index page by page. One sequential read takes it in large requests off the
    asking path; the pages stay the OS's cache (shared, reclaimable), not the
    process's memory. (`posix_fadvise(WILLNEED)` reads only a few megabytes here.)
    """

    def run() -> None:
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)  # this thread
        buffer = bytearray(1 << 20)
        try:
            with path.open("rb", buffering=0) as fh:
                while fh.readinto(buffer):
                    pass
        except OSError:
            pass  # only a warm-up: a search still pages in what it needs

    threading.Thread(target=run, name=f"read-ahead {path.name}", daemon=True).start()


def mapped_npz(path: Path) -> dict[str, np.ndarray]:
    """Member name (without ".npy") -> its array, read-only and backed by the file.

    Raises ValueError for a compressed member, zipfile.BadZipFile for a damaged file."""
    out: dict[str, np.ndarray] = {}
    with zipfile.ZipFile(path) as zf, path.open("rb") as fh:
        for info in zf.infolist():
            if info.compress_type != zipfile.ZIP_STORED:
                raise ValueError(f"{info.filename} is compressed")
            fh.seek(info.header_offset)
            header = fh.read(LOCAL_HEADER)
            if len(header) < LOCAL_HEADER or header[:4] != b"PK\x03\x04":
                raise zipfile.BadZipFile(f"{info.filename}: no local header")
            name_len, extra_len = struct.unpack("<HH", header[26:30])
            fh.seek(info.header_offset + LOCAL_HEADER + name_len + extra_len)
            version = np.lib.format.read_magic(fh)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = read_header(fh)
            if dtype.hasobject:
                raise ValueError(f"{info.filename} holds Python objects")
            name = info.filename.removesuffix(".npy")
            if int(np.prod(shape)) == 0:
                out[name] = np.zeros(shape, dtype)
                continue
            array = np.memmap(path, dtype, "r", fh.tell(), shape, order="F" if fortran else "C")
            out[name] = array.view(np.ndarray)  # a plain array; the mapping stays its base
    return out
