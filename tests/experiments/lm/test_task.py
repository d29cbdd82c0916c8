"""The language-modelling experiment: learning, stateful truncated BPTT, sampling, bad input, presets."""

from __future__ import annotations

import hashlib
import json
import math
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from configs.lm import char as lm_char
from configs.lm import ptb as lm_ptb
from configs.lm import stdlib as lm_stdlib
from experiments.lm import data as lm_data
from experiments.lm import task as lm
from rnn_research import recurrent, train
from tests.test_main import run

ALPHABET = "abcdefgh"
# The source below moves from symbol i to i+1 with probability 3/4 and to i+3 with 1/4: a doubly
# stochastic chain (uniform stationary law), so its entropy rate is H(1/4) nats per symbol.
ENTROPY_RATE = -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))


def markov_text(n: int, seed: int = 0) -> str:
    jumps = np.random.default_rng(seed).random(n) < 0.25
    states = np.cumsum(np.where(jumps, 3, 1)) % len(ALPHABET)
    return "".join(ALPHABET[s] for s in states)


def config_for(path, **overrides):
    """lm_char's smoke recipe on the text file ``path``, with dotted-key overrides."""
    config = lm_char.get_config("smoke")
    config.data.source, config.data.path = "text", str(path)
    config.train.update(diagnostics_every=0, plots=False)
    for key, value in overrides.items():
        section, field = key.split("__")
        config[section][field] = value
    return config


def write(tmp_path, text, name="corpus.txt"):
    path = tmp_path / name
    path.write_text(text)
    return path


# ------------------------------------------------------------------------------- learning
def test_loss_falls_and_metrics_are_derived_from_nats(tmp_path):
    config = config_for(write(tmp_path, markov_text(20_000)), train__num_steps=40, train__eval_every=40)
    final = train.train_and_evaluate(config, tmp_path / "run", lm)["valid"]
    logged = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    train_nats = [r["nats"] for r in logged if r["split"] == "train"]
    assert train_nats[-1] < train_nats[0] - 0.5
    assert final["nats"] < math.log(len(ALPHABET)) - 0.5  # better than the uniform guess
    assert final["perplexity"] == pytest.approx(math.exp(final["nats"]))
    assert final["bpc"] == pytest.approx(final["nats"] / math.log(2))
    assert json.loads((tmp_path / "run" / "vocab.json").read_text())["symbols"] == list(ALPHABET)


@pytest.mark.slow
def test_model_approaches_the_entropy_rate_of_a_markov_source(tmp_path):
    config = config_for(
        write(tmp_path, markov_text(100_000)),
        model__hidden_size=32,
        model__embed_size=16,
        data__num_steps=32,
        train__batch_size=32,
        train__num_steps=300,
        train__eval_every=300,
        optim__learning_rate=1e-2,
    )
    nats = train.train_and_evaluate(config, tmp_path / "run", lm)["valid"]["nats"]
    # 10,000 validation symbols: the estimate's standard error is about 0.005 nats.
    assert ENTROPY_RATE - 0.02 < nats < ENTROPY_RATE + 0.03, (nats, ENTROPY_RATE)


def test_zaremba_loss_is_the_sum_over_time_of_the_batch_mean(tmp_path):
    config = config_for(write(tmp_path, markov_text(3000)), task__loss="zaremba")
    harness = train.Harness(config, tmp_path, lm)
    batch = next(harness.train_batches(0))
    variables = {"params": harness.model.init(jax.random.PRNGKey(0), batch["inputs"])["params"]}
    carry = lm.init_carry(config, harness.info, batch["inputs"].shape[0])
    loss, (metrics, _) = lm.loss_and_metrics(harness.model, variables, batch, carry, jax.random.PRNGKey(1), True)
    logits, _ = harness.model.apply(variables, batch["inputs"])
    xent = optax.softmax_cross_entropy_with_integer_labels(logits, batch["targets"])
    np.testing.assert_allclose(loss, xent.mean(0).sum(), rtol=1e-5)
    np.testing.assert_allclose(metrics["nats"], xent.mean(), rtol=1e-5)
    np.testing.assert_allclose(loss, metrics["nats"] * config.data.num_steps, rtol=1e-5)


