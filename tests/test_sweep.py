"""Sweeps: value parsing, the grid of points, resume, identical records on every backend, outputs, errors."""

import csv
import json

import pytest

from basis_compiler.apps.recovery.config import GridConfig
from basis_compiler.apps.sweep.apps import APPS, RECOVER
from basis_compiler.apps.sweep.runner import RUNS_FILE, Sweep, run_sweep
from basis_compiler.apps.sweep.spec import pair_params, parse_values, points
from basis_compiler.cli import main
from basis_compiler.errors import BasisCompilerError, DataError

TINY = GridConfig(
    samplings=("BG", "CBG"), covariances=("identity",), methods=("sos1", "svh_diag"),
    n=12, d=3, eps=0.25, n_train=40, n_val=16, n_test=16, max_epochs=2, patience=5, seed=3,
)
# eps 0.4 rules CBG out (eps <= 1/3), so the sweep has 2 points x (2 + 1 settings) x 2 methods = 6 tasks.
PARAMS = {"eps": (0.2, 0.4)}
TIMING = RECOVER.timing_fields


def _strip(records):
    """Records by (point, task) without the timing fields (the only ones that may differ)."""
    return {(json.dumps(r["point"]), r["sampling"], r["covariance"], r["method"], r["trial"]):
            {k: v for k, v in r.items() if k not in TIMING} for r in records}


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


# --------------------------------------------------------------------------- values


def test_range_values_are_evenly_spaced_and_inclusive():
    values = parse_values("eps", "0.05:0.5:10", "float")
    assert len(values) == 10 and values[0] == 0.05 and values[-1] == 0.5
    steps = [b - a for a, b in zip(values, values[1:])]
    assert max(steps) - min(steps) < 1e-12
    assert values[2] == 0.15  # rounded, not 0.15000000000000002


def test_comma_lists_are_literal_and_ints_stay_ints():
    assert parse_values("n", "50,100,200", "int") == (50, 100, 200)
    assert all(type(v) is int for v in parse_values("n", "50:200:4", "int"))
    assert parse_values("eps", "0.3,0.1", "float") == (0.3, 0.1)


@pytest.mark.parametrize("name, text, kind, words", [
    ("n", "50:100:4", "int", "integers"),
    ("eps", "0.1:0.2", "float", "a:b:k"),
    ("eps", "0.1:0.2:0", "float", "k in a:b:k"),
    ("eps", "0.1,x", "float", "not a number"),
    ("eps", "0.1,0.1", "float", "repeats"),
    ("eps", "", "float", "empty"),
])
def test_bad_values_name_the_problem_and_an_example(name, text, kind, words):
    with pytest.raises(DataError, match=words) as info:
        parse_values(name, text, kind)
    assert "e.g." in str(info.value)


def test_params_pair_up_and_make_every_combination():
    params = pair_params(["eps", "n"], ["0.1,0.2", "50,100"], RECOVER.sweepable, "recover")
    assert points(params) == [{"eps": 0.1, "n": 50}, {"eps": 0.1, "n": 100}, {"eps": 0.2, "n": 50}, {"eps": 0.2, "n": 100}]
    with pytest.raises(DataError, match="one --values"):
        pair_params(["eps"], [], RECOVER.sweepable, "recover")
    with pytest.raises(DataError, match="cannot sweep 'seed'"):
        pair_params(["seed"], ["1,2"], RECOVER.sweepable, "recover")
    with pytest.raises(DataError, match="twice"):
        pair_params(["eps", "eps"], ["0.1", "0.2"], RECOVER.sweepable, "recover")


def test_every_registered_app_can_be_swept_from_the_command_line(capsys):
    for name in APPS:
        with pytest.raises(SystemExit) as info:
            main(["sweep", name, "--help"])
        assert info.value.code == 0
        assert "--param" in capsys.readouterr().out


# --------------------------------------------------------------------------- plan


def test_a_point_rules_out_only_the_settings_it_makes_invalid():
    items, skipped = Sweep(RECOVER, TINY, PARAMS).plan()
    assert len(items) == 6
    assert [(p, what) for p, what, _ in skipped] == [({"eps": 0.4}, "CBG/identity")]
    assert "1/3" in skipped[0][2]
    assert {(p["eps"], t.sampling) for p, _, t in items} == {(0.2, "BG"), (0.2, "CBG"), (0.4, "BG")}
    assert all(c.eps == p["eps"] for p, c, _ in items)


