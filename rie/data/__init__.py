"""Layer 2, data: the synthetic face world (the synth sub-package) and the real-dataset loaders (datasets).
Imports rie.common and rie.method only.
"""
