"""The language model's sampling (``generate`` on rnn_research.decoding, ``--mode=sample``)."""

from __future__ import annotations

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.lm import data as lm_data
from experiments.lm import task as lm
from rnn_research import train
from tests.experiments.lm.test_task import ALPHABET, config_for, markov_text, write
from tests.test_main import run


@pytest.mark.parametrize("cell,tie", [("lstm", False), ("gru", True), ("mingru", False)])
def test_sampling_follows_the_model_step_by_step_and_is_reproducible(tmp_path, cell, tie):
    """Sampling steps the cell one token at a time; the model reads whole rows (minGRU: as a
    parallel scan from its learned initial state). Both must give the same greedy text."""
    config = config_for(
        write(tmp_path, markov_text(3000)),
        model__cell=cell,
        model__learn_initial_state=cell == "mingru",
        model__num_layers=2,
        model__tie_embeddings=tie,
        model__embed_size=32,
        model__init_scale=0.5,
    )
    model = lm.make_model(config, {"vocab_size": len(ALPHABET)})
    params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 3), jnp.int32))["params"]
    if config.model.learn_initial_state:  # a learned state that is not zero, so that using it shows
        first = params["rnn"]["layer_0"]
        params["rnn"]["layer_0"] = dict(first, initial_state=jnp.full_like(first["initial_state"], 0.5))
    prime = np.array([0, 1, 2], np.int32)
    greedy = lm.generate(config, params, prime, length=12, temperature=0.0, top_k=0, seed=0)

    # The same decoding through model.apply on the whole prefix each time. The prefix sits at the
    # start of a fixed 15-token row (one compiled program); the model reads left to right, so the
    # zeros after it cannot change the logits at its last position.
    apply = jax.jit(model.apply)
    tokens = np.zeros(15, np.int32)
    tokens[:3] = prime
    for t in range(3, 15):
        logits, _ = apply({"params": params}, jnp.asarray(tokens[None]))
        tokens[t] = int(jnp.argmax(logits[0, t - 1]))
    np.testing.assert_array_equal(greedy, tokens[3:])
    top1 = lm.generate(config, params, prime, length=12, temperature=1.0, top_k=1, seed=5)
    np.testing.assert_array_equal(top1, greedy)

    def draw(seed):
        return lm.generate(config, params, prime, length=40, temperature=1.0, top_k=4, seed=seed)

    np.testing.assert_array_equal(draw(3), draw(3))
    assert not np.array_equal(draw(3), draw(4))


def test_a_fixed_seed_sample_equals_a_plain_python_loop_over_the_whole_model(tmp_path):
    """The contract of generate: step ``t`` draws ``categorical(split(PRNGKey(seed), L)[t], top_k(logits / T))``
    from the logits the model gives the prefix; checked against model.apply in a Python loop."""
    config = config_for(write(tmp_path, markov_text(500)), model__num_layers=2, model__init_scale=0.5)
    model = lm.make_model(config, {"vocab_size": len(ALPHABET)})
    params = model.init(jax.random.PRNGKey(3), jnp.zeros((1, 3), jnp.int32))["params"]
    prime, length, temperature, top_k, seed = [2, 5, 1], 10, 0.8, 3, 7
    got = lm.generate(
        config, params, np.array(prime, np.int32), length=length, temperature=temperature, top_k=top_k, seed=seed
    )

    apply = jax.jit(model.apply)
    tokens = np.zeros(len(prime) + length, np.int32)
    tokens[: len(prime)] = prime
    keys = jax.random.split(jax.random.PRNGKey(seed), length)
    for t in range(length):
        logits, _ = apply({"params": params}, jnp.asarray(tokens[None]))
        scaled = logits[0, len(prime) + t - 1] / temperature
        scaled = jnp.where(scaled < jnp.sort(scaled)[-top_k], -jnp.inf, scaled)
        tokens[len(prime) + t] = int(jax.random.categorical(keys[t], scaled))
    np.testing.assert_array_equal(got, tokens[len(prime) :])
    assert got.dtype == np.int32 and len(set(got.tolist())) > 1