# ------------------------------------------------------------------- stateful truncated BPTT
def stream_nats(harness, params, tokens_2d, num_windows):
    """Mean cross-entropy of one unroll over all windows from a zero state (per window too)."""
    span = num_windows * harness.config.data.num_steps
    inputs, targets = tokens_2d[:, :span], tokens_2d[:, 1 : span + 1]
    logits, _ = harness.model.apply({"params": params}, jnp.asarray(inputs))
    xent = optax.softmax_cross_entropy_with_integer_labels(logits, jnp.asarray(targets))
    return np.asarray(xent).reshape(xent.shape[0], num_windows, -1).mean(axis=(0, 2))


def test_train_carry_persists_across_windows_and_resets_at_each_epoch(tmp_path):
    # A learning rate of 0 keeps the parameters fixed, so each step's loss is a pure function of
    # the window and the carried state.
    config = config_for(
        write(tmp_path, markov_text(4000)),
        train__batch_size=8,
        model__init_scale=0.5,
        optim__name="sgd",
        optim__learning_rate=0.0,
    )
    h = train.Harness(config, tmp_path, lm)
    windows = h.info["steps_per_epoch"]
    batches = h.train_batches(0)
    state = h.init_state(h.shard(next(h.train_batches(0))))
    params = jax.device_get(state.params)
    step = h.make_train_step()
    losses = []
    for _ in range(windows + 2):
        state, (step_metrics, _) = step(state, h.shard(next(batches)))
        losses.append(float(step_metrics["nats"]))

    vocab = h.info["vocab"]
    corpus = lm_data.load_corpus(config.data)
    stream = lm_data.batchify(vocab.encode(corpus.train), config.train.batch_size)
    expected = stream_nats(h, params, stream, windows)
    np.testing.assert_allclose(losses[:windows], expected, rtol=2e-5)  # one long unroll, window by window
    np.testing.assert_allclose(losses[windows : windows + 2], expected[:2], rtol=2e-5)  # epoch 2 starts at zero

    # The carry matters: the second window read from a zero state scores differently.
    second = {k: v[:, config.data.num_steps :] for k, v in lm_data.window(stream, 0, 2 * config.data.num_steps).items()}
    logits, _ = h.model.apply({"params": params}, jnp.asarray(second["inputs"]))
    fresh = float(optax.softmax_cross_entropy_with_integer_labels(logits, jnp.asarray(second["targets"])).mean())
    assert abs(fresh - losses[1]) > 1e-4


@pytest.mark.parametrize("valid_batch", [1, 8])
def test_evaluation_carries_state_like_one_long_unroll(tmp_path, valid_batch):
    config = config_for(
        write(tmp_path, markov_text(4000)),
        train__batch_size=8,
        data__valid_batch_size=valid_batch,
        model__init_scale=0.5,
    )
    h = train.Harness(config, tmp_path, lm)
    state = h.init_state(h.shard(next(h.train_batches(0))))
    results = h.evaluate(h.make_eval_step(), state.params)
    corpus = lm_data.load_corpus(config.data)
    stream = lm_data.batchify(h.info["vocab"].encode(corpus.valid), valid_batch)
    windows = lm_data.num_windows(stream, config.data.num_steps, "valid")
    expected = stream_nats(h, jax.device_get(state.params), stream, windows).mean()
    assert results["valid"]["nats"] == pytest.approx(float(expected), rel=2e-5)


