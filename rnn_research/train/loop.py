"""The training loop and the evaluation of a saved checkpoint (see :mod:`rnn_research.train`)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import jax
import ml_collections

from rnn_research import checkpoint, diagnostics, metrics, preemption
from rnn_research.experiment import Experiment, check_hooks
from rnn_research.train import evaluators, resume, validate
from rnn_research.train.harness import Harness, NonFiniteError, floats, interval, mean_metrics


def _checkpointer(config: ml_collections.ConfigDict, workdir: Path) -> checkpoint.Checkpointer:
    tc = config.train
    return checkpoint.Checkpointer(
        workdir / "checkpoints", keep=tc.keep_checkpoints, best_metric=tc.best_metric, best_mode=tc.best_mode
    )


def train_and_evaluate(
    config: ml_collections.ConfigDict, workdir: str | Path, experiment: Experiment, *, stop_on_signals: bool = False
) -> dict:
    """Trains ``experiment`` under ``config`` in ``workdir`` (resuming if it holds a checkpoint).

    Returns the final metrics: ``{eval_set: {metric: value}}`` of the best checkpoint (or of
    the last state when there are no eval sets). ``stop_on_signals`` (the launcher's setting):
    SIGTERM/SIGINT during training save a checkpoint and raise :class:`preemption.Stopped`.
    """
    check_hooks(experiment)
    validate.check_config(config, experiment)  # before anything is written
    workdir = Path(workdir)
    tc = config.train
    is_chief = jax.process_index() == 0
    h = Harness(config, workdir, experiment)
    first_batch = h.shard(next(iter(h.train_batches(0))))
    state = h.init_state(first_batch)
    train_step, eval_step = h.make_train_step(), h.make_eval_step()
    # Everything the config names is checked before the first file is written.
    evaluators.check_metric_names(config, h.metric_names(eval_step, state.params))
    target_met = evaluators.parse_stop_when(tc.get("stop_when", ""))
    if target_met is not None and not h.eval_sets:
        raise ValueError(f"train.stop_when={tc.stop_when!r} needs an eval set, and this experiment has none")
    eval_every, checkpoint_every = interval(config, "eval_every", h.info), interval(config, "checkpoint_every", h.info)
    saved_nothing = not checkpoint.saved_any(workdir / "checkpoints")
    if is_chief:
        workdir.mkdir(parents=True, exist_ok=True)
        # A workdir where no checkpoint was ever saved (a run that failed or was killed before its
        # first save) holds nothing to resume: its config.json and artefacts do not bind this run.
        resume.check_config_for_resume(config, workdir, experiment, saved_nothing=saved_nothing)
        if saved_nothing:
            for name in getattr(experiment, "ARTEFACTS", ()):
                (workdir / name).unlink(missing_ok=True)
    ckpt = _checkpointer(config, workdir)
    try:  # the managers' threads are released on any error too (else tracebacks at exit)
        prepare = getattr(experiment, "prepare", None)
        if prepare and is_chief:
            prepare(config, workdir, h.info)  # e.g. save the vocabulary, or refuse one that differs
        num_steps = h.total_steps
        writer = None
        if is_chief:
            writer = metrics.MetricWriter(
                workdir,
                total_steps=num_steps,
                console_metrics=getattr(experiment, "CONSOLE_METRICS", None),
                console_once=getattr(experiment, "CONSOLE_ONCE", None),
            )
        diag_log = diagnostics.DiagnosticsLog(workdir)

        meta = {"best": None, "evals_without_improvement": 0, "stopped_early": False}
        restored = ckpt.restore_latest(state, move_aside=True)
        if restored is not None:
            state, meta = restored.state, restored.meta
        # The workdir files inference reads (vocab.json): fingerprinted with every checkpoint. prepare()
        # has just refused one that no longer fits the data, so they are the run's own.
        meta["artefacts"] = checkpoint.artefact_digests(workdir, getattr(experiment, "ARTEFACTS", ()))
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
            # At the first step this process trains: TensorBoard then hides the config of an attempt
            # that was killed before saving anything past it, as it hides that attempt's scalars.
            resolved = config.to_json_best_effort(indent=2, sort_keys=True)
            writer.write_text("config", f"```json\n{resolved}\n```", kept_until + 1)

        diag_fn = h.make_diagnostics(state.params, first_batch)
        sign = 1.0 if tc.best_mode == "min" else -1.0

        def save(step: int) -> None:
            ckpt.save(step, state, {**meta, "log_history": [floats(m) for m in jax.device_get(history)]})

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
                if writer and step == start + 1:  # compiled and run: steps/s and the ETA start here
                    jax.block_until_ready(step_metrics)
                    writer.start_clock(step)
                if tc.nonfinite == "halt" and not bool(finite):
                    last = ckpt.latest_step()
                    kept = (
                        f"the last good checkpoint (step {last}) is intact in {workdir}"
                        if last is not None
                        else f"no checkpoint was saved before it, so the same --workdir={workdir} starts afresh"
                    )
                    remedy = "lower optim.learning_rate" + (
                        "" if config.optim.get("clip_norm") else " or set optim.clip_norm"
                    )
                    raise NonFiniteError(
                        f"non-finite loss, gradient or update at step {step} (train.nonfinite='halt'): {remedy}; {kept}"
                    )
                history.append(step_metrics)
                if step % tc.log_every == 0 or step == num_steps:
                    logged = h.finalize(mean_metrics(history))
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
                    value = evaluators.best_metric_value(results, tc.best_metric)
                    if meta["best"] is None or sign * value < sign * meta["best"]:
                        meta.update(best=value, evals_without_improvement=0)
                    else:
                        meta["evals_without_improvement"] += 1
                    ckpt.save_best(step, state, meta, {tc.best_metric: value})
                    if tc.early_stopping_evals and meta["evals_without_improvement"] >= tc.early_stopping_evals:
                        meta["stopped_early"] = True
                    if target_met is not None and target_met(next(iter(results.values()))):
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
                heatmaps = diagnostics.plot(diag_log.read(), workdir / "plots")
                tags = {f"grad_flow/{p.stem.removeprefix('grad_flow_')}": p for p in heatmaps}
                writer.write_images(int(state.step), tags)
            writer.close()
    finally:
        ckpt.close()
    return final


def evaluate_checkpoint(config: ml_collections.ConfigDict, workdir: str | Path, experiment: Experiment) -> dict:
    """Evaluates the best checkpoint in ``workdir`` (or the latest if none is marked best):
    ``{eval_set: {metric: value}}``, host-side evaluators' metrics included."""
    check_hooks(experiment)
    validate.check_config(config, experiment)
    workdir = Path(workdir)
    if not (workdir / "checkpoints").is_dir():
        raise FileNotFoundError(f"no checkpoints in {workdir} (train first, or check --workdir)")
    resume.check_model_for_eval(config, workdir, experiment)
    resume.check_optimizer_for_restore(config, workdir, experiment)
    h = Harness(config, workdir, experiment)
    prepare = getattr(experiment, "prepare", None)
    if prepare and jax.process_index() == 0:
        prepare(config, workdir, h.info)  # refuses data that does not match the checkpoint
    template = h.init_state(h.shard(next(iter(h.train_batches(0)))))
    ckpt = _checkpointer(config, workdir)
    try:
        try:
            restored = ckpt.restore_best(template)
        except checkpoint.DamagedCheckpointsError as e:
            print(f"warning: {e}; evaluating the latest checkpoint instead", file=sys.stderr)
            restored = None
        restored = restored or ckpt.restore_latest(template)
    finally:
        ckpt.close()
    if restored is None:
        raise FileNotFoundError(f"no checkpoints in {workdir / 'checkpoints'} (train first, or check --workdir)")
    checkpoint.check_artefacts(workdir, restored.meta, restored.step)
    return h.evaluate(h.make_eval_step(), h.eval_params(restored.state))
