"""The exported report of one run: the sections of :mod:`.report_sections` and
:mod:`.report_extras`, in order, in one self-contained HTML document
(:mod:`plugin.report_html`), and its PDF through headless Chromium's print."""

import os
import shutil
import subprocess
import tempfile
from datetime import datetime, timezone

from ..operators import compare_runs, run_history, run_store
from ..operators.errors import EvaluationInputError
from ..plugin import report_html as rh
from . import report_extras, report_sections

SECTIONS = report_sections.SECTIONS + report_extras.SECTIONS  # in the order shown
CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
PDF_TIMEOUT = 180  # s


def plotly_js():
    """plotly.js's source as shipped with the plotly package (a FiftyOne dependency)."""
    import plotly

    path = os.path.join(os.path.dirname(plotly.__file__), "package_data", "plotly.min.js")
    with open(path, encoding="utf-8") as f:
        return f.read()


def build(dataset, eval_key, compare_key=None, confidence=None, thumbs=8, progress=None):
    """The report of run ``eval_key`` (optionally against ``compare_key``) as a
    :class:`~plugin.report_html.Document` and the names of its sections."""
    progress = progress or (lambda fraction, label: None)
    check(dataset, eval_key, compare_key)
    progress(0.05, "Reading the run")
    content = report_sections.RunContent(dataset, eval_key, confidence)
    other = report_sections.RunContent(dataset, compare_key) if compare_key else None
    record = next((r for r in run_history.runs(dataset) if r["key"] == eval_key), None)
    model = run_history.label(record) if record else eval_key
    doc = rh.Document(
        "Evaluation report: %s" % model,
        "Dataset '%s' · %s run '%s' (predictions '%s', ground truth '%s') · %s · generated %s "
        "UTC by Error Atlas" % (
            dataset.name, content.task, eval_key, content.config.pred_field,
            content.config.gt_field, content.info["covers"],
            datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M")))
    doc.data["runs"] = {eval_key: {"task": content.task,
                                   "headline": report_sections.headline_numbers(content)}}
    report = {"dataset": dataset, "other": other, "thumbs": int(thumbs)}
    shown = []
    for i, section in enumerate(SECTIONS):
        progress(0.1 + 0.8 * i / len(SECTIONS), "Writing %s" % section.__name__)
        if section(doc, content, report):
            shown.append(doc.sections[-1][0])
    doc.data["sections"] = shown
    return doc, shown


def check(dataset, eval_key, compare_key=None):
    """Refuses, before any work, a run that is missing or unfinished."""
    for role, key in (("eval_key", eval_key), ("compare_key", compare_key)):
        if key is None and role == "compare_key":
            continue
        if not isinstance(key, str) or run_store.run_status(dataset, key) != "completed":
            known = [r["key"] for r in run_history.runs(dataset)]
            raise EvaluationInputError(
                "%s '%s' is not a finished Error Atlas evaluation of this dataset; choose one "
                "of: %s (or run evaluate_model first)." % (role, key, ", ".join(known) or "none"))
    if compare_key == eval_key:
        raise EvaluationInputError("compare_key is the report's own run '%s': choose another "
                                   "run to compare with, or leave it empty." % eval_key)
    if compare_key is not None:  # two tasks or two ground truths cannot be paired
        compare_runs.check_pair(dataset, eval_key, compare_key)


def write(doc, path):
    """Writes the document to ``path`` (directories made); returns its size in bytes."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    text = doc.html(plotly_js())
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return len(text.encode("utf-8"))


def chromium():
    """The Chromium executable, or None."""
    found = [p for p in CHROMIUM if os.path.exists(p)] or [shutil.which("chromium")]
    return next((p for p in found if p), None)


def check_pdf(pdf_path):
    """Refuses a PDF request when Chromium is absent, before any work."""
    if pdf_path and chromium() is None:
        raise EvaluationInputError(
            "A PDF needs Chromium's headless print, and no Chromium was found (%s). Install "
            "it (Debian / Ubuntu: apt-get install -y chromium), or export the HTML only "
            "(pdf_path=None) and print it from a browser." % ", ".join(CHROMIUM))


def write_pdf(html_path, pdf_path):
    """Prints the HTML report to ``pdf_path`` with headless Chromium."""
    check_pdf(pdf_path)
    os.makedirs(os.path.dirname(os.path.abspath(pdf_path)), exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ea-report-chromium-") as profile:
        cmd = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-background-networking", "--user-data-dir=" + profile,
               "--no-pdf-header-footer", "--virtual-time-budget=20000",
               "--print-to-pdf=" + os.path.abspath(pdf_path),
               "file://" + os.path.abspath(html_path)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=PDF_TIMEOUT)
    if done.returncode != 0 or not os.path.exists(pdf_path):
        raise EvaluationInputError("Chromium could not print the report (exit %d): %s" % (
            done.returncode, (done.stderr or "")[-500:]))
    return os.path.getsize(pdf_path)
