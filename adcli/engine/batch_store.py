"""Where a batched run's results go, chunk by chunk: arrays in memory, or with -o a folder of .npy
files or a Zarr group (adcli.engine.zarr_store), either of which an interrupted run resumes.

A folder holds one .npy file per result (`value.npy`, `grad.W.npy`, ...), written in place as each
chunk arrives, and `adcli-batch.json`: what the run is (a digest of the program, the inputs, the
command and the chunks), which chunks are written, and whether it is complete. The manifest is
rewritten (atomically, at most twice a second) only after the chunks it lists are written to the
files (by plain writes at their place: nothing stays mapped, so a writer's memory does not grow
with the run); a process that dies or is killed after a write does not lose it, and every file is
synced to disk before the run says it is complete. A run cut short leaves `"complete": false`, never a
folder that looks finished. A Zarr group keeps the same manifest in its attributes.
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
    """-o FOLDER (and --resume): the results written there chunk by chunk, as .npy files or (a name
    ending in .zarr) as a Zarr group."""

    folder: str
    resume: bool = False


def digest(program_source: str, settings: dict, inputs: dict) -> str:
    """What identifies a run: the program's text, the command's settings, every input's bytes (a file
    of points by its path, size and modification time; a Zarr array by its chunks')."""
    h = hashlib.sha256()
    h.update(program_source.encode("utf-8"))
    h.update(json.dumps(settings, sort_keys=True).encode())
    for name in sorted(inputs):
        value = inputs[name]
        h.update(f"{name}:{value.dtype.str}:{value.shape}".encode())
        if isinstance(value, np.memmap):  # a file of points, perhaps larger than memory: its place, size and time
            info = os.stat(value.filename)
            h.update(f"{os.path.abspath(value.filename)}:{info.st_size}:{info.st_mtime_ns}".encode())
        elif hasattr(value, "identity"):  # a Zarr array of points: its address and chunks' sizes and times
            h.update(value.identity().encode("utf-8", "surrogateescape"))
        else:
            h.update(memoryview(np.ascontiguousarray(value)).cast("B"))
    return h.hexdigest()


def output_files(folder: str) -> dict:
    """An output's files by result, as its manifest lists them."""
    from adcli.engine.zarr_store import ZarrResults, is_zarr
    files = (ZarrResults if is_zarr(folder) else NpyFolder)(folder, {}, 0, [])
    return (files.read_state() or {}).get("files", {})


