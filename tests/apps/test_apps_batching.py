"""rnnaccel-batching: one simulation or a load sweep from the batching config group."""

import json

import pytest
from hydra import compose, initialize_config_module

from rnnaccel.apps import batching


def cfg(overrides):
    with initialize_config_module("rnnaccel.conf", version_base="1.3"):
        return compose("batching", overrides=list(overrides))


def test_one_simulation(tmp_path):
    out = tmp_path / "b.json"
    r = batching.run(cfg(["batching=ebatch", "batching.workload.num_requests=60", f"run.output={out}"]))
    on_disk = json.loads(out.read_text())
    assert on_disk["complete"] and on_disk["requests"] == 60 and on_disk["policy"] == "ebatch"
    assert on_disk["energy_per_seq_j"] == r["energy_per_seq_j"] > 0
    assert (
        set(on_disk["energy_j"]) >= {"dram", "sram", "compute"} and on_disk["config"]["batching"]["platform"] == "epur"
    )


def test_load_sweep_table(tmp_path):
    out = tmp_path / "s" / "sweep.json"
    r = batching.run(
        cfg(
            [
                "batching.workload.num_requests=40",
                "run.loads=[0.5]",
                "run.policies=[padded,ebatch]",
                "run.platforms=[tpu]",
                "run.plots=false",
                f"run.output={out}",
            ]
        )
    )
    assert [(x["platform"], x["policy"]) for x in r["rows"]] == [("tpu", "padded"), ("tpu", "ebatch")]
    assert "| tpu | 0.5 | ebatch |" in out.with_suffix(".md").read_text()


def test_bad_value_is_refused():
    with pytest.raises(ValueError, match="workload.rate"):
        batching.run(cfg(["batching.workload.rate=-1"]))
