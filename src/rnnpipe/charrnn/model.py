"""The char model and its config: an input encoding (embedding or one-hot) + a ManyToMany RNN → next-char logits,
and, when it has one, a Kneser-Ney n-gram part mixed in (rnnpipe.charrnn.mixture); log_probs() is the model's
next-character distribution, the one evaluation, generation and serving read."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, ClassVar, Optional, Sequence

import numpy as np
import torch
from pydantic import Field, model_validator
from torch import nn
from torch.nn import functional as F

from rnnpipe.charrnn.mixture import NO_GATES, GateWeights, gate_signals, mixed_log_probs
from rnnpipe.charrnn.ngram import KneserNey
from rnnpipe.core.checkpoint import ModelConfig, load_model
from rnnpipe.core.dropout import Dropout
from rnnpipe.core.errors import CheckpointError, restore_hint
from rnnpipe.charrnn.params import MAX_NGRAM_ORDER, CharInput, CharMode, CharRNNParams
from rnnpipe.core.params import Allowed, Cell, at_least, one_of
from rnnpipe.core.recurrent import ManyToMany, State


_Finite = Annotated[float, Field(allow_inf_nan=False)]


class CharRNNConfig(ModelConfig):
    """What builds the model (the "arch" fields) and how it reads text (mode, seq_length, vocab)."""

    kind: ClassVar[str] = "charrnn"
    ARCH: ClassVar[tuple[str, ...]] = ("vocab_size", "hidden_size", "num_layers", "cell", "input", "embedding_dim",
                                       "dropout", "weight_dropout", "ngram_order", "ngram_chars")
    vocab_size: at_least(1)
    hidden_size: at_least(1)
    num_layers: at_least(1)
    cell: one_of(Cell)
    input: one_of(CharInput)
    embedding_dim: at_least(1)
    dropout: Annotated[float, Field(ge=0, lt=1), Allowed("a number in [0, 1)")]
    # DropConnect on the LSTM's recurrent weights in training (FastLSTM); no weights of its own, so checkpoints
    # written before it existed load with 0.
    weight_dropout: Annotated[float, Field(ge=0, lt=1), Allowed("a number in [0, 1)")] = 0.0
    mode: one_of(CharMode)
    seq_length: at_least(1)
    vocab: Annotated[list[str], Field(min_length=1), Allowed("a non-empty list of characters")]
    # The n-gram part (rnnpipe.charrnn.mixture): its order (0: none), the length of the text it is estimated on
    # (training and validation text after training; stored in the checkpoint as the buffer ngram_text) and the
    # two weights of the log-linear mixture. Checkpoints written before the n-gram part existed load as pure RNNs.
    ngram_order: Annotated[int, Field(ge=0, le=MAX_NGRAM_ORDER),
                           Allowed(f"0 (no n-gram part) or an integer in [1, {MAX_NGRAM_ORDER}]")] = 0
    ngram_chars: Annotated[int, Field(ge=0), Allowed("an integer >= 0")] = 0
    rnn_weight: Annotated[float, Field(allow_inf_nan=False), Allowed("a finite number")] = 1.0
    ngram_weight: Annotated[float, Field(allow_inf_nan=False), Allowed("a finite number")] = 0.0
    # The gated mixture's four gate weights (a_depth, a_entropy, b_depth, b_entropy; rnnpipe.charrnn.mixture): all 0,
    # the plain product. Checkpoints written before them load with 0.
    gate_weights: Annotated[tuple[_Finite, _Finite, _Finite, _Finite], Allowed("four finite numbers")] = NO_GATES
    # The RNN part's softmax temperature, fitted on validation after training (charrnn.calibrate; 1: the logits as
    # trained): its own distribution is log_softmax(logits / rnn_temperature). The mixture reads the RNN's logits as
    # trained (its weight rnn_weight scales them anyway). Checkpoints written before it existed load with 1.
    rnn_temperature: Annotated[float, Field(gt=0, allow_inf_nan=False), Allowed("a number > 0")] = 1.0
    # What params.yaml `charrnn` sets as it is; the rest comes from the corpus (vocab) and the n-gram fit.
    _FROM_PARAMS: ClassVar[set[str]] = {"hidden_size", "num_layers", "cell", "input", "embedding_dim", "dropout",
                                        "weight_dropout", "mode", "seq_length"}

    @classmethod
    def from_params(cls, p: CharRNNParams, vocab: Sequence[str]) -> "CharRNNConfig":
        """The config params.yaml `charrnn` asks for on this vocabulary, without an n-gram part (training attaches
        it after the RNN is trained: CharRNN.attach_ngram)."""
        return cls(vocab_size=len(vocab), vocab=list(vocab), **p.model_dump(include=cls._FROM_PARAMS))

    @model_validator(mode="after")
    def _vocab_matches_its_size(self) -> "CharRNNConfig":
        if len(self.vocab) != self.vocab_size:
            raise ValueError(f"vocab has {len(self.vocab)} characters but vocab_size is {self.vocab_size}")
        if (self.ngram_order == 0) != (self.ngram_chars == 0):
            raise ValueError(f"ngram_order {self.ngram_order} with ngram_chars {self.ngram_chars}: an n-gram part "
                             "needs both > 0, none both 0")
        return self


class OneHot(nn.Module):
    """The course's input encoding, computed on the fly: no per-sample Python loop, no stored one-hot rows."""

    def __init__(self, vocab_size: int):
        super().__init__()
        self.vocab_size = vocab_size

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return F.one_hot(ids, self.vocab_size).float()


