"""The one training harness: ``train_and_evaluate(config, workdir, experiment)``.

It owns everything an experiment does not (see :mod:`rnn_research.experiment`): the jitted
train step (``value_and_grad``, global-norm clipping and the optax optimizer from
``config.optim``), sharding of batches over every device, periodic evaluation, checkpoints
(latest and best), early stopping, the non-finite guard, metrics (JSONL, TensorBoard,
console, PNG curves), gradient-flow diagnostics, and a final evaluation of the best
checkpoint. Started again in the same workdir, it resumes from the latest checkpoint and ends
with the same parameters and metrics as a run that was never interrupted.

Usable from a notebook::

    from experiments.synthetic import task as synthetic
    from configs.synthetic import adding as synthetic_adding
    metrics = train.train_and_evaluate(synthetic_adding.get_config("smoke"), "/tmp/run", synthetic)
"""

from __future__ import annotations

import json
import operator
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from rnn_research import checkpoint, diagnostics, metrics, optim, preemption, sharding
from rnn_research.experiment import Experiment

# Fields that may change between a run and its resumption; any other change is refused.
RESUMABLE_CHANGES = (
    "train.num_steps",
    "train.num_epochs",
    "train.log_every",
    "train.plots",
    "train.early_stopping_evals",
    "train.stop_when",
    # How the same function is computed (the backward pass, scan unrolling, rematerialisation):
    "model.backward",
    "model.unroll",
    "model.remat",
    "model.scan_mode",
)


# Fields added to the base config after workdirs were written: a saved config without one ran
# with this value, so it still resumes (and still loads for inference).
ADDED_FIELDS = {
    "model.learn_initial_state": False,
    "model.truncate_every": 0,
    "model.scan_mode": "auto",
    "model.subword_buckets": 0,
    "model.subword_ngrams": "3,5",
    "model.subword_width": 24,
    "optim.ema_decay": 0.0,
    "model.adversarial_eps": 0.0,
}


