"""Step-by-step decoding over a step function: an autoregressive loop, greedy, sampling, beam search.

``loops`` holds :func:`generate` (feeds back whatever ``choose`` makes of each output: tokens, or
a forecaster's continuous predictions), :func:`greedy`, :func:`sample`, :func:`filter_logits` and
:func:`step_stack` (one step of a stack of cells); ``beam`` holds :func:`beam_search`.

Every decoder drives one *step function*, typically a stack of cells plus an output head::

    step_fn(state, inputs, context) -> (state, outputs)

``state`` is any pytree whose leaves are ``[B, ...]`` (a list of ``LSTMState(h, c)``, say),
``inputs`` is ``[B, ...]`` (token ids ``[B]`` for the token decoders), and ``context`` is a
pytree of ``[B, ...]`` arrays the step reads but never changes (attention memory, an encoder
state) or ``None``. The token decoders expect ``outputs`` to be logits ``[B, V]``.

All loops are one ``jax.lax.scan`` over a fixed number of steps, so shapes are static and every
decoder can be called under ``jax.jit`` (close over ``step_fn`` and the integer arguments).
``generate`` is reverse-differentiable (a forecaster trains through it).

End of sequence: once a row emits ``eos_id`` it is finished; it then emits ``pad_id``, its
score stops changing and its length (which counts the eos) stops growing.

Beam search ranks finished hypotheses by ``log p / length_penalty(length, alpha)`` with the GNMT
penalty ``((5 + length) / 6) ** alpha`` (Wu et al., 2016); ``alpha=0`` ranks by the raw
log-probability. Each step keeps the ``K`` best of the ``K * V`` extensions; those ending in eos
(or reaching ``num_steps``) move to a separate finished set of ``K`` and the rest stay alive, so a
beam of 1 is greedy decoding and a beam as wide as the number of possible sequences is
exhaustive search.

Example::

    def step_fn(h, tokens, context):              # h [B, H], tokens [B]
        h = jnp.tanh(embedding[tokens] + h @ recurrent_kernel)
        return h, h @ output_kernel                # logits [B, V]

    out = decoding.greedy(step_fn, h0, bos_ids, 20, eos_id=2)
    out.tokens.shape  # (B, 20); out.scores [B]; out.lengths [B]
    beams = decoding.beam_search(step_fn, h0, bos_ids, 20, beam_size=4, eos_id=2, alpha=0.6)
    beams.sequences.shape  # (B, 4, 20), best first
"""

from rnn_research.decoding.beam import Beams, beam_search, length_penalty
from rnn_research.decoding.loops import (
    Decoded,
    Generated,
    StepFn,
    check_sampling,
    filter_logits,
    generate,
    greedy,
    sample,
    step_stack,
)

__all__ = [
    "Beams",
    "Decoded",
    "Generated",
    "StepFn",
    "beam_search",
    "check_sampling",
    "filter_logits",
    "generate",
    "greedy",
    "length_penalty",
    "sample",
    "step_stack",
]
