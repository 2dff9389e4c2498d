"""Coarse-to-fine search as a Keras Tuner ``Oracle`` (imports Keras Tuner).

Round 1 samples the whole space at random. Each later round samples inside a box around the
``top_k`` best trials so far: in Keras Tuner's unit cube (``value_to_prob`` / ``prob_to_value``,
so log sampling and steps are respected) every numeric hyperparameter's interval is the hull of the
top-k trials' values, widened to at least ``shrink ** round`` of the full range and clipped to
[0, 1] — never outside the original range. Choices are cut to the options seen in the top-k.

This is the classic coarse-to-fine recipe of Bergstra & Bengio's random search (JMLR 2012) refined
around promising regions, as taught in CS231n ("Hyperparameter optimization: coarse → fine").
While a round's trials are still running, the next round waits (``IDLE``) so its box is drawn
from finished results. Each round's box is kept in the oracle state (``oracle.json``), so a
resumed search continues in the round it was in, with the same box.
"""

from __future__ import annotations

import math
import random

import keras_tuner as kt
from keras_tuner.src.engine import hyperparameters as hp_module


class CoarseToFineOracle(kt.Oracle):
    """Keras Tuner oracle for coarse-to-fine random search.

    Args:
        objective: As for any Keras Tuner oracle.
        max_trials: Total trial budget across rounds.
        rounds: Number of rounds (round 1 is the coarse, full-space one).
        top_k: Best completed trials that define each later round's box.
        shrink: Minimum box width at round r (0-based) is ``shrink ** r`` of the unit interval.
        seed: Random seed.
    """

    def __init__(self, objective=None, max_trials=12, rounds=3, top_k=3, shrink=0.5, seed=None, **kwargs):
        super().__init__(objective=objective, max_trials=max_trials, seed=seed, **kwargs)
        self.rounds = max(1, int(rounds))
        self.top_k = max(1, int(top_k))
        self.shrink = float(shrink)
        self.boxes: dict[str, dict] = {}  # round index (str, for JSON) → {hp name: [lo, hi] | [choices]}

    # -- rounds ----------------------------------------------------------------------------------
    @property
    def trials_per_round(self) -> int:
        """``ceil(max_trials / rounds)``."""
        return max(1, math.ceil((self.max_trials or 10) / self.rounds))

    def round_of(self, index: int) -> int:
        """0-based round of the ``index``-th started trial."""
        return min(index // self.trials_per_round, self.rounds - 1)

    def _box(self, rnd: int) -> dict | None:
        """The box of round ``rnd`` (computed once, from completed trials), or None to wait."""
        key = str(rnd)
        if key in self.boxes:
            return self.boxes[key]
        best = self.get_best_trials(self.top_k)
        if not best or self.ongoing_trials:
            return None  # wait for the previous round's trials to finish
        width = self.shrink ** rnd
        box: dict = {}
        for hp in self.hyperparameters.space:
            seen = [t.hyperparameters.values[hp.name] for t in best if hp.name in t.hyperparameters.values]
            if not seen:
                continue
            if isinstance(hp, (hp_module.Int, hp_module.Float)):
                probs = [hp.value_to_prob(v) for v in seen]
                lo, hi = min(probs), max(probs)
                pad = max(0.0, width - (hi - lo)) / 2
                lo, hi = lo - pad, hi + pad
                if lo < 0:
                    lo, hi = 0.0, min(1.0, hi - lo)
                if hi > 1:
                    lo, hi = max(0.0, lo - (hi - 1)), 1.0
                box[hp.name] = [lo, hi]
            elif isinstance(hp, (hp_module.Choice, hp_module.Boolean)):
                box[hp.name] = sorted(set(seen), key=seen.index)
        self.boxes[key] = box
        return box

    # -- Oracle API ------------------------------------------------------------------------------
    def populate_space(self, trial_id):
        """Keras Tuner hook: values for the next trial, or IDLE while a round boundary waits."""
        index = len(self.start_order)
        rnd = self.round_of(index)
        box = {} if rnd == 0 else self._box(rnd)
        if box is None:
            return {"status": kt.engine.trial.TrialStatus.IDLE, "values": None}
        values = self._sample(box)
        if values is None and box:
            # The box's distinct points are used up (a discrete space narrows fast): spend the rest
            # of the budget on the full space rather than stopping early.
            values = self._sample({})
        if values is None:
            return {"status": kt.engine.trial.TrialStatus.STOPPED, "values": None}
        return {"status": kt.engine.trial.TrialStatus.RUNNING, "values": values}

    def _sample(self, box: dict) -> dict | None:
        """Like ``Oracle._random_values`` (conditional hyperparameters respected), inside ``box``."""
        for _ in range(self._max_collisions + 1):
            rng = random.Random(self.seed + self._seed_state)
            self._seed_state += 1
            hps = hp_module.HyperParameters()
            for hp in self.hyperparameters.space:
                hps.merge([hp])
                if not hps.is_active(hp):
                    continue
                bounds = box.get(hp.name)
                if isinstance(bounds, list) and isinstance(hp, (hp_module.Int, hp_module.Float)):
                    value = hp.prob_to_value(rng.uniform(*bounds))
                elif isinstance(bounds, list):
                    value = rng.choice(bounds)
                else:
                    value = hp.random_sample(rng.randint(0, 2**31))
                hps.values[hp.name] = value
            key = self._compute_values_hash(hps.values)
            if key not in self._tried_so_far:
                self._tried_so_far.add(key)
                return hps.values
        return None

    def get_state(self):
        """Oracle state plus the rounds' boxes (saved in ``oracle.json``)."""
        state = super().get_state()
        state.update(rounds=self.rounds, top_k=self.top_k, shrink=self.shrink, boxes=self.boxes)
        return state

    def set_state(self, state):
        """Restore the state written by :meth:`get_state` (resume)."""
        super().set_state(state)
        self.rounds, self.top_k, self.shrink = state["rounds"], state["top_k"], state["shrink"]
        self.boxes = state.get("boxes", {})
