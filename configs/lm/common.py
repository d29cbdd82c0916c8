"""Fields every language-modelling preset shares (``experiments/lm/task.py``); presets change a few."""

from configs import base


def get_config():
    config = base.get_config()
    config.experiment = "lm"

    config.data = base.ml_collections.ConfigDict()
    config.data.source = "stdlib"  # text | ptb | stdlib | tfds
    config.data.path = ""  # text: the file; ptb: the directory (or prefix) of *.{train,valid,test}.txt
    config.data.level = "char"  # char | word
    config.data.train_fraction = 0.9  # text: the first 90% of characters train, the rest validate
    config.data.max_chars = 0  # stdlib: stop after this many characters (0: every file)
    config.data.tfds_name = "tiny_shakespeare"
    config.data.num_steps = 35  # truncated-BPTT window (Zaremba et al.'s num_steps)
    config.data.min_count = 1  # symbols seen fewer times in train become <unk>
    config.data.max_vocab = 0  # 0: no limit
    config.data.valid_batch_size = 0  # 0: train.batch_size
    config.data.test_batch_size = 0  # 0: train.batch_size; 1: Zaremba's test protocol

    config.task.loss = "mean"  # mean (per token) | zaremba (sum over time of the batch mean)

    config.model.num_layers = 2
    config.model.embed_size = 0  # 0: hidden_size
    config.model.tie_embeddings = False
    config.model.variational = False  # one dropout mask per sequence for all steps (locked dropout)
    config.model.embed_dropout = 0.0  # drop whole words from the embedding matrix
    config.model.weight_drop = 0.0  # DropConnect on the recurrent kernels (AWD-LSTM)

    config.train.best_metric = "nats"
    config.train.eval_every = 0  # once per epoch
    config.train.checkpoint_every = 0

    config.sample = base.ml_collections.ConfigDict()
    config.sample.prime = "\n"
    config.sample.length = 500
    config.sample.temperature = 0.8  # 0: greedy
    config.sample.top_k = 0  # 0: the whole vocabulary
    config.sample.seed = 0
    return config


# The 2x256 character LSTM that trains in minutes on a 2-core CPU (configs/lm/char.py:small, configs/lm/stdlib.py:default).
SMALL_CHAR_LSTM = dict(hidden_size=256, num_layers=2, dropout=0.0, learning_rate=3e-3, min_learning_rate=3e-4)


def char_lstm(config, *, hidden_size, num_layers, dropout, learning_rate, min_learning_rate, num_steps):
    """A character-level LSTM recipe: embedding 64, windows of 100, batch 64, Adam with warmup-cosine."""
    config.data.level = "char"
    config.model.update(cell="lstm", hidden_size=hidden_size, num_layers=num_layers, embed_size=64, dropout=dropout)
    config.data.num_steps = 100
    config.train.batch_size = 64
    config.optim.update(name="adam", learning_rate=learning_rate, clip_norm=5.0, schedule="warmup_cosine")
    config.optim.update(warmup_steps=100, min_learning_rate=min_learning_rate)
    config.train.update(num_steps=num_steps, log_every=50)
    return config


def smoke(config):
    """Seconds on the offline stdlib corpus: a 1x32 LSTM, 40 steps; every artefact of a full run."""
    config.data.update(source="stdlib", max_chars=60_000, num_steps=16)
    config.model.update(hidden_size=32, num_layers=1, embed_size=0, dropout=0.0)
    config.train.update(batch_size=16, num_steps=40, eval_every=20, checkpoint_every=20, log_every=10)
    config.optim.update(learning_rate=1e-2, schedule="constant")
    config.sample.length = 40
    return config
