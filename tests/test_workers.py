"""Pool workers exit with the process that started them (a killed compute_error_map
leaves no descriptor workers behind)."""

import os
import signal
import subprocess
import sys
import time

import psutil
import pytest

from tests.conftest import ROOT

SCRIPT = """
import sys, time
sys.path.insert(0, %r)
from plugin import workers

def busy(_):
    time.sleep(120)

pool = workers.pool(2)
futures = [pool.submit(busy, i) for i in range(2)]
time.sleep(1.0)
print(" ".join(str(p) for p in pool._processes), flush=True)
time.sleep(120)
""" % str(ROOT)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_workers_exit_when_their_parent_is_killed(sig):
    parent = subprocess.Popen([sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == 2 and all(psutil.pid_exists(p) for p in pids)
        os.kill(parent.pid, sig)
        parent.wait(timeout=10)
        deadline = time.time() + 5
        while time.time() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.1)
        assert not any(_alive(p) for p in pids), "pool workers outlived their parent"
    finally:
        parent.kill()


def _alive(pid):
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


OPENCV_SCRIPT = """
import sys
sys.path.insert(0, %r)
import cv2, numpy as np
from plugin import workers

image = np.random.default_rng(0).integers(0, 255, (2000, 2000), dtype=np.uint8)
cv2.GaussianBlur(image, (0, 0), 5)  # starts OpenCV's thread pool in the parent
before = cv2.getNumThreads()

def blur(_):
    cv2.GaussianBlur(image, (0, 0), 5)
    return cv2.getNumThreads()

with workers.pool(2) as pool:
    inside = list(pool.map(blur, range(4)))
print(before, inside, cv2.getNumThreads(), flush=True)
""" % str(ROOT)


def test_workers_use_opencv_after_the_parent_started_its_thread_pool():
    """Forked workers once hung for ever on OpenCV's thread pool inherited from
    the parent; they now run single-threaded OpenCV and the parent gets its
    thread count back."""
    out = subprocess.run([sys.executable, "-c", OPENCV_SCRIPT], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    words = out.stdout.strip().replace("[", "").replace("]", "").replace(",", "").split()
    before, inside, after = int(words[0]), [int(w) for w in words[1:-1]], int(words[-1])
    assert inside == [1, 1, 1, 1]
    assert after == before
