"""SST-2 (GLUE TSV: ``train.tsv``, ``dev.tsv``), from scratch: ``--config.data.path=DIR``.

Targets (``../shared/docs/TARGETS.md``, dev accuracy, 872 sentences): Flax's ``examples/sst2``
LSTM 85.09% (CPU), Tai et al. 2015 with GloVe: LSTM 84.9, 2-layer LSTM 86.3, BiLSTM 87.5.
The best checkpoint is chosen on ``valid``, never on dev: 10% of the whole train sentences (689
of 6,890), with every phrase that is part of one removed from train (59,418 phrases remain).

Variants: ``bilstm`` (default: BiLSTM 2x256, max pooling, 300-d embeddings from scratch),
``lstm`` (Flax's example: one LSTM 256 read to its last state, SGD with momentum), ``smoke``.
"""

from configs import sentiment_common


def get_config(variant: str = "bilstm"):
    config = sentiment_common.get_config()
    # valid: 10% of the whole train sentences, their sub-phrases out of train (dev holds whole sentences)
    config.data.update(format="glue", holdout="sentences", valid_fraction=0.1, num_buckets=4)
    config.model.update(cell="lstm", hidden_size=256, embed_size=300, bidirectional=True, pooling="max")
    config.model.update(dropout=0.5, word_dropout=0.1, head_hidden=0)
    config.optim.update(name="adam", learning_rate=1e-3, clip_norm=5.0, schedule="constant")
    config.train.update(batch_size=64, num_epochs=4, log_every=100)
    if variant == "bilstm":
        pass
    elif variant == "lstm":  # Flax examples/sst2: embed 300, LSTM 256, last state, MLP, SGD momentum 0.9
        config.model.update(bidirectional=False, pooling="last", head_hidden=1024)
        config.optim.update(name="sgd", learning_rate=0.1, momentum=0.9)
        config.train.num_epochs = 10
    elif variant == "smoke":
        sentiment_common.smoke(config)
        config.data.update(valid_fraction=0.1, holdout="random")  # any tiny GLUE-format file
    else:
        raise ValueError(f"unknown variant {variant!r} of sentiment_sst2 (bilstm, lstm, smoke)")
    return config
