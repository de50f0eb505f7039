"""Where a batched run's results go, chunk by chunk: arrays in memory, or a folder of .npy files (-o)
that an interrupted run resumes.

A folder holds one .npy file per result (`value.npy`, `grad.W.npy`, ...), written in place as each
chunk arrives, and `adcli-batch.json`: what the run is (a digest of the program, the inputs, the
command and the chunks), which chunks are written, and whether it is complete. The manifest is
rewritten (atomically, at most twice a second) only after the chunks it lists are written to the
files (by plain writes at their place: nothing stays mapped, so a writer's memory does not grow
with the run); a process that dies or is killed after a write does not lose it, and every file is
synced to disk before the run says it is complete. A run cut short leaves `"complete": false`, never a folder that
looks finished.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from adcli.errors import InputError

MANIFEST = "adcli-batch.json"
MANIFEST_EVERY = 0.5  # seconds between rewrites of the manifest during a run
FORMAT = 1


@dataclass
class Output:
    """-o FOLDER (and --resume): the results written there as .npy files, chunk by chunk."""

    folder: str
    resume: bool = False


def digest(program_source: str, settings: dict, inputs: dict) -> str:
    """What identifies a run: the program's text, the command's settings, every input's bytes (a file
    of points by its path, size and modification time)."""
    h = hashlib.sha256()
    h.update(program_source.encode("utf-8"))
    h.update(json.dumps(settings, sort_keys=True).encode())
    for name in sorted(inputs):
        value = inputs[name]
        h.update(f"{name}:{value.dtype.str}:{value.shape}".encode())
        if isinstance(value, np.memmap):  # a file of points, perhaps larger than memory: its place, size and time
            info = os.stat(value.filename)
            h.update(f"{os.path.abspath(value.filename)}:{info.st_size}:{info.st_mtime_ns}".encode())
        else:
            h.update(memoryview(np.ascontiguousarray(value)).cast("B"))
    return h.hexdigest()


class Store:
    """Per-point results of `size` points, filled chunk by chunk (in memory when `folder` is None)."""

    def __init__(self, fields: dict[str, tuple[tuple, type]], size: int, spans: list[tuple[int, int]],
                 folder: str | None = None, identity: str = "", resume: bool = False):
        self.fields, self.size, self.spans = fields, size, list(spans)
        self.folder = Path(folder) if folder else None
        self.identity = identity
        self.done: set[int] = set()
        self.written = 0.0  # when the manifest was last written
        if self.folder is None:
            self.arrays = {name: np.empty((size,) + tuple(shape), dtype=dtype) for name, (shape, dtype) in fields.items()}
        else:
            self.arrays = self.open_folder(resume)

    # ---- a folder of .npy files -------------------------------------------------------------------
    def open_folder(self, resume: bool) -> dict[str, np.ndarray]:
        from numpy.lib.format import open_memmap
        folder = self.folder
        manifest = folder / MANIFEST
        if resume:
            if not manifest.is_file():
                raise InputError(f"-o {folder}: --resume needs the folder of an earlier run of this command, with "
                                 f"its {MANIFEST}")
            state = self.read_manifest(manifest)
            if state.get("identity") != self.identity:
                raise InputError(f"-o {folder}: --resume continues the same run, but the program, its inputs, the "
                                 "command's options or the chunks differ from the run that wrote this folder")
            self.done = {int(k) for k in state.get("done", [])}
            return {}
        if folder.exists() and any(folder.iterdir()):
            raise InputError(f"-o {folder}: the folder exists and is not empty (--resume continues the run that "
                             "wrote it; or give a new folder)")
        folder.mkdir(parents=True, exist_ok=True)
        for name, (shape, dtype) in self.fields.items():  # each file its full size, its rows written as they come
            created = open_memmap(folder / f"{name}.npy", mode="w+", dtype=dtype, shape=(self.size,) + tuple(shape))
            del created
        self.write_manifest(complete=False)
        return {}

    def read_manifest(self, path: Path) -> dict:
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise InputError(f"-o {self.folder}: {MANIFEST} cannot be read ({e})") from None
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise InputError(f"-o {self.folder}: {MANIFEST} is not one adcli writes")
        for name in self.fields:
            if not (self.folder / f"{name}.npy").is_file():
                raise InputError(f"-o {self.folder}: {name}.npy is missing")
        return state

    def write_manifest(self, complete: bool) -> None:
        state = {"format": FORMAT, "identity": self.identity, "points": self.size, "chunks": len(self.spans),
                 "done": sorted(self.done), "complete": complete,
                 "files": {name: f"{name}.npy" for name in self.fields}}
        temporary = self.folder / (MANIFEST + ".tmp")
        temporary.write_text(json.dumps(state) + "\n", encoding="utf-8")
        os.replace(temporary, self.folder / MANIFEST)
        self.written = time.monotonic()

    # ---- filling ---------------------------------------------------------------------------------
    def writer(self) -> FolderWriter | None:
        """What a worker needs to write its chunks into the folder's files itself, or None in memory."""
        if self.folder is None:
            return None
        return FolderWriter(str(self.folder.resolve()), tuple(self.fields), tuple(self.spans))

    def put(self, k: int, part: dict[str, np.ndarray] | None) -> None:
        """Chunk k's rows of every result (None: a worker has written them already)."""
        if part is not None and self.folder is not None:
            self.writer().write(k, part)
        elif part is not None:
            start, stop = self.spans[k]
            for name, array in self.arrays.items():
                array[start:stop] = part[name]
        if self.folder is not None:
            self.done.add(k)
            if time.monotonic() - self.written >= MANIFEST_EVERY:
                self.write_manifest(complete=False)

    def finish(self) -> dict[str, np.ndarray]:
        """The results; a folder's files are on disk, and its manifest says it is complete."""
        if self.folder is not None:
            for name in self.fields:  # every chunk's rows on disk before the run says it is complete
                fd = os.open(self.folder / f"{name}.npy", os.O_RDONLY)
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            self.write_manifest(complete=True)
            from numpy.lib.format import open_memmap
            return {name: open_memmap(self.folder / f"{name}.npy", mode="r") for name in self.fields}
        return self.arrays

    def abandon(self) -> None:
        """A run cut short: the manifest lists every chunk written so far."""
        if self.folder is not None:
            self.write_manifest(complete=False)


