"""The house rules of docs/architecture.md, checked on the source: layers, no import cycles, no peeking.

Every import inside ``greentts`` counts, also one inside a function (a lazy import is still a
dependency). A package or top-level module may import only itself and the layers listed before it
in the ``layers`` block of docs/architecture.md.
"""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "greentts"


def _modules() -> dict[str, Path]:
    out = {}
    for p in SRC.rglob("*.py"):
        parts = p.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = p
    return out


MODULES = _modules()


def _imports(name: str) -> set[str]:
    """The greentts modules ``name`` imports (``from .x import y`` counts ``.x.y`` if it is a module)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                full = f"{target}.{alias.name}"
                out.add(full if full in MODULES else target)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m in MODULES and m != name}


GRAPH = {name: _imports(name) for name in MODULES}


def _unit(module: str) -> str:
    """The layer unit of a module: its top-level package or module below greentts ("greentts" itself)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "greentts"


def _layers() -> list[str]:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    block = re.search(r"```layers\n(.*?)```", text, re.S)
    assert block, "docs/architecture.md has no ```layers block"
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.split("#")[0].strip()]


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(v: str) -> list[str] | None:
        state[v] = 1
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if state.get(w) == 1:
                return stack[stack.index(w):] + [w]
            if w not in state and (found := visit(w)):
                return found
        stack.pop()
        state[v] = 2
        return None

    for v in sorted(graph):
        if v not in state and (found := visit(v)):
            return found
    return None


def test_no_import_cycle_between_files():
    assert _cycle(GRAPH) is None, " -> ".join(_cycle(GRAPH) or [])


def test_no_import_cycle_between_packages():
    units: dict[str, set[str]] = {}
    for a, deps in GRAPH.items():
        units.setdefault(_unit(a), set()).update(_unit(d) for d in deps if _unit(d) != _unit(a))
    assert _cycle(units) is None, " -> ".join(_cycle(units) or [])


def test_every_import_goes_down_the_layers_of_docs_architecture():
    layers = _layers()
    rank = {unit: i for i, unit in enumerate(layers)}
    assert set(rank) == {_unit(m) for m in MODULES}, "every package and top-level module has a layer"
    upward = sorted(f"{a} imports {d} ({_unit(d)} is above {_unit(a)})" for a, deps in GRAPH.items() for d in deps
                    if rank[_unit(d)] > rank[_unit(a)])
    assert upward == []


def test_nothing_outside_the_core_touches_private_attributes_of_an_engine():
    engine_names = re.compile(r"^(engine|eng|_engine|local|_local|core)$")
    found = []
    for name, path in MODULES.items():
        if _unit(name) in ("core", "engine"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")):
                continue
            owner = node.value
            owner_name = owner.id if isinstance(owner, ast.Name) else owner.attr if isinstance(owner, ast.Attribute) else ""
            if engine_names.match(owner_name):
                found.append(f"{name}:{node.lineno} {owner_name}.{node.attr}")
    assert found == []


def test_the_model_rate_is_declared_by_the_models_not_repeated():
    """24000 as a number appears only where a model declares its rate (Kokoro, hibari, CAM++'s inputs)
    and in the table of rates each audio format accepts; everything else asks the model or the engine."""
    allowed = {"greentts.models.kokoro", "greentts.models.hibari", "greentts.clone.campplus", "greentts.runtime.audio"}
    found = [f"{name}:{node.lineno}" for name, path in MODULES.items() if name not in allowed
             for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
             if isinstance(node, ast.Constant) and type(node.value) is int and node.value == 24000]
    assert found == []


def test_the_engine_implements_the_client_protocol_with_the_same_signatures():
    import inspect

    from greentts import Engine
    from greentts.serving.client import EngineClient

    members = [n for n, v in vars(EngineClient).items() if callable(v) and not n.startswith("_")]
    assert len(members) >= 15
    for name in members:
        want = inspect.signature(getattr(EngineClient, name))
        have = inspect.signature(getattr(Engine, name))
        assert list(want.parameters) == list(have.parameters), name


def test_front_ends_type_their_engine_as_the_client_protocol():
    """Modules above the core take an ``EngineClient``, not ``Any``, not the concrete ``Engine``."""
    loose = []
    for name, path in MODULES.items():
        if _unit(name) not in ("jobs", "server", "serving"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.arg) and node.arg == "engine" and node.annotation is not None:
                if ast.unparse(node.annotation) not in ("EngineClient", "EngineClient | None"):
                    loose.append(f"{name}:{node.lineno} engine: {ast.unparse(node.annotation)}")
    assert loose == []


def test_files_and_functions_stay_small():
    """A newcomer reads a module in one sitting: no file over 400 lines (engine.py: 350), no function over 60."""
    big = [f"{name}: {n} lines" for name, path in MODULES.items()
           if (n := len(path.read_text(encoding="utf-8").splitlines())) > (350 if name == "greentts.engine" else 400)]
    long = [f"{name}.{node.name}: {node.end_lineno - node.lineno + 1} lines" for name, path in MODULES.items()
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 60]
    assert big == [] and long == []


def test_files_are_replaced_atomically_by_one_helper():
    """Temporary file + fsync + rename lives in greentts.runtime.files only; every writer uses it."""
    found = [f"{name}:{node.lineno} {ast.unparse(node)}" for name, path in MODULES.items()
             if name != "greentts.runtime.files"
             for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
             if isinstance(node, ast.Attribute) and node.attr in ("mkstemp", "replace", "rename")
             and isinstance(node.value, ast.Name) and node.value.id in ("os", "tempfile")]
    assert found == []
