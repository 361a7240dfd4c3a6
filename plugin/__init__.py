"""The Error Atlas engine: pure numpy / pycocotools, no FiftyOne or App code.

Arrays in, metrics out, so every piece is testable in milliseconds.
"""
