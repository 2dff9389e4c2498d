"""Text and sequence data: CSV/TSV text columns, text files, .ts/NPZ sequences with padding, windows
over a series, seq2seq pairs with teacher forcing, language-model streams, masked-LM masking, the
bundled text/sequence/series sets, and one end-to-end fit on real movie reviews."""

from __future__ import annotations

import pathlib

import numpy as np
import pytest

from builder.data import text as tx
from builder.data.load import load_arrays, vocabulary_for
from builder.data.sequences.language_model import lm_samples
from builder.data.sequences.masked_lm import mask_tokens
from builder.data.sequences.pairs import teacher_forcing
from builder.data.sequences.prepared import vocabulary
from builder.data.sequences.windows import naive_forecast_metrics, sliding_windows
from builder.data.sources import bundled
from builder.data.sources.ts_file import read_ts
from builder.data.splits import split_arrays
from builder.errors import SpecError
from builder.spec.data_options import resolve_options

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def split(data, spec_dir=".", v=0.0, t=0.25, seed=0):
    return split_arrays(load_arrays(data, pathlib.Path(spec_dir)), validation_split=v, test_split=t, seed=seed)


# ---------------------------------------------------------------- text columns, files

def test_tsv_text_column_gives_strings(tmp_path):
    rows = ["label\ttext"] + [f"{'pos' if i % 2 else 'neg'}\tsample number {i}, with a comma" for i in range(20)]
    (tmp_path / "t.tsv").write_text("\n".join(rows))
    a = load_arrays({"csv": "t.tsv", "text": "text"}, tmp_path)  # delimiter inferred from .tsv
    assert a.x_train.shape == (20,) and a.x_train.dtype == object
    assert a.x_train[1] == "sample number 1, with a comma"
    assert a.class_names == ("neg", "pos") and a.y_train.tolist()[:2] == [0, 1]


def test_csv_text_column_explicit_delimiter_and_errors(tmp_path):
    (tmp_path / "t.txt").write_text("a;b\nhello;x\nworld;y\n")
    a = load_arrays({"csv": "t.txt", "delimiter": ";", "text": "a"}, tmp_path)
    assert a.x_train.tolist() == ["hello", "world"] and a.class_names == ("x", "y")
    with pytest.raises(SpecError, match="text column"):
        load_arrays({"csv": "t.txt", "delimiter": ";", "text": "nope"}, tmp_path)


def test_text_dir_classes_from_folders(tmp_path):
    for c, n in (("neg", 3), ("pos", 2)):
        (tmp_path / "d" / c).mkdir(parents=True)
        for i in range(n):
            (tmp_path / "d" / c / f"{i}.txt").write_text(f"{c} text {i}")
    a = load_arrays({"text_dir": "d"}, tmp_path)
    assert a.class_names == ("neg", "pos") and a.y_train.tolist() == [0, 0, 0, 1, 1]
    assert a.x_train[3] == "pos text 0"


def test_text_file_needs_a_stream_option(tmp_path):
    (tmp_path / "c.txt").write_text("abcdefghij" * 20)
    with pytest.raises(SpecError, match="language_model"):
        load_arrays({"text_file": "c.txt"}, tmp_path)
    s = split({"text_file": "c.txt", "language_model": {"sequence_length": 9}}, tmp_path)
    assert s.train[0].shape[1] == 9 and s.task == "sequence"


def test_tokenize_and_vocabulary_conventions():
    assert tx.tokenize("Hello, World!", "word") == ["hello", ",", "world", "!"]
    assert tx.tokenize("Ab", "char", lowercase=False) == ["A", "b"]
    v = tx.build_vocabulary([["b", "a", "b", "c", "c", "c"]], specials=(tx.MASK,))
    assert v == ["", "[UNK]", "[MASK]", "c", "b", "a"]
    assert tx.build_vocabulary([["b", "a", "b"]], max_tokens=3) == ["", "[UNK]", "b"]
    assert tx.encode(["a", "zzz"], {t: i for i, t in enumerate(v)}).tolist() == [5, 1]
    assert tx.detokenize(["hello", ",", "world", "!"]) == "hello, world!"


def test_tokenize_option_reuses_a_saved_vocabulary(tmp_path):
    (tmp_path / "t.csv").write_text("text,label\nthe cat sat,a\nthe dog ran,b\n")
    tx.save_vocabulary(["", "[UNK]", "[MASK]", "the", "cat"], tmp_path / "vocabulary.json", "word")
    s = split({"csv": "t.csv", "text": "text", "tokenize": {"sequence_length": 4, "vocabulary": "."}},
              tmp_path, t=0.5)
    ids = np.concatenate([s.train[0], s.test[0]])
    assert sorted(map(tuple, ids.tolist())) == [(3, 1, 1, 0), (3, 4, 1, 0)]
    assert s.info["vocabulary"][4] == "cat"


