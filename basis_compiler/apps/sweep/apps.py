"""The applications a sweep can run: one SweepApp each, registered in APPS.

A SweepApp tells the sweep how to build a configuration from a preset and overrides, which of its
fields can be swept, which tasks a configuration holds (and which settings a point rules out),
how to run one task and how to check a saved record. Adding an application (e.g. materials over
training sizes) is one SweepApp and one line in APPS; the command line (`basis-compiler sweep
NAME`), the runner, the backends and the reports need no change.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Hashable, NamedTuple

from ...errors import DataError
from ..common import derive_seed_from_repr
from ..materials import runner as materials_runner
from ..materials.laws import LAWS as MATERIAL_LAWS
from ..materials.models import METHODS as MATERIAL_METHODS
from ..materials.training import make_data as make_material_data
from ..materials.training import train_task as train_material_task
from ..recovery import config as recovery_config
from ..recovery import grid as recovery_grid
from ..recovery import results as recovery_results


class Option(NamedTuple):
    """A configuration field the command line may set (cli.py turns it into --NAME)."""

    name: str
    """Field name (the flag is --name with '_' written '-')."""
    kind: str
    """"names" (comma list), "text", "int", "float" or "int_or_none" ('none' for None)."""
    help: str


@dataclass(frozen=True)
class SweepApp:
    """What the sweep needs to know about one application."""

    name: str
    """The subcommand it sweeps (`basis-compiler sweep NAME`)."""
    title: str
    """One line for the reports."""
    presets: dict
    """Preset name -> configuration (the first is the default)."""
    options: tuple[Option, ...]
    """Fields the command line may override on top of the preset."""
    sweepable: dict[str, str]
    """Fields that can be swept -> "int" or "float"."""
    make_config: Callable[..., object]
    """(preset name, **overrides) -> configuration."""
    plan: Callable[[object], tuple[list, list[tuple[str, str]]]]
    """configuration -> (its tasks, [(setting ruled out, why)]); DataError when no task is left."""
    run_task: Callable[..., dict]
    """(configuration, task, device, progress(label, epoch, loss) or None) -> record."""
    fingerprint: Callable[[object], dict]
    """configuration -> what a saved record's "config" must equal."""
    task_key: Callable[[dict], Hashable]
    """A valid record -> its task."""
    record_problem: Callable[[object], str | None]
    """Why a saved line is not a record of this application (None when it is)."""
    describe: Callable[[object], str]
    """configuration -> one line with its sizes and recipe."""
    task_label: Callable[[object], str]
    """task -> short text for progress lines."""
    cost: Callable[[object], int]
    """task -> sort key, most expensive first (parallel runs do not end waiting on one long task)."""
    panel_fields: tuple[str, ...]
    """Record fields that make one phase diagram each (e.g. sampling, covariance)."""
    series_field: str
    """Record field that makes one line per value (e.g. method)."""
    series_order: Callable[[object], tuple]
    """configuration -> the series values in plot order."""
    labels: dict[str, str]
    """Display names of series and panel values."""
    metric: str
    """Record field on the y axis (e.g. test_accuracy)."""
    metric_label: str
    """Axis title of the metric."""
    reference: Callable[[object], tuple[float, str] | None]
    """configuration -> (a horizontal reference line, its label) or None (e.g. chance level)."""
    timing_fields: tuple[str, ...] = ("seconds",)
    """Record fields that measure time: the only ones that may differ between equal runs."""
    apply: Callable[[object, dict], object] = lambda config, point: replace(config, **point)
    """(configuration, point) -> the point's configuration (default: replace the fields of the same names)."""
    devices: tuple[str, ...] = ("cpu", "cuda")
    """Device types its tasks can use."""
    log_axes: tuple[bool, bool] = (False, False)
    """Logarithmic x and y axes in the phase diagrams."""


# --------------------------------------------------------------------------- recover


def _recover_plan(config: recovery_config.GridConfig):
    """The grid's tasks, without the (sampling, covariance) pairs this point rules out (CBG above eps 1/3)."""
    ok, skipped = [], []
    for s in config.samplings:
        for c in config.covariances:
            try:
                config.setting(s, c, 0)
            except DataError as exc:
                skipped.append((f"{s}/{c}", str(exc)))
            else:
                ok.append((s, c))
    if not ok:
        raise DataError(f"no setting of this point can run: {skipped[0][1]}" if skipped else "the grid is empty")
    # The rest of the configuration (methods, trials, epochs...) is checked on one valid setting.
    replace(config, samplings=(ok[0][0],), covariances=(ok[0][1],)).validate()
    tasks = [t for t in config.tasks() if (t.sampling, t.covariance) in ok]
    return tasks, skipped


def _recover_run(config, task, device="cpu", progress=None) -> dict:
    return recovery_grid.run_task(config, task, progress=progress, device=device)


def _recover_cost(task) -> int:
    return recovery_grid.COST_ORDER[task.method]


