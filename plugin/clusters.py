"""Maps, clusters and descriptions of where a model fails: the engine's entry points.

- :mod:`.projection`: the 2-D map (UMAP), :func:`project`, :func:`reduce`;
- :mod:`.clustering`: the partition and its significance, :func:`cluster`;
- :mod:`.descriptions`: ranked, described clusters, :func:`summarize_clusters`.
"""

from .clustering import cluster  # noqa: F401
from .descriptions import ClusterSummary, summarize_clusters  # noqa: F401
from .projection import fit_umap, project, reduce  # noqa: F401
