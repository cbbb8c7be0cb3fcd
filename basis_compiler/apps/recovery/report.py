"""Tables and figure of a recovery grid: Markdown, CSV, LaTeX (the paper's layout) and a PNG.

Layout of the Markdown and LaTeX tables: one row per (sampling, covariance), one column per
method, each cell the test accuracy mean ⟨v0, v̂⟩² (mean ± sample std over trials when there
are several), the best of each row in bold (every method whose rounded value ties the best).
"""

from __future__ import annotations

import csv
import io
import statistics
from pathlib import Path
from typing import NamedTuple

from ...files import write_atomic, write_text
from .config import LEARNED_CHOICES, METHOD_LABELS, SAMPLING_LABELS, GridConfig

DIGITS = 3
"""Decimals shown in the Markdown and LaTeX tables."""

OUTPUT_NAMES = {
    "markdown": "recovery.md",
    "csv": "recovery.csv",
    "trials_csv": "recovery_trials.csv",
    "latex": "recovery.tex",
    "figure": "recovery.png",
}
"""File names inside the output folder."""

SUMMARY_COLUMNS = ("sampling", "covariance", "method", "trials", "train_accuracy", "test_accuracy",
                   "test_accuracy_std", "epochs", "seconds", "val_accuracy", "chosen_by_validation",
                   "n", "test_n", "n_train", "n_test")
"""Columns of recovery.csv (means over trials; std empty with one trial). chosen_by_validation
marks, per setting, the learned method (LEARNED_CHOICES) with the best mean validation accuracy;
n and test_n are the ambient dimensions of the training and test data, n_train and n_test the
numbers of samples."""

TRIAL_COLUMNS = ("sampling", "covariance", "method", "trial", "train_accuracy", "test_accuracy", "epochs", "seconds")
"""Columns of recovery_trials.csv (one row per finished task)."""


class Cell(NamedTuple):
    """Summary of one (sampling, covariance, method) over its finished trials."""

    sampling: str
    covariance: str
    method: str
    trials: int
    train_accuracy: float
    test_accuracy: float
    test_accuracy_std: float | None
    epochs: float
    seconds: float
    val_accuracy: float


def summarize(config: GridConfig, records: list[dict]) -> dict[tuple[str, str, str], Cell]:
    """Cells by (sampling, covariance, method) for every grid cell with at least one finished trial."""
    groups: dict[tuple[str, str, str], list[dict]] = {}
    for r in records:
        groups.setdefault((r["sampling"], r["covariance"], r["method"]), []).append(r)
    cells = {}
    for s in config.samplings:
        for c in config.covariances:
            for m in config.methods:
                rs = groups.get((s, c, m))
                if not rs:
                    continue
                test = [r["test_accuracy"] for r in rs]
                cells[(s, c, m)] = Cell(
                    s, c, m, len(rs),
                    statistics.fmean(r["train_accuracy"] for r in rs),
                    statistics.fmean(test),
                    statistics.stdev(test) if len(rs) > 1 else None,
                    statistics.fmean(r["epochs"] for r in rs),
                    statistics.fmean(r["seconds"] for r in rs),
                    statistics.fmean(r["val_accuracy"] for r in rs),
                )
    return cells


def validation_choice(config: GridConfig, cells) -> dict[tuple[str, str], str]:
    """Per setting, the learned method of LEARNED_CHOICES with the best mean validation accuracy
    over its trials: a choice that never looks at test data. Only for grids that run SVH-Perm with
    another of them (choice_shown): the paper's own grids keep the paper's columns."""
    learned = [m for m in config.methods if m in LEARNED_CHOICES]
    if not choice_shown(config):
        return {}
    out = {}
    for s in config.samplings:
        for c in config.covariances:
            done = [m for m in learned if (s, c, m) in cells]
            if len(done) == len(learned):
                out[(s, c)] = max(done, key=lambda m: cells[(s, c, m)].val_accuracy)
    return out


def choice_shown(config: GridConfig) -> bool:
    """Whether the tables get the "Chosen by validation" column: the grid runs SVH-Perm (beyond
    the paper) and at least one other learned method of LEARNED_CHOICES."""
    return "svh_perm" in config.methods and len([m for m in config.methods if m in LEARNED_CHOICES]) >= 2


