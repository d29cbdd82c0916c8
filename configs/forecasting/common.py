"""Fields every forecasting preset shares (``experiments/forecasting/task.py``); presets change a few."""

from configs import base


def get_config():
    config = base.get_config()
    config.experiment = "forecasting"

    config.data = base.ml_collections.ConfigDict()
    config.data.source = "csv"  # csv | statsmodels
    config.data.path = ""  # csv: the file (e.g. ETTh1.csv)
    config.data.dataset = "sunspots"  # statsmodels: sunspots | co2 | nile
    config.data.header = True  # csv: False reads numbers only, no header or dates (LSTNet's files; split ratio)
    config.data.date_column = "date"
    config.data.target = "OT"  # statsmodels: "" is the dataset's value column
    config.data.features = "S"  # S (target only) | M (all columns -> all) | MS (all columns -> target)
    config.data.columns = ""  # M/MS: a comma-separated subset of input columns ("": all)
    config.data.fill = "error"  # error | ffill: what a missing cell does
    config.data.split = "ett"  # ett (12/4/4 months) | ratio | dates
    config.data.split_ratios = "0.7,0.1,0.2"
    config.data.valid_start = ""  # split=dates
    config.data.test_start = ""
    config.data.lookback = 96
    config.data.horizon = 24
    config.data.stride = 1  # between training windows
    config.data.eval_stride = 1  # between evaluation windows
    config.data.context = "previous"  # previous: eval lookbacks may start in the split before (Informer) | none
    config.data.eval_batch_size = 0  # 0: train.batch_size

    config.forecast = base.ml_collections.ConfigDict()
    config.forecast.seasonal_period = 24  # seasonal naive; 0: off
    config.forecast.mase_period = 1  # MASE's in-sample naive lag
    config.forecast.ar_lags = 0  # > 0: an AR(p) baseline (statsmodels AutoReg, fitted on train)
    config.forecast.arima_order = ""  # "p,d,q": an ARIMA baseline (statsmodels, fitted on train)
    config.forecast.interval_z = 1.96  # Gaussian head: intervals mean +- z * sigma
    config.forecast.anomaly_threshold = 4.0  # --mode=anomalies: |z| of the one-step residual

    config.model.cell = "lstm"
    config.model.hidden_size = 64
    config.model.num_layers = 1
    config.model.decoder = "direct"  # direct | autoregressive | segment (SegRNN)
    config.model.segment_length = 24  # segment: steps per segment (a divisor of data.lookback)
    config.model.segment_decoder = "parallel"  # segment: parallel (every horizon segment at once) | recurrent
    config.model.channel_embedding = True  # segment, parallel, channel-independent: a learned vector per channel
    config.model.relative = True  # forecast the change from the last observed values (NLinear)
    config.model.revin = False  # reversible instance normalisation per window (RevIN); excludes model.relative
    config.model.revin_affine = False  # RevIN with a learned weight and bias per channel
    config.model.channel_independent = False  # each target channel alone, shared weights (DLinear, PatchTST)
    config.model.head_dropout = 0.0  # direct, segment: dropout on what the output layer reads
    config.model.gaussian = False  # a mean and a sigma per step, Gaussian NLL
    config.model.teacher_forcing = 0.5  # autoregressive: P(feed the true previous value) in training

    config.optim.update(name="adam", learning_rate=1e-3, clip_norm=1.0)
    config.train.update(batch_size=32, num_epochs=10, log_every=100, best_metric="mse", best_mode="min")
    config.train.update(eval_every=0, checkpoint_every=0, early_stopping_evals=3)

    config.predict = base.ml_collections.ConfigDict()
    config.predict.split = "test"  # predict and anomalies modes
    config.predict.num_plots = 4  # forecast-vs-actual PNGs
    return config


def smoke(config):
    """Seconds: a 1x16 LSTM over short windows, 30 steps; every artefact of a full run."""
    config.model.update(hidden_size=16, num_layers=1)
    config.data.update(lookback=min(config.data.lookback, 24), horizon=min(config.data.horizon, 6))
    config.data.eval_stride = 4
    config.train.update(batch_size=16, num_epochs=0, num_steps=30, eval_every=15, checkpoint_every=15, log_every=5)
    config.train.early_stopping_evals = 0
    config.forecast.update(seasonal_period=min(config.forecast.seasonal_period, 12), arima_order="")
    config.optim.learning_rate = 3e-3
    return config
