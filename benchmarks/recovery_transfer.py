"""SVH-Perm trained at one n and tested at another, against the same model trained at the test n.

Reads two `basis-compiler recover` output folders that test on the same n and the same data seed
(so the same test set): one trained at that n (e.g. `--paper`), one trained elsewhere
(`--train-n 50 --test-n 100`), and writes a table per (sampling, covariance, trial) of SOS-I,
SVH-Perm trained at the test n, SVH-Perm trained at the other n, and their difference
(transfer.md and transfer.csv in --out). A measurement, not a test.

    python benchmarks/recovery_transfer.py --here benchmarks/results/recovery_paper_perm \
        --elsewhere benchmarks/results/recovery_paper_perm_n50 --out benchmarks/results/recovery_paper_perm_n50
"""

from __future__ import annotations

import argparse
import csv
import io
import json
from pathlib import Path

from basis_compiler.files import write_text

SAMPLINGS = ("AR", "BG", "CBG", "BR")
"""Row order of the tables (the paper's)."""
GOAL = 0.03
"""The largest acceptable accuracy lost by testing at another n than the training one."""


def load(folder: Path) -> dict[tuple, dict]:
    records = [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines() if line.strip()]
    return {(r["sampling"], r["covariance"], r["method"], r["trial"]): r for r in records}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--here", type=Path, required=True, help="recover folder trained and tested at the test n")
    p.add_argument("--elsewhere", type=Path, required=True, help="recover folder trained at another n (--test-n)")
    p.add_argument("--out", type=Path, required=True, help="folder for transfer.md and transfer.csv")
    a = p.parse_args(argv)
    here, elsewhere = load(a.here), load(a.elsewhere)
    conf_here = next(iter(here.values()))["config"]
    conf_else = next(iter(elsewhere.values()))["config"]
    test_n, train_n = conf_else.get("test_n", conf_else["n"]), conf_else["n"]
    if conf_here["n"] != test_n or conf_here.get("test_n", test_n) != test_n:
        raise SystemExit(f"{a.here} is not trained and tested at n = {test_n} ({conf_here})")
    # the fingerprint names pair_sums only when it is not "sum" (recovery/config.py)
    sums_here, sums_else = (conf.get("pair_sums", "sum") for conf in (conf_here, conf_else))
    columns = ("sampling", "covariance", "trial", "sos1", f"svh_perm_trained_n{test_n}", f"svh_perm_trained_n{train_n}",
               "difference", "within_goal")
    rows = []
    for (s, c, m, t), r in elsewhere.items():
        if m != "svh_perm" or (s, c, m, t) not in here:
            continue
        sos = elsewhere.get((s, c, "sos1", t)) or here.get((s, c, "sos1", t))
        same, other = here[(s, c, m, t)]["test_accuracy"], r["test_accuracy"]
        rows.append((s, c, t, None if sos is None else sos["test_accuracy"], same, other, other - same,
                     abs(other - same) <= GOAL))
    order = {name: i for i, name in enumerate(SAMPLINGS)}
    rows.sort(key=lambda r: (order.get(r[0], len(order)), r[0], r[1], r[2]))
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([columns, *rows])
    a.out.mkdir(parents=True, exist_ok=True)
    write_text(a.out / "transfer.csv", buf.getvalue())  # atomic: no half-written table
    lines = [f"# SVH-Perm trained at n = {train_n}, tested at n = {test_n}", "",
             f"Test accuracy mean ⟨v0, v̂⟩² on the same n = {test_n} test set; goal: within {GOAL} of the model "
             f"trained at n = {test_n}. From `{a.here}` and `{a.elsewhere}`.", "",
             f"SVH-Perm's pairs i != j (--pair-sums): {sums_here} in the first, {sums_else} in the second"
             + ("." if sums_here == sums_else else ", so the two columns are different models."), "",
             f"| Sampling | Covariance | Trial | SOS-I | SVH-Perm trained at {test_n} | SVH-Perm trained at {train_n} "
             "| Difference |", "|---|---|---:|---:|---:|---:|---:|"]
    for s, c, t, sos, same, other, diff, _ in rows:
        sos_text = "–" if sos is None else f"{sos:.3f}"
        lines.append(f"| {s} | {c} | {t} | {sos_text} | {same:.3f} | {other:.3f} | {diff:+.3f} |")
    lines += ["", "Means over the trials:", "",
              f"| Sampling | Covariance | Trials | SVH-Perm trained at {test_n} | SVH-Perm trained at {train_n} "
              "| Difference | Trials within the goal |", "|---|---|---:|---:|---:|---:|---:|"]
    for (s, c) in dict.fromkeys((r[0], r[1]) for r in rows):
        mine = [r for r in rows if (r[0], r[1]) == (s, c)]
        same, other = (sum(r[k] for r in mine) / len(mine) for k in (4, 5))
        lines.append(f"| {s} | {c} | {len(mine)} | {same:.3f} | {other:.3f} | {other - same:+.3f} | "
                     f"{sum(r[7] for r in mine)} of {len(mine)} |")
    write_text(a.out / "transfer.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {a.out / 'transfer.md'} and {a.out / 'transfer.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
