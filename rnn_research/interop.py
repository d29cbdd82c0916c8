"""Weight conversion to and from ``torch.nn.RNN/LSTM/GRU`` and ``flax.linen`` cells.

Our layout (see :mod:`rnn_research.cells`) keeps PyTorch's gate order, so a torch weight
``weight_ih [G*H, D]`` becomes ``input_kernel [D, G*H]`` by a transpose. Fused biases::

    SimpleRNN, LSTM:  bias = b_ih + b_hh
    GRU:              bias = b_ih + [b_hh_r, b_hh_z, 0],  recurrent_bias = b_hh_n

Example::

    cell, params = interop.from_torch(torch.nn.LSTM(8, 32, num_layers=2, bidirectional=True))
    finals, ys = recurrent.stacked(cell, params, xs, lengths=lengths, bidirectional=True)
    h_n, c_n = interop.states_to_torch(cell, finals)     # [L*2, B, H] each, as torch returns

    cell, params = interop.from_flax(flax.linen.GRUCell(32), variables)
    flax_cell, variables = interop.to_flax(cell, params)

Torch is imported only inside the functions that need it. Dropout between torch layers is a
training setting, not a weight: pass it to :func:`recurrent.stacked` yourself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from rnn_research import cells

Array = jax.Array
_LSTM_GATES = ("i", "f", "g", "o")
_GRU_GATES = ("r", "z", "n")
_FLAX_KINDS = {"SimpleRNN": ("SimpleCell",), "LSTM": ("LSTMCell", "OptimizedLSTMCell"), "GRU": ("GRUCell",)}


# ---------------------------------------------------------------------------- torch <-> numpy
def _jnp_dtype(torch_dtype: Any) -> Any:
    """``torch.float32`` -> ``float32`` (``float64`` becomes ``float32`` unless x64 is enabled)."""
    return jax.dtypes.canonicalize_dtype(jnp.dtype(str(torch_dtype).removeprefix("torch.")))


def _to_jnp(x: Any, dtype: Any = None) -> Array:
    """A torch tensor, numpy or jax array as a jax array (bfloat16 tensors go through float32)."""
    if hasattr(x, "detach"):
        import torch

        x = x.detach().cpu()
        dtype = dtype or _jnp_dtype(x.dtype)
        x = (x.float() if x.dtype == torch.bfloat16 else x).numpy()
    return jnp.asarray(x, dtype)


def _to_tensor(x: Array) -> Any:
    import torch

    dt = getattr(torch, jnp.dtype(x.dtype).name)
    array = np.array(x, dtype=np.float32 if dt == torch.bfloat16 else x.dtype)
    return torch.from_numpy(array).to(dt)


# ---------------------------------------------------------------------------------- torch
def _torch_cell(module: Any) -> cells.Cell:
    import torch

    if not isinstance(module, (torch.nn.LSTM, torch.nn.GRU, torch.nn.RNN)):
        raise ValueError(f"from_torch: unsupported module type {type(module).__name__} (use nn.RNN, nn.LSTM or nn.GRU)")
    hidden, dtype = module.hidden_size, _jnp_dtype(module.weight_ih_l0.dtype)
    if isinstance(module, torch.nn.LSTM):
        if module.proj_size > 0:
            raise ValueError(f"from_torch: LSTM with proj_size={module.proj_size} has no equivalent cell")
        return cells.LSTM(hidden, param_dtype=dtype)
    if isinstance(module, torch.nn.GRU):
        return cells.GRU(hidden, reset_after=True, param_dtype=dtype)
    return cells.SimpleRNN(hidden, activation=module.nonlinearity, param_dtype=dtype)


def from_torch(module: Any) -> tuple[cells.Cell, list[Any]]:
    """``torch.nn.RNN/LSTM/GRU`` -> ``(cell, per_layer_params)`` for :func:`recurrent.stacked`.

    Any ``num_layers``, ``bidirectional`` (params ``{"forward", "backward"}`` per layer; run with
    ``bidirectional=True``), ``batch_first`` (weights do not depend on it) and ``bias=False``
    (zero biases). Parameters keep the module's dtype. Per layer, with ``D_l`` its input size:
    ``input_kernel [D_l, G*H]``, ``recurrent_kernel [H, G*H]``, ``bias [G*H]`` (GRU also
    ``recurrent_bias [H]``).
    """
    cell = _torch_cell(module)
    hid, dt = cell.hidden_size, cell.param_dtype

    def direction(layer: int, suffix: str) -> dict[str, Array]:
        get = lambda name: _to_jnp(getattr(module, f"{name}_l{layer}{suffix}"), dt)  # noqa: E731
        w_ih, w_hh = get("weight_ih"), get("weight_hh")
        zeros = jnp.zeros((cell.num_gates * hid,), dt)
        b_ih, b_hh = (get("bias_ih"), get("bias_hh")) if module.bias else (zeros, zeros)
        params = {"input_kernel": w_ih.T, "recurrent_kernel": w_hh.T}
        if isinstance(cell, cells.GRU):
            params["bias"] = b_ih + b_hh.at[2 * hid :].set(0)
            params["recurrent_bias"] = b_hh[2 * hid :]
        else:
            params["bias"] = b_ih + b_hh
        return params

    layers = []
    for layer in range(module.num_layers):
        if module.bidirectional:
            layers.append({"forward": direction(layer, ""), "backward": direction(layer, "_reverse")})
        else:
            layers.append(direction(layer, ""))
    return cell, layers


def to_torch(cell: cells.Cell, params: list[Any], *, batch_first: bool = True) -> Any:
    """``(cell, per_layer_params)`` -> an equivalent ``torch.nn.RNN/LSTM/GRU`` (in the params' dtype).

    ``num_layers`` and ``bidirectional`` come from ``params`` (as :func:`recurrent.init_stacked`
    makes them). Torch keeps two biases: ``b_ih`` gets our ``bias`` and ``b_hh`` zeros, except
    GRU's ``b_hh_n`` slice, which gets ``recurrent_bias``.
    """
    import torch

    if type(cell) not in (cells.SimpleRNN, cells.LSTM, cells.GRU):  # subclasses (LayerNormLSTM) differ
        raise ValueError(f"to_torch: unsupported cell type {type(cell).__name__}")
    if cell.learn_initial_state:
        raise ValueError("to_torch: torch.nn modules have no learned initial state (learn_initial_state=True)")
    if isinstance(cell, cells.GRU) and not cell.reset_after:
        raise ValueError("to_torch: GRU(reset_after=False) has no torch equivalent (torch.nn.GRU resets after)")
    if not isinstance(params, (list, tuple)) or not all(isinstance(p, Mapping) for p in params):
        raise ValueError(
            "to_torch: params must be a list of per-layer param dicts (as recurrent.init_stacked makes them), "
            f"got {type(params).__name__}"
            + (f" of {sorted({type(p).__name__ for p in params})}" if isinstance(params, (list, tuple)) else "")
        )
    if not params:
        raise ValueError("to_torch: params must hold at least one layer")
    bidirectional = "forward" in params[0]
    if any(("forward" in p) != bidirectional for p in params):
        raise ValueError("to_torch: mixed layers; either every layer or none is {'forward', 'backward'}")
    directions = [[p["forward"], p["backward"]] if bidirectional else [p] for p in params]
    hid, dirs = cell.hidden_size, 2 if bidirectional else 1
    sizes = [cell.check_params(p) for layer in directions for p in layer]
    if sizes != [sizes[0]] * dirs + [hid * dirs] * (len(sizes) - dirs):
        raise ValueError(f"to_torch: layers after the first must read {hid * dirs} features (concat), got {sizes}")
    dtype = directions[0][0]["input_kernel"].dtype
    kwargs = dict(num_layers=len(params), bidirectional=bidirectional, batch_first=batch_first, bias=True)
    kwargs["dtype"] = getattr(torch, jnp.dtype(dtype).name)
    if isinstance(cell, cells.LSTM):
        module = torch.nn.LSTM(sizes[0], hid, **kwargs)
    elif isinstance(cell, cells.GRU):
        module = torch.nn.GRU(sizes[0], hid, **kwargs)
    else:
        module = torch.nn.RNN(sizes[0], hid, nonlinearity=cell.activation, **kwargs)

    with torch.no_grad():
        for layer, layer_params in enumerate(directions):
            for suffix, p in zip(("", "_reverse"), layer_params, strict=False):
                b_hh = jnp.zeros_like(p["bias"])
                if isinstance(cell, cells.GRU):
                    b_hh = b_hh.at[2 * hid :].set(p["recurrent_bias"].astype(b_hh.dtype))
                values = {"weight_ih": p["input_kernel"].T, "weight_hh": p["recurrent_kernel"].T}
                values.update(bias_ih=p["bias"], bias_hh=b_hh)
                for name, value in values.items():
                    getattr(module, f"{name}_l{layer}{suffix}").copy_(_to_tensor(value.astype(dtype)))
    return module


def states_from_torch(cell: cells.Cell, h_n: Any, c_n: Any = None, *, bidirectional: bool = False) -> list[Any]:
    """Torch's ``h_n`` (and LSTM ``c_n``), each ``[L*dirs, B, H]``, -> per-layer states.

    Returns a list with one ``cell.state_type`` per layer, or ``(fw, bw)`` pairs when
    ``bidirectional``: the ``initial_states`` that :func:`recurrent.stacked` takes and the
    final states it returns. Torch orders the first axis layer-major, direction-minor.
    """
    is_lstm = isinstance(cell, cells.LSTM)
    if is_lstm == (c_n is None):
        raise ValueError(f"states_from_torch: c_n is {'required' if is_lstm else 'only for LSTM'} ({cell.name})")
    tensors = [_to_jnp(h_n)] + ([_to_jnp(c_n)] if is_lstm else [])
    dirs = 2 if bidirectional else 1
    for name, t in zip(("h_n", "c_n"), tensors, strict=False):
        if t.ndim != 3 or t.shape[0] % dirs or t.shape[2] != cell.hidden_size:
            raise ValueError(f"{name} must be [L*{dirs}, B, {cell.hidden_size}], got shape {tuple(t.shape)}")
    states = [cell.state_type(*(t[i] for t in tensors)) for i in range(tensors[0].shape[0])]
    if bidirectional:
        return [(states[i], states[i + 1]) for i in range(0, len(states), 2)]
    return states


def states_to_torch(cell: cells.Cell, states: list[Any]) -> Any:
    """Per-layer states (as :func:`recurrent.stacked` returns) -> torch's ``h_n`` or ``(h_n, c_n)``.

    Each is a ``torch.Tensor`` ``[L*dirs, B, H]``; ``dirs`` is 2 when the entries are pairs.
    """

    def pair(entry: Any) -> bool:
        return (
            isinstance(entry, (list, tuple)) and len(entry) == 2 and all(isinstance(s, cell.state_type) for s in entry)
        )

    if isinstance(states, cell.state_type):
        what = f"got one {cell.state_type.__name__}: wrap it in a list"
    elif not isinstance(states, (list, tuple)) or not states:
        what = f"got {'an empty ' if isinstance(states, (list, tuple)) else 'a '}{type(states).__name__}"
    else:
        wrong = next((i for i, e in enumerate(states) if not isinstance(e, cell.state_type) and not pair(e)), None)
        what = f"entry {wrong} is a {type(states[wrong]).__name__}" if wrong is not None else ""
    if what:
        raise ValueError(
            f"states_to_torch: states must be a non-empty list with one {cell.state_type.__name__} per layer "
            f"(a pair per bidirectional layer), as recurrent.stacked returns; {what}"
        )
    flat = [s for entry in states for s in ([entry] if isinstance(entry, cell.state_type) else entry)]
    stacked = [_to_tensor(jnp.stack(field)) for field in zip(*flat, strict=True)]
    return tuple(stacked) if isinstance(cell, cells.LSTM) else stacked[0]


# ----------------------------------------------------------------------------------- flax
def _check_fn(cell: nn.Module, attr: str, allowed: dict[str, Any]) -> str:
    fn = getattr(cell, attr)
    for name, ok in allowed.items():
        if fn is ok:
            return name
    raise ValueError(f"from_flax: {type(cell).__name__}.{attr}={fn!r} is unsupported (only {'/'.join(allowed)})")


def from_flax(flax_cell: nn.Module, params: Any) -> tuple[cells.Cell, cells.Params]:
    """A ``flax.linen`` cell and its params -> ``(cell, params)`` for one of our cells.

    Supports ``LSTMCell``/``OptimizedLSTMCell`` (kernels ``ii..io [D, H]``, ``hi..ho [H, H]``,
    biases on the ``h*`` side), ``GRUCell`` (``ir, iz, in`` with bias; ``hr, hz``; ``hn`` with
    bias -> ``recurrent_bias``) and ``SimpleCell`` (``i`` with bias, ``h``). ``params`` is the
    inner dict or a ``{"params": ...}`` variables dict. Convert carries with
    :func:`state_from_flax`.
    """
    name = type(flax_cell).__name__
    if not isinstance(params, Mapping):
        raise ValueError(f"from_flax: params must be a dict (the {name}'s params), got {type(params).__name__}")
    p = params["params"] if "params" in params else params
    try:
        return _from_flax(flax_cell, p, name)
    except (KeyError, TypeError) as e:
        raise ValueError(
            f"from_flax: params do not fit a {name}: missing or malformed {e} (top-level keys: {sorted(p)})"
        ) from None


def _from_flax(flax_cell: nn.Module, p: Any, name: str) -> tuple[cells.Cell, cells.Params]:
    kwargs = dict(param_dtype=flax_cell.param_dtype, dtype=flax_cell.dtype)
    if isinstance(flax_cell, nn.SimpleCell):
        if flax_cell.residual:
            raise ValueError("from_flax: SimpleCell(residual=True) has no equivalent cell")
        act = _check_fn(flax_cell, "activation_fn", {"tanh": nn.tanh, "relu": nn.relu})
        cell = cells.SimpleRNN(flax_cell.features, activation=act, **kwargs)
        out = {"input_kernel": p["i"]["kernel"], "recurrent_kernel": p["h"]["kernel"], "bias": p["i"]["bias"]}
    elif isinstance(flax_cell, (nn.LSTMCell, nn.OptimizedLSTMCell, nn.GRUCell)):
        _check_fn(flax_cell, "gate_fn", {"sigmoid": nn.sigmoid})
        _check_fn(flax_cell, "activation_fn", {"tanh": nn.tanh})
        is_lstm = not isinstance(flax_cell, nn.GRUCell)
        gates = _LSTM_GATES if is_lstm else _GRU_GATES
        cat = lambda side, key, gs: jnp.concatenate([p[side + g][key] for g in gs], axis=-1)  # noqa: E731
        out = {"input_kernel": cat("i", "kernel", gates), "recurrent_kernel": cat("h", "kernel", gates)}
        if is_lstm:
            cell = cells.LSTM(flax_cell.features, **kwargs)
            out["bias"] = cat("h", "bias", gates)
        else:
            cell = cells.GRU(flax_cell.features, reset_after=True, **kwargs)
            out.update(bias=cat("i", "bias", gates), recurrent_bias=p["hn"]["bias"])
    else:
        raise ValueError(
            f"from_flax: unsupported cell type {name} (use LSTMCell, OptimizedLSTMCell, GRUCell, SimpleCell)"
        )
    out = {k: jnp.asarray(v) for k, v in out.items()}
    cell.check_params(out)
    return cell, out


def to_flax(cell: cells.Cell, params: cells.Params, *, kind: str | None = None) -> tuple[nn.Module, dict[str, Any]]:
    """``(cell, params)`` -> ``(flax_cell, {"params": ...})``, ready for ``flax_cell.apply``.

    ``kind`` picks the flax class: for LSTM ``"LSTMCell"`` (default) or ``"OptimizedLSTMCell"``;
    GRU -> ``"GRUCell"``; SimpleRNN -> ``"SimpleCell"``. ``GRU(reset_after=False)`` has no flax
    equivalent. Kernels become ``[D, H]``/``[H, H]`` per gate.
    """
    if isinstance(cell, cells.GRU) and not cell.reset_after:
        raise ValueError("to_flax: GRU(reset_after=False) has no flax equivalent (flax GRUCell resets after)")
    kinds = _FLAX_KINDS.get(type(cell).__name__)
    if kinds is None:
        raise ValueError(f"to_flax: unsupported cell type {type(cell).__name__}")
    if cell.learn_initial_state:
        raise ValueError("to_flax: flax.linen cells have no learned initial state (learn_initial_state=True)")
    kind = kind or kinds[0]
    if kind not in kinds:
        raise ValueError(f"to_flax: kind={kind!r} does not fit {cell.name}; choose one of {list(kinds)}")
    cell.check_params(params)
    kwargs = dict(features=cell.hidden_size, param_dtype=cell.param_dtype, dtype=cell.dtype)
    split = lambda key: jnp.split(params[key], cell.num_gates, axis=-1)  # noqa: E731
    w_i, w_h, b = split("input_kernel"), split("recurrent_kernel"), split("bias")
    if isinstance(cell, cells.SimpleRNN):
        act = nn.tanh if cell.activation == "tanh" else nn.relu
        module = nn.SimpleCell(activation_fn=act, **kwargs)
        out = {"i": {"kernel": w_i[0], "bias": b[0]}, "h": {"kernel": w_h[0]}}
    elif isinstance(cell, cells.LSTM):
        module = getattr(nn, kind)(**kwargs)
        out = {f"i{g}": {"kernel": k} for g, k in zip(_LSTM_GATES, w_i, strict=True)}
        out.update({f"h{g}": {"kernel": k, "bias": bg} for g, k, bg in zip(_LSTM_GATES, w_h, b, strict=True)})
    else:
        module = nn.GRUCell(**kwargs)
        out = {f"i{g}": {"kernel": k, "bias": bg} for g, k, bg in zip(_GRU_GATES, w_i, b, strict=True)}
        out.update({f"h{g}": {"kernel": k} for g, k in zip(_GRU_GATES, w_h, strict=True)})
        out["hn"]["bias"] = params["recurrent_bias"]
    return module, {"params": out}


def state_to_flax(state: cells.State) -> Any:
    """Our state -> a flax carry: ``LSTMState(h, c)`` -> ``(c, h)``; ``GRUState``/``SimpleRNNState`` -> ``h``."""
    if isinstance(state, cells.LSTMState):
        return (state.c, state.h)
    return state.h


def state_from_flax(cell: cells.Cell, carry: Any) -> cells.State:
    """A flax carry (``(c, h)`` for LSTM cells, ``h [B, H]`` otherwise) -> ``cell``'s state."""
    if isinstance(cell, cells.LSTM):
        c, h = carry
        return cells.LSTMState(h=h, c=c)
    return cell.state_type(carry)
