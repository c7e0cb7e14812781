"""Every command and Python block of README.md, run as a reader would run them.

The README is read top to bottom. Each fenced ``bash`` block is a list of
commands (one a line; ``&&`` chains run in order; a trailing ``# ...`` is a
comment) and each fenced ``python`` block a program. They run in document
order, in one copy of the repository in a temporary folder (so the runs the
README starts land there, and a later block finds the run an earlier command
made), with a home folder and a download folder of their own:

- ``pip install ...`` runs with ``--dry-run``: pip resolves it against the
  package indexes and the copy's pyproject.toml, installing nothing (the
  environment running the tests is already installed that way).
- ``python ...`` runs as written, through ``bash -c`` (so ``~`` expands).
- Fashion-MNIST comes from a loopback mirror (``NEURAL_NETWORKS_MIRROR``)
  serving small files in the official format, so ``--download`` really
  downloads; ``FASHION_MNIST_DIR`` names the folder they go to. CIFAR-10 is
  a small copy in the official format at ``~/data/cifar-10-batches-py``.
  The official MD5s of Fashion-MNIST are swapped for the small files' by a
  ``sitecustomize`` module that only the README's commands see.
- Python blocks run as programs from the copy's top folder.
- ``python -m unittest ...``, the test command, is not run again from inside
  the tests: the test checks that ``.ci/run`` runs it exactly as written.

Every command must exit with status 0 unless ``EXPECTED_STATUS`` says
otherwise, and any command the harness has no rule for fails the test, so a
new README line is either run here or consciously left out of a code block.
"""

import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

import numpy as np

from tests.support import missing
from tests.test_datasets_cifar10 import make_batches, write_folder
from tests.test_datasets_fashion_mnist import write_fashion_mnist
from tests.test_download import Mirror, md5_of

REPO_ROOT = Path(__file__).resolve().parent.parent
README = REPO_ROOT / "README.md"

#: Commands that end with another status than 0 on purpose, and a text their
#: output must then hold.
EXPECTED_STATUS = {} if importlib.util.find_spec("cupy") else {
    "python train_fashion_mnist.py --model cnn --device gpu": (2, "needs CuPy"),
}

#: Commands whose output the README quotes: a function of their stdout giving the
#: lines the README must hold word for word (the figures it reports are the run's).
QUOTED_OUTPUT = {
    "python train_ffnn.py": lambda out: [out.splitlines()[-1]],
    "python train_ffnn.py --sweep": lambda out: [line for line in out.splitlines()
                                                 if line.startswith(("| 0.", "Chosen by"))],
}

#: What is left out of the copy of the repository.
NOT_COPIED = shutil.ignore_patterns(".git", "experiments", "__pycache__", "*.egg-info", "build",
                                    "dist", ".hypothesis", ".ipynb_checkpoints", ".whl", ".gl")

#: Small Fashion-MNIST: the loaders' default validation split holds out 10,000
#: training images, so the training split has a few hundred more.
N_FASHION_TRAIN, N_FASHION_TEST = 10_240, 200

SITECUSTOMIZE = '''\
"""Seen only by the README's commands: the small files' MD5s replace the official ones."""
import json, os
_md5 = os.environ.get("README_TEST_MD5")
if _md5:
    from neural_networks.datasets import download as _download
    for _name, _table in json.loads(_md5).items():
        _download.SOURCES[_name] = _download.SOURCES[_name]._replace(md5=_table)
'''


def code_blocks(text):
    """The fenced blocks of a Markdown text: a list of (language, code, line number)."""
    blocks, language, lines, start = [], None, [], 0
    for number, line in enumerate(text.splitlines(), start=1):
        fence = re.match(r"^```(\w*)\s*$", line)
        if fence and language is None:
            language, lines, start = fence.group(1), [], number
        elif line.startswith("```") and language is not None:
            blocks.append((language, "\n".join(lines) + "\n", start))
            language = None
        elif language is not None:
            lines.append(line)
    if language is not None:
        raise ValueError(f"README.md: the code block opened at line {start} is never closed")
    return blocks


def commands(code):
    """The commands of a bash block: comments dropped, ``&&`` chains split."""
    found = []
    for line in code.splitlines():
        line = re.sub(r"(^|\s)#.*$", "", line).strip()
        if line:
            found += [part.strip() for part in line.split("&&")]
    return found


def write_sitecustomize(folder, md5):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return {"README_TEST_MD5": json.dumps(md5)}


