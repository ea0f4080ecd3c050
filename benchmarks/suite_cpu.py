"""Where the test suite's CPU time goes: run pytest and print the CPU seconds of every process it started, by kind.

    python benchmarks/suite_cpu.py                       # the README's test command (two workers, every test)
    python benchmarks/suite_cpu.py -n 0 tests/core       # any pytest arguments instead
    python benchmarks/suite_cpu.py --cpus 0.77           # on a slower CPU: the suite in a cgroup with 0.77 cores

On 2 cores the suite keeps both busy, so its wall time is about its CPU time / 2: it gets shorter only by doing
less. This script says what to cut. It runs `python -m pytest ARGS` with a marker in its environment, reads /proc
every SAMPLE_SECONDS, and sums the last CPU time (user + system) seen of each process that carries the marker: the
pytest processes, the `dvc` commands and their stages, the stage server, MLflow servers, queue workers (processes
that leave pytest's process tree still inherit its environment). A process that lives less than a sample is missed;
the table's total beside wall x cores says how much went unseen. Linux only (/proc). Exit code: pytest's.

`--cpus C` (first) runs the suite in a new cgroup whose CPU quota is C cores in all (root, cgroup v1 or v2): on a
2-core machine, --cpus 0.77 makes the CPU work 2.6 times as slow, what the suite meets on a slower machine, waits
and sleeps excepted. The cgroup is removed at the end.
"""
from __future__ import annotations

import contextlib
import math
import os
import secrets
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Iterator, Sequence

ROOT = Path(__file__).resolve().parents[1]
MARKER = "RNNPIPE_SUITE_CPU"
SAMPLE_SECONDS = 0.25
README_ARGS = ("-n", "2", "--dist", "loadfile", "--no-loadscope-reorder")  # scripts/test.sh's
TICKS = os.sysconf("SC_CLK_TCK")
CGROUP_ROOT = Path("/sys/fs/cgroup")
PERIOD_US = 100_000  # the quota's period: the cgroup runs at most cpus x this many microseconds in each


def kind(argv: Sequence[str]) -> str:
    """What a process is, from its command line: 'stage NAME', 'dvc SUBCOMMAND', 'pytest', 'mlflow server', ..."""
    words = list(argv)
    names = [os.path.basename(word) for word in words]
    if len(words) > 2 and words[1] == "-m":  # python -m MODULE ...: the module stands for the program
        names, words = [words[2]] + names[3:], [words[2]] + words[3:]

    def arguments(after: int, count: int) -> str:
        return " ".join([word for word in words[after + 1:] if not word.startswith("-")][:count])

    if names and names[0] == "rnnpipe.stage":
        return f"stage {arguments(0, 1)}"
    if names and names[0] == "rnnpipe.warm.server":
        return "stage server (warm stages, its forks included)"
    if names and names[0] == "rnnpipe.sweep":
        return f"sweep {arguments(0, 1)}"
    if names and names[0] in ("pytest", "py.test"):
        return "pytest"
    if any("exec(eval(sys.stdin.readline()))" in word for word in words):
        return "pytest worker (xdist)"
    for program in ("dvc", "mlflow"):
        if program in names[:2]:
            at = names.index(program)
            first = arguments(at, 1)
            return f"{program} {arguments(at, 2) if first in ('exp', 'queue', 'remote', 'stage', 'models') else first}"
    if names and names[0] == "uvicorn":
        return "mlflow server"
    if len(names) > 1 and names[0].startswith("python") and words[1].endswith(".py"):
        return f"python {os.path.relpath(words[1], ROOT) if words[1].startswith(str(ROOT)) else names[1]}"
    if any("spawn_main" in word for word in words):
        return "python multiprocessing child"
    return names[0] if names else "?"


def processes() -> Iterator[tuple[tuple[int, str], Path, float]]:
    """((pid, start time), /proc/PID, CPU seconds so far: user + system) of every process now running."""
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            path = Path(entry.path)
            try:
                stat = (path / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2:].split()
            yield (int(entry.name), fields[19]), path, (int(fields[11]) + int(fields[12])) / TICKS


def marked(path: Path, token: str) -> bool:
    try:
        return f"{MARKER}={token}".encode() in (path / "environ").read_bytes().split(b"\0")
    except OSError:
        return False


def command_line(path: Path) -> list[str]:
    try:
        return [part.decode(errors="replace") for part in (path / "cmdline").read_bytes().split(b"\0") if part]
    except OSError:
        return []


class Refused(Exception):
    pass


def own_cgroup(controller: str) -> str:
    """This process's cgroup of a cgroup v1 controller, relative to its hierarchy's root ('' at the root): a cgroup
    made inside it stays within its limits, also when this script runs inside another --cpus run. (Under cgroup v2 a
    cgroup holding processes cannot pass its cpu controller on, so there the new cgroup is made at the root.)"""
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return path.lstrip("/")
    return ""


