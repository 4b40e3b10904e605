"""py-spy profiles of running workers (sampled from outside, no code change), and their hot spots."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def available() -> str | None:
    """Path of the py-spy binary beside this interpreter or on PATH, or None."""
    import sys

    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


# Only samples of the thread holding the GIL: py-spy's default counts every thread in state R, and on a busy
# machine most of those are threads waiting for a core after a wake-up (a socket write to the broker, an epoll
# return): 17.7 % "StreamWriter.write" and 10-35 % "EpollSelector.select" that perf shows as 1-2 % CPU
# (bench/results/sock.md). Kernel time with the GIL released (system calls, 7-9 %) is not in these samples.
SAMPLING = ("--nonblocking", "--gil")


def record_command(binary: str, pid: int, out: Path, rate: int, seconds: float | None = None) -> list[str]:
    """The `py-spy record` command line: raw collapsed stacks of `pid` into `out`, GIL holders only."""
    duration = ["-d", str(int(seconds))] if seconds is not None else []
    return [binary, "record", "-p", str(pid), *duration, "-r", str(rate), *SAMPLING, "-f", "raw", "-o", str(out)]


def start(pids: dict[str, int], outdir: Path, seconds: float, rate: int = 50) -> dict[str, subprocess.Popen[bytes]]:
    """Start one `py-spy record` per worker (raw collapsed stacks, non-blocking sampling of the GIL's holder)."""
    binary = available()
    if binary is None:
        return {}
    outdir.mkdir(parents=True, exist_ok=True)
    return {
        name: subprocess.Popen(
            record_command(binary, pid, outdir / f"{name}.txt", rate, seconds),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, pid in pids.items()
    }


def start_profile(pid: int, profile: Path | None, rate: int = 100) -> subprocess.Popen[bytes] | None:
    """py-spy of `pid` into `profile` until `stop_profile` (a drain's `--profile`); None without a file or py-spy."""
    if profile is None or (binary := available()) is None:
        return None
    profile.parent.mkdir(parents=True, exist_ok=True)
    cmd = record_command(binary, pid, profile, rate)
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_profile(spy: subprocess.Popen[bytes] | None) -> None:
    """Stop py-spy as Ctrl-C does (it writes its stacks, then exits) and wait for it."""
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        spy.wait(60)


# where a frame's file starts to name its module: below site-packages, the standard library or this tree
SITE_MARKERS = ("site-packages/", "python3.11/", "python3.12/", f"{Path(__file__).resolve().parents[1]}/")


def short_file(frame: str) -> str:
    """The frame's file below site-packages, the standard library or this tree, e.g. `aiokafka/consumer/fetcher.py`."""
    m = FRAME.match(frame.strip())
    file = m.group("file") if m else ""
    for marker in SITE_MARKERS:
        file = file.rsplit(marker, 1)[-1]
    return file


def _short(frame: str) -> str:
    m = FRAME.match(frame.strip())
    return f"{m.group('func')} ({short_file(frame)})" if m else frame.strip()


def hot_spots(path: Path, top: int = 8) -> dict[str, Any]:
    """Top functions by own (self) samples and, for our code, by inclusive samples."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_short(f) for f in stack.split(";") if f]
        if not frames:
            continue
        own[frames[-1]] += n
        for f in set(frames):
            if (
                "(referral_bus/" in f
                or "(referral_domain/" in f
                or "(services/" in f
                or "(bench/" in f
                or "(structlog/" in f
                or "(fastavro/" in f
                or "(pydantic" in f
                or "(httpx/" in f
                or "(opentelemetry/" in f
            ):
                inclusive[f] += n

    def pct(c: Counter[str]) -> list[dict[str, Any]]:
        return [{"frame": f, "share": round(n / total, 3)} for f, n in c.most_common(top)] if total else []

    return {"samples": total, "self": pct(own), "inclusive_selected": pct(inclusive)}
