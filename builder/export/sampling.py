"""Choosing tokens from a model's distribution: temperature, top-k, banned ids; LM sampling.

Inputs: probabilities ``(V,)`` over a vocabulary of V tokens, or a ``predict`` function
``(1, W) int32 ids -> (1, W, V)`` of a language model. Outputs: token ids. NumPy only, so the
loops are testable with a stub model.

Sampling (:func:`pick`): logits are divided by the temperature ``T`` (Ackley, Hinton & Sejnowski
1985's Boltzmann distribution ``p_i ∝ exp(z_i / T)``; T → 0 is the arg-max, T = 1 the model's own
distribution, T > 1 flatter); top-k keeps the ``k`` most probable tokens and renormalises (Fan,
Lewis & Dauphin 2018; discussed by Holtzman et al. 2019, "The Curious Case of Neural Text
Degeneration"). Temperature 0 is greedy and needs no seed. The padding id 0, ``[UNK]``,
``[START]``, ``[MASK]`` and ids past the vocabulary are never produced (:func:`banned_ids`).
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from builder.data import text as tx

NEVER = (tx.PAD, tx.UNK, tx.START, tx.MASK)  # tokens generation never emits


def banned_ids(vocabulary: Sequence[str], size: int) -> np.ndarray:
    """Boolean ``(size,)``: ids never generated (padding, ``[UNK]``, ``[START]``, ``[MASK]``, and
    output units past the end of the vocabulary)."""
    banned = np.zeros(size, bool)
    banned[len(vocabulary):] = True
    for i, tok in enumerate(vocabulary[:size]):
        if tok in NEVER:
            banned[i] = True
    return banned


def pick(probs: np.ndarray, *, temperature: float = 1.0, top_k: int | None = None,
         rng: np.random.Generator | None = None, banned: np.ndarray | None = None) -> int:
    """Choose the next token id from one distribution over the vocabulary.

    Args:
        probs: ``(V,)`` probabilities (a softmax output) — log-probabilities are used as logits.
        temperature: ``p_i ∝ p_i^(1/T) = exp(log p_i / T)``; 0 = arg-max (greedy, deterministic).
        top_k: keep only the k most probable ids (after removing ``banned``), renormalise.
        rng: NumPy generator for sampling (required unless ``temperature`` is 0).
        banned: ``(V,)`` booleans: ids that are never chosen.

    Raises:
        ValueError: a negative temperature, ``top_k < 1``, or nothing left to choose.
    """
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0; received {temperature}")
    if top_k is not None and top_k < 1:
        raise ValueError(f"top_k must be >= 1; received {top_k}")
    logits = np.log(np.clip(np.asarray(probs, np.float64), 1e-30, None))
    if banned is not None:
        logits = np.where(banned, -np.inf, logits)
    allowed = np.isfinite(logits)
    if not allowed.any():
        raise ValueError("every token is banned; nothing to generate")
    if temperature == 0:
        return int(np.argmax(logits))
    if top_k is not None and top_k < int(allowed.sum()):
        kth = np.partition(logits[allowed], -top_k)[-top_k]
        logits = np.where(logits >= kth, logits, -np.inf)  # ties at the k-th value are kept
    z = logits / temperature
    z = z - z[np.isfinite(z)].max()
    p = np.where(np.isfinite(z), np.exp(z), 0.0)
    p /= p.sum()
    if rng is None:
        raise ValueError("sampling (temperature > 0) needs a random generator")
    return int(rng.choice(len(p), p=p))


def sample_lm(predict: Callable, prompt_ids: Sequence[int], length: int, window: int, *,
              temperature: float = 1.0, top_k: int | None = None, seed: int | None = None,
              banned: np.ndarray | None = None) -> list[int]:
    """Sample ``length`` ids autoregressively from a language model.

    Args:
        predict: ``(1, window)`` int32 ids → ``(1, window, V)`` next-token probabilities.
        prompt_ids: The context to continue (at least one id).
        window: The model's sequence length; the context is the last ``window`` ids, fed
            left-aligned and padded with 0 on the right (a causal model ignores what follows).
    """
    ids = [int(i) for i in prompt_ids]
    if not ids:
        raise ValueError("the prompt must give at least one token")
    rng = np.random.default_rng(seed)
    out = []
    x = np.zeros((1, window), np.int32)
    for _ in range(length):
        ctx = ids[-window:]
        x[:] = 0
        x[0, :len(ctx)] = ctx
        probs = np.asarray(predict(x))[0, len(ctx) - 1]
        nxt = pick(probs, temperature=temperature, top_k=top_k, rng=rng, banned=banned)
        ids.append(nxt)
        out.append(nxt)
    return out
