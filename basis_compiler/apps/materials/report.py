"""Tables (Markdown, CSV, LaTeX) and the error-vs-training-size plot of a materials run."""

from __future__ import annotations

import csv
import io
import statistics
from pathlib import Path

from ...files import write_text
from ..common import invocation_time

LABELS = {"eig_mlp": "(a) Eig-MLP", "eig_deepsets": "(b) Eig-DeepSets", "voigt_mlp": "(c) Voigt MLP",
          "voigt_aug": "(d) Voigt MLP + 4x rot.", "equivariant": "(e) EquivariantNet"}


def summarize(records: list[dict]) -> dict:
    cells: dict = {}
    for r in records:
        cells.setdefault((r["law"], r["size"], r["method"]), []).append(r)
    out = {}
    for key, rs in cells.items():
        def ms(field):
            xs = [r[field] for r in rs]
            return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else None)  # no spread from one
        out[key] = {"test": ms("test_error"), "rotated": ms("rotated_error"), "seconds": ms("seconds"),
                    "parameters": rs[0]["parameters"], "trials": len(rs)}
    return out


def _rows(config, records):
    cells = summarize(records)
    for law in config.laws:
        for size in config.sizes:
            for method in config.methods:
                c = cells.get((law, size, method))
                if c:
                    yield law, size, method, c


def _pm(value: tuple, tex: bool = False) -> str:
    """mean ± std, or the mean alone when there is no spread (one trial)."""
    mean, std = value
    if std is None:
        return f"{mean:.2e}"
    return f"{mean:.2e} \\pm {std:.1e}" if tex else f"{mean:.2e} ± {std:.1e}"


def markdown(config, records, seconds: float | None) -> str:
    over = "over 1 trial" if config.trials == 1 else f"mean ± std over {config.trials} trials"
    lines = [f"# Materials: learning S(C), relative Frobenius test error ({over})",
             "", f"Settings: {config.settings()}; {invocation_time(seconds)}.", "",
             "| law | n train | model | params | test error | rotated test error | train s |",
             "|---|---:|---|---:|---:|---:|---:|"]
    for law, size, method, c in _rows(config, records):
        lines.append(f"| {law} | {size} | {LABELS[method]} | {c['parameters']:,} | {_pm(c['test'])} "
                     f"| {_pm(c['rotated'])} | {c['seconds'][0]:.1f} |")
    return "\n".join(lines) + "\n"


def table_csv(config, records) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["law", "size", "method", "parameters", "test_mean", "test_std", "rotated_mean", "rotated_std",
                "seconds_mean", "trials"])
    for law, size, method, c in _rows(config, records):
        std = [f"{c[k][1]:.6g}" if c[k][1] is not None else "" for k in ("test", "rotated")]
        w.writerow([law, size, method, c["parameters"], f"{c['test'][0]:.6g}", std[0],
                    f"{c['rotated'][0]:.6g}", std[1], f"{c['seconds'][0]:.3g}", c["trials"]])
    return buf.getvalue()


def latex(config, records) -> str:
    lines = [r"\begin{tabular}{llrrr}", r"\toprule", r"law & $n$ & model & test error & rotated \\", r"\midrule"]
    for law, size, method, c in _rows(config, records):
        lines.append(f"{law.replace('_', ' ')} & {size} & {LABELS[method]} & "
                     f"${_pm(c['test'], tex=True)}$ & ${_pm(c['rotated'], tex=True)}$ \\\\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def plot(config, records, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = summarize(records)
    fig, axes = plt.subplots(1, len(config.laws), figsize=(5.5 * len(config.laws), 4), squeeze=False)
    for ax, law in zip(axes[0], config.laws):
        for number, method in enumerate(config.methods):
            # one colour per model: solid on the test set, dotted on its rotated copy
            for field, style in (("test", "-o"), ("rotated", ":x")):
                pts = [(s, cells[(law, s, method)][field]) for s in config.sizes if (law, s, method) in cells]
                if not pts:
                    continue
                line = ax.errorbar([p[0] for p in pts], [p[1][0] for p in pts], yerr=[p[1][1] or 0.0 for p in pts],
                                   fmt=style, capsize=3, color=f"C{number}", label=f"{LABELS[method]} ({field})")
                if field == "rotated":
                    line[0].set_alpha(0.6)
        ax.set_xscale("log"), ax.set_yscale("log")
        ax.set_xlabel("training samples"), ax.set_ylabel("relative Frobenius error")
        ax.set_title(law.replace("_", "-"))
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    # below the panels, so that no curve is hidden behind it
    fig.legend(handles, labels, loc="lower center", ncol=len(config.methods), fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.14, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_reports(config, records, out: Path, seconds: float | None) -> dict[str, Path]:
    out = Path(out)
    paths = {ext: out / f"materials.{ext}" for ext in ("md", "csv", "tex", "png")}
    write_text(paths["md"], markdown(config, records, seconds))
    write_text(paths["csv"], table_csv(config, records))
    write_text(paths["tex"], latex(config, records))
    plot(config, records, paths["png"])
    return paths