# ----------------------------------------------------------------------------- regularisers
def test_embedding_dropout_drops_whole_words_and_locked_dropout_shares_masks_over_time():
    table = jnp.ones((50, 4))
    dropped = lm.embedding_dropout(jax.random.PRNGKey(0), 0.5, table)
    rows = np.asarray(dropped)
    assert set(np.unique(rows)) <= {0.0, 2.0} and all(len(set(row)) == 1 for row in rows)
    assert 10 < (rows[:, 0] == 0).sum() < 40

    xs = jnp.ones((3, 20, 16))
    locked = np.asarray(recurrent.dropout(jax.random.PRNGKey(1), 0.5, xs, broadcast_time=True))
    assert (locked == locked[:, :1]).all() and not (locked == locked[:1]).all()
    plain = np.asarray(recurrent.dropout(jax.random.PRNGKey(1), 0.5, xs))
    assert not (plain == plain[:, :1]).all()


def test_weight_drop_masks_only_the_recurrent_kernels():
    cell = lm.make_cell(lm_char.get_config("smoke").model)
    params = recurrent.init_stacked(cell, jax.random.PRNGKey(0), 3, num_layers=2)
    xs = jax.random.normal(jax.random.PRNGKey(1), (2, 5, 3))
    key = jax.random.PRNGKey(2)
    _, plain = recurrent.stacked(cell, params, xs)
    _, same = recurrent.stacked(cell, params, xs, weight_drop=0.5)  # no rng: deterministic
    _, dropped = recurrent.stacked(cell, params, xs, weight_drop=0.5, dropout_rng=key)
    np.testing.assert_array_equal(plain, same)
    assert not np.allclose(plain, dropped)
    masked = recurrent.drop_recurrent_weights(key, 0.5, params[0])
    kernel, original = np.asarray(masked["recurrent_kernel"]), np.asarray(params[0]["recurrent_kernel"])
    assert np.all((kernel == 0) | np.isclose(kernel, 2 * original))
    assert 0.3 < (kernel == 0).mean() < 0.7
    for name in params[0]:
        if name != "recurrent_kernel":
            np.testing.assert_array_equal(masked[name], params[0][name])


def test_every_regulariser_together_trains_and_leaves_evaluation_deterministic(tmp_path):
    path = write(tmp_path, markov_text(4000))
    base = dict(train__batch_size=8, train__num_steps=4, train__eval_every=4, model__num_layers=2)
    regularised = config_for(
        path,
        **base,
        model__dropout=0.3,
        model__variational=True,
        model__embed_dropout=0.1,
        model__weight_drop=0.3,
    )
    h = train.Harness(regularised, tmp_path, lm)
    plain = train.Harness(config_for(path, **base), tmp_path, lm)
    state = h.init_state(h.shard(next(h.train_batches(0))))
    results = [x.evaluate(x.make_eval_step(), state.params)["valid"]["nats"] for x in (h, plain)]
    assert results[0] == pytest.approx(results[1], rel=1e-6)
    final = train.train_and_evaluate(regularised, tmp_path / "run", lm)
    assert math.isfinite(final["valid"]["nats"])