@contextlib.contextmanager
def cpu_limited(cpus: float) -> Iterator[Path]:
    """A new cgroup whose processes get `cpus` cores in all (its cgroup.procs: write a pid there to put a process
    in it; its children follow); removed at the end. Refused (one line) where cgroups cannot be made here."""
    quota = max(1000, round(cpus * PERIOD_US))
    name = f"rnnpipe-suite-cpu-{os.getpid()}"
    v2 = (CGROUP_ROOT / "cgroup.controllers").exists()
    parent = CGROUP_ROOT if v2 else next((CGROUP_ROOT / d / own_cgroup("cpu") for d in ("cpu", "cpu,cpuacct") if
                                          (CGROUP_ROOT / d / "cpu.cfs_quota_us").exists()), None)
    if parent is None:
        raise Refused(f"--cpus needs cgroups with a cpu controller under {CGROUP_ROOT}: none found here")
    group = parent / name
    try:
        if v2 and "cpu" not in (parent / "cgroup.subtree_control").read_text().split():
            (parent / "cgroup.subtree_control").write_text("+cpu")
        group.mkdir()
        if v2:
            (group / "cpu.max").write_text(f"{quota} {PERIOD_US}")
        else:
            (group / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (group / "cpu.cfs_quota_us").write_text(str(quota))
    except OSError as exc:
        with contextlib.suppress(OSError):
            group.rmdir()
        raise Refused(f"--cpus cannot make a cgroup here ({exc.strerror}: {exc.filename}): it needs root and a "
                      "writable cgroup file system") from None
    try:
        yield group / "cgroup.procs"
    finally:
        deadline = time.monotonic() + 30  # processes of the suite still ending
        while True:
            try:
                group.rmdir()
                break
            except OSError:
                if time.monotonic() > deadline:
                    print(f"suite_cpu: {group} still holds processes; remove it with rmdir when they end",
                          file=sys.stderr)
                    break
                time.sleep(0.5)


def profile(pytest_args: Sequence[str], procs: Path | None = None) -> tuple[int, float, Counter[str], Counter[str]]:
    """Run pytest with these arguments in the repository (in the cgroup of `procs`, when given); (its exit code, wall
    seconds, CPU seconds by kind, processes by kind)."""
    token = secrets.token_hex(8)
    seen: dict[tuple[int, str], tuple[str, float]] = {}   # a marked process -> (its kind, its last CPU seconds)
    ignored: set[tuple[int, str]] = set()
    started = time.monotonic()
    enter = None if procs is None else (lambda: procs.write_text(str(os.getpid())))
    child = subprocess.Popen([sys.executable, "-m", "pytest", *pytest_args], cwd=ROOT,
                             env={**os.environ, MARKER: token}, preexec_fn=enter)
    while True:
        ended = child.poll() is not None
        for key, path, seconds in processes():
            if key in ignored:
                continue
            if key not in seen:
                if not marked(path, token):
                    ignored.add(key)
                    continue
                seen[key] = (kind(command_line(path)), 0.0)
            seen[key] = (seen[key][0], seconds)
        if ended:
            break
        time.sleep(SAMPLE_SECONDS)
    wall = time.monotonic() - started
    cpu: Counter[str] = Counter()
    count: Counter[str] = Counter()
    for name, seconds in seen.values():
        cpu[name] += seconds
        count[name] += 1
    return child.returncode, wall, cpu, count


def table(wall: float, cpu: Counter[str], count: Counter[str], cores: float) -> str:
    total = sum(cpu.values())
    lines = [f"{'CPU s':>9}  {'share':>6}  {'processes':>9}  kind"]
    for name, seconds in cpu.most_common():
        lines.append(f"{seconds:9.1f}  {seconds / total if total else 0:6.1%}  {count[name]:9d}  {name}")
    lines.append(f"{total:9.1f}  {'':6}  {sum(count.values()):9d}  all seen ({total / (wall * cores):.0%} of "
                 f"{wall:.0f} s wall x {cores:g} cores; processes shorter than {SAMPLE_SECONDS} s are not seen)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    pytest_args = list(sys.argv[1:] if argv is None else argv)
    if pytest_args in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    if not Path("/proc/self/stat").exists():
        print("error: /proc is not there: this benchmark reads Linux's process table", file=sys.stderr)
        return 2
    cores: float = len(os.sched_getaffinity(0))
    cpus = None
    if pytest_args and pytest_args[0].partition("=")[0] == "--cpus":  # --cpus C or --cpus=C, before pytest's
        _, joined, value = pytest_args[0].partition("=")
        if not joined:
            value = pytest_args[1] if len(pytest_args) > 1 else ""
        pytest_args = pytest_args[1 if joined else 2:]
        try:
            cpus = float(value)
        except ValueError:
            cpus = math.nan
        if not (math.isfinite(cpus) and 0.01 <= cpus <= cores):
            print(f"error: --cpus = {value!r} is invalid: allowed is a number of cores from 0.01 to {cores:g} "
                  "(this machine's)", file=sys.stderr)
            return 2
    args = pytest_args or list(README_ARGS)
    try:
        with contextlib.ExitStack() as stack:
            procs = None if cpus is None else stack.enter_context(cpu_limited(cpus))
            code, wall, cpu, count = profile(args, procs)
    except Refused as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    limit = "" if cpus is None else f", in a cgroup with {cpus:g} of {cores:g} cores"
    print(f"\nCPU time of the test suite's processes (python -m pytest {' '.join(args)}{limit}):")
    print(table(wall, cpu, count, cores if cpus is None else cpus))
    return code


if __name__ == "__main__":
    sys.exit(main())
