"""Tests for typed model configs in checkpoints (rnnpipe.core.checkpoint): what is saved rebuilds the same model."""
from __future__ import annotations

import subprocess
import sys
import textwrap

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
    assert list(stored) == ["kind", "arch", "mode", "seq_length", "vocab", "rnn_weight", "ngram_weight",
                            "gate_weights", "rnn_temperature"]
    assert list(stored["arch"]) == ["vocab_size", "hidden_size", "num_layers", "cell", "input", "embedding_dim",
                                    "dropout", "weight_dropout", "ngram_order", "ngram_chars"]
    assert stored["vocab"] == ["a", "b", "c", "d"] and stored["arch"]["vocab_size"] == 4
    assert CharRNNConfig.from_checkpoint(stored) == config
    del stored["arch"]["weight_dropout"]  # a checkpoint from before the field: none
    del stored["rnn_temperature"]  # from before calibration: the logits as trained
    del stored["gate_weights"]  # from before the gated mixture: the plain product
    assert CharRNNConfig.from_checkpoint(stored) == config.model_copy(update={"weight_dropout": 0.0,
                                                                              "rnn_temperature": 1.0})


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


# --- built on the meta device, checked, then materialised -----------------------------------------------------------

def test_a_huge_config_in_a_small_file_is_refused_in_one_line_under_1_gb(tmp_path):
    """hidden_size 50000 asks for a ~40 GB LSTM: refused before any memory is spent, measured in a fresh process."""
    import subprocess
    import sys

    model = make_charrnn(4, cell="lstm", input="embedding")
    stored = model.config.to_checkpoint()
    stored["arch"]["hidden_size"] = 50_000
    save_checkpoint(tmp_path / "huge.pt", stored, model.state_dict())
    assert (tmp_path / "huge.pt").stat().st_size < 20_000
    script = ("import resource, sys\n"
              "from rnnpipe.charrnn.model import load_charrnn\n"
              "from rnnpipe.core.errors import CheckpointError\n"
              "try:\n"
              f"    load_charrnn({str(tmp_path / 'huge.pt')!r})\n"
              "except CheckpointError as exc:\n"
              "    print(exc)\n"
              "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n")  # KiB on Linux
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    message, peak_kib = result.stdout.splitlines()
    assert "huge.pt: its config asks for a model of 10,001,400,020 numbers (37.3 GiB in float32)" in message
    assert "allowed are at most 268,435,456" in message and "dvc repro -f -s train_charrnn" in message
    assert int(peak_kib) < 1024 * 1024, f"peak memory {int(peak_kib) / 1024:.0f} MiB"


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_weight_that_is_not_finite_is_refused(tmp_path, bad):
    model = make_forecaster(cell="gru", hidden_size=4)
    state = model.state_dict()
    state["net.head.bias"][0] = bad
    save_checkpoint(tmp_path / "m.pt", model.config.to_checkpoint(), state)
    message = str(pytest.raises(CheckpointError, load_forecaster, tmp_path / "m.pt").value)
    assert "net.head.bias holds values that are not finite" in message and "\n" not in message


@pytest.mark.parametrize("change, expected", [
    (lambda s: s.pop("net.head.weight"), "net.head.weight is missing"),
    (lambda s: s.update(extra=torch.zeros(1)), "extra is not a weight of this model"),
    (lambda s: s.update({"net.head.bias": torch.zeros(2)}),
     "net.head.bias is [2] float32, the config makes [1] float32"),
    (lambda s: s.update({"net.head.bias": torch.zeros(1, dtype=torch.float64)}),
     "net.head.bias is [1] float64, the config makes [1] float32"),
    (lambda s: s.update({"net.head.bias": [0.0]}), "net.head.bias is a list, not a tensor"),
])
def test_every_weight_is_compared_with_the_model_the_config_builds(tmp_path, change, expected):
    model = make_forecaster()
    state = model.state_dict()
    change(state)
    save_checkpoint(tmp_path / "m.pt", model.config.to_checkpoint(), state)
    message = str(pytest.raises(CheckpointError, load_forecaster, tmp_path / "m.pt").value)
    assert f"the weights do not match its config ({expected}" in message and "\n" not in message


def test_a_model_with_an_ngram_part_loads_with_its_text_and_identical_outputs(tmp_path):
    torch.manual_seed(5)
    model = make_charrnn(6, cell="lstm", input="embedding", num_layers=2).eval()
    model.attach_ngram(torch.randint(6, (500,)), 3, 0.5, 0.5)
    save_model(tmp_path / "n.pt", model.config, model)
    config, loaded = load_charrnn(tmp_path / "n.pt")
    assert torch.equal(loaded.ngram_text, model.ngram_text) and config == model.config
    example = torch.randint(6, (2, 9))
    with torch.no_grad():
        assert torch.equal(loaded(example)[0], model(example)[0])
    assert all(p.device.type == "cpu" and p.requires_grad for p in loaded.parameters())


def test_loading_a_model_never_imports_the_compiler(tmp_path):
    """torch computes normal_ (an embedding's init) and empty_like (Module.to_empty) of a meta tensor through Python
    references that import its compiler (torch._dynamo, ~0.9 s) and its symbolic shapes (~0.25 s): time every stage
    that loads a model would spend. The loaded model is checked bit for bit by the tests above."""
    charrnn, forecaster = make_charrnn(7, input="embedding"), make_forecaster(cell="gru")
    save_model(tmp_path / "c.pt", charrnn.config, charrnn)
    save_model(tmp_path / "f.pt", forecaster.config, forecaster)
    code = textwrap.dedent(f"""
        import sys, torch
        from rnnpipe.charrnn.model import load_charrnn
        from rnnpipe.forecaster.model import load_forecaster
        load_charrnn({str(tmp_path / "c.pt")!r}), load_forecaster({str(tmp_path / "f.pt")!r})
        compiler = ("torch._dynamo", "torch.fx.experimental.symbolic_shapes")
        print(*(name in sys.modules for name in compiler))
        with torch.device("meta"):
            torch.nn.Embedding(7, 3).to_empty(device="cpu")
        print(*(name in sys.modules for name in compiler))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False", "True", "True"]  # torch's own calls import them: it can fail
