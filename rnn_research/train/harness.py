"""The pieces of one run, built once from a config and an experiment: data, model, optimizer,
mesh, the jitted train and eval steps, evaluation (in-graph, then host-side evaluators) and the
gradient-flow diagnostics. :mod:`rnn_research.train.loop` drives them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import flax
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from rnn_research import diagnostics, optim, sharding
from rnn_research.experiment import Experiment
from rnn_research.train import evaluators


class NonFiniteError(RuntimeError):
    """A non-finite loss, gradient or updated parameter with ``train.nonfinite='halt'``."""


@flax.struct.dataclass
class TrainState:
    """What a checkpoint holds: the step ``[]``, parameters, optimizer state, the RNG key data, the
    experiment's carry (``[B, ...]`` leaves) and the count of skipped non-finite steps ``[]``."""

    step: jax.Array
    params: Any
    opt_state: Any
    rng: jax.Array  # raw uint32 key data; the key of step s is fold_in(rng, s)
    carry: Any
    nonfinite_steps: jax.Array


def total_steps(config: ml_collections.ConfigDict, info: dict[str, Any]) -> int:
    """``train.num_epochs * info["steps_per_epoch"]`` when ``num_epochs > 0``, else ``train.num_steps``."""
    epochs = config.train.get("num_epochs", 0)
    if not epochs:
        return int(config.train.num_steps)
    if not info.get("steps_per_epoch"):
        raise ValueError("train.num_epochs needs an experiment that reports steps_per_epoch; set train.num_steps")
    return int(epochs * info["steps_per_epoch"])


def interval(config: ml_collections.ConfigDict, key: str, info: dict[str, Any]) -> int:
    """``train.<key>`` in steps; 0 means once per epoch."""
    value = int(config.train[key])
    if value > 0:
        return value
    if not info.get("steps_per_epoch"):
        raise ValueError(f"train.{key}=0 means once per epoch, but the experiment reports no steps_per_epoch")
    return int(info["steps_per_epoch"])


def floats(values: dict[str, Any]) -> dict[str, float]:
    """``{name: scalar}`` -> ``{name: float}``."""
    return {k: float(v) for k, v in values.items()}


def mean_metrics(history: list[dict[str, Any]]) -> dict[str, float]:
    """Each metric's mean over the batches, except ``total_*`` metrics (counts), which are summed."""
    stacked = jax.device_get(history)
    reduce = {True: np.sum, False: np.mean}
    return {
        k: float(reduce[k.startswith("total_")]([np.asarray(h[k], np.float64) for h in stacked])) for k in stacked[0]
    }


class Harness:
    """The pieces of one run, built once; :func:`rnn_research.train.train_and_evaluate` drives them."""

    def __init__(self, config: ml_collections.ConfigDict, workdir: Path, experiment: Experiment) -> None:
        self.config, self.workdir, self.experiment = config, workdir, experiment
        self.mesh = sharding.data_mesh()
        self.batch_sharding = sharding.batch_sharding(self.mesh)
        self.replicated = sharding.replicated(self.mesh)
        self.train_batches, self.eval_sets, self.info = experiment.make_data(config)
        self.model = experiment.make_model(config, self.info)
        self.evaluators = evaluators.make_evaluators(experiment, config, self.info)
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

        return TrainState(
            step=zero(),
            params=params,
            opt_state=opt_state,
            rng=jax.device_put(jax.random.fold_in(key, 1), self.replicated),
            carry=carry,
            nonfinite_steps=zero(),
        )

    # ------------------------------------------------------------------ steps
    def make_train_step(self) -> Any:
        """A jitted ``(state, batch) -> (state, (metrics, finite))`` that donates ``state``; a
        non-finite loss, gradient or updated parameter leaves everything but the counters unchanged."""
        experiment, model, tx, schedule = self.experiment, self.model, self.tx, self.schedule

        def train_step(state: TrainState, batch: Any) -> tuple[TrainState, tuple[dict[str, jax.Array], jax.Array]]:
            rng = jax.random.fold_in(state.rng, state.step)

            def loss_fn(params: Any) -> Any:
                return experiment.loss_and_metrics(model, {"params": params}, batch, state.carry, rng, True)

            (loss, (step_metrics, carry)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params)
            grad_norm = optax.tree.norm(grads)
            updates, opt_state = tx.update(grads, state.opt_state, state.params)
            params = optax.apply_updates(state.params, updates)
            # An update that overflows (a huge learning rate) counts as non-finite too, so that no
            # saved state ever holds NaN or infinity.
            params_finite = jax.tree_util.tree_reduce(
                lambda ok, p: ok & jnp.all(jnp.isfinite(p)), params, jnp.array(True)
            )
            finite = jnp.isfinite(loss) & jnp.isfinite(grad_norm) & params_finite

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
        """A jitted ``(params, batch, carry) -> (metrics, carry)`` in eval mode (no dropout)."""
        experiment, model = self.experiment, self.model

        def eval_step(params: Any, batch: Any, carry: Any) -> Any:
            rng = jax.random.PRNGKey(0)  # unused in eval mode (no dropout)
            loss, (step_metrics, carry) = experiment.loss_and_metrics(
                model, {"params": params}, batch, carry, rng, False
            )
            return dict(step_metrics, loss=loss), carry

        return jax.jit(eval_step)

    def evaluate(self, eval_step: Any, params: Any) -> dict[str, dict[str, float]]:
        """``{split: {metric: value}}``: each eval set's in-graph metrics (reduced, finalized), then
        the experiment's host-side evaluators' metrics on that set."""
        results = {}
        for name, batches in self.eval_sets.items():
            carry, history = None, []
            for batch in batches():
                if carry is None:  # sized by the set's own batch (e.g. batch-1 test evaluation)
                    carry = self.initial_carry(np.shape(jax.tree_util.tree_leaves(batch)[0])[0])
                step_metrics, carry = eval_step(params, self.shard(batch), carry)
                history.append(step_metrics)
            if history:
                values = self.finalize(mean_metrics(history))
                results[name] = evaluators.run_evaluators(self.evaluators, self.model, params, name, batches, values)
        return results

    def metric_names(self, eval_step: Any, params: Any) -> dict[str, set[str] | None]:
        """Per eval set, the names its evaluation will report, found by tracing ``eval_step`` on
        the set's first batch (nothing is computed) and finalizing placeholder values, plus the
        evaluators' declared ``metrics``; None for a set where that is not known in advance (an
        evaluator without ``metrics``, or a ``finalize_metrics`` that needs real values)."""
        declared = [getattr(e, "metrics", None) for e in self.evaluators.values()]
        extra = None if any(d is None for d in declared) else set().union(*map(set, declared))
        names: dict[str, set[str] | None] = {}
        for name, batches in self.eval_sets.items():
            batch = next(iter(batches()), None)
            if batch is None:
                continue
            carry = self.initial_carry(np.shape(jax.tree_util.tree_leaves(batch)[0])[0])
            shapes, _ = jax.eval_shape(eval_step, params, self.shard(batch), carry)
            try:
                found = set(self.finalize({k: 1.0 for k in shapes}))
            except Exception:  # noqa: BLE001 -- derived metrics that need real values: not checked
                names[name] = None
                continue
            names[name] = None if extra is None else found | extra
        return names

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
