"""Command line: `basis-compiler show | generate | recover | sweep | materials | signatures | demo` (each subcommand's --help says more)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .basis import enumerate_basis
from .codegen.store import DEFAULT_OUT
from .errors import BasisCompilerError, CodegenError

DEFAULT_SIGNATURE = "O(5): a[n]:1 -> 2s"
DEFAULT_DEGREE = 2


def _degree(text: str):
    """'3' -> 3, '1,2' -> (1, 2), '1,' -> (1,) (an exact degree of a one-input signature)."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) > 1 and parts[-1] == "":
        parts = parts[:-1]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"degree {text!r}: an int like 3 or a multidegree like 1,2") from None
    return values[0] if len(values) == 1 and "," not in text else tuple(values)


def print_table(basis, out=None) -> None:
    """Term number, multidegree, kind, readable formula, einsum and operands, then a summary line."""
    from .inspect.export import table

    (out or sys.stdout).write(table(basis))


def _cmd_show(args) -> int:
    from .inspect import export as inspect_basis
    from .errors import OutputError

    if args.format not in inspect_basis.FORMATS:
        raise OutputError(f"unknown format {args.format!r}; valid formats: {', '.join(inspect_basis.FORMATS)}")
    # Check every destination before compiling or writing anything.
    for path in (args.output, args.png):
        if path is not None:
            inspect_basis.check_writable(path)
    basis = enumerate_basis(args.signature, args.degree)
    if args.png is not None:
        inspect_basis.check_drawable(basis)
    text = inspect_basis.render(basis, args.format)
    if args.png is not None:
        inspect_basis.draw(basis, args.png)
    if args.output is not None:
        inspect_basis.write_text(args.output, text)
    else:
        sys.stdout.write(text)
    for path, what in ((args.png, f"{len(basis)} diagrams"), (args.output, args.format)):
        if path is not None:
            print(f"basis-compiler: wrote {path} ({what})", file=sys.stderr)
    return 0


def _cmd_demo(args) -> int:
    print(f"Compiling the paper's signature {DEFAULT_SIGNATURE!r}, degree {DEFAULT_DEGREE} (shapes over a family):")
    print_table(enumerate_basis(DEFAULT_SIGNATURE, DEFAULT_DEGREE))
    print()
    concrete = "O(5): a[4]:1 -> 2s"
    print(f"The same with n = 4 concrete vectors ({concrete!r}), pruned exactly at d = 5:")
    print_table(enumerate_basis(concrete, DEFAULT_DEGREE))
    print()
    return _demo_recovery()


def _demo_recovery() -> int:
    """The quick recovery grid in a new folder under recovery_runs/ (a fresh run every time), then its table."""
    from .apps.recovery.config import PRESETS
    from .apps.recovery.grid import default_workers, new_run_folder
    from .apps.recovery.report import markdown_table

    config = PRESETS["quick"]
    workers = default_workers()
    out = new_run_folder("demo")
    print(f"Planted sparse vector recovery, quick grid: SVH and SVH-Diag use the compiled layers of "
          f"'O({config.d}): a[{config.n}]:1 -> 2s' ({workers} worker(s); progress on stderr; results in {out})")
    print(config.describe(), flush=True)
    run = _run_or_explain(config, out, workers, "quick", dict(progress=True))
    if run is None:
        return 130
    print()
    print(f"Test accuracy mean <v0, v_hat>^2, best per row in bold ({run.seconds:.0f} s):")
    print(markdown_table(config, run.records), end="")
    print(f"\nTables (Markdown, CSV, LaTeX) and a figure are in {out}/. The committed reference runs are in "
          "benchmarks/results/; `basis-compiler recover --paper` runs the paper's grid.")
    return 0


def _run_or_explain(config, out, workers, mode, options):
    """run_grid, or None after printing how to resume when interrupted (Ctrl-C)."""
    from .apps.recovery.grid import run_grid

    try:
        return run_grid(config, out, workers=workers, **options)
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished tasks are saved in {out}; resume with: "
              f"basis-compiler recover --{mode} --out {out} (and the same options)", file=sys.stderr)
        return None


