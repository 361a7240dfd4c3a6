"""evaluate_model as a delegated operation, as `fiftyone delegated launch` runs it."""

import pytest
from fiftyone.operators.delegated import DelegatedOperationService

from tests.fodata import evaluate_model, random_dataset


def test_delegated_run_reports_progress_and_stores_results():
    ds = random_dataset(seed=41, num_samples=20)
    queued = evaluate_model(ds, pred_field="predictions", gt_field="ground_truth",
                            eval_key="ea", delegate=True)
    assert queued["run_state"] == "queued"
    assert ds.list_evaluations() == []  # queued, not run yet
    service = DelegatedOperationService()
    doc = service.execute_operation(service.get(queued["id"]), log=False)
    done = service.get(queued["id"])
    assert done.run_state == "completed", done.result
    assert done.status.progress == 1.0 and done.status.label == "Done"
    assert ds.list_evaluations() == ["ea"]
    assert done.result.result["mAP"] == pytest.approx(ds.load_evaluation_results("ea").mAP(), abs=1e-12)
    assert doc is not None
    ds.delete()
