"""Tests for typed model configs in checkpoints (rnnpipe.core.checkpoint): what is saved rebuilds the same model."""
from __future__ import annotations

import pytest
import torch

from rnnpipe.charrnn.model import CharRNNConfig, load_charrnn
from rnnpipe.core.checkpoint import save_model
from rnnpipe.core.errors import CheckpointError
from rnnpipe.core.io import load_checkpoint, save_checkpoint
from rnnpipe.forecaster.model import ForecasterConfig, load_forecaster
from tests.builders import charrnn_config, forecaster_config, make_charrnn, make_forecaster

torch.set_num_threads(1)


def test_forecaster_config_is_stored_as_kind_arch_and_usage():
    config = forecaster_config(cell="gru", hidden_size=7, num_layers=2, seq_length=20, n_val=196)
    assert config.to_checkpoint() == {"kind": "forecaster", "arch": {"cell": "gru", "hidden_size": 7, "num_layers": 2},
                                      "seq_length": 20, "n_val": 196}
    assert list(config.to_checkpoint()) == ["kind", "arch", "seq_length", "n_val"]
    assert ForecasterConfig.from_checkpoint(config.to_checkpoint()) == config


def test_charrnn_config_is_stored_as_kind_arch_and_usage():
    config = charrnn_config(4, cell="lstm", input="embedding", dropout=0.1, mode="many_to_one", seq_length=12)
    stored = config.to_checkpoint()
    assert list(stored) == ["kind", "arch", "mode", "seq_length", "vocab", "rnn_weight", "ngram_weight"]
    assert list(stored["arch"]) == ["vocab_size", "hidden_size", "num_layers", "cell", "input", "embedding_dim",
                                    "dropout", "ngram_order", "ngram_chars"]
    assert stored["vocab"] == ["a", "b", "c", "d"] and stored["arch"]["vocab_size"] == 4
    assert CharRNNConfig.from_checkpoint(stored) == config


def test_charrnn_config_refuses_a_vocabulary_of_another_size():
    with pytest.raises(ValueError, match="vocab has 3 characters but vocab_size is 4"):
        CharRNNConfig.from_checkpoint({**charrnn_config(4).to_checkpoint(), "vocab": ["a", "b", "c"]})


@pytest.mark.parametrize("kind", ["forecaster", "charrnn"])
def test_saved_models_load_back_in_eval_mode_with_identical_outputs(tmp_path, kind):
    torch.manual_seed(9)
    if kind == "forecaster":
        model, load, example = make_forecaster(cell="lstm", hidden_size=6, num_layers=2), load_forecaster, \
            torch.randn(3, 10)
    else:
        model, load, example = make_charrnn(11, cell="gru", input="embedding", dropout=0.2), load_charrnn, \
            torch.randint(11, (2, 5))
    save_model(tmp_path / "m.pt", model.config, model)
    config, loaded = load(tmp_path / "m.pt")
    assert config == model.config and not loaded.training
    with torch.no_grad():
        expected, got = model.eval()(example), loaded(example)
    expected, got = (expected[0], got[0]) if kind == "charrnn" else (expected, got)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)


def test_loading_names_the_file_when_weights_do_not_fit_the_config(tmp_path):
    model = make_forecaster(cell="gru", hidden_size=7)
    stored = model.config.to_checkpoint()
    stored["arch"]["hidden_size"] = 9
    save_checkpoint(tmp_path / "m.pt", stored, model.state_dict())
    message = str(pytest.raises(CheckpointError, load_forecaster, tmp_path / "m.pt").value)
    assert "m.pt: the weights do not match its config" in message and "\n" not in message
    assert "dvc repro -f -s train_forecaster" in message


def test_loading_refuses_the_other_models_checkpoint(tmp_path):
    model = make_charrnn(5)
    save_model(tmp_path / "c.pt", model.config, model)
    message = str(pytest.raises(CheckpointError, load_forecaster, tmp_path / "c.pt").value)
    assert "c.pt" in message and "'charrnn'" in message and "'forecaster'" in message and "\n" not in message
    assert f"dvc checkout {tmp_path / 'c.pt'}" in message and "mixed up" in message


def test_loading_checks_config_values_like_params(tmp_path):
    model = make_forecaster()
    stored = model.config.to_checkpoint()
    stored["arch"]["cell"] = "weird"
    save_checkpoint(tmp_path / "w.pt", stored, model.state_dict())
    message = str(pytest.raises(CheckpointError, load_forecaster, tmp_path / "w.pt").value)
    assert "w.pt" in message and "cell = 'weird' is invalid: allowed is one of rnn, gru, lstm" in message


def test_a_saved_checkpoint_holds_plain_data(tmp_path):
    model = make_charrnn(3)
    save_model(tmp_path / "p.pt", model.config, model)
    stored, state = load_checkpoint(tmp_path / "p.pt")  # weights_only=True: plain data only
    assert stored == model.config.to_checkpoint() and set(state) == set(model.state_dict())


def test_a_config_rule_across_fields_is_one_line_in_its_own_words(tmp_path):
    model = make_charrnn(4)
    stored = model.config.to_checkpoint()
    stored["vocab"] = ["a", "b"]
    save_checkpoint(tmp_path / "v.pt", stored, model.state_dict())
    message = str(pytest.raises(CheckpointError, load_charrnn, tmp_path / "v.pt").value)
    assert "vocab has 2 characters but vocab_size is 4" in message and "train_charrnn" in message
    assert "\n" not in message


@pytest.mark.parametrize("damage, expected", [
    (lambda data: b"", "is empty (0 bytes)"),
    (lambda data: data[: len(data) // 2], "is damaged: not a complete torch file"),
    (lambda data: b"not a checkpoint at all" * 10, "is damaged: not a torch file"),
])
def test_a_damaged_checkpoint_says_so_and_how_to_restore_it(tmp_path, damage, expected):
    model = make_forecaster()
    save_model(tmp_path / "m.pt", model.config, model)
    (tmp_path / "m.pt").write_bytes(damage((tmp_path / "m.pt").read_bytes()))
    message = str(pytest.raises(CheckpointError, load_forecaster, tmp_path / "m.pt").value)
    assert expected in message and f"dvc checkout {tmp_path / 'm.pt'}" in message and "\n" not in message


def test_a_missing_checkpoint_says_how_to_make_it(tmp_path):
    message = str(pytest.raises(CheckpointError, load_charrnn, tmp_path / "nope.pt").value)
    assert "is missing" in message and "dvc repro -f -s train_charrnn" in message
