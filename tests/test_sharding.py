"""Data parallelism on 8 fake CPU devices: placement, equality with unsharded runs, errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_research import sharding


@pytest.fixture(scope="module")
def mesh():
    assert jax.device_count() == 8, "conftest should provide 8 fake CPU devices"
    return sharding.data_mesh()


def test_mesh_spans_all_devices(mesh):
    assert mesh.axis_names == ("data",)
    assert mesh.devices.shape == (8,)
    assert list(mesh.devices) == jax.devices()


def test_shard_batch_puts_contiguous_rows_on_each_device(mesh):
    x = np.arange(16 * 3, dtype=np.float32).reshape(16, 3)
    y = np.arange(16, dtype=np.int32)
    out = sharding.shard_batch({"x": x, "y": y}, mesh)
    assert out["x"].shape == (16, 3) and out["y"].shape == (16,)
    assert out["x"].sharding == sharding.batch_sharding(mesh)
    shards = {shard.device: shard for shard in out["x"].addressable_shards}
    assert len(shards) == 8
    for i, device in enumerate(mesh.devices):
        np.testing.assert_array_equal(np.asarray(shards[device].data), x[2 * i : 2 * i + 2])
    np.testing.assert_array_equal(np.asarray(out["y"]), y)


def test_sharded_mean_loss_equals_unsharded(mesh):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 5)).astype(np.float32)
    loss = jax.jit(lambda b: jnp.mean(b["x"] ** 2))
    sharded = loss(sharding.shard_batch({"x": x}, mesh))
    np.testing.assert_allclose(float(sharded), float(loss({"x": jnp.asarray(x)})), rtol=1e-6, atol=1e-6)


def mlp_loss(params, batch):
    h = jnp.tanh(batch["x"] @ params["w1"] + params["b1"][None, :])
    pred = (h @ params["w2"])[:, 0]
    return jnp.mean((pred - batch["y"]) ** 2)


def test_mlp_loss_and_grads_match_on_one_and_eight_devices(mesh):
    k = jax.random.split(jax.random.key(0), 4)
    params = {
        "w1": jax.random.normal(k[0], (6, 16)),
        "b1": jnp.zeros((16,)),
        "w2": jax.random.normal(k[1], (16, 1)),
    }
    batch = {
        "x": np.asarray(jax.random.normal(k[2], (24, 6))),
        "y": np.asarray(jax.random.normal(k[3], (24,))),
    }
    step = jax.jit(jax.value_and_grad(mlp_loss))
    results = []
    for m in (sharding.data_mesh(jax.devices()[:1]), mesh):
        results.append(step(sharding.replicate(params, m), sharding.shard_batch(batch, m)))
    (loss1, grads1), (loss8, grads8) = results
    np.testing.assert_allclose(loss1, loss8, rtol=1e-5, atol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5), grads1, grads8)
    assert grads8["w1"].sharding.is_fully_replicated


def test_replicate_places_a_full_copy_everywhere(mesh):
    tree = sharding.replicate({"w": np.ones((3, 2), np.float32)}, mesh)
    assert tree["w"].sharding.is_fully_replicated
    assert len(tree["w"].addressable_shards) == 8


def test_shard_batch_rejects_disagreeing_leading_sizes(mesh):
    batch = {"inputs": np.zeros((16, 4)), "targets": np.zeros((8,))}
    with pytest.raises(ValueError, match=r"batch\['inputs'\]: \(16, 4\), batch\['targets'\]: \(8,\)"):
        sharding.shard_batch(batch, mesh)


def test_shard_batch_rejects_indivisible_batch(mesh):
    with pytest.raises(ValueError, match=r"batch\['x'\] has local batch size 12 \(shape \(12, 2\)\).*8 local devices"):
        sharding.shard_batch({"x": np.zeros((12, 2))}, mesh)


def test_shard_batch_rejects_scalars(mesh):
    with pytest.raises(ValueError, match=r"batch\['step'\] is a scalar"):
        sharding.shard_batch({"x": np.zeros((8, 2)), "step": np.zeros(())}, mesh)


def test_host_slice_single_process():
    assert sharding.host_slice(16) == slice(0, 16)
    assert sharding.local_batch_size(16) == 16
    with pytest.raises(ValueError, match="global batch size 12"):
        sharding.host_slice(12)


def test_host_slice_many_processes():
    rows = [sharding.host_slice(32, process_index=i, process_count=4, local_device_count=2) for i in range(4)]
    assert rows == [slice(0, 8), slice(8, 16), slice(16, 24), slice(24, 32)]
    with pytest.raises(ValueError, match="4 processes x 8 local devices"):
        sharding.host_slice(16, process_index=0, process_count=4, local_device_count=8)


def test_maybe_initialize_distributed(monkeypatch):
    calls = []
    previous = jax.config.jax_cpu_collectives_implementation
    monkeypatch.setattr(jax.distributed, "initialize", lambda **kwargs: calls.append(kwargs))
    monkeypatch.setattr(jax.distributed, "is_initialized", lambda: bool(calls))
    monkeypatch.delenv(sharding.MULTIHOST_ENV, raising=False)
    sharding.maybe_initialize_distributed()
    sharding.maybe_initialize_distributed(False)
    assert calls == []
    monkeypatch.setenv(sharding.MULTIHOST_ENV, "1")
    sharding.maybe_initialize_distributed(coordinator_address="localhost:1234", num_processes=2, process_id=1)
    sharding.maybe_initialize_distributed()  # idempotent
    assert calls == [{"coordinator_address": "localhost:1234", "num_processes": 2, "process_id": 1}]
    assert jax.config.jax_cpu_collectives_implementation == "gloo"
    jax.config.update("jax_cpu_collectives_implementation", previous)
