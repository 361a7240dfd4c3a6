"""numba's disk cache across the engine's two import names.

The engine is imported as ``plugin.clusters`` (scripts, benchmarks, tests) and
as ``fiftyone.plugins.orgs.<...>.plugin.clusters`` (the installed plugin, as
FiftyOne imports it). Both compile the same file; each must work whichever
compiled first.
"""

import os
import shutil
import subprocess
import sys

import pytest

from tests.conftest import ROOT

_PROJECT = "import numpy as np; print(clusters.project(np.random.default_rng(0).normal(size=(300, 8))).shape)"

AS_PLUGIN = """
import sys
import fiftyone.operators as foo
foo.get_operator("@error-atlas/error-atlas/compute_error_map")
clusters = next(m for n, m in sys.modules.items()
                if n.startswith("fiftyone.plugins.orgs") and n.endswith(".plugin.clusters"))
""" + _PROJECT

AS_ENGINE = "import sys; sys.path.insert(0, sys.argv[1])\nfrom plugin import clusters\n" + _PROJECT


@pytest.fixture
def installed(tmp_path):
    """A plugins directory holding a real copy of the repository (no symlink,
    so both import names see the same file paths, as for an installed plugin)."""
    repo = tmp_path / "plugins" / "error-atlas"
    repo.mkdir(parents=True)
    for name in ("__init__.py", "fiftyone.yml"):
        shutil.copy(ROOT / name, repo / name)
    for name in ("plugin", "operators", "panels"):
        shutil.copytree(ROOT / name, repo / name, ignore=shutil.ignore_patterns("__pycache__"))
    return repo


def _run(script, repo):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(repo.parent.parent / "numba"),
               FIFTYONE_PLUGINS_DIR=str(repo.parent))
    done = subprocess.run([sys.executable, "-c", script, str(repo)], env=env, cwd="/", capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().endswith("(300, 2)")


@pytest.mark.parametrize("first,second", [(AS_PLUGIN, AS_ENGINE), (AS_ENGINE, AS_PLUGIN)],
                         ids=["plugin-then-engine", "engine-then-plugin"])
def test_kernels_cached_under_one_import_name_work_under_the_other(installed, first, second):
    _run(first, installed)
    _run(second, installed)
    _run(first, installed)  # and back, reading the cache both wrote
