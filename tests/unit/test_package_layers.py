"""jseg_ret's parts are layered one way, and no package import hides in a function body.

``LAYERS`` says what each top-level part of the package builds on; a part may import the parts
it builds on and, through them, everything below. CONTRIBUTING.md ("Layering") shows the same
table, and a test keeps the two equal. The module graph comes from test_import_graph (every
import statement, from the source); an edge between two parts must follow the table. Imports of
the package sit at module level, where a reader sees what a module depends on.
"""
import ast
import os
import re

from tests.unit.test_import_graph import PACKAGE, ROOT, find_cycle, imports_of, modules

CONTRIBUTING = os.path.join(ROOT, "CONTRIBUTING.md")

# part -> the parts it builds on directly. PACKAGE is the package root (jseg_ret/__init__.py).
LAYERS = {
    "version": (),
    "runtime": (),
    "fast_path": (),
    "registry": (),
    "utils": ("runtime", "fast_path"),
    "config": ("utils",),
    "ops": ("fast_path",),
    "bricks": ("ops", "registry"),
    "models": ("bricks",),
    "datasets": ("registry", "utils"),
    "evaluation": ("datasets",),
    "interop": ("utils", "version"),
    "engine": ("config", "models", "evaluation", "interop"),
    "parity": ("engine",),
    "apis": ("engine",),
    "analysis": ("bricks", "utils"),
    PACKAGE: ("runtime", "version", "config", "models"),
}


def part(module):
    """``jseg_ret.ops.kernels`` -> ``ops``; the package root is ``jseg_ret``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def below(layers):
    """{part: every part under it}: what it builds on, directly or through those."""
    out = {}

    def walk(name):
        if name not in out:
            out[name] = set()
            for dep in layers[name]:
                out[name] |= {dep} | walk(dep)
        return out[name]

    for name in layers:
        walk(name)
    return out


def package_graph(root=None):
    known = modules(root) if root else modules()
    return {name: imports_of(name, path, known) for name, path in known.items()}


def layer_violations(graph, layers):
    """``importer -> imported`` for every edge between two parts that is not downward."""
    allowed = below(layers)
    return sorted(f"{name} -> {dep}" for name, deps in graph.items() for dep in deps
                  if part(dep) != part(name) and part(dep) not in allowed[part(name)])


def is_package_import(node):
    if isinstance(node, ast.ImportFrom):
        module = node.module or ""
        return node.level > 0 or module == PACKAGE or module.startswith(PACKAGE + ".")
    if isinstance(node, ast.Import):
        return any(a.name == PACKAGE or a.name.startswith(PACKAGE + ".") for a in node.names)
    return False


def function_local_imports(path):
    """``path:line: statement`` for each import of the package inside a function body."""
    with open(path, encoding="utf-8") as f:
        source = f.read()
    found = set()
    for fn in ast.walk(ast.parse(source, path)):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            found |= {f"{path}:{node.lineno}: {ast.get_source_segment(source, node)}"
                      for node in ast.walk(fn) if is_package_import(node)}
    return sorted(found)


def test_the_layers_are_an_order():
    graph = {name: set(deps) for name, deps in LAYERS.items()}
    undeclared = {dep for deps in graph.values() for dep in deps} - set(graph)
    assert not undeclared, f"LAYERS builds on parts it does not declare: {sorted(undeclared)}"
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle)


def test_every_part_of_the_package_has_a_layer():
    parts = {part(name) for name in modules()}
    assert parts == set(LAYERS), ("add new parts to LAYERS (and CONTRIBUTING.md), remove gone "
                                  f"ones: new {sorted(parts - set(LAYERS))}, "
                                  f"gone {sorted(set(LAYERS) - parts)}")


def contributing_layers(path=CONTRIBUTING):
    """The table of CONTRIBUTING.md's "Layering" section as {part: set of parts it builds on}."""
    with open(path, encoding="utf-8") as f:
        section = f.read().split("## Layering", 1)[1].split("\n## ", 1)[0]
    table = {}
    for row in re.findall(r"^\|(.*)\|$", section, re.M)[2:]:  # after the header and |---|
        parts, builds_on = row.split("|")[:2]
        names = [PACKAGE] if "package root" in parts else re.findall(r"`(\w+)`", parts)
        for name in names:
            table[name] = set(re.findall(r"`(\w+)`", builds_on))
    return table


def test_contributing_md_shows_the_same_layers():
    assert contributing_layers() == {name: set(deps) for name, deps in LAYERS.items()}


def test_imports_between_parts_point_down_the_layers():
    violations = layer_violations(package_graph(), LAYERS)
    assert not violations, "upward imports (see LAYERS):\n" + "\n".join(violations)


def test_no_package_import_inside_a_function():
    hidden = [hit for path in modules().values() for hit in function_local_imports(path)]
    assert not hidden, "move these imports to module level:\n" + "\n".join(hidden)


def test_the_checks_see_a_planted_upward_edge_and_a_hidden_import(tmp_path):
    pkg = tmp_path / PACKAGE
    for sub in ("low", "high"):
        (pkg / sub).mkdir(parents=True)
        (pkg / sub / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "high" / "a.py").write_text("from ..low import b\n")
    (pkg / "low" / "b.py").write_text("import os\n\n\ndef f():\n    from ..high import a\n"
                                      "    return a, os\n")
    layers = {"low": (), "high": ("low",), PACKAGE: ()}
    graph = package_graph(str(tmp_path))
    assert layer_violations(graph, layers) == ["jseg_ret.low.b -> jseg_ret.high.a"]
    assert layer_violations(graph, {"low": ("high",), "high": (), PACKAGE: ()}) == [
        "jseg_ret.high.a -> jseg_ret.low.b"]
    path = str(pkg / "low" / "b.py")
    assert function_local_imports(path) == [f"{path}:5: from ..high import a"]
    assert function_local_imports(str(pkg / "high" / "a.py")) == []
