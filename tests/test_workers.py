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
