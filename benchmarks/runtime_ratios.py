"""Runtime ratios of generated covariant layers against hand-written and naive alternatives.

Issue 4, performance part. All candidates of a case run side by side in one process: every
round visits them in a fresh (seeded) random order, each candidate's time per round is the
mean of a few back-to-back calls after one untimed call, and the reported figures are medians
over rounds (ratios: the median of the per-round ratios, so that slow drifts of a shared,
noisy machine cancel). This is a measurement, never a timed test.

Cases (float32, CPU):

* svh  -- O(5): a[100]:1 -> 2s, degree 2, batch 100: the SVH layer of the paper.
* sym3 -- O(8): a[50]:1 -> 3s, degree 3, batch 4 (the materializing baseline holds
  45 MB per sample per intermediate, so the batch is small on purpose).

Candidates:

* gen        compile_module(signature, degree, "covariant")()(coeffs, a=S)
* a_naive    the paper's approach: materialize every basis tensor per sample, then sum them
             with the coefficients
* b_einsum   one torch.einsum over the whole contraction on the symmetric coefficient tensor,
             with torch.backends.opt_einsum.enabled = False (restored afterwards)
* c_hand     hand-written bmm: S^T (Q S) + q0 I (svh); reshaped bmm chain (sym3)
* b_einsum_unlucky (svh only, supplementary) the same einsum with the operands in the order
             S, S, Q: torch then contracts left to right and forms an outer product first

Goals (issue 4): gen >= 20x faster than a_naive, and gen within 1.5x of c_hand (svh).

    python benchmarks/runtime_ratios.py [--threads 1] [--rounds 25] [--out benchmarks/results/runtime_ratios.json]
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import math
import os
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

import opt_einsum  # noqa: E402

from basis_compiler.codegen.store import compile_module, plan_module  # noqa: E402
from basis_compiler.codegen.kinds import compile_kind  # noqa: E402
from basis_compiler.codegen.planning import PLAN_BATCH  # noqa: E402

GOAL_VS_NAIVE = 20.0
GOAL_VS_HAND = 1.5
TARGET_BLOCK_S = 0.02   # fast candidates: time back-to-back calls until a block lasts about this long
MAX_INNER = 50
FRESH_CALL_BELOW_S = 0.05  # candidates faster than this get one untimed call before each timed block


def _commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


class _NoOptEinsum:
    """torch.backends.opt_einsum.enabled = False inside the block, restored after."""

    def __enter__(self):
        self.prev = torch.backends.opt_einsum.enabled
        torch.backends.opt_einsum.enabled = False

    def __exit__(self, *exc):
        torch.backends.opt_einsum.enabled = self.prev


# --------------------------------------------------------------------------- svh: 2s output



def svh_case(batch: int):
    n, d = 100, 5
    sig = f"O({d}): a[{n}]:1 -> 2s"
    t0 = time.perf_counter()
    layer = compile_module(sig, 2, "covariant")()
    compile_s = time.perf_counter() - t0
    m = n * (n + 1) // 2
    assert layer.n_coeffs == 1 + m
    iu = torch.triu_indices(n, n)  # lexicographic i <= j: the generated layout after the delta slot
    I, J = iu[0], iu[1]
    eye = torch.eye(d)

    def gen(c, S):
        return layer(c, a=S)

    def naive(c, S):
        A, B = S[:, I], S[:, J]                                            # (batch, m, d)
        basis = (A[..., :, None] * B[..., None, :] + B[..., :, None] * A[..., None, :]) / 2
        basis = torch.cat([eye.expand(S.shape[0], 1, d, d), basis], 1)    # (batch, 1 + m, d, d)
        return (c[:, :, None, None] * basis).sum(1)

    def build_q(c):
        U = c.new_zeros(c.shape[0], n, n)
        U[:, I, J] = c[:, 1:]
        return (U + U.mT) / 2                                              # off-diagonal c_ij / 2

    def delta(c):
        return c[:, :1, None] * eye

    def einsum_plain(c, S):
        Q = build_q(c)
        with _NoOptEinsum():
            out = torch.einsum("bij,bia,bjc->bac", Q, S, S)
        return out + delta(c)

    def einsum_unlucky(c, S):
        Q = build_q(c)
        with _NoOptEinsum():
            out = torch.einsum("bia,bjc,bij->bac", S, S, Q)
        return out + delta(c)

    def hand(c, S):
        Q = build_q(c)
        return S.mT @ (Q @ S) + delta(c)

    candidates = {"gen": gen, "a_naive": naive, "b_einsum": einsum_plain, "c_hand": hand,
                  "b_einsum_unlucky": einsum_unlucky}
    g = torch.Generator().manual_seed(0)
    inputs = (torch.randn(batch, 1 + m, generator=g), torch.randn(batch, n, d, generator=g))
    grad_out = torch.randn(batch, d, d, generator=g)
    per_sample_naive = 6 * m * d * d + 2 * d * d
    hand_flops = {
        "formula": "per sample, M = n(n+1)/2 basis matrices: build each (a_i a_j^T + a_j a_i^T)/2 = 2 outer "
                   "products + add + halve = 4 d^2; weighted sum = multiply + add = 2 d^2 per matrix "
                   "(identity included): 6 M d^2 + 2 d^2",
        "per_sample": per_sample_naive,
        "at_batch": per_sample_naive * batch,
        "materialized_floats_per_sample": (1 + m) * d * d,
        "materialized_bytes_at_batch": (1 + m) * d * d * 4 * batch,
    }
    settings = {"signature": sig, "degree": 2, "n": n, "d": d, "batch": batch, "n_coeffs": layer.n_coeffs,
                "compile_module_s": compile_s}
    return sig, 2, settings, candidates, inputs, grad_out, hand_flops


# --------------------------------------------------------------------------- sym3: 3s output

_PERMS3 = list(itertools.permutations(range(3)))


def _sym3(T):
    k = T.dim()
    return sum(T.permute(*range(k - 3), *[k - 3 + p for p in perm]) for perm in _PERMS3) / 6


def sym3_case(batch: int):
    n, d = 50, 8
    sig = f"O({d}): a[{n}]:1 -> 3s"
    t0 = time.perf_counter()
    layer = compile_module(sig, 3, "covariant")()
    compile_s = time.perf_counter() - t0
    m3 = n * (n + 1) * (n + 2) // 6
    assert layer.n_coeffs == n + m3, layer.n_coeffs
    # generated layout: term 0 = a_i (x) delta symmetrized over i (n coefficients), term 1 = a_i a_j a_k
    # symmetrized, i <= j <= k lexicographic (combinations_with_replacement order)
    trip = torch.tensor(list(itertools.combinations_with_replacement(range(n), 3))).T
    I, J, K = trip
    orbit = torch.tensor([len(set(itertools.permutations(t))) for t in trip.T.tolist()], dtype=torch.float32)
    eye = torch.eye(d)

    def gen(c, S):
        return layer(c, a=S)

    def vector_term(c, S):
        v = (c[:, None, :n] @ S).squeeze(1)                                # sum_i q_i a_i, (batch, d)
        t = v[:, :, None, None] * eye                                     # v_x delta_yz
        return (t + t.permute(0, 2, 1, 3) + t.permute(0, 2, 3, 1)) / 3      # symmetrized over 3 slots

    def naive(c, S):
        A, B, C = S[:, I], S[:, J], S[:, K]                                 # (batch, m3, d)
        T = _sym3(A[..., :, None, None] * B[..., None, :, None] * C[..., None, None, :])
        V = _sym3(S[..., :, None, None] * eye)                              # a_i (x) delta, symmetrized
        basis = torch.cat([V, T], 1)                                        # (batch, n + m3, d, d, d)
        return (c[:, :, None, None, None] * basis).sum(1)

    def build_q(c):
        Q = c.new_zeros(c.shape[0], n, n, n)
        val = c[:, n:] / orbit                                              # spread c over its orbit
        for p in _PERMS3:
            Q[:, trip[p[0]], trip[p[1]], trip[p[2]]] = val
        return Q

    def einsum_plain(c, S):
        Q = build_q(c)
        with _NoOptEinsum():
            out = torch.einsum("bijk,bia,bjc,bke->bace", Q, S, S, S)
        return out + vector_term(c, S)

    def hand(c, S):
        b = c.shape[0]
        Q = build_q(c)
        X = Q.reshape(b, n * n, n) @ S                                      # (b, i j, e)
        X = X.reshape(b, n, n, d).transpose(2, 3).reshape(b, n * d, n) @ S  # (b, i e, c)
        out = S.mT @ X.reshape(b, n, d * d)                                 # (b, a, e c): symmetric in a, c, e
        return out.reshape(b, d, d, d) + vector_term(c, S)

    candidates = {"gen": gen, "a_naive": naive, "b_einsum": einsum_plain, "c_hand": hand}
    g = torch.Generator().manual_seed(0)
    inputs = (torch.randn(batch, n + m3, generator=g), torch.randn(batch, n, d, generator=g))
    grad_out = torch.randn(batch, d, d, d, generator=g)
    d3 = d ** 3
    per_sample_naive = m3 * (d * d + d3 + 6 * d3 + 2 * d3) + n * (d3 + 6 * d3 + 2 * d3)
    hand_flops = {
        "formula": "per sample, M3 = n(n+1)(n+2)/6 triples: a_i a_j a_k = d^2 + d^3, symmetrize (6 permuted "
                   "copies summed, divided) = 6 d^3, weighted sum = 2 d^3; n vector terms a_i (x) delta: "
                   "d^3 + 6 d^3 + 2 d^3: M3 (9 d^3 + d^2) + 9 n d^3",
        "per_sample": per_sample_naive,
        "at_batch": per_sample_naive * batch,
        "materialized_floats_per_sample": (n + m3) * d3,
        "materialized_bytes_at_batch": (n + m3) * d3 * 4 * batch,
    }
    settings = {"signature": sig, "degree": 3, "n": n, "d": d, "batch": batch, "n_coeffs": layer.n_coeffs,
                "compile_module_s": compile_s}
    return sig, 3, settings, candidates, inputs, grad_out, hand_flops


# --------------------------------------------------------------------------- measurement


def plan_flops(sig: str, degree: int, batch: int) -> dict:
    """Sum of TermPlan.flops / naive_flops (opt_einsum counts at PLAN_BATCH), per sample and at batch."""
    plans = plan_module(compile_kind(sig, degree, "covariant"))
    opt = sum(p.flops for p in plans)
    naive = sum(p.naive_flops for p in plans)
    return {
        "plan_batch": PLAN_BATCH,
        "plan_flops_at_plan_batch": opt,
        "naive_einsum_flops_at_plan_batch": naive,
        "plan_flops_per_sample": opt / PLAN_BATCH,
        "naive_einsum_flops_per_sample": naive / PLAN_BATCH,
        "plan_flops_at_batch": opt / PLAN_BATCH * batch,
        "naive_einsum_flops_at_batch": naive / PLAN_BATCH * batch,
        "naive_over_plan": naive / opt,
        "per_term": [{"operands": [op.letters for op in p.operands], "output": p.output, "path": p.path,
                      "flops": p.flops, "naive_flops": p.naive_flops, "symmetrize": p.symmetrize}
                     for p in plans],
        "note": "opt_einsum counts (a multiply-add is 2); the coefficient gather, free delta pairs and "
                "output symmetrization are elementwise work outside these counts",
    }


def make_calls(candidates: dict, inputs, grad_out) -> dict:
    c, S = inputs
    cg, Sg = c.clone().requires_grad_(True), S.clone().requires_grad_(True)
    calls = {}
    for name, f in candidates.items():
        calls[("fwd", name)] = (lambda f=f: f(c, S))
        calls[("fwdbwd", name)] = (lambda f=f: torch.autograd.grad(f(cg, Sg), (cg, Sg), grad_out))
    return calls


def check_agreement(candidates: dict, inputs, grad_out) -> dict:
    """Max relative difference of each candidate's output and gradients from the generated layer's."""
    c, S = inputs
    res = {}
    ref = None
    for name, f in candidates.items():
        cg, Sg = c.clone().requires_grad_(True), S.clone().requires_grad_(True)
        out = f(cg, Sg)
        gc_, gs = torch.autograd.grad(out, (cg, Sg), grad_out)
        vals = (out.detach(), gc_, gs)
        if ref is None:
            ref = vals
        res[name] = max(float((v - r).abs().max() / r.abs().max()) for v, r in zip(vals, ref))
    return res


def measure(calls: dict, rounds: int, rng: random.Random, warmup: int, slow_rounds: int) -> dict:
    """Interleaved timing: per round, every call in a shuffled order; seconds per call per round."""
    inner = {}
    for key, fn in calls.items():
        spent = 0.0
        for k in range(warmup):
            if k >= 2 and spent > 2.0:
                break  # slow baselines: two warm-up calls are enough
            t = time.perf_counter()
            fn()
            dt = time.perf_counter() - t
            spent += dt
        inner[key] = max(1, min(MAX_INNER, math.ceil(TARGET_BLOCK_S / max(dt, 1e-6))))
    samples = {key: [] for key in calls}
    keys = list(calls)
    for r in range(rounds):
        rng.shuffle(keys)
        gc.collect()
        for key in keys:
            fn, k = calls[key], inner[key]
            slow = k == 1 and samples[key] and min(samples[key]) > FRESH_CALL_BELOW_S
            if slow and r >= slow_rounds:
                continue  # very slow baselines: fewer rounds (their noise is far below the ratios)
            if not slow:
                fn()
            t = time.perf_counter()
            for _ in range(k):
                fn()
            samples[key].append((time.perf_counter() - t) / k)
    return {"inner": inner, "samples": samples}


def summarize(names: list[str], meas: dict) -> tuple[dict, dict]:
    timings, ratios = {}, {}
    for mode in ("fwd", "fwdbwd"):
        timings[mode] = {}
        for name in names:
            s = meas["samples"][(mode, name)]
            q = statistics.quantiles(s, n=4) if len(s) >= 2 else [s[0]] * 3
            timings[mode][name] = {"median_ms": 1e3 * statistics.median(s), "p25_ms": 1e3 * q[0],
                                   "p75_ms": 1e3 * q[2], "rounds": len(s),
                                   "calls_per_round": meas["inner"][(mode, name)]}
        gen = meas["samples"][(mode, "gen")]
        ratios[mode] = {}
        for name in names:
            if name == "gen":
                continue
            other = meas["samples"][(mode, name)]
            paired = [o / g for o, g in zip(other, gen)]  # rounds where both ran (gen runs every round)
            ratios[mode][name] = {
                "other_over_gen": statistics.median(paired),
                "ratio_of_medians": statistics.median(other) / statistics.median(gen),
                "paired_min": min(paired), "paired_max": max(paired),
            }
    return timings, ratios


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--slow-rounds", type=int, default=7, help="rounds for candidates slower than 50 ms")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--svh-batch", type=int, default=100)
    parser.add_argument("--sym3-batch", type=int, default=4)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "runtime_ratios.json")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rng = random.Random(0)
    start = time.perf_counter()
    env = {"torch": torch.__version__, "opt_einsum": opt_einsum.__version__, "python": platform.python_version(),
           "platform": platform.platform(), "processor": platform.processor(), "cpu_count": os.cpu_count(),
           "torch_threads": torch.get_num_threads(), "commit": _commit(), "dtype": "float32", "device": "cpu"}
    settings = {k: v for k, v in vars(args).items() if k != "out"}
    settings.update({"target_block_s": TARGET_BLOCK_S, "max_inner": MAX_INNER, "seed": 0,
                     "goal_vs_naive": GOAL_VS_NAIVE, "goal_vs_hand": GOAL_VS_HAND})
    print(f"torch {env['torch']}, opt_einsum {env['opt_einsum']}, python {env['python']}, "
          f"threads {env['torch_threads']} of {env['cpu_count']} CPUs, commit {env['commit']}")
    print("settings:", json.dumps(settings))
    result = {"settings": settings, "env": env, "cases": {}}
    for case_name, builder, batch in (("svh", svh_case, args.svh_batch), ("sym3", sym3_case, args.sym3_batch)):
        sig, degree, case_settings, candidates, inputs, grad_out, hand = builder(batch)
        print(f"\n== {case_name}: {sig}, degree {degree}, batch {batch}, float32 "
              f"(compile_module {case_settings['compile_module_s']:.2f} s)")
        agree = check_agreement(candidates, inputs, grad_out)
        print("max relative difference from gen (output, grads):",
              ", ".join(f"{k} {v:.1e}" for k, v in agree.items() if k != "gen"))
        flops = plan_flops(sig, degree, batch)
        flops["materializing_a_by_hand"] = hand
        flops["materializing_over_plan"] = hand["per_sample"] / flops["plan_flops_per_sample"]
        print(f"FLOPs per sample: chosen plan {flops['plan_flops_per_sample']:,.0f}, naive single einsum "
              f"{flops['naive_einsum_flops_per_sample']:,.0f} ({flops['naive_over_plan']:.1f}x), "
              f"materializing (a) by hand {hand['per_sample']:,.0f} ({flops['materializing_over_plan']:.1f}x); "
              f"(a) materializes {hand['materialized_bytes_at_batch'] / 2**20:.0f} MiB per call")
        meas = measure(make_calls(candidates, inputs, grad_out), args.rounds, rng, args.warmup, args.slow_rounds)
        timings, ratios = summarize(list(candidates), meas)
        goals = {}
        for mode in ("fwd", "fwdbwd"):
            print(f"  {mode:7s} " + "  ".join(f"{k} {v['median_ms']:.2f} ms" for k, v in timings[mode].items()))
            print(f"  {'':7s} ratios other/gen: " + "  ".join(
                f"{k} {v['other_over_gen']:.2f}x [{v['paired_min']:.2f}, {v['paired_max']:.2f}]"
                for k, v in ratios[mode].items()))
            goals[mode] = {
                "gen_vs_naive_ge_20x": ratios[mode]["a_naive"]["other_over_gen"] >= GOAL_VS_NAIVE,
                "gen_within_1.5x_of_hand": 1 / ratios[mode]["c_hand"]["other_over_gen"] <= GOAL_VS_HAND,
                "gen_over_hand": 1 / ratios[mode]["c_hand"]["other_over_gen"],
            }
            print(f"  {'':7s} goals: >= {GOAL_VS_NAIVE:.0f}x vs a_naive: {goals[mode]['gen_vs_naive_ge_20x']}; "
                  f"gen/c_hand = {goals[mode]['gen_over_hand']:.2f} (<= {GOAL_VS_HAND}): "
                  f"{goals[mode]['gen_within_1.5x_of_hand']}")
        result["cases"][case_name] = {"settings": case_settings, "agreement_max_rel_diff": agree, "flops": flops,
                                      "timings": timings, "ratios": ratios, "goals": goals}
    result["total_s"] = time.perf_counter() - start
    print(f"\ntotal {result['total_s']:.1f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
