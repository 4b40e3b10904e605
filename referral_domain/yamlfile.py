"""YAML files for integrators: load with line numbers, report every error as `file:line: where: problem`."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from referral_bus.errors import RulesError

Path_ = tuple[str | int, ...]
M = TypeVar("M", bound=BaseModel)


def _lines(node: yaml.Node, path: Path_, out: dict[Path_, int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            out[(*path, key.value)] = key.start_mark.line + 1
            _lines(value, (*path, key.value), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _lines(item, (*path, i), out)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (a silent overwrite hides typos)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first on line {seen[key]})", key_node.start_mark
            )
        seen[key] = key_node.start_mark.line + 1
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


class YamlDocument:
    """A parsed YAML file and the line of every node, for error messages."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise RulesError([f"{path}: cannot read: {exc.strerror}"]) from exc
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
            self.data: Any = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - SafeLoader subclass
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f":{mark.line + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or str(exc)
            raise RulesError([f"{path}{line}: invalid YAML: {problem}"]) from exc
        self.lines: dict[Path_, int] = {}
        if node is not None:
            _lines(node, (), self.lines)

    def line(self, path: Path_) -> int:
        """Line of the deepest known node on `path`."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return 1

    def where(self, path: Path_, *, label: str = "") -> str:
        """`file:line` plus a label such as `rule child-mandatory`."""
        return f"{self.path}:{self.line(path)}" + (f": {label}" if label else "")

    def errors(self, exc: ValidationError, base: Path_, label: str) -> list[str]:
        """Pydantic errors as `file:line: label: field: problem`, without input values."""
        out = []
        for err in exc.errors(include_url=False, include_input=False, include_context=False):
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
            field = ".".join(str(p) for p in loc) or "(whole entry)"
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown key (not allowed here; a typo?)"
            out.append(f"{self.where(base + loc, label=label)}: {field}: {msg}")
        return out

    def top_level_list(self, key: str, what: str, *, also: tuple[str, ...] = ()) -> list[str]:
        """Require a mapping holding the list `key:` (else RulesError naming `what`).

        Other top-level keys than `version` and `also` are returned as problems.
        """
        if not isinstance(self.data, dict) or not isinstance(self.data.get(key), list):
            raise RulesError([f"{self.where(())}: {what} needs a top-level '{key}:' list"])
        known = {"version", key, *also}
        return [f"{self.where((k,))}: unknown top-level key {k!r}" for k in sorted(set(self.data) - known)]

    def entries(self, key: str, model: type[M], noun: str, problems: list[str]) -> list[tuple[int, M]]:
        """Each entry of the top-level list `key` validated as `model`, with its index; problems appended."""
        out: list[tuple[int, M]] = []
        for i, entry in enumerate(self.data[key]):
            label = f"{noun} {entry.get('id', f'#{i + 1}')}" if isinstance(entry, dict) else f"{noun} #{i + 1}"
            try:
                out.append((i, model.model_validate(entry)))
            except ValidationError as exc:
                problems.extend(self.errors(exc, (key, i), label))
        return out
