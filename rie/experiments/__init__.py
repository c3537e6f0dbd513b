"""Layer 5, experiments: one module per notebook, named after it (training_and_ablation is
notebook 04's). Imports every layer below it; nothing imports it but the notebooks and the command line.
"""
