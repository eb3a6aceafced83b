"""Config groups and presets of the apps: typos and bad values fail fast with a clear message."""

import time

import pytest
from hydra import compose, initialize_config_module
from hydra.errors import ConfigCompositionException
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, ValidationError

import rnnaccel.apps.batching  # noqa: F401  (registers the schemas)
import rnnaccel.apps.report  # noqa: F401
from rnnaccel.apps.evaluate import objective, validate

from .conftest import run_app

COMPOSE_ERRORS = (ConfigAttributeError, ConfigKeyError, ConfigCompositionException, ValidationError)


def cfg(name, overrides=(), hydra=False):
    with initialize_config_module("rnnaccel.conf", version_base="1.3"):
        return compose(name, overrides=list(overrides), return_hydra_config=hydra)


@pytest.mark.parametrize(
    "bad",
    [
        "memo.thetta=0.1",
        "precision.taux=1",
        "precision.tau=abc",
        "eval.hw=tpu",
        "memo=nope",
        "hw.chip.frequncy.value=3",
        "batching=nope",
    ],
)
def test_unknown_keys_and_types_fail_at_compose(bad):
    name = "batching" if bad.startswith("batching") else "evaluate"
    with pytest.raises(COMPOSE_ERRORS):
        cfg(name, [bad])


@pytest.mark.parametrize(
    "bad, msg",
    [
        (["memo=bnn", "memo.theta=-1"], "memo.theta=-1.0 is invalid"),
        (["precision=dynamic", "precision.tau=-0.5"], "precision.tau"),
        (["precision=dynamic", "precision.thresholds=[0.1,0.3]"], "non-increasing"),
        (["memo=bnn", "eval.mode=float"], "need eval.mode=emulate"),
        (["eval.baseline=sometimes"], "eval.baseline"),
        (["hw.chip.frequency.value=-3"], "frequency"),
        (["eval.checkpoint=missing.pt"], "no such file"),
    ],
)
def test_bad_values_are_refused_before_any_data(bad, msg):
    with pytest.raises(ValueError, match=msg):
        validate(cfg("evaluate", bad))


def test_bad_override_on_the_command_line_is_one_clear_line(tmp_path):
    t0 = time.time()
    p = run_app("evaluate", "memo=bnn", "memo.theta=-1", f"hydra.run.dir={tmp_path}")
    assert p.returncode != 0 and time.time() - t0 < 60
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith("rnnaccel-evaluate: invalid configuration: memo.theta=-1.0 is invalid"), p.stderr[-2000:]
    assert "Traceback" not in p.stderr and not (tmp_path / "result.json").exists()


def test_groups_compose_with_the_units_schemas():
    own = "data.test_speaker=theo"  # the default (speaker-disjoint) checkpoint's own split, said explicitly
    c = cfg("evaluate", [own, "memo=bnn", "memo.theta=0.2", "precision=dynamic", "hw=tpu", "memo.per_layer=[0.1,0.2]"])
    s = validate(c)
    assert s.memo.theta == 0.2 and s.memo.per_layer == [0.1, 0.2] and s.precision.mode == "dynamic"
    assert [h.kind for h in s.hw.values()] == ["tpu"]  # also_hw=[tpu] is the primary already
    assert [h.kind for h in validate(cfg("evaluate", [own])).hw.values()] == ["epur", "tpu"]
    b = cfg("batching", ["batching=padded", "batching.workload.rate=5"])
    assert b.batching.policy.name == "padded" and b.batching.workload.rate == 5.0


def test_launcher_and_sweeper_presets():
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    pytest.importorskip("hydra_plugins.hydra_optuna_sweeper")
    h = cfg("evaluate", ["hydra/launcher=slurm", "hydra.launcher.partition=gpu"], hydra=True).hydra
    assert "submitit" in h.launcher._target_.lower() and h.launcher.partition == "gpu"
    assert h.launcher.cpus_per_task == 2 and h.launcher.timeout_min == 60
    c = cfg("evaluate", ["+sweep=memo_per_layer_optuna"], hydra=True)
    assert "optuna" in c.hydra.sweeper._target_.lower() and c.hydra.sweeper.direction == "maximize"
    assert set(c.hydra.sweeper.params) == {"memo.per_layer.0", "memo.per_layer.1"} and c.memo.predictor == "bnn"
    c = cfg("evaluate", ["+sweep=memo_theta"], hydra=True)
    assert c.memo.predictor == "bnn" and c.hydra.sweeper.params["memo.theta"].startswith("0,")
    pytest.importorskip("hydra_plugins.hydra_ray_launcher")
    r = cfg("evaluate", ["hydra/launcher=ray_local"], hydra=True).hydra.launcher
    assert r.ray.init.num_cpus == 2 and r.ray.remote.num_cpus == 1


def test_objective_penalizes_loss_over_the_budget():
    r = {"cost": {"energy_saving": 0.3}, "accuracy_loss_pts": 0.2}
    assert objective(r, budget=0.5, penalty=1.0) == pytest.approx(0.3)
    assert objective(r | {"accuracy_loss_pts": 0.7}, 0.5, 1.0) == pytest.approx(0.1)
    assert objective(r | {"accuracy_loss_pts": 0.7}, 0.5, 10.0) == pytest.approx(-1.7)
    assert objective({"cost": None}, 0.5, 1.0) == 0.0
