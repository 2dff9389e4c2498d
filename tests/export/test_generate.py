"""dlbuild generate and the curriculum's sequence specs: seq2seq with attention (on pairs derived
from Hamlet), the GPT-style char LM on Hamlet, BERT-style pre-training and fine-tuning from the
pre-trained run's weights."""


import numpy as np
import pytest
from click.testing import CliRunner

import builder
from builder.run.artifacts import load_keras
from builder.cli.generate import generate_cmd
from builder.data import text as tx
from builder.data.sequences.pairs import derive_pairs, teacher_forcing
from builder.errors import SpecError
from builder.export.decoding import decode_batch, greedy_decode, target_ids
from builder.export.exact_match import exact_match
from builder.export.generate import generate
from builder.export.genrun import SEQ2SEQ, GenerateError, GenRun, load_run
from builder.export.sampling import banned_ids, pick
from builder.spec.load import load_spec

QUICK = ["fit.epochs=1", "fit.callbacks=[]"]


def _fit(spec_path, out, *overrides):
    return builder.fit(load_spec(spec_path, [*QUICK, *overrides]), run_dir=out, verbose=0, log=lambda *_: None)


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpt") / "run"
    _fit("specs/gpt_hamlet.yaml", out, "data.max_train_samples=64")
    return out


@pytest.fixture(scope="module")
def seq2seq_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("s2s") / "run"
    _fit("specs/seq2seq_attention.yaml", out, "data.max_train_samples=256", "data.validation_split=0.02",
         "data.test_split=0.02")
    return out


@pytest.fixture(scope="module")
def bert_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bert") / "pretrain"
    _fit("specs/bert_pretrain.yaml", out, "data.max_train_samples=64", "data.validation_split=0.02",
         "data.test_split=0.02")
    return out


@pytest.mark.parametrize("path,layers", [("specs/seq2seq_attention.yaml", 12), ("specs/gpt_hamlet.yaml", 5),
                                         ("specs/bert_pretrain.yaml", 4)])
def test_sequence_specs_validate_and_build(path, layers):
    spec = load_spec(path)
    assert len(spec.topology.nodes) == layers
    model = builder.build_model(spec)
    assert model.count_params() > 0


def test_seq2seq_spec_wires_attention_and_the_initial_state():
    model = builder.build_model(load_spec("specs/seq2seq_attention.yaml"))
    assert [t.name for t in model.inputs] == ["encoder_input", "decoder_input"]
    decoded = model.get_layer("decoded")._inbound_nodes[0].arguments.args
    assert [tuple(t.shape) for t in decoded] == [(None, 31, 32), (None, 128)]  # gru(x, initial_state)
    assert type(model.get_layer("context")).__name__ == "AdditiveAttention"
    # Keras's AdditiveAttention has no W, U of its own: the score's projections are the Dense layers
    # `query` (W s_t) and `keys` (U h_i), passed as [query, value, key]
    attention = model.get_layer("context")._inbound_nodes[0].arguments.args[0]
    assert [t._keras_history[0].name for t in attention] == ["query", "encoded", "keys"]
    assert tuple(model.output.shape) == (None, 31, 32)


# ---------------------------------------------------------------- sampling, on stub models

def test_pick_greedy_topk_and_banned():
    p = np.array([0.05, 0.5, 0.3, 0.15])
    assert pick(p, temperature=0) == 1
    assert pick(p, temperature=0, banned=np.array([False, True, False, False])) == 2
    rng = np.random.default_rng(0)
    assert {pick(p, temperature=5.0, top_k=1, rng=rng) for _ in range(20)} == {1}
    draws = [pick(p, temperature=1.0, top_k=2, rng=rng) for _ in range(400)]
    assert set(draws) == {1, 2} and 0.55 < draws.count(1) / 400 < 0.70  # 0.5 / 0.8 = 0.625
    with pytest.raises(ValueError, match="temperature"):
        pick(p, temperature=-1)


def test_banned_ids_cover_specials_and_units_past_the_vocabulary():
    vocab = ["", "[UNK]", "[START]", "[END]", "a"]
    assert banned_ids(vocab, 7).tolist() == [True, True, True, False, False, True, True]


def test_greedy_decode_feeds_back_its_tokens_and_stops_at_end():
    start, end, seen = 2, 3, []
    script = [5, 6, end, 7]

    def predict(x):
        dec = x["decoder_input"][0].copy()
        seen.append(dec)
        out = np.full((1, 8, 10), 0.01)
        for t, tok in enumerate(script):
            out[0, t, tok] = 0.9
        return out

    ids, stopped = greedy_decode(predict, np.array([4, 4, 0]), start_id=start, end_id=end, decoder_length=8,
                                 max_tokens=10)
    assert (ids, stopped) == ([5, 6], True)
    assert seen[-1][:3].tolist() == [start, 5, 6] and not seen[-1][3:].any()
    ids, stopped = greedy_decode(predict, np.array([4]), start_id=start, end_id=end, decoder_length=8, max_tokens=1)
    assert (ids, stopped) == ([5], False)


