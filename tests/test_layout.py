"""The package's imports flow one way through the pipeline stages, without circles, and no
module imports another module's private (underscore) names. Imports inside functions count."""

import ast
from pathlib import Path

import networkx as nx

import basis_compiler

ROOT = Path(basis_compiler.__file__).parent

# Stages in pipeline order: a module may import its own stage and lower ones, never a higher one.
STAGES = [
    ("errors", "files"),
    ("symbolic",),
    ("exact", "inspect", "testing"),
    ("basis",),
    ("codegen",),
    ("nn",),
    ("apps",),
    ("cli", "__main__", "__init__"),
]
LEVEL = {name: level for level, names in enumerate(STAGES) for name in names}


def _modules():
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(("basis_compiler",) + tuple(p for p in parts if p != "__init__"))
        is_package = path.name == "__init__.py"
        yield name, is_package, ast.parse(path.read_text(encoding="utf-8"))


def _imports(name: str, is_package: bool, tree: ast.AST):
    """(imported module, imported names) for every import of the package itself."""
    package = name if is_package else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.startswith("basis_compiler"):
                yield target, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("basis_compiler"):
                    yield alias.name, []


def _stage(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _graph():
    modules = {name: (pkg, tree) for name, pkg, tree in _modules()}
    graph = nx.DiGraph()
    for name, (pkg, tree) in modules.items():
        graph.add_node(name)
        for target, names in _imports(name, pkg, tree):
            for imported in names or [None]:
                # `from .x import y` may import the submodule x.y
                full = f"{target}.{imported}" if imported and f"{target}.{imported}" in modules else target
                graph.add_edge(name, full, names=names)
    return graph, modules


def test_every_module_belongs_to_a_stage():
    for name, _, _ in _modules():
        assert _stage(name) in LEVEL, f"{name}: put it in a stage folder (tests/test_layout.py STAGES)"


def test_no_import_circles():
    graph, _ = _graph()
    # a package __init__ re-exporting its own modules is not a circle of the design
    edges = [(a, b) for a, b in graph.edges if not b.startswith(a + ".") and not a.startswith(b + ".")]
    cycles = list(nx.simple_cycles(nx.DiGraph(edges)))
    assert not cycles, f"import circles: {cycles}"


def test_imports_never_go_up_the_pipeline():
    graph, _ = _graph()
    upward = [(a, b) for a, b in graph.edges if LEVEL[_stage(b)] > LEVEL[_stage(a)]]
    assert not upward, "lower stages import higher ones: " + ", ".join(f"{a} -> {b}" for a, b in upward)


def test_symbolic_stage_imports_no_torch():
    for name, _, tree in _modules():
        if _stage(name) in ("symbolic", "exact"):
            for node in ast.walk(tree):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                assert not any(n == "torch" or n.startswith("torch.") for n in names), f"{name} imports torch"


def test_no_private_names_imported_across_modules():
    graph, _ = _graph()
    bad = [(a, b, n) for a, b, data in graph.edges(data=True) for n in data["names"]
           if n.startswith("_") and not n.startswith("__")]
    assert not bad, "private names imported: " + ", ".join(f"{a} imports {n} from {b}" for a, b, n in bad)
