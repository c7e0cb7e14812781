"""Tests of the packaging in pyproject.toml: the runtime dependencies are what
the package imports (so ``pip install .`` brings no PyTorch), the tests'
imports are in the ``dev`` extra but PyTorch, which has the ``reference`` extra
to itself (so ``pip install -e ".[dev]"`` brings no PyTorch either), the Iris
splits ship as package data, and the training scripts run as modules of the
package from any folder.
"""

import ast
import fnmatch
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the dev extra brings tomli
    import tomli as tomllib

import neural_networks
import neural_networks.train_cifar10
import neural_networks.train_fashion_mnist
import neural_networks.train_ffnn

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGE = REPO_ROOT / "neural_networks"
with open(REPO_ROOT / "pyproject.toml", "rb") as _f:
    PYPROJECT = tomllib.load(_f)
PROJECT = PYPROJECT["project"]

#: Import names whose distribution is called otherwise (CuPy: the gpu extra's wheel).
DISTRIBUTIONS = {"sklearn": "scikit-learn", "PIL": "Pillow", "cupy": "cupy-cuda12x"}

#: Dependencies declared before the code that imports them is committed
#: (``sklearn.metrics`` in ``NeuralNetwork.evaluate``). Empty this once it is in.
DECLARED_AHEAD = set()


