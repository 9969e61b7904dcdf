"""The client side of a distributed run: connect, submit blocks, write results as they come.

At most :data:`BLOCKS_IN_FLIGHT_PER_WORKER` blocks per worker are outstanding at once, so the
client's memory is bounded by a few blocks whatever the raster size (results are written and
dropped as they arrive; the write regions of a stitch plan are disjoint, so arrival order does
not matter).
"""

from __future__ import annotations

import uuid
from typing import Any, Iterator, Sequence

from ..errors import EngineSetupError, InputError
from ..feedback import Feedback
from ..geo.tiling import StitchPlan, TileTask
from .worker import BlockSpec, run_block

__all__ = ["BlockSpec", "connect", "run_distributed", "blocks"]

# distributed retries a refused connection until this timeout; a LAN scheduler answers in ms.
CONNECT_TIMEOUT_S = 5.0
WORKER_WAIT_S = 30.0
BATCHES_PER_BLOCK = 2
BLOCKS_IN_FLIGHT_PER_WORKER = 2
# Each block may be re-run this many times after an error raised in it (a dead worker's blocks
# are re-run by the scheduler anyway, up to its 'allowed-failures' setting).
BLOCK_RETRIES = 2


def connect(address: str, feedback: Feedback | None = None,
            timeout_s: float = CONNECT_TIMEOUT_S) -> Any:
    """A ``distributed.Client`` on ``address`` with at least one worker.

    Raises:
        EngineSetupError: dask.distributed is not installed.
        InputError: the scheduler cannot be reached within ``timeout_s`` or has no worker
            within :data:`WORKER_WAIT_S` (the message says how to start them).
    """
    feedback = feedback or Feedback()
    try:
        from distributed import Client
    except ImportError:
        raise EngineSetupError(
            "Distributed classification needs the 'distributed' package in the engine Python; "
            "run Set up engine again (it installs requirements/engine.txt) or leave the Dask "
            "scheduler empty to classify on this machine.") from None
    try:
        client = Client(address, timeout=f"{timeout_s}s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise InputError(
            f"Cannot reach the Dask scheduler at '{address}' within {timeout_s:g} s "
            f"({str(exc).splitlines()[0][:160]}). Start it with 'dask scheduler' on that host "
            "and check the address and firewall, or leave the Dask scheduler empty to classify "
            "on this machine.") from None
    try:
        client.wait_for_workers(1, timeout=WORKER_WAIT_S)
    except (OSError, TimeoutError) as exc:
        client.close()
        raise InputError(
            f"The Dask scheduler at '{address}' has no worker after {WORKER_WAIT_S:g} s "
            f"({type(exc).__name__}); start workers with 'dask worker {address}' on hosts that "
            "see the input files.") from None
    n = len(client.scheduler_info(n_workers=-1).get("workers", {}))
    feedback.info(f"Dask scheduler {address}: {n} worker(s).")
    return client


def blocks(plan: StitchPlan, batch_size: int,
           batches_per_block: int = BATCHES_PER_BLOCK) -> Iterator[tuple[int, list[TileTask]]]:
    """``(first plan index, windows)`` blocks of whole batches, in plan order."""
    size = max(1, batch_size * batches_per_block)
    block: list[TileTask] = []
    first = 0
    for i, task in enumerate(plan):
        if not block:
            first = i
        block.append(task)
        if len(block) == size:
            yield first, block
            block = []
    if block:
        yield first, block


def run_distributed(client: Any, spec: BlockSpec, plan: StitchPlan, out: Any,
                    feedback: Feedback) -> tuple[int, int]:
    """Run every window of ``plan`` on the cluster and write into ``out`` (StreamedOutputs).

    Returns:
        ``(tiles run, tiles skipped)``.

    Raises:
        CancelledError: cancelled (outstanding blocks are cancelled on the cluster).
        InputError: a block failed on the workers (the worker's error is in the message), or
            workers kept dying on one block.
    """
    from distributed import as_completed
    from distributed.scheduler import KilledWorker

    workers = max(1, len(client.scheduler_info(n_workers=-1).get("workers", {})))
    limit = BLOCKS_IN_FLIGHT_PER_WORKER * workers
    todo = blocks(plan, spec.config.batch_size)
    total = len(plan)
    done_tiles = run = skipped = 0
    tasks_of: dict[Any, Sequence[TileTask]] = {}
    run_id = uuid.uuid4().hex[:12]

    def submit_next() -> Any:
        try:
            first, block = next(todo)
        except StopIteration:
            return None
        future = client.submit(run_block, spec, block, pure=False, retries=BLOCK_RETRIES,
                               key=f"cmkd-block-{run_id}-{first}")
        tasks_of[future] = block
        return future

    initial = [f for f in (submit_next() for _ in range(limit)) if f is not None]
    # This client is not the process default (set_as_default=False), so pass its loop.
    pool = as_completed(initial, loop=client.loop)
    try:
        for future in pool:
            feedback.check_cancelled()
            block = tasks_of.pop(future)
            try:
                results = future.result()
            except KilledWorker:
                raise InputError(
                    "Dask workers kept dying while running one block of tiles (out of memory?); "
                    "give the workers more memory or lower the batch size.") from None
            except Exception as exc:  # the worker's own exception, re-raised here
                message = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
                raise InputError(f"A Dask worker failed on a block of tiles: {message}") from None
            for task, result in zip(block, results):
                if result is None:
                    out.write_nodata(task.write)
                    skipped += 1
                else:
                    out.write(task.write, result[0], result[1])
                    run += 1
            done_tiles += len(block)
            feedback.progress(100.0 * done_tiles / total)
            following = submit_next()
            if following is not None:
                pool.add(following)
    except BaseException:
        # Cancelled or failed: nothing more of this run is wanted from the cluster.
        client.cancel(list(tasks_of))
        raise
    return run, skipped
