"""The README says only true things: every path, stage, params key, command and flag it names exists, and its quick
read-only commands work when pasted.

Commands that train, serve or change state are not run here: their programs, subcommands and flags are checked
against the real argument parsers of DVC and MLflow and the project's own modules and scripts.
"""
from __future__ import annotations

import argparse
import fnmatch
import importlib.util
import json
import re
import shlex
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BIN = Path(sys.executable).parent
OWN_DOCS = [README, ROOT / "CHANGELOG.md", ROOT / "CONTRIBUTING.md", ROOT / "docs" / "reproducibility.md",
            ROOT / "docs" / "benchmarks.md", ROOT / "docs" / "troubleshooting.md", ROOT / "docs" / "mlflow.md"]
# Paths a reader makes or a tool creates; they are not in a fresh clone.
MADE_BY_THE_READER = {".venv", ".venv/bin/activate", "mlflow.db", ".dvc/cache", "dvc_plots/index.html",
                      "texts/onegin.txt", "texts/pushkin"}
EXTENSIONS = (".py", ".sh", ".md", ".json", ".yaml", ".yml", ".csv", ".txt", ".pt", ".png", ".lock", ".ok")
SHELL_WORDS = {"source", "export", "until", "do", "done", "sleep", "kill", "curl", "for", "cd"}


def text() -> str:
    return README.read_text(encoding="utf-8")


@lru_cache(maxsize=None)
def pipeline() -> dict:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["stages"]


@lru_cache(maxsize=None)
def params() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))


def declared_outputs() -> list[str]:
    found = []
    for stage in pipeline().values():
        for kind in ("outs", "metrics", "plots"):
            for entry in stage.get(kind, []):
                found.append(next(iter(entry)) if isinstance(entry, dict) else entry)
    return found


def is_params_key(dotted: str) -> bool:
    node = params()
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def path_problem(path: str) -> str | None:
    """None when the path exists in the repository, is declared by dvc.yaml, or is made by the reader."""
    path = path.rstrip("/").removeprefix("./")
    if path in MADE_BY_THE_READER or (ROOT / path).exists() or (ROOT / path).is_symlink():
        return None
    outputs = declared_outputs()
    if any(out == path or out.startswith(path + "/") or fnmatch.fnmatch(out, path) for out in outputs):
        return None
    return f"{path}: not in the repository and no output of dvc.yaml"


def code_blocks(kind: str) -> list[str]:
    """The fenced blocks of one kind ("" for plain ones), read fence by fence."""
    blocks, current, current_kind = [], None, None
    for line in text().splitlines(keepends=True):
        if line.startswith("```"):
            if current is None:
                current, current_kind = [], line[3:].strip()
            else:
                if current_kind == kind:
                    blocks.append("".join(current))
                current = None
        elif current is not None:
            current.append(line)
    return blocks


def inline_code() -> list[str]:
    prose = re.sub(r"```.*?```", "", text(), flags=re.S)
    return re.findall(r"`([^`\n]+)`", prose)


def commands(block: str) -> list[list[str]]:
    """The simple commands of a bash block: continuation lines joined, comments dropped, split at ; && | &."""
    found = []
    for line in block.replace("\\\n", " ").splitlines():
        line = re.sub(r"\s+#\s.*$", "", line).strip()
        for part in re.split(r"\s*(?:&&|;|\|)\s*|\s+&(?:\s+|$)", line):
            words = shlex.split(part) if part.strip() else []
            while words and words[0] in {"do", "then"}:
                words = words[1:]
            if words:
                found.append(words)
    return found


def readme_commands() -> list[list[str]]:
    found = [words for block in code_blocks("bash") for words in commands(block)]
    starts = ("dvc ", "python ", "bash ", "mlflow ", "sudo ")
    found += [shlex.split(code) for code in inline_code() if code.startswith(starts) and "..." not in code]
    return found


# -- the checkers, one per program -------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def dvc_parser() -> argparse.ArgumentParser:
    from dvc.cli.parser import get_main_parser

    return get_main_parser()


def subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices.get(name)
    return None


def options(parser: argparse.ArgumentParser) -> set[str]:
    return {option for action in parser._actions for option in action.option_strings}


def check_dvc(words: list[str]) -> list[str]:
    parser, rest = dvc_parser(), words[1:]
    while rest and not rest[0].startswith("-") and subparser(parser, rest[0]) is not None:
        parser, rest = subparser(parser, rest[0]), rest[1:]
    problems = []
    allowed = options(parser)
    for i, word in enumerate(rest):
        if word.startswith("-") and word.split("=")[0] not in allowed:
            problems.append(f"{' '.join(words)}: dvc has no option {word} here")
        if i and rest[i - 1] in {"-S", "--set-param"}:
            key = word.split("=", 1)[0]
            if not is_params_key(key):
                problems.append(f"{' '.join(words)}: {key} is not a key of params.yaml")
        if i and rest[i - 1] in {"-s", "--single-item"} or (parser.prog.endswith("repro") and not word.startswith("-")
                                                             and "/" not in word):
            if word not in pipeline() and not word.startswith("-"):
                problems.append(f"{' '.join(words)}: {word} is not a stage of dvc.yaml")
        regex = i and rest[i - 1] in {"--drop", "--keep"}  # a column pattern, not a path
        if "/" in word and "=" not in word and not word.startswith(("-", "'")) and not regex and path_problem(word):
            problems.append(f"{' '.join(words)}: {path_problem(word)}")
    return problems


