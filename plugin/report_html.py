"""One self-contained HTML document: sections of text, tables, plots and thumbnails.

Pure string building (no FiftyOne, no network): plotly.js is embedded once
(its source is passed in), every figure is a ``<div>`` drawn by a small script
from its JSON, images are ``data:`` URLs. The markdown the panels write (bold,
code, pipe tables, paragraphs, headings) is converted by :func:`markdown`,
a deliberately small subset converter (no dependency to install).
"""

import html
import json
import re

CSS = """
body { font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
       color: #222; margin: 0 auto; max-width: 1100px; padding: 24px; line-height: 1.45; }
h1 { font-size: 1.7rem; margin: 0 0 4px; } h2 { font-size: 1.3rem; margin: 28px 0 8px;
     border-bottom: 1px solid #ddd; padding-bottom: 4px; } h3 { font-size: 1.05rem; }
.meta { color: #666; font-size: 0.9rem; }
table { border-collapse: collapse; margin: 8px 0; font-size: 0.88rem; }
th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.figure { width: 100%; min-height: 120px; page-break-inside: avoid; }
.thumbs { display: flex; flex-wrap: wrap; gap: 10px; }
.thumb { width: 140px; font-size: 0.75rem; color: #444; page-break-inside: avoid; }
.thumb img { width: 128px; height: 128px; object-fit: contain; background: #eee;
             display: block; border: 1px solid #ccc; }
.bad { color: #c62828; font-weight: 600; } .good { color: #2e7d32; }
section { page-break-inside: auto; }
code { background: #f4f4f4; padding: 0 3px; }
@media print { body { max-width: none; padding: 0 8mm; } h2 { page-break-after: avoid; } }
"""

DRAW = """
(function () {
  var figures = document.querySelectorAll('script[type="application/json"][data-figure]');
  for (var i = 0; i < figures.length; i++) {
    var spec = JSON.parse(figures[i].textContent);
    var div = document.getElementById(figures[i].getAttribute('data-figure'));
    Plotly.newPlot(div, spec.data, spec.layout, {displayModeBar: false, responsive: true,
                                                 staticPlot: false});
  }
  document.body.setAttribute('data-figures-drawn', String(figures.length));
})();
"""


class Document:
    """An HTML report built section by section; :meth:`html` writes it out."""

    def __init__(self, title, subtitle=""):
        self.title, self.subtitle = title, subtitle
        self.sections = []  # (id, title, [html blocks])
        self.data = {}  # machine-readable numbers, embedded as JSON
        self._figures = 0

    def section(self, sid, title):
        """Starts a section; returns its list of blocks (append HTML strings)."""
        blocks = []
        self.sections.append((sid, title, blocks))
        return blocks

    def figure(self, traces, layout, height=None):
        """A plotly figure as HTML (a div and its JSON), drawn when the page loads."""
        self._figures += 1
        fid = "fig%d" % self._figures
        layout = _light(dict(layout or {}))
        if height:
            layout["height"] = height
        spec = json.dumps({"data": traces, "layout": layout}, default=_json_default)
        return ('<div class="figure" id="%s" style="height:%dpx"></div>'
                '<script type="application/json" data-figure="%s">%s</script>' % (
                    fid, int(layout.get("height") or 320), fid, _script_safe(spec)))

    def html(self, plotly_js):
        """The whole document; ``plotly_js``: plotly.js's source, embedded once
        as is (as plotly's own ``to_html`` does: it holds no ``</script``)."""
        if "</script" in plotly_js.lower():
            raise ValueError("plotly.js source holds '</script': it cannot be embedded")
        toc = "".join('<li><a href="#%s">%s</a></li>' % (sid, html.escape(t))
                      for sid, t, _ in self.sections)
        body = "".join('<section id="%s"><h2>%s</h2>%s</section>' % (
            sid, html.escape(t), "".join(blocks)) for sid, t, blocks in self.sections)
        return ("<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                "<title>%s</title><style>%s</style><script>%s</script></head><body>"
                "<h1>%s</h1><div class=\"meta\">%s</div><nav><ul>%s</ul></nav>%s"
                "<script type=\"application/json\" id=\"report-data\">%s</script>"
                "<script>%s</script></body></html>") % (
            html.escape(self.title), CSS, plotly_js, html.escape(self.title),
            html.escape(self.subtitle), toc, body,
            _script_safe(json.dumps(self.data, default=_json_default)), DRAW)