# ---------------------------------------------------------------- sequences: .ts, NPZ, padding

TS = """# comment
@problemName toy
@timeStamps false
@univariate false
@classLabel true a b
@data
1,2,3:4,5,6:a
7,8:9,10:b
1,2,3,4:5,6,7,8:a
0,1:1,0:b
"""


def test_read_ts_channels_last_ragged(tmp_path):
    (tmp_path / "toy_TRAIN.ts").write_text(TS)
    series, labels, names = read_ts(tmp_path / "toy_TRAIN.ts")
    assert names == ("a", "b") and labels == ["a", "b", "a", "b"]
    assert series[0].shape == (3, 2) and series[0][:, 1].tolist() == [4, 5, 6]


def test_ts_source_pads_to_longest_train_and_takes_test_sibling(tmp_path):
    (tmp_path / "toy_TRAIN.ts").write_text(TS)
    (tmp_path / "toy_TEST.ts").write_text(TS.replace("1,2,3,4:5,6,7,8", "1,2,3,4,5,6:1,2,3,4,5,6"))
    s = split({"ts": "toy_TRAIN.ts", "sequence": {"value": -1.0}}, tmp_path)
    assert s.train[0].shape == (4, 4, 2) and s.train[0].dtype == np.float32
    assert s.test[0].shape == (4, 4, 2)          # the 6-step test case is truncated to 4
    assert s.train[0][1, 2:].tolist() == [[-1, -1], [-1, -1]]  # post-padding with the value
    s = split({"ts": "toy_TRAIN.ts", "sequence": {"max_length": 5, "padding": "pre"}}, tmp_path)
    assert s.train[0].shape == (4, 5, 2) and s.train[0][0, :2].tolist() == [[0, 0], [0, 0]]


def test_npz_ragged_sequences(tmp_path):
    x = np.arange(10, dtype=np.float32)[:, None]
    np.savez(tmp_path / "s.npz", x=x, x_lengths=np.array([3, 7]), y=np.array([0, 1]),
             x_test=x[:4], x_test_lengths=np.array([4]), y_test=np.array([1]))
    s = split({"npz": "s.npz", "sequence": {"max_length": 5, "truncating": "pre"}}, tmp_path)
    assert s.train[0].shape == (2, 5, 1)
    by_label = {int(lab): row[:, 0].tolist() for row, lab in zip(*s.train)}
    assert by_label == {0: [0, 1, 2, 0, 0], 1: [5, 6, 7, 8, 9]}


def test_sequence_option_rejects_text_sources(tmp_path):
    (tmp_path / "t.csv").write_text("text,label\na,x\nb,y\n")
    with pytest.raises(SpecError, match="sequence"):
        load_arrays({"csv": "t.csv", "text": "text", "sequence": {}}, tmp_path)


# ---------------------------------------------------------------- windows

def test_sliding_windows_geometry():
    series = np.arange(10, dtype=np.float32)
    x, y = sliding_windows(series, series, input=3, horizon=2, stride=2)
    assert x.shape == (3, 3, 1) and y.shape == (3, 2)
    assert x[0, :, 0].tolist() == [0, 1, 2] and y[0].tolist() == [3, 4]
    assert x[1, :, 0].tolist() == [2, 3, 4] and y[1].tolist() == [5, 6]


def test_window_splits_in_time_order_without_target_leakage(tmp_path):
    rows = ["t,value,other"] + [f"{i},{i},{-i}" for i in range(100)]
    (tmp_path / "s.csv").write_text("\n".join(rows))
    s = split({"csv": "s.csv", "target": "value", "features": ["other"], "window": {"input": 5, "horizon": 2}},
              tmp_path, v=0.25, t=0.2)
    (xtr, ytr), (xv, yv), (xte, yte) = s.train, s.val, s.test
    assert xtr.shape[1:] == (5, 2) and ytr.shape[1] == 2
    assert xtr[0, :, 0].tolist() == [0, 1, 2, 3, 4] and xtr[0, :, 1].tolist() == [0, -1, -2, -3, -4]
    # 100 steps: test = the last 20, validation = the 20 before, train = the first 60
    assert ytr.max() < 60 and 60 <= yv.min() and yv.max() < 80 and yte.min() >= 80
    assert yte[0].tolist() == [80, 81] and xte[0, :, 0].tolist() == [75, 76, 77, 78, 79]  # past context is allowed
    assert all(np.all(np.diff(part[1][:, 0]) > 0) for part in (s.train, s.val, s.test))  # never shuffled
    naive = naive_forecast_metrics(s)
    assert naive["mae"] == pytest.approx(1.5)  # last value t-1 vs targets t, t+1