def _teacher_forced_oracle(sources, targets, start, end, length, vocab_size):
    """A stub seq2seq model that has learnt exactly what teacher forcing showed it: at decoder step
    t it predicts target token t only when the decoder input up to t is the [START]-shifted target
    that :func:`teacher_forcing` builds for that source; any other input (a token written to the
    wrong step, a missing [START]) gets a wrong token."""
    dec_in, dec_out = teacher_forcing(targets, length, start, end)
    table = {tuple(s): (i, o) for s, i, o in zip(np.asarray(sources).tolist(), dec_in, dec_out)}

    def predict(x):
        enc, dec = x["encoder_input"], x["decoder_input"]
        out = np.full((len(enc), length, vocab_size), 0.01)
        for row, (s, d) in enumerate(zip(enc.tolist(), dec)):
            want_in, want_out = table[tuple(s)]
            for t in range(length):
                right = (d[:t + 1] == want_in[:t + 1]).all()
                out[row, t, want_out[t] if right and want_out[t] else vocab_size - 1] = 0.9
        return out
    return predict


def test_greedy_decoding_replays_the_teacher_forcing_layout():
    """Training and decoding must agree on where each token sits: teacher_forcing puts target token
    t - 1 at decoder input t and expects token t at output t; greedy_decode and decode_batch must
    read output t and write it to input t + 1. Any off-by-one between the two derails the oracle."""
    start, end, length, vocab = 2, 3, 6, 12
    sources = np.array([[4, 5, 0], [6, 0, 0], [7, 8, 9], [4, 4, 4]])
    targets = [[5, 4], [6], [9, 8, 7], [10, 11, 10, 11, 10, 11, 10]]  # the last one is cut to length - 1
    predict = _teacher_forced_oracle(sources, targets, start, end, length, vocab)
    want = [t[:length - 1] for t in targets]
    for src, ref in zip(sources, want):
        ids, stopped = greedy_decode(predict, src, start_id=start, end_id=end, decoder_length=length,
                                     max_tokens=length)
        assert (ids, stopped) == (ref, True)
    assert decode_batch(predict, sources, start_id=start, end_id=end, decoder_length=length) == want
    assert target_ids(teacher_forcing(targets, length, start, end)[1], end) == want


def test_decode_batch_stops_each_row_at_its_own_end_and_respects_banned_ids():
    def predict(x):  # row 0: 5, [END]; row 1: 6, 6, 6, ... (never ends); id 1 always most likely
        n, length = x["decoder_input"].shape
        out = np.full((n, length, 8), 0.01)
        out[:, :, 1] = 0.95
        out[0, 0, 5], out[0, 1, 3] = 0.5, 0.5
        out[1, :, 6] = 0.5
        return out

    banned = np.zeros(8, bool)
    banned[1] = True
    got = decode_batch(predict, np.ones((2, 3), np.int32), start_id=2, end_id=3, decoder_length=4, banned=banned)
    assert got == [[5], [6, 6, 6, 6]]


def test_derive_pairs_reverses_or_sorts_runs_of_words():
    text = "To be, or not to be: that is the Question."
    src, tgt = derive_pairs([text, "Ay, there's the rub"], "reverse", words=3)
    # runs of 1, 2, 3 words in turn, never across texts ("question" is too short for the next run of
    # 3 and dropped; the count goes on in the next text); punctuation dropped
    assert src == ["to", "be or", "not to be", "that", "is the", "ay there's the", "rub"]
    assert tgt == [s[::-1] for s in src]
    src, tgt = derive_pairs([text], "sort", words=1, lowercase=False)
    assert src[-1] == "Question" and tgt[-1] == "Qeinostu"


def test_pairs_derive_builds_a_char_task_from_hamlet_in_text_order():
    from builder.data.load import load_splits

    spec = load_spec("specs/seq2seq_attention.yaml", ["data.pairs.words=2"])
    splits = load_splits(spec)
    info, vocab = splits.info["pairs"], splits.info["vocabulary"]
    assert info["derive"] == "reverse" and splits.info["level"] == "char"
    assert vocab[:4] == ["", "[UNK]", "[START]", "[END]"] and " " in vocab and "," not in vocab

    def texts(part):
        (x, y) = part
        srcs = ["".join(vocab[i] for i in row if i) for row in x["encoder_input"]]
        return srcs, target_ids(y, vocab.index("[END]"))

    srcs, refs = texts(splits.test)
    assert ["".join(vocab[i] for i in ref) for ref in refs] == [s[::-1] for s in srcs]
    from builder.data.sources.bundled import load_dataset

    runs, _ = derive_pairs(load_dataset("hamlet").x_train, "reverse", words=2)
    assert srcs == runs[-len(srcs):]  # split in the play's order: the test set is its end
    assert texts(splits.train)[0][:3] == runs[:3]


