"""Parity of converted weights with torch.nn.RNN/LSTM/GRU and flax.linen cells."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from rnn_research import cells, interop, recurrent
from tests.errors import one_line_error

B, T, D, H = 4, 6, 3, 5
LENGTHS = np.array([6, 3, 1, 4])
TORCH_KINDS = ["rnn_tanh", "rnn_relu", "lstm", "gru"]
OUR_CELLS = {
    "rnn_tanh": cells.SimpleRNN(H),
    "rnn_relu": cells.SimpleRNN(H, activation="relu"),
    "lstm": cells.LSTM(H),
    "gru": cells.GRU(H),
}


def _padded_inputs(rng, lengths=LENGTHS):
    """``[B, T, D]`` inputs with large garbage in the padded positions."""
    xs = rng.normal(size=(B, T, D)).astype(np.float32)
    pad = np.arange(T)[None, :] >= lengths[:, None]
    xs[pad] = 1e3 * rng.normal(size=(int(pad.sum()), D))
    return xs


def _torch_module(torch, kind, **kwargs):
    torch.manual_seed(0)
    kwargs = dict(num_layers=2, bidirectional=True, batch_first=True) | kwargs
    if kind.startswith("rnn"):
        module = torch.nn.RNN(D, H, nonlinearity=kind[4:], **kwargs)
    else:
        module = getattr(torch.nn, kind.upper())(D, H, **kwargs)
    with torch.no_grad():  # nonzero biases everywhere, so misplaced bias slices show
        for name, p in module.named_parameters():
            if name.startswith("bias"):
                p.uniform_(-0.5, 0.5)
    return module


def _run_torch(torch, module, xs, lengths, h0=None):
    """Packed run with ``enforce_sorted=False``; returns ``(ys [B, T, 2H], h_n, c_n or None)``."""
    pack = torch.nn.utils.rnn
    packed = pack.pack_padded_sequence(xs, torch.as_tensor(lengths), batch_first=True, enforce_sorted=False)
    out, hidden = module(packed, h0)
    ys, _ = pack.pad_packed_sequence(out, batch_first=True, total_length=xs.shape[1])
    h_n, c_n = hidden if isinstance(hidden, tuple) else (hidden, None)
    return ys, h_n, c_n


def _random_states(cell, rng, bidirectional=True):
    shape = (2 * (2 if bidirectional else 1), B, H)
    h = rng.normal(size=shape).astype(np.float32)
    c = rng.normal(size=shape).astype(np.float32) if isinstance(cell, cells.LSTM) else None
    return h, c


# --------------------------------------------------------------------------------- torch
@pytest.mark.parametrize("kind", TORCH_KINDS)
def test_from_torch_matches_outputs_states_and_gradients(kind):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    module = _torch_module(torch, kind)
    cell, params = interop.from_torch(module)
    assert type(cell) is type(OUR_CELLS[kind]) and cell == OUR_CELLS[kind]
    xs = _padded_inputs(rng)
    w_out = rng.normal(size=(B, T, 2 * H)).astype(np.float32)
    w_h, w_c = (rng.normal(size=(4, B, H)).astype(np.float32) for _ in range(2))
    is_lstm = kind == "lstm"

    xs_t = torch.tensor(xs, requires_grad=True)
    ys_t, h_t, c_t = _run_torch(torch, module, xs_t, LENGTHS)
    loss_t = (ys_t * torch.tensor(w_out)).sum() + (h_t * torch.tensor(w_h)).sum()
    if is_lstm:
        loss_t = loss_t + (c_t * torch.tensor(w_c)).sum()
    loss_t.backward()

    def loss(params, xs):
        finals, ys = recurrent.stacked(cell, params, xs, lengths=jnp.asarray(LENGTHS), bidirectional=True)
        value = jnp.sum(ys * w_out) + jnp.sum(jnp.stack([s.h for p in finals for s in p]) * w_h)
        if is_lstm:
            value = value + jnp.sum(jnp.stack([s.c for p in finals for s in p]) * w_c)
        return value, (ys, finals)

    (value, (ys, finals)), (grads, dxs) = jax.value_and_grad(loss, argnums=(0, 1), has_aux=True)(params, xs)
    hidden = interop.states_to_torch(cell, finals)
    h_n, c_n = hidden if is_lstm else (hidden, None)
    pad = np.arange(T)[None, :] >= LENGTHS[:, None]
    assert np.all(np.asarray(ys)[pad] == 0) and np.all(ys_t.detach().numpy()[pad] == 0)
    np.testing.assert_allclose(ys, ys_t.detach().numpy(), atol=1e-5, rtol=0)
    np.testing.assert_allclose(h_n.numpy(), h_t.detach().numpy(), atol=1e-5, rtol=0)
    if is_lstm:
        np.testing.assert_allclose(c_n.numpy(), c_t.detach().numpy(), atol=1e-5, rtol=0)
    np.testing.assert_allclose(value, loss_t.item(), atol=1e-4, rtol=0)
    np.testing.assert_allclose(dxs, xs_t.grad.numpy(), atol=1e-4, rtol=0)
    assert np.all(np.asarray(dxs)[pad] == 0)

    tgrad = lambda name: getattr(module, name).grad.numpy()  # noqa: E731
    for layer, layer_grads in enumerate(grads):
        for direction, suffix in (("forward", ""), ("backward", "_reverse")):
            g, tag = layer_grads[direction], f"l{layer}{suffix}"
            np.testing.assert_allclose(g["input_kernel"], tgrad(f"weight_ih_{tag}").T, atol=1e-4, rtol=0)
            np.testing.assert_allclose(g["recurrent_kernel"], tgrad(f"weight_hh_{tag}").T, atol=1e-4, rtol=0)
            np.testing.assert_allclose(g["bias"], tgrad(f"bias_ih_{tag}"), atol=1e-4, rtol=0)
            if kind == "gru":
                np.testing.assert_allclose(g["recurrent_bias"], tgrad(f"bias_hh_{tag}")[2 * H :], atol=1e-4, rtol=0)


@pytest.mark.parametrize("kind", TORCH_KINDS)
def test_to_torch_from_our_init_with_initial_states(kind):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    cell = OUR_CELLS[kind]
    params = recurrent.init_stacked(cell, jax.random.key(0), D, 2, bidirectional=True)
    params = jax.tree_util.tree_map(lambda p: p + 0.3 * jax.random.normal(jax.random.key(1), p.shape), params)
    module = interop.to_torch(cell, params)
    assert module.num_layers == 2 and module.bidirectional and module.batch_first
    xs = _padded_inputs(rng)
    h0, c0 = _random_states(cell, rng)
    init = interop.states_from_torch(cell, h0, c0, bidirectional=True)
    finals, ys = recurrent.stacked(
        cell, params, jnp.asarray(xs), init, lengths=jnp.asarray(LENGTHS), bidirectional=True
    )
    with torch.no_grad():
        h0_t = torch.tensor(h0) if c0 is None else (torch.tensor(h0), torch.tensor(c0))
        ys_t, h_t, c_t = _run_torch(torch, module, torch.tensor(xs), LENGTHS, h0_t)
    np.testing.assert_allclose(ys, ys_t.numpy(), atol=1e-5, rtol=0)
    hidden = interop.states_to_torch(cell, finals)
    if c_t is None:
        np.testing.assert_allclose(hidden.numpy(), h_t.numpy(), atol=1e-5, rtol=0)
    else:
        np.testing.assert_allclose(hidden[0].numpy(), h_t.numpy(), atol=1e-5, rtol=0)
        np.testing.assert_allclose(hidden[1].numpy(), c_t.numpy(), atol=1e-5, rtol=0)

    # Round trip: the same function, and for these params the same values.
    cell2, params2 = interop.from_torch(module)
    finals2, ys2 = recurrent.stacked(
        cell2, params2, jnp.asarray(xs), init, lengths=jnp.asarray(LENGTHS), bidirectional=True
    )
    np.testing.assert_array_equal(ys2, ys)
    jax.tree_util.tree_map(np.testing.assert_array_equal, finals2, finals)
    jax.tree_util.tree_map(np.testing.assert_array_equal, params2, params)


@pytest.mark.parametrize("kind", TORCH_KINDS)
def test_unidirectional_no_bias_time_major_round_trip(kind):
    torch = pytest.importorskip("torch")
    module = _torch_module(torch, kind, num_layers=3, bidirectional=False, batch_first=False, bias=False)
    cell, params = interop.from_torch(module)
    assert len(params) == 3 and all(not np.any(p["bias"]) for p in params)
    xs = np.random.default_rng(2).normal(size=(B, T, D)).astype(np.float32)
    finals, ys = recurrent.stacked(cell, params, jnp.asarray(xs))
    with torch.no_grad():
        ys_t, hidden = module(torch.tensor(xs).transpose(0, 1))
    np.testing.assert_allclose(ys, ys_t.transpose(0, 1).numpy(), atol=1e-5, rtol=0)
    h_t = hidden[0] if kind == "lstm" else hidden
    h_n = interop.states_to_torch(cell, finals)
    np.testing.assert_allclose((h_n[0] if kind == "lstm" else h_n).numpy(), h_t.numpy(), atol=1e-5, rtol=0)

    module2 = interop.to_torch(cell, params, batch_first=False)
    assert module2.num_layers == 3 and not module2.bidirectional and not module2.batch_first
    with torch.no_grad():
        ys2_t, _ = module2(torch.tensor(xs).transpose(0, 1))
    np.testing.assert_allclose(ys2_t.numpy(), ys_t.numpy(), atol=1e-6, rtol=0)


def test_states_round_trip_and_errors():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    for cell in (cells.LSTM(H), cells.GRU(H)):
        for bidirectional in (False, True):
            h0, c0 = _random_states(cell, rng, bidirectional)
            states = interop.states_from_torch(
                cell, torch.tensor(h0), None if c0 is None else torch.tensor(c0), bidirectional=bidirectional
            )
            assert len(states) == 2
            back = interop.states_to_torch(cell, states)
            np.testing.assert_array_equal((back[0] if c0 is not None else back).numpy(), h0)
    with pytest.raises(ValueError, match="c_n"):
        interop.states_from_torch(cells.LSTM(H), np.zeros((2, B, H), np.float32))
    with pytest.raises(ValueError, match="h_n"):
        interop.states_from_torch(cells.GRU(H), np.zeros((3, B, H), np.float32), bidirectional=True)


def test_torch_errors():
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match="Linear"):
        interop.from_torch(torch.nn.Linear(2, 3))
    with pytest.raises(ValueError, match="proj_size"):
        interop.from_torch(torch.nn.LSTM(D, H, proj_size=2))
    gru = cells.GRU(H, reset_after=False)
    with pytest.raises(ValueError, match="reset_after"):
        interop.to_torch(gru, [gru.init(jax.random.key(0), D)])
    cell = cells.LSTM(H)
    summed = recurrent.init_stacked(cell, jax.random.key(0), D, 2, bidirectional=True, merge="sum")
    with pytest.raises(ValueError, match="concat"):
        interop.to_torch(cell, summed)
    for other in (cells.LayerNormLSTM(H), cells.MinGRU(H)):  # an LSTM subclass is not an LSTM to torch
        with pytest.raises(ValueError, match=f"to_torch: unsupported cell type {type(other).__name__}"):
            interop.to_torch(other, [other.init(jax.random.key(0), D)])
    learned = cells.LSTM(H, learn_initial_state=True)
    with pytest.raises(ValueError, match="no learned initial state"):
        interop.to_torch(learned, [learned.init(jax.random.key(0), D)])
    with one_line_error(ValueError, r"to_torch: params must be a list of per-layer param dicts .*, got dict$"):
        interop.to_torch(cell, cell.init(jax.random.key(0), D))  # one layer's dict, not a list of them


def test_states_to_torch_names_a_wrong_structure_in_one_line():
    cell = cells.LSTM(H)
    state = cell.initial_state(B)
    for states, what in [
        (state, "got one LSTMState: wrap it in a list"),
        ([], "got an empty list"),
        ([state, 3], "entry 1 is a int"),
        ([(state,)], "entry 0 is a tuple"),
    ]:
        with one_line_error(ValueError, rf"states_to_torch: states must be a non-empty list .*; {what}$"):
            interop.states_to_torch(cell, states)


# ---------------------------------------------------------------------------------- flax
FLAX_CELLS = {
    "LSTMCell": lambda **kw: nn.LSTMCell(H, **kw),
    "OptimizedLSTMCell": lambda **kw: nn.OptimizedLSTMCell(H, **kw),
    "GRUCell": lambda **kw: nn.GRUCell(H, **kw),
    "SimpleCell": lambda **kw: nn.SimpleCell(H, **kw),
    "SimpleCell_relu": lambda **kw: nn.SimpleCell(H, activation_fn=nn.relu, **kw),
}


def _random_carry(flax_cell, key):
    carry = flax_cell.initialize_carry(key, (B, D))
    leaves, tree = jax.tree_util.tree_flatten(carry)
    keys = jax.random.split(key, len(leaves))
    return jax.tree_util.tree_unflatten(
        tree, [jax.random.normal(k, x.shape) for k, x in zip(keys, leaves, strict=True)]
    )


@pytest.mark.parametrize("name", list(FLAX_CELLS))
def test_flax_cell_parity(name):
    flax_cell = FLAX_CELLS[name](bias_init=nn.initializers.normal(0.5))
    k_carry, k_init, k_x = jax.random.split(jax.random.key(4), 3)
    carry = _random_carry(flax_cell, k_carry)
    xs = jax.random.normal(k_x, (B, T, D))
    variables = flax_cell.init(k_init, carry, xs[:, 0])
    cell, params = interop.from_flax(flax_cell, variables)

    # One step.
    new_carry, y = flax_cell.apply(variables, carry, xs[:, 0])
    state, h = cell(params, interop.state_from_flax(cell, carry), xs[:, 0])
    np.testing.assert_allclose(h, y, atol=1e-5, rtol=0)
    jax.tree_util.tree_map(
        lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5, rtol=0), interop.state_to_flax(state), new_carry
    )

    # A sequence with lengths: flax does not zero padded outputs, so compare valid steps only.
    lengths = jnp.asarray(LENGTHS)
    rnn = nn.RNN(flax_cell, return_carry=True)
    final_carry, ys_flax = rnn.apply(
        {"params": {"cell": variables["params"]}}, xs, initial_carry=carry, seq_lengths=lengths
    )
    final, ys = recurrent.unroll(cell, params, xs, interop.state_from_flax(cell, carry), lengths=lengths)
    valid = np.arange(T)[None, :] < LENGTHS[:, None]
    np.testing.assert_allclose(np.asarray(ys)[valid], np.asarray(ys_flax)[valid], atol=1e-5, rtol=0)
    jax.tree_util.tree_map(
        lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5, rtol=0), interop.state_to_flax(final), final_carry
    )

    # Round trips: params -> flax -> params is exact, and flax -> ours -> flax too.
    kind = type(flax_cell).__name__
    flax_cell2, variables2 = interop.to_flax(cell, params, kind=kind)
    assert type(flax_cell2) is type(flax_cell)
    jax.tree_util.tree_map(np.testing.assert_array_equal, variables2, jax.tree_util.tree_map(jnp.asarray, variables))
    cell3, params3 = interop.from_flax(flax_cell2, variables2["params"])
    assert cell3 == cell
    jax.tree_util.tree_map(np.testing.assert_array_equal, params3, params)
    _, y2 = flax_cell2.apply(variables2, carry, xs[:, 0])
    np.testing.assert_allclose(y2, y, atol=1e-6, rtol=0)


def test_to_flax_optimized_lstm_from_our_init():
    cell = cells.LSTM(H)
    params = cell.init(jax.random.key(5), D)
    flax_cell, variables = interop.to_flax(cell, params, kind="OptimizedLSTMCell")
    assert isinstance(flax_cell, nn.OptimizedLSTMCell)
    state = cells.LSTMState(*jax.random.normal(jax.random.key(6), (2, B, H)))
    x = jax.random.normal(jax.random.key(7), (B, D))
    carry, y = flax_cell.apply(variables, interop.state_to_flax(state), x)
    new_state, h = cell(params, state, x)
    np.testing.assert_allclose(h, y, atol=1e-5, rtol=0)
    np.testing.assert_allclose(new_state.c, carry[0], atol=1e-5, rtol=0)


def test_flax_errors():
    with pytest.raises(ValueError, match="residual"):
        interop.from_flax(nn.SimpleCell(H, residual=True), {})
    with pytest.raises(ValueError, match="gate_fn"):
        interop.from_flax(nn.GRUCell(H, gate_fn=nn.tanh), {})
    with pytest.raises(ValueError, match="activation_fn"):
        interop.from_flax(nn.LSTMCell(H, activation_fn=nn.relu), {})
    with pytest.raises(ValueError, match="MGUCell"):
        interop.from_flax(nn.MGUCell(H), {})
    gru = cells.GRU(H, reset_after=False)
    with pytest.raises(ValueError, match="reset_after"):
        interop.to_flax(gru, gru.init(jax.random.key(0), D))
    lstm = cells.LSTM(H)
    with pytest.raises(ValueError, match="kind"):
        interop.to_flax(lstm, lstm.init(jax.random.key(0), D), kind="GRUCell")
    for other in (cells.LayerNormGRU(H), cells.MinLSTM(H)):
        with pytest.raises(ValueError, match=f"unsupported cell type {type(other).__name__}"):
            interop.to_flax(other, other.init(jax.random.key(0), D))
    learned = cells.GRU(H, learn_initial_state=True)
    with pytest.raises(ValueError, match="no learned initial state"):
        interop.to_flax(learned, learned.init(jax.random.key(0), D))
    flax_lstm = nn.LSTMCell(H)
    variables = flax_lstm.init(
        jax.random.key(0), flax_lstm.initialize_carry(jax.random.key(1), (B, D)), jnp.ones((B, D))
    )
    without_hf = {k: v for k, v in variables["params"].items() if k != "hf"}
    with one_line_error(ValueError, r"from_flax: params do not fit a LSTMCell: missing or malformed 'hf' \(top-level"):
        interop.from_flax(flax_lstm, without_hf)
    with one_line_error(ValueError, r"from_flax: params do not fit a GRUCell"):  # another cell's params
        interop.from_flax(nn.GRUCell(H), variables)
    with one_line_error(ValueError, r"from_flax: params must be a dict \(the LSTMCell's params\), got list$"):
        interop.from_flax(flax_lstm, [variables])


def test_import_does_not_need_torch():
    import subprocess
    import sys

    code = "import sys; sys.modules['torch'] = None; import rnn_research.interop; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"
