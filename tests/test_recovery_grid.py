"""The recovery grid: outputs (CSV, Markdown, LaTeX, PNG), resume, parallel = serial, bad parameters."""

import csv
import json
import re

import pytest

from basis_compiler.cli import main
from basis_compiler.errors import DataError
from basis_compiler.apps.common import derive_seed
from basis_compiler.apps.recovery.config import METHOD_LABELS, PRESETS, SAMPLING_LABELS, GridConfig
from basis_compiler.apps.recovery.grid import run_grid
from basis_compiler.apps.results_file import RESULTS_FILE
from basis_compiler.apps.recovery.report import SUMMARY_COLUMNS, TRIAL_COLUMNS, markdown_table

TINY = GridConfig(
    samplings=("BG", "AR"),
    covariances=("random", "identity"),
    n=12, d=3, eps=0.25, n_train=60, n_val=20, n_test=20, max_epochs=2, patience=5, seed=3,
)
TINY_ARGS = [
    "recover", "--samplings", "BG,AR", "--covariances", "random,identity", "--n", "12", "--d", "3",
    "--eps", "0.25", "--n-train", "60", "--n-val", "20", "--n-test", "20", "--max-epochs", "2",
    "--patience", "5", "--seed", "3", "--no-progress",
]


def _strip(records):
    """Records without the wall times (the only field that may differ between runs)."""
    return {(r["sampling"], r["covariance"], r["method"], r["trial"]): {k: v for k, v in r.items() if k != "seconds"}
            for r in records}


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    out = tmp_path_factory.mktemp("serial")
    return run_grid(TINY, out, workers=1, progress=False), out


