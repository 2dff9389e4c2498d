"""dlbuild's composite layers: what Keras lacks, written keras-hub style.

Every class here is ``@keras.saving.register_keras_serializable(package="dlbuild")`` with a full
``get_config``, uses ``keras.ops`` only, and is found by the registry like a Keras layer (its
class name or snake_case). Importing this package registers the classes, which loading a
``.keras`` file that contains them requires.
"""
