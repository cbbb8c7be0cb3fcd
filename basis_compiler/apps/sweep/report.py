"""A sweep's outputs: sweep.csv (one row per task, every parameter), sweep.md (settings, wall time,
tables) and one phase diagram per panel (for recover: per sampling and covariance): the metric
against the first swept parameter, one line per method, the mean over trials with a band from the
lowest to the highest trial.
"""

from __future__ import annotations

import csv
import io
import re
import statistics
from pathlib import Path

from ...files import write_atomic, write_text
from .spec import point_text

DIGITS = 3
"""Decimals in the Markdown tables."""

CSV_NAME, MD_NAME = "sweep.csv", "sweep.md"


def figure_name(panel: tuple) -> str:
    """sweep_AR_identity.png for the panel ("AR", "identity")."""
    return "sweep_" + "_".join(re.sub(r"[^A-Za-z0-9.-]+", "-", str(v)) for v in panel) + ".png"


def csv_columns(run) -> list[str]:
    """Swept parameters, the task's fields, every configuration field, device, then the results."""
    app, records = run.sweep.app, run.records
    params = list(run.sweep.params)
    task_fields = [f for f in app.task_key(records[0])._fields if f not in params] if records else []  # NamedTuples
    config_fields = [k for k in (records[0]["config"] if records else {}) if k not in params]
    taken = set(params) | set(task_fields) | {"config", "point", "device"}
    results = sorted({k for r in records for k in r} - taken) if records else []
    return [*params, *task_fields, *config_fields, "device", *results]


def sweep_csv(run) -> str:
    """One row per finished task with all its parameters."""
    columns = csv_columns(run)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    for r in run.records:
        flat = {**r["config"], **r, **r["point"]}
        writer.writerow(["" if flat.get(c) is None else repr(flat[c]) if isinstance(flat.get(c), float) else flat[c]
                         for c in columns])
    return buf.getvalue()


def _groups(run):
    """{panel: {other-params point: {series: {x: [metric per trial]}}}} in sweep order."""
    app, params = run.sweep.app, list(run.sweep.params)
    x_name, rest = params[0], params[1:]
    groups: dict = {}
    for _, _, task in run.sweep.plan()[0]:  # panels in the configuration's order, even if their first points failed
        groups.setdefault(tuple(getattr(task, f) for f in app.panel_fields), {})
    for r in run.records:
        panel = tuple(r[f] for f in app.panel_fields)
        others = tuple((k, r["point"][k]) for k in rest)
        series = groups.setdefault(panel, {}).setdefault(others, {}).setdefault(r[app.series_field], {})
        series.setdefault(r["point"][x_name], []).append(r[app.metric])
    return {panel: by_others for panel, by_others in groups.items() if by_others}


def _stats(values: list[float]) -> tuple[float, float | None, float, float]:
    return (statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else None,
            min(values), max(values))


def _label(app, value) -> str:
    return app.labels.get(value, str(value))


