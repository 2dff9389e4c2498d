"""The bundled datasets dlbuild knows by name: a one-line description and the target facts the
static checks use (task, class count), without loading any data. No TensorFlow, no NumPy.

:mod:`builder.data.sources.bundled` has one loader per name here; ``tests/spec/test_consistency.py``
checks the facts against the loaded data.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Dataset:
    """One bundled dataset.

    Attributes:
        description: One line with the source, size, shapes and class count, as ``dlbuild explain``
            and the unknown-dataset error list it.
        task: ``"classification"`` or ``"regression"`` where the static checks (loss ↔ output ↔
            targets, :mod:`builder.spec.consistency`) may rely on it; None where they do not judge
            (text, sequences, corpora, pairs, series: their targets depend on the data options).
        classes: Number of classes for a classification task, else None.
    """

    description: str
    task: str | None = None
    classes: int | None = None


DATASETS: dict[str, Dataset] = {
    "fashion_mnist": Dataset("Fashion-MNIST subset, 10,000 train + 2,000 official-test 28x28x1 uint8 images, "
                             "10 classes, stratified (Xiao et al. 2017; bundled)", task="classification", classes=10),
    "fashion_mnist_full": Dataset("Fashion-MNIST, 60,000 train + 10,000 test 28x28x1 uint8 images, 10 classes "
                                  "(needs `apt-get install dataset-fashion-mnist`)", task="classification", classes=10),
    "mnist_5k": Dataset("MNIST subset, 5,000 28x28x1 uint8 images, 500 per digit, no test split "
                        "(LeCun et al. 1998; bundled)", task="classification", classes=10),
    "digits": Dataset("UCI handwritten digits, 1,797 8x8x1 float32 images, values 0-16, 10 classes", task="classification", classes=10),
    "iris": Dataset("UCI iris, 150 rows x 4 float32 features, 3 classes", task="classification", classes=3),
    "wine": Dataset("UCI wine, 178 rows x 13 float32 features, 3 classes", task="classification", classes=3),
    "breast_cancer": Dataset("UCI breast cancer Wisconsin (diagnostic), 569 rows x 30 float32 features, "
                             "2 classes", task="classification", classes=2),
    "diabetes": Dataset("diabetes progression (Efron et al. 2004), 442 rows x 10 float32 standardised features, "
                        "regression target", task="regression", classes=None),
    "movie_sentiment": Dataset("movie-review sentence sentiment (Hutto & Gilbert 2014), 10,605 (n,) strings, "
                               "2 classes negative/positive (sign of the mean rating; bundled)"),
    "sms_spam": Dataset("SMS spam collection (Almeida et al. 2011), 4,837 (n,) strings, 2 classes ham/spam "
                        "(13 % spam; bundled)"),
    "hamlet": Dataset("Shakespeare's Hamlet, one 175k-character text: a corpus for language_model / masked_lm "
                      "(bundled)"),
    "python_help": Dataset("Python's help() topics (pydoc_data), one ~470k-character text: a corpus for "
                           "language_model / masked_lm (standard library)"),
    "movie_dialog": Dataset("Cornell movie-dialog statement -> reply pairs, 6,000 pairs of 1-12 words: for pairs "
                            "(Danescu-Niculescu-Mizil & Lee 2011; bundled)"),
    "japanese_vowels": Dataset("JapaneseVowels (Kudo et al. 1999), 270 train + 370 official-test sequences of 7-29 "
                               "steps x 12 channels, 9 speakers; padded by data.sequence (bundled)"),
    "italy_power_demand": Dataset("ItalyPowerDemand (UCR), 67 train + 1,029 official-test (24, 1) float32 series, "
                                  "2 classes (bundled)"),
    "airline": Dataset("monthly airline passengers 1949-1960 (Box & Jenkins 1976), a 144-step series: for "
                       "window (bundled)"),
    "sunspots": Dataset("yearly sunspot numbers 1700-2008 (NOAA), a 309-step series: for window (bundled)"),
}


def list_datasets() -> dict[str, str]:
    """Return ``{name: one-line description with size}`` for every name ``data.dataset`` accepts."""
    return {name: d.description for name, d in DATASETS.items()}
