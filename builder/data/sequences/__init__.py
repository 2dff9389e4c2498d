"""Sequence-shaped data: everything that turns raw text or series into arrays, one module per job
(no TensorFlow).

:mod:`~builder.data.sequences.configure` checks the spec's sequence option against the source and
attaches a *preparer*; :func:`builder.data.splits.split_arrays` splits the raw samples first (in time
order when ``Arrays.ordered``) and then calls the preparer, which fits what it must (vocabulary,
padded length) on the training split only and transforms every split
(:mod:`~builder.data.sequences.prepared`). The jobs: ``padding`` (``data.sequence``), ``windows``
(``window``), ``pairs``, ``language_model``, ``masked_lm``, ``token_ids`` (``tokenize``).
"""
