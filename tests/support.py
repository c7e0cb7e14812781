"""Tools and data some tests need from the machine, and what a test does without them.

On a developer's machine a missing requirement skips the test with a one-line
reason, so ``python -m unittest -v`` passes on a fresh install. Under CI
(``CI=true`` in the environment) it fails the test instead: CI installs
everything, so a skip there would only hide a broken install.

Call the functions inside a test, in ``setUp`` for each test of a class, or in
``setUpClass`` for a whole class at once.

PyTorch is one of these requirements: it is the reference the tests compare
with, installed by the ``reference`` extra, not by ``dev``. A test module
imports it in a ``try`` block (``torch = None`` without it), so that the
module's other tests run, and the tests that compare with it call
``require_torch()`` first.
"""

import os
import shutil
import unittest

from neural_networks.datasets import find_fashion_mnist


def on_ci():
    """True when ``CI=true`` is set, as CI services and ``.ci/run`` do."""
    return os.environ.get("CI") == "true"


def missing(reason):
    """Skip the running test with ``reason``; on CI, fail it.

    Raises
    ------
    unittest.SkipTest off CI, AssertionError on CI
    """
    if on_ci():
        raise AssertionError(f"{reason} (CI=true: a missing requirement fails, it does not skip)")
    raise unittest.SkipTest(reason)


def require_pdflatex():
    """The path of ``pdflatex``; skips (fails on CI) when it is not on the PATH.

    Returns
    -------
    str, the executable to run
    """
    path = shutil.which("pdflatex")
    if path is None:
        missing("pdflatex not found (Debian: apt-get install texlive-latex-base "
                "texlive-latex-recommended)")
    return path


def require_fashion_mnist():
    """The folder of the real Fashion-MNIST files, found as the loader finds it
    (``$FASHION_MNIST_DIR``, ``datasets/fashion_mnist/``, ``/usr/share/datasets/fashion-mnist``);
    skips (fails on CI) when no folder holds all four.

    Returns
    -------
    pathlib.Path
    """
    try:
        return find_fashion_mnist()
    except ValueError:
        missing("the Fashion-MNIST files are missing (Debian: apt-get install "
                "dataset-fashion-mnist)")


def require_torch():
    """The ``torch`` module; skips (fails on CI) when PyTorch is not installed.

    Returns
    -------
    module, ``torch``
    """
    try:
        import torch
    except ImportError:
        missing('torch is not installed: PyTorch is the reference this test compares with '
                '(pip install -e ".[reference]", the CPU wheel first: see the README)')
    return torch
