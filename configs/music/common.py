"""Fields every music preset shares (``experiments/music/task.py``); presets change a few."""

from configs import base


def get_config():
    config = base.get_config()
    config.experiment = "music"

    config.data = base.ml_collections.ConfigDict()
    config.data.source = "generated"  # generated (offline) | mat (Boulanger-Lewandowski's rolls) | midi (a folder)
    config.data.path = ""  # mat: the file (JSB_Chorales.mat); midi: the folder
    config.data.frames_per_beat = 2  # midi: frames a quarter note (2: eighth notes); also the sampled MIDI's
    config.data.num_pieces = 400  # generated: how many pieces...
    config.data.generator_seed = 0  # ...by this seed
    config.data.split_seed = 0  # generated, midi without train/valid/test folders: the split's permutation
    config.data.valid_fraction = 0.1
    config.data.test_fraction = 0.1
    config.data.max_train_frames = 0  # > 0: train on windows of this many predictions of longer pieces
    config.data.transpose = 0  # > 0: shift each training piece by up to this many semitones (augmentation)
    config.data.num_buckets = 4  # padded lengths (a program each)
    config.data.eval_batch_size = 0  # 0: train.batch_size

    config.model.cell = "gru"
    config.model.hidden_size = 256
    config.model.num_layers = 1
    config.model.head = "bernoulli"  # bernoulli (independent keys) | nade (RNN-NADE: keys of a frame jointly)
    config.model.nade_hidden = 150  # nade: hidden units of the NADE
    config.model.input_dropout = 0.0  # on the frames the RNN reads
    config.model.dropout = 0.0  # between layers and before the head
    config.model.variational = False  # the same dropout mask at every step of a piece
    config.model.weight_drop = 0.0  # DropConnect on the recurrent kernels (AWD-LSTM)

    config.sample = base.ml_collections.ConfigDict()  # --mode=sample
    config.sample.num_samples = 4  # pieces sampled...
    config.sample.length = 64  # ...of this many frames after the primer
    config.sample.primer = "test"  # test: the first frames of a test piece | none: from a silent frame
    config.sample.piece = 0  # primer=test: which test piece (also the one of the probability plot)
    config.sample.primer_frames = 16
    config.sample.temperature = 1.0  # 0: each key (nade: in turn) at its more likely value
    config.sample.seed = 0
    config.sample.bpm = 100.0  # the MIDI files' tempo (beats of data.frames_per_beat frames)

    config.optim.update(name="adam", learning_rate=1e-3, clip_norm=1.0)
    config.train.update(batch_size=16, num_epochs=50, log_every=50, best_metric="nll", best_mode="min")
    config.train.update(eval_every=0, checkpoint_every=0, early_stopping_evals=10)
    return config


def smoke(config):
    """Seconds: a 1x16 GRU, 30 steps; every artefact of a full run."""
    config.model.update(hidden_size=16, nade_hidden=8)
    config.train.update(batch_size=8, num_epochs=0, num_steps=30, eval_every=15, checkpoint_every=15, log_every=5)
    config.train.early_stopping_evals = 0
    config.sample.update(num_samples=2, length=16, primer_frames=4)
    if config.data.source == "generated":
        config.data.num_pieces = 60
    else:
        config.data.max_train_frames = min(config.data.max_train_frames or 64, 64)
    return config