def normalize(name):
    """A distribution name as PyPI compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement):
    """``"torch==2.13.0"`` -> ``"torch"``; ``'tomli; python_version < "3.11"'`` -> ``"tomli"``."""
    return normalize(re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement).group())


def imported_distributions(folder):
    """The third-party distributions the .py files under ``folder`` import,
    wherever the import stands (top of the file, a function, a try block).

    The standard library, ``neural_networks``, the ``tests`` package and the
    modules that sit in ``folder`` itself are left out.
    """
    local = {"neural_networks", "tests"} | {p.stem for p in Path(folder).glob("*.py")}
    found = set()
    for path in Path(folder).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in local:
                    found.add(normalize(DISTRIBUTIONS.get(top, top)))
    return found


def declared(requirements):
    return {requirement_name(r) for r in requirements}


def load_script(name):
    """A top-level script of the checkout, loaded as a module (its __main__ block not run)."""
    spec = importlib.util.spec_from_file_location(f"{name}_script", REPO_ROOT / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class TestImportScanner(unittest.TestCase):
    def test_finds_third_party_imports_anywhere_and_nothing_else(self):
        with tempfile.TemporaryDirectory() as tmp:
            Path(tmp, "helper.py").write_text("X = 1\n")
            Path(tmp, "sub").mkdir()
            Path(tmp, "sub", "code.py").write_text(textwrap.dedent("""\
                import os
                import numpy as np
                from . import helper
                import helper
                from neural_networks import runs

                def f():
                    from sklearn.metrics import accuracy_score
                    try:
                        import PIL.Image
                    except ImportError:
                        pass
                    import matplotlib.figure
                """))
            self.assertEqual(imported_distributions(tmp),
                             {"numpy", "scikit-learn", "pillow", "matplotlib"})

    def test_requirement_names(self):
        self.assertEqual(requirement_name("torch==2.13.0"), "torch")
        self.assertEqual(requirement_name('tomli; python_version < "3.11"'), "tomli")
        self.assertEqual(requirement_name("Scikit_Learn>=1.0"), "scikit-learn")


class TestDependencies(unittest.TestCase):
    def test_every_package_the_library_imports_is_a_dependency(self):
        # CuPy is imported only when a GPU is asked for: the gpu extra's.
        missing = imported_distributions(PACKAGE) - declared(PROJECT["dependencies"])
        self.assertEqual(missing, {"cupy-cuda12x"}, "imported by neural_networks/ but not in "
                                                    "[project] dependencies")

    def test_the_gpu_extra_is_cupy_for_cuda_12_and_nothing_else_needs_it(self):
        self.assertEqual(PROJECT["optional-dependencies"]["gpu"], ["cupy-cuda12x"])
        self.assertFalse(any(name.startswith("cupy") for name in
                             declared(PROJECT["dependencies"]
                                      + PROJECT["optional-dependencies"]["dev"])))

    def test_every_dependency_is_imported_by_the_library(self):
        unused = declared(PROJECT["dependencies"]) - imported_distributions(PACKAGE)
        self.assertEqual(unused - DECLARED_AHEAD, set(),
                         "in [project] dependencies but imported nowhere in neural_networks/")

    def test_installing_the_library_pulls_no_pytorch(self):
        self.assertNotIn("torch", declared(PROJECT["dependencies"]))

    def test_installing_the_test_tools_pulls_no_pytorch(self):
        # The README's test command; the tests that compare with PyTorch skip without it.
        self.assertNotIn("torch", declared(PROJECT["optional-dependencies"]["dev"]))

    def test_reference_extra_is_the_pinned_pytorch(self):
        self.assertEqual(PROJECT["optional-dependencies"]["reference"], ["torch==2.13.0"])

    def test_ci_installs_the_reference_extra_too(self):
        # Under CI=true a test without PyTorch fails (tests/support.py), so CI needs it.
        installs = re.findall(r'pip install .*-e "\.\[([\w,]+)\]"',
                              (REPO_ROOT / ".ci" / "run").read_text())
        self.assertEqual(len(installs), 1, installs)
        self.assertEqual(set(installs[0].split(",")), {"dev", "reference"})

    def test_what_the_tests_and_benchmarks_import_is_in_the_dev_extra_but_pytorch(self):
        available = declared(PROJECT["dependencies"] + PROJECT["optional-dependencies"]["dev"])
        for folder in ("tests", "benchmarks"):
            with self.subTest(folder=folder):
                self.assertEqual(imported_distributions(REPO_ROOT / folder) - available,
                                 {"torch"})

    def test_notebook_extra_brings_a_notebook_server_and_a_kernel(self):
        self.assertEqual(declared(PROJECT["optional-dependencies"]["notebook"]),
                         {"notebook", "ipykernel"})

    def test_python_versions_agree(self):
        # torch 2.13.0 (the reference pin) needs Python 3.10; ruff checks for the same version.
        self.assertEqual(PROJECT["requires-python"], ">=3.10")
        self.assertEqual(PYPROJECT["tool"]["ruff"]["target-version"], "py310")


class TestImportCost(unittest.TestCase):
    """Importing the library is cheap: matplotlib loads where a picture is drawn, and
    scikit-learn where a metric is made, not at ``import neural_networks``."""

    def test_import_loads_neither_matplotlib_nor_scikit_learn(self):
        code = ("import sys, neural_networks; "
                "print(sorted(m for m in ('matplotlib', 'sklearn') if m in sys.modules))")
        proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                              text=True, timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout.strip(), "[]")


class TestPackageContents(unittest.TestCase):
    def test_every_package_is_found(self):
        include = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
        packages = [".".join(p.parent.relative_to(REPO_ROOT).parts)
                    for p in PACKAGE.rglob("__init__.py")]
        self.assertIn("neural_networks.datasets", packages)
        for package in packages:
            self.assertTrue(any(fnmatch.fnmatchcase(package, pattern) for pattern in include),
                            package)

    def test_iris_splits_are_package_data(self):
        patterns = PYPROJECT["tool"]["setuptools"]["package-data"]["neural_networks.datasets"]
        folder = PACKAGE / "datasets"
        splits = sorted((folder / "iris_splits").iterdir())
        self.assertEqual(len(splits), 6)  # data and labels of train, validation, test
        for path in splits:
            relative = path.relative_to(folder).as_posix()
            self.assertTrue(any(fnmatch.fnmatchcase(relative, p) for p in patterns), relative)

    def test_version_is_the_packages(self):
        self.assertIn("version", PROJECT["dynamic"])
        self.assertNotIn("version", PROJECT)
        self.assertEqual(PYPROJECT["tool"]["setuptools"]["dynamic"]["version"],
                         {"attr": "neural_networks.__version__"})
        self.assertRegex(neural_networks.__version__, r"^\d+\.\d+\.\d+$")

    def test_licence_file_is_mit_and_declared(self):
        self.assertEqual(PROJECT["license"], "MIT")
        self.assertEqual(PROJECT["license-files"], ["LICENSE"])
        self.assertTrue((REPO_ROOT / "LICENSE").read_text().startswith("MIT License"))


class TestScriptsAsModules(unittest.TestCase):
    """``python -m neural_networks.<script>`` runs from any folder; the top-level
    scripts are the same entry points."""

    def run_module(self, module, *args, cwd):
        # PYTHONPATH stands in for an installed copy, so an uninstalled checkout tests too.
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env,
                              capture_output=True, text=True, timeout=300)

    def test_iris_trains_from_another_folder(self):
        with tempfile.TemporaryDirectory() as tmp:
            proc = self.run_module("neural_networks.train_ffnn", "--epochs", "3",
                                   "--save-dir", "runs", cwd=tmp)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertRegex(proc.stdout.strip().splitlines()[-1],
                             r"^Test accuracy: \d\.\d{4} \(test error \d\.\d{4}\)$")
            self.assertTrue(Path(tmp, "runs", "iris_ffnn", "last.npz").is_file())

    def test_image_scripts_answer_help_from_another_folder(self):
        for module, script, option in [
            ("neural_networks.train_fashion_mnist", "train_fashion_mnist.py",
             r"--model \{cnn,mlp\}"),
            ("neural_networks.train_cifar10", "train_cifar10.py", r"--test-file"),
        ]:
            with self.subTest(module=module), tempfile.TemporaryDirectory() as tmp:
                proc = self.run_module(module, "--help", cwd=tmp)
                self.assertEqual(proc.returncode, 0, proc.stderr)
                self.assertTrue(proc.stdout.startswith(f"usage: {script}"), proc.stdout)
                self.assertRegex(proc.stdout, rf"(?m)^  {option}")

    def test_top_level_scripts_call_the_package(self):
        script = load_script("train_ffnn")
        self.assertIs(script.main, neural_networks.train_ffnn.main)
        self.assertIs(script.parse_args, neural_networks.train_ffnn.parse_args)
        self.assertIs(load_script("train_fashion_mnist").main,
                      neural_networks.train_fashion_mnist.main)
        self.assertIs(load_script("train_cifar10").main, neural_networks.train_cifar10.main)


if __name__ == "__main__":
    unittest.main()
