"""The search strategies ``dlbuild tune`` knows, by name: the one enumeration of them.

Inputs: none. Outputs: :data:`STRATEGIES`, a tuple of names in the order the spec's reference and
``dlbuild tune --help`` list them. The spec (``tune.strategy``), the CLI's ``--strategy`` choice and
:mod:`builder.tune.tuners` (which registers one Keras Tuner oracle per name, and checks that it
covers every name here) all read it. No TensorFlow, no Keras Tuner: ``dlbuild validate`` reads
this module.
"""

from __future__ import annotations

#: Keras Tuner's random search, grid search, dlbuild's coarse-to-fine random search
#: (:mod:`builder.tune.oracles`), Hyperband and Bayesian optimisation (a Gaussian process).
STRATEGIES = ("random", "grid", "coarse_to_fine", "hyperband", "bayesian")
