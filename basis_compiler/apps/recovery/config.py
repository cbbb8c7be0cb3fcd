"""What a recovery grid is: its axes, data sizes and training recipe, its tasks and their seeds.

Shared by the grid runner (grid.py), the results file (results.py) and the tables (report.py);
it imports none of them, so imports flow one way: config <- results, report <- grid.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import NamedTuple

from ...errors import DataError
from ..common import derive_seed
from .data import COVARIANCES, SAMPLINGS, Setting, is_int
from .models import PAIR_SUMS

METHOD_NAMES = ("sos1", "sos2", "baseline", "svh_diag", "svh", "svh_perm")
"""Methods a grid may run: SOS-I, SOS-II (no training), the MLP baseline, SVH-Diag, SVH, and
SVH-Perm (S(n)-equivariant layers on the Gram matrix, models.SVHPerm; not in the paper)."""

SIZE_AGNOSTIC_METHODS = ("sos1", "sos2", "svh_perm")
"""Methods that run at any n (no weights tied to n), so they can be tested at another n than they
were trained at (GridConfig.test_n)."""

LEARNED_CHOICES = ("svh_diag", "svh", "svh_perm")
"""The learned methods the tables' "chosen by validation" column picks from, per setting (those
of them the grid runs; the column appears when SVH-Perm runs with another, report.choice_shown):
the paper's two and SVH-Perm, so that each kind of covariance has its own specialist among the
candidates (SVH-Diag for diagonal ones)."""

PAPER_METHODS = METHOD_NAMES[:5]
"""The paper's methods: a grid's default (add svh_perm with --methods)."""

METHOD_LABELS = {"sos1": "SOS-I", "sos2": "SOS-II", "baseline": "Baseline", "svh_diag": "SVH-Diag", "svh": "SVH",
                 "svh_perm": "SVH-Perm"}
"""Column titles of the tables."""

SAMPLING_LABELS = {
    "AR": "A/R",
    "BG": "BG",
    "CBG": "CBG",
    "BR": "BR",
    "BR_paper": "BR (paper code)",
    "KS": "k-sparse",
}
"""Row titles of the tables."""


@dataclass(frozen=True)
class GridConfig:
    """A grid of settings and methods with the shared data sizes and training recipe."""

    samplings: tuple[str, ...]
    """Ways to draw v0 (data.SAMPLINGS)."""
    covariances: tuple[str, ...]
    """Noise covariances (data.COVARIANCES)."""
    methods: tuple[str, ...] = PAPER_METHODS
    """Methods (any of METHOD_NAMES; default the paper's five)."""
    n: int = 100
    """Ambient dimension of the training and validation data."""
    d: int = 5
    """Subspace dimension."""
    eps: float = 0.25
    """Sparsity."""
    n_train: int = 5000
    """Training samples per setting."""
    n_val: int = 500
    """Validation samples (early stopping)."""
    n_test: int = 500
    """Test samples (reported accuracy)."""
    trials: int = 1
    """Independent repetitions (new data and initialization each)."""
    max_epochs: int | None = None
    """Epoch cap; None trains until early stopping."""
    patience: int = 20
    """Early stopping patience in epochs."""
    batch: int = 100
    """Minibatch size."""
    seed: int = 0
    """Base seed of every task seed."""
    test_n: int | None = None
    """Ambient dimension of the test data (None: n). Another n than the training one needs methods
    that run at any n (SIZE_AGNOSTIC_METHODS); validation stays at n, so nothing is chosen on
    test data."""
    pair_sums: str = "sum"
    """How SVH-Perm's Sᵀ Q S weighs the pairs i != j (models.SVHPerm): "sum" (the committed tables
    except the recovery_paper_perm_mean* folders), or "mean", which keeps the model's scale when it is tested at another n
    (docs/math.md, "Sizes and the pair sum")."""

    def validate(self) -> None:
        """DataError for any unusable parameter, before any work (every setting is checked)."""
        for name, values, valid in (
            ("samplings", self.samplings, SAMPLINGS),
            ("covariances", self.covariances, COVARIANCES),
            ("methods", self.methods, METHOD_NAMES),
        ):
            if not isinstance(values, tuple) or not values:
                raise DataError(f"{name} must be a non-empty tuple; valid: {', '.join(valid)}")
            bad = [v for v in values if v not in valid]
            if bad:
                raise DataError(f"unknown {name[:-1]} {bad[0]!r}; valid: {', '.join(valid)}")
            if len(set(values)) != len(values):
                raise DataError(f"{name} lists a value twice: {', '.join(values)}")
        for name in ("trials", "patience", "batch"):
            value = getattr(self, name)
            if not is_int(value) or value < 1:
                raise DataError(f"{name} must be an int >= 1, got {value!r}")
        if self.max_epochs is not None and (not is_int(self.max_epochs) or self.max_epochs < 1):
            raise DataError(f"max_epochs must be an int >= 1 or None (until early stopping), got {self.max_epochs!r}")
        if not is_int(self.seed) or self.seed < 0:
            raise DataError(f"seed must be an int >= 0, got {self.seed!r}")
        if self.pair_sums not in PAIR_SUMS:
            raise DataError(f"pair_sums must be one of {', '.join(PAIR_SUMS)}, got {self.pair_sums!r} "
                            "(e.g. --pair-sums mean)")
        if self.test_n is not None:
            if not is_int(self.test_n):
                raise DataError(f"test_n must be an int or None (the training n), got {self.test_n!r}")
            fixed = [m for m in self.methods if m not in SIZE_AGNOSTIC_METHODS]
            if self.test_n != self.n and fixed:
                which = f"methods {', '.join(fixed)} have" if len(fixed) > 1 else f"method {fixed[0]} has"
                raise DataError(f"{which} weights tied to n = {self.n} and cannot be tested "
                                f"at n = {self.test_n}; test at another n only with {', '.join(SIZE_AGNOSTIC_METHODS)}, "
                                f"e.g. --methods sos1,svh_perm --train-n 50 --test-n 100")
        for sampling in self.samplings:
            for covariance in self.covariances:
                self.setting(sampling, covariance, 0)  # Setting validates n, d, eps, sizes per sampling
                self.test_setting(sampling, covariance, 0)

    def setting(self, sampling: str, covariance: str, trial: int) -> Setting:
        """The data of one setting and trial (shared by all methods)."""
        return Setting(
            sampling, covariance, n=self.n, d=self.d, eps=self.eps, n_train=self.n_train,
            n_val=self.n_val, n_test=self.n_test, seed=derive_seed(self.seed, "data", sampling, covariance, trial),
        )

    def test_setting(self, sampling: str, covariance: str, trial: int) -> Setting:
        """The setting whose test split is the task's test data: the same seed at test_n (at n
        itself, the setting's own test split)."""
        if self.test_n is None or self.test_n == self.n:
            return self.setting(sampling, covariance, trial)
        return Setting(
            sampling, covariance, n=self.test_n, d=self.d, eps=self.eps, n_train=1, n_val=1, n_test=self.n_test,
            seed=derive_seed(self.seed, "data", sampling, covariance, trial),
        )

    def fingerprint(self) -> dict:
        """What saved results must share with this run to be reused (everything but the grid axes).
        test_n appears only when it is set and pair_sums only when it is not "sum", so results
        saved before they existed still match, and results of the two pair sums never mix."""
        keep = ("n", "d", "eps", "n_train", "n_val", "n_test", "max_epochs", "patience", "batch", "seed")
        extra = {} if self.test_n is None else {"test_n": self.test_n}
        if self.pair_sums != "sum":
            extra["pair_sums"] = self.pair_sums
        return {k: getattr(self, k) for k in keep} | extra

    def notes(self) -> list[str]:
        """Advice on a valid but risky grid, for the user to read before the work starts."""
        if "svh_perm" in self.methods and self.pair_sums == "sum" and self.test_n not in (None, self.n):
            return [f"SVH-Perm with summed pairs weighs them for n = {self.n}; tested at n = {self.test_n} it can "
                    "lose accuracy (docs/math.md, 'Sizes and the pair sum'); --pair-sums mean keeps its scale"]
        return []

    def model_options(self, method: str) -> dict:
        """Constructor options of a learned method beyond (n, d) (training.build_model)."""
        return {"pair_sums": self.pair_sums} if method == "svh_perm" else {}

    def tasks(self) -> list[Task]:
        """All tasks in table order: sampling, covariance, method, trial."""
        return [
            Task(s, c, m, t)
            for s in self.samplings
            for c in self.covariances
            for m in self.methods
            for t in range(self.trials)
        ]

    def describe(self) -> str:
        """One line with the data sizes and training recipe."""
        epochs = "until early stopping" if self.max_epochs is None else f"at most {self.max_epochs}"
        tested = "" if self.test_n is None or self.test_n == self.n else f" (trained at n={self.n}, tested at n={self.test_n})"
        return (
            f"n={self.n}{tested}, d={self.d}, eps={self.eps}, train/val/test {self.n_train}/{self.n_val}/{self.n_test}, "
            f"trials {self.trials}, epochs {epochs} (patience {self.patience}), batch {self.batch}, seed {self.seed}"
            + (", SVH-Perm with its pairs averaged" if self.pair_sums == "mean" and "svh_perm" in self.methods else "")
        )


PRESETS: dict[str, GridConfig] = {
    # About 110 s with 2 workers on a 2-core machine shared with another busy process. Shows the
    # paper's finding: with a random covariance SVH beats SOS (A/R, CBG) or comes close (BG),
    # while the non-equivariant baseline stays near chance (1/d) on the test set.
    "quick": GridConfig(
        samplings=("AR", "BG", "CBG"),
        covariances=("random", "identity"),
        n=50, d=5, eps=0.25, n_train=2000, n_val=300, n_test=500, max_epochs=60, patience=10,
    ),
    # The paper's table: n=100, d=5, eps=0.25, 5000/500/500. BR is the Bernoulli-Rademacher
    # definition with an independent sign (docs/math.md, "Sparse vector recovery"); "BR_paper"
    # reproduces the released code.
    "paper": GridConfig(
        samplings=("AR", "BG", "CBG", "BR"),
        covariances=("random", "diagonal", "identity"),
        n=100, d=5, eps=0.25, n_train=5000, n_val=500, n_test=500, max_epochs=None, patience=20,
    ),
}
"""Named grids for `basis-compiler recover --quick / --paper`."""


class Task(NamedTuple):
    """One cell of the grid and trial."""

    sampling: str
    covariance: str
    method: str
    trial: int

    @property
    def label(self) -> str:
        return f"{self.sampling}/{self.covariance}/{self.method}#{self.trial}"


def preset(name: str, **overrides) -> GridConfig:
    """PRESETS[name] with the given fields replaced (validated when the grid runs)."""
    if name not in PRESETS:
        raise DataError(f"unknown preset {name!r}; valid: {', '.join(PRESETS)}")
    unknown = set(overrides) - set(asdict(PRESETS[name]))
    if unknown:
        raise DataError(f"unknown grid field(s): {', '.join(sorted(unknown))}")
    return replace(PRESETS[name], **overrides)