def check_mlflow(words: list[str]) -> list[str]:
    import click
    from mlflow.cli import cli

    command, rest = cli, words[1:]
    with click.Context(cli) as context:
        while rest and isinstance(command, click.Group) and not rest[0].startswith("-"):
            found = command.get_command(context, rest[0])
            if found is None:
                return [f"{' '.join(words)}: mlflow has no command {rest[0]}"]
            command, rest = found, rest[1:]
    allowed = {option for param in command.params for option in getattr(param, "opts", [])}
    return [f"{' '.join(words)}: mlflow has no option {word} here"
            for word in rest if word.startswith("-") and word not in allowed]


def module_source(module: str) -> str:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin, f"python -m {module}: no such module"
    origin = Path(spec.origin)
    files = sorted(origin.parent.glob("*.py")) if origin.name in {"__init__.py", "__main__.py"} else [origin]
    return "\n".join(file.read_text(encoding="utf-8") for file in files)


def check_words_in(source: str, words: list[str], rest: list[str]) -> list[str]:
    """Every option and subcommand word the command passes must be one the program's source knows (a choice in
    its parser, a `case` branch, or its usage line)."""
    program = Path(words[1]).name if words[0] == "bash" else words[-len(rest) - 1]
    problems = []
    for i, word in enumerate(rest):
        if "/" in word or word.startswith("'"):
            if path_problem(word) and not word.startswith("-"):
                problems.append(f"{' '.join(words)}: {path_problem(word)}")
        elif word.startswith("-"):
            if word.split("=")[0] not in source:
                problems.append(f"{' '.join(words)}: no option {word}")
        elif i == 0 and re.fullmatch(r"[a-z][a-z-]*", word) and not (
                any(known in source for known in (f'"{word}"', f"'{word}'", f"  {word})"))
                or re.search(rf"{re.escape(program)} {re.escape(word)}\b", source)):
            problems.append(f"{' '.join(words)}: no subcommand {word}")
    return problems


def check_command(words: list[str]) -> list[str]:
    program = words[0]
    if program == "curl" and "-d" in words:
        try:
            json.loads(words[words.index("-d") + 1])
        except ValueError as exc:
            return [f"{' '.join(words)}: the request is not JSON ({exc})"]
    if program in SHELL_WORDS or "=" in program:
        return [path_problem(w) for w in words[1:] if program == "source" and path_problem(w)]
    if program == "sudo":
        return []
    if program == "dvc":
        return check_dvc(words)
    if program == "mlflow":
        return check_mlflow(words)
    if program == "python" and words[1:2] == ["-m"]:
        return check_words_in(module_source(words[2]), words, words[3:])
    if program in {"python", "bash"}:
        script = words[1]
        if path_problem(script):
            return [f"{' '.join(words)}: {path_problem(script)}"]
        return check_words_in((ROOT / script).read_text(encoding="utf-8"), words, words[2:])
    return [f"{' '.join(words)}: the test does not know the program {program}"]


# -- the tests ---------------------------------------------------------------------------------------------------

def test_the_readme_is_short():
    assert len(text().splitlines()) <= 200


def test_every_command_program_subcommand_and_flag_exists():
    found = readme_commands()
    assert len(found) > 20, found
    problems = [problem for words in found for problem in check_command(words)]
    assert not problems, "\n".join(problems)


def test_every_path_named_in_prose_exists():
    problems = []
    for code in inline_code():
        if " " in code or code.startswith(("-", "models:/", "http", "sqlite:")) or "@" in code or code in EXTENSIONS:
            continue
        if ("/" in code or code.endswith(EXTENSIONS)) and path_problem(code):
            problems.append(path_problem(code))
    assert not problems, "\n".join(problems)


def test_every_link_leads_somewhere():
    headings = {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
                for heading in re.findall(r"^#+ (.+)$", text(), flags=re.M)}
    problems = []
    for target in re.findall(r"\]\(([^)]+)\)", text()):
        if target.startswith("#"):
            if target[1:] not in headings:
                problems.append(f"{target}: no such heading")
        elif not target.startswith("http") and not (ROOT / target.split("#")[0]).exists():
            problems.append(f"{target}: no such file")
    assert not problems, problems


