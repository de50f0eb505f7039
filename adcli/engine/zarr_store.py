"""Zarr arrays as --batch's points (--inputs data.zarr) and results (-o results.zarr), a chunk of
rows at a time, on disk or in object storage (any store URL zarr opens).

Zarr is the optional `zarr` extra: pip install 'adcli[zarr]'.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import numpy as np

from adcli.errors import InputError
from adcli.limits import MAX_DIMENSIONS, human_bytes, max_bytes

INSTALL = "pip install 'adcli[zarr]'"
MANIFEST = "adcli-batch"  # the results group's attribute that holds the run's manifest


def is_zarr(path: str) -> bool:
    """A Zarr store: a name ending in .zarr (a folder or a URL), or a folder with Zarr's metadata."""
    plain = str(path).rstrip("/\\")
    if plain.lower().endswith(".zarr"):
        return True
    return os.path.isdir(plain) and any(os.path.isfile(os.path.join(plain, m))
                                        for m in ("zarr.json", ".zarray", ".zgroup"))


def located(path: str) -> str:
    """A store's address as every process sees it: a local folder by its absolute path, a URL as given."""
    return path if "://" in path else os.path.abspath(path)


def zarr_module(where: str):
    try:
        import zarr
    except ImportError:
        raise InputError(f"{where}: reading and writing Zarr needs the zarr package, which is not installed: "
                         f"{INSTALL}") from None
    return zarr


def target_dtype(dtype: np.dtype, where: str) -> np.dtype:
    """float64 for stored floats (float32 and float16 widen exactly), int64 for integers."""
    if dtype.kind == "f":
        return np.dtype(np.float64)
    if dtype.kind in "iu" and not (dtype.kind == "u" and dtype.itemsize >= 8):
        return np.dtype(np.int64)
    raise InputError(f"{where}: holds {dtype} values; expected numbers (floats, or integers that int64 holds)")


@dataclass(frozen=True)
class ZarrPoints:
    """A Zarr array of points, read a chunk of rows at a time (float64, or int64 for integers).
    Its address, not its data, is what travels to a Dask worker, which reads its own rows."""

    url: str
    name: str  # the array's path in its store ('' for a store that is one array)
    shape: tuple
    dtype: np.dtype
    stored: np.dtype  # the dtype on disk

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def array(self):
        zarr = zarr_module(f"--inputs {self.url}")
        return zarr.open_array(self.url, path=self.name or None, mode="r")

    def __getitem__(self, key) -> np.ndarray:
        """Rows of the array (an int, or a slice of the first axis), read now."""
        return np.asarray(self.array()[key]).astype(self.dtype, copy=False)

    def rows(self, start: int, stop: int) -> np.ndarray:
        """Rows start..stop, read now, in C order."""
        return np.ascontiguousarray(self[start:stop])

    def astype(self, dtype, copy: bool = False) -> ZarrPoints:
        """The same array read as `dtype`: integers may be read as float64, not floats as integers."""
        dtype = np.dtype(dtype)
        if dtype == self.dtype:
            return self
        if dtype != np.float64:
            raise InputError(f"--inputs {self.url}: {self.name or 'the array'} holds {self.stored} values, not the "
                             f"whole numbers an int input takes")
        return replace(self, dtype=dtype)

    def __array__(self, dtype=None, copy=None):
        """Every row at once: for a run that needs them all in memory (grad --engine jax)."""
        whole = self[:]
        return whole if dtype is None else whole.astype(dtype, copy=False)

    def identity(self) -> str:
        """What identifies the data for --resume: the address, and for a local store every chunk
        file's name, size and modification time."""
        parts = [self.url, self.name, str(self.shape), self.stored.str]
        root = os.path.join(self.url, self.name) if "://" not in self.url else None
        if root and os.path.isdir(root):
            for folder, subfolders, files in sorted(os.walk(root)):
                subfolders.sort()
                for f in sorted(files):
                    info = os.stat(os.path.join(folder, f))
                    parts.append(f"{os.path.relpath(os.path.join(folder, f), root)}:{info.st_size}:{info.st_mtime_ns}")
        return "\n".join(parts)


