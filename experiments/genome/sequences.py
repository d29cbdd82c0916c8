"""DNA sequences as integer codes: IUPAC symbols, one-hot profiles, reverse complements and k-mers.

Pure NumPy (no JAX), so data loaders import it without an accelerator runtime.

Policies:

* A sequence is an ``int8`` array of code ids, the index of each symbol in :data:`SYMBOLS`
  (``ACGTRYSWKMBDHVN``, the IUPAC nucleotide codes). A, C, G, T are 0, 1, 2, 3, so an ACGT code is
  also its base's index in one-hot channels and k-mer digits.
* :func:`encode` is case-insensitive and reads ``U`` (RNA) as ``T``. Whitespace at the ends is
  stripped; any other character (an inner space, a gap ``-``, ``X``, ``*``) is a ``ValueError`` in one
  line naming ``where`` (``file:line``), the 1-based position and the symbol. An empty sequence is an
  error naming ``where``.
* An ambiguity code is the uniform mean of the bases it stands for (:data:`PROBS`: R = A/G is
  ``[.5, 0, .5, 0]``, N is ``[.25] * 4``); :func:`one_hot` reads rows of that table, and the padding
  id :data:`PAD` (15, one past the last code) reads as a row of zeros.
* The complement of a code is the code of the complementary bases (:data:`COMPLEMENT`: A<->T, C<->G,
  R<->Y, K<->M, B<->V, D<->H; S, W, N are their own complements), so
  ``one_hot(reverse_complement(codes))`` is ``one_hot(codes)`` reversed along positions and channels.
  Batched versions reverse only each row's valid prefix (``lengths``); padding stays at the end.
* :func:`kmers` numbers a k-mer in base 4 over A=0, C=1, G=2, T=3, first base most significant; a
  k-mer holding any other code gets the "ambiguous" id ``4**k``, and ``4**k + 1`` is left for
  padding (:func:`kmer_vocab_size` is ``4**k + 2``).

Errors on bad arguments (codes out of range, a length past the row, ``k`` larger than the
sequence) are one line.
"""

from __future__ import annotations

import numpy as np

SYMBOLS = "ACGTRYSWKMBDHVN"
PAD = len(SYMBOLS)  # 15: a padding id after the codes; one_hot reads it as zeros
BASES = "ACGT"
MAX_K = 15  # 4**15 + 1 still fits int32 k-mer ids

# The bases each code stands for (IUPAC).
_MEANING = {
    "A": "A",
    "C": "C",
    "G": "G",
    "T": "T",
    "R": "AG",
    "Y": "CT",
    "S": "CG",
    "W": "AT",
    "K": "GT",
    "M": "AC",
    "B": "CGT",
    "D": "AGT",
    "H": "ACT",
    "V": "ACG",
    "N": "ACGT",
}


def _probs() -> np.ndarray:
    table = np.zeros((len(SYMBOLS), len(BASES)), np.float32)
    for i, symbol in enumerate(SYMBOLS):
        for base in _MEANING[symbol]:
            table[i, BASES.index(base)] = 1.0 / len(_MEANING[symbol])
    return table


PROBS = _probs()  # [15, 4] float32 over (A, C, G, T); each row sums to 1
PROBS.flags.writeable = False

_PAIRS = {"A": "T", "C": "G", "R": "Y", "K": "M", "S": "S", "W": "W", "B": "V", "D": "H", "N": "N"}
_PAIRS.update({v: k for k, v in _PAIRS.items()})
COMPLEMENT = np.array([SYMBOLS.index(_PAIRS[s]) for s in SYMBOLS], np.int8)  # [15] code -> complement code
COMPLEMENT.flags.writeable = False

_SHOWN = " ".join(SYMBOLS)
_LOOKUP = np.full(128, -1, np.int8)  # ASCII -> code id, -1 for anything else
for _i, _s in enumerate(SYMBOLS):
    _LOOKUP[ord(_s)] = _LOOKUP[ord(_s.lower())] = _i
_LOOKUP[ord("U")] = _LOOKUP[ord("u")] = SYMBOLS.index("T")
_LOOKUP.flags.writeable = False


def encode(text: str, where: str = "sequence") -> np.ndarray:
    """The code ids ``[L]`` (int8) of ``text`` (see the module docstring for the policy).

    ``where`` names the sequence in errors, e.g. ``splice.csv:12`` gives
    ``splice.csv:12: position 31: 'X' is not an IUPAC nucleotide code (A C G T R Y S W K M B D H V N)``.
    """
    text = text.strip()
    if not text:
        raise ValueError(f"{where}: empty sequence")
    points = np.frombuffer(text.encode("utf-32-le"), np.uint32)
    codes = np.where(points < 128, _LOOKUP[np.minimum(points, 127)], -1).astype(np.int8)
    bad = np.flatnonzero(codes < 0)
    if len(bad):
        i = int(bad[0])
        raise ValueError(f"{where}: position {i + 1}: {text[i]!r} is not an IUPAC nucleotide code ({_SHOWN})")
    return codes


def _check_codes(codes: np.ndarray, name: str = "codes", allow_pad: bool = False) -> np.ndarray:
    codes = np.asarray(codes)
    if not np.issubdtype(codes.dtype, np.integer):
        raise ValueError(f"{name}: expected integer code ids, got dtype {codes.dtype}")
    top = PAD if allow_pad else PAD - 1
    wrong = (codes < 0) | (codes > top)
    if wrong.any():
        value = int(codes[wrong][0])
        allowed = f"0..{PAD - 1} or PAD={PAD}" if allow_pad else f"0..{PAD - 1}"
        raise ValueError(f"{name}: code id {value} is outside {allowed}")
    return codes


