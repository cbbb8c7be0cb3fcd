"""Output folders, the manifest lock, --check, --remove and the user cache of compile_module."""

import json
import os
import pickle
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from basis_compiler.cli import main
from basis_compiler.codegen.store import check, compile_module, generate, read_manifest, remove
from basis_compiler.errors import CodegenError, OutputError

SIG = "O(3): v:1 -> 2s"


def test_output_folder_is_an_importable_package(tmp_path, monkeypatch):
    out = tmp_path / "layers"
    assert main(["generate", SIG, "--degree", "2", "--kind", "polynomial", "--name", "tiny", "--out", str(out)]) == 0
    assert (out / "__init__.py").exists() and (out / "tiny.py").exists()
    assert [m["name"] for m in read_manifest(out)["modules"]] == ["tiny"]
    monkeypatch.syspath_prepend(str(tmp_path))
    from layers.tiny import PolynomialLayer  # noqa: E402

    assert PolynomialLayer()(v=torch.randn(4, 3)).shape == (4, 3, 3)


def test_default_out_is_codegen_out_in_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["generate", SIG, "--degree", "1", "--name", "lin"]) == 0
    assert (tmp_path / "codegen_out" / "lin.py").exists()


@pytest.mark.parametrize("name", ["__init__", "manifest", "Bad", "1x", "class", "a-b", ""])
def test_bad_module_names_are_refused(tmp_path, name):
    with pytest.raises(CodegenError):
        generate(SIG, 1, "covariant", name, tmp_path)
    assert not any(tmp_path.iterdir())


def test_no_silent_overwrite_of_another_module(tmp_path):
    generate(SIG, 2, "covariant", "layer", tmp_path)
    before = (tmp_path / "layer.py").read_text()
    generate(SIG, 2, "covariant", "layer", tmp_path)  # same key: regenerating is fine
    with pytest.raises(CodegenError, match="--force"):
        generate("O(3): w:1 -> 2s", 2, "covariant", "layer", tmp_path)
    with pytest.raises(CodegenError, match="--force"):
        generate(SIG, 1, "covariant", "layer", tmp_path)
    assert (tmp_path / "layer.py").read_text() == before
    generate("O(3): w:1 -> 2s", 2, "covariant", "layer", tmp_path, force=True)
    assert read_manifest(tmp_path)["modules"][0]["signature"] == "O(3): w:1 -> 2s"


def test_a_users_file_is_not_overwritten(tmp_path):
    (tmp_path / "mine.py").write_text("x = 1\n")
    with pytest.raises(CodegenError, match="not in"):
        generate(SIG, 1, "covariant", "mine", tmp_path)
    assert (tmp_path / "mine.py").read_text() == "x = 1\n"


def test_remove(tmp_path):
    generate(SIG, 1, "covariant", "a", tmp_path)
    generate(SIG, 2, "covariant", "b", tmp_path)
    remove("a", tmp_path)
    assert not (tmp_path / "a.py").exists()
    assert [m["name"] for m in read_manifest(tmp_path)["modules"]] == ["b"]
    with pytest.raises(CodegenError, match="no module 'a'"):
        remove("a", tmp_path)
    assert check(tmp_path) == []


def test_check_reports_missing_edited_and_unlisted(tmp_path):
    generate(SIG, 1, "covariant", "a", tmp_path)
    generate(SIG, 2, "covariant", "b", tmp_path)
    (tmp_path / "a.py").unlink()
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["modules"][1]["terms"] += 1  # edited metadata, module file untouched
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    (tmp_path / "stray.py").write_text("")
    problems = check(tmp_path)
    assert any("a.py: missing file" in p for p in problems)
    assert any("b.py: manifest entry edited" in p for p in problems)
    assert any("stray.py: not in manifest.json" in p for p in problems)
    assert not any("stale" in p for p in problems)
    assert len(problems) == 3