def markdown(run, runs: list[dict]) -> str:
    """sweep.md: what ran (settings, versions, wall time), what was ruled out, then a table per panel."""
    sweep, app = run.sweep, run.sweep.app
    params = list(sweep.params)
    total = len(run.records) + run.remaining + len(run.failed)
    wall = sum(e.get("wall_seconds") or 0 for e in runs)
    out = io.StringIO()
    out.write(f"# Sweep: {app.title} over {', '.join(params)}\n\n")
    out.write(f"- Swept: " + "; ".join(f"{k} = {', '.join(f'{v:g}' for v in vs)}" for k, vs in sweep.params.items()) + "\n")
    out.write(f"- Base configuration ({app.name}; swept fields replaced per point): {app.describe(sweep.base)}\n")
    out.write(f"- Tasks: {len(run.records)} of {total} finished" + (f", {len(run.failed)} failed" if run.failed else ""))
    out.write(f"; {run.remaining} missing (rerun the same command to resume)\n" if run.remaining else "\n")
    devices = sorted({r["device"] for r in run.records})
    out.write(f"- Device(s): {', '.join(devices) or '–'}\n")
    if runs:
        def seen(key):
            return ", ".join(sorted({str(e.get(key)) for e in runs}))
        out.write(f"- Wall time: {wall:.0f} s ({wall / 60:.1f} min) over {len(runs)} driver run(s); "
                  f"backend(s) {seen('backend')}, workers {seen('workers')}\n")
        out.write(f"- torch {seen('torch')}, Python {seen('python')}, git commit {seen('git')}\n")
        commands = sorted({e['command'] for e in runs if e.get('command')})
        for command in commands:
            out.write(f"- Command: `{command}`\n")
    if run.skipped:
        by_reason: dict[tuple[str, str], list] = {}
        for point, what, why in run.skipped:
            by_reason.setdefault((what, why.split(", got")[0]), []).append(point_text(point))
        out.write("\nRuled out (not run, left out of the plots):\n\n")
        for (what, why), where in by_reason.items():
            out.write(f"- {what} at {', '.join(where)}: {why}\n")
    if run.failed:
        by_what: dict[str, tuple[list, str]] = {}
        for point, task, why in run.failed:
            what = "/".join(str(getattr(task, f)) for f in app.panel_fields)
            where, _ = by_what.setdefault(what, ([], why))
            if point_text(point) not in where:
                where.append(point_text(point))
        out.write(f"\nCould not run ({len(run.failed)} tasks, left out of the plots; recorded in failed.jsonl, "
                  "retried only with --fresh):\n\n")
        for what, (where, why) in by_what.items():
            out.write(f"- {what} at {', '.join(where)}; e.g. {why}\n")
    series_all = list(app.series_order(sweep.base))
    for panel, by_others in _groups(run).items():
        title = " / ".join(_label(app, v) for v in panel)
        out.write(f"\n## {title}\n\n![{title}]({figure_name(panel)})\n\n")
        for others, by_series in by_others.items():
            if others:
                out.write(f"{point_text(dict(others))}:\n\n")
            xs = sorted({x for s in by_series.values() for x in s})
            names = [m for m in series_all if m in by_series]
            out.write(f"| {params[0]} | " + " | ".join(_label(app, m) for m in names) + " |\n")
            out.write("|---:|" + "---:|" * len(names) + "\n")
            for x in xs:
                cells = []
                for m in names:
                    values = by_series[m].get(x)
                    if not values:
                        cells.append("–")
                        continue
                    mean, std, _, _ = _stats(values)
                    cells.append(f"{mean:.{DIGITS}f}" + (f" ± {std:.{DIGITS}f}" if std is not None else ""))
                out.write(f"| {x:g} | " + " | ".join(cells) + " |\n")
            out.write("\n")
    out.write(f"Cells: mean ± sample std over trials of {app.metric}; plots: the mean, and a band from the "
              "lowest to the highest trial.\n")
    return out.getvalue()


def plot_panel(run, panel: tuple, by_others: dict, path: Path) -> None:
    """The metric against the first swept parameter, one line per series, min-max band over trials."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    sweep, app = run.sweep, run.sweep.app
    x_name = list(sweep.params)[0]
    series_all = list(app.series_order(sweep.base))
    cols = len(by_others)
    fig, axes = plt.subplots(1, cols, figsize=(5.2 * cols, 3.8), squeeze=False, sharey=True)
    reference = app.reference(sweep.base) if len(sweep.params) == 1 or "d" not in sweep.params else None
    for ax, (others, by_series) in zip(axes[0], by_others.items()):
        for k, m in enumerate(s for s in series_all if s in by_series):
            xs = sorted(by_series[m])
            stats = [_stats(by_series[m][x]) for x in xs]
            color = f"C{k}"
            ax.plot(xs, [s[0] for s in stats], marker="o", ms=3, color=color, label=_label(app, m))
            if any(len(by_series[m][x]) > 1 for x in xs):
                ax.fill_between(xs, [s[2] for s in stats], [s[3] for s in stats], color=color, alpha=0.18, lw=0)
        if reference is not None:
            ax.axhline(reference[0], color="grey", lw=0.8, ls=":", label=reference[1])
        ax.set_xlabel(x_name)
        log_x, log_y = app.log_axes
        if log_x:
            ax.set_xscale("log")
        if log_y:
            ax.set_yscale("log")
        else:
            ax.set_ylim(0, 1.02)
        ax.set_title(" / ".join(_label(app, v) for v in panel) + (f" ({point_text(dict(others))})" if others else ""),
                     fontsize=10)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel(app.metric_label)
    axes[0][-1].legend(fontsize=8, loc="best")
    fig.tight_layout()
    try:
        write_atomic(path, lambda fh: fig.savefig(fh, dpi=110, format="png"), parents=True)
    finally:
        plt.close(fig)


def write_reports(run, runs: list[dict]) -> dict[str, Path]:
    """Write sweep.csv, sweep.md and the figures next to the results file; returns paths by kind."""
    out = Path(run.paths["results"]).parent
    paths = {"csv": out / CSV_NAME, "markdown": out / MD_NAME}
    write_text(paths["csv"], sweep_csv(run), parents=True, durable=True)
    write_text(paths["markdown"], markdown(run, runs), parents=True, durable=True)
    for panel, by_others in _groups(run).items():
        path = out / figure_name(panel)
        plot_panel(run, panel, by_others, path)
        paths["figure " + "/".join(map(str, panel))] = path
    return paths
