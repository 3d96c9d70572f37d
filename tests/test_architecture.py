"""The architecture stays readable: tinymtp's folders are layers that import only downwards
(the model core imports nothing above it), the modules import each other without a cycle, nothing
hides an import below the top of a module, docs/architecture.md names every module, and no file or
function grows past what a learner can read in one sitting (400 lines a file, 60 lines a function,
in tinymtp/ and app/)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "tinymtp"
MAX_FILE_LINES, MAX_FUNCTION_LINES = 400, 60
# The layers, lowest first: a module may import from its own folder and the folders before it.
# (docs/architecture.md draws the same order.) Decoding sits below training because distillation
# decodes the model's own text; files sits above training because a checkpoint stores what
# training made (its optimizer state included).
LAYERS = ("core", "data", "decoding", "training", "files", "analysis", "viz", "experiments", "exercises", "cli")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_package(path: Path) -> bool:
    return path.name == "__init__.py"


def imported_modules(path: Path, known: set) -> set:
    """Every tinymtp module `path` imports, at module level or inside functions."""
    here = module_name(path)
    package = here if is_package(path) else here.rsplit(".", 1)[0]
    found = set()
    for node in runtime_nodes(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            names = [source] + [f"{source}.{a.name}" for a in node.names]
        else:
            continue
        found |= {n for n in names if n in known and n != here}
    return found


def runtime_nodes(tree: ast.AST):
    """Every node that runs: all of them but what sits under `if TYPE_CHECKING:` (type hints only)."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from (n for child in node.orelse for n in [child, *runtime_nodes(child)])
            continue
        yield node
        yield from runtime_nodes(node)


def import_graph() -> dict:
    files = sorted(PACKAGE.rglob("*.py"))
    known = {module_name(p) for p in files}
    return {module_name(p): imported_modules(p, known) for p in files}


def find_cycle(graph: dict) -> list | None:
    """A cycle of imports as a list of modules, or None (depth-first search with colours)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_cycle_finder_finds_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_tinymtp_imports_have_no_cycle():
    graph = import_graph()
    assert {"tinymtp.decoding.decode", "tinymtp.viz.style", "tinymtp.analysis.speedup"} <= set(graph)
    assert "tinymtp.decoding.speculative" in graph["tinymtp.decoding.decode"]  # the graph sees real edges
    # a package's __init__ re-exporting its own submodules is not a cycle of the code that runs
    # them; only count edges from a module to a package it does not belong to
    graph = {m: {d for d in deps if not (m.startswith(d + ".") and d in graph)} for m, deps in graph.items()}
    assert find_cycle(graph) is None


def layer_of(module: str) -> str | None:
    """The layer folder a tinymtp module lives in (None: the package's own __init__ and __main__)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in LAYERS) else None


def upward_imports(graph: dict) -> list:
    """Every import from a lower layer into a higher one, as 'module -> imported module'."""
    rank = {name: i for i, name in enumerate(LAYERS)}
    return [f"{m} -> {d}" for m, deps in sorted(graph.items()) for d in sorted(deps)
            if layer_of(m) in rank and layer_of(d) in rank and rank[layer_of(d)] > rank[layer_of(m)]]


def test_every_module_lives_in_a_layer_folder():
    loose = [m for m in import_graph() if m.count(".") == 1 and layer_of(m) is None
             and m not in ("tinymtp.__main__",)]
    assert loose == []
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and p.name != "__pycache__"} == set(LAYERS)


def test_layers_import_only_downwards_functions_included():
    graph = import_graph()
    assert upward_imports(graph) == []
    # the checker sees an upward import, also one inside a function (a lazy import is still a dependency)
    broken = {**graph, "tinymtp.core.model": graph["tinymtp.core.model"] | {"tinymtp.decoding.decode"}}
    assert upward_imports(broken) == ["tinymtp.core.model -> tinymtp.decoding.decode"]
    cli_lazy = imported_modules(PACKAGE / "cli" / "main.py", set(graph))
    assert "tinymtp.training.train" in cli_lazy  # imported inside cmd_train, and seen


def test_the_model_core_imports_nothing_above_it_when_loaded():
    """Importing the model loads no decoding, analysis, viz, experiments or cli module."""
    code = ("import sys, tinymtp.core.model; "
            "print(sorted(m for m in sys.modules if m.startswith('tinymtp.') and not m.startswith('tinymtp.core')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


def folder_blocks(doc: str) -> dict:
    """docs/architecture.md's layout block: folder name -> the text of its lines (up to the next folder)."""
    block = doc[doc.index("```\ntinymtp/") : doc.index("```", doc.index("```\ntinymtp/") + 3)]
    blocks, current = {}, "tinymtp"
    for line in block.splitlines()[1:]:
        name = line.split()[0] if line.strip() else ""
        if line.startswith("  ") and not line.startswith("    ") and name.endswith("/"):
            current = name[:-1]
        elif not line.startswith(" ") and name.endswith("/"):
            current = "tinymtp" if name == "tinymtp/" else None  # app/, notebooks/ ...: outside the package
        blocks.setdefault(current, "")
        blocks[current] += line + "\n"
    return blocks


def test_docs_architecture_names_every_module():
    """Every module of tinymtp/ is named under its own folder in docs/architecture.md's layout."""
    blocks = folder_blocks((ROOT / "docs" / "architecture.md").read_text())
    missing = []
    for path in sorted(PACKAGE.rglob("*.py")):
        folder = path.parent.name
        if path.name == "__init__.py" and folder != "tinymtp":
            continue
        if path.name not in blocks.get(folder, ""):
            missing.append(str(path.relative_to(PACKAGE)))
    assert missing == []
    # the check can fail: a module listed under another folder is missing from its own
    assert "model.py" in blocks["core"] and "model.py" not in blocks["decoding"]


def test_no_import_is_hidden_below_the_top_of_a_module():
    """Imports sit at the top of a module (E402, checked by ruff on the code itself) and nobody
    silences that rule in tinymtp/: an import placed below code is a dependency a reader misses."""
    offenders = [str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*.py") if "noqa: E402" in p.read_text()]
    assert offenders == []
    ruff = subprocess.run([sys.executable, "-m", "ruff", "check", "--select", "E402", "--output-format", "concise",
                           str(PACKAGE)], capture_output=True, text=True, cwd=ROOT)
    assert ruff.returncode == 0, ruff.stdout


def long_functions(path: Path) -> list:
    tree = ast.parse(path.read_text())
    return [(node.name, node.end_lineno - node.lineno + 1) for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
            and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]


def test_files_and_functions_stay_readable():
    files = sorted(PACKAGE.rglob("*.py")) + sorted((ROOT / "app").rglob("*.py"))
    too_long = {str(p.relative_to(ROOT)): n for p in files if (n := p.read_text().count("\n")) > MAX_FILE_LINES}
    functions = {str(p.relative_to(ROOT)): fs for p in files if (fs := long_functions(p))}
    assert too_long == {}, f"files over {MAX_FILE_LINES} lines"
    assert functions == {}, f"functions over {MAX_FUNCTION_LINES} lines"


def test_one_measure_decoding():
    defined = [str(p.relative_to(ROOT)) for p in PACKAGE.rglob("*.py")
               if any(isinstance(n, ast.FunctionDef) and n.name == "measure_decoding"
                      for n in ast.parse(p.read_text()).body)]
    assert defined == ["tinymtp/analysis/speedup.py"]
