"""Copy memory (Hochreiter & Schmidhuber 1997; Arjovsky et al. 2016): recall 10 symbols after T blanks.

Variants: a cell name (``:lstm``, the default; ``:gru``, ``:simple_rnn``, ``:layernorm_lstm``,
``:layernorm_gru``, ``:mingru``, ``:minlstm``) or ``:smoke``. The memoryless baseline
cross-entropy is ``10 log 8 / (T + 20)`` per step (0.173 at T=100).
"""

from configs import base

CELLS = base.CELLS  # every cell is a variant
VARIANTS = (*CELLS, "smoke")


def get_config(variant: str = "lstm"):
    config = base.get_config()
    config.experiment = "synthetic"
    config.task.name = "copy"
    config.task.seq_len = 100
    config.task.copy_length = 10
    config.task.eval_size = 1024

    config.model.hidden_size = 128
    config.optim.name = "rmsprop"
    config.optim.learning_rate = 1e-3
    config.optim.clip_norm = 1.0
    config.train.batch_size = 64
    config.train.num_steps = 5000
    config.train.eval_every = 500
    config.train.checkpoint_every = 500
    config.train.best_metric = "xent"
    config.train.diagnostics_every = 500

    if variant in CELLS:
        config.model.cell = variant
    elif variant == "smoke":
        config.task.seq_len = 10
        config.task.copy_length = 3
        config.task.eval_size = 32
        config.model.hidden_size = 16
        config.train.batch_size = 16
        config.train.num_steps = 20
        config.train.log_every = 10
        config.train.eval_every = 10
        config.train.checkpoint_every = 10
        config.train.diagnostics_every = 10
    else:
        raise ValueError(
            f"unknown variant {variant!r} of configs/synthetic/copy_memory.py (one of {', '.join(VARIANTS)})"
        )
    return config
