"""TF-free data sources: bundled real datasets, CSV/NPZ files, and train/validation/test splits.

* :mod:`builder.data.sources.bundled` -- named offline datasets (``fashion_mnist``, ``mnist_5k``, sklearn tables).
* :mod:`builder.data.sources.files` -- ``load_arrays(spec.data, spec_dir) -> Arrays``.
* :mod:`builder.data.splits`  -- ``split_arrays(arrays, ...) -> Splits``.

Only numpy, scikit-learn and the standard library are imported here; never TensorFlow or Keras.
Licences and citations of every dataset: ``DATA_LICENSES.md`` at the repository root.
"""
