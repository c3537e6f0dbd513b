"""Layer 4, training: the trainer and the recipes. Imports common, method, data and evaluation.
"""