def _best(config: GridConfig, cells, s: str, c: str) -> set[str]:
    shown = {m: round(cells[(s, c, m)].test_accuracy, DIGITS) for m in config.methods if (s, c, m) in cells}
    if not shown:
        return set()
    top = max(shown.values())
    return {m for m, v in shown.items() if v == top}


def _cell_text(cell: Cell | None, pm: str) -> str:
    if cell is None:
        return "–"
    text = f"{cell.test_accuracy:.{DIGITS}f}"
    if cell.test_accuracy_std is not None:
        text += f"{pm}{cell.test_accuracy_std:.{DIGITS}f}"
    return text


def markdown_table(config: GridConfig, records: list[dict]) -> str:
    """The main table: rows sampling x covariance, columns methods, test accuracy, best in bold."""
    cells = summarize(config, records)
    chosen = validation_choice(config, cells)
    shown = choice_shown(config)
    head = ["Sampling", "Covariance"] + [METHOD_LABELS[m] for m in config.methods]
    head += ["Chosen by validation"] if shown else []
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] * 2 + ["---:"] * (len(head) - 2)) + "|"]
    for s in config.samplings:
        for c in config.covariances:
            best = _best(config, cells, s, c)
            row = [SAMPLING_LABELS[s], c]
            for m in config.methods:
                text = _cell_text(cells.get((s, c, m)), " ± ")
                row.append(f"**{text}**" if m in best else text)
            if shown:
                m = chosen.get((s, c))
                row.append("–" if m is None else f"{_cell_text(cells[(s, c, m)], ' ± ')} ({METHOD_LABELS[m]})")
            lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def _caption(config: GridConfig) -> str:
    trials = "one trial" if config.trials == 1 else f"mean ± std over {config.trials} trials"
    br = ""
    if "BR" in config.samplings:
        br = " BR: Bernoulli–Rademacher with an independent sign per entry."
    if "BR_paper" in config.samplings:
        br += " BR (paper code): the released code's variant (one uniform draw for support and sign)."
    return f"Test accuracy mean ⟨v0, v̂⟩² ({trials}); best per row in bold. {config.describe()}.{br}"


def markdown_report(config: GridConfig, records: list[dict]) -> str:
    """recovery.md: caption, main table, then train/test accuracy, epochs and seconds per cell."""
    cells = summarize(config, records)
    out = io.StringIO()
    out.write("# Planted sparse vector recovery\n\n")
    out.write(_caption(config) + "\n\n")
    out.write(markdown_table(config, records))
    missing = len(config.tasks()) - len(records)
    if missing:
        out.write(f"\n{missing} of {len(config.tasks())} tasks are missing (–); rerun the same command to resume.\n")
    out.write("\n## Details (means over trials)\n\n")
    out.write("| Sampling | Covariance | Method | Trials | Train acc. | Test acc. | Epochs | Seconds |\n")
    out.write("|---|---|---|---:|---:|---:|---:|---:|\n")
    for cell in cells.values():
        out.write(
            f"| {SAMPLING_LABELS[cell.sampling]} | {cell.covariance} | {METHOD_LABELS[cell.method]} | {cell.trials} | "
            f"{cell.train_accuracy:.{DIGITS}f} | {_cell_text(cell, ' ± ')} | {cell.epochs:g} | {cell.seconds:.1f} |\n"
        )
    return out.getvalue()


def latex_table(config: GridConfig, records: list[dict]) -> str:
    """The paper's layout as a booktabs table (needs \\usepackage{booktabs})."""
    cells = summarize(config, records)
    esc = {"&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#"}

    def tex(text: str) -> str:
        return "".join(esc.get(ch, ch) for ch in text)

    caption = (
        tex(_caption(config))
        .replace("⟨v0, v̂⟩²", r"$\langle v_0, \hat v\rangle^2$")
        .replace("±", r"$\pm$")
        .replace("–", "--")
    )
    lines = [
        "% Generated by basis-compiler recover; needs \\usepackage{booktabs}.",
        "\\begin{table}[t]",
        "\\centering",
        f"\\caption{{{caption}}}",
        "\\label{tab:recovery}",
        f"\\begin{{tabular}}{{ll{'c' * len(config.methods)}}}",
        "\\toprule",
        " & ".join(["Sampling", "Covariance"] + [tex(METHOD_LABELS[m]) for m in config.methods]) + " \\\\",
    ]
    for s in config.samplings:
        lines.append("\\midrule")
        for k, c in enumerate(config.covariances):
            best = _best(config, cells, s, c)
            row = [tex(SAMPLING_LABELS[s]) if k == 0 else "", c.capitalize()]
            for m in config.methods:
                cell = cells.get((s, c, m))
                text = "--" if cell is None else _cell_text(cell, " $\\pm$ ")
                row.append(f"\\textbf{{{text}}}" if m in best else text)
            lines.append(" & ".join(row) + " \\\\")
    lines += ["\\bottomrule", "\\end{tabular}", "\\end{table}"]
    return "\n".join(lines) + "\n"


