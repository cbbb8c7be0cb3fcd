"""Recovery grids tested at another n than they train at (--train-n / --test-n), and the
learned method chosen per setting by validation accuracy alone."""

import csv
import json
from pathlib import Path

import pytest

from basis_compiler.apps.recovery.config import PRESETS, GridConfig
from basis_compiler.apps.recovery.data import make_datasets
from basis_compiler.apps.recovery.grid import run_grid
from basis_compiler.apps.recovery.report import markdown_table, summarize, validation_choice
from basis_compiler.apps.recovery.spectral import SOSMethod
from basis_compiler.apps.recovery.training import evaluate
from basis_compiler.cli import main
from basis_compiler.errors import DataError

SMALL = GridConfig(samplings=("BG",), covariances=("identity",), methods=("sos1", "svh_perm"), n=12, d=3,
                   eps=0.25, n_train=40, n_val=20, n_test=30, max_epochs=1, patience=2, seed=5, test_n=20)


def test_models_trained_at_n_are_tested_at_test_n(tmp_path):
    run = run_grid(SMALL, tmp_path, progress=False)
    by_method = {r["method"]: r for r in run.records}
    assert set(by_method) == {"sos1", "svh_perm"} and all(r["config"]["test_n"] == 20 for r in run.records)
    # SOS-I's test accuracy is that of an n = 20 test set drawn here, not of the n = 12 one
    test20 = make_datasets(SMALL.test_setting("BG", "identity", 0)).test
    test12 = make_datasets(SMALL.setting("BG", "identity", 0)).test
    assert test20.S.shape[1:] == (20, 3) and test12.S.shape[1:] == (12, 3)
    assert by_method["sos1"]["test_accuracy"] == pytest.approx(evaluate(SOSMethod("I"), test20)[1], abs=1e-6)
    assert by_method["sos1"]["test_accuracy"] != pytest.approx(evaluate(SOSMethod("I"), test12)[1], abs=1e-6)
    # validation stays at the training n (nothing is chosen on test data)
    val12 = make_datasets(SMALL.setting("BG", "identity", 0)).val
    assert by_method["sos1"]["val_accuracy"] == pytest.approx(evaluate(SOSMethod("I"), val12)[1], abs=1e-6)
    text = (tmp_path / "recovery.md").read_text()
    assert "trained at n=12, tested at n=20" in text
    rows = list(csv.DictReader((tmp_path / "recovery.csv").read_text().splitlines()))
    assert {(r["n"], r["test_n"]) for r in rows} == {("12", "20")}


def test_methods_tied_to_n_are_refused_at_another_test_n():
    bad = GridConfig(**{**SMALL.__dict__, "methods": ("sos1", "svh", "baseline")})
    with pytest.raises(DataError, match=r"svh, baseline .*--test-n"):
        bad.validate()
    GridConfig(**{**SMALL.__dict__, "methods": ("svh",), "test_n": 12}).validate()  # the same n is fine


def test_fingerprint_without_test_n_matches_results_saved_before_it_existed():
    saved = Path(__file__).resolve().parents[1] / "benchmarks/results/recovery_quick/results.jsonl"
    first = json.loads(saved.read_text().splitlines()[0])
    assert first["config"] == PRESETS["quick"].fingerprint()
    assert "test_n" not in PRESETS["quick"].fingerprint() and SMALL.fingerprint()["test_n"] == 20


def _record(method, val, test):
    return {"sampling": "BG", "covariance": "identity", "method": method, "trial": 0, "train_accuracy": 0.5,
            "test_accuracy": test, "val_accuracy": val, "epochs": 1, "seconds": 1.0}


def test_the_learned_method_is_chosen_on_validation_not_test_accuracy():
    config = GridConfig(samplings=("BG",), covariances=("identity",), methods=("sos1", "svh", "svh_perm"))
    records = [_record("sos1", 0.9, 0.9), _record("svh", 0.4, 0.95), _record("svh_perm", 0.8, 0.7)]
    cells = summarize(config, records)
    assert validation_choice(config, cells) == {("BG", "identity"): "svh_perm"}
    assert "0.700 (SVH-Perm)" in markdown_table(config, records)
    records[1] = _record("svh", 0.85, 0.95)
    assert validation_choice(config, summarize(config, records)) == {("BG", "identity"): "svh"}
    three = GridConfig(samplings=("BG",), covariances=("identity",), methods=("sos1", "svh_diag", "svh", "svh_perm"))
    with_diag = records + [_record("svh_diag", 0.86, 0.5)]
    assert validation_choice(three, summarize(three, with_diag)) == {("BG", "identity"): "svh_diag"}
    paper = GridConfig(samplings=("BG",), covariances=("identity",), methods=("sos1", "svh_diag", "svh"))
    assert validation_choice(paper, summarize(paper, with_diag)) == {}   # the paper's grids keep its columns
    one = GridConfig(samplings=("BG",), covariances=("identity",), methods=("sos1", "svh"))
    assert validation_choice(one, summarize(one, records[:2])) == {}
    assert "Chosen by validation" not in markdown_table(one, records[:2])


