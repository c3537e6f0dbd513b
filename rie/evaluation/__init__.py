"""Layer 3, evaluation: inference, metrics, protocols, quality scores, scoring a folder of faces (``scoring``), statistics and the verdict rule.
Imports the layers below it (common, method, data).
"""