def test_a_point_where_nothing_can_run_is_an_error():
    with pytest.raises(DataError, match="eps=2"):
        Sweep(RECOVER, TINY, {"eps": (0.2, 2.0)}).plan()


# --------------------------------------------------------------------------- runs


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    out = tmp_path_factory.mktemp("serial")
    return out, run_sweep(Sweep(RECOVER, TINY, PARAMS), out, workers=1, device="cpu", progress=False)


def test_serial_sweep_writes_one_record_per_task_with_point_and_device(serial):
    out, run = serial
    assert run.ran == 6 and run.reused == 0 and run.remaining == 0
    lines = _lines(out / "results.jsonl")
    assert len(lines) == 6
    for r in lines:
        assert r["device"] == "cpu"
        assert r["config"]["eps"] == r["point"]["eps"]  # the task ran at its point
    # different points give different data, so the same task differs in its accuracies
    by = {(r["point"]["eps"], r["method"]): r["test_accuracy"] for r in lines if r["sampling"] == "BG"}
    assert by[(0.2, "sos1")] != by[(0.4, "sos1")]


def test_csv_has_one_row_per_task_with_all_parameters(serial):
    out, run = serial
    rows = list(csv.DictReader((out / "sweep.csv").read_text().splitlines()))
    assert len(rows) == 6
    for column in ("eps", "sampling", "covariance", "method", "trial", "n", "d", "n_train", "n_val", "n_test",
                   "max_epochs", "patience", "batch", "seed", "device", "test_accuracy", "seconds"):
        assert column in rows[0], column
    assert {(r["eps"], r["sampling"]) for r in rows} == {("0.2", "BG"), ("0.2", "CBG"), ("0.4", "BG")}


