"""Test set-up: a private FiftyOne database and plugin directory per test session.

The environment must be set before fiftyone is imported, so it happens here at
import time. The engine (``plugin/``) is imported directly; operators are always
reached through FiftyOne's plugin machinery, as users reach them.
"""

import os
import pathlib
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"

_tmp = pathlib.Path(tempfile.mkdtemp(prefix="error-atlas-tests-"))
(_tmp / "plugins").mkdir()
(_tmp / "plugins" / "error-atlas").symlink_to(ROOT)
os.environ["FIFTYONE_DATABASE_DIR"] = str(_tmp / "db")
os.environ["FIFTYONE_PLUGINS_DIR"] = str(_tmp / "plugins")
os.environ["FIFTYONE_DATABASE_VALIDATION"] = "false"
os.environ["FIFTYONE_DO_NOT_TRACK"] = "true"
os.environ["FIFTYONE_SHOW_PROGRESS_BARS"] = "false"

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def shared_data():
    """``../shared/data`` when present (development machines), else skip."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is absent (only development checkouts have it)")
    return SHARED_DATA


class _RootAsDirectory:
    """Collects the repository root as a plain directory, not a package.

    The root's ``__init__.py`` registers the plugin with relative imports that
    only FiftyOne's synthetic package name resolves; as a pytest package it
    would be imported under the checkout folder's name, which fails for a clone
    named e.g. ``error-atlas``."""

    @pytest.hookimpl(tryfirst=True)
    def pytest_collect_directory(self, path, parent):
        if path == ROOT:
            return pytest.Dir.from_parent(parent, path=path)
        return None


def pytest_configure(config):
    config.pluginmanager.register(_RootAsDirectory(), "error-atlas-root")
