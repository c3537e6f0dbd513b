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


def test_interactive_returns_a_widget(monkeypatch):
    monkeypatch.setenv("RIE_HEADLESS", "0")
    out = widgets.explore(lambda level: plt.figure(), level=ipywidgets.IntSlider(value=1, min=0, max=2))
    assert out is not None
    plt.close("all")
