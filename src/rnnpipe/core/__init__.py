"""What both models share: params, I/O, errors, the training loop, recurrent blocks, plots, MLflow, numerics, threads."""