def _csv_text(columns, rows) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    return buf.getvalue()


def summary_csv(config: GridConfig, records: list[dict]) -> str:
    """recovery.csv: SUMMARY_COLUMNS, one row per grid cell with results."""
    rows = []
    cells = summarize(config, records)
    chosen = validation_choice(config, cells)
    test_n = config.n if config.test_n is None else config.test_n
    for cell in cells.values():
        std = "" if cell.test_accuracy_std is None else repr(cell.test_accuracy_std)
        pick = "" if (cell.sampling, cell.covariance) not in chosen or cell.method not in LEARNED_CHOICES \
            else str(chosen[(cell.sampling, cell.covariance)] == cell.method)
        rows.append([cell.sampling, cell.covariance, cell.method, cell.trials, repr(cell.train_accuracy),
                     repr(cell.test_accuracy), std, f"{cell.epochs:g}", f"{cell.seconds:.3f}",
                     repr(cell.val_accuracy), pick, config.n, test_n, config.n_train, config.n_test])
    return _csv_text(SUMMARY_COLUMNS, rows)


def trials_csv(records: list[dict]) -> str:
    """recovery_trials.csv: TRIAL_COLUMNS, one row per finished task."""
    rows = [[r["sampling"], r["covariance"], r["method"], r["trial"], repr(r["train_accuracy"]),
             repr(r["test_accuracy"]), r["epochs"], f"{r['seconds']:.3f}"] for r in records]
    return _csv_text(TRIAL_COLUMNS, rows)


def plot(config: GridConfig, records: list[dict], path: Path) -> None:
    """Grouped bars: test accuracy per setting (sampling/covariance) and method, std error bars."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    cells = summarize(config, records)
    settings = [(s, c) for s in config.samplings for c in config.covariances]
    k = len(config.methods)
    width = 0.8 / k
    fig, ax = plt.subplots(figsize=(max(6.0, 0.2 * len(settings) * (k + 1)), 4.0))
    for j, m in enumerate(config.methods):
        xs, ys, errs = [], [], []
        for i, (s, c) in enumerate(settings):
            cell = cells.get((s, c, m))
            if cell is None:
                continue
            xs.append(i - 0.4 + width * (j + 0.5))
            ys.append(cell.test_accuracy)
            errs.append(cell.test_accuracy_std or 0.0)
        ax.bar(xs, ys, width, yerr=errs if any(errs) else None, label=METHOD_LABELS[m], capsize=2)
    ax.set_xticks(range(len(settings)))
    ax.set_xticklabels([f"{SAMPLING_LABELS[s]}\n{c}" for s, c in settings], fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("test accuracy ⟨v0, v̂⟩²")
    n = config.n if config.test_n in (None, config.n) else f"{config.n} (train), {config.test_n} (test)"
    ax.set_title(f"Planted sparse vector recovery (n={n}, d={config.d}, ε={config.eps})", fontsize=10)
    ax.axhline(1 / config.d, color="grey", lw=0.8, ls=":", label="chance 1/d")  # a random unit vector of the subspace
    ax.legend(fontsize=8, ncol=k + 1, loc="upper center", bbox_to_anchor=(0.5, -0.18), frameon=False)
    fig.tight_layout()
    try:
        write_atomic(path, lambda fh: fig.savefig(fh, dpi=120, format="png"), parents=True)
    finally:
        plt.close(fig)


def write_reports(config: GridConfig, records: list[dict], out: Path) -> dict[str, Path]:
    """Write every output (atomically, recreating a vanished folder) into out; returns paths by kind."""
    paths = {kind: Path(out) / name for kind, name in OUTPUT_NAMES.items()}
    texts = {
        "markdown": markdown_report(config, records),
        "csv": summary_csv(config, records),
        "trials_csv": trials_csv(records),
        "latex": latex_table(config, records),
    }
    for kind, text in texts.items():
        write_text(paths[kind], text, parents=True)
    plot(config, records, paths["figure"])
    return paths