def table(columns, rows, numeric=()):
    """An HTML table: ``columns`` ``[(key, label)]``, ``rows`` dicts; numbers in
    ``numeric`` columns right-aligned, floats with 3 decimals."""
    head = "".join("<th>%s</th>" % html.escape(label) for _, label in columns)
    body = []
    for row in rows:
        cells = []
        for key, _ in columns:
            cls = ' class="num"' if key in numeric else ""
            cells.append("<td%s>%s</td>" % (cls, inline(cell(row.get(key)))))
        body.append("<tr>%s</tr>" % "".join(cells))
    return "<table><thead><tr>%s</tr></thead><tbody>%s</tbody></table>" % (head, "".join(body))


def cell(v):
    if v is None:
        return "–"
    if isinstance(v, float):
        return "%.3f" % v
    return str(v)


def thumbnails(items):
    """A row of thumbnails: ``items`` ``(data URL or None, caption)``."""
    out = []
    for url, caption in items:
        img = '<img src="%s" alt="">' % html.escape(url, quote=True) if url else \
            '<img alt="image not readable">'
        out.append('<div class="thumb">%s<div>%s</div></div>' % (img, inline(caption)))
    return '<div class="thumbs">%s</div>' % "".join(out)


def paragraph(text):
    return "<p>%s</p>" % inline(text)


def markdown(text):
    """The panels' markdown subset as HTML: ``#`` headings, pipe tables,
    paragraphs (blank-line separated), lists (``- ``), ``**bold**``, ``*em*``
    and ```code```."""
    out, para, lines = [], [], (text or "").split("\n")
    i = 0

    def flush():
        if para:
            out.append("<p>%s</p>" % inline(" ".join(para)))
            para.clear()

    while i < len(lines):
        line = lines[i].rstrip()
        if not line.strip():
            flush()
        elif line.lstrip().startswith("|") and i + 1 < len(lines) and \
                re.match(r"^\s*\|[\s:|-]+\|\s*$", lines[i + 1]):
            flush()
            header = _cells(line)
            i += 2
            rows = []
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                rows.append(_cells(lines[i]))
                i += 1
            out.append("<table><thead><tr>%s</tr></thead><tbody>%s</tbody></table>" % (
                "".join("<th>%s</th>" % inline(c) for c in header),
                "".join("<tr>%s</tr>" % "".join("<td>%s</td>" % inline(c) for c in r)
                        for r in rows)))
            continue
        elif re.match(r"^#{1,6} ", line):
            flush()
            level = min(6, max(3, len(line) - len(line.lstrip("#"))))
            out.append("<h%d>%s</h%d>" % (level, inline(line.lstrip("#").strip()), level))
        elif re.match(r"^\s*[-*] ", line):
            flush()
            items = []
            while i < len(lines) and re.match(r"^\s*[-*] ", lines[i]):
                items.append("<li>%s</li>" % inline(re.sub(r"^\s*[-*] ", "", lines[i])))
                i += 1
            out.append("<ul>%s</ul>" % "".join(items))
            continue
        else:
            para.append(line.strip())
        i += 1
    flush()
    return "".join(out)


def inline(text):
    """Escapes ``text`` and renders ``**bold**``, ``*em*`` and ```code```."""
    s = html.escape(str(text), quote=False)
    s = re.sub(r"`([^`]+)`", r"<code>\1</code>", s)
    s = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", s)
    return re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<em>\1</em>", s)


def _cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _light(layout):
    """The panels' layouts are made for the App's dark theme: on paper, dark
    text on white, and titles as objects."""
    layout.pop("datarevision", None)
    layout.pop("uirevision", None)
    layout.update(paper_bgcolor="#ffffff", plot_bgcolor="#ffffff",
                  font={"color": "#222", "size": 12})
    shapes = []
    for shape in layout.get("shapes") or ():
        line = dict(shape.get("line") or {})
        if str(line.get("color", "")).lower() in ("#ffffff", "#fff", "white"):
            line["color"] = "#222222"  # the current threshold, white on the dark theme
        shapes.append(dict(shape, line=line))
    if shapes:
        layout["shapes"] = shapes
    return layout


def _script_safe(text):
    """Text safe inside ``<script>``: no ``</script>`` or ``<!--`` can close it."""
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def _json_default(obj):
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError("not JSON serializable: %r" % type(obj))
