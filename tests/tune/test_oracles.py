"""builder.tune.oracles: the coarse-to-fine oracle, driven without training."""


def _run_oracle(oracle, score, n):
    """Drive a Keras Tuner oracle without training: ``score(values)`` is the objective."""
    import keras_tuner as kt

    ids = []
    for i in range(n):
        trial = oracle.create_trial(f"t{i}")
        if trial.status != kt.engine.trial.TrialStatus.RUNNING:
            break
        oracle.update_trial(trial.trial_id, {"obj": score(trial.hyperparameters.values)})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
        ids.append(trial.trial_id)
    return ids


def test_coarse_to_fine_narrows_around_the_best_trials_and_stays_in_range(tmp_path):
    import keras_tuner as kt

    from builder.tune.oracles import CoarseToFineOracle

    hp = kt.HyperParameters()
    hp.Float("lr", 1e-5, 1.0, sampling="log")
    hp.Int("units", 8, 512)
    hp.Choice("act", ["relu", "tanh", "gelu"])
    oracle = CoarseToFineOracle(objective=kt.Objective("obj", "min"), max_trials=30, rounds=3, top_k=3,
                                shrink=0.3, seed=1, hyperparameters=hp)
    oracle._set_project_dir(str(tmp_path), "p")
    target = 3e-3
    import math

    ids = _run_oracle(oracle, lambda v: abs(math.log10(v["lr"]) - math.log10(target)) + (v["act"] != "gelu"), 30)
    assert len(ids) == 30
    values = [oracle.trials[i].hyperparameters.values for i in ids]
    assert all(1e-5 <= v["lr"] <= 1.0 and 8 <= v["units"] <= 512 for v in values)
    box = oracle.boxes["2"]
    lo, hi = box["lr"]
    assert 0 <= lo < hi <= 1 and hi - lo < 0.5  # the unit-interval box shrank
    round3 = values[20:]
    lr_in_box = [hp.space[0].value_to_prob(v["lr"]) for v in round3]
    assert all(lo - 1e-9 <= p <= hi + 1e-9 for p in lr_in_box)
    assert {v["act"] for v in round3} <= set(box["act"])
    # the narrowed rounds find a better objective than the coarse round
    scores = [oracle.trials[i].score for i in ids]
    assert min(scores[10:]) <= min(scores[:10])
    state = oracle.get_state()
    assert state["boxes"]["2"] == box  # saved in oracle.json, so a resumed search keeps its box


def test_coarse_to_fine_uses_its_whole_budget_when_the_box_runs_out_of_points(tmp_path):
    import keras_tuner as kt

    from builder.tune.oracles import CoarseToFineOracle

    hp = kt.HyperParameters()
    hp.Choice("a", [1, 2, 3])
    hp.Choice("b", [1, 2])
    oracle = CoarseToFineOracle(objective=kt.Objective("obj", "min"), max_trials=6, rounds=2, top_k=1,
                                seed=3, hyperparameters=hp)
    oracle._set_project_dir(str(tmp_path), "p")
    ids = _run_oracle(oracle, lambda v: v["a"] + v["b"], 6)
    assert len(ids) == 6  # all six distinct points, though round 2's box holds only one
    assert len({(oracle.trials[i].hyperparameters.values["a"], oracle.trials[i].hyperparameters.values["b"])
                for i in ids}) == 6
