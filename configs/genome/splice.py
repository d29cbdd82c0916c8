"""UCI splice junctions (Towell, Shavlik & Noordewier 1992): ``--config.data.path=DIR/splice.csv``.

3,190 primate sequences of 60 bases centred on a possible junction: EI (exon-intron, donor), IE
(intron-exon, acceptor), N (neither). The UCI page reports 10-fold cross-validation error per
class (KBANN: N 4.62%, EI 7.56%, IE 8.47%); StatLog's RBF network 95.9% accuracy. Splice
sites are strand-specific (the donor's GT reads on the given strand), so no reverse-complement
augmentation or strand averaging here.

Variants: ``bigru`` (default; one-hot nucleotides, BiGRU 128, max pooling, dropout 0.2, 40 epochs
with a cosine learning rate), ``kmer`` (embedded
3-mers), ``smoke``. ``data.split=folds`` by default: fold ``data.fold`` of 10 is the test set
(``python -m benchmarks.cross_validate`` runs the ten).
"""

from configs.genome import common as genome_common

VARIANTS = ("bigru", "kmer", "smoke")


def get_config(variant: str = "bigru"):
    config = genome_common.get_config()
    config.data.update(source="splice", labels="EI,IE,N", length=60, split="folds", folds=10, fold=0)
    # chosen on fold 0's valid accuracy (docs/experiments/genome.md): GRU 128 97.9%, LSTM 128 96.9%, 3-mers 94.8%
    config.model.update(hidden_size=128, dropout=0.2)
    config.optim.update(schedule="warmup_cosine", warmup_steps=100)
    config.train.update(num_epochs=40, early_stopping_evals=0)
    if variant == "bigru":
        pass
    elif variant == "kmer":
        config.model.update(inputs="kmer", k=3, kmer_stride=1, embed_size=32)
    elif variant == "smoke":
        genome_common.smoke(config)
    else:
        raise ValueError(f"unknown variant {variant!r} of configs/genome/splice.py (one of {', '.join(VARIANTS)})")
    return config
