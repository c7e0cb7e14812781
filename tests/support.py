"""Tools and data some tests need from the machine, and what a test does without them.

On a developer's machine a missing requirement skips the test with a one-line
reason, so ``python -m unittest -v`` passes on a fresh install. Under CI
(``CI=true`` in the environment) it fails the test instead: CI installs
everything, so a skip there would only hide a broken install.

Call the functions inside a test, or in ``setUpClass`` for a whole class.
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
