"""Layer math split over the CPU's cores with Python threads.

numpy releases the GIL inside its loops and inside BLAS, so threads running
numpy calls on separate blocks of an array run at the same time. Inside a
matrix product OpenBLAS already uses every core, but the passes over memory
around the products (im2col copies, batch norm, pooling, the ReLU mask) run on
one core, and a second core cannot help them while BLAS's own worker threads
keep spinning between products. So, while a ``session()`` is open:

- BLAS runs on one thread (through threadpoolctl), and
- ``for_each`` runs the blocks of a layer's work on a pool of threads, one per
  core that BLAS had, each doing its blocks' copies *and* products.

Outside a session ``for_each`` runs every block in the calling thread, and BLAS
keeps its own threads. A ``NeuralNetwork`` with conv or pooling layers opens a
session around its forward, backward, update and predict calls (and ``Trainer``
around a whole run; see ``NeuralNetwork.session``), so a user never has to.

The blocks of a computation depend only on the array shapes, never on the
number of threads, and sums over blocks are added in block order: results are
the same with any number of threads. (BLAS itself may round a product
differently when it runs on several threads, outside a session.)
"""

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from .utils.checks import check_number

_lock = threading.Lock()
_threads = None  # set by set_threads, or found on first use
_pool = None
_pool_size = 0
_pool_pid = None  # the process that made the pool
_controller = None  # threadpoolctl.ThreadpoolController, made on first use
_depth = 0  # open sessions (they nest)
_limiter = None  # what restores BLAS's threads when the outermost session closes
_worker = threading.local()


def _blas_controller():
    """threadpoolctl's view of the thread pools loaded in this process, made once."""
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController
        _controller = ThreadpoolController()
    return _controller


def _blas_threads():
    """Threads of the BLAS numpy uses (threadpoolctl), or the usable cores."""
    counts = [info["num_threads"] for info in _blas_controller().info()
              if info["user_api"] == "blas"]
    if counts:
        return max(counts)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def threads():
    """How many threads a session uses: ``set_threads``'s value, else BLAS's thread count."""
    global _threads
    if _threads is None:
        _threads = max(1, _blas_threads())
    return _threads


def set_threads(n):
    """Use ``n`` threads (an int >= 1) in later sessions; 1 turns threading off."""
    global _threads
    n = check_number("threads", n, at_least=1, whole=True)
    with _lock:
        if _depth:
            raise ValueError("set_threads cannot be called while a session is open")
        _threads = int(n)


def active():
    """True while a session is open and for_each may use more than one thread."""
    return _depth > 0 and threads() > 1 and not getattr(_worker, "busy", False)


def slots():
    """How many blocks may run at once: the size of per-thread scratch space."""
    return threads() if active() else 1


@contextlib.contextmanager
def session():
    """Open a session (they nest): BLAS on one thread, for_each on ``threads()``.

    Called from a for_each worker, or with one thread, it changes nothing.
    """
    global _depth, _limiter
    if threads() == 1 or getattr(_worker, "busy", False):
        yield
        return
    with _lock:
        if _depth == 0:
            # A fresh look at the loaded libraries (under a millisecond, once per
            # outermost session): a BLAS loaded since the last session (PyTorch's,
            # SciPy's) is held to one thread as well.
            from threadpoolctl import threadpool_limits
            _limiter = threadpool_limits(limits=1, user_api="blas")
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                _limiter.restore_original_limits()
                _limiter = None


def _run_group(fn, indices, slot):
    _worker.busy = True
    try:
        for index in indices:
            fn(index, slot)
    finally:
        _worker.busy = False


def for_each(fn, count):
    """Call fn(index, slot) for index in range(count); return when all are done.

    ``slot`` (0 <= slot < slots()) says which thread runs the call, for
    per-thread scratch space. In a session the indices are split into
    ``slots()`` runs of consecutive indices, one per thread (the calling thread
    takes the first); otherwise they all run here, with slot 0. Calls must
    write to disjoint memory. An exception from any call is raised here after
    every thread has stopped.
    """
    global _pool, _pool_size, _pool_pid
    groups = min(slots(), count)
    if groups <= 1:
        for index in range(count):
            fn(index, 0)
        return
    # A forked child has the pool object but not its threads: it makes its own.
    if _pool_size < groups - 1 or _pool_pid != os.getpid():
        _pool = ThreadPoolExecutor(groups - 1, thread_name_prefix="neural_networks")
        _pool_size, _pool_pid = groups - 1, os.getpid()
    bounds = [count * g // groups for g in range(groups + 1)]
    futures = [_pool.submit(_run_group, fn, range(bounds[g], bounds[g + 1]), g)
               for g in range(1, groups)]
    error = None
    try:
        _run_group(fn, range(bounds[0], bounds[1]), 0)
    except BaseException as exc:  # wait for the other threads before raising
        error = exc
    for future in futures:
        while True:
            try:
                future.result()
            except BaseException as exc:  # a Ctrl-C while waiting: keep waiting
                error = error or exc
                if not future.done():
                    continue
            break
    if error is not None:
        raise error
