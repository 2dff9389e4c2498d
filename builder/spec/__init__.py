"""YAML text → a checked, frozen :class:`~builder.spec.load.Spec`, with every problem located at
``file:line:col``. No TensorFlow: ``dlbuild validate`` runs this package alone.

In the order ``load_spec`` uses them: :mod:`~builder.spec.source` reads YAML into values with
positions (the dialect: :mod:`~builder.spec.yaml_values`), :mod:`~builder.spec.overrides` applies
``--set``, :mod:`~builder.spec.hparams` finds and resolves search spaces; :mod:`~builder.spec.sections`
holds the section tables and :mod:`~builder.spec.section_checks` the checks across keys, files and
sections (with :mod:`~builder.spec.data_options`); :mod:`~builder.spec.items` is the one item rule
(``name``, ``{name: scalar}``, ``{name: {args}}``); :mod:`~builder.spec.topology` expands ``model:``
into graph nodes (:mod:`~builder.spec.nodes`, :mod:`~builder.spec.declarations`,
:mod:`~builder.spec.expander`); :mod:`~builder.spec.consistency` judges loss ↔ output ↔ targets from
:mod:`~builder.spec.output_facts`; :mod:`~builder.spec.load` ties them together (``load_spec``).
:mod:`~builder.spec.dump` writes a spec back as YAML; :mod:`~builder.spec.explain` and
:mod:`~builder.spec.schema` describe the spec language to people and editors.
"""
