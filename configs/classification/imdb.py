"""IMDB movie reviews (Maas et al. 2011, the ``aclImdb`` folders): ``--config.data.path=DIR/aclImdb``.

Reference points (docs/experiments/classification.md): Keras's BiLSTM example about 81.5% after 4
epochs; Dai & Le 2015, an LSTM from scratch, 86.5%. Reviews are cut to their first 400 tokens;
the best checkpoint is chosen on 10% of train held out as ``valid``, and ``test`` is reported.

Variants: ``bilstm`` (default), ``smoke``.
"""

from configs.classification import common as sentiment_common

VARIANTS = ("bilstm", "smoke")


def get_config(variant: str = "bilstm"):
    config = sentiment_common.get_config()
    config.data.update(format="aclimdb", valid_fraction=0.1, max_length=400, max_vocab=30_000, num_buckets=4)
    config.model.update(cell="lstm", hidden_size=128, embed_size=128, bidirectional=True, pooling="max")
    config.model.update(dropout=0.3, word_dropout=0.0)
    config.optim.update(name="adam", learning_rate=1e-3, clip_norm=5.0)
    config.train.update(batch_size=32, num_epochs=4, log_every=100)
    if variant == "bilstm":
        pass
    elif variant == "smoke":
        sentiment_common.smoke(config)
        config.data.update(max_length=64, valid_fraction=0.2)
    else:
        raise ValueError(
            f"unknown variant {variant!r} of configs/classification/imdb.py (one of {', '.join(VARIANTS)})"
        )
    return config