RECOVER = SweepApp(
    name="recover",
    title="Planted sparse vector recovery",
    presets=recovery_config.PRESETS,
    options=(
        Option("samplings", "names", "comma list of AR, BG, CBG, BR, BR_paper, KS"),
        Option("covariances", "names", "comma list of random, diagonal, identity"),
        Option("methods", "names", "comma list of sos1, sos2, baseline, svh_diag, svh, svh_perm (default: all but svh_perm)"),
        Option("n", "int", "ambient dimension"),
        Option("d", "int", "subspace dimension"),
        Option("eps", "float", "sparsity in (0, 1)"),
        Option("n_train", "int", "training samples per setting"),
        Option("n_val", "int", "validation samples"),
        Option("n_test", "int", "test samples"),
        Option("trials", "int", "independent trials per point (default 1)"),
        Option("max_epochs", "int_or_none", "epoch cap, or 'none' to train until early stopping"),
        Option("patience", "int", "early stopping patience in epochs"),
        Option("seed", "int", "base seed (default 0)"),
        Option("pair_sums", "text", "how SVH-Perm sums the pairs i != j of S^T Q S: sum (default) or mean"),
    ),
    sweepable={"eps": "float", "n": "int", "d": "int", "n_train": "int", "n_val": "int", "n_test": "int",
               "max_epochs": "int", "patience": "int", "batch": "int"},
    make_config=recovery_config.preset,
    plan=_recover_plan,
    run_task=_recover_run,
    fingerprint=lambda config: config.fingerprint(),
    task_key=recovery_results.task_key,
    record_problem=recovery_results.record_problem,
    describe=lambda config: config.describe(),
    task_label=lambda task: task.label,
    cost=_recover_cost,
    panel_fields=("sampling", "covariance"),
    series_field="method",
    series_order=lambda config: config.methods,
    labels={**recovery_config.METHOD_LABELS, **recovery_config.SAMPLING_LABELS},
    metric="test_accuracy",
    metric_label="test accuracy ⟨v0, v̂⟩²",
    reference=lambda config: (1 / config.d, "chance 1/d"),
)


# --------------------------------------------------------------------------- materials


class MaterialsTask(NamedTuple):
    """One task of the materials grid (runner.tasks gives plain tuples in this order)."""

    law: str
    size: int
    method: str
    trial: int

    @property
    def label(self) -> str:
        return f"{self.law}/{self.method}#{self.trial} size={self.size}"


def _materials_apply(config, point: dict):
    """size -> a grid of that one training size; other fields are replaced by name."""
    point = dict(point)
    size = point.pop("size", None)
    config = replace(config, **point)
    return config if size is None else replace(config, sizes=(size,))


def _materials_plan(config):
    for name, values, valid in (("laws", config.laws, MATERIAL_LAWS), ("methods", config.methods, MATERIAL_METHODS)):
        bad = [v for v in values if v not in valid]
        if bad or not values:
            raise DataError(f"unknown {name[:-1]} {bad[0] if bad else '(none)'!r}; valid: {', '.join(valid)}")
    for name in ("sizes",):
        if any(not isinstance(v, int) or v < 1 for v in getattr(config, name)):
            raise DataError(f"training sizes must be ints >= 1, got {config.sizes} (e.g. --param size --values 100,1000)")
    for name in ("trials", "n_val", "n_test", "epochs", "min_steps"):
        value = getattr(config, name)
        if not isinstance(value, int) or value < 1:
            raise DataError(f"{name} must be an int >= 1, got {value!r} (e.g. --{name.replace('_', '-')} 2)")
    return [MaterialsTask(*t) for t in materials_runner.tasks(config)], []


def _materials_run(config, task, device="cpu", progress=None) -> dict:
    """runner.run_one without its data cache: that cache is keyed by (law, trial) only, so in one
    process a second configuration (another point's training size) would reuse the first one's data."""
    import torch

    torch.set_num_threads(1)
    law, size, method, trial = task
    data = make_material_data(law, config.n_train, config.n_val, config.n_test,
                              derive_seed_from_repr(config.seed, law, trial))
    result = train_material_task(method, data, size, config.epochs, config.min_steps,
                                 derive_seed_from_repr(config.seed, law, size, method, trial), **config.recipe())
    return {"law": law, "size": size, "method": method, "trial": trial, **result, "config": config.fingerprint()}


MATERIALS = SweepApp(
    name="materials",
    title="Hyperelastic constitutive laws S(C)",
    presets=materials_runner.PRESETS,
    options=(
        Option("laws", "names", "comma list of " + ", ".join(MATERIAL_LAWS)),
        Option("methods", "names", "comma list of " + ", ".join(MATERIAL_METHODS)),
        Option("trials", "int", "independent trials per point"),
        Option("n_val", "int", "validation samples"),
        Option("n_test", "int", "test samples"),
        Option("epochs", "int", "training epochs"),
        Option("min_steps", "int", "at least this many steps per epoch"),
        Option("seed", "int", "base seed (default 0)"),
    ),
    sweepable={"size": "int", "epochs": "int", "min_steps": "int", "n_val": "int", "n_test": "int"},
    make_config=materials_runner.preset,
    plan=_materials_plan,
    run_task=_materials_run,
    fingerprint=lambda config: config.fingerprint(),
    task_key=lambda r: MaterialsTask(r["law"], r["size"], r["method"], r["trial"]),
    record_problem=materials_runner.record_problem,
    describe=lambda c: (f"laws {', '.join(c.laws)}, sizes {', '.join(map(str, c.sizes))}, val/test {c.n_val}/{c.n_test}, "
                        f"trials {c.trials}, {c.epochs} epochs of >= {c.min_steps} steps, seed {c.seed}"),
    task_label=lambda task: task.label,
    cost=lambda task: -task.size,
    panel_fields=("law",),
    series_field="method",
    series_order=lambda config: config.methods,
    labels={},
    metric="test_error",
    metric_label="relative test error ‖Ŝ − S‖_F / ‖S‖_F",
    reference=lambda config: None,
    apply=_materials_apply,
    devices=("cpu",),
    log_axes=(True, True),
)


APPS: dict[str, SweepApp] = {"recover": RECOVER, "materials": MATERIALS}
"""Applications by subcommand name."""


def get_app(name: str) -> SweepApp:
    """APPS[name]; DataError naming the valid ones."""
    if name not in APPS:
        raise DataError(f"unknown application {name!r} to sweep; valid: {', '.join(APPS)} (e.g. sweep recover)")
    return APPS[name]
