"""The generated PolynomialLayer against e3nn's FullyConnectedTensorProduct, side by side, at the
same function space.

Signature O(3): v:1, X:2s -> 2s at exact degree 2, C input and output channels, batch 1024,
float32, CPU, one torch thread. The generated side is compile_module(..., "polynomial",
channels=C) at each multidegree of total degree 2 ((2, 0) and (0, 2); (1, 1) is empty for a 2s
output), outputs summed: it spans the degree-2 polynomials of the family signature
O(3): v[C]:1, X[C]:2s -> 2s, one parameter per kept term. e3nn sees the same inputs in its own
format: v as C x 1o, X as C x (0e + 2e) (its symmetric-matrix change of basis, applied once
outside the timing), output C x (0e + 2e); it computes tp(x, x), all products across channels
of degree exactly 2.

Reported per C: parameter counts; the dimension of the spanned function space (numerically:
rank of the Jacobian of the outputs with respect to the parameters on random inputs, with one
output channel, times C: output channels have independent weights in both layers); the exact
dimension of the family signature's degree-2 polynomials (enumerate_basis, times C); forward
and forward+backward medians over interleaved rounds and their ratios; the
generated forward's share per aten op (torch.profiler). Measurements only, never a test.

    .venv/bin/pip install -e '.[bench]'    # e3nn, not a package dependency
    PYTHONPATH=. .venv/bin/python benchmarks/e3nn_ratio.py [--rounds 15] [--channels 4 16 32]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from basis_compiler import enumerate_basis  # noqa: E402
from basis_compiler.codegen.store import compile_module  # noqa: E402

SIGNATURE = "O(3): v:1, X:2s -> 2s"
DEGREE = 2
MULTIDEGREES = ((2, 0), (1, 1), (0, 2))
"""Exact total degree 2 (what tp(x, x) computes): one generated layer per multidegree, summed."""
BATCH = 1024
RANK_CHANNELS = (4, 16)
"""Channel counts at which the Jacobian rank is computed (at 32 it needs a 20k x 7k matrix)."""


class Generated(torch.nn.Module):
    """The generated layers of every multidegree of total degree 2 (those with terms), summed."""

    def __init__(self, C: int, out_channels: int):
        super().__init__()
        classes = [compile_module(SIGNATURE, md, "polynomial", channels=C) for md in MULTIDEGREES]
        self.parts = torch.nn.ModuleList(cls(out_channels=out_channels) for cls in classes if cls.n_coeffs)

    def forward(self, v, X):
        out = self.parts[0](v=v, X=X)
        for part in self.parts[1:]:
            out = out + part(v=v, X=X)
        return out


def e3nn_layer(C: int):
    from e3nn import o3

    irreps = o3.Irreps(f"{C}x1o+{C}x0e+{C}x2e")
    tp = o3.FullyConnectedTensorProduct(irreps, irreps, o3.Irreps(f"{C}x0e+{C}x2e"))
    basis = o3.ReducedTensorProducts("ij=ji", i="1o")  # 3x3 symmetric -> 0e + 2e
    return tp, basis.change_of_basis


def inputs(C: int, batch: int, seed: int, change):
    g = torch.Generator().manual_seed(seed)
    v = torch.randn(batch, C, 3, generator=g)
    X = torch.randn(batch, C, 3, 3, generator=g)
    X = X + X.transpose(-1, -2)
    parts = torch.einsum("kij,bcij->bck", change.to(X.dtype), X)  # (batch, C, 1 + 5)
    x = torch.cat([v.reshape(batch, -1), parts[..., 0], parts[..., 1:].reshape(batch, -1)], dim=-1)
    return v, X, x


def rank_of(fn, params: list[torch.Tensor]) -> int:
    """Rank of d(all outputs)/d(params) (float64): the dimension of the spanned function space."""
    flat = torch.cat([p.detach().reshape(-1) for p in params])
    shapes = [p.shape for p in params]

    def f(theta):
        chunks, k = [], 0
        for s in shapes:
            n = int(torch.tensor(s).prod()) if len(s) else 1
            chunks.append(theta[k:k + n].reshape(s))
            k += n
        return fn(chunks).reshape(-1)

    J = torch.func.jacfwd(f)(flat)
    return int(torch.linalg.matrix_rank(J).item())


def ranks(C: int) -> dict:
    """Function-space dimension of each layer with one output channel (times C reported)."""
    from e3nn import o3

    torch.set_default_dtype(torch.float64)
    try:
        n = max(64, 16 * C * C // 9 + 16)  # enough samples: outputs exceed the parameter count
        gen = Generated(C, 1).double()
        irreps = o3.Irreps(f"{C}x1o+{C}x0e+{C}x2e")
        tp = o3.FullyConnectedTensorProduct(irreps, irreps, o3.Irreps("1x0e+1x2e")).double()
        _, change = e3nn_layer(1)
        v, X, x = inputs(C, n, 7, change)
        v, X, x = v.double(), X.double(), x.double()
        names = [name for name, _ in gen.named_parameters()]
        r_gen = rank_of(lambda p: torch.func.functional_call(gen, dict(zip(names, p)), (v, X)),
                        list(gen.parameters()))
        r_e3nn = rank_of(lambda p: torch.func.functional_call(tp, {"weight": p[0]}, (x, x)), [tp.weight])
    finally:
        torch.set_default_dtype(torch.float32)
    return {"gen": r_gen * C, "e3nn": r_e3nn * C}


def exact_dimension(C: int, exact_degree: bool) -> int:
    """out_channels x dim of the degree-2 (exact, or <= 2) polynomials of the family signature."""
    family = f"O(3): v[{C}]:1, X[{C}]:2s -> 2s"
    if exact_degree:
        return C * sum(len(enumerate_basis(family, md)) for md in ((2, 0), (1, 1), (0, 2)))
    return C * len(enumerate_basis(family, DEGREE))


def timed(fn, backward: bool, params) -> float:
    for p in params:
        p.grad = None
    start = time.perf_counter()
    y = fn()
    if backward:
        y.sum().backward()
    return time.perf_counter() - start


def measure(C: int, rounds: int, seed: int) -> dict:
    torch.manual_seed(seed)
    gen = Generated(C, C)
    tp, change = e3nn_layer(C)
    v, X, x = inputs(C, BATCH, seed, change)
    candidates = {"gen": (lambda: gen(v, X), list(gen.parameters())),
                  "e3nn": (lambda: tp(x, x), list(tp.parameters()))}
    times = {(name, mode): [] for name in candidates for mode in ("fwd", "fwd+bwd")}
    rng = random.Random(seed)
    for name, (fn, params) in candidates.items():  # warm-up
        for _ in range(3):
            timed(fn, True, params)
    for _ in range(rounds):
        order = [(name, mode) for name in candidates for mode in ("fwd", "fwd+bwd")]
        rng.shuffle(order)
        for name, mode in order:
            fn, params = candidates[name]
            timed(fn, mode == "fwd+bwd", params)  # one untimed call
            times[(name, mode)].append(min(timed(fn, mode == "fwd+bwd", params) for _ in range(3)))
    out = {"C": C, "params": {name: sum(p.numel() for p in ps) for name, (_, ps) in candidates.items()}}
    for mode in ("fwd", "fwd+bwd"):
        g = [t * 1e3 for t in times[("gen", mode)]]
        e = [t * 1e3 for t in times[("e3nn", mode)]]
        out[mode] = {"gen_ms": statistics.median(g), "e3nn_ms": statistics.median(e),
                     "e3nn_over_gen": statistics.median([b / a for a, b in zip(g, e)])}
    return out


def op_profile(C: int, seed: int, reps: int = 10) -> list[dict]:
    """Where the generated forward spends its time: torch.profiler's self CPU time per aten op
    and operand shapes over `reps` forwards (ms per forward, share of the profiled total). The
    generated steps are torch.matmul since generator version 6, so einsum alone no longer says
    where the time goes."""
    from torch.profiler import profile

    torch.manual_seed(seed)
    gen = Generated(C, C)
    _, change = e3nn_layer(C)
    v, X, _ = inputs(C, BATCH, seed, change)
    with torch.no_grad():
        gen(v, X)
        with profile(record_shapes=True) as prof:
            for _ in range(reps):
                gen(v, X)
    rows = [e for e in prof.key_averages(group_by_input_shape=True) if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in rows)
    rows.sort(key=lambda e: -e.self_cpu_time_total)
    return [{"op": f"{e.key} " + " ".join("x".join(map(str, sh)) for sh in e.input_shapes if sh),
             "ms": e.self_cpu_time_total / 1e3 / reps, "share": e.self_cpu_time_total / total} for e in rows[:4]]


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv=None) -> None:
    import e3nn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--channels", type=int, nargs="+", default=[4, 16, 32])
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "e3nn_ratio")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    rows = []
    for C in args.channels:
        row = measure(C, args.rounds, args.seed)
        row["rank"] = ranks(C) if C in RANK_CHANNELS else None
        row["family_dimension_exact_degree_2"] = exact_dimension(C, True)
        row["family_dimension_degree_le_2"] = exact_dimension(C, False)
        row["profile_gen_forward"] = op_profile(C, args.seed)
        rows.append(row)
        print(json.dumps(row), flush=True)
    record = {"settings": {"signature": SIGNATURE, "degree": DEGREE, "batch": BATCH, "dtype": "float32",
                           "threads": 1, "rounds": args.rounds, "seed": args.seed, "device": "cpu",
                           "timing": "median over interleaved rounds of the best of 3 calls after 1 untimed call"},
              "torch": torch.__version__, "e3nn": e3nn.__version__, "python": platform.python_version(),
              "machine": platform.machine(), "git_commit": git_commit(), "results": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    lines = [f"e3nn_ratio (commit {record['git_commit']}, torch {record['torch']}, e3nn {record['e3nn']}, "
             f"batch {BATCH}, float32, 1 thread, {args.rounds} rounds)", "",
             "| C | params gen | params e3nn | dim gen | dim e3nn | dim family (deg 2 / <= 2) "
             "| fwd gen ms | fwd e3nn ms | e3nn/gen | f+b gen ms | f+b e3nn ms | e3nn/gen |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        rk = r["rank"] or {"gen": "-", "e3nn": "-"}
        lines.append(f"| {r['C']} | {r['params']['gen']} | {r['params']['e3nn']} | {rk['gen']} | {rk['e3nn']} | "
                     f"{r['family_dimension_exact_degree_2']} / {r['family_dimension_degree_le_2']} | "
                     f"{r['fwd']['gen_ms']:.2f} | {r['fwd']['e3nn_ms']:.2f} | {r['fwd']['e3nn_over_gen']:.2f} | "
                     f"{r['fwd+bwd']['gen_ms']:.2f} | {r['fwd+bwd']['e3nn_ms']:.2f} | "
                     f"{r['fwd+bwd']['e3nn_over_gen']:.2f} |")
    lines += ["", "Generated forward, largest ops (aten op, operand shapes: ms per forward, share of the forward):"]
    for r in rows:
        lines.append(f"- C = {r['C']}: " + "; ".join(f"`{p['op']}` {p['ms']:.2f} ms ({100 * p['share']:.0f}%)"
                                               for p in r["profile_gen_forward"]))
    args.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
