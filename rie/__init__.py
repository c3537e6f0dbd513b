"""rie: Recognizability Embedding Enhancement (Chai et al., CVPR 2023).

Import the submodules you need (``rie.method.ri``, ``rie.method.losses``, ``rie.method.heads``, ...);
importing ``rie`` itself does nothing else.
"""

__version__ = "0.1.0"
