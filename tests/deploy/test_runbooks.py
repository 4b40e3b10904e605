"""The runbooks' `referral-bus` commands exist: every one in a code block parses with the real CLI parser.

A runbook read at 3 a.m. must not name a subcommand or option that was renamed. Placeholders
(`<recipient_id>`) stand for any value.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from referral_bus.settings import REPO_ROOT
from referral_cli.main import parser

RUNBOOKS = sorted((REPO_ROOT / "docs" / "runbooks").glob("*.md"))


def commands(path: Path) -> list[str]:
    """`referral-bus …` command lines inside the fenced code blocks of one runbook (comments and pipes cut)."""
    out = []
    for block in re.findall(r"```[a-z]*\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S):
        for line in block.splitlines():
            for part in re.split(r"\s(?:&&|\|)\s", line.split(" # ")[0]):
                part = part.strip()
                if part.startswith("referral-bus "):
                    out.append(part)
    return out


def test_the_runbooks_hold_commands() -> None:
    assert len(RUNBOOKS) >= 10
    assert sum(len(commands(p)) for p in RUNBOOKS) >= 12


@pytest.mark.parametrize("path", RUNBOOKS, ids=lambda p: p.name)
def test_every_referral_bus_command_in_a_runbook_parses(path: Path) -> None:
    for line in commands(path):
        argv = [re.sub(r"<[^>]+>", "x", arg) for arg in shlex.split(line)[1:]]
        try:
            parser().parse_args(argv)
        except SystemExit as exc:
            pytest.fail(f"{path.name}: `{line}` is not a valid referral-bus command (exit {exc.code})")


def test_a_wrong_option_is_caught() -> None:
    with pytest.raises(SystemExit):
        parser().parse_args(["deadletter", "replay", "--reasons", "x"])