def _names(text: str) -> tuple[str, ...]:
    """'AR,BG' -> ('AR', 'BG')."""
    return tuple(p.strip() for p in text.split(",") if p.strip())


def _max_epochs(text: str):
    if text.strip().lower() in ("none", "inf"):
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"max epochs {text!r}: an int >= 1, or 'none' for early stopping only") from None


_UNSET = object()
_RECOVER_FIELDS = ("samplings", "covariances", "methods", "n", "d", "eps", "n_train", "n_val", "n_test",
                   "trials", "max_epochs", "patience", "seed", "test_n", "pair_sums")


def _cmd_recover(args) -> int:
    from .apps.recovery.config import preset
    from .apps.recovery.grid import check_run_options, default_workers, new_run_folder
    from .apps.recovery.report import markdown_table

    mode = "paper" if args.paper else "quick"
    overrides = {k: getattr(args, k) for k in _RECOVER_FIELDS if getattr(args, k) is not _UNSET}
    config = preset(mode, **overrides)
    workers = args.workers if args.workers is not None else default_workers()
    config.validate()  # DataError before any work or folder
    check_run_options(workers, args.max_tasks)
    out = args.out or new_run_folder(mode)
    tasks = len(config.tasks())
    print(f"recover --{mode}: {len(config.samplings)} samplings x {len(config.covariances)} covariances x "
          f"{len(config.methods)} methods x {config.trials} trial(s) = {tasks} tasks; {config.describe()}; "
          f"{workers} worker(s); results in {out}", flush=True)
    for note in config.notes():
        print(f"note: {note}", file=sys.stderr, flush=True)
    run = _run_or_explain(config, out, workers, mode, dict(max_tasks=args.max_tasks, fresh=args.fresh,
                                                           progress=not args.no_progress))
    if run is None:
        return 130
    print(f"ran {run.ran} task(s) in {run.seconds:.1f} s, reused {run.reused} from {run.paths['results']}")
    print(markdown_table(config, run.records), end="")
    if run.remaining:
        print(f"incomplete: {run.remaining} task(s) missing; resume with the same options and --out {out}")
    for kind, path in run.paths.items():
        print(f"wrote {path}" if kind != "results" else f"results {path}")
    return 0


MAX_TASKS_HELP = "stop after this many new tasks (resume later); 0 runs none and only writes the tables of the saved results"
"""--max-tasks of recover, sweep and signatures (their runners share its meaning)."""

_SWEEP_KINDS = {"names": _names, "text": str, "int": int, "float": float, "int_or_none": _max_epochs}


def _cmd_sweep(args) -> int:
    import shlex

    from .apps.sweep.apps import get_app
    from .apps.sweep.runner import Sweep, default_device, run_sweep
    from .apps.sweep.spec import pair_params
    from .errors import DataError

    app = get_app(args.app)
    mode = args.preset or next(iter(app.presets))
    params = pair_params(args.param or [], args.values or [], app.sweepable, app.name)
    overrides = {o.name: getattr(args, o.name) for o in app.options if getattr(args, o.name) is not _UNSET}
    clash = sorted(set(overrides) & set(params))
    if clash:
        raise DataError(f"{clash[0]} is both swept (--param {clash[0]}) and fixed (--{clash[0].replace('_', '-')}); "
                        f"give it once, e.g. --param {clash[0]} --values ...")
    sweep = Sweep(app, app.make_config(mode, **overrides), params)
    items, skipped = sweep.plan()  # DataError before any folder
    out = args.out or _new_sweep_folder(app.name)
    device = args.device or default_device(app)
    where = (f"Ray ({args.address or 'a local instance, or RAY_ADDRESS'})" if args.backend == "ray"
             else f"{args.workers or 'default'} local worker(s)")
    print(f"sweep {app.name} --{mode}: {len(items)} tasks over " + ", ".join(f"{k} ({len(v)} values)" for k, v in
          params.items()) + f" ({len(skipped)} setting(s) ruled out); {where}; device {device}; results in {out}",
          flush=True)
    command = "basis-compiler " + " ".join(shlex.quote(a) for a in (args.argv or []))
    try:
        run = run_sweep(sweep, out, backend=args.backend, workers=args.workers, address=args.address, device=device,
                        max_tasks=args.max_tasks, fresh=args.fresh, progress=not args.no_progress, command=command)
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished tasks are saved in {out}; resume with the same command and --out {out}",
              file=sys.stderr)
        return 130
    print(f"ran {run.ran} task(s) in {run.seconds:.1f} s, reused {run.reused} from {run.paths['results']}")
    if run.remaining:
        print(f"incomplete: {run.remaining} task(s) missing; resume with the same options and --out {out}")
    for kind, path in run.paths.items():
        print(f"wrote {path}" if kind not in ("results", "runs") else f"{kind} {path}")
    return 0


