"""Small hardening (issue 10, #10): a refused --out keeps its temp files, a ./hardware/ folder does not
shadow the packaged profiles, written files honour the umask."""

import json
import os
import pathlib
import subprocess

import pytest
from click.testing import CliRunner
from helpers import TINY_ARCH, tiny_config

from tna_deploy.atomic import write_json
from tna_deploy.cli import main
from tna_deploy.errors import ConfigError
from tna_deploy.hardware.profile import PACKAGED, load_profile
from tna_deploy.train.loop import check_run_dir


def _one_line(res, *words):
    assert res.exit_code == 2 and "Traceback" not in res.stderr, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and all(w in lines[0] for w in words), res.stderr


def test_refused_out_keeps_its_temp_files(fmnist_dir, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    cfg = tiny_config(fmnist_dir)
    (out / "config.json").write_text(json.dumps(cfg.resolved()))
    dead = subprocess.Popen(["true"])
    dead.wait()
    tmp = out / f".tmp-{dead.pid}-keepme"  # what a writer killed mid-write leaves (pid-named)
    tmp.write_bytes(b"a half-written file")
    res = CliRunner().invoke(main, ["train", "--out", str(out), "--resume", "--epochs", "7"])
    _one_line(res, "different config", "epochs")
    assert tmp.exists()
    (out / "checkpoint.pt").write_bytes(
        b"not read: a fresh run into a run directory is refused first"
    )
    res = CliRunner().invoke(
        main, ["train", "--data-dir", fmnist_dir, "--arch", TINY_ARCH, "--out", str(out)]
    )
    _one_line(res, "already holds a run")
    assert tmp.exists()
    (out / "checkpoint.pt").unlink()
    check_run_dir(cfg, str(out), resume=True)  # accepted: now the leftover of a killed write goes
    assert not tmp.exists()


def test_packaged_profile_wins_over_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "hardware").mkdir()
    fake = (
        (PACKAGED / "loihi2.toml").read_text().replace('name = "Loihi 2"', 'name = "Fake chip"', 1)
    )
    (tmp_path / "hardware" / "loihi2.toml").write_text(fake)
    (tmp_path / "mine.toml").write_text(fake)
    p = load_profile("loihi2")
    assert p.name == "Loihi 2" and pathlib.Path(p.path) == PACKAGED / "loihi2.toml"
    for given in (
        "hardware/loihi2.toml",
        "./hardware/loihi2.toml",
        "mine.toml",
        str(tmp_path / "mine.toml"),
    ):
        assert load_profile(given).name == "Fake chip", given
    with pytest.raises(ConfigError, match="unknown profile; choose one of loihi1, loihi2"):
        load_profile("mine")


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_honour_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        write_json(str(tmp_path / "new.json"), {"a": 1})
    finally:
        os.umask(old)
    assert os.stat(tmp_path / "new.json").st_mode & 0o777 == mode


def test_rewritten_file_keeps_its_mode(tmp_path):
    p = tmp_path / "kept.json"
    p.write_text("{}")
    os.chmod(p, 0o640)
    write_json(str(p), {"b": 2})
    assert os.stat(p).st_mode & 0o777 == 0o640 and json.loads(p.read_text()) == {"b": 2}


def test_train_help_defaults_come_from_the_config():
    """Every ``[default]`` the train help shows for a config field is that field's dataclass default."""
    import re

    from tna_deploy.cli import train
    from tna_deploy.train.config import TrainConfig

    defaults = {f: v.default for f, v in TrainConfig.__dataclass_fields__.items()}
    checked = 0
    for p in train.params:
        m = re.search(r"\[([^\]]*)\]\.?$", p.help or "")
        if p.name not in defaults or not m or defaults[p.name] is None:
            continue
        v = defaults[p.name]
        want = ("on" if v else "off") if isinstance(v, bool) else v
        assert m.group(1).split(":")[-1].strip() == str(want), (p.name, p.help)
        checked += 1
    assert checked >= 15
    assert (
        "[4]" in next(p.help for p in train.params if p.name == "input_bits")
        and TrainConfig.input_bits == 4
    )
