"""Tables and figure of a signatures run: Markdown, CSV, LaTeX and a PNG, plus the goal check.

Cells are (group, training size, method); each shows the relative error per level as mean ± std
over the finished trials (std only with two or more), on the test set as drawn and in random
frames. The Markdown report also says, per group and size, whether EquivariantNet is below the
coarse path's error at every level and at least 10x below the plain MLP in random frames.
"""

from __future__ import annotations

import csv
import io
import statistics
from pathlib import Path
from typing import NamedTuple

from ...files import write_atomic, write_text
from .config import METHOD_LABELS, Config

OUTPUT_NAMES = {"markdown": "signatures.md", "csv": "signatures.csv", "trials_csv": "signatures_trials.csv",
                "latex": "signatures.tex", "figure": "signatures.png"}

GOAL_FACTOR = 10.0
"""EquivariantNet should be this many times below the plain MLP in random frames."""


class Cell(NamedTuple):
    trials: int
    test: list[tuple[float, float | None]]     # per level (mean, std)
    frames: list[tuple[float, float | None]]
    parameters: int
    seconds: float


def _stats(values: list[float]) -> tuple[float, float | None]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def summarize(config: Config, records: list[dict]) -> dict[tuple[str, int, str], Cell]:
    groups: dict[tuple[str, int, str], list[dict]] = {}
    for r in records:
        groups.setdefault((r["group"], r["size"], r["method"]), []).append(r)
    cells = {}
    for key, rs in groups.items():
        levels = range(len(rs[0]["test_error"]))
        cells[key] = Cell(len(rs), [_stats([r["test_error"][k] for r in rs]) for k in levels],
                          [_stats([r["frame_error"][k] for r in rs]) for k in levels],
                          rs[0]["parameters"], statistics.fmean(r["seconds"] for r in rs))
    return cells


def _fmt(stat: tuple[float, float | None], pm: str = " ± ") -> str:
    mean, std = stat
    return f"{mean:.2e}" + ("" if std is None else f"{pm}{std:.1e}")


def _rows(config: Config, cells):
    for group in config.groups:
        for size in config.sizes:
            for method in config.methods:
                if (group, size, method) in cells:
                    yield group, size, method, cells[(group, size, method)]


def goal_lines(config: Config, cells) -> list[str]:
    """One line per (group, size) that has the three methods: is the goal met, level by level."""
    lines = []
    for group in config.groups:
        for size in config.sizes:
            c = {m: cells.get((group, size, m)) for m in ("coarse", "mlp", "equivariant")}
            if any(v is None for v in c.values()):
                continue
            eq, coarse, mlp = c["equivariant"], c["coarse"], c["mlp"]
            below = [eq.test[k][0] < coarse.test[k][0] for k in range(config.depth)]
            ratio = [mlp.frames[k][0] / max(eq.frames[k][0], 1e-300) for k in range(config.depth)]
            missed = [str(k + 1) for k, ok in enumerate(below) if not ok]
            lines.append(
                f"- {group}, n={size}: below the coarse path at "
                + ("every level" if not missed else f"levels {', '.join(str(k + 1) for k, ok in enumerate(below) if ok) or 'none'}"
                   f" (not at level {', '.join(missed)})")
                + "; MLP / EquivariantNet in random frames: " + ", ".join(f"{r:.0f}x" for r in ratio)
                + (" (goal 10x met)" if all(r >= GOAL_FACTOR for r in ratio) else " (goal 10x missed)"))
    return lines


def _environment(runs: list[dict]) -> str:
    if not runs:
        return ""
    last = runs[-1]
    total = sum(float(r.get("seconds", 0)) for r in runs)
    return (f"Wall time {total:.0f} s over {len(runs)} invocation(s); torch {last.get('torch')}, git commit "
            f"{last.get('git')}, {last.get('threads_per_task')} torch thread per task. Command: "
            f"`{last.get('command') or 'python API'}`.")


def markdown_report(config: Config, records: list[dict], runs: list[dict] = ()) -> str:
    cells = summarize(config, records)
    levels = range(1, config.depth + 1)
    out = io.StringIO()
    out.write("# Path signatures from coarse observations\n\n")
    out.write(f"Relative error ||pred − S|| / ||S|| per level (mean ± std over trials) on the test set as drawn and "
              f"in random frames (g·x against g·S, one g per curve: rotations and reflections, and boosts for "
              f"O(1,3)). {config.describe()}. EquivariantNet = coarse signature + one EquivariantNet per level on "
              f"the coarse increments (generators of degree ≤ k, Gram-matrix invariants).\n\n")
    env = _environment(list(runs))
    if env:
        out.write(env + "\n\n")
    head = (["Group", "n train", "Method"] + [f"L{k} test" for k in levels] + [f"L{k} frames" for k in levels]
            + ["Parameters", "Seconds"])
    out.write("| " + " | ".join(head) + " |\n|" + "|".join(["---"] * 3 + ["---:"] * (len(head) - 3)) + "|\n")
    for group, size, method, cell in _rows(config, cells):
        row = [group, str(size), METHOD_LABELS[method]] + [_fmt(s) for s in cell.test] + [_fmt(s) for s in cell.frames]
        out.write("| " + " | ".join(row + [f"{cell.parameters:,}", f"{cell.seconds:.1f}"]) + " |\n")
    missing = len(config.tasks()) - len(records)
    if missing:
        out.write(f"\n{missing} of {len(config.tasks())} tasks are missing; rerun the same command to resume.\n")
    goals = goal_lines(config, cells)
    if goals:
        out.write("\n## Goal: EquivariantNet below the coarse path at every level, ≥10x below the MLP in random "
                  "frames\n\n" + "\n".join(goals) + "\n")
    return out.getvalue()