def _new_sweep_folder(app: str):
    from .apps.recovery.grid import new_run_folder

    return new_run_folder(f"sweep-{app}", base="sweep_runs")


def _add_sweep_parser(sub) -> None:
    from .apps.sweep.apps import APPS
    from .apps.sweep.backends import RAY_INSTALL
    from .apps.sweep.spec import VALUES_HELP

    sweep = sub.add_parser(
        "sweep", help="run an application over a grid of parameter values, locally or on a Ray cluster",
        description="Sweep an application's parameters on top of its preset: every point of the grid and every "
        "task of the point is an independent task, saved at once to OUT/results.jsonl (rerun the same command "
        "with --out to resume), then OUT/sweep.csv, sweep.md and one phase diagram per setting "
        "(sweep_*.png) are written. Without --out each run starts fresh in sweep_runs/sweep-APP-DATE-TIME.",
    )
    apps = sweep.add_subparsers(dest="app", required=True, metavar="APP")
    for app in APPS.values():
        p = apps.add_parser(app.name, help=f"sweep `{app.name}` ({app.title})",
                            description=f"Sweep {app.name}: {app.title}. Sweepable: {', '.join(app.sweepable)}. "
                            f"Presets: {', '.join(app.presets)} (default {next(iter(app.presets))}).")
        p.add_argument("--param", action="append", metavar="NAME",
                       help=f"a parameter to sweep, one of {', '.join(app.sweepable)}; repeat for a grid "
                       "(the first one is the plots' x axis)")
        p.add_argument("--values", action="append", metavar="VALUES", help=f"the values of the matching --param: {VALUES_HELP}")
        presets = p.add_mutually_exclusive_group()
        for name in app.presets:
            presets.add_argument(f"--{name}", dest="preset", action="store_const", const=name,
                                 help=f"on top of the {name} preset" + (" (default)" if name == next(iter(app.presets)) else ""))
        for o in app.options:
            p.add_argument(f"--{o.name.replace('_', '-')}", dest=o.name, type=_SWEEP_KINDS[o.kind], default=_UNSET,
                           help=o.help)
        p.add_argument("--out", help="output folder; an existing one is resumed (default: a new folder "
                       "sweep_runs/sweep-APP-DATE-TIME in the current directory)")
        p.add_argument("--backend", choices=("local", "ray"), default="local",
                       help=f"local: worker processes on this machine (default); ray: one Ray task per setting on a "
                       f"Ray cluster (needs {RAY_INSTALL})")
        p.add_argument("--workers", type=int, help="local worker processes; default: the usable CPUs (affinity mask, "
                       "cgroup quota), at least 1; 1 runs in this process")
        p.add_argument("--address", help="Ray cluster: 'auto' (the cluster this machine belongs to) or "
                       "ray://HOST:PORT (Ray Client); default: RAY_ADDRESS if set, else a new local Ray instance")
        p.add_argument("--device", help="torch device of training tasks: cpu, cuda or cuda:N (default: cuda when "
                       "available); recorded in the results")
        p.add_argument("--max-tasks", dest="max_tasks", type=int, help=MAX_TASKS_HELP)
        p.add_argument("--fresh", action="store_true", help="discard results saved in OUT instead of resuming")
        p.add_argument("--no-progress", dest="no_progress", action="store_true",
                       help="no progress on stderr (by default a bar on a terminal, a line every 30 s otherwise)")
        p.set_defaults(run=_cmd_sweep, preset=None)


