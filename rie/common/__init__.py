"""Layer 0: input checks and small utilities every layer may use.
"""
