"""The typed intermediate representation between planning and printing.

Operands (what a planned contraction reads) are records, not tagged tuples. The forward pass is
a list of statements whose right-hand sides are typed nodes referring to earlier values by
handle (`Value`), never by a name string: names are given only when printing, by a
`Namespace`, so no generated name can collide with a user input.

`Graph.add` shares equal nodes (common subexpressions); `live` drops what the result does not
need (dead code); `hoisted` puts the per-call constants (buffers cast to the input dtype) first.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# ---------------------------------------------------------------------------------------------
# Operands of a planned term
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InputOperand:
    """A user input (a family member when its letters start with a family letter)."""

    name: str


@dataclass(frozen=True)
class CoefficientOperand:
    """The coefficients (or weights) of term number `term`."""

    term: int


@dataclass(frozen=True)
class EpsilonOperand:
    """The Levi-Civita tensor, stored as a buffer (small d only)."""


@dataclass(frozen=True)
class Column:
    """One vector column of a determinant: an input, maybe a family member, maybe through the form."""

    input: str
    family_letter: str
    """The term's letter for this family copy, '' for a plain input."""
    form: bool
    """Whether the group's (diagonal) form is applied to the column first."""


@dataclass(frozen=True)
class DeterminantOperand:
    """Epsilon contracted with vectors: a determinant, or (free = slot) a cofactor vector."""

    columns: tuple[Column, ...]
    free: int | None


Operand = InputOperand | CoefficientOperand | EpsilonOperand | DeterminantOperand

# ---------------------------------------------------------------------------------------------
# Constants built in __init__ (buffers and the weight)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MatrixBuffer:
    """A constant matrix (the inverse form joining two free output legs), built once."""

    hint: str
    rows: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class SignBuffer:
    """The diagonal of a diagonal form, as a vector."""

    signs: tuple[int, ...]


@dataclass(frozen=True)
class EpsilonBuffer:
    """The Levi-Civita tensor at d (nonzero entries only)."""

    d: int


@dataclass(frozen=True)
class OrbitBuffer:
    """Per family term: where each index tuple J reads (covariant, polynomial) or which J
    represents each orbit (invariants), computed at construction from the term's symmetry."""

    term: int
    n: int | str
    """The family size, or its symbol when the size is given at run time (then offset, total
    and count are None: the module computes them per size, see runtime.coefficient_layout)."""
    m: int
    symmetry: tuple
    offset: int | None
    total: int | None
    count: int | None
    pick: bool
    """Invariants: one representative J per orbit; otherwise an index into the coefficients."""
    dropped: tuple[int, ...] = ()
    """Orbits (positions among all nonzero orbits) without a coefficient: they read the zero slot."""


@dataclass(frozen=True)
class ScaleBuffer:
    """1 / orbit size per coefficient (0 in the zero slot), float64, cast per call."""

    total: int | None
    zero_slot: bool
    orbits: tuple[OrbitBuffer, ...]


Buffer = MatrixBuffer | SignBuffer | EpsilonBuffer | OrbitBuffer | ScaleBuffer

# ---------------------------------------------------------------------------------------------
# Forward-pass nodes
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Value:
    """A handle to a value of the forward pass."""

    id: int


@dataclass(frozen=True)
class Input:
    name: str
    """A user input, by signature name (a keyword argument of forward)."""


@dataclass(frozen=True)
class Coefficients:
    """The coefficients argument of a covariant layer."""


@dataclass(frozen=True)
class Weight:
    """The weight parameter of a polynomial layer."""


@dataclass(frozen=True)
class DType:
    """The compute dtype: the one dtype of `sources` (by name; checked equal), or, without
    sources, of `fallback` (a polynomial layer's weight) or torch's default."""

    sources: tuple[tuple[str, Value], ...]
    fallback: Value | None = None


@dataclass(frozen=True)
class ToDType:
    """A polynomial layer's weight in the compute dtype (the result follows the inputs)."""

    x: Value
    dtype: Value


@dataclass(frozen=True)
class Cast:
    """A float buffer converted to the compute dtype (once per call)."""

    buffer: Buffer
    dtype: Value


@dataclass(frozen=True)
class BufferRef:
    """An integer index buffer, used as is."""

    buffer: Buffer


@dataclass(frozen=True)
class AppendZero:
    """Coefficients with one more slot holding 0 (read by index tuples that vanish)."""

    x: Value


@dataclass(frozen=True)
class Scaled:
    """Coefficients times 1 / orbit size (the scale buffer cast to their dtype)."""

    x: Value
    scale: Buffer


@dataclass(frozen=True)
class AppendNegated:
    x: Value
    """[x, -x] along the last axis (index tuples whose orbit flips the sign read the copy)."""


@dataclass(frozen=True)
class Slot:
    x: Value
    index: int
    """x[..., index]: the coefficient of a term without family (index: at concrete sizes)."""
    term: int
    """The term's number (its offset is looked up at run time when sizes are symbolic)."""


@dataclass(frozen=True)
class Gather:
    """A family term's coefficient tensor Q_J: one index_select, viewed as (n,) * m."""

    x: Value
    index: Buffer
    n: int | str
    """The family size, or its symbol (run-time size)."""
    m: int


@dataclass(frozen=True)
class FormSigns:
    """A diagonal form applied along one axis: multiply by its sign vector."""

    x: Value
    signs: Value
    axis: int


@dataclass(frozen=True)
class HalfSwap:
    """The symplectic form applied along one axis: a signed swap of the two halves."""

    x: Value
    axis: int