def _cmd_generate(args) -> int:
    from .codegen.kinds import default_kind
    from .codegen.store import check, generate, read_manifest, remove
    from .symbolic.signature import Signature

    out = args.out
    if args.remove:
        print(f"removed {remove(args.remove, out)} and its manifest entry")
        return 0
    if args.refresh:
        for m in read_manifest(out)["modules"]:
            degree = tuple(m["degree"]) if isinstance(m["degree"], list) else m["degree"]
            print(f"wrote {generate(m['signature'], degree, m['kind'], m['name'], out, force=True, channels=m.get('channels'))}")
        return 0
    if args.check:
        problems = check(out)
        for line in problems:
            print(line, file=sys.stderr)
        if not problems:
            print(f"all generated modules in {out}/ are current")
        return 1 if problems else 0
    if not (args.signature and args.name):
        raise CodegenError(
            "generate needs SIGNATURE and --name, e.g. basis-compiler generate 'O(5): a[100]:1 -> 2s' "
            "--degree 2 --kind covariant --name svh_covariant (or --check, --refresh, --remove NAME)"
        )
    signature = Signature.parse(args.signature)
    kind = args.kind or default_kind(signature)
    path = generate(signature, args.degree, kind, args.name, out, force=args.force, channels=args.channels)
    print(f"wrote {path}")
    return 0


def _cmd_materials(args) -> int:
    """The materials grid (apps/materials): train, save each task, write the tables and plot."""
    from .apps.materials.runner import preset, run
    from .apps.recovery.grid import new_run_folder, usable_cpus

    mode = "paper" if args.paper else "quick"
    config = preset(mode, trials=args.trials, epochs=args.epochs)
    out = args.out or new_run_folder(mode, "materials_runs")
    run(config, out, workers=args.workers or usable_cpus())
    print((Path(out) / "materials.md").read_text(encoding="utf-8"))
    print(f"results in {out}/ (materials.md, .csv, .tex, .png, results.jsonl); rerun with --out {out} to resume")
    return 0


def _cmd_signatures(args) -> int:
    """Path signatures (apps/signatures): run the grid, save each task, write the tables and plot."""
    import shlex

    from .apps.recovery.grid import new_run_folder
    from .apps.signatures.config import preset
    from .apps.signatures.runner import run_grid

    mode = "paper" if args.paper else "quick"
    fields = ("groups", "sizes", "trials", "epochs", "min_steps", "n_val", "n_test")
    overrides = {k: getattr(args, k) for k in fields if getattr(args, k) is not None}
    config = preset(mode, **overrides)
    config.validate()  # DataError before any folder
    out = args.out or new_run_folder(mode, "signatures_runs")
    print(f"signatures --{mode}: {len(config.tasks())} tasks; {config.describe()}; results in {out}", flush=True)
    command = "basis-compiler " + " ".join(shlex.quote(a) for a in (args.argv or []))
    try:
        run = run_grid(config, out, max_tasks=args.max_tasks, fresh=args.fresh, progress=not args.no_progress,
                       command=command)
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished tasks are saved in {out}; resume with: basis-compiler signatures "
              f"--{mode} --out {out} (and the same options)", file=sys.stderr)
        return 130
    print(run.paths["markdown"].read_text(encoding="utf-8"))
    if run.remaining:
        print(f"incomplete: {run.remaining} task(s) missing; resume with the same options and --out {out}")
    print(f"ran {run.ran} task(s) in {run.seconds:.1f} s, reused {run.reused}; results in {out}/ (signatures.md, "
          ".csv, .tex, .png, results.jsonl); rerun with --out to resume")
    return 0


