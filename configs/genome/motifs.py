"""The offline default: generated DNA, half of it with a planted motif (no download).

``experiments/genome/sources.py`` (``generate_motifs``) draws 4,000 sequences of 100 bases from a
fixed order-1 Markov chain; half (by the seeded generator) get ``TATAAT`` planted at a uniformly
random position and are labelled ``motif``; the others, labelled ``background``, are redrawn
until neither strand holds the motif. A model must find the motif wherever it is, on either
strand: the preset trains on both strands (``model.rc_augment``) and averages them
(``model.strand_average``).

Variants: ``bigru`` (default; one-hot nucleotides), ``kmer`` (embedded 3-mers), ``smoke``.
"""

from configs.genome import common as genome_common

VARIANTS = ("bigru", "kmer", "smoke")


def get_config(variant: str = "bigru"):
    config = genome_common.get_config()
    config.data.update(source="motifs", labels="background,motif")
    config.model.update(rc_augment=True, strand_average=True)
    if variant == "bigru":
        pass
    elif variant == "kmer":
        config.model.update(inputs="kmer", k=3, kmer_stride=1, embed_size=32)
    elif variant == "smoke":
        genome_common.smoke(config)
    else:
        raise ValueError(f"unknown variant {variant!r} of configs/genome/motifs.py (one of {', '.join(VARIANTS)})")
    return config
