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


def explore(draw, **controls) -> None:
    """``draw(**values) -> Figure``; each control is an ipywidgets widget whose ``value`` is the default.

    Returns None: ``ipywidgets.interact`` displays the controls and their output itself and returns
    the wrapped function, which JupyterLab would print under the widget as a stray
    ``<function ...<lambda>>`` if a cell ended with it.
    """
    defaults = {name: widget.value for name, widget in controls.items()}
    if headless():
        show(draw(**defaults))
        return None
    import ipywidgets

    ipywidgets.interact(lambda **values: show(draw(**values)), **controls)
    return None
