"""A real FiftyOne App in a subprocess, driven by headless Chromium (Playwright).

Used by the browser tests and the panel benchmark. The App process gets the
caller's environment (``FIFTYONE_DATABASE_DIR``, ``FIFTYONE_PLUGINS_DIR``, the
running database's port), so it sees the caller's datasets and this plugin.

Facts this relies on (FiftyOne 1.22.1):

- ``fo.launch_app(spaces=...)`` opens panels only when each space names its
  ``active_child``; without it the tabs exist but nothing is rendered.
- ``launch_app`` starts the server and connects at once; the server binds its
  port before it answers, the first connection fails and the session retries
  only 10 s later. So the script starts the server itself, waits for it to
  answer, then launches the session (which then reuses the running server).
- Python panels' plots are ``.js-plotly-plot`` divs without ids: they are
  found by their traces (``gd.data``).
"""

import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

CHROMIUM = "/usr/bin/chromium"
SKIP_REASON = ("browser tests need Debian's chromium: apt-get install -y chromium "
               "(CI's .ci/run installs it)")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
INIT_SCRIPT = ("window.IS_PLAYWRIGHT = true; "
               "localStorage.setItem('fiftyone-enterprise-tooltip-seen', 'true')")
PANEL = "evaluation_explorer"
PANEL_SEL = '[data-cy="panel-content-%s"]' % PANEL
GRID_SEL = '[data-cy="panel-content-Samples"]'
COUNT_SEL = GRID_SEL + ' [data-cy="entry-counts"]'
ROOT = pathlib.Path(__file__).resolve().parents[1]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"

APP_SCRIPT = r"""
import os, subprocess, sys, time, urllib.request
import fiftyone as fo

name, port, panel = sys.argv[1], int(sys.argv[2]), sys.argv[3]
dataset = fo.load_dataset(name)  # connects to the caller's database first
server = subprocess.Popen(
    [sys.executable, "main.py", "--port", str(port), "--address", "127.0.0.1"],
    cwd=os.path.join(os.path.dirname(fo.__file__), "server"),
    env={**os.environ, "FIFTYONE_DISABLE_SERVICES": "1", "FIFTYONE_DO_NOT_TRACK": "true"})
deadline = time.time() + 90
while True:
    try:
        urllib.request.urlopen("http://127.0.0.1:%d/fiftyone" % port, timeout=2).read()
        break
    except Exception:
        if server.poll() is not None or time.time() > deadline:
            sys.exit("the App server did not start")
        time.sleep(0.2)
samples = fo.Panel(type="Samples", pinned=True)
panels = [fo.Panel(type=p) for p in panel.split(",")]  # one space per panel, left to right
sizes = [0.4, 0.6] if len(panels) == 1 else [0.28] + [0.72 / len(panels)] * len(panels)
spaces = fo.Space(
    children=[fo.Space(children=[samples], active_child=samples.component_id)]
    + [fo.Space(children=[p], active_child=p.component_id) for p in panels],
    orientation="horizontal", sizes=sizes)
session = fo.launch_app(dataset, spaces=spaces, port=port, address="127.0.0.1", remote=True)
print("READY", flush=True)
session.wait(-1)
"""


def unavailable():
    """Why browser tests cannot run here, or None."""
    if not os.path.exists(CHROMIUM):
        return SKIP_REASON
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return SKIP_REASON
    return None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_images(dataset, directory, seed=0):
    """Gives every sample a real 640x480 image (flat colour, its boxes outlined)
    so grid tiles and patches show something; call before evaluating (changing
    ``filepath`` marks samples modified)."""
    import numpy as np
    from PIL import Image, ImageDraw

    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i, dets in enumerate(dataset.values("ground_truth.detections")):
        img = Image.new("RGB", (640, 480), tuple(int(v) for v in rng.integers(40, 120, 3)))
        draw = ImageDraw.Draw(img)
        for det in dets or []:
            x, y, w, h = det.bounding_box
            draw.rectangle([x * 640, y * 480, (x + w) * 640, (y + h) * 480],
                           fill=tuple(int(v) for v in rng.integers(120, 255, 3)))
        path = directory / ("img%04d.jpg" % i)
        img.save(path, quality=80)
        paths.append(str(path))
    dataset.set_values("filepath", paths)


