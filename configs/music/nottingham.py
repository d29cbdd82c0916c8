"""Nottingham folk tunes (Boulanger-Lewandowski et al. 2012's split, eighth-note frames):
``--config.data.path=DIR/Nottingham.mat``.

1,037 tunes (694 train / 173 valid / 170 test, 176,561 training frames). Published test NLL (nats
per step): Bai, Kolter & Koltun 2018 LSTM 3.29, GRU 3.46, TCN 3.07. The recipe is JSB's 2 x 256
GRU with dropout 0.3 but without DropConnect: on this larger set DropConnect 0.5 slowed learning
(valid 4.23 against 3.81 after 16 epochs). At a constant learning rate valid NLL plateaued near
3.29 from epoch 37; the ``bernoulli`` variant therefore multiplies the rate by 0.7 every epoch
after the 36th and evaluates a moving average of the weights (decay 0.995, about 4.5 epochs),
which took valid NLL from 3.288 to 3.27 (docs/experiments/music.md). The ``nade`` variant uses
64 NADE units and at most 30 epochs at a constant rate, to train on the 2-core CPU in about 70
minutes.

Variants: ``bernoulli`` (default: independent keys), ``nade`` (RNN-NADE head), ``smoke``.
"""

from configs.music import common as music_common

VARIANTS = ("bernoulli", "nade", "smoke")


def get_config(variant: str = "bernoulli"):
    config = music_common.get_config()
    config.data.update(source="mat", frames_per_beat=2)
    config.model.update(cell="gru", hidden_size=256, num_layers=2, dropout=0.3, weight_drop=0.0)
    config.train.update(batch_size=16, num_epochs=100, early_stopping_evals=15)
    if variant == "bernoulli":
        config.optim.update(schedule="step_decay", decay_after_epochs=36, decay_factor=0.7, ema_decay=0.995)
        config.train.num_epochs = 55
    elif variant == "nade":
        config.model.update(head="nade", nade_hidden=64)
        config.train.update(num_epochs=30, early_stopping_evals=5)
    elif variant == "smoke":
        music_common.smoke(config)
    else:
        raise ValueError(f"unknown variant {variant!r} of configs/music/nottingham.py (one of {', '.join(VARIANTS)})")
    return config
