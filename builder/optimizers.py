"""dlbuild's optimizers: ones the deep-learning curriculum names that Keras lacks.

Each is a ``keras.optimizers.Optimizer`` subclass registered as serializable, found by the
registry like a Keras optimizer.
"""
