"""What dlbuild knows by name, without TensorFlow: the Keras catalog (every layer, optimizer, loss,
metric, callback, … with its arguments: :mod:`~builder.catalog.registry`, generated from Keras itself
by :mod:`~builder.catalog.scan`, the one module here that imports Keras, run only to regenerate it),
the bundled datasets' facts (:mod:`~builder.catalog.datasets`), the export formats and quantizations
(:mod:`~builder.catalog.formats`), and the version-guarded Keras patches (:mod:`~builder.catalog.compat`,
applied by the training stages). The lowest stage of the flow above ``builder.errors``: the spec
layer validates names against it.
"""
