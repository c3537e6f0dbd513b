"""Layer 4, presentation: figures used by several notebooks, and the widgets.
A figure used by one notebook lives in that notebook's experiment module (rie.experiments).
Imports common, method, data and evaluation (never training or experiments).
"""
