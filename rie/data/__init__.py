"""Layer 2, data: the synthetic face world (synth, render) and the real-dataset loaders (datasets).
Imports rie.common and rie.method only.
"""
