"""One training run: the run directory (:mod:`~builder.run.rundir`, read back by
:mod:`~builder.run.artifacts`), the distribution strategy, the training step shared with tuning
(:mod:`~builder.run.trial`), the callbacks, ``fit_one`` (:mod:`~builder.run.train`), evaluation with
ensembles and test-time augmentation, K-fold cross-validation and the plots.
"""