def test_window_over_the_target_column_alone_forecasts_one_series(tmp_path):
    """Univariate forecasting: a date column and the target, no features listed."""
    rows = ["date,load"] + [f"2020-01-{i:03d},{i * 0.5}" for i in range(40)]
    (tmp_path / "s.csv").write_text("\n".join(rows))
    s = split({"csv": "s.csv", "target": "load", "window": {"input": 4, "horizon": 1}}, tmp_path, v=0.25, t=0.25)
    (xtr, ytr) = s.train
    assert xtr.shape[1:] == (4, 1)  # one channel: the target's own past
    assert xtr[0, :, 0].tolist() == [0.0, 0.5, 1.0, 1.5] and ytr[0].tolist() == [2.0]
    # outside a window, a table still needs a feature column besides its target
    (tmp_path / "t.csv").write_text("y\n1\n2\n")
    with pytest.raises(SpecError, match="no feature columns besides the target 'y'"):
        load_arrays({"csv": "t.csv", "target": "y"}, tmp_path)


def test_window_needs_a_series_and_series_need_window():
    with pytest.raises(SpecError, match="window"):
        load_arrays({"dataset": "airline"}, ROOT)
    with pytest.raises(SpecError, match="time series"):
        load_arrays({"dataset": "iris", "window": {"input": 3}}, ROOT)


# ---------------------------------------------------------------- pairs / teacher forcing

def test_teacher_forcing_shift():
    dec_in, dec_out = teacher_forcing([np.array([5, 6, 7]), np.array([8])], 5, start_id=2, end_id=3)
    assert dec_out.tolist() == [[5, 6, 7, 3, 0], [8, 3, 0, 0, 0]]
    assert dec_in.tolist() == [[2, 5, 6, 7, 0], [2, 8, 0, 0, 0]]
    dec_in, dec_out = teacher_forcing([np.array([5, 6, 7, 9])], 3, start_id=2, end_id=3)
    assert dec_out.tolist() == [[5, 6, 3]] and dec_in.tolist() == [[2, 5, 6]]


def test_csv_pairs_give_named_encoder_decoder_inputs(tmp_path):
    (tmp_path / "p.csv").write_text("q,a\nhi there,hello\nhow are you,fine thanks\nbye,see you\nok,ok\n")
    s = split({"csv": "p.csv", "pairs": {"source": "q", "target": "a", "encoder_input": "enc",
                                         "decoder_input": "dec"}}, tmp_path, t=0.25)
    x, y = s.train
    assert set(x) == {"enc", "dec"} and x["dec"].shape == y.shape
    vocab, p = s.info["vocabulary"], s.info["pairs"]
    assert vocab[p["start_id"]] == "[START]" and vocab[p["end_id"]] == "[END]"
    assert np.all(x["dec"][:, 0] == p["start_id"])
    assert np.array_equal(x["dec"][:, 1:][y[:, 1:] != 0], y[:, :-1][y[:, 1:] != 0])  # shifted right by one
    for row in y:
        assert vocab[row[row != 0][-1]] == "[END]"


# ---------------------------------------------------------------- language model

def test_lm_samples_are_next_token_shifted():
    x, y = lm_samples(np.arange(12), 4)
    assert x.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]] and y.tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]
    x, _ = lm_samples(np.arange(12), 4, stride=3)
    assert x[:, 0].tolist() == [0, 3, 6]


def test_language_model_stream_vocabulary_and_time_order(tmp_path):
    text = "".join(chr(97 + i % 7) for i in range(1000))
    (tmp_path / "c.txt").write_text(text)
    s = split({"text_file": "c.txt", "language_model": {"sequence_length": 10, "level": "char"}}, tmp_path,
              v=0.1, t=0.2)
    vocab = vocabulary(s)
    assert vocab[:2] == ["", "[UNK]"] and sorted(vocab[2:]) == list("abcdefg")
    decode = lambda ids: "".join(vocab[i] for i in ids)  # noqa: E731
    assert decode(s.train[0][0]) == text[:10] and decode(s.train[1][0]) == text[1:11]
    assert decode(s.test[0][0]) == text[800:810]  # the test part is the end of the text
    assert np.array_equal(s.train[0][:, 1:], s.train[1][:, :-1])


