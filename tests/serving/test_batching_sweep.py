"""Load sweep rows, the Markdown table and the per-platform throughput-latency plots."""

from rnnaccel.serving.sweep import format_table, load_sweep, plot_throughput_latency, reference_rate


def test_sweep_rows_table_and_plots(tmp_path):
    cfg = {
        "network": {"num_layers": 2, "input_size": 16, "hidden_size": 64},
        "workload": {"lengths": "multi30k_test2016_en"},
        "policy": {"max_batch": 8, "steps_max": 32},
    }
    rows = load_sweep(cfg, loads=(0.2, 0.8), policies=("padded", "ebatch"), num_requests=200)
    assert len(rows) == 2 * 2 * 2 and {r["platform"] for r in rows} == {"epur", "tpu"}
    for r in rows:
        assert r["throughput_seq_s"] > 0 and r["latency_p95_s"] >= r["latency_p50_s"] > 0
        if r["load"] < 0.5:  # well below capacity the achieved throughput follows the offered rate
            assert r["throughput_seq_s"] > 0.5 * r["rate"]
    assert reference_rate(cfg) > 0
    assert format_table(rows).count("\n") == len(rows) + 1
    paths = plot_throughput_latency(rows, tmp_path)
    assert [p.name for p in paths] == ["throughput_latency_epur.png", "throughput_latency_tpu.png"]
    assert all(p.stat().st_size > 10_000 for p in paths)