@dataclass(frozen=True)
class Broadcast:
    """x[..., index, :]: a family column placed on the term's family axes."""

    x: Value
    index: tuple[bool, ...]
    """Per family axis of the determinant: whether this column runs along it (else None)."""


@dataclass(frozen=True)
class Determinant:
    columns: tuple[Value, ...]
    free: int | None
    """det of the columns, or the cofactor vector at slot `free`."""


@dataclass(frozen=True)
class Einsum:
    """torch.einsum. Nodes compare by `key` (letters renamed by first appearance), so the same
    contraction written with other letters is shared; `equation` is how it is printed."""

    key: str
    args: tuple[Value, ...]
    equation: str = field(compare=False)


@dataclass(frozen=True)
class MatMul:
    """torch.matmul of two operands, each first brought into (..., [L], rows, cols) by views
    (layouts.arrange), the result split back into axes (`after`). Compares by `key` (the
    equation with letters renamed, and the views) like Einsum; `equation` is printed as a
    comment, its result letters in memory order."""

    key: str
    args: tuple[Value, ...]
    arrange: tuple[tuple, ...]
    """Per operand: ('unsqueeze', dim), ('movedim', src, dst), ('flatten', start, end) in order."""
    after: tuple
    """('unflatten', dim, sizes) or ('squeeze', dim) on the product, in order."""
    equation: str = field(compare=False)


@dataclass(frozen=True)
class Symmetrize:
    """Mean over permutations of the last `order` axes (signed when anti)."""

    x: Value
    order: int
    anti: bool


@dataclass(frozen=True)
class Features:
    """An invariant term's features: the value at one J per orbit (m = 0: the value itself)."""

    x: Value
    m: int
    pick: Buffer | None


@dataclass(frozen=True)
class Sum:
    values: tuple[Value, ...]


@dataclass(frozen=True)
class Concat:
    values: tuple[Value, ...]
    """Along the last axis."""


@dataclass(frozen=True)
class Zeros:
    """An empty basis: zeros shaped like `like`'s batch axes (all but its last `drop`) + `tail`."""

    like: Value | None
    """None: no input to take batch axes from (the result has none)."""
    drop: int
    tail: tuple[int, ...]
    out_channels: bool
    """Whether the tail starts with the layer's output channel count."""
    dtype: Value


@dataclass(frozen=True)
class DropChannels:
    """A polynomial layer's output without the channel axis when the layer has no channels."""

    x: Value
    order: int


@dataclass(frozen=True)
class CheckInput:
    """Statement: validate a user input's type and trailing shape."""

    x: Value
    name: str
    trailing: tuple[int, ...]
    channels: bool
    """Whether the first trailing axis is a polynomial layer's input channel axis."""


@dataclass(frozen=True)
class CheckCoefficients:
    """Statement: validate the coefficients' last axis."""

    x: Value
    count: int | None
    """None: the run-time layout's total (symbolic family sizes)."""


@dataclass(frozen=True)
class ReadSizes:
    """Statement: the run-time family sizes, read from the inputs' family axes."""

    families: tuple[tuple[str, str, Value, int], ...]
    """(input name, size symbol, input, axis)."""
    symbols: tuple[str, ...]


@dataclass(frozen=True)
class Layout:
    """Statement: the coefficient layout at the run-time sizes (cached per sizes and device)."""

    device: Value
    """A value whose device the index tensors go to."""


STATEMENTS = (CheckInput, ReadSizes, Layout, CheckCoefficients)
ATOMS = (Input, Coefficients, Weight, BufferRef)
"""Nodes printed inline where they are used (never assigned to a name)."""


def operands_of(node) -> tuple[Value, ...]:
    """The values a node reads."""
    out = []
    for v in vars(node).values():
        if isinstance(v, Value):
            out.append(v)
        elif isinstance(v, tuple):
            out.extend(x for x in v if isinstance(x, Value))
            out.extend(x for t in v if isinstance(t, tuple) for x in t if isinstance(x, Value))
    return tuple(out)


class Graph:
    """The forward pass under construction: nodes in creation order, equal nodes shared."""

    def __init__(self):
        self.nodes: list[tuple[Value, object]] = []
        self._by_node: dict[object, Value] = {}

    def add(self, node) -> Value:
        """The value of `node`: the existing one when an equal node was added before."""
        if not isinstance(node, STATEMENTS) and node in self._by_node:
            return self._by_node[node]
        value = Value(len(self.nodes))
        self.nodes.append((value, node))
        self._by_node.setdefault(node, value)
        return value

    def node(self, value: Value):
        return self.nodes[value.id][1]

    def live(self, result: Value) -> list[tuple[Value, object]]:
        """Dead-code elimination: the statements and what they and the result need, in order."""
        keep = {result.id}
        for value, node in reversed(self.nodes):
            if value.id in keep or isinstance(node, STATEMENTS):
                keep.add(value.id)
                keep.update(v.id for v in operands_of(node))
        return [(v, n) for v, n in self.nodes if v.id in keep]

    def hoisted(self, nodes: list[tuple[Value, object]]) -> list[tuple[Value, object]]:
        """Statements first (checks), then the dtype and buffer casts, then the rest, each in
        creation order: a cast is computed once per call, however many terms use it."""
        rank = {Input: 0, Coefficients: 0, Weight: 0, BufferRef: 0, CheckInput: 1, ReadSizes: 1, Layout: 1,
                CheckCoefficients: 1,
                DType: 3, Cast: 4, ToDType: 4}
        return sorted(nodes, key=lambda vn: (rank.get(type(vn[1]), 5), vn[0].id))