def test_cli_train_n_and_test_n(tmp_path, capsys):
    args = ["recover", "--samplings", "BG", "--covariances", "identity", "--methods", "sos1", "--train-n", "12",
            "--test-n", "16", "--d", "3", "--n-train", "20", "--n-val", "10", "--n-test", "10", "--no-progress",
            "--out", str(tmp_path)]
    assert main(args) == 0
    assert "tested at n=16" in capsys.readouterr().out
    bad = args[:6] + ["sos1,svh"] + args[7:]
    assert main(bad) == 2
    assert "cannot be tested at n = 16" in capsys.readouterr().err


MEAN = GridConfig(**{**SMALL.__dict__, "pair_sums": "mean"})


def test_pair_sums_reaches_the_svh_perm_model_and_changes_its_result(monkeypatch):
    from basis_compiler.apps.recovery import training
    from basis_compiler.apps.recovery.config import Task
    from basis_compiler.apps.recovery.grid import run_task

    built, real = [], training.build_model

    def spy(method, n, d, seed=0, **options):
        model = real(method, n, d, seed=seed, **options)
        built.append((method, model.pair_sums))
        return model

    monkeypatch.setattr(training, "build_model", spy)  # run_task imports it from training when it runs
    task = Task("BG", "identity", "svh_perm", 0)
    mean, total = run_task(MEAN, task), run_task(SMALL, task)
    assert built == [("svh_perm", "mean"), ("svh_perm", "sum")]
    assert mean["test_accuracy"] != total["test_accuracy"]
    assert mean["config"]["pair_sums"] == "mean" and "pair_sums" not in total["config"]


def test_results_of_the_two_pair_sums_are_never_mixed(tmp_path):
    run_grid(SMALL, tmp_path, progress=False)
    with pytest.raises(DataError, match=r"another configuration \(pair_sums unset there, 'mean' in this run\)"):
        run_grid(MEAN, tmp_path, progress=False)


def test_pair_sums_is_validated_and_shown():
    with pytest.raises(DataError, match=r"pair_sums must be one of sum, mean.*--pair-sums mean"):
        GridConfig(**{**SMALL.__dict__, "pair_sums": "average"}).validate()
    assert "pairs averaged" in MEAN.describe() and "pairs averaged" not in SMALL.describe()
    assert "pair_sums" not in PRESETS["paper"].fingerprint()


def test_cli_pair_sums(tmp_path, capsys):
    args = ["recover", "--samplings", "BG", "--covariances", "identity", "--methods", "sos1,svh_perm", "--n", "12",
            "--d", "3", "--n-train", "20", "--n-val", "10", "--n-test", "10", "--max-epochs", "1", "--no-progress",
            "--pair-sums", "mean", "--out", str(tmp_path)]
    assert main(args) == 0
    assert "pairs averaged" in capsys.readouterr().out
    record = json.loads((tmp_path / "results.jsonl").read_text().splitlines()[-1])
    assert record["config"]["pair_sums"] == "mean"


def test_summed_pairs_at_another_test_n_come_with_a_note(tmp_path, capsys):
    assert any("--pair-sums mean" in note for note in SMALL.notes())
    assert MEAN.notes() == [] and GridConfig(**{**SMALL.__dict__, "test_n": None}).notes() == []
    assert GridConfig(**{**SMALL.__dict__, "methods": ("sos1",)}).notes() == []
    args = ["recover", "--samplings", "BG", "--covariances", "identity", "--methods", "sos1,svh_perm", "--n", "12",
            "--test-n", "16", "--d", "3", "--n-train", "20", "--n-val", "10", "--n-test", "10", "--max-epochs", "1",
            "--no-progress", "--max-tasks", "0", "--out", str(tmp_path)]
    assert main(args) == 0
    assert "note: " in capsys.readouterr().err
