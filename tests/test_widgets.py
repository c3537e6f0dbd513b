import ipywidgets
import matplotlib.pyplot as plt

from rie.plots import widgets


def test_headless_draws_once_with_defaults(monkeypatch):
    monkeypatch.setenv("RIE_HEADLESS", "1")
    seen = []

    def draw(level, show_fit):
        seen.append((level, show_fit))
        return plt.figure()

    widgets.explore(draw, level=ipywidgets.IntSlider(value=3, min=0, max=5), show_fit=ipywidgets.Checkbox(value=True))
    assert seen == [(3, True)]
    assert plt.get_fignums() == []  # the figure was closed after display


def test_interactive_displays_the_widget_and_returns_none(monkeypatch):
    # A cell ending with explore(...) must leave no stray "<function ...<lambda>>" under the widget:
    # ipywidgets.interact displays the controls itself, so explore returns nothing.
    monkeypatch.setenv("RIE_HEADLESS", "0")
    shown = []
    monkeypatch.setattr(ipywidgets.widgets.interaction, "display", lambda *objs, **kw: shown.extend(objs))
    out = widgets.explore(lambda level: plt.figure(), level=ipywidgets.IntSlider(value=1, min=0, max=2))
    assert out is None
    assert any(isinstance(w, ipywidgets.interactive) for w in shown), "the controls were not displayed"
    plt.close("all")
