"""The views a panel's clicks showed, to tell them from views of the user's.

After a click in the evaluation explorer the App shows the run's objects
(patches, or samples with only those labels): Re-evaluate then redoes the run
on its own images rather than evaluating that view.
"""

import json
from collections import OrderedDict

_clicked = OrderedDict()  # panel id -> the stages of the last view a click there showed
PANELS = 8


def remember(panel_id, view):
    """Notes ``view`` as the one a click in panel ``panel_id`` showed."""
    _clicked[panel_id] = _stages_key(view._serialize())
    _clicked.move_to_end(panel_id)
    while len(_clicked) > PANELS:
        _clicked.popitem(last=False)


def shows_a_click(ctx):
    """True when the App shows a generated view (patches) or the view a click in
    this panel showed: objects of a run, not a set of images of the user's."""
    if ctx.view._is_generated:
        return True
    return _clicked.get(ctx.panel.id) == _stages_key(ctx.request_params.get("view"))


def _stages_key(stages):
    """A view's stages as text, their ids aside (the App may give them new ones)."""
    return json.dumps([{k: v for k, v in s.items() if k != "_uuid"} if isinstance(s, dict) else s
                       for s in stages or ()], sort_keys=True, default=str)