def with_added_fields(saved: dict[str, Any], now: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flat ``saved`` config with the :data:`ADDED_FIELDS` it lacks (those ``now`` has) filled in;
    ``prefix`` is stripped from their names (``"model."`` for a ``model`` sub-dict)."""
    added = {k.removeprefix(prefix): v for k, v in ADDED_FIELDS.items() if k.startswith(prefix)}
    return {**{k: v for k, v in added.items() if k in now}, **saved}


class NonFiniteError(RuntimeError):
    """A non-finite loss or gradient with ``train.nonfinite='halt'``."""


@flax.struct.dataclass
class TrainState:
    step: jax.Array
    params: Any
    opt_state: Any
    rng: jax.Array  # raw uint32 key data; the key of step s is fold_in(rng, s)
    carry: Any
    nonfinite_steps: jax.Array


def _flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def check_config_for_resume(config: ml_collections.ConfigDict, workdir: Path) -> None:
    """Refuses a resume under an incompatible config, then writes ``config.json``.

    Called once the experiment has been built from the config, so a config that fails to build
    leaves no ``config.json`` behind to block the corrected run.
    """
    path = workdir / "config.json"
    current = json.loads(config.to_json_best_effort())
    if path.exists():
        now = _flatten(current)
        saved = with_added_fields(_flatten(json.loads(path.read_text())), now)
        changed = sorted(k for k in saved.keys() | now.keys() if saved.get(k) != now.get(k))
        refused = [k for k in changed if k not in RESUMABLE_CHANGES]
        if refused:
            details = ", ".join(f"{k}: {saved.get(k)!r} -> {now.get(k)!r}" for k in refused)
            raise ValueError(f"{path} holds a run with a different config ({details}); use a new --workdir")
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(current, indent=2, sort_keys=True))
    tmp.replace(path)


def check_optimizer_for_restore(config: ml_collections.ConfigDict, workdir: Path) -> None:
    """Refuses, in one line naming the keys, an ``optim`` config other than the one ``workdir``
    was trained with: the checkpoint holds that optimizer's state (moments, a weight average),
    which another optimizer cannot read back."""
    path = workdir / "config.json"
    if not path.exists():
        return
    now = {k: v for k, v in _flatten(json.loads(config.to_json_best_effort())).items() if k.startswith("optim.")}
    saved = with_added_fields(_flatten(json.loads(path.read_text())), now)
    changed = sorted(k for k in now if k in saved and saved[k] != now[k])
    if changed:
        details = ", ".join(f"{k}={saved[k]!r}, not {now[k]!r}" for k in changed)
        raise ValueError(f"{path} was trained with {details}; use that run's --config")


_STOP_WHEN = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|<|>)\s*([-+]?[0-9.]+(?:[eE][-+]?[0-9]+)?)\s*$")
_COMPARE = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}


def parse_stop_when(text: str) -> Callable[[dict[str, float]], bool] | None:
    """``train.stop_when`` (``"mse<0.01"``, ``"copy_accuracy>=0.99"``; empty: never) -> a test on
    the first eval set's metrics. A malformed value is a one-line error naming the key."""
    if not text:
        return None
    match = _STOP_WHEN.match(text)
    if match is None:
        raise ValueError(f"train.stop_when={text!r} must read '<metric><op><number>' with op one of <, <=, >, >=")
    try:
        value = float(match.group(3))
    except ValueError:
        raise ValueError(f"train.stop_when={text!r}: {match.group(3)!r} is not a number") from None
    name, op = match.group(1), _COMPARE[match.group(2)]

    def met(values: dict[str, float]) -> bool:
        if name not in values:
            raise ValueError(f"train.stop_when names {name!r}, which is not an eval metric ({sorted(values)})")
        return bool(op(values[name], value))

    return met


def total_steps(config: ml_collections.ConfigDict, info: dict[str, Any]) -> int:
    """``train.num_epochs * info["steps_per_epoch"]`` when ``num_epochs > 0``, else ``train.num_steps``."""
    epochs = config.train.get("num_epochs", 0)
    if not epochs:
        return int(config.train.num_steps)
    if not info.get("steps_per_epoch"):
        raise ValueError("train.num_epochs needs an experiment that reports steps_per_epoch; set train.num_steps")
    return int(epochs * info["steps_per_epoch"])


def _interval(config: ml_collections.ConfigDict, key: str, info: dict[str, Any]) -> int:
    """``train.<key>`` in steps; 0 means once per epoch."""
    value = int(config.train[key])
    if value > 0:
        return value
    if not info.get("steps_per_epoch"):
        raise ValueError(f"train.{key}=0 means once per epoch, but the experiment reports no steps_per_epoch")
    return int(info["steps_per_epoch"])


def _floats(values: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in values.items()}


def _mean_metrics(history: list[dict[str, Any]]) -> dict[str, float]:
    """Each metric's mean over the batches, except ``total_*`` metrics (counts), which are summed."""
    stacked = jax.device_get(history)
    reduce = {True: np.sum, False: np.mean}
    return {
        k: float(reduce[k.startswith("total_")]([np.asarray(h[k], np.float64) for h in stacked])) for k in stacked[0]
    }


class _Harness:
    """The pieces of one run, built once; :func:`train_and_evaluate` drives them."""

    def __init__(self, config: ml_collections.ConfigDict, workdir: Path, experiment: Experiment) -> None:
        self.config, self.workdir, self.experiment = config, workdir, experiment
        self.mesh = sharding.data_mesh()
        self.batch_sharding = sharding.batch_sharding(self.mesh)
        self.replicated = sharding.replicated(self.mesh)
        self.train_batches, self.eval_sets, self.info = experiment.make_data(config)
        self.model = experiment.make_model(config, self.info)
        self.total_steps = total_steps(config, self.info)
        self.tx, self.schedule = optim.make_optimizer(
            config.optim, total_steps=self.total_steps, steps_per_epoch=self.info.get("steps_per_epoch")
        )
        self.local_batch = sharding.local_batch_size(config.train.batch_size)
        self._averaged = jax.jit(optim.averaged_params)

    def eval_params(self, state: TrainState) -> Any:
        """The parameters evaluated and kept as best: ``state.params``, or their moving average
        with ``optim.ema_decay > 0``."""
        return self._averaged(state.opt_state, state.params)

    # ------------------------------------------------------------------ state
    def shard(self, tree: Any) -> Any:
        """Host-local rows -> global arrays split over the mesh; replicated when the global batch
        does not divide over the devices (e.g. batch-1 evaluation, one process)."""
        leaves = jax.tree_util.tree_leaves(tree)
        rows = np.shape(leaves[0])[0] * jax.process_count() if leaves else 0
        if leaves and rows % self.mesh.size and jax.process_count() == 1:
            return jax.device_put(tree, self.replicated)
        return sharding.shard_batch(tree, self.mesh)

    def initial_carry(self, local_batch: int | None = None) -> Any:
        """The experiment's carry for ``local_batch`` host-local rows (default: the train batch)."""
        init_carry = getattr(self.experiment, "init_carry", None)
        rows = self.local_batch if local_batch is None else local_batch
        carry = init_carry(self.config, self.info, rows) if init_carry else {}
        return self.shard(carry) if jax.tree_util.tree_leaves(carry) else {}

    def finalize(self, values: dict[str, float]) -> dict[str, float]:
        """Reduced metrics (means; sums for ``total_*``) plus derived ones (perplexity from mean
        nats, accuracy from summed counts)."""
        derive = getattr(self.experiment, "finalize_metrics", None)
        return derive(self.config, values) if derive else values

    def init_state(self, batch: Any) -> TrainState:
        """The step-0 train state, parameters and optimizer state replicated over the mesh."""
        key = jax.random.PRNGKey(self.config.seed)
        carry = self.initial_carry()
        inputs = self.experiment.model_inputs(batch, carry)

        def init(key: jax.Array) -> Any:
            return self.model.init({"params": key, "dropout": key}, *inputs)["params"]

        params = jax.jit(init, out_shardings=self.replicated)(jax.random.fold_in(key, 0))
        opt_state = jax.jit(self.tx.init, out_shardings=self.replicated)(params)

        def zero() -> jax.Array:  # separate buffers: the train step donates its input state
            return jax.device_put(jnp.zeros((), jnp.int32), self.replicated)

        state = TrainState(
            step=zero(),
            params=params,
            opt_state=opt_state,
            rng=jax.device_put(jax.random.fold_in(key, 1), self.replicated),
            carry=carry,
            nonfinite_steps=zero(),
        )
        return state

    # ------------------------------------------------------------------ steps
    def make_train_step(self) -> Any:
        experiment, model, tx, schedule = self.experiment, self.model, self.tx, self.schedule

        def train_step(state: TrainState, batch: Any) -> tuple[TrainState, tuple[dict[str, jax.Array], jax.Array]]:
            rng = jax.random.fold_in(state.rng, state.step)

            def loss_fn(params: Any) -> Any:
                return experiment.loss_and_metrics(model, {"params": params}, batch, state.carry, rng, True)

            (loss, (step_metrics, carry)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
            grad_norm = optax.tree.norm(grads)
            finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm)
            updates, opt_state = tx.update(grads, state.opt_state, state.params)
            params = optax.apply_updates(state.params, updates)

            def pick(new: Any, old: Any) -> Any:  # a non-finite step changes nothing but the counters
                return jax.tree_util.tree_map(lambda n, o: jnp.where(finite, n, o), new, old)

            new_state = state.replace(
                step=state.step + 1,
                params=pick(params, state.params),
                opt_state=pick(opt_state, state.opt_state),
                carry=pick(carry, state.carry),
                nonfinite_steps=state.nonfinite_steps + (~finite).astype(jnp.int32),
            )
            out = dict(step_metrics, loss=loss, grad_norm=grad_norm, learning_rate=schedule(state.step))
            return new_state, (out, finite)

        return jax.jit(train_step, donate_argnums=0)

    def make_eval_step(self) -> Any:
        experiment, model = self.experiment, self.model

        def eval_step(params: Any, batch: Any, carry: Any) -> Any:
            rng = jax.random.PRNGKey(0)  # unused in eval mode (no dropout)
            loss, (step_metrics, carry) = experiment.loss_and_metrics(
                model, {"params": params}, batch, carry, rng, False
            )
            return dict(step_metrics, loss=loss), carry

        return jax.jit(eval_step)

    def evaluate(self, eval_step: Any, params: Any) -> dict[str, dict[str, float]]:
        results = {}
        for name, batches in self.eval_sets.items():
            carry, history = None, []
            for batch in batches():
                if carry is None:  # sized by the set's own batch (e.g. batch-1 test evaluation)
                    carry = self.initial_carry(np.shape(jax.tree_util.tree_leaves(batch)[0])[0])
                step_metrics, carry = eval_step(params, self.shard(batch), carry)
                history.append(step_metrics)
            if history:
                results[name] = self.finalize(_mean_metrics(history))
        return results

    def make_diagnostics(self, params: Any, batch: Any) -> Any:
        """A jitted ``params -> {layer: [T] norms}`` on a fixed batch, or None without RNN layers."""
        if not self.config.train.diagnostics_every:
            return None
        experiment, model, carry = self.experiment, self.model, self.initial_carry()
        inputs = experiment.model_inputs(batch, carry)
        _, made = jax.eval_shape(lambda p: model.apply({"params": p}, *inputs, mutable=["perturbations"]), params)
        if "perturbations" not in made:
            return None  # the model has no rnn_research.layers.RNN
        shapes = made["perturbations"]

        # The batch and carry are arguments, not closed-over constants: with several processes they
        # are global arrays that no single process may embed in a computation.
        def norms(params: Any, batch: Any, carry: Any) -> Any:
            perturbations = jax.tree_util.tree_map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)

            def loss_of(pert: Any) -> jax.Array:
                variables = {"params": params, "perturbations": pert}
                return experiment.loss_and_metrics(model, variables, batch, carry, jax.random.PRNGKey(0), False)[0]

            return diagnostics.hidden_gradient_norms(loss_of, perturbations)

        jitted = jax.jit(norms, out_shardings=self.replicated)
        return lambda params: jitted(params, batch, carry)


