"""Hardware profile figures are range-checked: counts of hardware are whole and at least 1, energies and
times positive and bounded, so no figure can make a report say Infinity (issue 22, item 7)."""

from __future__ import annotations

import math

import pytest

from tna_deploy.errors import ConfigError
from tna_deploy.hardware.profile import FIELDS, PACKAGED, RANGES, load_profile


def _with(tmp_path, field: str, line: str):
    text = (PACKAGED / "loihi2.toml").read_text()
    head = f"[{field}]\n"
    start = text.index(head) + len(head)
    end = text.index("\n", start)  # the figure's first line is its value
    assert text[start:end].startswith("value = ")
    p = tmp_path / "mine.toml"
    rest = text[end:]
    stop = rest.find("\n[")
    own, after = (rest, "") if stop < 0 else (rest[:stop], rest[stop:])
    own = own.replace('status = "unknown"', 'status = "derived"')  # a figure of its own table only
    p.write_text(text[:start] + line + own + after)
    return p


@pytest.mark.parametrize(
    "field, line",
    [
        ("cores_per_chip", "value = 127.5"),
        ("cores_per_chip", "value = 0.001"),
        ("neurons_per_core", "value = 0"),
        ("energy_synop_pj", "value = 1e300"),
        ("energy_synop_pj", "value = 0"),
        ("timestep_seconds", "value = 1e30"),
        ("state_bits", "value = 24.5"),
    ],
)
def test_a_figure_out_of_its_range_is_one_line_naming_it(tmp_path, field, line):
    p = _with(tmp_path, field, line)
    with pytest.raises(ConfigError, match=f"mine.toml: field {field}: value must be a "):
        load_profile(str(p))


def test_value_max_is_range_checked_too(tmp_path):
    p = _with(tmp_path, "energy_synop_pj", "value = 1\nvalue_max = 1e200")
    with pytest.raises(ConfigError, match="field energy_synop_pj: value_max must be a number"):
        load_profile(str(p))


def test_the_packaged_profiles_are_within_range_and_every_field_has_one():
    for name in ("loihi1", "loihi2"):
        prof = load_profile(name)
        assert set(FIELDS) <= set(prof.figures) <= set(RANGES)
    assert set(load_profile("loihi2").figures) == set(RANGES)  # Loihi 2 has every optional one
    for _, _, hi in RANGES.values():  # every bound keeps energy x ops x seconds finite
        assert math.isfinite(hi * 1e18)