class TestReadme(unittest.TestCase):
    """The README, run from the first line to the last."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = Path(tempfile.mkdtemp(prefix="readme-"))
        cls.addClassCleanup(shutil.rmtree, cls.tmp, ignore_errors=True)
        cls.checkout = cls.tmp / "neural_networks-checkout"
        shutil.copytree(REPO_ROOT, cls.checkout, ignore=NOT_COPIED)
        home = cls.tmp / "home"
        # Small data in the official formats: a mirror of Fashion-MNIST, CIFAR-10 in ~/data.
        served = cls.tmp / "mirror" / "fashion_mnist"
        rng_images = np.random.default_rng(0)
        images = rng_images.integers(0, 256, (N_FASHION_TRAIN + N_FASHION_TEST, 28, 28),
                                     dtype="uint8")
        labels = rng_images.integers(0, 10, N_FASHION_TRAIN + N_FASHION_TEST, dtype="uint8")
        write_fashion_mnist(served, images[:N_FASHION_TRAIN], labels[:N_FASHION_TRAIN],
                            images[N_FASHION_TRAIN:], labels[N_FASHION_TRAIN:])
        write_folder(home / "data", make_batches(per_batch=1100, n_test=100))
        cls.mirror = Mirror(cls.tmp / "mirror")
        cls.addClassCleanup(cls.mirror.close)
        md5 = {"fashion_mnist": {p.name: md5_of(p) for p in served.iterdir()}}
        site = cls.tmp / "site"
        cls.env = {
            **{k: v for k, v in os.environ.items()
               if k not in ("FASHION_MNIST_DIR", "MNIST_DIR", "CIFAR10_DIR", "PYTHONPATH")},
            "HOME": str(home),
            "XDG_CACHE_HOME": str(cls.tmp / "cache"),
            "NEURAL_NETWORKS_DATA": str(cls.tmp / "downloads"),
            "NEURAL_NETWORKS_MIRROR": cls.mirror.url + "/{dataset}/",
            "FASHION_MNIST_DIR": str(cls.tmp / "fashion_mnist"),
            # The checkout too: sitecustomize imports the package before a script's
            # folder is on the path, and the package may not be installed.
            "PYTHONPATH": os.pathsep.join([str(site), str(cls.checkout)]),
            "PYTHONUNBUFFERED": "1",
            "MPLBACKEND": "Agg",
            **write_sitecustomize(site, md5),
        }
        cls.log = []

    def run_command(self, command, where):
        words = shlex.split(command)
        if words[:2] == ["pip", "install"]:
            if "--index-url" in words and "torch==2.13.0" in words:
                try:
                    import torch  # noqa: F401
                except ImportError:
                    # Everything else still runs; the test skips at its end (fails on CI).
                    self.left_out.append(f"{command!r} ({where}): torch is not installed, "
                                         f"so pip would download it")
                    return
            proc = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run",
                                   *words[2:]], cwd=self.checkout, env=self.env,
                                  capture_output=True, text=True, timeout=600)
        elif words[:3] == ["python", "-m", "unittest"]:
            # The test command itself: CI runs exactly it (see .ci/run), and running it here
            # would run this test again inside itself.
            ci = (REPO_ROOT / ".ci" / "run").read_text()
            self.assertIn(f"CI=true {command} ", ci, f"{where}: .ci/run must run the README's "
                          f"test command {command!r} as written")
            return
        elif words[0] == "python":
            proc = subprocess.run(["bash", "-c", command.replace("python", shlex.quote(
                sys.executable), 1)], cwd=self.checkout, env=self.env, capture_output=True,
                text=True, timeout=900)
        else:
            self.fail(f"{where}: no rule to run the README command {command!r}; run it in "
                      f"tests/test_readme.py or keep it out of a code block")
        self.check(proc, command, where)

    def run_python(self, code, where):
        program = self.checkout / "readme_block.py"
        program.write_text(code)
        proc = subprocess.run([sys.executable, program.name], cwd=self.checkout, env=self.env,
                              capture_output=True, text=True, timeout=900)
        self.check(proc, f"the Python block at {where}", where)

    def check(self, proc, what, where):
        status, text = EXPECTED_STATUS.get(what, (0, None))
        self.log.append((what, proc.returncode, time.monotonic()))
        if os.environ.get("README_TEST_TIMES"):
            print(f"{time.monotonic() - self.started:7.1f} s  {what}", file=sys.stderr)
        self.assertEqual(proc.returncode, status,
                         f"{where}: {what} exited with {proc.returncode}\n"
                         f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}")
        if text is not None:
            self.assertIn(text, proc.stdout + proc.stderr)
        if what in QUOTED_OUTPUT:
            quoted = QUOTED_OUTPUT[what](proc.stdout)
            self.assertTrue(quoted, f"{what} printed nothing the README quotes")
            readme = README.read_text()
            for line in quoted:
                self.assertTrue(line in readme, f"{where}: the README should quote what {what} "
                                                f"prints: {line!r}")

    def test_every_block_runs_in_order(self):
        self.started = time.monotonic()
        self.left_out = []
        blocks = code_blocks(README.read_text())
        runnable = [b for b in blocks if b[0] in ("bash", "python")]
        self.assertGreater(len(runnable), 5)
        for language, code, line in runnable:
            where = f"README.md line {line}"
            if language == "python":
                self.run_python(code, where)
            else:
                for command in commands(code):
                    self.run_command(command, where)
        if self.left_out:
            missing("every other README command ran; not run: " + "; ".join(self.left_out))


class TestHarness(unittest.TestCase):
    """The block and command parsing the README test relies on."""

    def test_code_blocks(self):
        text = "a\n```bash\nx  # one\n\ny && z\n```\n```\nout\n```\n```python\nprint(1)\n```\n"
        blocks = code_blocks(text)
        self.assertEqual([b[0] for b in blocks], ["bash", "", "python"])
        self.assertEqual(commands(blocks[0][1]), ["x", "y", "z"])
        self.assertEqual(blocks[2][1], "print(1)\n")
        self.assertEqual(blocks[2][2], 10)

    def test_an_unclosed_block_is_an_error(self):
        with self.assertRaisesRegex(ValueError, "line 2"):
            code_blocks("x\n```bash\nls\n")


if __name__ == "__main__":
    unittest.main()
