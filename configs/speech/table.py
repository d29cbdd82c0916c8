"""Your own recordings: ``--config.data.path=TABLE.csv`` (columns ``path`` and ``text``; paths
relative to the table's folder) split 80/10/10 by ``data.split_seed``, or a folder holding
``train.csv``, ``valid.csv`` and ``test.csv`` (or ``.tsv``). Character-level CTC over
``data.alphabet`` (empty: the characters of the training transcripts); with a space in it, the
word error rate is reported too.

Variants: ``default``, ``smoke``.
"""

from configs.speech import common as speech_common

VARIANTS = ("default", "smoke")


def get_config(variant: str = "default"):
    config = speech_common.get_config()
    config.data.update(source="table", sample_rate=16000)
    config.model.update(hidden_size=256, num_layers=3, subsample=3)
    if variant == "default":
        pass
    elif variant == "smoke":
        speech_common.smoke(config)
    else:
        raise ValueError(f"unknown variant {variant!r} of configs/speech/table.py (one of {', '.join(VARIANTS)})")
    return config