class CharRNN(nn.Module):
    """Character ids [B, T] → the RNN part's next-character logits [B, T, V] (and the recurrent state, to carry on);
    log_probs turns them into the model's distribution, with the n-gram part (ngram, config.*_weight) mixed in."""

    def __init__(self, config: CharRNNConfig):
        super().__init__()
        self.config = config
        if config.input == "embedding":
            self.encode: nn.Module = nn.Embedding(config.vocab_size, config.embedding_dim)
            input_size = config.embedding_dim
        else:
            self.encode = OneHot(config.vocab_size)
            input_size = config.vocab_size
        self.input_dropout = Dropout(config.dropout if config.input == "embedding" else 0.0)
        self.net = ManyToMany(input_size, config.hidden_size, config.vocab_size, num_layers=config.num_layers,
                              cell=config.cell, dropout=config.dropout, weight_dropout=config.weight_dropout)
        if config.ngram_order:
            self.register_buffer("ngram_text", torch.zeros(config.ngram_chars, dtype=torch.int16))
        self._ngram: Optional[KneserNey] = None
        # ngram_text changes only through attach_ngram and load_state_dict: each drops the n-gram estimated on the
        # old text.
        self.register_load_state_dict_post_hook(CharRNN._forget_ngram)

    def forward(self, ids: torch.Tensor, state: State = None) -> tuple[torch.Tensor, State]:
        """The RNN part's logits: what training fits. The char model's own distribution is log_probs()."""
        return self.net(self.input_dropout(self.encode(ids)), state)

    def log_probs(self, logits: torch.Tensor, stream: Sequence[int] | np.ndarray | torch.Tensor,
                  positions: Sequence[int] | np.ndarray | torch.Tensor) -> torch.Tensor:
        """log p(next character | stream[:t]) over the vocabulary for each t in `positions` (t may be len(stream):
        the character after it): [len(positions), V], from the RNN part's logits for those positions ([..., V], what
        forward gave there). With an n-gram part, the mixture (mixture.mixed_log_probs, float64); without, the RNN's
        own (rnn_log_probs, float32)."""
        ngram = self.ngram
        if ngram is None:
            return self.rnn_log_probs(logits)
        where = np.asarray(positions, dtype=np.int64)
        # The n-gram reads the order-1 characters before each position and no more: slicing the stream to them keeps
        # a character's cost flat however long the history grows.
        low = max(0, int(where.min()) - ngram.order + 1)
        history = np.asarray(stream[low:int(where.max())], dtype=np.int64)
        config = self.config
        if not any(config.gate_weights):
            return mixed_log_probs(logits, ngram.distributions(history, where - low), config.rnn_weight,
                                   config.ngram_weight)
        distributions, depths = ngram.distributions_and_depths(history, where - low)
        return mixed_log_probs(logits, distributions, config.rnn_weight, config.ngram_weight,
                               (config.gate_weights, gate_signals(distributions, depths, ngram.order)))

    def rnn_log_probs(self, logits: torch.Tensor) -> torch.Tensor:
        """The RNN part's own next-character log-probabilities [..., V] from its logits: log_softmax(logits /
        config.rnn_temperature), float32 (at temperature 1 exactly the distribution its training loss scores)."""
        temperature = self.config.rnn_temperature
        return torch.log_softmax(logits if temperature == 1.0 else logits / temperature, dim=-1)

    def set_temperature(self, temperature: float) -> None:
        """Make `temperature` the RNN part's softmax temperature (config.rnn_temperature)."""
        self.config = CharRNNConfig.model_validate({**self.config.model_dump(), "rnn_temperature": temperature})

    @property
    def ngram(self) -> Optional[KneserNey]:
        """The n-gram part, estimated on the stored text the first time it is needed (0.2 s for the
        default corpus), again after that text is replaced (attach_ngram, load_state_dict); None for a pure RNN."""
        if not self.config.ngram_order:
            return None
        if self._ngram is None:
            text = self.ngram_text.numpy().astype(np.int64)
            self._ngram = KneserNey(text, self.config.ngram_order, self.config.vocab_size)
        return self._ngram

    def _forget_ngram(self, *_: object) -> None:
        self._ngram = None

    def attach_ngram(self, text: torch.Tensor, order: int, rnn_weight: float, ngram_weight: float,
                     gate_weights: GateWeights = NO_GATES) -> None:
        """Make the `order`-gram estimated on `text` (character ids) the n-gram part, with these mixture weights."""
        self.config = CharRNNConfig.model_validate({**self.config.model_dump(), "ngram_order": order,
                                                    "ngram_chars": len(text), "rnn_weight": rnn_weight,
                                                    "ngram_weight": ngram_weight, "gate_weights": gate_weights})
        self.register_buffer("ngram_text", text.detach().to(torch.int16).clone())
        self._forget_ngram()


def load_charrnn(path: str | Path) -> tuple[CharRNNConfig, CharRNN]:
    config, model = load_model(path, CharRNNConfig, CharRNN)
    if config.ngram_order:
        text = model.ngram_text
        if int(text.min()) < 0 or int(text.max()) >= config.vocab_size:
            raise CheckpointError(f"checkpoint {path}: its n-gram text holds character ids outside [0, "
                                  f"{config.vocab_size}) (the file was altered?); "
                                  f"{restore_hint(path, 'train_charrnn')}")
    return config, model