def _add_signatures_parser(sub) -> None:
    sig = sub.add_parser(
        "signatures", help="learn path signatures from coarse points: coarse path, MLP and EquivariantNet under "
        "O(3) and O(1,3); write Markdown, CSV, LaTeX tables and a PNG",
        description="Random degree-5 polynomial curves seen at a few points; the target is the signature (levels "
        "1..3) of the 1000-point path. Compares the coarse path's own signature, a plain MLP and EquivariantNet, "
        "on the test set and in random frames (apps/signatures). Every finished task is appended to "
        "OUT/results.jsonl; rerunning with the same --out resumes. Without --out every run starts fresh in "
        "signatures_runs/MODE-DATE-TIME under the current directory.")
    mode = sig.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="sizes 300/1000, 1 trial, 30 epochs: a few minutes (default)")
    mode.add_argument("--paper", action="store_true", help="sizes 1000/10000, 3 trials, 60 epochs")
    sig.add_argument("--out", type=Path, help="output folder; an existing one is resumed")
    sig.add_argument("--groups", type=_names, help="comma list of groups, e.g. 'O(3),O(1,3)' (the default)")
    sig.add_argument("--sizes", type=lambda t: tuple(int(v) for v in _names(t)), help="training sizes, e.g. 1000,10000")
    sig.add_argument("--trials", type=int, help="override the preset's number of trials")
    sig.add_argument("--epochs", type=int, help="override the preset's number of epochs")
    sig.add_argument("--min-steps", dest="min_steps", type=int, help="override the preset's minimum optimizer steps")
    sig.add_argument("--n-val", dest="n_val", type=int, help="validation curves (best epoch)")
    sig.add_argument("--n-test", dest="n_test", type=int, help="test curves (reported errors)")
    sig.add_argument("--max-tasks", dest="max_tasks", type=int, help=MAX_TASKS_HELP)
    sig.add_argument("--fresh", action="store_true", help="discard results saved in OUT instead of resuming")
    sig.add_argument("--no-progress", dest="no_progress", action="store_true", help="no progress lines on stderr")
    sig.set_defaults(run=_cmd_signatures)


