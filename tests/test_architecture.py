"""The layout holds: which packages may import what, and no import cycles.

Checked on the source (AST) and, for what a package pulls in transitively, by importing it in a
fresh interpreter and looking at ``sys.modules``.
"""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BOT = ROOT / "bot"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in BOT.rglob("*.py")}


def top_level_imports(path: Path) -> set[str]:
    """Modules imported at module level (not inside functions), resolved to dotted names."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = set()
    for node in ast.parse(path.read_text("utf-8")).body:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")
                parent = parent[: len(parent) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if sub in MODULES else base)
    return found


def all_imports(path: Path) -> set[str]:
    """Every module named by any import statement in the file, at any depth."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_only_the_wechat_package_imports_wechatpy():
    offenders = [name for name, path in MODULES.items()
                 if not name.startswith("bot.wechat")
                 and any(m.split(".")[0] == "wechatpy" for m in all_imports(path))]
    assert offenders == []


def test_no_import_cycles_between_modules():
    graph = {name: {m for m in top_level_imports(path) if m in MODULES and m != name}
             for name, path in MODULES.items()}
    cycles, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert cycles == []


def loaded_after_importing(code: str) -> set[str]:
    out = subprocess.run([sys.executable, "-c", code + "\nimport sys, json\n"
                          "print(json.dumps(sorted(sys.modules)))"],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.splitlines()[-1]))


@pytest.mark.parametrize("forbidden", ["flask", "sqlite3", "sqlite_utils", "wechatpy"])
def test_the_answering_package_needs_no_web_framework_database_or_wechatpy(forbidden):
    answering = sorted(n for n in MODULES if n.startswith("bot.answering."))
    loaded = loaded_after_importing("\n".join(f"import {n}" for n in answering))
    assert forbidden not in loaded


def test_the_scheduler_runs_without_flask():
    loaded = loaded_after_importing("import scheduler")
    assert "flask" not in loaded and "bot.pushing.pusher" in loaded


def test_the_checks_above_can_fail():
    """The cycle finder and the import reader see what they should on a known case."""
    assert "bot.storage.db" in top_level_imports(BOT / "storage" / "library.py")
    assert "flask" in loaded_after_importing("import bot.web.api")
