"""spec.data → arrays → splits → tf.data, along the flow (only ``pipeline`` imports TensorFlow).

* :mod:`builder.data.sources` -- one reader per source kind (bundled datasets, CSV, NPZ, ``.ts``,
  text files) returning raw :class:`~builder.data.sources.arrays.Arrays`; ``read.read_source`` picks one.
* :mod:`builder.data.text` -- tokenization and vocabularies.
* :mod:`builder.data.sequences` -- padding, windows, pairs, language-model and masked-LM samples,
  token ids: the preparers fitted on the training split.
* :mod:`builder.data.splits` -- ``split_arrays(arrays, ...) -> Splits``, ``kfold``.
* :mod:`builder.data.load` -- the spec-level entry point: ``load_arrays``, ``load_splits``,
  ``align_targets``, ``vocabulary_for``.
* :mod:`builder.data.pipeline` -- ``Splits`` → ``tf.data`` pipelines, ``adapt`` of preprocessing layers.

Licences and citations of every dataset: ``DATA_LICENSES.md`` at the repository root.
"""
