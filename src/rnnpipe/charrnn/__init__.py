"""The char-RNN: corpus cleaning, a recurrent next-character model, its evaluation and text generation."""
