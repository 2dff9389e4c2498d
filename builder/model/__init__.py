"""Spec → ``keras.Model``: the functional graph built layer by layer at each item's YAML location
(:mod:`~builder.model.graph`), dlbuild's composite layers and optimizers, the static check of shapes,
parameters and FLOPs (``dlbuild check``), and the importer (a Keras model → a spec).
"""
