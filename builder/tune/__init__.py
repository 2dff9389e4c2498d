"""``dlbuild tune``: a spec's search spaces searched with Keras Tuner (imports Keras Tuner).

Along the flow: :mod:`~builder.tune.space` (spaces → Keras Tuner hyperparameters, grid size, the
dry-run report; the only module imported without Keras Tuner), :mod:`~builder.tune.oracles`
(coarse-to-fine), :mod:`~builder.tune.tuners` (the strategy table, the tuner, the objective),
:mod:`~builder.tune.hypermodel` (one trial = the shared training step of
:mod:`builder.run.trial`), :mod:`~builder.tune.workers` (chief/worker roles, local workers),
:mod:`~builder.tune.outputs` (trials.csv, best.yaml, plots) and :mod:`~builder.tune.search` (the
search and the tune directory). Nothing is imported here, so ``import builder.tune.space`` stays light.
"""
