"""EMLP tasks: each target agrees with an independent recomputation (loops over samples in
numpy; the particle amplitude from its expansion in Minkowski products), each data map is
invariant/equivariant under random elements of every group component in float64, and a tiny
end-to-end run writes its reports with an exactly invariant EquivariantNet."""

import math

import numpy as np
import pytest
import torch

from basis_compiler import Signature
from basis_compiler.apps.emlp_tasks import data
from basis_compiler.apps.emlp_tasks.runner import preset, run
from basis_compiler.apps.emlp_tasks.training import build
from basis_compiler.testing import random_group_element

pytestmark = pytest.mark.time_limit(120)


def _draw(name, n=16, seed=0):
    return data.TASKS[name].draw(n, torch.Generator().manual_seed(seed))


def test_o5_synthetic_matches_a_loop():
    inputs, y = _draw("o5_synthetic")
    for a, b, want in zip(inputs["x1"].numpy(), inputs["x2"].numpy(), y.numpy()):
        ra, rb = math.sqrt(sum(t * t for t in a)), math.sqrt(sum(t * t for t in b))
        assert want == pytest.approx(math.sin(ra) - rb ** 3 / 2 + sum(s * t for s, t in zip(a, b)) / (ra * rb), rel=1e-12)


def test_inertia_matches_a_loop_and_is_symmetric_positive():
    inputs, y = _draw("inertia")
    m, x = inputs["m"].numpy(), inputs["x"].numpy()
    assert m.shape == (16, 5) and (m > 0).all() and x.shape == (16, 5, 3)
    for s in range(16):
        want = np.zeros((3, 3))
        for i in range(5):
            for a in range(3):
                for b in range(3):
                    want[a, b] += m[s, i] * ((a == b) * x[s, i] @ x[s, i] - x[s, i, a] * x[s, i, b])
        np.testing.assert_allclose(y[s].numpy(), want, rtol=1e-12, atol=1e-12)
    assert (np.linalg.eigvalsh(y.numpy()) > 0).all()   # an inertia tensor is positive definite


def test_particle_interaction_matches_its_expansion():
    """4 Σ (L_e)_{μν}(L_μ)_{μν} = 4[(p1·p2)(p3·p4) - b (p1·p3) - a (p2·p4) + 4ab] with a = p1·p3 - p1·p1,
    b = p2·p4 - p2·p2 (η³ = η, Σ η∘η = 4), computed with its own metric."""
    inputs, y = _draw("particle_interaction")
    eta = np.diag([1.0, -1.0, -1.0, -1.0])
    for s in range(16):
        p1, p2, p3, p4 = (inputs[f"p{i}"][s].numpy() for i in range(1, 5))
        dot = lambda u, v: float(u @ eta @ v)  # noqa: E731
        a, b = dot(p1, p3) - dot(p1, p1), dot(p2, p4) - dot(p2, p2)
        want = 4 * (dot(p1, p2) * dot(p3, p4) - b * dot(p1, p3) - a * dot(p2, p4) + 4 * a * b)
        assert float(y[s]) == pytest.approx(want, rel=1e-10, abs=1e-14)


@pytest.mark.parametrize("name", list(data.TASKS))
def test_targets_transform_under_every_group_component(name, rng):
    task = data.TASKS[name]
    group = Signature.parse(task.signature).group
    inputs, y = _draw(name, n=8)
    for component in range(len(group.component_representatives())):
        g = torch.tensor(random_group_element(group, rng, component))
        moved = {k: (v if v.dim() == 2 and k == "m" else v @ g.T) for k, v in inputs.items()}
        draw_target = {"o5_synthetic": data.o5_target, "inertia": data.inertia_target,
                       "particle_interaction": data.particle_target}[name]
        got = draw_target(**moved)
        want = g @ y @ g.T if y.dim() == 3 else y
        assert torch.allclose(got, want, rtol=1e-9, atol=1e-9 * float(y.abs().max()))
        assert not torch.allclose(moved[next(k for k in inputs if k != "m")], inputs[next(k for k in inputs if k != "m")])


