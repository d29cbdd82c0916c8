"""Music's ``--mode=sample``: pieces sampled from the best checkpoint, as MIDI files and piano-roll
PNGs, and the model's per-key probabilities beside the true roll of a test piece.

Sampling runs the RNN one frame at a time (``rnn_research.decoding``): the primer's frames are
read (``sample.primer=test``: the first ``sample.primer_frames`` frames of test piece
``sample.piece``; ``none``: one silent frame), then each next frame is drawn from the head
(``heads.SAMPLERS``: independent keys, or the NADE key by key from low to high) at
``sample.temperature`` (0: each key at its more likely value) and fed back, ``sample.length``
times, for ``sample.num_samples`` pieces at once. Step ``t`` draws with the ``t``-th key of
``jax.random.split(PRNGKey(sample.seed), sample.length)``: same seed, number and length, same pieces.

Written under ``<workdir>/samples/``:

* ``sample_<i>.mid``: primer and continuation, a frame lasting ``1 / data.frames_per_beat``
  beat at ``sample.bpm`` (each run of a key's frames one note; read back by ``rolls.read_midi``
  at the same resolution it gives the sampled roll);
* ``sample_<i>.png``: its piano roll, the primer shaded;
* ``probabilities_test_<piece>.png``: the true roll of test piece ``sample.piece`` beside the
  model's probability of each key at each step given the piece so far (teacher forcing; for the
  ``nade`` head, ``p(key on | the frame's true lower keys, the past)``, the factors its
  likelihood multiplies).

The final line gives the files, the samples' NLL under the model (nats per sampled step, the same
quantity as the split's ``nll``; the primer's own steps are not counted), the test piece's NLL
and, for the generated corpus, the fraction of sampled frames that follow its rule
(``generated.rule_fraction`` over every sampled frame; its own pieces score 1). A sample that is
all silence is written as such, but :func:`rolls.read_midi` refuses a file without notes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from experiments.music import generated, heads, rolls
from experiments.music.data import make_data
from experiments.music.task import TRAINING_ONLY, make_model
from rnn_research import checkpoint, decoding, layers, plots
from rnn_research.configured import check_data_config, check_model_config, make_cell

PRIMERS = ("test", "none")
# The data fields that decide the pieces and their split (the primer is a test piece);
# ``frames_per_beat`` also, for MIDI folders.
DATA_FIELDS = ("source", "path", "num_pieces", "generator_seed", "split_seed", "valid_fraction", "test_fraction")


def check_settings(s: ml_collections.ConfigDict) -> None:
    """One line for a ``sample.*`` value out of range."""
    if s.primer not in PRIMERS:
        raise ValueError(f"sample.primer={s.primer!r} is not one of {list(PRIMERS)}")
    for name in ("num_samples", "length", "primer_frames"):
        if isinstance(s[name], bool) or not isinstance(s[name], int) or s[name] < 1:
            raise ValueError(f"sample.{name} must be an integer >= 1, got {s[name]!r}")
    if not s.temperature >= 0:
        raise ValueError(f"sample.temperature must be >= 0 (0: the more likely value of each key), got {s.temperature}")
    if not s.bpm > 0:
        raise ValueError(f"sample.bpm must be > 0, got {s.bpm}")


def generate_frames(
    config: ml_collections.ConfigDict, params: Any, primer: np.ndarray, *, num_samples: int, length: int, seed: int
) -> np.ndarray:
    """``num_samples`` continuations ``[S, length, K]`` (uint8) of ``primer [P >= 1, K]``, in one jitted program."""
    cell = make_cell(config.model)
    per_layer = layers.layer_params(params["rnn"])
    sampler = heads.SAMPLERS[config.model.head]
    temperature = float(config.sample.temperature)

    def step(states: list[Any], x: jax.Array, context: Any) -> tuple[list[Any], jax.Array]:
        return decoding.step_stack(cell, per_layer, states, x)

    def choose(h: jax.Array, t: jax.Array, key: jax.Array) -> jax.Array:
        return sampler(params["head"], h, key, temperature)[0]

    @jax.jit
    def run(frames: jax.Array, key: jax.Array) -> jax.Array:
        xs = jnp.broadcast_to(frames[:, None, :], (frames.shape[0], num_samples, frames.shape[1]))
        states = [cell.initial_state(num_samples, jnp.float32, params=p) for p in per_layer]
        states, _ = jax.lax.scan(lambda s, x: (step(s, x, None)[0], None), states, xs[:-1])
        return decoding.generate(step, states, xs[-1], length, choose, key=key).inputs

    out = run(jnp.asarray(primer, jnp.float32), jax.random.PRNGKey(seed))
    return np.asarray(out).astype(np.uint8)


def piece_logits(model: Any, params: Any, pieces: list[np.ndarray]) -> list[np.ndarray]:
    """Teacher-forced logits ``[T_i - 1, K]`` of each piece (one padded batch)."""
    longest = max(len(r) for r in pieces) - 1
    inputs = np.zeros((len(pieces), longest, pieces[0].shape[1]), np.float32)
    targets = np.zeros_like(inputs)
    for i, r in enumerate(pieces):
        inputs[i, : len(r) - 1], targets[i, : len(r) - 1] = r[:-1], r[1:]
    lengths = np.asarray([len(r) - 1 for r in pieces], np.int32)
    logits = np.asarray(model.apply({"params": params}, inputs, lengths, targets))
    return [logits[i, : len(r) - 1] for i, r in enumerate(pieces)]


def mean_nll(logits: list[np.ndarray], pieces: list[np.ndarray]) -> float:
    """Nats per predicted step, summed over keys, over all the pieces' steps."""
    total = sum(
        -float(np.sum(heads.frame_log_prob(jnp.asarray(x), jnp.asarray(r[1:])))) for x, r in zip(logits, pieces)
    )
    return total / sum(len(r) - 1 for r in pieces)