KINDS_HELP = (
    "polynomial: PolynomialLayer(out_channels), forward(**inputs) = learned combination "
    "of every basis term (weights are parameters; with --channels C every input carries C channels and the terms "
    "are those of the family signature, every product across channels); covariant: CovariantLayer(), forward(coeffs, **inputs) "
    "= sum of coeffs times the covariant generators (coefficients come from elsewhere, e.g. an MLP); "
    "invariants: InvariantFeatures(), forward(**inputs) = the connected invariants (Gram entries, traces, "
    "...), fewer than `show` lists for '-> 0', because products of connected invariants give all the "
    "others. Default: covariant (polynomial for S(n), its only kind)"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="basis-compiler", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    show = sub.add_parser(
        "show",
        help="print the basis of a signature (table, json, dot, latex) and draw its diagrams",
        description="Print the basis of a signature: one row per term with its readable formula, "
        "einsum and kind, then the compilation statistics. --format json gives every term's graph "
        "(schema in docs/inspect.md); --png draws the diagrams, one panel per term.",
    )
    show.add_argument("signature", help="e.g. 'O(3): v:1, X:2s -> 2s'")
    show.add_argument("--degree", type=_degree, default=2,
                      help="total degree, e.g. 3, or an exact multidegree with one entry per input, e.g. 1,2 "
                      "(for one input: 2,)")
    show.add_argument("--format", default="table", metavar="FORMAT",
                      help="table (default), json, dot (Graphviz text) or latex (an itemize list)")
    show.add_argument("-o", "--output", metavar="FILE", help="write the --format text to FILE instead of stdout")
    show.add_argument("--png", metavar="FILE", help="also draw the diagrams to FILE (PNG, at most 120 terms)")
    show.set_defaults(run=_cmd_show)
    gen = sub.add_parser(
        "generate", help="write a PyTorch module into an output folder (default ./codegen_out), or --check them",
        description="Generate a standalone PyTorch module (imports torch only) for a signature into OUT/NAME.py "
        "and record it in OUT/manifest.json; OUT is created as a Python package. A module generated from "
        "another signature, degree or kind, or a file the manifest does not list, is replaced only with --force.",
    )
    gen.add_argument("signature", nargs="?", help="with concrete family sizes, e.g. 'O(5): a[100]:1 -> 2s'")
    gen.add_argument("--degree", type=_degree, default=2,
                     help="total degree, e.g. 2, or an exact multidegree with one entry per input, e.g. 1,2 (one input: 2,)")
    gen.add_argument("--kind", choices=("polynomial", "covariant", "invariants"),
                     help=KINDS_HELP)
    gen.add_argument("--channels", type=int, metavar="C",
                     help="polynomial kind: C input channels, each input (*batch, C, ...); the layer spans the "
                     "polynomials of the signature with every input a family of size C, one weight per kept "
                     "term of its exact basis (default: no channel axis)")
    gen.add_argument("--name", help="module name: OUT/NAME.py (a lowercase identifier)")
    gen.add_argument("--out", type=Path, default=DEFAULT_OUT, metavar="DIR",
                     help="output folder (default: codegen_out in the current directory)")
    gen.add_argument("--force", action="store_true", help="replace a module or file of the same name")
    gen.add_argument("--remove", metavar="NAME", help="delete OUT/NAME.py and its manifest entry")
    gen.add_argument("--check", action="store_true",
                     help="regenerate every module listed in OUT/manifest.json and report stale, missing or "
                     "unlisted files and edited manifest entries (exit status 1 if any)")
    gen.add_argument("--refresh", action="store_true", help="regenerate every module listed in the manifest")
    gen.set_defaults(run=_cmd_generate)
    rec = sub.add_parser(
        "recover",
        help="run the planted sparse vector recovery grid; write Markdown, CSV, LaTeX tables and a PNG",
        description="Run samplings x covariances x methods x trials of planted sparse vector recovery "
        "(SOS-I, SOS-II, MLP baseline, SVH-Diag, SVH) and write OUT/recovery.{md,csv,tex,png}, "
        "recovery_trials.csv and results.jsonl. Without --out every run starts fresh in a new folder "
        "recovery_runs/MODE-DATE-TIME under the current directory. Each finished task is saved at "
        "once: rerunning with the same options and --out resumes (unreadable saved lines are moved to "
        "results.rejected.jsonl with a message). --quick (default) is a reduced grid of a few minutes; "
        "--paper is the paper's setting (n=100, d=5, eps=0.25, 5000/500/500, samplings AR BG CBG BR "
        "with BR's sign independent, covariances random diagonal identity). Options override the preset.",
    )
    mode = rec.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="the reduced grid (default)")
    mode.add_argument("--paper", action="store_true", help="the paper's full grid")
    rec.add_argument("--out", help="output folder; an existing one is resumed (default: a new folder "
                     "recovery_runs/quick-DATE-TIME or paper-DATE-TIME in the current directory)")
    rec.add_argument("--samplings", type=_names, default=_UNSET, help="comma list of AR, BG, CBG, BR, BR_paper, KS")
    rec.add_argument("--covariances", type=_names, default=_UNSET, help="comma list of random, diagonal, identity")
    rec.add_argument("--methods", type=_names, default=_UNSET, help="comma list of sos1, sos2, baseline, svh_diag, svh, svh_perm (default: all but svh_perm)")
    rec.add_argument("--n", "--train-n", dest="n", type=int, default=_UNSET,
                     help="ambient dimension of the training and validation data")
    rec.add_argument("--test-n", dest="test_n", type=int, default=_UNSET,
                     help="ambient dimension of the test data (default: the training n); another n needs "
                     "methods that run at any n: sos1, sos2, svh_perm (e.g. --train-n 50 --test-n 100 --pair-sums mean)")
    rec.add_argument("--pair-sums", dest="pair_sums", choices=("sum", "mean"), default=_UNSET,
                     help="how SVH-Perm sums the pairs i != j of S^T Q S: 'sum' (default) or "
                     "'mean', which keeps its scale at another n (use it with --test-n)")
    rec.add_argument("--d", type=int, default=_UNSET, help="subspace dimension")
    rec.add_argument("--eps", type=float, default=_UNSET, help="sparsity in (0, 1)")
    rec.add_argument("--n-train", dest="n_train", type=int, default=_UNSET, help="training samples per setting")
    rec.add_argument("--n-val", dest="n_val", type=int, default=_UNSET, help="validation samples")
    rec.add_argument("--n-test", dest="n_test", type=int, default=_UNSET, help="test samples")
    rec.add_argument("--trials", type=int, default=_UNSET, help="independent trials (default 1)")
    rec.add_argument("--max-epochs", dest="max_epochs", type=_max_epochs, default=_UNSET,
                     help="epoch cap, or 'none' to train until early stopping")
    rec.add_argument("--patience", type=int, default=_UNSET, help="early stopping patience in epochs")
    rec.add_argument("--seed", type=int, default=_UNSET, help="base seed (default 0)")
    rec.add_argument("--workers", type=int, help="parallel processes; results equal a serial run. Default: the "
                     "CPUs this process may use (affinity mask, cgroup quota) less one for the driver, divided by the torch threads per "
                     "task (1), at least 1")
    rec.add_argument("--max-tasks", dest="max_tasks", type=int, help=MAX_TASKS_HELP)
    rec.add_argument("--fresh", action="store_true", help="discard results saved in OUT instead of resuming")
    rec.add_argument("--no-progress", dest="no_progress", action="store_true",
                     help="no progress on stderr (by default a bar on a terminal, a plain line every 30 s otherwise)")
    rec.set_defaults(run=_cmd_recover)
    _add_sweep_parser(sub)
    mat = sub.add_parser("materials", help="learn hyperelastic laws S(C): equivariant net vs eigenvalue and "
                         "Voigt MLP baselines; write Markdown, CSV, LaTeX tables and a PNG",
                         description="Train 5 models on Neo-Hookean and Mooney-Rivlin data over training sizes and "
                         "trials (formulas in basis_compiler/apps/materials/laws.py). Every finished task is "
                         "appended to OUT/results.jsonl; rerunning with the same --out resumes.")
    mat_mode = mat.add_mutually_exclusive_group()
    mat_mode.add_argument("--quick", action="store_true", help="sizes 100 and 1000, 1 trial: about 1.5 minutes on 2 CPUs (default; --trials 2 for a spread)")
    mat_mode.add_argument("--paper", action="store_true", help="sizes 100/1000/20000, 3 trials, validation and test sets of 4000")
    mat.add_argument("--out", type=Path, help="output folder (default: a new materials_runs/MODE-DATE-TIME)")
    mat.add_argument("--workers", type=int, help="parallel processes (default: the usable CPUs)")
    mat.add_argument("--trials", type=int, help="override the preset's number of trials")
    mat.add_argument("--epochs", type=int, help="override the preset's number of epochs")
    mat.set_defaults(run=_cmd_materials)
    _add_signatures_parser(sub)
    demo = sub.add_parser("demo", help="print the paper's basis, then run the quick recovery grid afresh "
                          "(into a new folder recovery_runs/demo-DATE-TIME)")
    demo.set_defaults(run=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; errors of the package exit 2 with their message."""
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return args.run(args)
    except BasisCompilerError as exc:
        print(f"basis-compiler: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # `python -m basis_compiler.cli` as well as `python -m basis_compiler`
    raise SystemExit(main())
