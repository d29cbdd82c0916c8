"""JSB Chorales (Boulanger-Lewandowski et al. 2012's split, quarter-note frames):
``--config.data.path=DIR/JSB_Chorales.mat``.

382 four-part Bach chorales (229 train / 76 valid / 77 test). Published test NLL (nats per
step): Chung et al. 2014 GRU 8.54; Bai, Kolter & Koltun 2018 TCN 8.10. The recipe (a 2 x 256
GRU, dropout 0.3 between layers and before the head, DropConnect 0.7 on the recurrent kernels)
was chosen on valid NLL among 25 runs (docs/experiments/music.md): DropConnect took valid NLL
from 8.48 to 8.24.

Variants: ``bernoulli`` (default: independent keys), ``nade`` (RNN-NADE head), ``smoke``.
"""

from configs.music import common as music_common

VARIANTS = ("bernoulli", "nade", "smoke")


def get_config(variant: str = "bernoulli"):
    config = music_common.get_config()
    config.data.update(source="mat", frames_per_beat=1)
    config.model.update(cell="gru", hidden_size=256, num_layers=2, dropout=0.3, weight_drop=0.7, nade_hidden=150)
    config.train.update(batch_size=16, num_epochs=150, early_stopping_evals=15)
    if variant == "bernoulli":
        pass
    elif variant == "nade":
        config.model.head = "nade"
    elif variant == "smoke":
        music_common.smoke(config)
    else:
        raise ValueError(f"unknown variant {variant!r} of configs/music/jsb.py (one of {', '.join(VARIANTS)})")
    return config
