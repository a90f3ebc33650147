"""No reader in the package unpickles what it reads, except through an allow-list (issue 10, #2).

A source scan: a new ``pickle.load``, ``torch.load`` without ``weights_only=True`` or
``np.load(..., allow_pickle=True)`` fails here and has to be made safe or allow-listed by name."""

import pathlib
import re

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "tna_deploy"
ALLOWED_UNPICKLER = {"data/cifar.py"}  # BatchUnpickler: numpy arrays and plain data only


def _calls(text: str, name: str) -> list[str]:
    """The argument text of every call ``name(...)`` (balanced parentheses)."""
    out = []
    for m in re.finditer(re.escape(name) + r"\s*\(", text):
        depth, i = 1, m.end()
        while depth and i < len(text):
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        out.append(text[m.end() : i - 1])
    return out


def test_no_reader_unpickles_outside_the_allow_list():
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        text = path.read_text()
        if rel not in ALLOWED_UNPICKLER and re.search(
            r"\bpickle\.(loads?|Unpickler)\b|\bdill\b|\bjoblib\b", text
        ):
            bad.append(f"{rel}: pickle")
        bad += [
            f"{rel}: torch.load({a[:40]})"
            for a in _calls(text, "torch.load")
            if "weights_only=True" not in a
        ]
        bad += [
            f"{rel}: np.load({a[:40]})"
            for a in _calls(text, "np.load") + _calls(text, "numpy.load")
            if "allow_pickle=True" in a.replace(" ", "")
        ]
    assert not bad, bad


def test_the_scan_sees_what_it_looks_for():
    assert _calls("x = torch.load(f(a), map_location='cpu')", "torch.load") == [
        "f(a), map_location='cpu'"
    ]
