"""The course's programs (rnnpipe.course): what scripts/course.sh passes to `dvc exp run -S` is valid params.yaml,
sets every key of the model's section the course has a setting for, and is what `python -m rnnpipe.course` prints."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from rnnpipe import course
from rnnpipe.params import Params, load_params, parse_params

ROOT = Path(__file__).resolve().parents[1]


def applied(program: str) -> dict:
    """params.yaml with the program's settings, read back by the parser `dvc exp run -S` uses (Hydra's overrides)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    raw = load_params(ROOT / "params.yaml").model_dump()
    parser = OverridesParser.create()
    for line in course.settings(program):
        override = parser.parse_override(line)
        section, _, name = override.key_or_group.partition(".")
        assert section in raw and name in raw[section], line
        raw[section][name] = override.value()
    return raw


@pytest.mark.parametrize("program", course.PROGRAMS)
def test_a_program_is_valid_params_and_its_values_read_back_as_written(program):
    raw = applied(program)
    parse_params(raw)  # raises ParamsError naming the first bad value
    for key, value in course.PROGRAMS[program].items():
        section, _, name = key.partition(".")
        assert raw[section][name] == value and type(raw[section][name]) is type(value), key


@pytest.mark.parametrize("program", course.PROGRAMS)
def test_every_key_of_the_models_section_is_set_by_the_course_or_left_to_params_yaml_on_purpose(program):
    """A new key in params.yaml fails here until it is put in the program (the course's value) or in STANDS."""
    for name, stands in course.STANDS[program].items():
        keys = set(Params.model_fields[name].annotation.model_fields)
        set_here = set(course.section(program, name))
        assert not set_here & stands, f"{program}: both set and left to params.yaml: {set_here & stands}"
        assert keys - set_here - stands == set(), f"{program}: decide the course's value of {keys - set_here - stands}"
        assert stands <= keys, f"{program}: no such key: {stands - keys}"


def test_the_course_models_are_the_rnn_alone_with_plain_optimizers():
    forecaster = applied("forecaster")["forecaster"]
    assert (forecaster["linear_window"], forecaster["cell"], forecaster["input_noise"]) == (0, "rnn", 0.0)
    for program in ("text", "sentences"):
        charrnn = applied(program)["charrnn"]
        assert (charrnn["ngram_order"], charrnn["weight_decay"], charrnn["weight_average"], charrnn["dropout"],
                charrnn["calibrate"]) == (0, 0.0, 0.0, 0.0, False), program
    assert applied("sentences")["generate"]["prompt"] == "нейронная сеть "  # the trailing space kept (quoted)
    assert (ROOT / applied("sentences")["corpus"]["path"]).is_file()


def test_the_command_prints_one_setting_a_line_and_refuses_an_unknown_program():
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, "-m", "rnnpipe.course", "text"], capture_output=True, text=True, env=env,
                          timeout=60)
    assert done.returncode == 0 and done.stdout.splitlines() == course.settings("text"), done.stderr
    assert 'generate.prompt="мой дядя самых"' in done.stdout.splitlines()
    bad = subprocess.run([sys.executable, "-m", "rnnpipe.course", "gpt"], capture_output=True, text=True, env=env,
                         timeout=60)
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.startswith("error: argument program: invalid choice: 'gpt' (choose from ")
    assert bad.stderr.count("\n") == 1 and all(name in bad.stderr for name in course.PROGRAMS)



def test_the_script_refuses_an_empty_text_path_in_one_line_before_dvc():
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(["bash", str(ROOT / "scripts" / "course.sh"), "text", ""], capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr == "error: course text FILE = '' is invalid (an empty path): allowed is a UTF-8 text file\n"