def test_markdown_and_figures_per_sampling_and_covariance(serial):
    out, run = serial
    md = (out / "sweep.md").read_text()
    assert "eps = 0.2, 0.4" in md and "CBG/identity at eps=0.4" in md
    assert "torch " in md and "git commit" in md and "Wall time" in md
    for name in ("sweep_BG_identity.png", "sweep_CBG_identity.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({name})" in md
    runs = _lines(out / RUNS_FILE)
    assert runs[-1]["ran"] == 6 and runs[-1]["complete"] and runs[-1]["torch"]


def test_local_workers_give_the_serial_records(serial, tmp_path):
    run = run_sweep(Sweep(RECOVER, TINY, PARAMS), tmp_path, workers=2, device="cpu", progress=False)
    assert run.ran == 6
    assert _strip(run.records) == _strip(serial[1].records)


def test_resume_runs_only_missing_tasks_and_extends_to_new_points(serial, tmp_path):
    sweep = Sweep(RECOVER, TINY, PARAMS)
    first = run_sweep(sweep, tmp_path, workers=1, device="cpu", max_tasks=4, progress=False)
    assert first.ran == 4 and first.remaining == 2
    assert "2 missing" in (tmp_path / "sweep.md").read_text()
    second = run_sweep(sweep, tmp_path, workers=1, device="cpu", progress=False)
    assert second.ran == 2 and second.reused == 4 and second.remaining == 0
    assert _strip(second.records) == _strip(serial[1].records)
    # a wider sweep in the same folder reuses the finished points
    wider = run_sweep(Sweep(RECOVER, TINY, {"eps": (0.2, 0.3, 0.4)}), tmp_path, workers=1, device="cpu", progress=False)
    assert wider.reused == 6 and wider.ran == 4
    assert len(_lines(tmp_path / RUNS_FILE)) == 3


def test_a_folder_of_another_configuration_is_not_mixed_in(serial, tmp_path):
    run_sweep(Sweep(RECOVER, TINY, {"eps": (0.2,)}), tmp_path, workers=1, device="cpu", max_tasks=1, progress=False)
    other = GridConfig(**{**TINY.__dict__, "n_train": 41})
    with pytest.raises(DataError, match="another configuration"):
        run_sweep(Sweep(RECOVER, other, {"eps": (0.2,)}), tmp_path, workers=1, device="cpu", progress=False)


def test_a_bad_saved_line_is_moved_aside_and_its_task_runs_again(tmp_path):
    sweep = Sweep(RECOVER, TINY, {"eps": (0.2,)})
    run_sweep(sweep, tmp_path, workers=1, device="cpu", progress=False)
    lines = (tmp_path / "results.jsonl").read_text().splitlines()
    broken = json.loads(lines[0])
    del broken["point"]
    (tmp_path / "results.jsonl").write_text("\n".join([json.dumps(broken)] + lines[1:]) + "\n")
    run = run_sweep(sweep, tmp_path, workers=1, device="cpu", progress=False)
    assert run.ran == 1 and run.remaining == 0
    rejected = _lines(tmp_path / "results.rejected.jsonl")
    assert "point" in rejected[0]["reason"]


def test_bad_options_fail_before_any_folder(tmp_path):
    out = tmp_path / "never"
    sweep = Sweep(RECOVER, TINY, PARAMS)
    for kwargs, words in ((dict(backend="slurm"), "unknown backend"), (dict(device="tpu"), "device"),
                          (dict(workers=0), "workers")):
        with pytest.raises(BasisCompilerError, match=words):
            run_sweep(sweep, out, progress=False, **{"device": "cpu", **kwargs})
    assert not out.exists()


def test_cli_sweep_runs_and_resumes(tmp_path, capsys):
    args = ["sweep", "recover", "--param", "eps", "--values", "0.2,0.4", "--samplings", "BG", "--covariances",
            "identity", "--methods", "sos1", "--n", "12", "--d", "3", "--n-train", "40", "--n-val", "16",
            "--n-test", "16", "--trials", "2", "--device", "cpu", "--workers", "1", "--no-progress",
            "--out", str(tmp_path)]
    assert main(args) == 0
    assert "ran 4 task(s)" in capsys.readouterr().out
    assert main(args) == 0
    again = capsys.readouterr().out
    assert "ran 0 task(s)" in again and "reused 4" in again
    assert len(_lines(tmp_path / "results.jsonl")) == 4
    assert main(args[:4] + ["--values", "0.2:0.4"] + args[6:]) == 2
    assert "a:b:k" in capsys.readouterr().err
    assert main(args + ["--eps", "0.3"]) == 2
    assert "both swept" in capsys.readouterr().err


# --------------------------------------------------------------------------- Ray


def test_ray_backend_without_ray_says_how_to_install_it(monkeypatch, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now raises ImportError
    with pytest.raises(BasisCompilerError, match=r"pip install 'basis-compiler\[ray\]'"):
        run_sweep(Sweep(RECOVER, TINY, PARAMS), tmp_path / "out", backend="ray", device="cpu", progress=False)
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def ray_instance():
    ray = pytest.importorskip("ray", reason="the Ray backend needs ray: pip install -e '.[ray]' (make test does)")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="error", log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning", "ignore::ResourceWarning")
def test_ray_backend_gives_the_serial_records_and_resumes(ray_instance, serial, tmp_path):
    sweep = Sweep(RECOVER, TINY, PARAMS)
    first = run_sweep(sweep, tmp_path, backend="ray", device="cpu", max_tasks=2, progress=False)
    assert first.ran == 2 and first.remaining == 4
    assert len(_lines(tmp_path / "results.jsonl")) == 2  # streamed to the file as they finished
    rest = run_sweep(sweep, tmp_path, backend="ray", device="cpu", progress=False)
    assert rest.ran == 4 and rest.reused == 2 and rest.remaining == 0
    assert _strip(rest.records) == _strip(serial[1].records)
    assert ray_instance.is_initialized()  # a Ray instance the caller started is left running
    assert {r["backend"] for r in _lines(tmp_path / RUNS_FILE)} == {"ray"}


def test_a_task_whose_data_cannot_be_drawn_is_recorded_and_not_retried(tmp_path):
    # A/R accepts a Gaussian direction only if sum v^4 >= 1/(eps n): at n=12, eps=0.1 almost never.
    config = GridConfig(samplings=("AR",), covariances=("identity",), methods=("sos1",), n=12, d=3,
                        n_train=40, n_val=16, n_test=16, max_epochs=2)
    sweep = Sweep(RECOVER, config, {"eps": (0.1, 0.3)})
    run = run_sweep(sweep, tmp_path, workers=1, device="cpu", progress=False)
    assert len(run.records) == 1 and run.records[0]["point"] == {"eps": 0.3}
    assert [(p, t.sampling) for p, t, _ in run.failed] == [({"eps": 0.1}, "AR")]
    assert "acceptance rate" in _lines(tmp_path / "failed.jsonl")[0]["reason"]
    assert "Could not run" in (tmp_path / "sweep.md").read_text()
    again = run_sweep(sweep, tmp_path, workers=1, device="cpu", progress=False)
    assert again.ran == 0 and again.remaining == 0 and len(again.failed) == 1


# --------------------------------------------------------------------------- materials


def test_materials_sweeps_training_size_with_the_same_records_on_workers(tmp_path):
    from basis_compiler.apps.sweep.apps import MATERIALS

    base = MATERIALS.make_config("quick", laws=("neo_hookean",), methods=("eig_mlp",), trials=1, n_val=16,
                                 n_test=16, epochs=1, min_steps=2)
    sweep = Sweep(MATERIALS, base, {"size": (8, 16)})
    serial = run_sweep(sweep, tmp_path / "serial", workers=1, device="cpu", progress=False)
    parallel = run_sweep(sweep, tmp_path / "parallel", workers=2, device="cpu", progress=False)
    assert [r["size"] for r in serial.records] == [8, 16]
    assert all(r["config"]["sizes"] == [r["size"]] for r in serial.records)  # each point trains on its own size
    strip = lambda rs: [{k: v for k, v in r.items() if k not in MATERIALS.timing_fields} for r in rs]  # noqa: E731
    assert strip(serial.records) == strip(parallel.records)
    rows = list(csv.DictReader((tmp_path / "serial" / "sweep.csv").read_text().splitlines()))
    assert [r["size"] for r in rows] == ["8", "16"] and "test_error" in rows[0]
    assert (tmp_path / "serial" / "sweep_neo-hookean.png").exists()
    with pytest.raises(DataError, match="cpu only"):
        run_sweep(sweep, tmp_path / "cuda", device="cuda:0", progress=False)


def test_progress_lines_show_tasks_done_of_total_and_the_running_ones():
    import io

    from basis_compiler.apps.sweep.runner import SweepProgress

    stream = io.StringIO()
    bar = SweepProgress(3, True, stream=stream, interval=0)
    bar.start("BG/identity/svh#0 eps=0.1")
    bar.start("BG/identity/svh#1 eps=0.1")
    bar.done("BG/identity/svh#0 eps=0.1")
    lines = stream.getvalue().splitlines()
    assert lines[-1].startswith("sweep: 1/3 tasks done")
    assert lines[-1].endswith("running: BG/identity/svh#1 eps=0.1")
    assert "svh#0" in lines[1] and "svh#1" in lines[1]


def test_the_materials_adapter_gives_run_one_records_in_a_fresh_process(tmp_path):
    """The sweep's materials task equals the materials runner's own run_one (same recipe, same data)."""
    import dataclasses

    from basis_compiler.apps.materials import runner as materials_runner
    from basis_compiler.apps.sweep.apps import MATERIALS

    base = MATERIALS.make_config("quick", laws=("neo_hookean",), methods=("eig_mlp",), trials=1, n_val=16,
                                 n_test=16, epochs=1, min_steps=2)
    fields = {f.name for f in dataclasses.fields(base)}
    variants = [base] + ([dataclasses.replace(base, optimizer="adam")] if "optimizer" in fields else [])
    for config in variants:
        config = dataclasses.replace(config, sizes=(8,))
        task = MATERIALS.plan(config)[0][0]
        ours = MATERIALS.run_task(config, task, "cpu", None)
        theirs = materials_runner.run_one(config, tuple(task))
        strip = lambda r: {k: v for k, v in r.items() if k not in MATERIALS.timing_fields}  # noqa: E731
        assert strip(ours) == strip(theirs)


def test_cli_sweep_of_svh_perm_over_n_with_averaged_pairs(tmp_path):
    args = ["sweep", "recover", "--param", "n", "--values", "8,10", "--samplings", "BG", "--covariances", "identity",
            "--methods", "svh_perm", "--pair-sums", "mean", "--d", "3", "--n-train", "20", "--n-val", "10",
            "--n-test", "10", "--max-epochs", "1", "--device", "cpu", "--workers", "1", "--no-progress",
            "--out", str(tmp_path)]
    assert main(args) == 0
    records = _lines(tmp_path / "results.jsonl")
    assert len(records) == 2 and {r["config"]["pair_sums"] for r in records} == {"mean"}
    bad = [("average" if a == "mean" else a) for a in args[:-1]] + [str(tmp_path / "other")]
    assert main(bad) == 2 and not (tmp_path / "other").exists()