def test_output_folder_that_is_a_file(tmp_path, capsys):
    target = tmp_path / "codegen_out"
    target.write_text("not a folder")
    with pytest.raises(OutputError, match="it is a file"):
        generate(SIG, 1, "covariant", "a", target)
    assert main(["generate", "--check", "--out", str(target)]) == 2
    assert "it is a file" in capsys.readouterr().err


_WRITER = textwrap.dedent("""
    import sys, time
    from basis_compiler.codegen.store import generate
    name, order, folder, start = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
    generate("O(3): v:1 -> 1", 1, "covariant", "warmup", folder + "_warmup")  # imports and caches done
    time.sleep(max(0.0, start - time.time()))  # then all writers go at once
    for k in range(5):
        generate(f"O(3): v:1 -> {order}", 2, "covariant", f"{name}_{k}", folder)
""")


@pytest.mark.time_limit(240)
def test_concurrent_generate_equals_serial(tmp_path):
    # writers started together used to lose manifest entries or pair a module with another's signature
    # six writers at once, three into each of two folders, five modules each
    start = time.time() + 15
    jobs = [subprocess.Popen([sys.executable, "-c", _WRITER, f"m{k}", str(k % 3), str(tmp_path / f"out{k % 2}"),
                              str(start)]) for k in range(6)]
    assert all(job.wait(timeout=200) == 0 for job in jobs)
    for folder in range(2):
        out = tmp_path / f"out{folder}"
        modules = read_manifest(out)["modules"]
        assert sorted(m["name"] for m in modules) == sorted(f"m{k}_{i}" for k in range(folder, 6, 2) for i in range(5))
        for m in modules:
            assert m["signature"] == f"O(3): v:1 -> {int(m['name'][1:].split('_')[0]) % 3}"
        assert check(out) == []


_LOADER = textwrap.dedent("""
    import pickle, sys, torch
    layer = pickle.loads(open(sys.argv[1], "rb").read())
    v = torch.arange(8.0, dtype=torch.float64).reshape(2, 4)
    coeffs = torch.ones(2, layer.n_coeffs, dtype=torch.float64)
    torch.save(layer(coeffs, v=v, w=v + 1), sys.argv[2])
""")


def test_cached_modules_pickle_across_processes(tmp_path, monkeypatch):
    monkeypatch.setenv("BASIS_COMPILER_CACHE", str(tmp_path / "cache"))
    signature = "O(4): v:1, w:1 -> 2"  # not checked in
    cls = compile_module(signature, 2, "covariant")
    assert cls.__module__.startswith("basis_compiler.codegen.generated.m_")
    assert len(list((tmp_path / "cache").glob("m_*.py"))) == 1
    assert compile_module(signature, 2, "covariant") is cls
    (tmp_path / "layer.pkl").write_bytes(pickle.dumps(cls()))
    env = dict(os.environ, BASIS_COMPILER_CACHE=str(tmp_path / "cache"))
    subprocess.run([sys.executable, "-c", _LOADER, str(tmp_path / "layer.pkl"), str(tmp_path / "y.pt")],
                   check=True, env=env, timeout=120)
    v = torch.arange(8.0, dtype=torch.float64).reshape(2, 4)
    expected = cls()(torch.ones(2, cls.n_coeffs, dtype=torch.float64), v=v, w=v + 1)
    torch.testing.assert_close(torch.load(tmp_path / "y.pt"), expected)


def test_cache_is_keyed_by_the_generators_source(tmp_path, monkeypatch):
    # a module cached by other generator code (same GENERATOR_VERSION) must not be reused
    from basis_compiler.codegen import store

    monkeypatch.setenv("BASIS_COMPILER_CACHE", str(tmp_path))
    monkeypatch.setattr(store, "_LOADED", {})
    first = compile_module("O(2): v:1, w:1 -> 0", 2, "invariants")
    monkeypatch.setattr(store, "_LOADED", {})
    monkeypatch.setattr(store, "generator_fingerprint", lambda: "edited-generator")
    second = compile_module("O(2): v:1, w:1 -> 0", 2, "invariants")
    assert first.__module__ != second.__module__
    assert len(list(tmp_path.glob("m_*.py"))) == 2
