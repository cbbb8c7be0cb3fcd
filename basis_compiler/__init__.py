"""basis_compiler: equivariant tensor polynomial bases, compiled to PyTorch modules."""

from .basis import Basis as Basis
from .basis import BasisStats as BasisStats
from .basis import covariant_basis as covariant_basis
from .basis import enumerate_basis as enumerate_basis
from .basis import invariant_features as invariant_features
from .codegen.store import compile_module as compile_module
from .errors import BasisCompilerError as BasisCompilerError
from .errors import DegreeError as DegreeError
from .errors import SignatureError as SignatureError
from .symbolic.signature import Signature as Signature
from .symbolic.terms import Term as Term

__version__ = "0.1.0"

__all__ = [
    "Basis",
    "BasisCompilerError",
    "BasisStats",
    "DegreeError",
    "Signature",
    "SignatureError",
    "Term",
    "compile_module",
    "covariant_basis",
    "enumerate_basis",
    "invariant_features",
]
