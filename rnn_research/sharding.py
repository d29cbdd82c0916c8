"""Data parallelism with ``jax.sharding``: one mesh axis ``"data"`` over every device of every host.

Each process produces only its rows of a global batch (:func:`host_slice`), turns them into
global arrays sharded on the leading axis (:func:`shard_batch`), and keeps parameters and
optimizer state replicated (:func:`replicate`); ``jax.jit`` then inserts the gradient
all-reduce. The same code runs on one CPU, one GPU, many fake CPU devices and many hosts::

    sharding.maybe_initialize_distributed()  # before anything touches a device
    mesh = sharding.data_mesh()
    rows = sharding.host_slice(config.train.batch_size)  # this host's rows of each batch
    state = sharding.replicate(state, mesh)
    batch = sharding.shard_batch(local_numpy_batch, mesh)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

DATA_AXIS = "data"
MULTIHOST_ENV = "RNN_RESEARCH_MULTIHOST"


def maybe_initialize_distributed(
    enabled: bool | None = None,
    *,
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
) -> None:
    """Calls ``jax.distributed.initialize`` once, when ``enabled`` (default: ``$RNN_RESEARCH_MULTIHOST == "1"``).

    Arguments left ``None`` are found by JAX itself (``JAX_COORDINATOR_ADDRESS``,
    ``JAX_NUM_PROCESSES``, ``JAX_PROCESS_ID``, or cluster detection: SLURM, Open MPI, TPU, ...).
    Must run before the first use of a device. On CPU (``JAX_PLATFORMS`` unset or naming cpu)
    cross-process collectives use gloo. A second call, or a call when already initialized,
    does nothing.
    """
    if enabled is None:
        enabled = os.environ.get(MULTIHOST_ENV, "") == "1"
    if not enabled or jax.distributed.is_initialized():
        return
    platforms = jax.config.jax_platforms or os.environ.get("JAX_PLATFORMS", "")
    if not platforms or "cpu" in platforms.split(","):
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=coordinator_address, num_processes=num_processes, process_id=process_id
    )


def data_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A 1-D mesh with axis ``"data"`` over ``devices`` (default ``jax.devices()``, all hosts)."""
    devices = jax.devices() if devices is None else list(devices)
    return Mesh(np.asarray(devices), (DATA_AXIS,))


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """Leading axis split over ``"data"``, other axes whole."""
    return NamedSharding(mesh, PartitionSpec(DATA_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
    """A full copy on every device of ``mesh``."""
    return NamedSharding(mesh, PartitionSpec())


def _check_batch(batch: Any, num_local_devices: int) -> None:
    leaves = jax.tree_util.tree_flatten_with_path(batch)[0]
    if not leaves:
        raise ValueError("shard_batch got a batch with no arrays")
    shapes = {jax.tree_util.keystr(path): np.shape(leaf) for path, leaf in leaves}
    for key, shape in shapes.items():
        if not shape:
            raise ValueError(f"batch{key} is a scalar (shape {shape}); every leaf needs a leading batch axis")
    sizes = {shape[0] for shape in shapes.values()}
    if len(sizes) > 1:
        described = ", ".join(f"batch{key}: {shape}" for key, shape in shapes.items())
        raise ValueError(f"batch leaves disagree on the leading (batch) size: {described}")
    (size,) = sizes
    if size % num_local_devices:
        key, shape = next(iter(shapes.items()))
        raise ValueError(
            f"batch{key} has local batch size {size} (shape {shape}), "
            f"not divisible by the {num_local_devices} local devices of the mesh"
        )


def shard_batch(batch: Any, mesh: Mesh) -> Any:
    """Host-local numpy leaves ``[b, ...]`` -> global ``jax.Array`` leaves ``[b * hosts, ...]``.

    Each process passes its own rows (:func:`host_slice`); the leading axis of the result is
    sharded over ``"data"`` with this host's rows on its local devices, in device order. Every
    leaf must share the leading size ``b``, divisible by the mesh's local device count.
    """
    _check_batch(batch, len(mesh.local_devices))
    sharding = batch_sharding(mesh)
    return jax.tree.map(lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), batch)


def replicate(tree: Any, mesh: Mesh) -> Any:
    """``tree`` placed whole on every device of ``mesh`` (parameters, optimizer state).

    In a multi-process run every process must pass the same values.
    """
    return jax.device_put(tree, replicated(mesh))


def host_slice(
    global_batch_size: int,
    *,
    process_index: int | None = None,
    process_count: int | None = None,
    local_device_count: int | None = None,
) -> slice:
    """The contiguous rows of a global batch that this process produces (its index-th chunk).

    The keyword arguments default to ``jax.process_index()``, ``jax.process_count()`` and
    ``jax.local_device_count()``.
    """
    index = jax.process_index() if process_index is None else process_index
    count = jax.process_count() if process_count is None else process_count
    local = jax.local_device_count() if local_device_count is None else local_device_count
    if global_batch_size <= 0 or global_batch_size % (count * local):
        raise ValueError(
            f"global batch size {global_batch_size} (train.batch_size) must be a positive multiple of "
            f"{count} processes x {local} local devices = {count * local}"
        )
    per_process = global_batch_size // count
    return slice(index * per_process, (index + 1) * per_process)


def local_batch_size(global_batch_size: int) -> int:
    """Rows of each global batch that this process produces: ``global_batch_size // process_count``."""
    rows = host_slice(global_batch_size)
    return rows.stop - rows.start
