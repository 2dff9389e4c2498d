"""dlbuild's composite layers: what Keras lacks, written keras-hub style.

Every class here is ``@keras.saving.register_keras_serializable(package="dlbuild")`` with a full
``get_config``, uses ``keras.ops`` only, and is found by the registry like a Keras layer (its
class name or snake_case). Importing this package registers the classes, which loading a
``.keras`` file that contains them requires; it also registers dlbuild's optimizers
(:mod:`builder.model.optimizers`), which loading a compiled model trained with one of them requires.
"""

from builder.model import optimizers as _optimizers  # noqa: F401  (registers RAdam, AdaBelief)

from builder.model.layers.embedding import TokenAndPositionEmbedding
from builder.model.layers.heads import MaskedLMHead
from builder.model.layers.transformer import TransformerDecoder, TransformerEncoder

__all__ = ["TokenAndPositionEmbedding", "TransformerEncoder", "TransformerDecoder", "MaskedLMHead"]
