"""Shared fixtures: small datasets written in the real on-disk formats."""

from __future__ import annotations

import importlib.util
import os

import pytest
from helpers import make_images, no_lava, no_slayer, tiny_config, write_idx

# The Lava-free suite (make test-lavafree): block every `lava` import here and in every Python the tests start
LAVA_FREE = os.environ.get("TNA_LAVA_FREE") == "1"
if LAVA_FREE:
    _site = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lavafree")
    _spec = importlib.util.spec_from_file_location(
        "tna_lavafree", os.path.join(_site, "sitecustomize.py")
    )
    _spec.loader.exec_module(importlib.util.module_from_spec(_spec))
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (_site, os.environ.get("PYTHONPATH")) if p
    )


def pytest_addoption(parser):
    parser.addoption(
        "--fuzz",
        action="store_true",
        default=False,
        help="fuzz the file readers for long (thousands of examples each; see tests/hardening/test_fuzz_readers.py)",
    )


def pytest_collection_modifyitems(config, items):
    """Tests marked ``lava`` or ``slayer`` skip, with the reason, where that part of Lava is missing."""
    why = {"lava": no_lava(), "slayer": no_slayer()}
    for item in items:
        for mark, reason in why.items():
            if reason and item.get_closest_marker(mark):
                item.add_marker(pytest.mark.skip(reason=reason))


def pytest_configure(config):
    """Hypothesis profiles of the reader fuzzing: a bounded, reproducible run by default, a long one with --fuzz."""
    try:
        from hypothesis import HealthCheck, settings
    except (
        ImportError
    ):  # hypothesis comes with the test extra; without it the fuzz tests are skipped
        return
    checks = [
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ]
    settings.register_profile(
        "tna-default",
        max_examples=30,
        deadline=None,
        derandomize=True,
        suppress_health_check=checks,
        database=None,
        print_blob=True,
    )
    settings.register_profile(
        "tna-fuzz", max_examples=2000, deadline=None, suppress_health_check=checks, print_blob=True
    )
    settings.load_profile("tna-fuzz" if config.getoption("--fuzz") else "tna-default")


@pytest.fixture(scope="session")
def fmnist_dir(tmp_path_factory) -> str:
    d = tmp_path_factory.mktemp("fmnist")
    for split, n, seed in (("train", 96, 1), ("t10k", 32, 2)):
        x, y = make_images(n, seed)
        write_idx(os.path.join(d, f"{split}-images-idx3-ubyte.gz"), x[..., 0])
        write_idx(os.path.join(d, f"{split}-labels-idx1-ubyte.gz"), y)
    return str(d)


@pytest.fixture
def tiny_cfg(fmnist_dir):
    return lambda **kw: tiny_config(fmnist_dir, **kw)


@pytest.fixture(scope="session")
def exported(fmnist_dir, tmp_path_factory):
    """A small trained run exported to netx: (run dir, netx path, a scratch folder)."""
    if no_slayer():
        pytest.skip(no_slayer())
    from tna_deploy.export import to_netx
    from tna_deploy.train.loop import train

    d = tmp_path_factory.mktemp("sim")
    train(tiny_config(fmnist_dir, arch="4C3-8C3-AP2-16FC", timesteps=4, seed=1), str(d / "run"))
    to_netx(str(d / "run"), str(d / "net.net"))
    return str(d / "run"), str(d / "net.net"), d
