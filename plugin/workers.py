"""Process pools whose workers exit with the process that started them.

A ``kill -9`` of ``compute_error_map`` must not leave its descriptor workers
running (each holds hundreds of MB). On Linux each worker asks the kernel for
SIGKILL when its parent dies (``PR_SET_PDEATHSIG``); a watchdog thread that
polls the parent's pid backs it up (the kernel signal follows the parent
*thread* that forked the worker) and covers other platforms.

Workers are forked where the platform has fork: a spawned worker cannot import
the plugin under FiftyOne's synthetic package name, and processes started by
spawn (``fiftyone delegated launch -m``) make spawn the default for their pools.

OpenCV runs single-threaded in the parent while a pool lives (the workers are
the parallelism): a forked worker that calls ``cv2.setNumThreads`` itself after
the parent started OpenCV's thread pool hangs for ever.
"""

import contextlib
import ctypes
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor

PR_SET_PDEATHSIG = 1
WATCH_INTERVAL = 0.5  # seconds between the watchdog's checks of the parent


def pool(max_workers):
    """A :class:`ProcessPoolExecutor` of ``max_workers`` workers tied to this
    process; OpenCV is single-threaded here until it shuts down."""
    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else None)
    return _Pool(max_workers=max_workers, mp_context=context,
                 initializer=_exit_with_parent, initargs=(os.getpid(),))


class _Pool(ProcessPoolExecutor):
    def __init__(self, **kwargs):
        self._opencv = opencv_single_threaded()
        self._opencv.__enter__()
        super().__init__(**kwargs)

    def shutdown(self, *args, **kwargs):
        try:
            super().shutdown(*args, **kwargs)
        finally:
            self._opencv.__exit__(None, None, None)


@contextlib.contextmanager
def opencv_single_threaded():
    """OpenCV on one thread in this process for the block (for forking workers
    inherit that and never touch the thread pool), then as it was."""
    import cv2

    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(threads)


def _exit_with_parent(parent_pid):
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # not Linux: the watchdog alone
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)
    threading.Thread(target=_watch, args=(parent_pid,), daemon=True).start()


def _watch(parent_pid):
    while os.getppid() == parent_pid:
        time.sleep(WATCH_INTERVAL)
    os._exit(1)