def test_serial_run_writes_every_output(serial):
    run, out = serial
    assert run.ran == 20 and run.reused == 0 and run.remaining == 0
    assert len(_lines(out / RESULTS_FILE)) == 20
    with open(out / "recovery.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == SUMMARY_COLUMNS and len(rows) == 1 + 20
    with open(out / "recovery_trials.csv", newline="") as fh:
        trows = list(csv.DictReader(fh))
    assert tuple(trows[0]) == TRIAL_COLUMNS and len(trows) == 20
    assert {r["method"] for r in trows} == {"sos1", "sos2", "baseline", "svh_diag", "svh"}
    for r in trows:
        assert 0 <= float(r["test_accuracy"]) <= 1 and 0 <= float(r["train_accuracy"]) <= 1
        assert int(r["epochs"]) == (0 if r["method"].startswith("sos") else 2)
    png = (out / "recovery.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    # SOS-I and SOS-II share the eigenvector (docs/math.md, "Sparse vector recovery"): equal
    # accuracies up to float32 rounding.
    by = {(r["sampling"], r["covariance"], r["method"]): float(r["test_accuracy"]) for r in trows}
    for s in TINY.samplings:
        for c in TINY.covariances:
            assert by[(s, c, "sos1")] == pytest.approx(by[(s, c, "sos2")], abs=1e-5)


def _best_methods(run):
    acc = {}
    for r in run.records:
        acc.setdefault((r["sampling"], r["covariance"]), {})[r["method"]] = round(r["test_accuracy"], 3)
    return {k: {m for m, a in v.items() if a == max(v.values())} for k, v in acc.items()}


def test_tables_have_the_paper_layout_and_bold_best(serial):
    run, out = serial
    best = _best_methods(run)
    labels = [METHOD_LABELS[m] for m in TINY.methods]
    md = (out / "recovery.md").read_text()
    head = next(line for line in md.splitlines() if line.startswith("| Sampling"))
    assert [c.strip() for c in head.strip("|").split("|")] == ["Sampling", "Covariance"] + labels
    rows = [line for line in md.splitlines() if line.startswith("| ") and not line.startswith("| Sampling")][:4]
    tex_rows = [line for line in (out / "recovery.tex").read_text().splitlines() if line.endswith("\\\\")][1:]
    assert len(tex_rows) == 4
    sampling = None
    for k, (s, c) in enumerate((s, c) for s in TINY.samplings for c in TINY.covariances):
        cells = [x.strip() for x in rows[k].strip("|").split("|")]
        assert cells[:2] == [SAMPLING_LABELS[s], c]
        bold = {m for m, x in zip(TINY.methods, cells[2:]) if x.startswith("**")}
        assert bold == best[(s, c)], (s, c, cells)
        tex = [x.strip() for x in tex_rows[k][:-2].split("&")]
        sampling = tex[0] or sampling
        assert sampling == SAMPLING_LABELS[s] and tex[1] == c.capitalize()
        assert {m for m, x in zip(TINY.methods, tex[2:]) if x.startswith("\\textbf{")} == best[(s, c)]
        for m, x in zip(TINY.methods, cells[2:]):
            r = next(r for r in run.records if (r["sampling"], r["covariance"], r["method"]) == (s, c, m))
            assert x.strip("*") == f"{r['test_accuracy']:.3f}"
    assert "\\toprule" in (out / "recovery.tex").read_text() and "\\bottomrule" in (out / "recovery.tex").read_text()


def test_std_over_trials_in_tables(tmp_path):
    config = GridConfig(samplings=("BG",), covariances=("identity",), methods=("sos1", "svh_diag"),
                        n=10, d=3, n_train=30, n_val=10, n_test=10, trials=2, max_epochs=1, seed=1)
    run = run_grid(config, tmp_path, progress=False)
    acc = [r["test_accuracy"] for r in run.records if r["method"] == "sos1"]
    assert len(acc) == 2 and acc[0] != acc[1]  # each trial draws new data
    row = next(line for line in (tmp_path / "recovery.md").read_text().splitlines() if line.startswith("| BG"))
    assert re.search(r"\d\.\d{3} ± \d\.\d{3}", row)
    with open(tmp_path / "recovery.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert all(r["trials"] == "2" and float(r["test_accuracy_std"]) > 0 for r in rows)
    assert "$\\pm$" in (tmp_path / "recovery.tex").read_text()


def test_resume_runs_only_missing_tasks_and_gives_the_same_table(serial, tmp_path, capsys):
    run, _ = serial
    out = tmp_path / "resumed"
    assert main(TINY_ARGS + ["--out", str(out), "--max-tasks", "7", "--workers", "1"]) == 0
    assert "incomplete: 13 task(s) missing" in capsys.readouterr().out
    assert len(_lines(out / RESULTS_FILE)) == 7
    # An interrupted write leaves a partial line; one finished line is lost as well.
    lines = (out / RESULTS_FILE).read_text().splitlines(keepends=True)
    (out / RESULTS_FILE).write_text("".join(lines[:3] + lines[4:]) + lines[3][:40])
    assert main(TINY_ARGS + ["--out", str(out), "--workers", "1"]) == 0
    printed = capsys.readouterr().out
    assert "ran 14 task(s)" in printed and "reused 6" in printed
    resumed = _lines(out / RESULTS_FILE)
    assert len(resumed) == 20 and _strip(resumed) == _strip(run.records)
    assert markdown_table(TINY, resumed) == markdown_table(TINY, run.records)
    # Complete: a third run runs nothing.
    assert main(TINY_ARGS + ["--out", str(out), "--workers", "1"]) == 0
    assert "ran 0 task(s)" in capsys.readouterr().out


def test_workers_give_the_serial_results(serial, tmp_path):
    run, _ = serial
    parallel = run_grid(TINY, tmp_path, workers=2, progress=False)
    assert parallel.ran == 20
    assert _strip(parallel.records) == _strip(run.records)


def test_other_configuration_in_the_folder_is_refused(serial, tmp_path):
    run_grid(GridConfig(samplings=("BG",), covariances=("identity",), methods=("sos1",), n=12, d=3,
                        n_train=10, n_val=5, n_test=5), tmp_path, progress=False)
    other = GridConfig(samplings=("BG",), covariances=("identity",), methods=("sos1",), n=12, d=3,
                       n_train=11, n_val=5, n_test=5)
    with pytest.raises(DataError, match="--fresh"):
        run_grid(other, tmp_path, progress=False)
    assert run_grid(other, tmp_path, progress=False, fresh=True).ran == 1


@pytest.mark.parametrize(
    "change, pattern",
    [
        (dict(methods=("sos1", "svm")), r"method 'svm'.*sos1, sos2, baseline, svh_diag, svh"),
        (dict(samplings=("BG", "gauss")), r"sampling 'gauss'"),
        (dict(covariances=("toeplitz",)), r"covariance 'toeplitz'"),
        (dict(samplings=("CBG",), eps=0.4), r"CBG"),
        (dict(eps=1.5), r"\beps\b"),
        (dict(d=12), r"\bd\b"),
        (dict(trials=0), r"trials"),
        (dict(max_epochs=0), r"max_epochs"),
        (dict(n_train=0), r"n_train"),
        (dict(methods=()), r"methods"),
    ],
)
def test_bad_grid_parameters_raise_data_error_before_work(change, pattern, tmp_path):
    from dataclasses import replace

    with pytest.raises(DataError, match=pattern):
        run_grid(replace(TINY, **change), tmp_path / "never", progress=False)
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize(
    "args, pattern",
    [
        (["--eps", "1.5"], r"eps must lie in \(0, 1\)"),
        (["--methods", "sos1,mlp"], r"unknown method 'mlp'"),
        (["--samplings", "CBG", "--eps", "0.4"], r"CBG"),
        (["--workers", "0"], r"workers must be an int >= 1"),
        (["--max-epochs", "0"], r"max_epochs must be an int >= 1"),
        (["--trials", "0"], r"trials"),
    ],
)
def test_cli_bad_parameters_exit_2_with_the_message(args, pattern, tmp_path, capsys):
    out = tmp_path / "never"
    assert main(TINY_ARGS + ["--out", str(out)] + args) == 2
    err = capsys.readouterr().err
    assert err.startswith("basis-compiler: error: ") and re.search(pattern, err), err
    assert not (out / RESULTS_FILE).exists()


def test_task_seeds_are_stable_and_distinct():
    # Saved results are only reusable while the seeds stay what they were when they were made.
    assert derive_seed(0, "data", "BG", "random", 0) == derive_seed(0, "data", "BG", "random", 0)
    assert derive_seed(0, "data", "BG", "random", 0) == 1232172471
    seeds = {derive_seed(0, "model", s, c, m, t) for s in ("AR", "BG") for c in ("random", "identity")
             for m in ("baseline", "svh") for t in range(3)}
    assert len(seeds) == 24


def test_presets_are_valid_and_paper_is_the_papers_setting():
    for config in PRESETS.values():
        config.validate()
    paper = PRESETS["paper"]
    assert (paper.n, paper.d, paper.eps, paper.n_train, paper.n_val, paper.n_test) == (100, 5, 0.25, 5000, 500, 500)
    assert paper.samplings == ("AR", "BG", "CBG", "BR") and paper.covariances == ("random", "diagonal", "identity")
    assert paper.methods == ("sos1", "sos2", "baseline", "svh_diag", "svh") and paper.trials == 1
    assert paper.max_epochs is None and paper.patience == 20 and paper.batch == 100


# SOS methods need no training: four tasks in well under a second.
SOS = GridConfig(samplings=("BG", "AR"), covariances=("identity",), methods=("sos1", "sos2"),
                 n=12, d=3, eps=0.25, n_train=40, n_val=20, n_test=20, seed=5)
SOS_ARGS = ["recover", "--samplings", "BG,AR", "--covariances", "identity", "--methods", "sos1,sos2", "--n", "12",
            "--d", "3", "--n-train", "40", "--n-val", "20", "--n-test", "20", "--seed", "5", "--no-progress"]


def test_default_output_is_a_fresh_folder_never_the_committed_results(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    committed = tmp_path / "benchmarks" / "results" / "recovery_quick"  # a complete reference run
    assert main(SOS_ARGS + ["--workers", "1", "--out", str(committed)]) == 0
    reference = {p.name: p.read_bytes() for p in committed.iterdir()}
    capsys.readouterr()
    for k in (1, 2):  # every default run runs its tasks, in a folder of its own
        assert main(SOS_ARGS + ["--workers", "1"]) == 0
        assert "ran 4 task(s)" in capsys.readouterr().out
        assert len(list((tmp_path / "recovery_runs").iterdir())) == k
    assert {p.name: p.read_bytes() for p in committed.iterdir()} == reference
    first = sorted((tmp_path / "recovery_runs").iterdir())[0]
    assert first.name.startswith("quick-") and len((first / RESULTS_FILE).read_text().splitlines()) == 4
    assert main(SOS_ARGS + ["--workers", "1", "--out", str(first)]) == 0  # the same --out resumes
    assert re.search(r"ran 0 task\(s\) in [\d.]+ s, reused 4", capsys.readouterr().out)


def test_ctrl_c_keeps_finished_tasks_and_says_how_to_resume(tmp_path, monkeypatch, capsys):
    from basis_compiler.apps.recovery import grid

    monkeypatch.chdir(tmp_path)
    real, calls = grid.run_task, []

    def interrupted_third_task(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(grid, "run_task", interrupted_third_task)
    assert main(SOS_ARGS + ["--workers", "1"]) == 130
    [out] = (tmp_path / "recovery_runs").iterdir()
    hint = capsys.readouterr().err
    assert f"resume with: basis-compiler recover --quick --out recovery_runs/{out.name}" in hint
    assert len((out / RESULTS_FILE).read_text().splitlines()) == 2
    monkeypatch.setattr(grid, "run_task", real)
    assert main(SOS_ARGS + ["--workers", "1", "--out", str(out)]) == 0
    assert re.search(r"ran 2 task\(s\) in [\d.]+ s, reused 2", capsys.readouterr().out)


def test_demo_runs_afresh_into_a_new_folder_each_time(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setitem(PRESETS, "quick", SOS)
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0}, raising=False)  # one worker: no process start-up
    for k in (1, 2):
        assert main(["demo"]) == 0
        out = capsys.readouterr().out
        folders = sorted((tmp_path / "recovery_runs").iterdir())
        assert len(folders) == k and folders[-1].name.startswith("demo-")
        assert len((folders[-1] / RESULTS_FILE).read_text().splitlines()) == 4
        assert (folders[-1] / "recovery.md").exists() and f"recovery_runs/{folders[-1].name}" in out
        assert "| BG | identity |" in out


def test_default_workers_follow_the_cpus_this_process_may_use(tmp_path, monkeypatch, capsys):
    # os.cpu_count() counts the machine; a process pinned to one CPU must not start two workers.
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: {0}, raising=False)
    assert main(SOS_ARGS + ["--out", str(tmp_path), "--max-tasks", "1"]) == 0
    assert "; 1 worker(s);" in capsys.readouterr().out


def test_cpu_quota_and_threads_per_task_set_the_default_workers(tmp_path, monkeypatch):
    from basis_compiler.apps.recovery.grid import cgroup_cpu_limit, default_workers, usable_cpus

    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(8)), raising=False)
    (tmp_path / "v2").mkdir()
    (tmp_path / "v2" / "cpu.max").write_text("150000 100000\n")
    assert cgroup_cpu_limit(tmp_path / "v2") == 1.5 and usable_cpus(tmp_path / "v2") == 2
    (tmp_path / "v2" / "cpu.max").write_text("max 100000\n")
    assert cgroup_cpu_limit(tmp_path / "v2") is None and usable_cpus(tmp_path / "v2") == 8
    (tmp_path / "v1" / "cpu").mkdir(parents=True)
    (tmp_path / "v1" / "cpu" / "cpu.cfs_quota_us").write_text("300000\n")
    (tmp_path / "v1" / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert cgroup_cpu_limit(tmp_path / "v1") == 3.0 and usable_cpus(tmp_path / "v1") == 3
    assert usable_cpus(tmp_path / "none") == 8
    assert [default_workers(threads, cpus=8) for threads in (1, 2, 3, 8, 16)] == [7, 3, 2, 1, 1]
    assert [default_workers(1, cpus=c) for c in (1, 2, 3, 4)] == [1, 1, 2, 3]


def test_progress_without_a_terminal_is_a_few_plain_lines(tmp_path, capsys):
    run_grid(SOS, tmp_path, progress=True, write_reports=False)
    err = capsys.readouterr().err  # captured: not a terminal, like `make demo > log`
    assert "\r" not in err and "\x1b" not in err
    assert re.fullmatch(r"recover: 4/4 tasks done \(\d+ s\)\n", err), err


def test_progress_bar_redraws_on_a_terminal():
    import io

    from basis_compiler.apps.recovery.progress import Progress

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    stream = Terminal()
    bar = Progress(3, True, stream=stream)
    bar.start("BG/identity/svh#0")
    bar.done("BG/identity/svh#0")
    bar.close()
    assert "\r" in stream.getvalue() and "1/3" in stream.getvalue()


def test_max_tasks_zero_writes_the_tables_of_an_interrupted_run(tmp_path, capsys):
    """--max-tasks 0 runs nothing: the tables of what is saved, missing cells shown as –."""
    assert main(SOS_ARGS + ["--out", str(tmp_path), "--max-tasks", "1", "--workers", "1"]) == 0
    saved = (tmp_path / RESULTS_FILE).read_text()
    (tmp_path / "recovery.md").unlink()
    capsys.readouterr()
    assert main(SOS_ARGS + ["--out", str(tmp_path), "--max-tasks", "0", "--workers", "1"]) == 0
    out = capsys.readouterr().out
    assert "ran 0 task(s)" in out and "incomplete: 3 task(s) missing" in out
    assert (tmp_path / RESULTS_FILE).read_text() == saved
    assert "–" in (tmp_path / "recovery.md").read_text()
