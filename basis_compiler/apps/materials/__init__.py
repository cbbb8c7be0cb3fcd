"""Learning hyperelastic constitutive laws (the paper's second application): S(C) from data.

The data come from two compressible hyperelastic laws (laws.py, formulas there and in
docs/materials.md); the models (models.py) are eigenvalue MLPs, DeepSets on eigenvalues, plain
MLPs on Voigt components with and without rotation augmentation, and EquivariantNet on
"O(3): C:2s -> 2s"; runner.py trains them over training sizes and trials (resumable
results.jsonl) and report.py writes the Markdown/CSV/LaTeX tables and the error-vs-size plot.
"""
