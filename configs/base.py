"""Shared defaults of every preset: presets import this and change a few fields.

Launch: ``python -m experiments.main --config=configs/<preset>.py[:variant] --workdir=DIR``,
override with ``--config.optim.learning_rate=3e-3``. Every field here is read by the harness
(the ``rnn_research/train/`` package) or by the experiment named in ``experiment``.
"""

import ml_collections

# The names config.model.cell takes (rnn_research.cells.make builds each).
CELLS = ("lstm", "gru", "simple_rnn", "layernorm_lstm", "layernorm_gru", "mingru", "minlstm")


def get_config() -> ml_collections.ConfigDict:
    config = ml_collections.ConfigDict()
    config.experiment = ""  # module under experiments/, e.g. "synthetic"
    config.seed = 0

    # The recurrent model; experiments add their own head fields under `model` too.
    config.model = ml_collections.ConfigDict()
    config.model.cell = "lstm"  # lstm | gru | simple_rnn | layernorm_lstm | layernorm_gru | mingru | minlstm
    config.model.hidden_size = 128
    config.model.num_layers = 1
    config.model.bidirectional = False
    config.model.dropout = 0.0
    config.model.forget_bias = 1.0  # LSTM only
    config.model.init_scale = 0.0  # > 0: every parameter U(-s, s) (Zaremba et al.); 0: cell defaults
    config.model.unroll = 1
    config.model.remat = 0  # 0: off; -1: checkpoint every ceil(sqrt(T)) steps; k > 0: every k steps
    config.model.backward = "custom"  # custom: the hand-written backward pass; autodiff: JAX's
    config.model.dtype = "float32"  # compute dtype: float32 | bfloat16
    config.model.learn_initial_state = False  # a learned h_0 (and c_0) per layer instead of zeros
    config.model.truncate_every = 0  # k > 0: stop the gradient into the state every k steps (truncated BPTT)
    config.model.scan_mode = "auto"  # auto | sequential | parallel (mingru, minlstm: parallel over time)

    # Task-specific fields live under `task` (sequence length, data paths, ...).
    config.task = ml_collections.ConfigDict()

    config.optim = ml_collections.ConfigDict()
    config.optim.name = "adam"  # sgd | adam | adamw | rmsprop
    config.optim.learning_rate = 1e-3
    config.optim.momentum = 0.0  # sgd (nesterov off)
    config.optim.weight_decay = 0.0  # adamw
    config.optim.rmsprop_decay = 0.95
    config.optim.eps = 1e-8
    config.optim.clip_norm = 5.0  # global-norm clipping; 0 disables
    config.optim.schedule = "constant"  # constant | warmup_cosine | step_decay
    config.optim.warmup_steps = 0  # warmup_cosine
    config.optim.min_learning_rate = 0.0  # warmup_cosine floor
    config.optim.decay_factor = 0.5  # step_decay: lr *= factor each epoch after...
    config.optim.decay_after_epochs = 4  # ...this many epochs (Zaremba: 4 small, 6 medium, 14 large)
    config.optim.steps_per_epoch = 0  # step_decay; 0: taken from the experiment's data info
    config.optim.ema_decay = 0.0  # > 0 (e.g. 0.999): evaluate and predict with a moving average of the weights

    config.train = ml_collections.ConfigDict()
    config.train.batch_size = 32  # global, over all devices and hosts
    config.train.num_steps = 1000
    config.train.num_epochs = 0  # > 0: train this many epochs instead (experiments that report steps_per_epoch)
    config.train.log_every = 50
    config.train.eval_every = 200  # 0: once per epoch
    config.train.checkpoint_every = 200  # 0: once per epoch
    config.train.keep_checkpoints = 2
    config.train.best_metric = (
        "loss"  # an eval metric (evaluators' too): "metric" on the first eval set, or "split/metric"
    )
    config.train.best_mode = "min"  # min | max
    config.train.early_stopping_evals = 0  # stop after this many evals without improvement; 0: never
    config.train.stop_when = ""  # e.g. "mse<0.01": stop once the first eval set meets it; "": never
    config.train.nonfinite = "halt"  # halt | skip: on a non-finite loss, gradient or updated parameter
    config.train.diagnostics_every = 0  # record dLoss/dh_t every N steps; 0: never
    config.train.plots = True  # PNG curves (and diagnostics heatmaps) at the end
    return config
