"""The map's sequential colours (confidence, numeric fields) stay visible on both of
the App's themes: each has a WCAG contrast ratio of at least 2 against the light
(white) and the dark (#1a1a1a) background, and they go from dark to light."""

import numpy as np

from tests.test_map_region import plugin_module

BACKGROUNDS = {"light": "#ffffff", "dark": "#1a1a1a"}


def luminance(hex_colour):
    """WCAG relative luminance of ``#rrggbb``."""
    c = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    c = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in c]
    return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]


def contrast(a, b):
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def test_sequential_colours_show_on_both_themes():
    md = plugin_module("panels.map_data")
    arrays = {"xy": [[0, 0]] * 5, "score": np.array([0.1, 0.3, 0.6, 0.9, 0.8])}
    confidence = [c for name, c, _ in md.groups(arrays, [], "confidence", []) if name[0] in "<0>"]
    for colours in (md.VIRIDIS, confidence):
        lum = [luminance(c) for c in colours]
        assert lum == sorted(lum), colours
        for theme, bg in BACKGROUNDS.items():
            worst = min(colours, key=lambda c: contrast(c, bg))
            assert contrast(worst, bg) >= 2, (theme, worst, contrast(worst, bg))
    assert contrast("#440154", BACKGROUNDS["dark"]) < 2  # the old darkest end did vanish