def decode(codes: np.ndarray) -> str:
    """The symbols of code ids ``codes: [L]`` (upper case)."""
    codes = _check_codes(codes)
    if codes.ndim != 1:
        raise ValueError(f"decode: expected codes of shape [L], got shape {codes.shape}")
    return "".join(SYMBOLS[int(c)] for c in codes)


def one_hot(codes: np.ndarray) -> np.ndarray:
    """Base profiles ``[..., L, 4]`` (float32, over A, C, G, T) of code ids ``codes: [..., L]``.

    A code's row is :data:`PROBS` (ambiguity codes spread evenly over their bases); :data:`PAD` gives
    zeros. Any other id is an error.
    """
    codes = _check_codes(codes, allow_pad=True)
    table = np.concatenate([PROBS, np.zeros((1, len(BASES)), np.float32)])
    return table[codes]


def reverse_complement(codes: np.ndarray) -> np.ndarray:
    """The reverse complement ``[L]`` of code ids ``codes: [L]`` (same dtype)."""
    codes = _check_codes(codes)
    if codes.ndim != 1:
        raise ValueError(f"reverse_complement: expected codes of shape [L], got shape {codes.shape}")
    return COMPLEMENT[codes[::-1]].astype(codes.dtype)


def _valid_prefix(lengths: np.ndarray, batch: int, width: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(source [B, L], valid [B, L])``: where position t of each reversed row reads from, and whether
    t is inside the row's valid prefix."""
    lengths = np.asarray(lengths)
    if lengths.shape != (batch,) or not np.issubdtype(lengths.dtype, np.integer):
        raise ValueError(f"{name}: expected integer lengths of shape [{batch}], got {lengths.dtype} {lengths.shape}")
    wrong = (lengths < 0) | (lengths > width)
    if wrong.any():
        row = int(np.flatnonzero(wrong)[0])
        raise ValueError(f"{name}: row {row} has length {int(lengths[row])}, outside 0..{width}")
    source = lengths[:, None] - 1 - np.arange(width)[None, :]
    valid = source >= 0
    return np.where(valid, source, 0), valid


def reverse_complement_batch(codes: np.ndarray, lengths: np.ndarray, pad: int = PAD) -> np.ndarray:
    """Row-wise reverse complements ``[B, L]`` of ``codes: [B, L]`` with valid prefixes ``lengths: [B]``.

    Each row's first ``lengths[b]`` codes are reverse-complemented in place; the positions after
    them are set to ``pad`` (whatever they held), so padding stays at the end.
    """
    codes = np.asarray(codes)
    if codes.ndim != 2:
        raise ValueError(f"reverse_complement_batch: expected codes of shape [B, L], got shape {codes.shape}")
    source, valid = _valid_prefix(lengths, codes.shape[0], codes.shape[1], "reverse_complement_batch")
    gathered = np.take_along_axis(codes, source, axis=1)
    _check_codes(gathered[valid], "reverse_complement_batch")
    flipped = COMPLEMENT[np.where(valid, gathered, 0)]
    return np.where(valid, flipped, pad).astype(codes.dtype)


def reverse_complement_one_hot(x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Row-wise reverse complements ``[B, L, 4]`` of base profiles ``x: [B, L, 4]`` (A, C, G, T).

    Within each row's valid prefix (``lengths: [B]``) positions are reversed and channels reversed
    (A, C, G, T -> T, G, C, A); positions after it are left as they are. For valid codes this is
    ``one_hot(reverse_complement_batch(codes, lengths))``, ambiguity codes included.
    """
    x = np.asarray(x)
    if x.ndim != 3 or x.shape[-1] != len(BASES):
        raise ValueError(f"reverse_complement_one_hot: expected x of shape [B, L, 4], got shape {x.shape}")
    source, valid = _valid_prefix(lengths, x.shape[0], x.shape[1], "reverse_complement_one_hot")
    gathered = np.take_along_axis(x, source[:, :, None], axis=1)[..., ::-1]
    return np.where(valid[:, :, None], gathered, x)


def kmer_vocab_size(k: int) -> int:
    """Number of k-mer ids: the ``4**k`` k-mers over ACGT, the ambiguous id ``4**k`` and padding ``4**k + 1``."""
    _check_k(k)
    return 4**k + 2


def _check_k(k: int) -> None:
    if not isinstance(k, (int, np.integer)) or not 1 <= k <= MAX_K:
        raise ValueError(f"k={k!r} must be an integer in 1..{MAX_K}")


def kmers(codes: np.ndarray, k: int, stride: int = 1) -> np.ndarray:
    """The k-mer ids ``[n]`` (int32) of ``codes: [L]``, ``n = (L - k) // stride + 1``.

    Window ``i`` covers ``codes[i * stride : i * stride + k]``; its id is the base-4 number of its
    bases (A=0, C=1, G=2, T=3, first base most significant), or ``4**k`` when it holds any other
    code. ``L < k`` is an error.
    """
    _check_k(k)
    if not isinstance(stride, (int, np.integer)) or stride < 1:
        raise ValueError(f"stride={stride!r} must be a positive integer")
    codes = _check_codes(codes)
    if codes.ndim != 1:
        raise ValueError(f"kmers: expected codes of shape [L], got shape {codes.shape}")
    if len(codes) < k:
        raise ValueError(f"kmers: a sequence of length {len(codes)} is shorter than k={k}")
    windows = np.lib.stride_tricks.sliding_window_view(codes.astype(np.int64), k)[::stride]
    ids = windows @ (4 ** np.arange(k - 1, -1, -1, dtype=np.int64))
    ambiguous = (windows >= len(BASES)).any(axis=1)
    return np.where(ambiguous, 4**k, ids).astype(np.int32)
