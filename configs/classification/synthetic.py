"""Sentiment on the generated compositional review corpus (offline default, no download).

The corpus (``experiments/classification/synthetic.py``) is synthetic: negation, intensifiers, "but"
contrast and long-distance dependencies, built so that the labels are (nearly) independent of
the bag of words. Order-blind models stay near chance; recurrent models solve it.

Variants: ``bilstm`` (default), ``gru``, ``bow`` (the order-blind baseline: the same head over
max-pooled embeddings, no recurrence), ``smoke``.
"""

from configs.classification import common as sentiment_common

VARIANTS = ("bilstm", "gru", "bow", "smoke")


def get_config(variant: str = "bilstm"):
    config = sentiment_common.get_config()
    config.data.update(format="synthetic", synthetic_train=8000, synthetic_eval=2000)
    config.model.update(cell="lstm", hidden_size=64, embed_size=32, bidirectional=True, pooling="max")
    config.optim.update(name="adam", learning_rate=3e-3, clip_norm=5.0)
    config.train.update(batch_size=64, num_epochs=8, log_every=50)
    if variant == "bilstm":
        pass
    elif variant == "gru":
        config.model.cell = "gru"
    elif variant == "bow":
        config.model.encoder = "bow"
    elif variant == "smoke":
        sentiment_common.smoke(config)
        config.data.update(synthetic_train=400, synthetic_eval=100)
    else:
        raise ValueError(
            f"unknown variant {variant!r} of configs/classification/synthetic.py (one of {', '.join(VARIANTS)})"
        )
    return config