def _key_axis(ax: Any, low: int, high: int) -> None:
    """Keys ``low..high`` (column indices) on the y axis, labelled at each C."""
    ticks = [k for k in range(low, high + 1) if (k + rolls.LOWEST_PITCH) % 12 == 0]
    ax.set_yticks(ticks)
    ax.set_yticklabels([f"C{(k + rolls.LOWEST_PITCH) // 12 - 1}" for k in ticks])
    ax.set_ylim(low - 0.5, high + 0.5)
    ax.set_ylabel("key")


def _key_range(*arrays: np.ndarray) -> tuple[int, int]:
    sounding = np.flatnonzero(np.max(np.concatenate([a.reshape(-1, a.shape[-1]) for a in arrays]), axis=0) > 0.05)
    if not len(sounding):
        return 0, arrays[0].shape[-1] - 1
    return max(int(sounding[0]) - 2, 0), min(int(sounding[-1]) + 2, arrays[0].shape[-1] - 1)


def plot_roll(path: Path, roll: np.ndarray, primer: int, title: str) -> Path:
    """A piano roll ``[T, K]`` as a PNG, the first ``primer`` frames shaded."""
    fig = plots.new_figure((max(6.0, min(16.0, len(roll) / 8)), 4.0))
    ax = fig.add_subplot(1, 1, 1)
    ax.imshow(roll.T, origin="lower", aspect="auto", cmap="Greys", interpolation="nearest", vmin=0, vmax=1)
    if primer:
        ax.axvspan(-0.5, primer - 0.5, color="tab:blue", alpha=0.15, label="primer")
        ax.legend(loc="upper right")
    _key_axis(ax, *_key_range(roll))
    ax.set_xlabel("frame")
    ax.set_title(title)
    return plots.save_png(fig, path)


