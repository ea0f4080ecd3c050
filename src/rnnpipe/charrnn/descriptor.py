"""The char-RNN as tracking and the registry see it."""
from rnnpipe.core.descriptor import ModelDescriptor

DESCRIPTOR = ModelDescriptor(
    kind="charrnn",
    experiment="rnnpipe-charrnn",
    ranking_metric="test_bits_per_char",
    lower_is_better=True,
    headline_metrics=("test_bits_per_char", "test_rnn_bits_per_char", "test_ngram_bits_per_char",
                      "best_val_bits_per_char", "train_seconds"),
    headline_params=("charrnn.cell", "charrnn.hidden_size", "charrnn.epochs", "charrnn.lr", "charrnn.ngram_order"),
)
