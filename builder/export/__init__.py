"""A trained model → deployable artifacts (``.keras``, SavedModel, TFLite/LiteRT with quantization,
ONNX), each verified by running it against Keras; then inference on artifacts: ``dlbuild predict``
and ``dlbuild generate`` (language models and seq2seq).
"""
