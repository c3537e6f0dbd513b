"""Layer 1, the method: Eqs. 1-10 (ri, losses), the attention and regression branches, the model,
the margin heads, the backbones, CR-FIQA's training head, AdaFace's ported IR network and the
loaders of published checkpoints (``checkpoints``). Imports only rie.common.
"""
