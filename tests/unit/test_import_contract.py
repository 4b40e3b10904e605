"""The import rule of docs/architecture.md, checked on every module's AST (lazy imports included).

- `referral_bus` (the runtime kernel) imports no other first-party package;
- `referral_domain` (the shared domain) imports itself and the kernel's pure modules (DOMAIN_MAY_IMPORT), never
  Faust or Kafka clients, a service or tooling;
- a service imports the kernel, the domain and itself, never another service or tooling;
- tooling (`referral_cli`, `referral_devstack`) imports the kernel and the services' pure logic,
  never a service's Faust shell (`app`, `handlers`); `referral_devstack` never imports `referral_cli`;
- the kernel, the domain and the services import only the standard library and runtime dependencies;
- the kernel holds only what a worker runs: each of its modules is reached from a worker's `app.py`, and from two
  workers' at least (what one worker alone runs belongs in that service's package).
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from referral_bus.settings import REPO_ROOT

FIRST_PARTY = ("referral_bus", "referral_domain", "services", "referral_cli", "referral_devstack", "bench", "tests")
SERVICES = ("intake", "routing", "notifier", "stats", "inbox", "ledger")
SHELL_MODULES = ("app", "handlers")
RUNTIME_PACKAGES = ("referral_bus", "referral_domain", "services")
# The kernel modules the domain may use: contracts, names and settings, none of which imports Faust or a Kafka client.
DOMAIN_MAY_IMPORT = ("contracts", "errors", "ids", "settings", "topics", "topic_catalog")
NOT_IN_DOMAIN = ("faust", "mode", "aiokafka", "confluent_kafka")
# Import names of the runtime dependencies in pyproject.toml (distribution name → top-level modules).
RUNTIME_MODULES = {
    "faust-streaming": {"faust", "mode"},
    "aiokafka": {"aiokafka"},
    "fastavro": {"fastavro"},
    "pydantic": {"pydantic"},
    "pydantic-settings": {"pydantic_settings"},
    "structlog": {"structlog"},
    "opentelemetry-api": {"opentelemetry"},
    "opentelemetry-sdk": {"opentelemetry"},
    "opentelemetry-exporter-otlp-proto-http": {"opentelemetry"},
    "opentelemetry-exporter-otlp-proto-grpc": {"opentelemetry"},
    "opentelemetry-exporter-prometheus": {"opentelemetry"},
    "prometheus-client": {"prometheus_client"},
    "aiohttp": {"aiohttp"},
    "idna": {"idna"},
    "aiosmtplib": {"aiosmtplib"},
    "cryptography": {"cryptography"},
    "pyyaml": {"yaml"},
    "pycountry": {"pycountry"},
    "confluent-kafka": {"confluent_kafka"},
    "uvloop": {"uvloop"},
}


def imports(path: Path, root: Path = REPO_ROOT) -> Iterator[tuple[int, str]]:
    """(line, imported module) for every import in a file under `root`, relative ones resolved."""
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            yield node.lineno, base
            for alias in node.names:  # `from services.intake import app` imports a module too
                yield node.lineno, f"{base}.{alias.name}"


def violation(importer: str, imported: str, runtime_deps: set[str]) -> str | None:
    """Why `importer` (a dotted module) may not import `imported`, or None when it may."""
    top = imported.split(".")[0]
    own = importer.split(".")[0]
    if own in RUNTIME_PACKAGES:
        if top not in FIRST_PARTY and top not in sys.stdlib_module_names and top not in runtime_deps:
            return f"{top} is not a runtime dependency (pyproject [project] dependencies)"
    if own == "referral_domain" and top in NOT_IN_DOMAIN:
        return "the shared domain imports no Faust or Kafka client"
    if top not in FIRST_PARTY or (top == own and own != "services"):
        return None
    if own == "referral_bus":
        return "the runtime kernel imports no other first-party package"
    if own == "referral_domain":
        kernel_module = imported.split(".")[1] if "." in imported else None  # `from referral_bus import x`: x
        if top == "referral_bus" and (kernel_module is None or kernel_module in DOMAIN_MAY_IMPORT):
            return None
        return f"the shared domain imports only itself and the kernel's {', '.join(DOMAIN_MAY_IMPORT)}"
    if own == "services":
        service, target = importer.split(".")[1], imported.split(".")
        if top in ("referral_bus", "referral_domain"):
            return None
        if top == "services" and (len(target) < 2 or target[1] == service):
            return None
        return "a service imports only the kernel, the domain and itself"
    if own in ("referral_cli", "referral_devstack"):
        if top == "services" and len(imported.split(".")) > 2 and imported.split(".")[2] in SHELL_MODULES:
            return "tooling imports the services' pure logic, never their Faust shell"
        if top in ("tests", "bench") or (own == "referral_devstack" and top == "referral_cli"):
            return f"{own} may not import {top}"
    return None


def runtime_modules() -> set[str]:
    """Top-level import names of the runtime dependencies; fails on a dependency missing from the map."""
    deps = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    names = set()
    for dep in deps:
        dist = dep.split("[")[0].split(">")[0].split("=")[0].split("<")[0].strip().lower()
        assert dist in RUNTIME_MODULES, f"add the import names of runtime dependency {dist} to RUNTIME_MODULES"
        names |= RUNTIME_MODULES[dist]
    return names


def violations(root: Path = REPO_ROOT) -> list[str]:
    """Every forbidden import under the five packages, as `file:line: importer -> imported (why)`."""
    deps = runtime_modules()
    found = []
    for package in (*RUNTIME_PACKAGES, "referral_cli", "referral_devstack"):
        for path in sorted((root / package).rglob("*.py")):
            importer = ".".join(path.relative_to(root).with_suffix("").parts)
            for line, imported in imports(path, root):
                why = violation(importer, imported, deps)
                if why:
                    found.append(f"{path.relative_to(root)}:{line}: {importer} -> {imported} ({why})")
    return found


# A module named by a dotted string (logging.config's `"()": "referral_bus.lograte.quiet_filter"`) is reached too.
DOTTED_KERNEL_NAME = re.compile(r"[\"'](referral_bus(?:\.\w+)+)[\"']")


def kernel_reach(root: Path = REPO_ROOT) -> dict[str, set[str]]:
    """Each kernel module → the services whose worker (`services/<x>/app.py`) reaches it through its imports."""
    modules = {}
    for package in RUNTIME_PACKAGES:
        for path in (root / package).rglob("*.py"):
            name = ".".join(path.relative_to(root).with_suffix("").parts)
            modules[name.removesuffix(".__init__")] = path
    served: dict[str, set[str]] = {name: set() for name in modules if name.startswith("referral_bus.")}
    for service in SERVICES:
        todo, reached = [f"services.{service}.app"], set()
        while todo:
            name = todo.pop()
            if name in reached or name not in modules:
                continue
            reached.add(name)
            source = modules[name].read_text(encoding="utf-8")
            named = [imported for _, imported in imports(modules[name], root)] + DOTTED_KERNEL_NAME.findall(source)
            for target in named:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                todo.append(target)
        for name in reached & served.keys():
            served[name].add(service)
    return served


def unreached_kernel_modules(root: Path = REPO_ROOT) -> list[str]:
    """Kernel modules outside the import closure of the workers (`services/<x>/app.py`): tooling's, not the kernel's."""
    return sorted(name for name, services in kernel_reach(root).items() if not services)


def single_service_kernel_modules(root: Path = REPO_ROOT) -> dict[str, str]:
    """Kernel modules that one worker alone reaches (→ that service): they belong in `services/<x>/`."""
    return {name: next(iter(services)) for name, services in kernel_reach(root).items() if len(services) == 1}


def test_every_kernel_module_is_run_by_a_worker() -> None:
    assert unreached_kernel_modules() == [], "move it to tooling (referral_cli, referral_devstack) or delete it"


def test_no_kernel_module_serves_one_service_alone() -> None:
    """Each kernel module is reached by two workers or more (directly, or through the shell every worker runs)."""
    assert single_service_kernel_modules() == {}, "move it into that service's own package"


# One synthetic tree for the checks below: forbidden imports, and a kernel module no worker reaches.
SYNTHETIC_TREE = {
    "referral_bus/status.py": "import uuid\nfrom referral_domain.agencies import Registry\n",
    "referral_domain/lifecycle.py": "from ..referral_bus import shell\nimport faust\n",
    "referral_domain/vocabulary.py": "from referral_bus import errors\nfrom referral_bus.settings import Bus\n",
    "services/intake/report.py": "from referral_domain import jurisdictions\n",
    "services/intake/app.py": "from referral_bus import shell\nfrom . import handlers\n",
    "services/routing/app.py": "from referral_bus.shell import Service\n",
    "services/intake/handlers.py": "from referral_bus.codec import Codec\n",
    "referral_bus/shell.py": "CONFIG = {'()': 'referral_bus.lograte.quiet_filter'}\n",
    "referral_bus/codec.py": "from . import compatibility\n",
    "referral_bus/registry_server.py": "from referral_bus import codec\n",
} | dict.fromkeys(("referral_bus/__init__.py", "referral_bus/compatibility.py", "referral_bus/lograte.py"), "")


@pytest.fixture
def synthetic_tree(tmp_path: Path) -> Path:
    """SYNTHETIC_TREE written under a temporary folder."""
    for name, text in SYNTHETIC_TREE.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    return tmp_path


def test_a_kernel_module_no_worker_imports_is_named(synthetic_tree: Path) -> None:
    """No app.py reaches status.py or registry_server.py; lograte is reached by name, compatibility via codec."""
    assert unreached_kernel_modules(synthetic_tree) == ["referral_bus.registry_server", "referral_bus.status"]


def test_a_kernel_module_one_worker_alone_reaches_is_named(synthetic_tree: Path) -> None:
    """Both workers run the shell (and lograte, named in it); only intake's handlers reach codec and compatibility."""
    assert single_service_kernel_modules(synthetic_tree) == {
        "referral_bus.codec": "intake",
        "referral_bus.compatibility": "intake",
    }