def plot_probabilities(path: Path, roll: np.ndarray, probs: np.ndarray, title: str) -> Path:
    """The true frames ``1..T-1`` of a piece beside the model's probabilities ``[T - 1, K]`` for them."""
    fig = plots.new_figure((max(7.0, min(16.0, len(roll) / 6)), 6.5))
    low, high = _key_range(roll, probs)
    for row, (image, name) in enumerate(((roll[1:], "true roll"), (probs, "p(key on | the past)"))):
        ax = fig.add_subplot(2, 1, row + 1)
        shown = ax.imshow(image.T, origin="lower", aspect="auto", cmap="magma", interpolation="nearest", vmin=0, vmax=1)
        fig.colorbar(shown, ax=ax, pad=0.01)
        _key_axis(ax, low, high)
        ax.set_title(name if row else f"{title}\n{name}")
    ax.set_xlabel("predicted step (frame - 1)")
    return plots.save_png(fig, path)


def sample(config: ml_collections.ConfigDict, workdir: str | Path) -> dict[str, Any]:
    """``--mode=sample``: MIDI files and PNGs under ``<workdir>/samples/`` (see the module docstring)."""
    workdir, s = Path(workdir), config.sample
    check_settings(s)
    check_model_config(config, workdir, TRAINING_ONLY)
    fields = DATA_FIELDS + (("frames_per_beat",) if config.data.source == "midi" else ())
    check_data_config(config, workdir, fields, "sampling primes with a test piece of the run's split")
    _, _, info = make_data(config)
    test = info["splits"]["test"]
    if not 0 <= s.piece < len(test.rolls):
        raise ValueError(f"sample.piece={s.piece} must lie in [0, {len(test.rolls)}) (the test pieces)")
    params, step = checkpoint.restore_params(workdir / "checkpoints")
    model = make_model(config, info)
    piece = test.rolls[s.piece]
    example = (piece[None, :1], np.ones(1, np.int32), piece[None, 1:2])
    expected = jax.eval_shape(model.init, jax.random.key(0), *example)["params"]
    checkpoint.check_params(params, expected, step, workdir / "checkpoints")

    primer = piece[: s.primer_frames] if s.primer == "test" else np.zeros((1, info["num_keys"]), np.uint8)
    sampled = generate_frames(config, params, primer, num_samples=s.num_samples, length=s.length, seed=s.seed)
    shown = 0 if s.primer == "none" else len(primer)
    full = [np.concatenate([primer[:shown], x]) for x in sampled]
    scored = [np.concatenate([primer, x]) for x in sampled]  # with the silent start frame for primer=none
    first = len(primer) - 1  # the step that predicts the first sampled frame
    logits_of = piece_logits(model, params, scored)
    sample_nll = mean_nll([x[first:] for x in logits_of], [r[first:] for r in scored])
    if not np.isfinite(sample_nll):
        raise ValueError(f"the model's log-probabilities are non-finite on its samples (checkpoint step {step})")

    out, files = workdir / "samples", []
    where = f"after {shown} frames of test piece {s.piece}" if shown else "from a silent frame"
    for i, roll in enumerate(full):
        files.append(
            rolls.write_midi(roll, out / f"sample_{i}.mid", frames_per_beat=config.data.frames_per_beat, bpm=s.bpm)
        )
        title = f"sample {i}: {s.length} frames {where}, temperature {s.temperature} (checkpoint step {step})"
        files.append(plot_roll(out / f"sample_{i}.png", roll, shown, title))
    logits = piece_logits(model, params, [piece])[0]
    piece_nll = mean_nll([logits], [piece])
    name = test.names[s.piece]
    title = f"test piece {s.piece} ({name}): {config.model.head} head, NLL {piece_nll:.3f} nats per step"
    probs = np.asarray(jax.nn.sigmoid(logits))
    files.append(plot_probabilities(out / f"probabilities_test_{s.piece}.png", piece, probs, title))
    result = {
        "samples": len(full),
        "frames": s.length,
        "primer": s.primer,
        "primer_frames": shown,
        "temperature": s.temperature,
        "seed": s.seed,
        "sample_nll": sample_nll,
        "test_piece_nll": piece_nll,
        "checkpoint_step": step,
        "files": [str(f) for f in files],
    }
    if config.data.source == "generated":
        result["rule_fraction"] = float(generated.rule_fraction(np.concatenate(list(sampled))))
    print(f"wrote {len(files)} files in {out} ({len(full)} samples {where}; sample NLL {sample_nll:.3f})", flush=True)
    return result
