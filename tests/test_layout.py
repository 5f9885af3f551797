"""The layout is the data flow, and the documents draw the same picture as the folders.

`lint-imports` (pyproject.toml) keeps the import direction; these tests keep the sizes and the
pictures: the README's "How data flows" names every stage package, docs/engine.md's layout
lists every module, and no room grows past what a newcomer can read.
"""

from __future__ import annotations

import ast
import re

from engine.core.schemas import PROJECT_ROOT

PACKAGES = ("engine", "api", "admin_ui", "web", "billing")
MAX_MODULE_LINES = 800
MAX_MODULES_DIRECTLY_IN_ENGINE = 12
MAX_FUNCTION_LINES = 80
# A longer function says why in its docstring with one of these words.
LONG_REASON = re.compile(r"\b(long|longer)\b", re.IGNORECASE)


def modules() -> list[str]:
    return sorted(
        path.relative_to(PROJECT_ROOT).as_posix()
        for package in PACKAGES
        for path in (PROJECT_ROOT / package).rglob("*.py")
    )


def section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start : end if end != -1 else len(text)]


def test_at_most_twelve_modules_stay_directly_in_engine():
    direct = sorted(p.name for p in (PROJECT_ROOT / "engine").glob("*.py"))
    assert len(direct) <= MAX_MODULES_DIRECTLY_IN_ENGINE, direct


def test_no_module_is_longer_than_800_lines():
    long = {
        path: lines
        for path in modules()
        if (lines := len((PROJECT_ROOT / path).read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert long == {}


def test_a_function_over_80_lines_says_why_in_its_docstring():
    unexplained = []
    for path in modules():
        tree = ast.parse((PROJECT_ROOT / path).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                reason = ast.get_docstring(node) or ""
                if length > MAX_FUNCTION_LINES and not LONG_REASON.search(reason):
                    unexplained.append(f"{path}:{node.lineno} {node.name} ({length} lines)")
    assert unexplained == []


def test_the_readme_draws_every_stage_package_of_the_engine():
    picture = section((PROJECT_ROOT / "README.md").read_text(), "## How data flows")
    stages = sorted(
        p.name for p in (PROJECT_ROOT / "engine").iterdir() if (p / "__init__.py").exists()
    )
    drawn = set(re.findall(r"engine/(\w+)/", picture)) | set(re.findall(r"\b(\w+)/ ", picture))
    assert [stage for stage in stages if stage not in drawn] == []
    for door in ("web/", "api/", "admin_ui/", "billing/"):
        assert door in picture


def test_docs_engine_lists_every_module_and_nothing_that_is_gone():
    layout = section((PROJECT_ROOT / "docs" / "engine.md").read_text(), "## Layout")
    listed = set(re.findall(r"`((?:engine|api|admin_ui|web|billing)/[\w/]+\.py)`", layout))
    present = {path for path in modules() if not path.endswith("__init__.py")}
    assert sorted(present - listed) == [], "modules docs/engine.md#layout does not list"
    assert sorted(listed - present) == [], "modules docs/engine.md#layout lists but are gone"
