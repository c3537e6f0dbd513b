"""Layer 1, the method: Eqs. 1-10 (ri, losses), the attention and regression branches, the model,
the margin heads, the backbones and CR-FIQA's training head. Imports only rie.common.
"""
