"""The results file of `recover`: whole lines, bad lines moved aside with a message, never a crash."""

import json
import math

import pytest

from basis_compiler.apps.recovery.config import GridConfig
from basis_compiler.apps.recovery.grid import run_grid
from basis_compiler.apps.results_file import REJECTED_FILE, RESULTS_FILE
from basis_compiler.files import append_line

# SOS methods need no training: four tasks in well under a second.
SOS = GridConfig(samplings=("BG", "AR"), covariances=("identity",), methods=("sos1", "sos2"),
                 n=12, d=3, eps=0.25, n_train=40, n_val=20, n_test=20, seed=5)


def _strip(records):
    return {(r["sampling"], r["covariance"], r["method"], r["trial"]): {k: v for k, v in r.items() if k != "seconds"}
            for r in records}


def _side(out):
    path = out / REJECTED_FILE
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(scope="module")
def complete(tmp_path_factory):
    out = tmp_path_factory.mktemp("complete")
    run = run_grid(SOS, out, progress=False, write_reports=False)
    return run, (out / RESULTS_FILE).read_text()


def test_a_record_without_its_final_newline_is_kept_and_the_next_one_starts_a_new_line(complete, tmp_path):
    run, text = complete
    lines = text.splitlines()
    (tmp_path / RESULTS_FILE).write_text("\n".join(lines[:2]))  # intact records, no final newline
    assert run_grid(SOS, tmp_path, max_tasks=1, progress=False, write_reports=False).ran == 1
    saved = (tmp_path / RESULTS_FILE).read_text()
    assert saved.endswith("\n") and len(saved.splitlines()) == 3
    assert [json.loads(line) for line in saved.splitlines()[:2]] == [json.loads(line) for line in lines[:2]]
    again = run_grid(SOS, tmp_path, progress=False, write_reports=False)
    assert (again.reused, again.ran) == (3, 1)
    assert _strip(again.records) == _strip(run.records) and _side(tmp_path) == []


def _garbage(record):
    return json.dumps(record)[:45]


def _wrong_type(record):
    return json.dumps({**record, "trial": str(record["trial"])})


def _missing_field(record):
    return json.dumps({k: v for k, v in record.items() if k != "epochs"})


def _nan_accuracy(record):
    return json.dumps({**record, "test_accuracy": math.nan})  # json writes NaN, which json.loads accepts


@pytest.mark.parametrize(
    "corrupt, reason",
    [
        (_garbage, "not JSON"),
        (_wrong_type, "field 'trial' must be an int >= 0"),
        (_missing_field, "missing field 'epochs'"),
        (_nan_accuracy, "field 'test_accuracy' must be a finite number"),
        (lambda r: "[1, 2]", "not a JSON object"),
    ],
    ids=["garbage", "wrong-type", "missing-field", "nan-accuracy", "not-an-object"],
)
def test_a_bad_line_is_moved_aside_reported_and_its_task_rerun(complete, tmp_path, capsys, corrupt, reason):
    run, text = complete
    lines = text.splitlines()
    bad = corrupt(json.loads(lines[1]))
    (tmp_path / RESULTS_FILE).write_text("\n".join([lines[0], bad] + lines[2:]) + "\n")
    resumed = run_grid(SOS, tmp_path, progress=False, write_reports=True)
    assert (resumed.reused, resumed.ran) == (3, 1)
    assert _strip(resumed.records) == _strip(run.records)
    err = capsys.readouterr().err
    assert f"{RESULTS_FILE} line 2 skipped: {reason}" in err and REJECTED_FILE in err
    [entry] = _side(tmp_path)
    assert entry["line"] == 2 and entry["text"] == bad and reason in entry["reason"]
    saved = [json.loads(line) for line in (tmp_path / RESULTS_FILE).read_text().splitlines()]
    assert _strip(saved) == _strip(run.records)
    # Nothing left to reject; a later bad line is appended to the side file, never overwriting it.
    assert run_grid(SOS, tmp_path, progress=False, write_reports=False).ran == 0
    assert capsys.readouterr().err == ""
    with open(tmp_path / RESULTS_FILE, "a") as fh:
        fh.write("{oops\n")
    assert run_grid(SOS, tmp_path, progress=False, write_reports=False).ran == 0
    assert [e["text"] for e in _side(tmp_path)] == [bad, "{oops"]
    assert "line 5 skipped: not JSON" in capsys.readouterr().err


def test_bytes_that_are_not_utf8_and_a_repeated_task_are_moved_aside(complete, tmp_path, capsys):
    run, text = complete
    lines = text.encode().splitlines()
    (tmp_path / RESULTS_FILE).write_bytes(b"\n".join([lines[0], b"\xff\xfe\x00\x00", lines[1], lines[0]] + lines[2:]))
    resumed = run_grid(SOS, tmp_path, progress=False, write_reports=False)
    assert (resumed.reused, resumed.ran) == (4, 0)
    err = capsys.readouterr().err
    assert "line 2 skipped: not UTF-8" in err and "line 4 skipped: task BG/identity/sos1#0 repeats line 1" in err
    assert [e["line"] for e in _side(tmp_path)] == [2, 4]
    assert len((tmp_path / RESULTS_FILE).read_text().splitlines()) == 4


def test_append_line_adds_a_missing_newline_and_syncs(tmp_path, monkeypatch):
    import basis_compiler.files as files

    synced = []
    real_fsync = files.os.fsync
    monkeypatch.setattr(files.os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    path = tmp_path / "sub" / "log.jsonl"
    append_line(path, '{"a": 1}', parents=True)
    path.write_text(path.read_text() + '{"b": 2}')  # someone stopped before the newline
    append_line(path, '{"c": 3}')
    assert path.read_text() == '{"a": 1}\n{"b": 2}\n{"c": 3}\n'
    assert len(synced) >= 2  # every append reached the disk before returning
