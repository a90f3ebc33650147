import argparse
import sys
import sysconfig

from helpers import no_lava


def test_argparse_is_the_standard_library():
    # lava-dl's unittest2 dependency installs a 2006 argparse backport that breaks pytest; setup removes it.
    assert argparse.__file__.startswith(sysconfig.get_paths()["stdlib"])
    argparse.ArgumentParser(allow_abbrev=False)


def test_python_is_one_tna_deploy_supports_and_310_where_lava_runs():
    # pyproject's requires-python; Lava (lava-nc 0.10) runs on CPython 3.10 only
    assert (3, 10) <= sys.version_info[:2] <= (3, 13)
    if no_lava() is None:
        assert sys.version_info[:2] == (3, 10)
