"""The synthetic series: the noisy signal the forecaster learns, and AR(1) processes made by a hand-set nn.RNN."""
