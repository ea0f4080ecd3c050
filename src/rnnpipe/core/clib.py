"""The small C libraries the project compiles at setup: where they live and how they are built."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Optional, Sequence


def library_candidates(library: str) -> list[Path]:
    """Where a built library lives: the environment's own lib/ (the project's .venv), else the user's cache."""
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return [Path(sys.prefix) / "lib" / "rnnpipe" / library, cache / "rnnpipe" / library]


def build(destination: Path, source: str, flags: Sequence[str] = ("-O2",), compiler: Optional[str] = None) -> Path:
    """Compile C `source` into a shared library at `destination` (written whole or not at all)."""
    compiler = compiler or os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not compiler:
        raise RuntimeError("no C compiler found (cc or gcc; or set CC): install one, e.g. apt-get install gcc")
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        code = Path(work) / "library.c"
        code.write_text(source)
        built = Path(work) / destination.name
        try:
            done = subprocess.run([compiler, "-shared", "-fPIC", *flags, "-o", str(built), str(code)],
                                  capture_output=True, text=True)
        except OSError as exc:  # CC names a program that is missing or cannot run
            raise RuntimeError(f"the C compiler {compiler!r} cannot run ({exc.strerror})") from None
        if done.returncode != 0:
            raise RuntimeError(f"{compiler} could not build {destination.name}: "
                               f"{done.stderr.strip().splitlines()[-1:]}")
        tmp = destination.with_name(destination.name + ".tmp")
        shutil.copyfile(built, tmp)
        os.replace(tmp, destination)
    return destination


def build_in_first_writable(places: Sequence[Path], source: str, flags: Sequence[str], built: str,
                            unbuilt: str) -> int:
    """Setup's build: the library in the first of `places` it can write, and one line saying so (`built`) or why
    not (`unbuilt`, with {reason}); never a failed setup (exit code 0)."""
    for destination in places:
        try:
            path = build(destination, source, flags)
        except OSError:  # not writable (another user's Python, a read-only file system): the next place
            continue
        except RuntimeError as exc:
            print(f"setup: note: {unbuilt.format(reason=exc)}", file=sys.stderr)
            return 0
        print(f"setup: built {path}: {built}")
        return 0
    print(f"setup: note: no writable place for {places[0].name} ({', '.join(map(str, places))})", file=sys.stderr)
    return 0
