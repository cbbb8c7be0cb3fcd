"""Command line: `basis-compiler show | generate | demo` (each subcommand's --help says more)."""

from __future__ import annotations

import argparse
import sys

from .basis import enumerate_basis
from .errors import BasisCompilerError, CodegenError

DEFAULT_SIGNATURE = "O(5): a[n]:1 -> 2s"
DEFAULT_DEGREE = 2


def _degree(text: str):
    """'3' -> 3, '1,2' -> (1, 2)."""
    parts = [p.strip() for p in text.split(",")]
    try:
        values = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"degree {text!r}: an int like 3 or a multidegree like 1,2") from None
    return values[0] if len(values) == 1 and "," not in text else tuple(values)


def print_table(basis, out=sys.stdout) -> None:
    """Term number, multidegree, kind, einsum and operands, then a summary line."""
    rows = [("#", "multideg", "kind", "einsum", "operands")]
    for i, term in enumerate(basis):
        kind = "invariant" if term.is_invariant else "covariant" if term.is_covariant else "mixed"
        rows.append((str(i), str(term.multidegree), kind, term.einsum.subscripts, " ".join(term.operand_names)))
    widths = [max(len(r[c]) for r in rows) for c in range(4)]
    for r in rows:
        print("  ".join(r[c].ljust(widths[c]) for c in range(4)) + "  " + r[4], file=out)
    s = basis.stats
    print(
        f"{basis.signature}, degree {basis.degree}: raw matchings {s.raw_matchings}, candidates {s.candidates}, "
        f"orbits {s.orbits}, zero dropped {s.zero_dropped}, independent at d={basis.signature.d}: "
        f"{s.independent} ({s.seconds:.2f} s)",
        file=out,
    )


def _cmd_show(args) -> int:
    print_table(enumerate_basis(args.signature, args.degree))
    return 0


def _cmd_demo(args) -> int:
    print(f"Compiling the paper's signature {DEFAULT_SIGNATURE!r}, degree {DEFAULT_DEGREE} (shapes over a family):")
    print_table(enumerate_basis(DEFAULT_SIGNATURE, DEFAULT_DEGREE))
    print()
    concrete = "O(5): a[4]:1 -> 2s"
    print(f"The same with n = 4 concrete vectors ({concrete!r}), pruned exactly at d = 5:")
    print_table(enumerate_basis(concrete, DEFAULT_DEGREE))
    return 0


def _cmd_generate(args) -> int:
    from .codegen import check, generate, read_manifest

    if args.refresh:
        for m in read_manifest()["modules"]:
            degree = tuple(m["degree"]) if isinstance(m["degree"], list) else m["degree"]
            print(f"wrote {generate(m['signature'], degree, m['kind'], m['name'])}")
        return 0
    if args.check:
        stale = check()
        for path in stale:
            print(f"stale generated module: {path} (regenerate with the command in its header)", file=sys.stderr)
        if not stale:
            print("all generated modules in codegen_out/ are current")
        return 1 if stale else 0
    if not (args.signature and args.name):
        raise CodegenError(
            "generate needs SIGNATURE and --name, e.g. basis-compiler generate 'O(5): a[100]:1 -> 2s' "
            "--degree 2 --kind covariant --name svh_covariant (or --check)"
        )
    path = generate(args.signature, args.degree, args.kind, args.name)
    print(f"wrote {path}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="basis-compiler", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    show = sub.add_parser("show", help="print the basis of a signature as a table")
    show.add_argument("signature", help="e.g. 'O(3): v:1, X:2s -> 2s'")
    show.add_argument("--degree", type=_degree, default=2, help="total degree (3) or multidegree (1,2)")
    show.set_defaults(run=_cmd_show)
    gen = sub.add_parser("generate", help="write a PyTorch module into codegen_out/, or --check them all")
    gen.add_argument("signature", nargs="?", help="with concrete family sizes, e.g. 'O(5): a[100]:1 -> 2s'")
    gen.add_argument("--degree", type=_degree, default=2, help="total degree (2) or multidegree (1,2)")
    gen.add_argument("--kind", choices=("polynomial", "covariant", "invariants"), default="covariant")
    gen.add_argument("--name", help="module name: codegen_out/NAME.py")
    gen.add_argument("--check", action="store_true", help="regenerate every checked-in module and compare")
    gen.add_argument("--refresh", action="store_true", help="regenerate every module listed in the manifest")
    gen.set_defaults(run=_cmd_generate)
    demo = sub.add_parser("demo", help="the README's main job on a built-in default")
    demo.set_defaults(run=_cmd_demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; errors of the package exit 2 with their message."""
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except BasisCompilerError as exc:
        print(f"basis-compiler: error: {exc}", file=sys.stderr)
        return 2
