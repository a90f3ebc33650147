import argparse
import sys
import sysconfig


def test_argparse_is_the_standard_library():
    # lava-dl's unittest2 dependency installs a 2006 argparse backport that breaks pytest; setup removes it.
    assert argparse.__file__.startswith(sysconfig.get_paths()["stdlib"])
    argparse.ArgumentParser(allow_abbrev=False)


def test_python_is_310():
    assert sys.version_info[:2] == (3, 10)
