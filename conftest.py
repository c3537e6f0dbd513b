"""pytest set-up shared by tests/ and the nbval run over notebooks/.

Kernels started by nbval inherit this environment: the
notebooks' interactive cells draw their static figure (see ``rie.plots.widgets``).
"""

import os

os.environ["RIE_HEADLESS"] = "1"
os.environ.setdefault("TQDM_DISABLE", "1")

# Notebooks under tests/fixtures/ are inputs of tests (a widget broken on purpose), not reports for nbval.
collect_ignore_glob = ["tests/fixtures/*.ipynb"]