def _csv(columns, rows) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buf.getvalue()


def summary_csv(config: Config, records: list[dict]) -> str:
    rows = []
    for group, size, method, cell in _rows(config, summarize(config, records)):
        for k, (t, f) in enumerate(zip(cell.test, cell.frames), start=1):
            rows.append([group, size, method, cell.trials, k, repr(t[0]), "" if t[1] is None else repr(t[1]),
                         repr(f[0]), "" if f[1] is None else repr(f[1]), cell.parameters, f"{cell.seconds:.3f}"])
    return _csv(("group", "size", "method", "trials", "level", "test_error", "test_error_std", "frame_error",
                 "frame_error_std", "parameters", "seconds"), rows)


def trials_csv(records: list[dict]) -> str:
    rows = [[r["group"], r["size"], r["method"], r["trial"], k, repr(t), repr(f), r["epochs"], r["best_epoch"],
             r["parameters"], f"{r['seconds']:.3f}"]
            for r in records for k, (t, f) in enumerate(zip(r["test_error"], r["frame_error"]), start=1)]
    return _csv(("group", "size", "method", "trial", "level", "test_error", "frame_error", "epochs", "best_epoch",
                 "parameters", "seconds"), rows)


def latex_table(config: Config, records: list[dict]) -> str:
    cells = summarize(config, records)
    levels = range(1, config.depth + 1)
    cols = "lrl" + "c" * (2 * config.depth) + "rr"
    lines = ["% Generated by basis-compiler signatures; needs \\usepackage{booktabs}.", "\\begin{table}[t]",
             "\\centering",
             "\\caption{Relative error of the predicted signature per level (mean $\\pm$ std over trials), test set "
             "as drawn and in random frames.}", "\\label{tab:signatures}", f"\\begin{{tabular}}{{{cols}}}", "\\toprule",
             " & ".join(["Group", "$n$", "Method"] + [f"$S^{{({k})}}$" for k in levels]
                        + [f"$S^{{({k})}}$ frames" for k in levels] + ["Params", "s"]) + " \\\\", "\\midrule"]
    for group, size, method, cell in _rows(config, cells):
        row = [group, str(size), METHOD_LABELS[method]] + [_fmt(s, " $\\pm$ ") for s in cell.test + cell.frames]
        lines.append(" & ".join(row + [f"{cell.parameters:,}".replace(",", "{,}"), f"{cell.seconds:.0f}"]) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
    return "\n".join(lines) + "\n"


def plot(config: Config, records: list[dict], path: Path) -> None:
    """Error per level (log scale) for each group: drawn frame (left) and random frames (right)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    cells = summarize(config, records)
    fig, axes = plt.subplots(len(config.groups), 2, figsize=(9, 3.2 * len(config.groups)), squeeze=False)
    levels = list(range(1, config.depth + 1))
    styles = {"coarse": ("k", "s"), "mlp": ("tab:red", "o"), "equivariant": ("tab:blue", "^")}
    for row, group in enumerate(config.groups):
        for col, (field, title) in enumerate((("test", "as drawn"), ("frames", "random frames"))):
            ax = axes[row][col]
            for method in config.methods:
                for j, size in enumerate(config.sizes):
                    cell = cells.get((group, size, method))
                    if cell is None or (method == "coarse" and j):
                        continue  # the coarse path does not depend on the training size
                    stats = getattr(cell, field)
                    last = method == "coarse" or j == len(config.sizes) - 1  # solid: the largest size
                    color, marker = styles[method]
                    label = METHOD_LABELS[method] + ("" if method == "coarse" else f" n={size}")
                    ax.errorbar(levels, [max(m, 1e-12) for m, _ in stats], yerr=[s or 0.0 for _, s in stats],
                                color=color, marker=marker, ls="-" if last else "--", alpha=1.0 if last else 0.6, label=label, capsize=2)
            ax.set_yscale("log")
            ax.set_xticks(levels)
            ax.set_xlabel("signature level")
            ax.set_ylabel("relative error")
            ax.set_title(f"{group}, {title}", fontsize=10)
            ax.grid(True, which="major", alpha=0.3)
    handles, labels = axes[0][1].get_legend_handles_labels()
    if handles:
        axes[0][1].legend(handles, labels, fontsize=7, loc="best")
    fig.tight_layout()
    try:
        write_atomic(path, lambda fh: fig.savefig(fh, dpi=110, format="png"), parents=True)
    finally:
        plt.close(fig)


def write_reports(config: Config, records: list[dict], out: Path, runs: list[dict] = ()) -> dict[str, Path]:
    paths = {kind: Path(out) / name for kind, name in OUTPUT_NAMES.items()}
    texts = {"markdown": markdown_report(config, records, runs), "csv": summary_csv(config, records),
             "trials_csv": trials_csv(records), "latex": latex_table(config, records)}
    for kind, text in texts.items():
        write_text(paths[kind], text, parents=True)
    plot(config, records, paths["figure"])
    return paths
