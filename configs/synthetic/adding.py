"""The adding problem (Hochreiter & Schmidhuber 1997) at T=200: LSTM and GRU solve it, SimpleRNN does not.

Variants: a cell name (``configs/synthetic/adding.py:lstm``, the default; ``:gru``, ``:simple_rnn``,
``:layernorm_lstm``, ``:layernorm_gru``, ``:mingru``, ``:minlstm``) or ``:smoke`` (seconds, for tests).
Success is test MSE < 0.01; answering 1 always gives 0.167.
"""

from configs import base

CELLS = base.CELLS  # every cell is a variant
VARIANTS = (*CELLS, "smoke")


def get_config(variant: str = "lstm"):
    config = base.get_config()
    config.experiment = "synthetic"
    config.task.name = "adding"
    config.task.seq_len = 200
    config.task.copy_length = 0
    config.task.eval_size = 1024

    config.model.hidden_size = 64
    config.optim.name = "adam"
    config.optim.learning_rate = 3e-3
    config.optim.clip_norm = 1.0
    config.train.batch_size = 64
    config.train.num_steps = 3000
    config.train.log_every = 50
    config.train.eval_every = 250
    config.train.checkpoint_every = 250
    config.train.best_metric = "mse"
    config.train.diagnostics_every = 250

    if variant in CELLS:
        config.model.cell = variant
    elif variant == "smoke":
        config.task.seq_len = 20
        config.task.eval_size = 64
        config.model.hidden_size = 16
        config.train.batch_size = 16
        config.train.num_steps = 30
        config.train.log_every = 10
        config.train.eval_every = 15
        config.train.checkpoint_every = 15
        config.train.diagnostics_every = 15
    else:
        raise ValueError(f"unknown variant {variant!r} of configs/synthetic/adding.py (one of {', '.join(VARIANTS)})")
    return config
