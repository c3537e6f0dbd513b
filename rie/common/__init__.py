"""Layer 0: input checks, small utilities and the constants (profiles, sizes, weights, labels) every layer may use.
"""