def test_vocabulary_for_matches_split(tmp_path):
    (tmp_path / "c.txt").write_text("to be or not to be " * 30)
    data = {"text_file": "c.txt", "language_model": {"sequence_length": 4, "level": "word"},
            "validation_split": 0.1, "test_split": 0.2}
    assert vocabulary_for(data, tmp_path) == ["", "[UNK]", "be", "to", "not", "or"]


# ---------------------------------------------------------------- masked LM

MLM = {"rate": 0.15, "mask_id": 2, "first_id": 3, "vocab_size": 1000, "mask_fraction": 0.8, "random_fraction": 0.1}


def _check_masking(ids, masked, weight):
    real = ids != 0
    sel = weight > 0
    assert not np.any(sel & ~real)
    assert sel[real].mean() == pytest.approx(0.15, abs=0.005)
    frac = lambda m: (m & sel).sum() / sel.sum()  # noqa: E731
    assert frac(masked == 2) == pytest.approx(0.8, abs=0.01)
    assert frac(masked == ids) == pytest.approx(0.1 + 0.1 / 997, abs=0.01)  # kept (and random hits itself)
    assert frac((masked != ids) & (masked != 2)) == pytest.approx(0.1 * 996 / 997, abs=0.01)
    assert np.array_equal(masked[~sel], ids[~sel])
    assert masked.min() >= 0 and masked[(masked != 2) & sel].min() >= 3


def _ids(n=2000, length=64):
    rng = np.random.default_rng(0)
    ids = rng.integers(3, 1000, size=(n, length)).astype(np.int32)
    ids[:, 48:] = 0  # padding is never selected
    return ids


def test_mask_tokens_numpy_80_10_10():
    ids = _ids()
    masked, w = mask_tokens(ids, np.random.default_rng(1), **MLM)
    _check_masking(ids, masked, w)


def test_mlm_pipeline_masks_per_epoch_with_80_10_10():
    from builder.data.pipeline import make_pipelines
    from builder.data.splits import Splits

    ids = _ids()
    splits = Splits((ids, ids), None, (ids[:100], ids[:100]), None, "sequence", {"masked_lm": {**MLM, "rate": 0.15}})
    pipes = make_pipelines(splits, batch_size=500, seed=3)
    epoch = lambda: [tuple(t.numpy() for t in b) for b in pipes.train]  # noqa: E731
    first, second = epoch(), epoch()
    m, y, w = (np.concatenate([b[i] for b in first]) for i in range(3))
    _check_masking(y, m, w)
    assert not np.array_equal(first[0][2], second[0][2])  # fresh masks each epoch
    t1 = [b[0].numpy() for b in pipes.test]
    t2 = [b[0].numpy() for b in pipes.test]
    assert np.array_equal(t1[0], t2[0])  # test masking is fixed


def test_masked_lm_from_text_samples_and_corpus():
    s = split({"dataset": "movie_sentiment", "masked_lm": {"sequence_length": 16, "max_tokens": 2000}}, ROOT)
    assert s.train[0].shape[1] == 16 and np.array_equal(s.train[0], s.train[1])
    assert s.info["vocabulary"][s.info["masked_lm"]["mask_id"]] == "[MASK]" and len(s.info["vocabulary"]) == 2000
    s = split({"dataset": "hamlet", "masked_lm": {"sequence_length": 32}}, ROOT)
    assert s.train[0].shape[1] == 32 and s.task == "sequence"


# ---------------------------------------------------------------- option checks (TF-free)

def test_option_errors_are_located():
    _, errs = resolve_options("window", {"horizon": 0, "strid": 1})
    paths = {p for _, p in errs}
    assert ("data", "window") in paths and ("data", "window", "horizon") in paths and ("data", "window", "strid") in paths
    _, errs = resolve_options("masked_lm", {"rate": 1.5})
    assert errs and errs[0][1] == ("data", "masked_lm", "rate")
    with pytest.raises(SpecError, match="at most one"):
        load_arrays({"dataset": "hamlet", "language_model": {"sequence_length": 5}, "masked_lm": {}}, ROOT)


# ---------------------------------------------------------------- bundled sets