def read_zarr(path: str, where: str, lazy: set[str], single: str, checked) -> tuple[dict, list]:
    """(a store's arrays by name, the names of those stored as float32 or float16): a store that is
    one array under `single`; those named in `lazy` (and a single array, when `lazy` is not empty) as
    ZarrPoints, the rest read and `checked`."""
    zarr = zarr_module(where)
    url = located(path)
    if "://" not in url and not os.path.isdir(url):
        raise InputError(f"{where}: no such Zarr store" if not os.path.exists(url) else
                         f"{where}: is not a Zarr store (a folder)")
    try:
        node = zarr.open(url, mode="r")
    except Exception as e:  # noqa: BLE001 - zarr and its stores raise many kinds: all mean it cannot be read
        raise InputError(f"{where}: not a Zarr array or group ({type(e).__name__}: {e})") from None
    if hasattr(node, "array_keys"):
        members = {name: node[name] for name in sorted(node.array_keys())}
        if not members:
            raise InputError(f"{where}: the Zarr group holds no arrays")
    else:
        members = {single: node}
    out, widened = {}, []
    for name, array in members.items():
        if np.dtype(array.dtype) in (np.float32, np.float16):
            widened.append(name)
        label = f"{where}: {name}" if name != single else where
        if name in lazy or (name == single and lazy):
            dtype = target_dtype(np.dtype(array.dtype), label)
            if array.ndim < 1 or array.ndim > MAX_DIMENSIONS + 1:
                raise InputError(f"{label}: has {array.ndim} dimensions; points need a first axis and at most "
                                 f"{MAX_DIMENSIONS} more")
            out[name] = ZarrPoints(url, "" if name == single else name, tuple(array.shape), dtype,
                                   np.dtype(array.dtype))
        else:
            size = int(np.prod(array.shape, dtype=np.int64)) * np.dtype(array.dtype).itemsize
            if size > max_bytes():  # read whole, so bounded as any input file is
                raise InputError(f"{label}: the array has {human_bytes(size)}, over the limit of "
                                 f"{human_bytes(max_bytes())} (set ADCLI_MAX_BYTES to raise it; an input given "
                                 "with --batch is read a chunk at a time)")
            try:
                out[name] = checked(np.asarray(array[...]), label)
            except InputError:
                raise
            except Exception as e:  # noqa: BLE001 - as above, for one array
                raise InputError(f"{label}: cannot read it ({type(e).__name__}: {e})") from None
    return out, widened


# ---------------------------------------------------------------------------------------------
# Results: a Zarr group, one array per result, chunked as the run's chunks
# ---------------------------------------------------------------------------------------------

class ZarrResults:
    """-o results.zarr: a group with one array per result (value, grad.W, ...), each chunk of the
    run one Zarr chunk (so workers writing different chunks never touch the same object), and the
    manifest in the group's attributes."""

    def __init__(self, path: str, fields: dict, size: int, spans: list):
        self.zarr = zarr_module(f"-o {path}")
        self.path, self.url, self.fields, self.size, self.spans = path, located(path), fields, size, spans

    def occupied(self) -> bool:
        if "://" not in self.url:
            return os.path.exists(self.url) and (not os.path.isdir(self.url) or any(os.scandir(self.url)))
        try:
            self.zarr.open(self.url, mode="r")
        except Exception:  # noqa: BLE001 - nothing there to open
            return False
        return True

    def create(self) -> None:
        rows = max(1, max((stop - start for start, stop in self.spans), default=1))
        try:
            group = self.zarr.open_group(self.url, mode="w")
            for name, (shape, dtype) in self.fields.items():
                group.create_array(name, shape=(self.size,) + tuple(shape),  # a chunk is at least 1 long
                                   chunks=(rows,) + tuple(max(1, d) for d in shape), dtype=dtype, fill_value=0)
        except Exception as e:  # noqa: BLE001 - the store's own errors, whatever their kind
            raise InputError(f"-o {self.path}: cannot create the Zarr group ({type(e).__name__}: {e})") from None

    def read_state(self) -> dict | None:
        try:
            group = self.zarr.open_group(self.url, mode="r")
        except Exception:  # noqa: BLE001 - no group there: nothing to resume
            return None
        missing = [name for name in self.fields if name not in group]
        if missing:
            raise InputError(f"-o {self.path}: the array {missing[0]} is missing")
        state = group.attrs.get(MANIFEST)
        return dict(state) if isinstance(state, dict) else None

    def write_state(self, state: dict) -> None:
        self.zarr.open_group(self.url, mode="r+").attrs[MANIFEST] = state

    def writer(self) -> ZarrWriter:
        return ZarrWriter(self.url, tuple(self.fields), tuple(self.spans))

    def sync(self) -> None:
        """Zarr writes each chunk whole when it is given; nothing is left in this process."""

    def results(self) -> dict:
        return {name: ZarrPoints(self.url, name, (self.size,) + tuple(shape), np.dtype(dtype), np.dtype(dtype))
                for name, (shape, dtype) in self.fields.items()}

    def files(self) -> dict:
        return {name: name for name in self.fields}


@dataclass(frozen=True)
class ZarrWriter:
    """Writes a chunk's rows into the group's arrays: one Zarr chunk per run chunk, from any process."""

    url: str
    names: tuple
    spans: tuple

    def write(self, k: int, part: dict) -> None:
        import zarr
        start, stop = self.spans[k]
        for name in self.names:
            zarr.open_array(self.url, path=name, mode="r+")[start:stop] = part[name]
