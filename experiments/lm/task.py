"""Language modelling on the shared harness: char or word level, stateful truncated BPTT, sampling.

Model: embedding ``[V, E]`` -> dropout -> stacked RNN/LSTM/GRU (dropout between layers) ->
dropout -> softmax over the vocabulary, the output layer optionally tied to the embedding
(Press & Wolf 2017; needs ``E == H``). Dropout acts only on non-recurrent connections (Zaremba
et al. 2014); ``model.variational`` shares each sequence's masks across time (locked dropout),
``model.embed_dropout`` drops whole words from the embedding matrix and ``model.weight_drop`` is
DropConnect on the recurrent kernels (Merity et al. 2018). All are off by default.

Truncated BPTT as in Zaremba et al.: each split's token stream is reshaped to ``[B, -1]`` and read
in windows of ``data.num_steps``; the final RNN state of a window starts the next (the harness
carry), and is zeroed at the first window of every epoch. Evaluation carries state the same way,
from zeros at the start of the split; ``data.test_batch_size=1`` gives the batch-1 test protocol.

Loss (``task.loss``): ``"zaremba"`` is the sum over the window's time steps of the batch-mean
cross-entropy (their learning rates assume it); ``"mean"`` the per-token mean. Metrics: ``nats``
per token, ``perplexity`` ``exp(nats)``, and ``bpc`` (char level) or ``bits_per_word``.

``--mode=sample`` generates text from the best checkpoint of a workdir: ``config.sample.prime``,
``length``, ``temperature`` (0: greedy), ``top_k`` (0: all) and ``seed``; same seed, same text.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from experiments.lm import data as lm_data
from rnn_research import checkpoint, configured, decoding, layers, sharding
from rnn_research.configured import check_model_config, make_cell, make_rnn
from rnn_research.experiment import Data
from rnn_research.train import validate as v

VOCAB_FILE = "vocab.json"
ARTEFACTS = (VOCAB_FILE,)  # fingerprinted with every checkpoint: inference refuses an edited one
# ``config.model`` fields sampling ignores (how training regularises, how anything is computed).
TRAINING_ONLY = (*configured.TRAINING_ONLY, "variational", "embed_dropout", "weight_drop")
# The data fields that decide the vocabulary: sampling refuses others than the run's.
VOCAB_FIELDS = ("source", "path", "level", "train_fraction", "max_chars", "tfds_name", "min_count", "max_vocab")
CONFIG_RULES = {  # checked with the generic fields before a run writes anything
    "data.source": v.one_of(*lm_data.SOURCES),
    "data.level": v.one_of(*lm_data.LEVELS),
    "data.train_fraction": v.fraction(low_open=True),
    "data.max_chars": v.int_at_least(0),
    "data.num_steps": v.int_at_least(1),
    "data.min_count": v.int_at_least(0),
    "data.max_vocab": v.int_at_least(0),
    "data.valid_batch_size": v.int_at_least(0),
    "data.test_batch_size": v.int_at_least(0),
    "task.loss": v.one_of("mean", "zaremba"),
    "model.embed_size": v.int_at_least(0),
    "model.tie_embeddings": v.boolean(),
    "model.variational": v.boolean(),
    "model.embed_dropout": v.fraction(),
    "model.weight_drop": v.fraction(),
    "sample.length": v.int_at_least(1),
    "sample.temperature": v.at_least(0),
    "sample.top_k": v.int_at_least(0),
    "sample.seed": v.integer(),
}
CONFIG_NOTES = {
    "data.max_chars": " (0: every file)",
    "data.max_vocab": " (0: no limit)",
    "data.valid_batch_size": " (0: train.batch_size)",
    "data.test_batch_size": " (0: train.batch_size)",
    "model.embed_size": " (0: model.hidden_size)",
    "sample.temperature": " (0: greedy)",
    "sample.top_k": " (0: the whole vocabulary)",
}


# ------------------------------------------------------------------------------------ data
def make_data(config: ml_collections.ConfigDict) -> Data:
    data, global_batch = config.data, config.train.batch_size
    corpus = lm_data.load_corpus(data)
    others = [corpus.valid] + ([corpus.test] if corpus.test is not None else [])
    vocab = lm_data.build_vocab(
        corpus.train, data.level, min_count=data.min_count, max_size=data.max_vocab, others=others
    )

    def stream(tokens: list[str], batch: int, split: str) -> tuple[np.ndarray, int]:
        # One process evaluates a batch that does not split over its devices (batch-1 test) whole;
        # the harness replicates it.
        whole = split != "train" and jax.process_count() == 1 and batch % jax.local_device_count()
        try:
            rows = slice(0, batch) if whole else sharding.host_slice(batch)
        except ValueError as e:
            key = "train.batch_size" if split == "train" else f"data.{split}_batch_size"
            raise ValueError(f"{key}: {e}".replace(" (train.batch_size)", "")) from None
        full = lm_data.batchify(vocab.encode(tokens), batch)
        return full[rows], lm_data.num_windows(full, data.num_steps, split, len(tokens), corpus.description)

    train_stream, steps_per_epoch = stream(corpus.train, global_batch, "train")

    def batch_at(tokens: np.ndarray, index: int) -> dict[str, np.ndarray]:
        out = lm_data.window(tokens, index, data.num_steps)
        out["reset"] = np.full(tokens.shape[0], index == 0)  # zero the carry at an epoch's first window
        return out

    def train_batches(start: int) -> Iterator[dict[str, np.ndarray]]:
        for step in itertools.count(start):
            yield batch_at(train_stream, step % steps_per_epoch)

    def eval_set(tokens: list[str], batch: int, split: str) -> Any:
        tokens_2d, windows = stream(tokens, batch, split)
        return lambda: (batch_at(tokens_2d, i) for i in range(windows))

    eval_sets = {"valid": eval_set(corpus.valid, data.valid_batch_size or global_batch, "valid")}
    if corpus.test is not None:
        eval_sets["test"] = eval_set(corpus.test, data.test_batch_size or global_batch, "test")
    info = {
        "vocab": vocab,
        "vocab_size": len(vocab),
        "steps_per_epoch": steps_per_epoch,
        "corpus": corpus.description,
        "train_tokens": len(corpus.train),
    }
    return Data(train_batches, eval_sets, info)


def prepare(config: ml_collections.ConfigDict, workdir: Path, info: Mapping[str, Any]) -> None:
    """Saves the vocabulary as JSON in the workdir, or refuses one that differs from it."""
    path, vocab = Path(workdir) / VOCAB_FILE, info["vocab"]
    if not path.exists():
        vocab.to_json(path)
        return
    saved = lm_data.Vocab.from_json(path)
    if saved != vocab:
        raise ValueError(
            f"{path} ({len(saved)} {saved.level} symbols) does not match the vocabulary built from "
            f"{info['corpus']} ({len(vocab)} {vocab.level} symbols); point data.* at the run's "
            "original data, or use a new --workdir"
        )


# ----------------------------------------------------------------------------------- model
def _uniform(scale: float) -> Any:
    return lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype, -scale, scale)


def embedding_dropout(rng: jax.Array, rate: float, table: jax.Array) -> jax.Array:
    """Drops whole rows of ``table [V, E]`` (every occurrence of a word), scaling the rest by ``1/(1-rate)``."""
    keep = jax.random.bernoulli(rng, 1.0 - rate, (table.shape[0], 1))
    return jnp.where(keep, table / (1.0 - rate), jnp.zeros((), table.dtype))


class LanguageModel(nn.Module):
    """``tokens [B, S]`` (+ per-layer initial states) -> ``(logits [B, S, V], final states)``."""

    vocab_size: int
    embed_size: int
    rnn: layers.RNN
    dropout: float = 0.0
    variational: bool = False
    embed_dropout: float = 0.0
    tie_embeddings: bool = False
    init_scale: float = 0.1  # U(-s, s) for the embedding (and the output layer when > 0 in config)
    sum_over_time: bool = False  # the training loss convention (see the module docstring)

    def _drop(self, x: jax.Array, deterministic: bool) -> jax.Array:
        dims = (1,) if self.variational else ()
        return nn.Dropout(self.dropout, broadcast_dims=dims)(x, deterministic=deterministic or not self.dropout)

    @nn.compact
    def __call__(
        self, tokens: jax.Array, initial_states: Any = None, *, deterministic: bool = True
    ) -> tuple[jax.Array, Any]:
        embedding = self.param("embedding", _uniform(self.init_scale), (self.vocab_size, self.embed_size))
        table = embedding
        if not deterministic and self.embed_dropout > 0.0:
            table = embedding_dropout(self.make_rng("dropout"), self.embed_dropout, embedding)
        xs = self._drop(jnp.take(table, tokens, axis=0), deterministic)
        finals, ys = self.rnn(xs, initial_states=initial_states, deterministic=deterministic)
        ys = self._drop(ys, deterministic)
        if self.tie_embeddings:
            bias = self.param("output_bias", nn.initializers.zeros, (self.vocab_size,))
            return ys @ embedding.T + bias[None, None], finals
        return nn.Dense(self.vocab_size, kernel_init=_uniform(self.init_scale), name="output")(ys), finals


def make_model(config: ml_collections.ConfigDict, info: Mapping[str, Any]) -> LanguageModel:
    m = config.model
    embed_size = m.embed_size or m.hidden_size
    if m.tie_embeddings and embed_size != m.hidden_size * (2 if m.bidirectional else 1):
        raise ValueError(
            f"model.tie_embeddings needs model.embed_size ({embed_size}) == model.hidden_size ({m.hidden_size})"
        )
    if m.bidirectional:
        raise ValueError("model.bidirectional: a language model reads left to right only")
    if config.task.loss not in ("zaremba", "mean"):
        raise ValueError(f"task.loss={config.task.loss!r} is not one of ['zaremba', 'mean']")
    if m.weight_drop > 0 and "recurrent_kernel" not in make_cell(m).param_shapes(1):
        raise ValueError(f"model.weight_drop={m.weight_drop} needs a cell with a recurrent kernel, not {m.cell!r}")
    return LanguageModel(
        vocab_size=info["vocab_size"],
        embed_size=embed_size,
        rnn=make_rnn(m).clone(return_state=True, variational=m.variational, weight_drop=m.weight_drop),
        dropout=m.dropout,
        variational=m.variational,
        embed_dropout=m.embed_dropout,
        tie_embeddings=m.tie_embeddings,
        init_scale=m.init_scale or 0.1,
        sum_over_time=config.task.loss == "zaremba",
    )


# ------------------------------------------------------------------------ carry, loss, metrics
def init_carry(config: ml_collections.ConfigDict, info: Mapping[str, Any], batch_size: int) -> list[dict]:
    """Zero states, one ``{"h": [B, H], ("c": [B, H])}`` dict per layer (a learned initial state
    replaces them at every reset, in :func:`carried_states`)."""
    fields = make_cell(config.model).state_type._fields
    zeros = np.zeros((batch_size, config.model.hidden_size), np.float32)
    return [{k: zeros for k in fields}] * config.model.num_layers


def carried_states(model: LanguageModel, variables: Any, carry: list[dict], reset: jax.Array) -> list[Any]:
    """The carried states, restarted where ``reset`` ([B]) from zeros or the learned initial state."""
    cell = model.rnn.resolved_cell()
    per_layer = layers.layer_params(variables["params"]["rnn"])
    keep = ~reset[:, None]
    states = []
    for p, c in zip(per_layer, carry):
        batch = next(iter(c.values())).shape[0]
        start = cell.initial_state(batch, jnp.float32, params=p)
        states.append(type(start)(**{k: jnp.where(keep, c[k], s) for k, s in start._asdict().items()}))
    return states


def model_inputs(batch: Mapping[str, Any], carry: Any) -> tuple:
    return (batch["inputs"],)


def loss_and_metrics(
    model: LanguageModel, variables: Any, batch: Mapping[str, Any], carry: Any, rng: jax.Array, train: bool
) -> tuple[jax.Array, tuple[dict[str, jax.Array], Any]]:
    states = carried_states(model, variables, carry, batch["reset"])
    logits, finals = model.apply(variables, batch["inputs"], states, deterministic=not train, rngs={"dropout": rng})
    xent = optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), batch["targets"])
    nats = jnp.mean(xent)
    loss = jnp.sum(jnp.mean(xent, axis=0)) if model.sum_over_time else nats
    new_carry = [{k: jax.lax.stop_gradient(v).astype(jnp.float32) for k, v in s._asdict().items()} for s in finals]
    return loss, ({"nats": nats}, new_carry)


def finalize_metrics(config: ml_collections.ConfigDict, values: dict[str, float]) -> dict[str, float]:
    """Perplexity and bits from the mean nats per token (averaging perplexities would be wrong)."""
    if "nats" not in values:
        return values
    bits = "bpc" if config.data.level == "char" else "bits_per_word"
    return dict(values, perplexity=math.exp(min(values["nats"], 700.0)), **{bits: values["nats"] / math.log(2)})


# -------------------------------------------------------------------------------- sampling
def generate(
    config: ml_collections.ConfigDict,
    params: Any,
    prime_ids: np.ndarray,
    *,
    length: int,
    temperature: float,
    top_k: int,
    seed: int,
) -> np.ndarray:
    """``length`` token ids ``[length]`` sampled after reading ``prime_ids`` (non-empty), in one jitted program.

    All of the prime but its last token is read by a scan over the stacked cells; :func:`decoding.sample`
    then feeds the last one and samples every next token from ``softmax(logits / temperature)``
    (``temperature=0``: argmax) over the ``top_k`` most likely (0: all). Step ``t`` draws with
    ``jax.random.split(PRNGKey(seed), length)[t]``: same seed, same text. Non-finite
    log-probabilities (an overflowing model) are a ``ValueError``, not text.
    """
    cell = make_cell(config.model)
    per_layer = layers.layer_params(params["rnn"])
    embedding = params["embedding"]

    def head(h: jax.Array) -> jax.Array:
        if "output" in params:
            return h @ params["output"]["kernel"] + params["output"]["bias"][None]
        return h @ embedding.T + params["output_bias"][None]

    def step(states: list[Any], tokens: jax.Array, context: Any) -> tuple[list[Any], jax.Array]:
        states, h = decoding.step_stack(cell, per_layer, states, embedding[tokens])  # tokens [B] -> logits [B, V]
        return states, head(h)

    @jax.jit
    def run(prime: jax.Array, key: jax.Array) -> jax.Array:
        states = [cell.initial_state(1, jnp.float32, params=p) for p in per_layer]
        states, _ = jax.lax.scan(lambda s, token: (step(s, token[None], None)[0], None), states, prime[:-1])
        out = decoding.sample(step, states, prime[-1:], length, key[None], temperature=temperature, top_k=top_k)
        return out.tokens[0], out.scores[0]  # key[None]: row 0 samples with the seed's key itself

    tokens, score = run(jnp.asarray(prime_ids, jnp.int32), jax.random.PRNGKey(seed))
    if not np.isfinite(float(score)):  # NaN logits sample arbitrary tokens: refused, not printed
        raise ValueError(f"the model's log-probabilities are non-finite while sampling (log-likelihood {float(score)})")
    return np.asarray(tokens)


def sample(config: ml_collections.ConfigDict, workdir: str | Path) -> dict[str, Any]:
    """``--mode=sample``: prints and returns text generated from the workdir's best checkpoint."""
    workdir, s = Path(workdir), config.sample
    check_model_config(config, workdir, TRAINING_ONLY)
    configured.check_data_config(
        config, workdir, VOCAB_FIELDS, f"sampling reads the run's {VOCAB_FILE}, built from its data"
    )
    vocab = lm_data.Vocab.from_json(workdir / VOCAB_FILE)
    if vocab.level != config.data.level:
        raise ValueError(f"{workdir / VOCAB_FILE} is {vocab.level} level but data.level={config.data.level!r}")
    params, step = checkpoint.restore_params(workdir / "checkpoints")
    model = make_model(config, {"vocab_size": len(vocab)})  # validates the model config against the vocabulary
    prime_tokens = lm_data.tokenize(s.prime, vocab.level)
    if vocab.level == "word":
        prime_tokens = prime_tokens[:-1] or [lm_data.EOS]  # no <eos> after the prime's last word
    if not prime_tokens:
        raise ValueError("sample.prime is empty; give at least one character")
    if s.length < 1:
        raise ValueError(f"sample.length must be >= 1, got {s.length}")
    try:
        decoding.check_sampling(s.temperature, s.top_k, 1.0)
    except ValueError as e:
        raise ValueError(f"sample.{e}") from None
    embedding_rows = params["embedding"].shape[0]
    if embedding_rows != len(vocab):
        raise ValueError(
            f"{workdir / VOCAB_FILE} has {len(vocab)} symbols but the checkpoint's embedding has {embedding_rows} rows"
        )
    expected = jax.eval_shape(model.init, jax.random.PRNGKey(0), jnp.zeros((1, 2), jnp.int32))["params"]
    checkpoint.check_params(params, expected, step, workdir / "checkpoints")
    if vocab.unk is None and any(vocab.id_of(t) is None for t in prime_tokens):
        absent = sorted({t for t in prime_tokens if vocab.id_of(t) is None})[:5]
        raise ValueError(f"sample.prime={s.prime!r} holds {absent}, which the run's {VOCAB_FILE} does not have")
    ids = generate(
        config,
        params,
        vocab.encode(prime_tokens),
        length=s.length,
        temperature=s.temperature,
        top_k=s.top_k,
        seed=s.seed,
    )
    text = lm_data.detokenize(vocab.decode(ids), vocab.level)
    joiner = "" if vocab.level == "char" else " "
    print(s.prime + joiner + text, flush=True)
    return {"sample": text, "checkpoint_step": step, "seed": s.seed}


MODES = {"sample": sample}