def test_bad_sampling_settings_name_their_key(tmp_path):
    config = config_for(write(tmp_path, markov_text(3000)), train__num_steps=2, train__eval_every=2)
    train.train_and_evaluate(config, tmp_path / "run", lm)
    for field, value, message in (
        ("temperature", -1.0, "sample.temperature must be >= 0"),
        ("top_k", -2, "sample.top_k"),
        ("prime", "ΩΩ€", r"sample.prime='ΩΩ€' holds \['Ω', '€'\], which the run's vocab.json does not have"),
    ):
        bad = config.copy_and_resolve_references()
        bad.sample[field] = value
        with pytest.raises(ValueError, match=message) as caught:
            lm.sample(bad, tmp_path / "run")
        assert "\n" not in str(caught.value)


def test_sampling_refuses_a_vocabulary_that_does_not_match_the_checkpoint(tmp_path):
    config = config_for(write(tmp_path, markov_text(3000)), train__num_steps=2, train__eval_every=2)
    workdir = tmp_path / "run"
    train.train_and_evaluate(config, workdir, lm)
    lm_data.Vocab(list("xyz"), "char").to_json(workdir / lm.VOCAB_FILE)
    with pytest.raises(ValueError, match=r"vocab\.json is not the file checkpoint step 2 was saved with"):
        lm.sample(config, workdir)
    # Checkpoints of earlier versions hold no fingerprints (nor checksums): the sizes still disagree.
    for step_dir in (workdir / "checkpoints").glob("*/2"):
        (step_dir / "checksums.json").unlink()
        meta = json.loads((step_dir / "meta" / "metadata").read_text())
        del meta["artefacts"]
        (step_dir / "meta" / "metadata").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="has 3 symbols but the checkpoint's embedding has 8 rows"):
        lm.sample(config, workdir)


@pytest.mark.slow
@pytest.mark.parametrize("preset", ["lm/char", "lm/stdlib", "lm/ptb"])
def test_smoke_preset_trains_then_samples_the_same_text_twice(tmp_path, preset):
    config = f"configs/{preset}.py:smoke"
    devices = 4 if preset == "lm/ptb" else 8  # Zaremba's batch of 20 splits over 4 devices, not 8
    code, out, err = run(tmp_path, config=config, devices=devices)
    assert code == 0, err[-2000:]
    final = json.loads(out.strip().splitlines()[-1])["final"]
    assert math.isfinite(final["valid"]["nats"])
    assert "test" in final  # every smoke variant reads the stdlib corpus, which has a test split
    for artefact in ("vocab.json", "metrics.jsonl", "config.json"):
        assert (tmp_path / artefact).stat().st_size > 0
    assert list((tmp_path / "tensorboard" / "train").glob("events*"))
    assert list((tmp_path / "checkpoints").iterdir())
    samples = []
    for _ in range(2 if preset == "lm/char" else 1):  # generate() is checked for reproducibility in-process too
        code, out, err = run(tmp_path, "--mode=sample", config=config, devices=devices)
        assert code == 0, err[-2000:]
        samples.append(json.loads(out.strip().splitlines()[-1])["final"]["sample"])
    assert samples[0] == samples[-1] and len(samples[0]) > 0


def test_sampling_refuses_an_edited_vocabulary(tmp_path):
    """Two swapped symbols in vocab.json made --mode=sample print text with the letters swapped."""
    config = config_for(write(tmp_path, markov_text(3000)), train__num_steps=2, train__eval_every=2)
    train.train_and_evaluate(config, tmp_path / "run", lm)
    vocab = tmp_path / "run" / "vocab.json"
    saved = json.loads(vocab.read_text())
    symbols = saved["symbols"]
    symbols[-1], symbols[-2] = symbols[-2], symbols[-1]
    vocab.write_text(json.dumps(saved))
    with pytest.raises(ValueError, match=r"vocab\.json is not the file checkpoint step 2 was saved with"):
        lm.sample(config, tmp_path / "run")


def test_sampling_refuses_another_model_config(tmp_path):
    config = config_for(write(tmp_path, markov_text(3000)), train__num_steps=2, train__eval_every=2)
    train.train_and_evaluate(config, tmp_path / "run", lm)
    config.model.hidden_size = 64
    config.model.dropout = 0.5  # training-only settings may differ
    with pytest.raises(ValueError, match=r"trained with another model \(model.hidden_size: 32 -> 64\)"):
        lm.sample(config, tmp_path / "run")
