"""Error Atlas: model evaluation and failure-cluster exploration for FiftyOne.

FiftyOne imports this file under a synthetic package name, so everything
below uses relative imports.
"""

from .operators.compute_error_map import ComputeErrorMap
from .operators.evaluate_model import ErrorAnalysis, EvaluateModel
from .operators.monitor_ops import CheckAlerts, MonitorDrift
from .operators.score_images import ScoreImages
from .panels.evaluation_explorer import EvaluationExplorer
from .panels.model_monitor import ModelMonitor
from .panels.vector_explorer import VectorExplorer


def register(p):
    p.register(EvaluateModel)
    p.register(ErrorAnalysis)
    p.register(EvaluationExplorer)
    p.register(ComputeErrorMap)
    p.register(VectorExplorer)
    p.register(CheckAlerts)
    p.register(MonitorDrift)
    p.register(ModelMonitor)
    p.register(ScoreImages)
