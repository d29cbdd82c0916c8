"""Fields every sentiment preset shares (``experiments/classification/task.py``); presets change a few."""

from configs import base


def get_config():
    config = base.get_config()
    config.experiment = "classification"

    config.data = base.ml_collections.ConfigDict()
    config.data.format = "synthetic"  # glue | aclimdb | posneg | csv | jsonl | tfds | hf | synthetic
    config.data.path = ""  # the dataset's directory (csv/jsonl: or one file)
    config.data.text_column = ""  # glue/csv/jsonl/hf; "": the format's default (sentence or text)
    config.data.label_column = ""  # "": label
    config.data.labels = ""  # declared label values in class order, e.g. "0,1"; "": the format's default
    config.data.label_names = ""  # display names, e.g. "negative,positive"; "": from the labels
    config.data.valid_fraction = 0.0  # > 0: hold out this fraction of train as "valid" (picks the best checkpoint)
    config.data.holdout = "random"  # random rows | sentences: whole sentences, their sub-phrases out of train (SST)
    config.data.test_fraction = 0.1  # posneg and single-file csv/jsonl: held out as "test"
    config.data.max_examples = 0  # cap every split (0: all), for quick runs
    config.data.tfds_name = "imdb_reviews"
    config.data.hf_name = "sst2"
    config.data.synthetic_train = 8000  # synthetic: generated reviews for train...
    config.data.synthetic_eval = 2000  # ...and for each of valid and test
    config.data.min_count = 1  # words seen fewer times in train become <unk>
    config.data.max_vocab = 0  # 0: no limit (<pad> and <unk> included)
    config.data.max_length = 0  # cut texts to this many tokens (0: no cut)
    config.data.num_buckets = 4  # padded lengths: quantiles of the train lengths...
    config.data.buckets = ""  # ...or these, e.g. "16,32,64"
    config.data.eval_batch_size = 0  # 0: train.batch_size
    config.data.embeddings = ""  # a GloVe-format text file ("word v1 ... vE" per line) to start from

    config.model.cell = "lstm"
    config.model.hidden_size = 128
    config.model.bidirectional = True
    config.model.embed_size = 128
    config.model.encoder = "rnn"  # rnn | bow (order-blind baseline: pooled embeddings, no recurrence)
    config.model.pooling = "max"  # last | mean | max | attention
    config.model.head_hidden = 0  # ReLU units before the output layer; 0: linear head
    config.model.word_dropout = 0.0  # a token becomes <unk> with this probability in training
    config.model.adversarial_eps = 0.0  # > 0: also train on adversarially perturbed embeddings (relative size)
    config.model.subword_buckets = 0  # > 0: add each word's hashed character n-grams (fastText), in this many buckets
    config.model.subword_ngrams = "3,5"  # n-gram lengths, min,max, of "<word>"
    config.model.subword_width = 24  # n-grams kept per word (shorter first)

    config.train.batch_size = 32
    config.train.best_metric = "accuracy"
    config.train.best_mode = "max"
    config.train.eval_every = 0  # once per epoch
    config.train.checkpoint_every = 0

    config.predict = base.ml_collections.ConfigDict()
    config.predict.input = "-"  # a file with one text per line; "-": stdin
    config.predict.output = ""  # also write label, probability and text as TSV here
    return config


def smoke(config):
    """Seconds: a 1x16 BiLSTM, 24 steps, tiny buckets; every artefact of a full run."""
    config.model.update(hidden_size=16, embed_size=16, num_layers=1, dropout=0.0, word_dropout=0.0)
    config.data.update(max_examples=400, num_buckets=2)
    config.train.update(batch_size=16, num_steps=24, num_epochs=0, eval_every=12, checkpoint_every=12, log_every=6)
    config.optim.update(name="adam", learning_rate=1e-2, schedule="constant")
    return config