@dataclass(frozen=True)
class FolderWriter:
    """Access to the output folder, for a worker or this process: each chunk's rows are written into
    the .npy files at their place (each chunk its own rows), by plain writes, so nothing of the files
    stays mapped in the writer's memory."""

    folder: str
    names: tuple
    spans: tuple

    def write(self, k: int, part: dict[str, np.ndarray]) -> None:
        start, _ = self.spans[k]
        for name in self.names:
            path = str(Path(self.folder) / f"{name}.npy")
            offset, row, dtype = layout(path)
            data = np.ascontiguousarray(part[name], dtype=dtype)
            fd = os.open(path, os.O_WRONLY)
            try:
                os.pwrite(fd, memoryview(data).cast("B"), offset + start * row)
            finally:
                os.close(fd)


LAYOUTS: dict[str, tuple] = {}  # an output file's data offset, bytes a point and dtype, read once


def layout(path: str) -> tuple[int, int, np.dtype]:
    """Where an .npy file's data starts, the bytes of one point (row), and its dtype."""
    if path not in LAYOUTS:
        from numpy.lib import format as npy
        with open(path, "rb") as f:
            version = npy.read_magic(f)
            shape, _, dtype = (npy.read_array_header_1_0 if version == (1, 0) else
                                     npy.read_array_header_2_0)(f)
            offset = f.tell()
        if len(LAYOUTS) > 64:  # files of earlier runs
            LAYOUTS.clear()
        LAYOUTS[path] = (offset, int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize, dtype)
    return LAYOUTS[path]
