"""A folder of MIDI files: ``--config.data.path=DIR`` (``DIR/train``, ``DIR/valid``, ``DIR/test``,
or one folder split 80/10/10 by ``data.split_seed``), ``data.frames_per_beat`` frames a beat.

The JSB recipe (``configs/music/jsb.py``) on the rolls pretty_midi reads; notes outside the 88
piano keys are dropped and counted. Variants: ``bernoulli`` (default), ``nade``, ``smoke``.
"""

from configs.music import common as music_common
from configs.music import jsb

VARIANTS = ("bernoulli", "nade", "smoke")


def get_config(variant: str = "bernoulli"):
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r} of configs/music/midi.py (one of {', '.join(VARIANTS)})")
    config = jsb.get_config("nade" if variant == "nade" else "bernoulli")
    config.data.update(source="midi", frames_per_beat=2)
    if variant == "smoke":
        music_common.smoke(config)
    return config
