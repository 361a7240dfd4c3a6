"""The ``export_report`` operator: a thin form and SDK entry over :mod:`panels.report`."""

import os

import fiftyone.operators as foo
import fiftyone.operators.types as types

from ..panels import report
from . import run_history, run_store, sdk
from .errors import EvaluationInputError

REPORT_DIR = os.path.join("~", "error-atlas-reports")


class ExportReport(foo.Operator):
    """Writes one self-contained HTML report of a run (and optionally its PDF)."""

    @property
    def config(self):
        return foo.OperatorConfig(
            name="export_report",
            label="Error Atlas: export report",
            description="One self-contained HTML file (and optionally a PDF) of an evaluation: "
                        "summary, curves, classes, confusion, errors, clusters, history",
            dynamic=True,
            allow_immediate_execution=True,
            allow_delegated_execution=True,
        )

    def __call__(self, sample_collection, eval_key="eval", path=None, compare_key=None,
                 confidence=None, thumbnails=8, pdf=False, delegate=False):
        """Writes the report from Python and returns where it is.

        Args:
            sample_collection: the evaluated dataset (or a view of it)
            eval_key: the ``evaluate_model`` run reported
            path: the HTML file (default ``~/error-atlas-reports/<dataset>-<key>.html``)
            compare_key: optional second run, compared side by side
            confidence: the operating point (default: the optimal threshold, max F1)
            thumbnails: thumbnails per group of error examples and per cluster (0: none)
            pdf: also print a PDF next to the HTML (needs Chromium)
            delegate: queue as a delegated operation instead of running now

        Returns:
            ``{"path", "pdf_path", "sections", "size_bytes", "pdf_size_bytes"}``
        """
        params = dict(eval_key=eval_key, path=path, compare_key=compare_key,
                      confidence=confidence, thumbnails=thumbnails, pdf=pdf)
        return sdk.run(self, sample_collection, params, delegate)

    def resolve_input(self, ctx):
        inputs = types.Object()
        runs = finished_runs(ctx.dataset)
        if not runs:
            inputs.view("none", types.Warning(
                label="No finished evaluation yet", description="Run Error Atlas: evaluate "
                "model first."))
            return types.Property(inputs)
        menu, others = types.Dropdown(), types.Dropdown()
        for key in runs:
            menu.add_choice(key, label=key)
        inputs.str("eval_key", default=runs[-1], required=True, label="Evaluation", view=menu)
        key = ctx.params.get("eval_key") or runs[-1]
        task = run_store.run_task(ctx.dataset, key) if key in runs else None
        for other in runs:  # runs of the same task
            if other != key and run_store.run_task(ctx.dataset, other) == task:
                others.add_choice(other, label=other)
        inputs.str("path", default=default_path(ctx.dataset.name, key), label="HTML file",
                   description="Where the report is written (on the machine running FiftyOne)")
        inputs.str("compare_key", default=None, label="Compare with (optional)", view=others)
        inputs.float("confidence", default=None, label="Confidence threshold (optional)",
                     description="Default: the optimal threshold (max F1)")
        inputs.int("thumbnails", default=8, min=0, label="Thumbnails per group",
                   description="Error examples and cluster members (0: none)")
        inputs.bool("pdf", default=False, label="Also a PDF",
                    description="Printed by headless Chromium next to the HTML")
        return types.Property(inputs, view=types.View(label="Export report"))

    def execute(self, ctx):
        p = ctx.params
        key = p.get("eval_key") or "eval"
        path = os.path.expanduser(p.get("path") or default_path(ctx.dataset.name, key))
        pdf_path = os.path.splitext(path)[0] + ".pdf" if p.get("pdf") else None
        thumbs = p.get("thumbnails")
        thumbs = 8 if thumbs is None else thumbs
        if not isinstance(thumbs, int) or thumbs < 0:
            raise EvaluationInputError("thumbnails must be a whole number >= 0, e.g. 8; got %r."
                                       % (thumbs,))
        report.check(ctx.dataset, key, p.get("compare_key") or None)
        report.check_pdf(pdf_path)
        progress = lambda fraction, label: ctx.set_progress(progress=fraction, label=label)  # noqa: E731
        doc, shown = report.build(ctx.dataset, key, compare_key=p.get("compare_key") or None,
                                  confidence=p.get("confidence"), thumbs=thumbs,
                                  progress=progress)
        size = report.write(doc, path)
        pdf_size = None
        if pdf_path:
            progress(0.95, "Printing the PDF")
            pdf_size = report.write_pdf(path, pdf_path)
        progress(1.0, "Done")
        return {"path": path, "pdf_path": pdf_path, "sections": shown, "size_bytes": size,
                "pdf_size_bytes": pdf_size}

    def resolve_output(self, ctx):
        outputs = types.Object()
        r = ctx.results or {}
        lines = ["Report written to `%s` (%.1f MB, sections: %s)." % (
            r.get("path"), (r.get("size_bytes") or 0) / 1e6, ", ".join(r.get("sections") or []))]
        if r.get("pdf_path"):
            lines.append("PDF: `%s`." % r["pdf_path"])
        outputs.md("\n\n".join(lines), name="report")
        return types.Property(outputs, view=types.View(label="Report exported"))


def finished_runs(dataset):
    """Keys of the finished runs of every task, oldest first."""
    return [r["key"] for r in run_history.runs(dataset)]


def default_path(dataset_name, eval_key):
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in dataset_name)
    return os.path.join(REPORT_DIR, "%s-%s.html" % (safe, eval_key))
