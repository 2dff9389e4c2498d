"""Runtime failures inside Keras/TensorFlow: one located cause, advice, the traceback kept aside."""

from __future__ import annotations

import errno

from builder.cli.report import runtime_failure
from builder.errors import runtime_cause, trial_failure


def _raised(fn):
    try:
        fn()
    except Exception as err:  # the real exception object, with its real traceback
        return err
    raise AssertionError("expected an exception")


def test_tensorflow_error_reads_as_its_cause_with_the_traceback_in_a_file():
    import tensorflow as tf

    err = _raised(lambda: tf.nn.sparse_softmax_cross_entropy_with_logits(labels=[5], logits=[[0.0, 1.0, 2.0]]))
    message = runtime_failure(err)
    first = message.splitlines()[0]
    assert first.startswith("dlbuild: error: InvalidArgumentError: Received a label value of 5 which is "
                            "outside the valid range of [0, 3)")
    assert "[[" not in first and "[Op:" not in first  # TensorFlow's node trace is dropped
    path = message.split("Full traceback: ")[1].split()[0]
    text = open(path).read()
    assert "Traceback (most recent call last)" in text and "InvalidArgumentError" in text


def test_out_of_memory_and_full_disk_get_their_advice():
    oom = runtime_failure(MemoryError("Unable to allocate 64.0 GiB for an array"))
    assert oom.startswith("dlbuild: error: out of memory: Unable to allocate 64.0 GiB")
    assert "lower fit.batch_size" in oom
    full = runtime_failure(OSError(errno.ENOSPC, "No space left on device", "/runs/x/model.keras"))
    assert full.startswith("dlbuild: error: no space left while writing /runs/x/model.keras "
                           "(No space left on device)")
    assert "--resume" in full


def test_h5py_message_names_the_file_that_could_not_be_written():
    text = ("[Errno 27] Can't synchronously write data (file write failed: time = now\n, filename = "
            "'/runs/x/backup/incomplete.weights.h5', file descriptor = 5, errno = 27)")
    assert runtime_cause("OSError", text, errno.EFBIG) == \
        "no space left while writing /runs/x/backup/incomplete.weights.h5 (File too large)"


def test_trial_failure_summarises_a_keras_tuner_traceback():
    import traceback

    import tensorflow as tf

    def oom():
        raise tf.errors.ResourceExhaustedError(
            None, None, "{{function_node __wrapped__X}} OOM when allocating tensor with shape[4,400000000] "
                        "and type float [Op:StatelessRandomUniformV2] name: ")

    try:
        oom()
    except Exception:
        text = traceback.format_exc()
    assert trial_failure(text) == "out of memory: OOM when allocating tensor with shape[4,400000000] and type float"
