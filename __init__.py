"""Error Atlas: model evaluation and failure-cluster exploration for FiftyOne.

FiftyOne imports this file under a synthetic package name, so everything
below uses relative imports.
"""

from .operators.compare_runs import CompareRuns
from .operators.compute_error_map import ComputeErrorMap
from .operators.compute_slices import ComputeSlices
from .operators.evaluate_model import ErrorAnalysis, EvaluateModel
from .operators.export_report import ExportReport
from .operators.monitor_ops import CheckAlerts, MonitorDrift
from .operators.score_images import ScoreImages
from .operators.split_cluster import SplitCluster
from .panels.evaluation_explorer import EvaluationExplorer
from .panels.model_monitor import ModelMonitor
from .panels.vector_explorer import VectorExplorer


def register(p):
    p.register(EvaluateModel)
    p.register(ErrorAnalysis)
    p.register(EvaluationExplorer)
    p.register(ComputeErrorMap)
    p.register(ExportReport)
    p.register(VectorExplorer)
    p.register(ComputeSlices)
    p.register(CompareRuns)
    p.register(CheckAlerts)
    p.register(MonitorDrift)
    p.register(ModelMonitor)
    p.register(ScoreImages)
    p.register(SplitCluster)