def train_and_evaluate(
    config: ml_collections.ConfigDict, workdir: str | Path, experiment: Experiment, *, stop_on_signals: bool = False
) -> dict:
    """Trains ``experiment`` under ``config`` in ``workdir`` (resuming if it holds a checkpoint).

    Returns the final metrics: ``{eval_set: {metric: value}}`` of the best checkpoint (or of
    the last state when there are no eval sets). ``stop_on_signals`` (the launcher's setting):
    SIGTERM/SIGINT during training save a checkpoint and raise :class:`preemption.Stopped`.
    """
    workdir = Path(workdir)
    tc = config.train
    is_chief = jax.process_index() == 0
    h = _Harness(config, workdir, experiment)
    if is_chief:
        workdir.mkdir(parents=True, exist_ok=True)
        check_config_for_resume(config, workdir)
    ckpt = checkpoint.Checkpointer(
        workdir / "checkpoints", keep=tc.keep_checkpoints, best_metric=tc.best_metric, best_mode=tc.best_mode
    )
    prepare = getattr(experiment, "prepare", None)
    if prepare and is_chief:
        prepare(config, workdir, h.info)  # e.g. save the vocabulary, or refuse one that differs
    num_steps = h.total_steps
    eval_every, checkpoint_every = (
        _interval(config, "eval_every", h.info),
        _interval(config, "checkpoint_every", h.info),
    )
    writer = metrics.MetricWriter(workdir, total_steps=num_steps, console=is_chief) if is_chief else None
    diag_log = diagnostics.DiagnosticsLog(workdir)

    first_batch = h.shard(next(iter(h.train_batches(0))))
    state = h.init_state(first_batch)
    meta = {"best": None, "evals_without_improvement": 0, "stopped_early": False}
    restored = ckpt.restore_latest(state, move_aside=True)
    if restored is not None:
        state, meta = restored.state, restored.meta
    # The current log interval's per-step metrics, saved with every checkpoint so that a resumed
    # run's next log record averages the same steps as an uninterrupted run's.
    history: list[dict[str, Any]] = meta.pop("log_history", [])
    start = int(state.step)
    ckpt.forget_best_after(start)
    if is_chief:
        # Records written after the checkpoint we start from (all of them when starting afresh,
        # e.g. after a kill before the first save) are dropped; the final evaluation is redone.
        kept_until = start if restored is not None else -1
        writer.resume(kept_until, keep=lambda r: not r["split"].startswith("best_"))
        diag_log.resume(kept_until)
        if restored is not None:
            print(f"resumed from step {start} in {workdir}", flush=True)

    train_step, eval_step = h.make_train_step(), h.make_eval_step()
    diag_fn = h.make_diagnostics(state.params, first_batch)
    sign = 1.0 if tc.best_mode == "min" else -1.0
    target_met = parse_stop_when(tc.get("stop_when", ""))
    if target_met is not None and not h.eval_sets:
        raise ValueError(f"train.stop_when={tc.stop_when!r} needs an eval set, and this experiment has none")

    def save(step: int) -> None:
        ckpt.save(step, state, {**meta, "log_history": [_floats(m) for m in jax.device_get(history)]})

    def record_diagnostics(step: int) -> None:
        if diag_fn is not None and step % tc.diagnostics_every == 0:
            norms = diag_fn(state.params)  # every process joins the computation; the chief writes it
            if is_chief:
                diag_log.write(step, jax.device_get(norms))

    if start == 0:
        record_diagnostics(0)
    batches = h.train_batches(start)
    step = start
    with preemption.StopSignals(stop_on_signals) as stop:  # SIGTERM/SIGINT: save and stop after this step
        while step < num_steps and not meta["stopped_early"]:
            batch = h.shard(next(batches))
            state, (step_metrics, finite) = train_step(state, batch)
            step += 1
            if tc.nonfinite == "halt" and not bool(finite):
                raise NonFiniteError(
                    f"non-finite loss or gradient at step {step} (train.nonfinite='halt'); "
                    f"the last good checkpoint (step {ckpt.latest_step()}) is intact in {workdir}"
                )
            history.append(step_metrics)
            if step % tc.log_every == 0 or step == num_steps:
                logged = h.finalize(_mean_metrics(history))
                logged["nonfinite_steps"] = float(state.nonfinite_steps)
                history = []
                if writer:
                    writer.write(step, logged, split="train")
            record_diagnostics(step)
            if h.eval_sets and (step % eval_every == 0 or step == num_steps):
                results = h.evaluate(eval_step, h.eval_params(state))
                for name, values in results.items():
                    if writer:
                        writer.write(step, values, split=name)
                first = next(iter(results.values()))
                if tc.best_metric not in first:
                    raise ValueError(f"train.best_metric={tc.best_metric!r} is not an eval metric ({sorted(first)})")
                value = first[tc.best_metric]
                if meta["best"] is None or sign * value < sign * meta["best"]:
                    meta.update(best=value, evals_without_improvement=0)
                else:
                    meta["evals_without_improvement"] += 1
                ckpt.save_best(step, state, meta, {tc.best_metric: value})
                if tc.early_stopping_evals and meta["evals_without_improvement"] >= tc.early_stopping_evals:
                    meta["stopped_early"] = True
                if target_met is not None and target_met(first):
                    meta["stopped_early"] = True
            saved = step % checkpoint_every == 0 or step == num_steps or meta["stopped_early"]
            if saved:
                save(step)
            signum = stop.should_stop(step, log_step=step % tc.log_every == 0 or step == num_steps)
            if signum is not None:
                if not saved:
                    save(step)
                if writer:
                    writer.close()
                ckpt.close()
                raise preemption.Stopped(signum, step, workdir)

    final: dict[str, Any] = {}
    try:
        best = ckpt.restore_best(state) if h.eval_sets else None
    except checkpoint.DamagedCheckpointsError as e:  # a save of the best killed midway, not redone since
        print(f"warning: {e}; reporting the final state (step {int(state.step)}) instead", file=sys.stderr)
        best = checkpoint.Restored(state, meta, int(state.step))
    if best is not None:
        final = h.evaluate(eval_step, h.eval_params(best.state))
        if writer:
            for name, values in final.items():
                writer.write(best.step, values, split=f"best_{name}")
    if writer:
        if tc.plots:
            metrics.plot_curves(metrics.read_jsonl(workdir / "metrics.jsonl"), workdir / "plots")
            diagnostics.plot(diag_log.read(), workdir / "plots")
        writer.close()
    ckpt.close()
    return final


