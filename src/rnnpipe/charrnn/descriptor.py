"""The char-RNN as tracking, the registry and sweeps see it."""
from typing import Any

from rnnpipe.core.cost import training_flops_per_target
from rnnpipe.core.descriptor import ModelDescriptor

# The default corpus's vocabulary: only the output layer's share of the cost (a few percent) depends on it, so two
# configs' costs compare the same on any corpus.
TYPICAL_VOCABULARY = 75


def training_cost(params: Any) -> float:
    """Training FLOPs per training character over all epochs (every character is a target in many_to_many; one
    window per character in many_to_one)."""
    p = params.charrnn
    one_hot = p.input == "one_hot"
    per_target = training_flops_per_target(p.cell, TYPICAL_VOCABULARY if one_hot else p.embedding_dim,
                                           p.hidden_size, p.num_layers, TYPICAL_VOCABULARY,
                                           input_gradient=not one_hot)
    steps = 1 if p.mode == "many_to_many" else p.seq_length  # many_to_one runs the whole window for one target
    return per_target * steps * p.epochs


DESCRIPTOR = ModelDescriptor(
    kind="charrnn",
    experiment="rnnpipe-charrnn",
    ranking_metric="test_bits_per_char",
    lower_is_better=True,
    headline_metrics=("test_bits_per_char", "test_rnn_bits_per_char", "test_ngram_bits_per_char",
                      "best_val_bits_per_char", "train_seconds"),
    headline_params=("charrnn.cell", "charrnn.hidden_size", "charrnn.epochs", "charrnn.lr", "charrnn.ngram_order"),
    training_cost=training_cost,
)
