"""tests/support.py: a missing requirement skips off CI and fails under CI=true."""

import os
import unittest
from pathlib import Path
from unittest import mock

from tests import support


class TestMissing(unittest.TestCase):
    def test_skips_off_ci(self):
        for value in (None, "", "false", "1"):
            env = {} if value is None else {"CI": value}
            with self.subTest(CI=value), mock.patch.dict(os.environ, env, clear=True):
                with self.assertRaisesRegex(unittest.SkipTest, "^no frobnicator$"):
                    support.missing("no frobnicator")

    def test_fails_on_ci(self):
        with mock.patch.dict(os.environ, {"CI": "true"}):
            with self.assertRaisesRegex(AssertionError, "no frobnicator.*CI=true"):
                support.missing("no frobnicator")


class TestRequirements(unittest.TestCase):
    def setUp(self):
        patch = mock.patch.dict(os.environ)
        patch.start()
        self.addCleanup(patch.stop)
        os.environ.pop("CI", None)

    def test_pdflatex_found_is_returned(self):
        with mock.patch.object(support.shutil, "which", return_value="/opt/tex/pdflatex"):
            self.assertEqual(support.require_pdflatex(), "/opt/tex/pdflatex")

    def test_pdflatex_missing(self):
        with mock.patch.object(support.shutil, "which", return_value=None):
            with self.assertRaisesRegex(unittest.SkipTest, "pdflatex.*texlive-latex-base"):
                support.require_pdflatex()
            os.environ["CI"] = "true"
            with self.assertRaisesRegex(AssertionError, "pdflatex"):
                support.require_pdflatex()

    def test_fashion_mnist_found_is_returned(self):
        with mock.patch.object(support, "find_fashion_mnist", return_value=Path("/data/fm")):
            self.assertEqual(support.require_fashion_mnist(), Path("/data/fm"))

    def test_fashion_mnist_missing(self):
        with mock.patch.object(support, "find_fashion_mnist", side_effect=ValueError("nowhere")):
            with self.assertRaisesRegex(unittest.SkipTest, "dataset-fashion-mnist"):
                support.require_fashion_mnist()
            os.environ["CI"] = "true"
            with self.assertRaisesRegex(AssertionError, "Fashion-MNIST"):
                support.require_fashion_mnist()


if __name__ == "__main__":
    unittest.main()