def test_the_tree_keeps_the_import_rule() -> None:
    assert violations() == []


def test_a_forbidden_import_in_a_tree_is_named_with_file_and_line(synthetic_tree: Path) -> None:
    found = {line.split(" (")[0] for line in violations(synthetic_tree)}
    assert found == {
        "referral_bus/status.py:2: referral_bus.status -> referral_domain.agencies",
        "referral_bus/status.py:2: referral_bus.status -> referral_domain.agencies.Registry",
        "referral_domain/lifecycle.py:1: referral_domain.lifecycle -> referral_bus.shell",
        "referral_domain/lifecycle.py:2: referral_domain.lifecycle -> faust",
    }


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("referral_bus.codec", "services.intake.accept"),
        ("referral_bus.shell", "referral_devstack.workers"),
        ("referral_bus.kafka", "httpx"),
        ("referral_bus.status", "referral_domain.agencies"),
        ("referral_domain.safeguards", "services.routing.rules"),
        ("referral_domain.directory", "referral_cli.main"),
        ("referral_domain.lifecycle", "referral_bus.shell"),
        ("referral_domain.agencies", "faust"),
        ("referral_domain.yamlfile", "httpx"),
        ("referral_domain.inboxlink", "referral_devstack.workers"),
        ("services.intake.accept", "services.routing.rules"),
        ("services.notifier.app", "referral_cli.main"),
        ("services.routing.rules", "aiosmtpd.controller"),
        ("referral_cli.commands.rules", "services.routing.app"),
        ("referral_devstack.demo", "referral_cli.main"),
    ],
)
def test_forbidden_imports_are_named(importer: str, imported: str) -> None:
    assert violation(importer, imported, runtime_modules()) is not None


@pytest.mark.parametrize(
    ("importer", "imported"),
    [
        ("services.intake.app", "referral_bus.shell"),
        ("services.notifier.app", "services.notifier.handlers"),
        ("referral_cli.commands.rules", "services.routing.rules"),
        ("referral_devstack.demo", "services.intake.accept"),
        ("referral_cli.commands.broker", "referral_devstack.broker"),
        ("referral_bus.codec", "fastavro"),
        ("services.routing.rules", "referral_domain.jurisdictions"),
        ("referral_domain.agencies", "referral_bus.topics"),
        ("referral_domain.safeguards", "pydantic"),
        ("referral_cli.ruletools.proof", "referral_domain.safeguards"),
        ("referral_devstack.agencies", "referral_domain.directory"),
    ],
)
def test_allowed_imports_pass(importer: str, imported: str) -> None:
    assert violation(importer, imported, runtime_modules()) is None
