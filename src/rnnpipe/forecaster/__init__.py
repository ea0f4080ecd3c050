"""The forecaster: a many-to-one RNN reads the previous seq_length values of the signal and predicts the next one."""
