"""Penn Treebank word-level LSTM, exactly Zaremba, Sutskever & Vinyals 2014 (arXiv:1409.2329).

Variants ``small`` (test perplexity 114.5 in the paper), ``medium`` (82.7), ``large`` (78.4),
and ``smoke`` (the small recipe shrunk onto the offline stdlib corpus, for tests). PTB is not
shipped: ``--config.data.path=DIR`` holding ``ptb.train.txt``, ``ptb.valid.txt``, ``ptb.test.txt``
(Mikolov's 10k-word version). Their settings, mirrored here: 2 layers; uniform init ``±init_scale``
for every weight; forget-gate bias 0; SGD without momentum at lr 1, multiplied by ``lr_decay``
each epoch after ``max_epoch``; gradient clipping by global norm; loss summed over the window's
time steps of the batch mean; state carried across windows and reset at each epoch; dropout on
non-recurrent connections only; batch 20; test with batch 1. Batch 20 splits over 1, 2, 4, 5,
10 or 20 devices; elsewhere the launcher says so in one line (the recipe is one device).
"""

from configs.lm import common as lm_common

# name: (hidden, num_steps, epochs, max_epoch, lr_decay, dropout, init_scale, clip)
ZAREMBA = {
    "small": (200, 20, 13, 4, 0.5, 0.0, 0.1, 5.0),
    "medium": (650, 35, 39, 6, 0.8, 0.5, 0.05, 5.0),
    "large": (1500, 35, 55, 14, 1 / 1.15, 0.65, 0.04, 10.0),
}


VARIANTS = ("small", "medium", "large", "smoke")


def get_config(variant: str = "small"):
    config = lm_common.get_config()
    config.data.source = "ptb"
    config.data.level = "word"
    config.data.test_batch_size = 1
    config.task.loss = "zaremba"

    config.model.cell = "lstm"
    config.model.num_layers = 2
    config.model.forget_bias = 0.0
    config.optim.name = "sgd"
    config.optim.momentum = 0.0
    config.optim.learning_rate = 1.0
    config.optim.schedule = "step_decay"
    config.train.batch_size = 20
    config.train.log_every = 200
    config.train.keep_checkpoints = 1

    name = "small" if variant == "smoke" else variant
    if name not in ZAREMBA:
        raise ValueError(f"unknown variant {variant!r} of configs/lm/ptb.py (one of {', '.join(VARIANTS)})")
    hidden, num_steps, epochs, max_epoch, decay, dropout, init_scale, clip = ZAREMBA[name]
    config.model.hidden_size = hidden
    config.model.dropout = dropout
    config.model.init_scale = init_scale
    config.data.num_steps = num_steps
    config.train.num_epochs = epochs
    config.optim.decay_after_epochs = max_epoch
    config.optim.decay_factor = decay
    config.optim.clip_norm = clip

    if variant == "smoke":
        config.data.source = "stdlib"
        config.data.max_chars = 40_000
        config.data.min_count = 3
        config.data.test_batch_size = 4
        config.model.hidden_size = 16
        config.data.num_steps = 10
        config.train.num_epochs = 2
        config.train.log_every = 10
        config.optim.decay_after_epochs = 1
        config.sample.length = 20
    return config
