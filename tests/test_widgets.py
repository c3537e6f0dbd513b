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


def test_an_empty_highlight_is_said():
    # Notebook 02's sensor slider: a choice without any image must say so, not draw a silently empty highlight.
    import numpy as np

    from rie.experiments.ui_cluster_discovery import ui_distance_histogram

    d = np.linspace(0.2, 1.2, 50)
    empty = ui_distance_histogram(d, highlight=np.zeros(50, dtype=bool), highlight_label="12 px sensors (n=0)")
    full = ui_distance_histogram(d, highlight=d > 1.0, highlight_label="some")
    assert any("no image here" in t.get_text() for t in empty.axes[0].texts)
    assert not full.axes[0].texts
    plt.close("all")