@pytest.mark.parametrize("name, x_shape, x_dtype, n_classes, test_n", [
    ("movie_sentiment", (10568,), object, 2, None),
    ("sms_spam", (4837,), object, 2, None),
    ("hamlet", (1,), object, None, None),
    ("python_help", (1,), object, None, None),
    ("movie_dialog", (6000,), object, None, None),
    ("japanese_vowels", (270,), object, 9, 370),
    ("italy_power_demand", (67, 24, 1), np.float32, 2, 1029),
    ("airline", (144, 1), np.float32, None, None),
    ("sunspots", (309, 1), np.float32, None, None),
])
def test_bundled_text_and_sequence_sets(name, x_shape, x_dtype, n_classes, test_n):
    a = bundled.load_dataset(name)
    assert a.x_train.shape == x_shape and a.x_train.dtype == x_dtype
    assert len(a.y_train) == x_shape[0]
    if n_classes:
        assert len(a.class_names) == n_classes and set(np.unique(a.y_train)) == set(range(n_classes))
    assert (a.x_test is None) == (test_n is None) and (test_n is None or len(a.x_test) == test_n)
    licences = (ROOT / "DATA_LICENSES.md").read_text(encoding="utf-8")
    assert f"## {name}" in licences
    for f in (ROOT / "builder" / "data" / "bundled").iterdir():
        assert f.stat().st_size < 5_000_000


def test_bundled_contents():
    a = bundled.load_dataset("movie_sentiment")
    assert a.x_train[0].startswith("The Rock is destined") and a.y_train[0] == 1
    jv = bundled.load_dataset("japanese_vowels")
    assert {s.shape[1] for s in jv.x_train} == {12} and min(map(len, jv.x_train)) >= 7
    assert max(map(len, jv.x_train)) <= 29
    air = bundled.load_dataset("airline")
    assert air.y_train[:3].tolist() == [112, 118, 132]


# ---------------------------------------------------------------- docs examples

def test_data_doc_examples_validate():
    import builder

    examples = sorted((DOCS / "examples").glob("data_*.yaml"))
    assert len(examples) >= 7
    page = (DOCS / "data.md").read_text(encoding="utf-8")
    for path in examples:
        assert f"examples/{path.name}" in page
        builder.load_spec(path)


# ---------------------------------------------------------------- end to end

@pytest.mark.slow
def test_fit_text_classifier_on_real_movie_reviews(tmp_path):
    import builder

    spec = builder.load_spec(DOCS / "examples" / "data_text_bundled.yaml",
                             overrides=["data.max_train_samples=300", "fit.epochs=1", "fit.verbose=0",
                                        "data.validation_split=0.05"])
    result = builder.fit(spec, run_dir=tmp_path / "run", log=lambda *_: None)
    assert result.metrics["train_samples"] == 300
    assert 0.0 <= result.metrics["test"]["accuracy"] <= 1.0
    layer = result.model.get_layer("text_vectorization")
    assert len(layer.get_vocabulary()) > 100  # adapted on the training strings


def test_text_file_makes_derived_pairs_but_alone_is_a_located_error(tmp_path):
    import builder
    from builder.errors import SpecError
    from builder.data.load import load_splits

    (tmp_path / "corpus.txt").write_text("to be or not to be that is the question\n" * 20)
    spec = """name: t
data:
  text_file: corpus.txt
  pairs: {derive: reverse, words: 2, level: char}
model:
  inputs: {encoder_input: {shape: [12], dtype: int32}, decoder_input: {shape: [13], dtype: int32}}
  layers:
    - embedding: {input_dim: 40, output_dim: 4}
      inputs: [encoder_input]
    - global_average_pooling1d
    - repeat_vector: 13
      name: context
    - embedding: {input_dim: 40, output_dim: 4}
      inputs: [decoder_input]
    - concatenate: {inputs: [context, -1]}
    - dense: 40
compile: {optimizer: adam, loss: sparse_categorical_crossentropy}
"""
    (tmp_path / "s.yaml").write_text(spec)
    splits = load_splits(builder.load_spec(tmp_path / "s.yaml"))
    y = splits.train[1]
    assert y.ndim == 2 and len(y) > 0  # reversed-character targets, one row per run of words
    (tmp_path / "bad.yaml").write_text(spec.replace("  pairs: {derive: reverse, words: 2, level: char}\n", ""))
    with pytest.raises(SpecError, match=r"bad.yaml:3:14: error: a 'text_file' is a corpus; add 'language_model', "
                                        r"'masked_lm' or 'pairs: \{derive: …\}'"):
        builder.load_spec(tmp_path / "bad.yaml")
