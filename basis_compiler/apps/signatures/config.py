"""What a signatures run is: its groups, training sizes, methods, data sizes and training recipe.

Shared by the runner, the results file and the report; it imports none of them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import NamedTuple

from ...errors import DataError
from ...symbolic.signature import Signature

METHODS = ("coarse", "mlp", "equivariant")
"""coarse: the signature of the coarse path itself (no learning); mlp: a plain MLP on the flattened
coarse points; equivariant: one EquivariantNet per level on the coarse increments."""

METHOD_LABELS = {"coarse": "Coarse path", "mlp": "MLP", "equivariant": "EquivariantNet"}

MAX_DEPTH = 3
"""Level k needs EquivariantNet generators of degree k: (steps-1)^k of them, 729 at level 3 for
10 points, and (steps-1)^4 = 6561 at level 4, too many for a quick CPU run."""


@dataclass(frozen=True)
class Config:
    """The groups x sizes x methods x trials of one run, with the shared data and training recipe."""

    groups: tuple[str, ...] = ("O(3)", "O(1,3)")
    """Groups of the curves' space: O(D) acts by rotations and reflections, O(1,3) adds boosts."""
    sizes: tuple[int, ...] = (1000, 10000)
    """Training set sizes (nested: the first n curves of one training draw)."""
    methods: tuple[str, ...] = METHODS
    trials: int = 3
    """Independent repetitions (new curves, frames and initialization each)."""
    depth: int = 3
    """Signature levels 1..depth."""
    steps: int = 10
    """Coarse observation points per curve (the model's input)."""
    fine: int = 1000
    """Fine grid points whose piecewise-linear path defines the target."""
    n_val: int = 1000
    n_test: int = 1000
    epochs: int = 60
    """Epochs of Adam (cosine learning rate), the best validation epoch is kept."""
    min_steps: int = 1500
    """At least this many optimizer steps (small training sets get more epochs)."""
    batch: int = 100
    lr: float = 3e-3
    """Adam's learning rate for the plain MLP (learns the levels from scratch)."""
    equivariant_lr: float = 3e-4
    """Adam's learning rate for EquivariantNet, which starts at the coarse signature and learns a
    correction of about 1% of it: at 3e-3 the first steps scramble that start (a quick run ended
    above the coarse error at level 3), 3e-4 and 1e-4 kept improving it."""
    hidden: int = 128
    """Width of the two hidden layers of every MLP (the baseline and EquivariantNet's coefficient MLP)."""
    seed: int = 0

    def validate(self) -> None:
        """DataError for any unusable parameter, before any work."""
        for name, values, valid in (("groups", self.groups, None), ("methods", self.methods, METHODS)):
            if not isinstance(values, tuple) or not values or len(set(values)) != len(values):
                raise DataError(f"{name} must be a non-empty tuple without repeats, got {values!r}; "
                                f"e.g. {name}={('O(3)', 'O(1,3)') if valid is None else METHODS!r}")
            bad = [v for v in values if valid is not None and v not in valid]
            if bad:
                raise DataError(f"unknown method {bad[0]!r}; valid: {', '.join(METHODS)}")
        for group in self.groups:
            group_dim(group)
        if not isinstance(self.sizes, tuple) or not self.sizes or not all(_is_int(s) and s >= 1 for s in self.sizes):
            raise DataError(f"sizes must be a non-empty tuple of ints >= 1, got {self.sizes!r}; e.g. sizes=(1000, 10000)")
        for name, low in (("trials", 1), ("steps", 2), ("fine", 2), ("n_val", 1), ("n_test", 1), ("epochs", 1),
                          ("min_steps", 0), ("batch", 1), ("hidden", 1), ("seed", 0)):
            value = getattr(self, name)
            if not _is_int(value) or value < low:
                raise DataError(f"{name} must be an int >= {low}, got {value!r}; e.g. {name}={getattr(PRESETS['quick'], name)!r}")
        if not _is_int(self.depth) or not 1 <= self.depth <= MAX_DEPTH:
            raise DataError(f"depth must be an int in 1..{MAX_DEPTH}, got {self.depth!r}; e.g. depth=3")
        for name in ("lr", "equivariant_lr"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 < value < 1:
                raise DataError(f"{name} must be a number in (0, 1), got {value!r}; e.g. {name}=3e-4")

    @property
    def n_train(self) -> int:
        return max(self.sizes)

    def fingerprint(self) -> dict:
        """What saved results must share with this run to be reused (everything but the axes)."""
        keep = ("depth", "steps", "fine", "n_val", "n_test", "epochs", "min_steps", "batch", "lr", "equivariant_lr", "hidden",
                "seed")
        return {k: getattr(self, k) for k in keep} | {"n_train": self.n_train}

    def tasks(self) -> list[Task]:
        """All tasks in table order: group, size, method, trial."""
        return [Task(g, s, m, t) for g in self.groups for s in self.sizes for m in self.methods
                for t in range(self.trials)]

    def describe(self) -> str:
        return (f"curves of degree 5 in R^D, {self.steps} coarse points, target the signature (levels 1..{self.depth}) "
                f"of the {self.fine}-point path; train sizes {'/'.join(map(str, self.sizes))}, val/test "
                f"{self.n_val}/{self.n_test}, trials {self.trials}, {self.epochs} epochs (at least {self.min_steps} "
                f"steps), batch {self.batch}, lr {self.lr} (MLP) / {self.equivariant_lr} (EquivariantNet), hidden {self.hidden}x2, seed {self.seed}")


class Task(NamedTuple):
    group: str
    size: int
    method: str
    trial: int

    @property
    def label(self) -> str:
        return f"{self.group} n={self.size} {self.method}#{self.trial}"


def group_dim(group: str) -> int:
    """The dimension D of a group's space, checked by parsing the signature the models use."""
    try:
        sig = Signature.parse(f"{group}: x[2]:1 -> 1")
    except Exception as exc:  # the parser's own message says what is wrong with the text
        raise DataError(f"group {group!r} is not usable ({exc}); e.g. O(3) or O(1,3)") from None
    if sig.group.d > 6:
        raise DataError(f"group {group!r} acts on R^{sig.group.d}; the level-3 models grow like D^3, use D <= 6, e.g. O(3)")
    return sig.group.d


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


PRESETS: dict[str, Config] = {
    # a few minutes on 2 busy cores: one trial, smaller sets, fewer epochs
    "quick": Config(sizes=(300, 1000), trials=1, n_val=300, n_test=500, epochs=30, min_steps=600),
    "paper": Config(),
}


def preset(name: str, **overrides) -> Config:
    """PRESETS[name] with the given fields replaced (validated when the run starts)."""
    if name not in PRESETS:
        raise DataError(f"unknown preset {name!r}; valid: {', '.join(PRESETS)}, e.g. basis-compiler signatures --quick")
    unknown = set(overrides) - set(asdict(PRESETS[name]))
    if unknown:
        raise DataError(f"unknown signatures field(s): {', '.join(sorted(unknown))}; e.g. trials=1")
    return replace(PRESETS[name], **overrides)