def test_pairs_derive_errors_are_located(tmp_path):
    bad = tmp_path / "bad.yaml"
    text = open("specs/seq2seq_attention.yaml").read().replace("derive: reverse", "derive: rotate")
    bad.write_text(text)
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "derive: rotate" in ln)
    with pytest.raises(SpecError, match=rf"bad.yaml:{line}:\d+: error: 'pairs.derive' must be one of reverse, sort"):
        load_spec(bad)
    iris = tmp_path / "iris.yaml"
    iris.write_text(text.replace("derive: rotate", "derive: reverse").replace("dataset: hamlet ", "dataset: iris   "))
    from builder.data.load import load_splits

    line = next(i for i, ln in enumerate(iris.read_text().splitlines(), 1) if "derive: reverse" in ln)
    with pytest.raises(SpecError, match=rf"iris.yaml:{line}:\d+: error: 'pairs.derive' makes pairs from the words "
                                        "of a text or corpus dataset; 'iris' is table data"):
        load_splits(load_spec(iris))


def test_generate_reduces_a_derived_task_prompt_to_its_words():
    seen = []

    def predict(x):
        seen.append(x["encoder_input"][0].copy())
        out = np.full((1, 4, 8), 0.01)
        out[:, :, 3] = 0.9  # [END] at once
        return out

    vocab = ["", "[UNK]", "[START]", "[END]", " ", "a", "b", ","]
    run = GenRun(SEQ2SEQ, predict, vocab, "char", True, 4, source_length=6, encoder_input="encoder_input",
                 decoder_input="decoder_input", derive="reverse")
    generate(run, "  A,  b! ", 4)
    assert seen[-1].tolist() == [5, 4, 6, 0, 0, 0]  # "a b": lower-cased, punctuation and extra spaces gone
    generate(GenRun(**{**run.__dict__, "derive": None}), "A,b", 4)
    assert seen[-1].tolist() == [5, 7, 6, 0, 0, 0]  # a pairs run without derive keeps the prompt's tokens


# ---------------------------------------------------------------- trained runs

@pytest.mark.slow
def test_lm_run_generates_n_characters_of_its_vocabulary(lm_run):
    assert (lm_run / "vocabulary.json").is_file()
    run = load_run(lm_run)
    assert run.kind == "language_model" and run.window == 64 and run.level == "char"
    assert set(run.perplexity) == {"val", "test"}
    vocab = set(run.vocabulary) - {"", "[UNK]"}
    greedy = generate(run, "HAMLET", 40, temperature=0)
    assert len(greedy.tokens) == 40 and set(greedy.tokens) <= vocab
    assert greedy.text == "HAMLET" + "".join(greedy.tokens)
    assert generate(run, "HAMLET", 40, temperature=0).text == greedy.text
    a = generate(run, "HAMLET", 40, temperature=1.0, top_k=10, seed=3)
    assert generate(run, "HAMLET", 40, temperature=1.0, top_k=10, seed=3).text == a.text
    assert set(a.tokens) <= vocab
    long_prompt = generate(run, "To be, or not to be: " * 5, 5, temperature=0)  # longer than the window
    assert len(long_prompt.tokens) == 5


@pytest.mark.slow
def test_generate_cli_prints_text_and_perplexity(lm_run):
    result = CliRunner().invoke(generate_cmd, [str(lm_run), "--prompt", "KING", "--length", "25",
                                               "--temperature", "0"])
    assert result.exit_code == 0, result.output
    assert "val perplexity" in result.output and "KING" in result.output
    bad = CliRunner().invoke(generate_cmd, [str(lm_run), "--prompt", "KING", "--length", "0"])
    assert bad.exit_code == 2


@pytest.mark.slow
def test_seq2seq_run_greedy_reply_uses_the_vocabulary(seq2seq_run):
    run = load_run(seq2seq_run)
    assert run.kind == "seq2seq" and (run.source_length, run.window) == (30, 31) and run.derive == "reverse"
    out = generate(run, "To be, or not", 10)
    assert set(out.tokens) <= set(run.vocabulary) - {"", "[START]", "[END]", "[UNK]"}
    assert out.stopped or len(out.tokens) == 10
    assert generate(run, "To be, or not", 10).ids == out.ids  # greedy: deterministic


