"""One exception family for the package; long help texts live here as constants."""

SIGNATURE_HELP = """\
A signature reads  GROUP: INPUT, INPUT, ... -> OUTPUT_TYPE
  GROUP   O(d) | SO(d) | O(s,t) (metric diag(+1 x s, -1 x t); O(1,3) is Lorentz) | Sp(d), d even
          | S(n) (permutations of the coordinates of R^n; a symbol n: the terms of every large n)
  INPUT   NAME:TYPE, or NAME[n]:TYPE for a family (a stack of n tensors; n an int or a symbol),
          or NAME{n}:TYPE for a set family (members exchangeable: terms like sum_i a_i a_i^T)
  TYPE    tensor order, then flags: s symmetric, a antisymmetric (order >= 2), p pseudo (O, O(s,t) only)
  (families and pseudo types are not available under S(n))
Valid examples:
  "O(3): v:1, X:2s -> 2s"     "SO(3): v:1, w:1 -> 1"     "O(3): E:1, B:1p -> 2s"
  "O(1,3): p[n]:1 -> 2s"      "Sp(4): q:1, p:1 -> 0"     "O(5): a[n]:1 -> 2s"
  "S(5): X:2 -> 2"            "S(n): X:2 -> 2\""""

DEGREE_HELP = (
    "degree is an int >= 0 (all terms of total degree <= degree) or a tuple with one int >= 0 "
    "per input, in signature order (an exact multidegree); e.g. enumerate_basis('O(3): v:1, X:2s -> 2s', 3) "
    "or enumerate_basis('O(3): v:1, X:2s -> 2s', (1, 2))"
)


class BasisCompilerError(Exception):
    """Base class of every error this package raises on purpose."""


class SignatureError(BasisCompilerError, ValueError):
    """A signature's text or fields are invalid."""

    def __init__(self, problem: str):
        super().__init__(f"{problem}\n{SIGNATURE_HELP}")
        self.problem = problem


class DegreeError(BasisCompilerError, ValueError):
    """A degree or multidegree does not fit the signature."""

    def __init__(self, problem: str):
        super().__init__(f"{problem}\n{DEGREE_HELP}")
        self.problem = problem


class UnsupportedError(BasisCompilerError, NotImplementedError):
    """A valid request that this version cannot serve (says what would work instead)."""


class CodegenError(BasisCompilerError):
    """Code generation or the --check of generated modules failed."""


class DataError(BasisCompilerError, ValueError):
    """Bad parameters for data generation, training or experiments."""


class OutputError(BasisCompilerError, OSError):
    """An output path cannot be written, or a format is unknown."""