# ------------------------------------------------------------------------------- bad input
def snapshot(directory: pathlib.Path) -> dict[str, str]:
    return {
        str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


def test_bad_corpora_are_refused_in_one_line_and_nothing_is_overwritten(tmp_path):
    path = write(tmp_path, markov_text(3000))
    workdir = tmp_path / "run"
    config = config_for(path, train__num_steps=4, train__eval_every=4, train__checkpoint_every=4)
    train.train_and_evaluate(config, workdir, lm)
    before = snapshot(workdir)

    cases = [
        (lambda: path.unlink(), FileNotFoundError, "no such file: .*corpus.txt"),
        (lambda: path.write_text(" \n"), ValueError, "corpus.txt is empty"),
        (lambda: path.write_bytes(b"abc\n\xff\xfe"), ValueError, r"corpus.txt:2: not valid UTF-8 \(byte 0xff"),
        (
            lambda: path.write_text("abcdefgh" * 3),
            ValueError,
            r"the train split of .*corpus.txt .* is too short: 21 tokens",
        ),
        (lambda: path.write_text(markov_text(3000).upper()), ValueError, "vocab.json .* does not match"),
    ]
    for damage, error, message in cases:
        damage()
        with pytest.raises(error, match=message) as caught:
            train.train_and_evaluate(config, workdir, lm)
        assert "\n" not in str(caught.value)
        assert snapshot(workdir) == before, message


def test_launcher_reports_a_bad_corpus_in_one_line(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes("caf\xe9 au lait\n".encode("latin-1") * 100)
    code, out, err = run(
        tmp_path / "run",
        "--config.data.source=text",
        f"--config.data.path={path}",
        config="configs/lm/char.py:smoke",
    )
    assert code == 1
    assert err.strip().splitlines() == [f"error: data.path: {path}:1: not valid UTF-8 (byte 0xe9 at offset 3)"]
    assert not (tmp_path / "run" / "vocab.json").exists()


# ----------------------------------------------------------------------------------- presets
# Zaremba, Sutskever & Vinyals 2014, as ../shared/docs/TARGETS.md states them:
# (hidden, num_steps, epochs, decay after, decay factor, dropout, init scale, clip norm).
PAPER = {
    "small": (200, 20, 13, 4, 0.5, 0.0, 0.1, 5.0),
    "medium": (650, 35, 39, 6, 0.8, 0.5, 0.05, 5.0),
    "large": (1500, 35, 55, 14, 1 / 1.15, 0.65, 0.04, 10.0),
}


@pytest.mark.parametrize("variant", sorted(PAPER))
def test_ptb_presets_are_zarembas_settings(variant):
    c = lm_ptb.get_config(variant)
    hidden, num_steps, epochs, after, factor, dropout, init_scale, clip = PAPER[variant]
    assert (c.data.source, c.data.level, c.experiment) == ("ptb", "word", "lm")
    assert (c.model.cell, c.model.num_layers, c.model.hidden_size, c.model.embed_size) == ("lstm", 2, hidden, 0)
    assert not c.model.tie_embeddings and not c.model.variational and not c.model.bidirectional
    assert c.model.embed_dropout == 0.0 and c.model.weight_drop == 0.0
    assert c.model.dropout == dropout and c.model.init_scale == init_scale and c.model.forget_bias == 0.0
    assert c.data.num_steps == num_steps and c.train.batch_size == 20 and c.data.test_batch_size == 1
    assert c.data.valid_batch_size in (0, 20) and c.data.min_count == 1 and c.data.max_vocab == 0
    assert c.train.num_epochs == epochs and c.task.loss == "zaremba"
    assert (c.optim.name, c.optim.momentum, c.optim.learning_rate, c.optim.clip_norm) == ("sgd", 0.0, 1.0, clip)
    assert (c.optim.schedule, c.optim.decay_after_epochs, c.optim.decay_factor) == ("step_decay", after, factor)
    assert c.optim.steps_per_epoch == 0 and c.model.dtype == "float32"
    # The learning rate each epoch: 1 for the first `after` epochs, then times `factor` each epoch.
    from rnn_research import optim

    rates = [optim.learning_rate_at(c.optim, 10 * e, steps_per_epoch=10) for e in range(epochs)]
    np.testing.assert_allclose(rates, [factor ** max(0, e + 1 - after) for e in range(epochs)], rtol=1e-5)


def test_presets_build_every_variant_and_refuse_unknown_ones():
    for module, variants in ((lm_ptb, PAPER), (lm_char, ("small", "medium", "large")), (lm_stdlib, ("default",))):
        for variant in (*variants, "smoke"):
            assert module.get_config(variant).experiment == "lm"
        with pytest.raises(ValueError, match="unknown variant"):
            module.get_config("huge")


def test_resume_restores_the_carried_state_exactly(tmp_path):
    from rnn_research import checkpoint

    path = write(tmp_path, markov_text(4000))
    overrides = dict(train__batch_size=8, train__eval_every=3, train__checkpoint_every=3, model__init_scale=0.5)

    def final_state(name, *steps):
        for num_steps in steps:  # each call resumes from the previous one's checkpoint
            config = config_for(path, train__num_steps=num_steps, **overrides)
            train.train_and_evaluate(config, tmp_path / name, lm)
        h = train.Harness(config, tmp_path / name, lm)
        ckpt = checkpoint.Checkpointer(tmp_path / name / "checkpoints", keep=2, best_metric="nats", best_mode="min")
        state = ckpt.restore_latest(h.init_state(h.shard(next(h.train_batches(0))))).state
        ckpt.close()
        return jax.device_get((state.params, state.carry))

    straight, resumed = final_state("straight", 6), final_state("resumed", 3, 6)
    assert np.abs(np.asarray(straight[1][0]["h"])).max() > 0  # a real carried state, checkpointed
    jax.tree.map(np.testing.assert_array_equal, straight, resumed)


def test_model_config_remat_and_backward_reach_the_layer_or_name_the_key():
    from rnn_research import configured as common

    model = lm_char.get_config("smoke").model
    assert common.make_rnn(model).remat is False and common.make_rnn(model).backward == "custom"
    model.update(remat=-1, backward="autodiff")
    assert common.make_rnn(model).remat is True and common.make_rnn(model).backward == "autodiff"
    model.remat = 5
    assert common.make_rnn(model).remat == 5
    model.remat = -2
    with pytest.raises(ValueError, match=r"model.remat=-2 must be 0 \(off\)"):
        common.make_rnn(model)
    model.update(remat=0, backward="manual")
    with pytest.raises(ValueError, match=r"model.backward='manual' is not one of \['custom', 'autodiff'\]"):
        common.make_rnn(model)
    model.update(backward="custom", scan_mode="parallel")
    with pytest.raises(ValueError, match=r"model.scan_mode='parallel' needs model.cell mingru or minlstm"):
        common.make_rnn(model)
    model.update(scan_mode="auto", truncate_every=-1)
    with pytest.raises(ValueError, match=r"model.truncate_every=-1 must be 0 \(off\) or k > 0"):
        common.make_rnn(model)
    model.update(truncate_every=8, cell="mingru")
    assert common.make_rnn(model).truncate_every == 8 and common.make_rnn(model).mode == "auto"


def test_a_reset_carry_restarts_each_state_field_from_its_learned_row(tmp_path):
    """LSTM with a learned initial state: at a reset, h restarts from row 0 and c from row 1, under
    jit too (jit returns the carry dicts with sorted keys, c before h). weight_drop needs a
    recurrent kernel and says so."""
    config = config_for(write(tmp_path, markov_text(500)), model__learn_initial_state=True, model__num_layers=1)
    model = lm.make_model(config, {"vocab_size": len(ALPHABET)})
    params = model.init(jax.random.key(0), jnp.zeros((2, 3), jnp.int32))["params"]
    hidden = config.model.hidden_size
    rows = jnp.stack([jnp.full(hidden, 1.0), jnp.full(hidden, 2.0)])
    params["rnn"]["layer_0"] = dict(params["rnn"]["layer_0"], initial_state=rows)
    carry = [{"c": jnp.full((2, hidden), 7.0), "h": jnp.full((2, hidden), 9.0)}]
    reset = jnp.array([True, False])
    for states_fn in (lm.carried_states, jax.jit(lm.carried_states, static_argnums=0)):
        (state,) = states_fn(model, {"params": params}, carry, reset)
        np.testing.assert_array_equal(state.h[:, 0], [1.0, 9.0])
        np.testing.assert_array_equal(state.c[:, 0], [2.0, 7.0])
    config.model.update(cell="minlstm", weight_drop=0.3)
    with pytest.raises(ValueError, match="model.weight_drop=0.3 needs a cell with a recurrent kernel, not 'minlstm'"):
        lm.make_model(config, {"vocab_size": len(ALPHABET)})
