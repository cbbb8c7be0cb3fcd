"""Three regression tasks of the EMLP paper (Finzi, Welling, Wilson, ICML 2021), re-created from
their published definitions (docs/emlp_tasks.md): O5Synthetic (an O(5) invariant of two vectors),
Inertia (the O(3) inertia tensor of 5 point masses) and ParticleInteraction (a Lorentz-invariant
scattering matrix element of four 4-momenta). data.py draws the data; training.py trains
EquivariantNet and a plain MLP with the same optimizer; runner.py runs the grid (resumable
results.jsonl) and writes the tables and plot. Run it with benchmarks/emlp_tasks.py.
"""
