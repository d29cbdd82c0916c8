"""Fields every speech preset shares (``experiments/speech/task.py``); presets change a few."""

from configs import base


def get_config():
    config = base.get_config()
    config.experiment = "speech"

    config.data = base.ml_collections.ConfigDict()
    config.data.source = "dtmf"  # dtmf (offline, generated) | fsdd (Free Spoken Digit Dataset) | table (yours)
    config.data.path = (
        ""  # fsdd: the dataset folder; table: a CSV/TSV (path, text) or a folder of train/valid/test ones
    )
    config.data.sample_rate = 8000  # audio is resampled to this rate (Hz)
    config.data.window_ms = 25.0  # log-mel analysis window...
    config.data.hop_ms = 10.0  # ...every this many milliseconds
    config.data.num_mels = 40
    config.data.deltas = 0  # orders of delta features appended (0, 1 or 2)
    config.data.normalize = "global"  # global (train frames' mean/variance) | utterance | none
    config.data.num_train = 2000  # dtmf, fsdd connected: utterances generated per split...
    config.data.num_valid = 200
    config.data.num_test = 500
    config.data.generator_seed = 0  # ...by seeds generator_seed (train), +1 (valid), +2 (test)
    config.data.min_symbols = 3  # keys or digits an utterance...
    config.data.max_symbols = 7
    config.data.task = "connected"  # fsdd: connected (digit strings) | isolated (one digit each)
    config.data.split = "take"  # fsdd: take (official: takes 0-4 test, 5-9 valid) | speaker (held out)
    config.data.test_speakers = "theo"  # fsdd split=speaker, comma-separated
    config.data.valid_speakers = "jackson"
    config.data.alphabet = ""  # table: the symbols ("" = every character of the training transcripts)
    config.data.split_seed = 0  # table with one file: the split's permutation...
    config.data.valid_fraction = 0.1  # ...and its fractions
    config.data.test_fraction = 0.1
    config.data.num_buckets = 4  # padded lengths (a program each)
    config.data.eval_batch_size = 0  # 0: train.batch_size

    config.model.cell = "gru"
    config.model.hidden_size = 128
    config.model.num_layers = 2
    config.model.bidirectional = True
    config.model.dropout = 0.1  # between layers and before the output layer
    config.model.frontend = "stack"  # stack (concatenate frames) | conv (strided convolution)
    config.model.subsample = 2  # frames per RNN step
    config.model.conv_features = 128  # frontend=conv
    config.model.freq_masks = 2  # SpecAugment (training only): bands of up to freq_mask_width channels...
    config.model.freq_mask_width = 6
    config.model.time_masks = 2  # ...and spans of up to time_mask_width frames, set to 0
    config.model.time_mask_width = 10

    config.eval = base.ml_collections.ConfigDict()
    config.eval.beam = 1  # 1: greedy best path; > 1: CTC prefix beam search of this width

    config.transcribe = base.ml_collections.ConfigDict()  # --mode=transcribe / --mode=posteriors
    config.transcribe.input = "-"  # audio files, comma-separated, or a folder; "-": paths on stdin, one a line
    config.transcribe.output = ""  # also write path<TAB>transcript here
    config.transcribe.plot = False  # transcribe: a spectrogram + posteriors PNG per file
    config.transcribe.num_utterances = 4  # posteriors: validation utterances drawn

    # A constant rate: cosine decay to 0 (100 warmup steps) scored a worse valid error rate on FSDD
    # connected digits (2.54% against 1.74%; docs/experiments/speech.md).
    config.optim.update(name="adam", learning_rate=2e-3, clip_norm=5.0)
    config.train.update(batch_size=32, num_epochs=20, log_every=50, best_metric="valid/error_rate", best_mode="min")
    config.train.update(eval_every=0, checkpoint_every=0, early_stopping_evals=0)
    return config


def smoke(config):
    """Seconds: a 1 x 16 bidirectional GRU on a few utterances; every artefact of a full run."""
    config.data.update(num_train=24, num_valid=8, num_test=8, max_symbols=4)
    config.model.update(hidden_size=16, num_layers=1)
    config.train.update(batch_size=8, num_epochs=0, num_steps=20, eval_every=10, checkpoint_every=10, log_every=5)
    config.train.early_stopping_evals = 0
    config.transcribe.num_utterances = 2
    return config
