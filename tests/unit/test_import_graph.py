"""The package's layers point one way: no import cycle among jseg_ret's modules.

The graph is built from the source (ast), with every import statement — at module level and
inside function bodies — as an edge to the module it names (``from .a import b`` names ``a``,
or ``a.b`` where that is a module). The implicit import of parent packages is not an edge
(importing ``jseg_ret.ops.kernels`` runs ``jseg_ret/ops/__init__.py`` first, but that is the
package, not a dependency of the importing code)."""
import ast
import os

from tests.helpers.paths import ROOT

PACKAGE = "jseg_ret"


def modules(root=ROOT):
    """{dotted name: path} of every module of the package."""
    found = {}
    for dirpath, _, files in os.walk(os.path.join(root, PACKAGE)):
        for name in files:
            if name.endswith(".py"):
                rel = os.path.relpath(os.path.join(dirpath, name), root)[:-3].split(os.sep)
                if rel[-1] == "__init__":
                    rel = rel[:-1]
                found[".".join(rel)] = os.path.join(dirpath, name)
    return found


def imports_of(name, path, known):
    """The package modules ``name`` (at ``path``) imports anywhere in its body."""
    is_pkg = path.endswith("__init__.py")
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    out = set()

    def add(target):
        # the longest known module prefix of ``target``
        parts = target.split(".")
        while parts and ".".join(parts) not in known:
            parts.pop()
        if parts:
            out.add(".".join(parts))

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == PACKAGE or alias.name.startswith(PACKAGE + "."):
                    add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = base[:len(base) - (node.level - 1)]
                mod = ".".join(anchor + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if not (mod == PACKAGE or mod.startswith(PACKAGE + ".")):
                continue
            for alias in node.names:
                sub = f"{mod}.{alias.name}"
                add(sub if sub in known else mod)
    out.discard(name)
    return out


def find_cycle(graph):
    """One cycle (a list of modules) or None."""
    state = {}
    stack = []

    def visit(u):
        state[u] = 1
        stack.append(u)
        for v in sorted(graph.get(u, ())):
            if state.get(v) == 1:
                return stack[stack.index(v):] + [v]
            if v not in state:
                cycle = visit(v)
                if cycle:
                    return cycle
        stack.pop()
        state[u] = 2
        return None

    for u in sorted(graph):
        if u not in state:
            cycle = visit(u)
            if cycle:
                return cycle
    return None


def graph():
    known = modules()
    return {name: imports_of(name, path, known) for name, path in known.items()}


def test_the_graph_sees_imports_inside_functions(tmp_path):
    pkg = tmp_path / PACKAGE
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("from .a import f\n")
    (pkg / "sub" / "a.py").write_text("def f():\n    from ..b import g\n    return g\n")
    (pkg / "b.py").write_text("from .sub import a\n")
    known = modules(str(tmp_path))
    g = {n: imports_of(n, p, known) for n, p in known.items()}
    assert g["jseg_ret.sub.a"] == {"jseg_ret.b"}
    assert g["jseg_ret.b"] == {"jseg_ret.sub.a"}
    assert find_cycle(g) in (["jseg_ret.b", "jseg_ret.sub.a", "jseg_ret.b"],
                             ["jseg_ret.sub.a", "jseg_ret.b", "jseg_ret.sub.a"])


def test_no_import_cycle_in_the_package():
    cycle = find_cycle(graph())
    assert cycle is None, " -> ".join(cycle)


def test_the_runtime_package_does_not_import_the_analysis_tools():
    users = [n for n, deps in graph().items()
             if not n.startswith(PACKAGE + ".analysis") and any(
                 d.startswith(PACKAGE + ".analysis") for d in deps)]
    assert not users, users
