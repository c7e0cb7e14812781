"""tests/support.py: a missing requirement skips off CI and fails under CI=true,
and the test modules that compare with PyTorch do so without it."""

import json
import os
import subprocess
import sys
import textwrap
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

    def test_torch_found_is_returned(self):
        fake = object()
        with mock.patch.dict(sys.modules, {"torch": fake}):
            self.assertIs(support.require_torch(), fake)

    def test_torch_missing(self):
        # None in sys.modules makes ``import torch`` raise ImportError, as without PyTorch.
        with mock.patch.dict(sys.modules, {"torch": None}):
            with self.assertRaisesRegex(unittest.SkipTest, "^torch is not installed") as caught:
                support.require_torch()
            reason = str(caught.exception)
            self.assertNotIn("\n", reason)  # unittest -v shows it on the test's line
            self.assertIn('pip install -e ".[reference]"', reason)
            os.environ["CI"] = "true"
            with self.assertRaisesRegex(AssertionError, "torch is not installed.*CI=true"):
                support.require_torch()


REPO_ROOT = Path(__file__).resolve().parent.parent

#: Loads every test module with ``import torch`` failing, as without PyTorch, and
#: runs the tests whose name says torch, off CI and then under CI=true; not this
#: module's own, which would start the probe again.
WITHOUT_TORCH = textwrap.dedent("""
    import json, os, sys, unittest

    # An import finder ahead of the others that answers torch with ImportError
    # (None in sys.modules would too, but scipy reads sys.modules["torch"]).
    class NoTorch:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] == "torch":
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None

    sys.meta_path.insert(0, NoTorch())

    def flat(suite):
        for item in suite:
            yield from flat(item) if isinstance(item, unittest.TestSuite) else [item]

    outcome = {}
    for ci in ("false", "true"):
        os.environ["CI"] = ci
        loader = unittest.TestLoader()
        loader.testNamePatterns = ["*torch*", "*Torch*"]
        tests = [test for test in flat(loader.discover("tests", top_level_dir="."))
                 if not test.id().startswith("tests.test_support.")]
        result = unittest.TestResult()
        unittest.TestSuite(tests).run(result)
        outcome[ci] = dict(run=result.testsRun,
                           skipped=[[str(test), reason] for test, reason in result.skipped],
                           failed=[str(test) for test, _ in result.errors + result.failures])
    print(json.dumps(outcome))
""")


class TestWithoutTorch(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        proc = subprocess.run([sys.executable, "-c", WITHOUT_TORCH], cwd=REPO_ROOT, env=env,
                              capture_output=True, text=True, timeout=300)
        if proc.returncode != 0:
            raise AssertionError(proc.stderr)
        cls.outcome = json.loads(proc.stdout.splitlines()[-1])

    def test_every_test_module_loads_and_the_torch_tests_skip_off_ci(self):
        off_ci = self.outcome["false"]
        # A module that cannot be imported would be a failed test here.
        self.assertEqual(off_ci["failed"], [])
        # The eleven tests against torch in test_functional, test_properties,
        # test_optimizers and test_datasets, at the least.
        self.assertGreaterEqual(len(off_ci["skipped"]), 11, off_ci["skipped"])
        for test, reason in off_ci["skipped"]:
            with self.subTest(test=test):
                self.assertRegex(reason, r"^torch is not installed[^\n]*$")

    def test_the_torch_tests_fail_on_ci(self):
        on_ci = self.outcome["true"]
        self.assertEqual(on_ci["skipped"], [])
        self.assertEqual(len(on_ci["failed"]), len(self.outcome["false"]["skipped"]))


if __name__ == "__main__":
    unittest.main()