@pytest.mark.parametrize("doc", OWN_DOCS[1:], ids=lambda doc: doc.name)
def test_the_documents_beside_it_link_to_files_that_exist(doc):
    for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", doc.read_text(encoding="utf-8")):
        if not target.startswith("http"):
            assert (doc.parent / target).exists(), f"{doc.name}: {target}"


def test_stage_names_and_params_sections_in_the_stage_table_exist():
    rows = [line.split("|")[1:-1] for line in text().splitlines() if re.match(r"\| `[a-z_]+` \|", line)]
    assert {row[0].strip(" `") for row in rows} == set(pipeline()), "the table has one row per stage"
    for row in rows:
        for section in re.findall(r"`([a-z_]+)`", row[-1]):
            assert section in params(), f"{section} is no section of params.yaml"
        for path in re.findall(r"`([^`]+)`", row[1]):
            assert path_problem(path) is None, path_problem(path)


def test_params_keys_and_stage_names_in_prose_exist():
    problems = []
    for code in inline_code():
        key = code.split(":")[0].strip()
        if re.fullmatch(r"[a-z_]+(\.[a-z_0-9]+)+", key) and key.split(".")[0] in params():
            if not is_params_key(key):
                problems.append(f"{key}: not a key of params.yaml")
        elif re.fullmatch(r"[a-z]+_[a-z_]+", code) and code not in pipeline() and not is_params_key(code):
            problems.append(f"{code}: neither a stage nor a params key")
    dag = next(block for block in code_blocks("") if "dvc dag" in block)
    problems += [f"{name}: not a stage" for name in re.findall(r"[a-z]+_[a-z_]+", dag) if name not in pipeline()]
    assert not problems, problems


def test_the_summary_shown_is_the_summary_printed():
    from rnnpipe.summary import NEXT_STEP

    shown = next(block for block in code_blocks("") if block.startswith("rnnpipe: pipeline finished"))
    labels = {line[2:12].strip() for line in shown.splitlines() if line.startswith("  ") and line[2] != " "}
    assert labels == {"stages", "forecaster", "char-RNN", "a sample", "files", "@champion", "commands", "next"}
    assert f"  next        {NEXT_STEP}" in shown


def test_no_history_in_the_documentation():
    pattern = re.compile(r"\bround (one|two|three|four|five|six|seven|\d)|\bissue #?\d|\bgoal \d|\b[0-9a-f]{7,40}\b"
                         r"|GHz|\bfamily \d+ model\b", re.I)
    problems = [f"{doc.relative_to(ROOT)}: {match.group(0)}" for doc in OWN_DOCS + [ROOT / "params.yaml"]
                for match in pattern.finditer(doc.read_text(encoding="utf-8"))
                if not match.group(0).isdigit()]
    assert not problems, problems


@pytest.mark.parametrize("command, expected", [
    (["dvc", "metrics", "show"], ["metrics/forecaster.json", "metrics/charrnn.json", "bits_per_char"]),
    (["dvc", "dag"], ["check_params", "train_charrnn", "evaluate_forecaster"]),
    (["dvc", "stage", "list"], ["generate_text"]),
    (["python", "-m", "rnnpipe.sweep", "check", "sweeps/forecaster-window-noise.yaml"], [": ok"]),
])
def test_the_quick_read_only_commands_work(command, expected):
    assert command in readme_commands() or " ".join(command) in text()
    program = sys.executable if command[0] == "python" else str(BIN / command[0])
    done = subprocess.run([program, *command[1:]], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert all(word in done.stdout for word in expected), done.stdout


def test_every_stage_has_a_description():
    assert all(stage.get("desc") for stage in pipeline().values())


def uncommented_keys(params_text: str) -> list[str]:
    """Keys with a value (not sections) whose line has no comment and no comment follows before the next key."""
    lines = params_text.splitlines()
    key_at = [(i, m) for i, line in enumerate(lines) if (m := re.match(r"(\s*)([A-Za-z_]\w*):(.*)$", line))]
    problems = []
    for n, (i, match) in enumerate(key_at):
        value = match.group(3).split("#", 1)[0].strip()
        if not value:
            continue  # a section: its keys carry the comments
        upto = key_at[n + 1][0] if n + 1 < len(key_at) else len(lines)
        if not any("#" in line for line in lines[i:upto]):
            problems.append(f"params.yaml:{i + 1}: {match.group(2)}")
    return problems


def test_uncommented_keys_finds_a_bare_key_and_reads_a_comment_under_a_long_value():
    assert uncommented_keys("a:\n  b: 1   # why\n  c: [1,\n    2]\n  # c: what\n  d: 2\n") == ["params.yaml:6: d"]


def test_every_key_of_params_yaml_is_commented_where_it_is_set():
    assert "Every key of `params.yaml` is commented where it is set" in text()
    assert uncommented_keys((ROOT / "params.yaml").read_text(encoding="utf-8")) == []