@pytest.mark.slow
def test_exact_match_decodes_the_held_out_pairs_as_generate_does(seq2seq_run):
    run = load_run(seq2seq_run)
    em = exact_match(seq2seq_run, "test", limit=40, batch_size=16, examples=3)
    assert em.n == 40 and 0 <= em.correct <= 40 and em.accuracy == em.correct / 40
    assert len(em.examples) == 3
    for source, reference, reply in em.examples:  # the batched decode is what `generate` prints
        assert reference == source[::-1]
        assert generate(run, source, run.window).text == reply
    with pytest.raises(ValueError, match="split must be 'test' or 'val'"):
        exact_match(seq2seq_run, "train")


@pytest.mark.slow
def test_generate_refuses_runs_it_cannot_use(tmp_path, bert_run):
    runner = CliRunner()
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "model.keras").write_bytes(b"")
    r = runner.invoke(generate_cmd, [str(empty), "--prompt", "x"])
    assert r.exit_code == 1 and "no vocabulary.json" in r.output
    r = runner.invoke(generate_cmd, [str(bert_run), "--prompt", "x"])
    assert r.exit_code == 1 and "masked-LM" in r.output

    import keras

    clf = tmp_path / "clf"
    clf.mkdir()
    inp = keras.Input((8,), dtype="int32")
    x = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(10, 4)(inp))
    keras.Model(inp, keras.layers.Dense(2, activation="softmax")(x)).save(clf / "model.keras")
    tx.save_vocabulary(["", "[UNK]", "a"], clf / "vocabulary.json", "word")
    with pytest.raises(GenerateError, match="not a classifier"):
        load_run(clf)


@pytest.mark.slow
def test_bert_finetune_starts_from_the_pretrained_encoder(bert_run):
    voc, level = tx.load_vocabulary(bert_run)
    assert level == "word" and len(voc) == 5000 and voc[2] == "[MASK]"
    spec = load_spec("specs/bert_finetune.yaml", [f"model.init_from={bert_run}",
                                                  f"data.tokenize.vocabulary={bert_run}"])
    fine = builder.build_model(spec)
    pre = load_keras(bert_run / "model.keras")
    for name in ("embedding", "encoder_1", "encoder_2"):
        ours, theirs = fine.get_layer(name).get_weights(), pre.get_layer(name).get_weights()
        assert len(ours) == len(theirs) > 0
        for a, b in zip(ours, theirs):
            np.testing.assert_array_equal(a, b)
    assert fine.get_layer("sentiment").get_weights()[0].shape == (64, 2)
    # the fine-tuning data uses the pre-training vocabulary, so the ids mean the same words
    from builder.data.load import load_splits

    splits = load_splits(load_spec("specs/bert_finetune.yaml", [f"model.init_from={bert_run}",
                                                                f"data.tokenize.vocabulary={bert_run}"]))
    assert splits.info["vocabulary"] == voc and splits.train[0].shape[1] == 48


def test_bert_specs_share_the_test_sentences():
    """Pre-training (masked_lm makes a text set a 'sequence' task: unstratified split) and
    fine-tuning (stratify: false) hold out the same test sentences, so pre-training never reads
    the fine-tuning test set."""
    import dataclasses

    import yaml

    from builder.data.load import load_arrays
    from builder.data.splits import split_arrays

    docs = [yaml.safe_load(open(f"specs/bert_{k}.yaml")) for k in ("pretrain", "finetune")]
    assert docs[0]["seed"] == docs[1]["seed"] and docs[1]["data"]["stratify"] is False
    for key in ("dataset", "validation_split", "test_split"):
        assert docs[0]["data"][key] == docs[1]["data"][key]
    raw = dataclasses.replace(load_arrays({"dataset": "movie_sentiment"}, "."), prepare=None)
    d, seed = docs[0]["data"], docs[0]["seed"]
    pre = split_arrays(dataclasses.replace(raw, task="sequence"), validation_split=d["validation_split"],
                       test_split=d["test_split"], seed=seed)
    fine = split_arrays(raw, validation_split=d["validation_split"], test_split=d["test_split"], seed=seed,
                        stratify=False)
    assert list(pre.test[0]) == list(fine.test[0])


@pytest.mark.slow
def test_cli_exact_match_prints_the_split_accuracy_and_prompt_is_needed_otherwise(seq2seq_run):
    em = exact_match(seq2seq_run, "val")
    r = CliRunner().invoke(generate_cmd, [str(seq2seq_run), "--exact-match", "val"])
    assert r.exit_code == 0, r.output
    assert r.output.startswith(f"val: exact match {em.accuracy:.4f} ({em.correct}/{em.n} greedy replies")
    r = CliRunner().invoke(generate_cmd, [str(seq2seq_run)])
    assert r.exit_code == 2 and "give --prompt TEXT (or --exact-match test|val" in r.output
