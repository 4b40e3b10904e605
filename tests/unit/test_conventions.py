"""The tree's conventions, checked on every module (docs/architecture.md):

- every `type: ignore[...]` and `noqa: ...` carries its reason;
- no setting is read from `os.environ` outside the settings modules and settings classes (passing the
  environment on to a process, or setting a variable, is fine);
- a test module imports no other test module: shared helpers live in `tests/support/`.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path

import pytest

from referral_bus.settings import REPO_ROOT

SUPPORT = "tests.support"
SETTINGS_MODULES = ("referral_bus/settings.py", "referral_devstack/settings.py")
TYPE_IGNORE = re.compile(r"type:\s*ignore")
TYPE_IGNORE_WITH_REASON = re.compile(r"type: ignore\[[\w\-, ]+\]  # \S")
NOQA = re.compile(r"noqa", re.IGNORECASE)
NOQA_WITH_REASON = re.compile(r"noqa: [A-Z]+[0-9]+(,[A-Z]+[0-9]+)* - \S")


def modules(root: Path = REPO_ROOT) -> Iterator[Path]:
    """Every Python file of each top-level package (a folder with `__init__.py`: the code, bench, the tests)."""
    for package in sorted(p.parent for p in root.glob("*/__init__.py")):
        yield from sorted(package.rglob("*.py"))


def unexplained_suppressions(source: str) -> list[tuple[int, str]]:
    """(line, comment) for each `type: ignore` or `noqa` comment without a reason after it."""
    found = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type != tokenize.COMMENT:
            continue
        text = tok.string
        if TYPE_IGNORE.search(text) and not TYPE_IGNORE_WITH_REASON.search(text):
            found.append((tok.start[0], text))
        elif NOQA.search(text) and not NOQA_WITH_REASON.search(text):
            found.append((tok.start[0], text))
    return found


def _is_environ(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "environ" and isinstance(node.value, ast.Name)


def _settings_class(node: ast.ClassDef) -> bool:
    return any(isinstance(b, ast.Name | ast.Attribute) and ast.unparse(b).endswith("Settings") for b in node.bases)


def environ_reads(source: str) -> list[int]:
    """Lines that read one variable of the environment (`os.environ.get`, `os.environ[...]`, `in os.environ`,
    `os.getenv`) outside a settings class."""
    tree = ast.parse(source)
    inside_settings = {
        id(n) for c in ast.walk(tree) if isinstance(c, ast.ClassDef) and _settings_class(c) for n in ast.walk(c)
    }
    lines = []
    for node in ast.walk(tree):
        if id(node) in inside_settings:
            continue
        getter = isinstance(node, ast.Attribute) and (
            (node.attr == "get" and _is_environ(node.value)) or node.attr == "getenv"
        )
        indexed = isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and _is_environ(node.value)
        tested = (
            isinstance(node, ast.Compare)
            and any(isinstance(op, ast.In | ast.NotIn) for op in node.ops)
            and any(_is_environ(c) for c in node.comparators)
        )
        if getter or indexed or tested:
            lines.append(getattr(node, "lineno", 0))
    return sorted(set(lines))


def other_test_imports(source: str, own: str) -> list[tuple[int, str]]:
    """(line, module) for each import of another test module (anything under tests/ but tests/support/)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found += [(node.lineno, n) for n in names if n.startswith("tests.") and not n.startswith(SUPPORT) and n != own]
    return found


def test_every_suppression_carries_its_reason() -> None:
    found = [
        f"{path.relative_to(REPO_ROOT)}:{line}: {text}"
        for path in modules()
        for line, text in unexplained_suppressions(path.read_text(encoding="utf-8"))
    ]
    assert found == [], "give each its reason: `# type: ignore[code]  # why` or `# noqa: CODE - why`"


def test_settings_are_read_only_by_settings_classes() -> None:
    found = [
        f"{path.relative_to(REPO_ROOT)}:{line}"
        for path in modules()
        if str(path.relative_to(REPO_ROOT)) not in SETTINGS_MODULES
        for line in environ_reads(path.read_text(encoding="utf-8"))
    ]
    assert found == [], "read settings through a pydantic-settings class (referral_bus/settings.py and the like)"


def test_no_test_module_imports_another() -> None:
    found = []
    for path in sorted((REPO_ROOT / "tests").rglob("*.py")):
        rel = path.relative_to(REPO_ROOT)
        if rel.parts[1] == "support":
            continue
        own = ".".join(rel.with_suffix("").parts)
        found += [f"{rel}:{line}: {name}" for line, name in other_test_imports(path.read_text(encoding="utf-8"), own)]
    assert found == [], "move what tests share into tests/support/"


@pytest.mark.parametrize(
    "line",
    [
        "x = f()  # type: ignore",
        "x = f()  # type: ignore[arg-type]",
        "x = f()  # noqa",
        "x = f()  # noqa: BLE001",
        "x = f()  # noqa: BLE001 because",
    ],
)
def test_a_suppression_without_reason_is_named(line: str) -> None:
    assert unexplained_suppressions(line + "\n") == [(1, line.split("  ", 1)[1])]


@pytest.mark.parametrize(
    "line",
    [
        "x = f()  # type: ignore[arg-type]  # stand-ins",
        "x = f()  # noqa: BLE001,S110 - closing a client that never connected",
        's = "# type: ignore"',
    ],
)
def test_a_suppression_with_its_reason_passes(line: str) -> None:
    assert unexplained_suppressions(line + "\n") == []


@pytest.mark.parametrize(
    "source",
    [
        "import os\nX = os.environ.get('X')\n",
        "import os\nX = os.environ['X']\n",
        "import os\nX = 'X' in os.environ\n",
        "import os\nX = os.getenv('X')\n",
        "import os\nclass Helper:\n    x = os.environ.get('X')\n",
    ],
)
def test_an_environment_read_is_named(source: str) -> None:
    assert environ_reads(source) != []


@pytest.mark.parametrize(
    "source",
    [
        "import os\nenv = {**os.environ, 'X': '1'}\n",
        "import os\nos.environ['X'] = '1'\n",
        "import os\nclean = {k: v for k, v in os.environ.items() if k != 'X'}\n",
        "import os\nclass Secrets(BaseSettings):\n    def get(self):\n        return os.environ.get('X')\n",
    ],
)
def test_passing_or_setting_the_environment_passes(source: str) -> None:
    assert environ_reads(source) == []


def test_a_test_module_importing_another_is_named() -> None:
    source = "from tests.unit.referral_bus.test_logging import run_python\nfrom tests.support.polling import wait_for\n"
    assert other_test_imports(source, "tests.unit.referral_bus.test_summary") == [
        (1, "tests.unit.referral_bus.test_logging")
    ]
