"""Tests for the params.yaml schema (rnnpipe.core.params): the repo's file parses, every bad value is one clear line."""
from __future__ import annotations

import copy
import math
import re
from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from rnnpipe.core.errors import ParamsError
from rnnpipe.params import Params, load_params, parse_params

REPO_PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"


@pytest.fixture(scope="module")
def repo_raw() -> dict[str, Any]:
    with open(REPO_PARAMS, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@pytest.fixture
def raw(repo_raw: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(repo_raw)


def error_for(raw: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> str:
    change(raw)
    with pytest.raises(ParamsError) as info:
        parse_params(raw)
    message = str(info.value)
    assert "\n" not in message and message.strip() == message, f"not one line: {message!r}"
    return message


def setter(section: str, key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(raw: dict[str, Any]) -> None:
        raw[section][key] = value
    return change


# --- the repo's params.yaml ---------------------------------------------------------------------------------------

def test_repo_params_yaml_parses_into_typed_sections(repo_raw):
    p = parse_params(copy.deepcopy(repo_raw))
    assert isinstance(p, Params)
    assert p.model_dump() == repo_raw
    assert isinstance(p.series.x_min, float) and isinstance(p.series.x_max, float)
    assert isinstance(p.forecaster.seq_length, int) and not isinstance(p.forecaster.seq_length, bool)
    assert isinstance(p.forecaster.lr, float) and isinstance(p.charrnn.lr, float)
    assert all(isinstance(s, float) for s in p.ar.sigma_2d)


def test_load_params_reads_the_repo_file(repo_raw):
    assert load_params(REPO_PARAMS).model_dump() == repo_raw


def test_int_accepted_where_a_float_is_expected_and_converted(raw):
    raw["forecaster"]["lr"] = 1
    p = parse_params(raw)
    assert p.forecaster.lr == 1.0 and isinstance(p.forecaster.lr, float)


def test_null_tracking_uri_and_string_tracking_uri_are_accepted(raw):
    raw["tracking"]["uri"] = None
    assert parse_params(copy.deepcopy(raw)).tracking.uri is None
    raw["tracking"]["uri"] = "http://127.0.0.1:5000"
    assert parse_params(raw).tracking.uri == "http://127.0.0.1:5000"


# --- unknown and missing keys -------------------------------------------------------------------------------------

def test_unknown_top_level_key_is_named_with_the_allowed_keys(raw):
    message = error_for(raw, lambda r: r.__setitem__("forecastr", {"horizon": 5}))
    assert "'forecastr'" in message
    assert "allowed" in message and "forecaster" in message and "series" in message


def test_unknown_nested_key_is_named_with_its_section_and_the_allowed_keys(raw):
    message = error_for(raw, setter("forecaster", "lrr", 0.1))
    assert "'forecaster.lrr'" in message
    assert "allowed" in message and "lr" in message.split("allowed", 1)[1]
    assert "hidden_size" in message


def test_missing_key_is_named(raw):
    message = error_for(raw, lambda r: r["forecaster"].pop("lr"))
    assert "missing" in message and "'forecaster.lr'" in message


def test_missing_section_is_named(raw):
    message = error_for(raw, lambda r: r.pop("charrnn_eval"))
    assert "missing" in message and "'charrnn_eval'" in message


def test_section_that_is_not_a_mapping_is_refused(raw):
    message = error_for(raw, lambda r: r.__setitem__("series", [1, 2]))
    assert "series" in message and "[1, 2]" in message and "mapping" in message


def test_empty_document_is_refused():
    with pytest.raises(ParamsError) as info:
        parse_params(None)
    assert "\n" not in str(info.value) and "mapping" in str(info.value)


# --- wrong types --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, shown", [("32", "'32'"), (True, "True"), (32.0, "32.0"), (None, "None"), ([32], "[32]")])
def test_wrong_type_for_an_int_names_key_value_and_allowed(raw, value, shown):
    message = error_for(raw, setter("forecaster", "hidden_size", value))
    assert f"forecaster.hidden_size = {shown}" in message
    assert "allowed is an integer >= 1" in message


@pytest.mark.parametrize("value, shown", [("0.003", "'0.003'"), ("1e-3", "'1e-3'"), (False, "False")])
def test_wrong_type_for_a_float_names_key_value_and_allowed(raw, value, shown):
    message = error_for(raw, setter("charrnn", "lr", value))
    assert f"charrnn.lr = {shown}" in message and "allowed is a number > 0" in message


def test_nan_is_not_a_valid_number(raw):
    message = error_for(raw, setter("forecaster", "lr", math.nan))
    assert "forecaster.lr = nan" in message and "allowed" in message


def test_string_for_a_bool_is_refused(raw):
    message = error_for(raw, setter("tracking", "enabled", "yes"))
    assert "tracking.enabled = 'yes'" in message and "true or false" in message


@pytest.mark.parametrize("value, shown", [(5, "5"), (["sqlite:///x.db"], "['sqlite:///x.db']"), (True, "True"),
                                          ("", "''"), ("bogus://x", "'bogus://x'"), ("sqlite:///x.db", "'sqlite:///x.db'"),
                                          ("http://", "'http://'"), ("127.0.0.1:5000", "'127.0.0.1:5000'")])
def test_tracking_uri_of_wrong_type_or_form_is_refused(raw, value, shown):
    message = error_for(raw, setter("tracking", "uri", value))
    assert message == (f"params.yaml: tracking.uri = {shown} is invalid: allowed is null (the project's mlflow.db), "
                       "http(s)://HOST:PORT of an `mlflow server`, or sqlite:////absolute/path/mlflow.db")


@pytest.mark.parametrize("value", ["http://127.0.0.1:5000", "https://mlflow.example.org/", "sqlite:////tmp/m.db"])
def test_tracking_uris_a_stage_can_log_to_are_accepted(raw, value):
    setter("tracking", "uri", value)(raw)
    assert parse_params(raw).tracking.uri == value


# --- out-of-range values ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("section", ["forecaster", "charrnn"])
@pytest.mark.parametrize("value", [0, 0.0, -0.001])
def test_learning_rate_must_be_positive(raw, section, value):
    message = error_for(raw, setter(section, "lr", value))
    assert f"{section}.lr = {value!r}" in message and "allowed is a number > 0" in message


@pytest.mark.parametrize("section", ["forecaster", "charrnn"])
def test_hidden_size_zero_is_refused(raw, section):
    message = error_for(raw, setter(section, "hidden_size", 0))
    assert f"{section}.hidden_size = 0" in message and "allowed is an integer >= 1" in message


@pytest.mark.parametrize("value", [0, 100_001, 10**10, 2.5])
def test_generated_characters_are_a_count_a_stage_can_finish(raw, value):
    message = error_for(raw, setter("generate", "n_chars", value))
    assert f"generate.n_chars = {value!r}" in message and "allowed is an integer in [1, 100000]" in message


@pytest.mark.parametrize("value", [0, 0.0, -0.5])
def test_temperature_must_be_positive(raw, value):
    message = error_for(raw, setter("generate", "temperature", value))
    assert f"generate.temperature = {value!r}" in message and "allowed is a number > 0" in message


@pytest.mark.parametrize("section", ["forecaster", "charrnn"])
def test_cell_must_be_rnn_gru_or_lstm(raw, section):
    message = error_for(raw, setter(section, "cell", "transformer"))
    assert f"{section}.cell = 'transformer'" in message and "one of rnn, gru, lstm" in message


@pytest.mark.parametrize("cell", ["rnn", "gru", "lstm"])
def test_every_cell_is_accepted(raw, cell):
    raw["forecaster"]["cell"] = cell
    raw["charrnn"]["cell"] = cell
    p = parse_params(raw)
    assert p.forecaster.cell == cell and p.charrnn.cell == cell


@pytest.mark.parametrize("value", [1, 1.0, -1, 1.5])
def test_ar_r_1d_must_be_inside_minus_one_one(raw, value):
    message = error_for(raw, setter("ar", "r_1d", value))
    assert f"ar.r_1d = {value!r}" in message and "(-1, 1)" in message


@pytest.mark.parametrize("value", [[0.1], [0.1, 0.15, 0.2], []])
def test_sigma_2d_of_wrong_length_is_refused(raw, value):
    message = error_for(raw, setter("ar", "sigma_2d", value))
    assert f"ar.sigma_2d = {value!r}" in message and "a list of 2 numbers > 0" in message


def test_sigma_2d_element_of_wrong_type_names_the_element(raw):
    message = error_for(raw, setter("ar", "sigma_2d", [0.1, "big"]))
    assert "ar.sigma_2d[1] = 'big'" in message and "allowed" in message


def test_r_2d_outside_the_unit_interval_is_refused(raw):
    message = error_for(raw, setter("ar", "r_2d", [0.9, 1.0]))
    assert "ar.r_2d = [0.9, 1.0]" in message and "(-1, 1)" in message


def test_h0_must_be_stationary_or_course(raw):
    message = error_for(raw, setter("ar", "h0", "zero"))
    assert "ar.h0 = 'zero'" in message and "one of stationary, course" in message


# --- cross checks -------------------------------------------------------------------------------------------------

def test_x_max_not_above_x_min_is_refused(raw):
    raw["series"]["x_min"] = 5.0
    message = error_for(raw, setter("series", "x_max", 5.0))
    assert "series.x_max = 5.0" in message and "series.x_min (5.0)" in message and "allowed" in message


@pytest.mark.parametrize("n_train", [2000, 2500])
def test_n_train_must_be_below_n_points(raw, n_train):
    raw["series"]["n_points"] = 2000
    message = error_for(raw, setter("series", "n_train", n_train))
    assert f"series.n_train = {n_train}" in message and "series.n_points (2000)" in message


@pytest.mark.parametrize("seq_length", [1000, 1001, 5000])
def test_forecaster_seq_length_must_leave_windows_in_the_training_part(raw, seq_length):
    raw["series"].update(n_points=2000, n_train=1000)
    message = error_for(raw, setter("forecaster", "seq_length", seq_length))
    assert f"forecaster.seq_length = {seq_length}" in message and "1000-point training part" in message


@pytest.mark.parametrize("val_fraction", [0.2, 0.5, 0.9])
def test_forecaster_seq_length_limit_stated_in_the_message_is_the_real_limit(raw, val_fraction):
    """The message says 'at most N here': N itself must be accepted and N + 1 refused."""
    raw["series"].update(n_points=2000, n_train=100)
    raw["forecast"]["horizon"] = 10
    raw["forecaster"].update(val_fraction=val_fraction, targets_per_window=1, window_stride=1)
    message = error_for(copy.deepcopy(raw), setter("forecaster", "seq_length", 100))
    stated = int(re.search(r"at most (\d+)", message).group(1))
    at_limit = copy.deepcopy(raw)
    at_limit["forecaster"]["seq_length"] = stated
    assert parse_params(at_limit).forecaster.seq_length == stated
    error_for(raw, setter("forecaster", "seq_length", stated + 1))


def test_forecaster_targets_per_window_cannot_exceed_the_window(raw):
    raw["forecaster"]["seq_length"] = 12
    message = error_for(copy.deepcopy(raw), setter("forecaster", "targets_per_window", 13))
    assert "forecaster.targets_per_window = 13" in message and "from 1 to forecaster.seq_length (12)" in message
    assert "forecaster.targets_per_window = 0" in error_for(copy.deepcopy(raw), setter("forecaster", "targets_per_window", 0))
    raw["forecaster"]["targets_per_window"] = 12
    assert parse_params(raw).forecaster.targets_per_window == 12


def test_forecaster_linear_window_is_a_count_of_values_or_zero(raw):
    message = error_for(copy.deepcopy(raw), setter("forecaster", "linear_window", -1))
    assert "forecaster.linear_window = -1" in message and "an integer >= 0" in message
    assert "forecaster.linear_window = 2.5" in error_for(copy.deepcopy(raw), setter("forecaster", "linear_window", 2.5))
    raw["forecaster"].update(seq_length=12, targets_per_window=4)
    for allowed in (0, 9, 40):  # longer than the window: zeros stand for the values before it
        raw["forecaster"]["linear_window"] = allowed
        assert parse_params(copy.deepcopy(raw)).forecaster.linear_window == allowed


def test_forecast_horizon_longer_than_the_test_part_is_refused(raw):
    raw["series"].update(n_points=2000, n_train=1000)
    message = error_for(copy.deepcopy(raw), setter("forecast", "horizon", 1001))
    assert "forecast.horizon = 1001" in message and "(1000)" in message
    raw["forecast"]["horizon"] = 1000
    assert parse_params(raw).forecast.horizon == 1000


@pytest.mark.parametrize("edited, value", [("train_fraction", 0.8), ("val_fraction", 0.15), ("test_fraction", 0.2)])
def test_corpus_fractions_that_do_not_add_up_name_all_three(raw, edited, value):
    message = error_for(raw, setter("corpus", edited, value))
    for key in ("train_fraction", "val_fraction", "test_fraction"):
        assert f"corpus.{key} = {raw['corpus'][key]!r}" in message
    assert "add up to" in message and "train + val + test = 1" in message


def test_corpus_fractions_adding_up_to_one_are_accepted(raw):
    raw["corpus"].update(train_fraction=0.7, val_fraction=0.2, test_fraction=0.1)
    c = parse_params(raw).corpus
    assert (c.train_fraction, c.val_fraction, c.test_fraction) == (0.7, 0.2, 0.1)


# --- load_params --------------------------------------------------------------------------------------------------

def test_load_params_missing_file_names_it(tmp_path):
    missing = tmp_path / "nope" / "params.yaml"
    with pytest.raises(ParamsError) as info:
        load_params(missing)
    assert str(missing) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("text", ["series: [unclosed\n  x_min: 1\n", "a: b: c\n", "key: 'open\n", "\tseries: 1\n"])
def test_load_params_invalid_yaml_is_one_line_params_error(tmp_path, text):
    path = tmp_path / "params.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ParamsError) as info:
        load_params(path)
    message = str(info.value)
    assert message.startswith(f"{path}: not valid YAML at line ") and "\n" not in message


def test_a_yaml_error_names_its_line_column_and_problem(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("series:\n  x_min: [1, 2\n  x_max: 3\n", encoding="utf-8")
    with pytest.raises(ParamsError) as info:
        load_params(path)
    assert str(info.value) == (f"{path}: not valid YAML at line 3, column 8 (while parsing a flow sequence: "
                               "expected ',' or ']', but got ':')")


def test_messages_name_the_file_they_read(tmp_path, repo_raw):
    """A cross-field rule (a model too large to build) and a plain bad value, in a file that is not params.yaml."""
    path = tmp_path / "other.yaml"
    for key, value, expected in (("lr", -1.0, "forecaster.lr = -1.0 is invalid"),
                                 ("hidden_size", 100000, "forecaster.hidden_size = 100000 is invalid")):
        bad = copy.deepcopy(repo_raw)
        bad["forecaster"][key] = value
        path.write_text(yaml.safe_dump(bad, allow_unicode=True), encoding="utf-8")
        with pytest.raises(ParamsError) as info:
            load_params(path)
        assert str(info.value).startswith(f"{path}: {expected}: allowed is ")


def test_a_yaml_alias_bomb_is_refused_in_a_short_line(tmp_path, repo_raw):
    """Nine levels of nine aliases: a value under 1 KB of YAML whose repr runs to megabytes."""
    bomb = "&a0 [" + ", ".join(["'lol'"] * 9) + "]"
    for level in range(1, 9):
        bomb = f"&a{level} [{bomb}, " + ", ".join([f"*a{level - 1}"] * 8) + "]"
    bad = copy.deepcopy(repo_raw)
    bad["forecaster"]["lr"] = "BOMB"
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(bad, allow_unicode=True).replace("lr: BOMB", f"lr: {bomb}"), encoding="utf-8")
    with pytest.raises(ParamsError) as info:
        load_params(path)
    message = str(info.value)
    assert message.startswith(f"{path}: forecaster.lr = [[[[") and "\n" not in message and len(message) < 300


def test_load_params_validates_the_content(tmp_path, repo_raw):
    bad = copy.deepcopy(repo_raw)
    bad["generate"]["top_k"] = 0
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(bad, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ParamsError, match=r"generate\.top_k = 0 is invalid"):
        load_params(path)


# --- runtime ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["sse2", "AVX2", 2])
def test_runtime_isa_is_one_of_the_levels(raw, value):
    message = error_for(raw, setter("runtime", "isa", value))
    assert f"runtime.isa = {value!r}" in message and "one of avx2, avx512, native" in message


@pytest.mark.parametrize("value", [0, -2, "many", 1.5, True, 1025, 99999999999999])
def test_runtime_threads_is_auto_or_an_integer_a_machine_can_start(raw, value):
    message = error_for(raw, setter("runtime", "threads", value))
    assert f"runtime.threads = {value!r}" in message and "auto" in message and "integer from 1 to 1024" in message


@pytest.mark.parametrize("value", ["auto", 1, 16])
def test_runtime_threads_accepts_auto_and_counts(raw, value):
    raw["runtime"]["threads"] = value
    assert parse_params(raw).runtime.threads == value


def test_sentence_windows_need_many_to_one_windows(raw):
    raw["charrnn"].update(mode="many_to_many")
    message = error_for(copy.deepcopy(raw), setter("charrnn", "sentence_windows", True))
    assert message.startswith("params.yaml: charrnn.sentence_windows = True is invalid")
    assert "charrnn.mode: many_to_one" in message and "\n" not in message
    raw["charrnn"].update(mode="many_to_one", sentence_windows=True)
    assert parse_params(raw).charrnn.sentence_windows is True


@pytest.mark.parametrize("value", [-0.1, 1.0, float("nan"), "0.2"])
def test_weight_dropout_is_a_fraction(raw, value):
    message = error_for(copy.deepcopy(raw), setter("charrnn", "weight_dropout", value))
    assert message.startswith(f"params.yaml: charrnn.weight_dropout = {value!r} is invalid: allowed is a number in")


def test_weight_dropout_is_the_lstms(raw):
    raw["charrnn"].update(weight_dropout=0.2)
    assert parse_params(copy.deepcopy(raw)).charrnn.weight_dropout == 0.2
    message = error_for(raw, setter("charrnn", "cell", "gru"))
    assert message == ("params.yaml: charrnn.weight_dropout = 0.2 is invalid: allowed is 0 with charrnn.cell gru "
                       "(dropout on the recurrent weights is the lstm's)")


def test_forecaster_window_stride_must_leave_a_training_window(raw):
    raw["series"].update(n_points=2000, n_train=1000)
    raw["forecaster"].update(seq_length=200, val_fraction=0.2)
    message = error_for(copy.deepcopy(raw), setter("forecaster", "window_stride", 700))
    assert "forecaster.window_stride = 700" in message and "number of training windows (640)" in message
    raw["forecaster"]["window_stride"] = 640
    assert parse_params(raw).forecaster.window_stride == 640


@pytest.mark.parametrize("value", [-1, 11, 2.5, True])
def test_charrnn_ngram_order_is_0_or_1_to_10(raw, value):
    message = error_for(raw, setter("charrnn", "ngram_order", value))
    assert f"charrnn.ngram_order = {value!r}" in message and "0 (no n-gram part) or an integer in [1, 10]" in message


@pytest.mark.parametrize("value", ["linear", "Gated", 1])
def test_charrnn_mixture_is_product_or_gated(raw, value):
    message = error_for(raw, setter("charrnn", "mixture", value))
    assert f"charrnn.mixture = {value!r}" in message and "one of product, gated" in message


# Every seed the schema has, found in it, so a section added later is checked too.
SEEDS = sorted((section, key) for section, field in Params.model_fields.items()
               for key in field.annotation.model_fields if "seed" in key)


@pytest.mark.parametrize("section, key", SEEDS)
@pytest.mark.parametrize("value", [2**32, 2**64, -1])
def test_every_seed_is_below_2_to_the_32(raw, section, key, value):
    message = error_for(raw, setter(section, key, value))
    assert message == f"params.yaml: {section}.{key} = {value} is invalid: allowed is an integer from 0 to 4294967295"


def test_the_largest_seed_is_accepted_everywhere(raw):
    assert {("series", "seed"), ("ar", "seed"), ("forecaster", "seed"), ("corpus", "seed"), ("charrnn", "seed"),
            ("generate", "seed")} <= set(SEEDS)
    for section, key in SEEDS:
        raw[section][key] = 2**32 - 1
    assert parse_params(raw).charrnn.seed == 2**32 - 1


@pytest.mark.parametrize("index, name", [(1, "../secret"), (0, "/etc/passwd"), (1, "sub/art"), (0, ".."), (0, "."),
                                         (1, ""), (0, "a\\b")])
def test_fortunes_files_are_plain_names_in_the_corpus_folder(raw, index, name):
    files = ["art", "book"]
    files[index] = name
    message = error_for(raw, setter("corpus", "fortunes_files", files))
    assert message == (f"params.yaml: corpus.fortunes_files[{index}] = {name!r} is invalid: allowed is a non-empty "
                       "list of file names in corpus.path (no folders, no '..')")


def test_fortunes_files_accept_names_with_dots_and_dashes(raw):
    raw["corpus"]["fortunes_files"] = ["art", "my-quotes.v2", "..hidden"]
    assert parse_params(raw).corpus.fortunes_files == ["art", "my-quotes.v2", "..hidden"]


@pytest.mark.parametrize("value", [-1, 2.5, True, "all"])
def test_charrnn_chars_per_epoch_is_0_or_a_count(raw, value):
    message = error_for(raw, setter("charrnn", "chars_per_epoch", value))
    assert message.startswith(f"params.yaml: charrnn.chars_per_epoch = {value!r} is invalid: allowed is 0 (every "
                              "training character each epoch) or an integer >= 1")


def test_charrnn_chars_per_epoch_gives_every_stream_one_bptt_chunk(raw):
    raw["charrnn"].update(mode="many_to_many", batch_size=32, seq_length=50)
    message = error_for(copy.deepcopy(raw), setter("charrnn", "chars_per_epoch", 1599))
    assert message == ("params.yaml: charrnn.chars_per_epoch = 1599 is invalid: allowed is 0 or an integer >= "
                       "charrnn.batch_size × seq_length (1600: one BPTT chunk for each of the batch_size streams)")
    for value in (0, 1600, 10**9):
        raw["charrnn"]["chars_per_epoch"] = value
        assert parse_params(copy.deepcopy(raw)).charrnn.chars_per_epoch == value
    raw["charrnn"].update(mode="many_to_one", chars_per_epoch=1)  # windows: any count
    assert parse_params(raw).charrnn.chars_per_epoch == 1


@pytest.mark.parametrize("section, size", [("forecaster", 50000), ("charrnn", 20000)])
def test_a_model_too_large_to_build_is_refused_before_any_work(raw, section, size):
    message = error_for(raw, setter(section, "hidden_size", size))
    assert message.startswith(f"params.yaml: {section}.hidden_size = {size} is invalid: allowed is a size whose "
                              "model fits in 268,435,456 numbers")
    assert re.search(r"holds [\d,]+ at least$", message)


def test_recurrent_numbers_match_torch():
    import torch

    from rnnpipe.core.params import recurrent_numbers

    for cell, layer in (("rnn", torch.nn.RNN), ("gru", torch.nn.GRU), ("lstm", torch.nn.LSTM)):
        with torch.device("meta"):
            built = layer(7, 11, num_layers=3)
        assert recurrent_numbers(cell, 7, 11, 3) == sum(p.numel() for p in built.parameters()), cell


def test_a_float_as_dvc_writes_it_is_a_number(tmp_path, repo_raw):
    """`dvc exp run -S forecaster.lr=0.00001` writes `lr: 1e-05` (YAML 1.2); params.yaml reads it as a number."""
    text = REPO_PARAMS.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^  lr: [0-9.]+(?=\s)", "  lr: 1e-05", text, count=1)  # forecaster
    text = re.sub(r"(?m)^  lr: [0-9.]+(?=\s)", "  lr: 2E+0", text, count=1)   # charrnn
    assert "lr: 1e-05" in text and "lr: 2E+0" in text
    (tmp_path / "params.yaml").write_text(text, encoding="utf-8")
    params = load_params(tmp_path / "params.yaml")
    assert params.forecaster.lr == 1e-05 and params.charrnn.lr == 2.0
    quoted = text.replace("lr: 1e-05", "lr: '1e-05'", 1)
    (tmp_path / "params.yaml").write_text(quoted, encoding="utf-8")
    with pytest.raises(ParamsError, match=r"forecaster.lr = '1e-05' is invalid: allowed is a number > 0"):
        load_params(tmp_path / "params.yaml")


@pytest.mark.parametrize("key, value, allowed", [
    ("weight_decay", -0.01, "a number >= 0 (0: Adam without weight decay)"),
    ("weight_decay", float("inf"), "a number >= 0 (0: Adam without weight decay)"),
    ("adam_beta2", 1.0, "a number in [0, 1)"),
    ("weight_average", 1.0, "0 (the weights as trained) or a number in (0, 1) (the average's decay per step)"),
    ("weight_average", -0.1, "0 (the weights as trained) or a number in (0, 1) (the average's decay per step)"),
    ("adam_beta2", -0.5, "a number in [0, 1)"),
    ("calibrate", "sometimes", "true or false"),
])
def test_charrnn_optimizer_and_calibration_settings_are_checked(raw, key, value, allowed):
    message = error_for(copy.deepcopy(raw), setter("charrnn", key, value))
    assert message == f"params.yaml: charrnn.{key} = {value!r} is invalid: allowed is {allowed}"


def test_load_params_refuses_a_key_given_twice(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(REPO_PARAMS.read_text(encoding="utf-8") + "forecast:\n  horizon: 5\n", encoding="utf-8")
    with pytest.raises(ParamsError) as info:
        load_params(path)
    lines = len(REPO_PARAMS.read_text(encoding="utf-8").splitlines())
    first = next(n for n, line in enumerate(REPO_PARAMS.read_text(encoding="utf-8").splitlines(), 1)
                 if line.startswith("forecast:"))
    assert str(info.value) == (f"{path}: duplicate key 'forecast' on line {lines + 1} (first on line {first}): each key "
                               "may appear once in a mapping")


def test_load_params_keeps_yaml_merge_keys(tmp_path, repo_raw):
    path = tmp_path / "params.yaml"
    text = REPO_PARAMS.read_text(encoding="utf-8").replace("forecast:", "forecast: &forecast", 1)
    path.write_text(text + "generate_again:\n  <<: *forecast\n", encoding="utf-8")
    with pytest.raises(ParamsError, match="generate_again"):  # merged fine; the unknown section is what is refused
        load_params(path)


def test_load_params_refuses_text_that_is_not_utf8_in_one_line(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_bytes("corpus:\n  path: ".encode() + "Пушкин".encode("cp1251") + b"\n")
    with pytest.raises(ParamsError) as info:
        load_params(path)
    assert str(info.value) == f"{path}: byte b'\\xcf' at offset 16 is not UTF-8: allowed is a UTF-8 text file"


def test_a_params_file_under_the_working_directory_is_named_relative_to_it(tmp_path, repo_raw, monkeypatch):
    bad = copy.deepcopy(repo_raw)
    bad["forecaster"]["lr"] = -1.0
    (tmp_path / "conf").mkdir()
    path = tmp_path / "conf" / "params.yaml"
    path.write_text(yaml.safe_dump(bad, allow_unicode=True), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ParamsError, match=r"^conf/params\.yaml: forecaster\.lr = -1\.0 is invalid"):
        load_params(path)
    monkeypatch.chdir(tmp_path / "conf")
    with pytest.raises(ParamsError, match=r"^params\.yaml: forecaster\.lr = -1\.0 is invalid"):
        load_params(path)
    path.write_text("series: [1\n", encoding="utf-8")  # the file's own problems name it the same way
    with pytest.raises(ParamsError, match=r"^params\.yaml: not valid YAML at line 2, column 1 "):
        load_params(path)