def evaluate_checkpoint(config: ml_collections.ConfigDict, workdir: str | Path, experiment: Experiment) -> dict:
    """Evaluates the best checkpoint in ``workdir`` (or the latest if none is marked best)."""
    workdir = Path(workdir)
    if not (workdir / "checkpoints").is_dir():
        raise FileNotFoundError(f"no checkpoints in {workdir} (train first, or check --workdir)")
    check_optimizer_for_restore(config, workdir)
    h = _Harness(config, workdir, experiment)
    tc = config.train
    ckpt = checkpoint.Checkpointer(
        workdir / "checkpoints", keep=tc.keep_checkpoints, best_metric=tc.best_metric, best_mode=tc.best_mode
    )
    prepare = getattr(experiment, "prepare", None)
    if prepare and jax.process_index() == 0:
        prepare(config, workdir, h.info)  # refuses data that does not match the checkpoint
    template = h.init_state(h.shard(next(iter(h.train_batches(0)))))
    try:
        restored = ckpt.restore_best(template)
    except checkpoint.DamagedCheckpointsError as e:
        print(f"warning: {e}; evaluating the latest checkpoint instead", file=sys.stderr)
        restored = None
    restored = restored or ckpt.restore_latest(template)
    ckpt.close()
    if restored is None:
        raise FileNotFoundError(f"no checkpoints in {workdir / 'checkpoints'} (train first, or check --workdir)")
    return h.evaluate(h.make_eval_step(), h.eval_params(restored.state))
