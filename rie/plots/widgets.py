"""Interactive cells that stay correct headless.

In JupyterLab, ``explore`` shows ipywidgets controls that redraw a figure. Under
papermill or nbval (``RIE_HEADLESS=1``, set by ``make report`` and the tests), it
draws the figure once with the default values, so the report holds a real figure.
"""

from __future__ import annotations

import os

from .figures import show


def headless() -> bool:
    return os.environ.get("RIE_HEADLESS", "") == "1"


def explore(draw, **controls):
    """``draw(**values) -> Figure``; each control is an ipywidgets widget whose ``value`` is the default."""
    defaults = {name: widget.value for name, widget in controls.items()}
    if headless():
        show(draw(**defaults))
        return None
    import ipywidgets

    return ipywidgets.interact(lambda **values: show(draw(**values)), **controls)
