"""Data sources: one module per kind of ``spec.data`` source, each returning raw
:class:`~builder.data.sources.arrays.Arrays` (numpy, csv and the standard library only; never TensorFlow).

``arrays`` (the container, at the bottom) ← ``bundled``, ``csv_file``, ``npz_file``, ``ts_file``,
``text_files`` (one reader each) ← ``read`` (``read_source``: the dispatcher over them).
"""
