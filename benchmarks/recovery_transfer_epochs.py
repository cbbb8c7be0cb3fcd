"""SVH-Perm trained at one n, followed epoch by epoch at another: a diagnostic for size transfer.

Trains SVH-Perm exactly as `basis-compiler recover --paper --train-n N --test-n M` does for one
(sampling, covariance, trial) (same data, seeds and training; `--pair-sums mean` trains the
variant whose Sᵀ Q S averages the off-diagonal pairs), and after every epoch evaluates
the current weights on the validation split at the training n and on the test split at the
test n. Writes a JSON list of epochs (and prints them). A measurement, not a test.

    PYTHONPATH=. python benchmarks/recovery_transfer_epochs.py --sampling BG --trial 1 \\
        --out benchmarks/results/recovery_paper_perm_n50/epochs_BG_identity_trial1.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from basis_compiler.apps.common import git_commit
from basis_compiler.apps.common import derive_seed
from basis_compiler.apps.recovery.config import preset
from basis_compiler.apps.recovery.data import make_datasets
from basis_compiler.apps.recovery.training import METHODS, build_model, evaluate, train
from basis_compiler.files import write_text


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sampling", default="BG", help="AR, BG, CBG or BR (default BG)")
    p.add_argument("--covariance", default="identity", help="identity, random or diagonal (default identity)")
    p.add_argument("--trial", type=int, default=1, help="trial index, as in the grid (default 1)")
    p.add_argument("--train-n", type=int, default=50, help="n of the training and validation data (default 50)")
    p.add_argument("--test-n", type=int, default=100, help="n of the test data (default 100)")
    p.add_argument("--max-epochs", type=int, default=20, help="epochs (default 20, as in the committed runs)")
    p.add_argument("--pair-sums", choices=("sum", "mean"), default="sum",
                   help="SVHPerm's pair_sums: sum (the committed runs) or mean (off-diagonal pairs averaged)")
    p.add_argument("--out", type=Path, required=True, help="JSON file to write")
    a = p.parse_args(argv)
    torch.set_num_threads(1)  # as a grid worker
    config = preset("paper", n=a.train_n, test_n=a.test_n, max_epochs=a.max_epochs,
                    covariances=(a.covariance,), methods=("svh_perm",))
    data = make_datasets(config.setting(a.sampling, a.covariance, a.trial))
    test = make_datasets(config.test_setting(a.sampling, a.covariance, a.trial)).test
    seed = derive_seed(config.seed, "model", a.sampling, a.covariance, "svh_perm", a.trial)
    torch.manual_seed(seed)
    model = build_model("svh_perm", config.n, config.d, seed=seed, pair_sums=a.pair_sums)
    epochs = []

    def record(epoch: int) -> None:
        row = {"epoch": epoch, f"val_accuracy_n{a.train_n}": evaluate(model, data.val)[1],
               f"test_accuracy_n{a.test_n}": evaluate(model, test)[1]}
        epochs.append(row)
        print(json.dumps(row), flush=True)

    record(0)
    result = train(model, data, lr=METHODS["svh_perm"].lr, max_epochs=config.max_epochs, patience=config.patience,
                   batch=config.batch, seed=seed, progress=lambda rec: record(rec.epoch))
    report = {"settings": {**vars(a), "out": str(a.out), "commit": git_commit(), "torch": torch.__version__},
              "best_epoch": result.best_epoch, "chosen_test_accuracy": evaluate(model, test)[1], "epochs": epochs}
    a.out.parent.mkdir(parents=True, exist_ok=True)
    write_text(a.out, json.dumps(report, indent=1) + "\n")
    print(f"best epoch by validation at n = {a.train_n}: {result.best_epoch}; its test accuracy at n = {a.test_n}: "
          f"{report['chosen_test_accuracy']:.4f}; wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
