"""`--batch` on Dask: the chunks of a batched run computed by the workers of a dask.distributed cluster.

The program's compiled form (the graph and its plan, with the shared inputs) is sent to every
worker once, pickled by Dask: never source text to run. A chunk is then its rows of the batched
inputs, or, for points in an .npy file whose results go to an output folder, only its place: the
worker reads its rows and writes its results into the folder's files itself (it must see the same
files: one machine, or a shared file system). Each worker runs the same function on a chunk as
one process does (adcli.engine.batch's *_part functions), on arrays laid out alike, so the results
are the same bits whatever the number of workers. When rows and results travel, at most two chunks
per worker are in flight, so the client holds a few at a time; results come back in order. A
worker that dies has its chunk run again by Dask; a scheduler that cannot be reached, or goes away,
is an error.

Dask is the optional `dask` extra: pip install 'adcli[dask]'.
"""

from __future__ import annotations

import logging
import os

from adcli.engine.batch import from_file, in_blocks
from adcli.errors import AdError, InputError

INSTALL = "pip install 'adcli[dask]' (dask and distributed)"
IN_FLIGHT = 2  # chunks per worker sent ahead when their rows and results travel: one computing, one on its way
QUEUED = 256  # chunks queued ahead when only their place travels


class Cluster:
    """A Dask client: on a local cluster of `workers` processes started here, or connected to the
    scheduler at `address` (DASK_SCHEDULER_ADDRESS when neither is given). Use it in a `with`."""

    def __init__(self, workers: int | None = None, address: str | None = None, processes: bool = True,
                 quiet: bool = False):
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise InputError(f"--workers and --scheduler run on Dask, which is not installed: {INSTALL}") from None
        if quiet:  # adcli reports what goes wrong, in one line; Dask's own log would add its tracebacks
            for name in ["distributed", *logging.root.manager.loggerDict]:
                if name.split(".")[0] in ("distributed", "tornado"):
                    logging.getLogger(name).setLevel(logging.CRITICAL + 1)
        address = address or (None if workers else os.environ.get("DASK_SCHEDULER_ADDRESS"))
        self.address, self.local = address, None
        if address is None:
            if workers is None or workers < 1:
                raise InputError(f"--workers {workers}: a cluster has at least one worker")
            # One thread a worker, and numpy's BLAS one thread too (Dask's own setting): a worker a core.
            # But not Dask's MALLOC_TRIM_THRESHOLD_: it fixes glibc's thresholds, so that every array of
            # a chunk (a few hundred KB) is mapped and unmapped afresh, which made each chunk 1.8 times
            # slower than in one process (measured with bench/dask_batch.py).
            import dask
            environ = {key: value for key, value in dask.config.get("distributed.nanny.pre-spawn-environ", {}).items()
                       if not key.startswith("MALLOC_")}
            with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
                self.local = LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes,
                                          dashboard_address=":0", silence_logs=50)
        try:
            self.client = Client(self.local if self.local is not None else address, timeout="10s",
                                 set_as_default=False)
        except (OSError, TimeoutError) as e:
            self.close()
            raise InputError(f"--scheduler {address}: no Dask scheduler answers there ({e})") from None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            client.close()
        if self.local is not None:
            self.local.close()

    def workers(self) -> int:
        return max(1, len(self.client.scheduler_info()["workers"]))

    def run(self, plan, work, todo: list[int], progress=None, done: int = 0, writer=None):
        """(k, work(rows, 0, n)) for each chunk k of `todo` on the workers, yielded in order; with a
        `writer`, each worker writes its chunk to the output folder and (k, None) is yielded."""
        from distributed import CancelledError
        spans = plan.spans
        # Chunks that travel as their place in a file and are written by their worker are a few hundred
        # bytes each way: all of them can be queued. Rows and results that travel bound the queue.
        light = writer is not None and all(from_file(plan.bound[i]) for i in plan.batched)
        window = QUEUED if light else IN_FLIGHT * self.workers()
        futures: dict = {}
        collected = 0
        try:
            # The program's compiled form and the shared inputs, sent to every worker once; then a chunk
            # is its rows (or their place in the file).
            shared = self.client.scatter(plan.shared(), broadcast=True, hash=False)
            for j in range(len(todo) + window):
                if j < len(todo):  # send a chunk with its rows, as the one `window` places back is collected
                    k = todo[j]
                    start, stop = spans[k]
                    futures[j] = self.client.submit(chunk_on_worker, work, shared, plan.rows(start, stop, mapped=True),
                                                    stop - start, k, writer, pure=False)
                if j >= window:
                    k = todo[j - window]
                    yield k, futures.pop(j - window).result()  # kept before it counts as done
                    collected += 1
                    done += spans[k][1] - spans[k][0]
                    if progress is not None:
                        progress(done, plan.size)
        except AdError:  # a chunk's own error, from its worker
            raise
        except (OSError, TimeoutError, CancelledError) as e:
            where = f"the Dask scheduler at {self.address}" if self.address else "the local Dask cluster"
            raise InputError(f"{where} went away after {collected} of {len(todo)} chunks ({type(e).__name__}); "
                             "with -o, the same command with --resume goes on from the chunks written") from None
        finally:
            for future in futures.values():
                future.cancel()


def chunk_on_worker(work, shared, rows: dict, points: int, k: int, writer):
    """On a worker: one chunk's results from the shared plan and its rows (read here when they are
    a file's), returned, or written to the output folder (then None)."""
    try:
        chunk = shared.with_rows(rows, points)
    except OSError as e:
        raise InputError(f"a Dask worker cannot read the points ({e.strerror or e}: {e.filename}): the workers must see "
                         "the file where adcli sees it (a shared file system)") from None
    from adcli.language.graph import paused_gc
    with paused_gc():  # as in one process: the collector's passes over a chunk's fresh graph cost more than it
        part = in_blocks(work, chunk, 0, points)
    if writer is None:
        return part
    try:
        writer.write(k, part)
    except OSError as e:
        raise InputError(f"a Dask worker cannot write the results ({e.strerror or e}: {e.filename}): the workers must "
                         "see the -o folder where adcli sees it (a shared file system)") from None
    return None
