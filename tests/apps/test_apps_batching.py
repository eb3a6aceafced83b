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


def test_throughput_latency_figures_use_the_paper_style(tmp_path):
    """PDF + SVG + PNG (>= 200 dpi) per platform, one colour/marker per policy, the hardware with its
    operating point and the workload in the title."""
    from PIL import Image

    from rnnaccel.serving import load_batching_config

    bc = load_batching_config("ebatch")
    rows = [
        {"platform": plat, "policy": pol, "load": ld, "throughput_seq_s": 10 * ld + i, "latency_p95_s": 0.1 * ld + i}
        | {"energy_per_seq_j": 0.01 / (1 + ld)}
        for plat in ("epur", "tpu")
        for i, pol in enumerate(("none", "cellular", "ebatch"))
        for ld in (0.3, 0.7)
    ]
    pngs = batching.plot_throughput_latency(rows, tmp_path, batching.workload_caption(bc))
    assert [p.name for p in pngs] == ["throughput_latency_epur.png", "throughput_latency_tpu.png"]
    for p in pngs:
        assert p.with_suffix(".pdf").is_file() and p.with_suffix(".svg").is_file()
        assert Image.open(p).info["dpi"][0] >= 199
    svg = (tmp_path / "throughput_latency_epur.svg").read_text()
    assert "E-PUR (28 nm, 500 MHz" in svg and "5x320 LSTM on 40 inputs" in svg and "p95 latency (s)" in svg
    assert len({c for c in ("#0072B2", "#E69F00", "#009E73") if c.lower() in svg.lower()}) == 3