class App:
    """The App serving ``dataset_name`` on a free port, the panel open next to the grid
    (``panel``: a panel name, or a list of names opened side by side)."""

    def __init__(self, dataset_name, log_path, panel=PANEL):
        self.dataset_name = dataset_name
        self.panel = panel if isinstance(panel, str) else ",".join(panel)
        self.log_path = pathlib.Path(log_path)
        self.port = free_port()
        self.proc = None

    @property
    def url(self):
        return "http://127.0.0.1:%d/datasets/%s" % (self.port, self.dataset_name)

    def start(self, timeout=90):
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", APP_SCRIPT, self.dataset_name, str(self.port), self.panel],
            env=dict(os.environ), stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True, cwd=str(ROOT))
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("the App process exited:\n" + self.log_tail())
            if "READY" in self.log_path.read_text(errors="replace"):
                try:
                    urllib.request.urlopen("http://127.0.0.1:%d/fiftyone" % self.port, timeout=2)
                    return self
                except OSError:
                    pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError("the App did not start in %d s:\n%s" % (timeout, self.log_tail()))

    def log_tail(self, n=40):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self):
        """Ends the App process group (the session script and its server)."""
        if self.proc is None:
            return
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            try:
                os.killpg(self.proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self.proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        self.proc = None
        self._log.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# FiftyOne's App router throws this when something reads the current route while
# the next view's route entry is still loading (two view changes in quick
# succession); the App recovers and shows the later view. Seen once in CI after a
# cluster row then a confusion cell were clicked; every other page error fails.
APP_ROUTER_RACES = {"Error: entry is loading", "entry is loading"}


class Browser:
    """Headless Chromium with a fresh profile; ``page`` is the one open tab."""

    def __init__(self, width=1600, height=1100):
        self.size = {"width": width, "height": height}
        self.console_errors = []

    def start(self):
        from playwright.sync_api import sync_playwright

        self._profile = tempfile.mkdtemp(prefix="ea-chromium-")
        self._pw = sync_playwright().start()
        self.context = self._pw.chromium.launch_persistent_context(
            self._profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
            viewport=self.size)
        self.context.add_init_script(INIT_SCRIPT)
        self.page = self.context.pages[0] if self.context.pages else self.context.new_page()
        self.page.on("pageerror", self._on_page_error)
        return self

    def _on_page_error(self, error):
        """Records an uncaught page error, except the App's own router race."""
        if str(error) not in APP_ROUTER_RACES:
            self.console_errors.append(str(error))

    def stop(self):
        try:
            self.context.close()
        finally:
            self._pw.stop()
            shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# -- reading and driving the panel ----------------------------------------------------

# Finds one of the panel's plots by its traces.
_FIND_PLOT = """
(kind) => {
  const panel = document.querySelector('%s');
  if (!panel) return null;
  const is = {
    threshold: d => d.some(t => t.name === 'Precision'),
    errors: d => d.length === 1 && d[0].type === 'bar' && d[0].name === 'errors',
    classes: d => d.some(t => t.type === 'bar' && t.name === 'correct'),
    confusion: d => d.length > 0 && d[0].type === 'heatmap',
    pr: d => d.some(t => t.name === 'all classes'),
  }[kind];
  return [...panel.querySelectorAll('.js-plotly-plot')].find(g => g.data && is(g.data)) || null;
}
""" % PANEL_SEL


def plot_data(page, kind):
    """Traces (name, type, x, y, z) of the panel's plot ``kind``, or None."""
    return page.evaluate("""(kind) => {
      const gd = (%s)(kind);
      return gd ? gd.data.map(t => ({name: t.name, type: t.type, x: t.x, y: t.y, z: t.z})) : null;
    }""" % _FIND_PLOT, kind)


def plot_point(page, kind, x_index, y_index, trace=0):
    """Page coordinates of category cell (x_index, y_index) of a plot, scrolled into view."""
    return page.evaluate("""([kind, i, j]) => {
      const gd = (%s)(kind);
      gd.scrollIntoView({block: 'center'});
      const r = gd.getBoundingClientRect(), xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
      return [r.left + xa._offset + xa.l2p(i), r.top + ya._offset + ya.l2p(j)];
    }""" % _FIND_PLOT, [kind, x_index, y_index])


def summary(page):
    """The summary's tables (header -> cell text, all its tables together) and the
    sentence under them."""
    return page.evaluate("""() => {
      const panel = document.querySelector('%s');
      if (!panel) return null;
      const first = [...panel.querySelectorAll('table')].find(
          t => [...t.querySelectorAll('th')].some(th => th.textContent.trim() === 'mAP'));
      if (!first) return null;
      const box = first.closest('[data-ea-md="summary"]');
      const tables = box ? [...box.querySelectorAll('table')] : [first];
      const out = {};
      for (const table of tables) {
        const head = [...table.querySelectorAll('th')].map(th => th.textContent.trim());
        const row = [...table.querySelectorAll('tbody tr:first-child td')].map(td => td.textContent.trim());
        head.forEach((h, i) => out[h] = row[i]);
      }
      const p = [...panel.querySelectorAll('p')].find(p => p.textContent.startsWith('At confidence'));
      out.sentence = p ? p.textContent : null;
      return out;
    }""" % PANEL_SEL)


def slider_value(page):
    """The panel's confidence slider value (the panel state's full-precision value)."""
    v = page.locator(PANEL_SEL + " .MuiSlider-root input[type=range]").first.get_attribute(
        "aria-valuenow")
    return None if v is None else float(v)


def grid_count(page):
    """``(n, "patches" | "samples" | ...)`` from the grid's count text, or None."""
    loc = page.locator(COUNT_SEL)
    if not loc.count():
        return None
    m = re.match(r"\s*([\d,]+)\s+(\w+)", loc.first.inner_text())
    return (int(m.group(1).replace(",", "")), m.group(2)) if m else None


def choose(page, label, option, sel=PANEL_SEL):
    """Picks ``option`` in the dropdown shown under ``label`` in the panel ``sel``."""
    field = page.locator(sel + " div").filter(
        has=page.get_by_text(label, exact=True)).filter(has=page.locator('[role="combobox"]')).last
    field.locator('[role="combobox"]').click()
    page.locator('[role="listbox"] [role="option"]').filter(
        has_text=re.compile("^%s$" % re.escape(option))).click()


def poll(check, timeout=15.0, interval=0.1, message="condition"):
    """Calls ``check()`` until it returns a truthy value; fails with its last detail.

    ``check`` returns ``(ok, detail)`` or a plain value."""
    deadline = time.time() + timeout
    detail = None
    while True:
        out = check()
        ok, detail = out if isinstance(out, tuple) else (out, out)
        if ok:
            return detail
        if time.time() > deadline:
            raise AssertionError("%s not reached in %.0f s; last: %r" % (message, timeout, detail))
        time.sleep(interval)


def screenshot(page, name):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / ("%s.png" % name)
    page.screenshot(path=str(path))
    return path


# -- the vector explorer's WebGL scatter --------------------------------------------------

VECTOR_SEL = '[data-cy="panel-content-vector_explorer"]'

# The panel's scatter: its plot with WebGL traces (drawn on a canvas, so read from plotly).
_FIND_SCATTER = """
(sel) => {
  const panel = document.querySelector(sel);
  if (!panel) return null;
  return [...panel.querySelectorAll('.js-plotly-plot')].find(
      g => g._fullData && g._fullData.some(t => t.type === 'scattergl')) || null;
}
"""


def scatter_traces(page, sel=VECTOR_SEL):
    """What the scatter draws, per trace: name, marker colour and number of points
    (``gd._fullData``, after plotly decoded the data), or None before it exists."""
    return page.evaluate("""(sel) => {
      const gd = (%s)(sel);
      return gd ? gd._fullData.map(t => ({name: t.name, color: t.marker ? t.marker.color : null,
                                          n: t._length, visible: t.visible})) : null;
    }""" % _FIND_SCATTER, sel)


def scatter_area(page, sel=VECTOR_SEL):
    """Page rectangle ``[left, top, width, height]`` of the scatter's plot area,
    scrolled into view."""
    return page.evaluate("""(sel) => {
      const gd = (%s)(sel);
      gd.scrollIntoView({block: 'center'});
      const r = gd.getBoundingClientRect(), s = gd._fullLayout._size;
      return [r.left + s.l, r.top + s.t, s.w, s.h];
    }""" % _FIND_SCATTER, sel)


def box_select(page, fx0, fy0, fx1, fy1, sel=VECTOR_SEL, area=None):
    """Drags a selection box between two points given as fractions of the plot area."""
    x, y, w, h = area or scatter_area(page, sel)
    page.mouse.move(x + fx0 * w, y + fy0 * h)
    page.mouse.down()
    page.mouse.move(x + fx1 * w, y + fy1 * h, steps=10)
    page.mouse.up()


def panel_heatmap(page, sel=VECTOR_SEL):
    """The first heatmap of panel ``sel``: ``{x, y, z}``, or None."""
    return page.evaluate("""(sel) => {
      const panel = document.querySelector(sel);
      const gd = panel && [...panel.querySelectorAll('.js-plotly-plot')].find(
          g => g.data && g.data.length && g.data[0].type === 'heatmap');
      return gd ? {x: gd.data[0].x, y: gd.data[0].y, z: gd.data[0].z} : null;
    }""", sel)


def click_heatmap_cell(page, col, row, sel=VECTOR_SEL):
    """Clicks cell (col, row) of the first heatmap of panel ``sel``."""
    x, y = page.evaluate("""([sel, i, j]) => {
      const panel = document.querySelector(sel);
      const gd = [...panel.querySelectorAll('.js-plotly-plot')].find(
          g => g.data && g.data.length && g.data[0].type === 'heatmap');
      gd.scrollIntoView({block: 'center'});
      const r = gd.getBoundingClientRect(), xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
      return [r.left + xa._offset + xa.l2p(i), r.top + ya._offset + ya.l2p(j)];
    }""", [sel, col, row])
    page.mouse.move(x, y)
    page.wait_for_timeout(150)  # plotly picks the hovered cell on mousemove
    page.mouse.click(x, y)


def scatter_point(page, trace, index, sel=VECTOR_SEL):
    """Page position of point ``index`` of scatter trace ``trace`` (plot scrolled into view)."""
    return page.evaluate("""([sel, t, i]) => {
      const gd = (%s)(sel);
      gd.scrollIntoView({block: 'center'});
      const r = gd.getBoundingClientRect(), xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
      const tr = gd._fullData[t];
      return [r.left + xa._offset + xa.d2p(tr.x[i]), r.top + ya._offset + ya.d2p(tr.y[i])];
    }""" % _FIND_SCATTER, [sel, trace, index])
