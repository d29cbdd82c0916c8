"""Fields every genome preset shares (``experiments/genome/task.py``); presets change a few."""

from configs import base


def get_config():
    config = base.get_config()
    config.experiment = "genome"

    config.data = base.ml_collections.ConfigDict()
    config.data.source = "motifs"  # motifs (generated, offline) | splice | table | fasta | fasta_folder
    config.data.path = ""  # the file (splice, table, fasta) or the folder (fasta_folder)
    config.data.sequence_column = "sequence"  # table
    config.data.label_column = "label"  # table
    config.data.labels = ""  # the declared labels in class order, e.g. "EI,IE,N"; "": the sorted labels found
    config.data.length = 0  # > 0: every sequence must have this length
    config.data.deduplicate = False  # keep only the first copy of a repeated sequence
    config.data.num_sequences = 4000  # motifs: how many sequences...
    config.data.generated_length = 100  # ...of this length...
    config.data.motif = "TATAAT"  # ...half of them with this motif planted
    config.data.generator_seed = 0
    config.data.split = "random"  # random | folds (k-fold cross-validation)
    config.data.split_seed = 0  # the permutation behind either split (the same for every fold)
    config.data.test_fraction = 0.1  # random
    config.data.valid_fraction = 0.1  # of what is not test: chooses the checkpoint
    config.data.folds = 10  # folds: how many...
    config.data.fold = 0  # ...and which one is the test set
    config.data.eval_batch_size = 0  # 0: train.batch_size

    config.model.inputs = "onehot"  # onehot | kmer
    config.model.k = 3  # kmer: letters per k-mer...
    config.model.kmer_stride = 1  # ...and the step between k-mers
    config.model.embed_size = 32  # kmer: the k-mer embedding
    config.model.cell = "gru"
    config.model.hidden_size = 64
    config.model.num_layers = 1
    config.model.bidirectional = True
    config.model.pooling = "max"  # last | mean | max | attention
    config.model.head_hidden = 0  # ReLU units before the output layer; 0: linear head
    config.model.dropout = 0.1
    config.model.rc_augment = False  # train on the reverse complement of each example with probability 1/2
    config.model.strand_average = False  # average the logits of a sequence and of its reverse complement

    config.saliency = base.ml_collections.ConfigDict()  # --mode=saliency
    config.saliency.split = "test"  # train | valid | test
    config.saliency.num_sequences = 8  # logo PNGs of the split's first sequences...
    config.saliency.indices = ""  # ...or of these (comma-separated indices into the split)
    config.saliency.target = "predicted"  # predicted | true: the class whose logit is attributed
    config.saliency.steps = 32  # integrated gradients: points on the path from the baseline
    config.saliency.baseline = "uniform"  # uniform (1/4 per base) | zeros

    config.optim.update(name="adam", learning_rate=3e-3, clip_norm=1.0)
    config.train.update(batch_size=64, num_epochs=10, log_every=50, best_metric="accuracy", best_mode="max")
    config.train.update(eval_every=0, checkpoint_every=0, early_stopping_evals=0)
    return config


def smoke(config):
    """Seconds: a small BiGRU, 30 steps, every artefact of a full run."""
    config.model.update(hidden_size=16)
    config.optim.schedule = "constant"
    config.train.update(batch_size=32, num_epochs=0, num_steps=30, eval_every=15, checkpoint_every=15, log_every=5)
    if config.data.source == "motifs":
        config.data.update(num_sequences=600, generated_length=60)
    return config
