"""SVH-Perm across sizes: train at one n, test at other n (its parameters do not depend on n).

A measurement, not a test. Prints its settings, torch version and git commit, and writes
benchmarks/results/recovery_perm_sizes.json. Identity covariance, quick-preset sizes, one trial;
SOS-I at each test n for comparison.

    .venv/bin/python benchmarks/recovery_perm_sizes.py --sampling BG --train-n 50 --test-n 30,50,100 --max-epochs 15
"""

import argparse
import json
import subprocess
import time
from pathlib import Path

import torch

from basis_compiler.apps.recovery.data import Setting, make_datasets
from basis_compiler.apps.recovery.spectral import SOSMethod
from basis_compiler.apps.recovery.training import METHODS, build_model, evaluate, train


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sampling", default="BG")
    p.add_argument("--covariance", default="identity")
    p.add_argument("--train-n", type=int, default=50)
    p.add_argument("--test-n", default="30,50,100")
    p.add_argument("--max-epochs", type=int, default=15)
    p.add_argument("--out", default="benchmarks/results/recovery_perm_sizes.json")
    a = p.parse_args()
    torch.set_num_threads(1)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"torch {torch.__version__}, commit {commit}, {vars(a)}")
    kw = dict(d=5, eps=0.25, n_train=2000, n_val=300, n_test=500, seed=0)
    data = make_datasets(Setting(a.sampling, a.covariance, n=a.train_n, **kw))
    model = build_model("svh_perm", a.train_n, 5, seed=0)
    start = time.perf_counter()
    result = train(model, data, lr=METHODS["svh_perm"].lr, max_epochs=a.max_epochs, patience=10)
    seconds = time.perf_counter() - start
    rows = []
    for n in [int(x) for x in a.test_n.split(",")]:
        test = make_datasets(Setting(a.sampling, a.covariance, n=n, **dict(kw, seed=1))).test
        rows.append({"test_n": n, "svh_perm": evaluate(model, test)[1], "sos1": evaluate(SOSMethod("I"), test)[1]})
        print(rows[-1])
    record = {"settings": vars(a), "torch": torch.__version__, "commit": commit, "train_seconds": seconds,
              "epochs": result.epochs, "train_accuracy": result.train_acc, "rows": rows}
    Path(a.out).write_text(json.dumps(record, indent=2) + "\n")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