class Store:
    """Per-point results of `size` points, filled chunk by chunk: in memory when `folder` is None,
    else in a folder of .npy files (NpyFolder) or a Zarr group (a name ending in .zarr)."""

    def __init__(self, fields: dict[str, tuple[tuple, type]], size: int, spans: list[tuple[int, int]],
                 folder: str | None = None, identity: str = "", resume: bool = False):
        self.fields, self.size, self.spans = fields, size, list(spans)
        self.folder = folder
        self.identity = identity
        self.done: set[int] = set()
        self.written = 0.0  # when the manifest was last written
        self.files = None
        if folder is None:
            self.arrays = {name: np.empty((size,) + tuple(shape), dtype=dtype) for name, (shape, dtype) in fields.items()}
            return
        from adcli.engine.zarr_store import ZarrResults, is_zarr
        self.files = (ZarrResults if is_zarr(folder) else NpyFolder)(folder, fields, size, self.spans)
        self.open(resume)

    def open(self, resume: bool) -> None:
        """A new output (refused where one exists), or with `resume` the run that wrote it."""
        if resume:
            state = self.files.read_state()
            if state is None:
                raise InputError(f"-o {self.folder}: --resume needs the output of an earlier run of this command, "
                                 "with its manifest")
            if state.get("format") != FORMAT:
                raise InputError(f"-o {self.folder}: its manifest is not one adcli writes")
            if state.get("identity") != self.identity:
                raise InputError(f"-o {self.folder}: --resume continues the same run, but the program, its inputs, "
                                 "the command's options or the chunks differ from the run that wrote it")
            self.done = {int(k) for k in state.get("done", [])}
            return
        if self.files.occupied():
            raise InputError(f"-o {self.folder}: it exists and is not empty (--resume continues the run that "
                             "wrote it; or give a new name)")
        self.files.create()
        self.write_manifest(complete=False)

    def write_manifest(self, complete: bool) -> None:
        self.files.write_state({"format": FORMAT, "identity": self.identity, "points": self.size,
                                "chunks": len(self.spans), "done": sorted(self.done), "complete": complete,
                                "files": self.files.files()})
        self.written = time.monotonic()

    # ---- filling ---------------------------------------------------------------------------------
    def writer(self):
        """What a worker needs to write its chunks into the output itself, or None in memory."""
        return None if self.files is None else self.files.writer()

    def put(self, k: int, part: dict[str, np.ndarray] | None) -> None:
        """Chunk k's rows of every result (None: a worker has written them already)."""
        if part is not None and self.files is not None:
            self.writer().write(k, part)
        elif part is not None:
            start, stop = self.spans[k]
            for name, array in self.arrays.items():
                array[start:stop] = part[name]
        if self.files is not None:
            self.done.add(k)
            if time.monotonic() - self.written >= MANIFEST_EVERY:
                self.write_manifest(complete=False)

    def finish(self) -> dict:
        """The results; an output's data is stored, and its manifest says it is complete."""
        if self.files is None:
            return self.arrays
        self.files.sync()  # every chunk's rows stored before the run says it is complete
        self.write_manifest(complete=True)
        return self.files.results()

    def abandon(self) -> None:
        """A run cut short: the manifest lists every chunk written so far."""
        if self.files is not None:
            self.write_manifest(complete=False)


class NpyFolder:
    """-o FOLDER: one .npy file per result, each its full size from the start, and the manifest
    adcli-batch.json beside them."""

    def __init__(self, folder: str, fields: dict, size: int, spans: list):
        self.folder, self.fields, self.size, self.spans = Path(folder), fields, size, spans

    def occupied(self) -> bool:
        return self.folder.exists() and (not self.folder.is_dir() or any(self.folder.iterdir()))

    def create(self) -> None:
        from numpy.lib.format import open_memmap
        self.folder.mkdir(parents=True, exist_ok=True)
        for name, (shape, dtype) in self.fields.items():  # each file its full size, its rows written as they come
            created = open_memmap(self.folder / f"{name}.npy", mode="w+", dtype=dtype,
                                  shape=(self.size,) + tuple(shape))
            del created

    def read_state(self) -> dict | None:
        path = self.folder / MANIFEST
        if not path.is_file():
            return None
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise InputError(f"-o {self.folder}: {MANIFEST} cannot be read ({e})") from None
        if not isinstance(state, dict):
            raise InputError(f"-o {self.folder}: {MANIFEST} is not one adcli writes")
        for name in self.fields:
            if not (self.folder / f"{name}.npy").is_file():
                raise InputError(f"-o {self.folder}: {name}.npy is missing")
        return state

    def write_state(self, state: dict) -> None:
        temporary = self.folder / (MANIFEST + ".tmp")
        temporary.write_text(json.dumps(state) + "\n", encoding="utf-8")
        os.replace(temporary, self.folder / MANIFEST)

    def files(self) -> dict:
        return {name: f"{name}.npy" for name in self.fields}

    def writer(self) -> FolderWriter:
        return FolderWriter(str(self.folder.resolve()), tuple(self.fields), tuple(self.spans))

    def sync(self) -> None:
        for name in self.fields:
            fd = os.open(self.folder / f"{name}.npy", os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def results(self) -> dict:
        from numpy.lib.format import open_memmap
        return {name: open_memmap(self.folder / f"{name}.npy", mode="r") for name in self.fields}


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
