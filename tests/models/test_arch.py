import pytest

from tna_deploy.errors import ConfigError
from tna_deploy.models.arch import LayerSpec, parse_arch, scale_arch
from tna_deploy.train.config import CIFARNET


def test_cifarnet_parses():
    specs = parse_arch(CIFARNET)
    assert [s.token() for s in specs] == CIFARNET.split("-")
    assert specs[0] == LayerSpec("conv", 128, 3) and specs[2] == LayerSpec("pool", 2)
    assert specs[-1] == LayerSpec("dense", 512)


def test_width_scales_channels_not_pools():
    specs = scale_arch(parse_arch("128C3-AP2-512FC"), 0.125)
    assert [s.token() for s in specs] == ["16C3", "AP2", "64FC"]


@pytest.mark.parametrize("arch", ["", "128X3", "128C3--AP2", "512FC-64C3", "0C3"])
def test_bad_architecture_strings(arch):
    with pytest.raises(ConfigError, match="arch"):
        parse_arch(arch)


def test_recipes_from_models_folder(tmp_path):
    assert [s.token() for s in parse_arch("cifarnet")] == CIFARNET.split("-")
    p = tmp_path / "mine.arch"
    p.write_text("# comment\n8C3-AP2-16FC\n")
    assert [s.token() for s in parse_arch(str(p))] == ["8C3", "AP2", "16FC"]
    with pytest.raises(ConfigError, match="no such file"):
        parse_arch(str(tmp_path / "none.arch"))
    with pytest.raises(ConfigError, match="does not parse"):
        parse_arch("nosuchrecipe")
