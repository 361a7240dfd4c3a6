"""numba kernels cached on disk, one cache per import name of the engine.

numba keys its disk cache by the source file's path but pickles references to
the module by its import name. The engine's files are imported under two
names: ``plugin.*`` (scripts, benchmarks, tests) and FiftyOne's synthetic
``fiftyone.plugins.orgs.*`` (the installed plugin). Sharing one cache, the
name that did not compile an entry fails to load it (``ModuleNotFoundError``),
so each import name gets its own cache directory under
``$NUMBA_CACHE_DIR`` (default ``~/.cache/error-atlas/numba``; installed
packages may be read-only).
"""

import os

DEFAULT_CACHE_DIR = os.path.expanduser("~/.cache/error-atlas/numba")
os.environ.setdefault("NUMBA_CACHE_DIR", DEFAULT_CACHE_DIR)  # umap-learn's kernels too

import numba  # noqa: E402


def cached_njit(module_name, **options):
    """``numba.njit(cache=True, **options)`` with the cache of ``module_name``.

    numba fixes a function's cache location when it is decorated, from
    ``numba.config.CACHE_DIR``; it is set for that moment only, so other
    libraries' caches stay where they were.
    """
    root = os.environ.get("NUMBA_CACHE_DIR") or DEFAULT_CACHE_DIR
    cache_dir = os.path.join(root, module_name)

    def decorate(func):
        previous = numba.config.CACHE_DIR
        numba.config.CACHE_DIR = cache_dir
        try:
            return numba.njit(cache=True, **options)(func)
        finally:
            numba.config.CACHE_DIR = previous

    return decorate


_LIBRARY_CACHES = set()


def cache_library_kernels(*modules):
    """Caches on disk the numba kernels of libraries that compile theirs in every
    process (umap-learn: ~30 s per process otherwise), under ``$NUMBA_CACHE_DIR``.

    Library modules have one import name, so one cache each is safe. A kernel
    compiled later in the process is then saved; numba checks the cached entry
    against the source file, so an upgraded library recompiles.
    """
    root = os.environ.get("NUMBA_CACHE_DIR") or DEFAULT_CACHE_DIR
    from numba.core.registry import CPUDispatcher

    for module in modules:
        if module.__name__ in _LIBRARY_CACHES:
            continue
        previous = numba.config.CACHE_DIR
        numba.config.CACHE_DIR = os.path.join(root, module.__name__)
        try:
            for obj in list(vars(module).values()):
                if isinstance(obj, CPUDispatcher) and type(obj._cache).__name__ == "NullCache":
                    obj.enable_caching()
        finally:
            numba.config.CACHE_DIR = previous
        _LIBRARY_CACHES.add(module.__name__)