def test_tiny_end_to_end_run(tmp_path, rng):
    config = preset("tiny")
    records = run(config, tmp_path, workers=1)
    assert len(records) == 3 * 3 and all(math.isfinite(r["test_mse"]) for r in records)
    assert {p.name for p in tmp_path.iterdir()} >= {"results.jsonl", "emlp_tasks.md", "emlp_tasks.csv", "emlp_tasks.png"}
    md = (tmp_path / "emlp_tasks.md").read_text()
    assert "torch" in md and "git commit" in md and "Goal" in md and "chosen by validation: " in md
    assert run(config, tmp_path, workers=1) == records   # resumed, nothing rerun
    assert "no task run by this invocation" in (tmp_path / "emlp_tasks.md").read_text()  # not "0 s"
    # the trained-for-a-moment equivariant model of the inertia task is equivariant under O(3)
    task = data.TASKS["inertia"]
    inputs, y = _draw("inertia", n=32)
    net = build("equivariant", task, inputs, y)
    g = torch.tensor(random_group_element(Signature.parse(task.signature).group, rng, 1))
    with torch.no_grad():
        assert torch.allclose(net(m=inputs["m"], x=inputs["x"] @ g.T), g @ net(**inputs) @ g.T, rtol=1e-9, atol=1e-9)


def test_weight_decay_is_chosen_on_validation():
    """One run per λ of the grid, the lowest validation MSE is reported (never test data)."""
    from basis_compiler.apps.emlp_tasks.training import train_task
    from basis_compiler.errors import BasisCompilerError
    g = torch.Generator().manual_seed(0)
    split = {s: data.inertia(n, g) for s, n in (("train", 12), ("val", 12), ("test", 12))}
    task = data.task("inertia")
    runs = {w: train_task("mlp", task, split, 12, 1, 2, seed=1, weight_decays=(w,)) for w in (0.0, 0.1)}
    both = train_task("mlp", task, split, 12, 1, 2, seed=1, weight_decays=(0.0, 0.1))
    chosen = min(runs, key=lambda w: runs[w]["val_mse"])
    assert both["weight_decay"] == chosen and both["val_mse"] == runs[chosen]["val_mse"]
    assert both["test_mse"] == runs[chosen]["test_mse"]
    assert runs[0.0]["val_mse"] != runs[0.1]["val_mse"]          # the penalty changes training
    with pytest.raises(BasisCompilerError, match="weight_decays"):
        train_task("mlp", task, split, 12, 1, 2, seed=1, weight_decays=())


def test_the_equivariant_model_is_chosen_on_validation_never_test():
    """Per (task, size, trial) the "chosen" record is the candidate with the lower validation MSE,
    even when the other one has the lower test MSE."""
    from basis_compiler.apps.emlp_tasks.runner import summarize, with_choice
    base = {"task": "inertia", "size": 30, "trial": 0, "parameters": 1, "seconds": 1.0, "test_relative_mse": 1.0}
    records = [{**base, "model": "equivariant", "val_mse": 2.0, "test_mse": 1.0},
               {**base, "model": "polynomial", "val_mse": 1.0, "test_mse": 5.0},
               {**base, "model": "mlp", "val_mse": 9.0, "test_mse": 9.0},
               {**base, "trial": 1, "model": "equivariant", "val_mse": 1.0, "test_mse": 3.0},
               {**base, "trial": 1, "model": "mlp", "val_mse": 9.0, "test_mse": 9.0}]
    chosen = [r for r in with_choice(records) if r["model"] == "chosen"]
    assert [(r["trial"], r["chose"], r["test_mse"]) for r in chosen] == [(0, "polynomial", 5.0)]  # trial 1 lacks one
    assert summarize(records)[("inertia", 30, "chosen")]["test"][0] == 5.0


def test_sparse_polynomial_recovers_the_polynomial_tasks_from_30_samples():
    """Inertia (degree 3) and the Lorentz matrix element (degree 4) are polynomials of their
    signatures: from 30 samples the fit is exact to rounding; the O(5) target is not one."""
    from basis_compiler.apps.emlp_tasks.training import train_task
    for name, exact in (("inertia", True), ("particle_interaction", True), ("o5_synthetic", False)):
        g = torch.Generator().manual_seed(7)
        split = {s: data.TASKS[name].draw(n, g) for s, n in (("train", 30), ("val", 200), ("test", 200))}
        r = train_task("polynomial", data.task(name), split, 30, 1, 1, seed=0)
        assert (r["test_relative_mse"] < 1e-20) == exact, (name, r["test_relative_mse"])
