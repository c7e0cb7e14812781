"""Tests of generate_submission.py: sources in both formats, headings,
LaTeX that compiles with pdflatex, Markdown code blocks that are closed."""

import importlib
import importlib.util
import inspect
import os
import re
import stat
import subprocess
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

from tests.support import require_pdflatex

REPO_ROOT = Path(__file__).resolve().parent.parent
SCRIPT = REPO_ROOT / "generate_submission.py"

_spec = importlib.util.spec_from_file_location("generate_submission_script", SCRIPT)
gs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gs)

SECTIONS = ["Activations", "Layers", "Losses", "Model"]
# heading_level -> (command of the sections, command of the implementations)
LATEX_LEVELS = {1: ("section", "subsection"), 2: ("subsection", "subsubsection"),
                3: ("subsubsection", "paragraph")}
LISTING = re.compile(r"\\begin\{lstlisting\}\[([^\]]*)\]\n(.*?)\\end\{lstlisting\}\n", re.S)


def generate(*args, check=True):
    proc = subprocess.run([sys.executable, str(SCRIPT), *args], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)
    if check and proc.returncode != 0:
        raise AssertionError(f"generate_submission.py {' '.join(args)} failed:\n{proc.stderr}")
    return proc


def expected_sources():
    """The source of every listed implementation, read with inspect here."""
    sources = []
    for _, module_name, name in gs.IMPLEMENTATIONS:
        obj = importlib.import_module(module_name)
        for part in name.split("."):
            obj = getattr(obj, part)
        sources.append(textwrap.dedent(inspect.getsource(obj)))
    return sources


def markdown_blocks(text):
    """Fenced code blocks as (info string, body); fails on an unclosed fence."""
    blocks, fence, info, body = [], None, None, []
    for line in text.splitlines():
        if fence is None:
            match = re.match(r"^(`{3,})(\S*)$", line)
            if match:
                fence, info, body = match.group(1), match.group(2), []
            elif line.startswith("```"):
                raise AssertionError(f"stray fence line {line!r}")
        elif line == fence:
            blocks.append((info, "\n".join(body) + "\n"))
            fence = None
        else:
            body.append(line)
    if fence is not None:
        raise AssertionError("a code block is never closed")
    return blocks


def outside_code(text):
    """Markdown text with the fenced blocks removed."""
    return re.sub(r"^(`{3,})\S*\n.*?^\1$", "", text, flags=re.S | re.M)


def compile_latex(testcase, fragment):
    """\\input ``fragment`` into a minimal article and run pdflatex; return the log."""
    pdflatex = require_pdflatex()
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "submission.tex").write_text(fragment)
        Path(tmp, "main.tex").write_text(
            "\\documentclass{article}\n\\usepackage{listings}\n\\begin{document}\n"
            "\\input{submission}\n\\end{document}\n")
        proc = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error",
                               "main.tex"], cwd=tmp, capture_output=True, text=True,
                              timeout=120)
        log = Path(tmp, "main.log").read_text(errors="replace")
        testcase.assertEqual(proc.returncode, 0, log[-3000:])
        testcase.assertEqual([l for l in log.splitlines() if l.startswith("! ")], [])
        testcase.assertTrue(Path(tmp, "main.pdf").stat().st_size > 0)
    return log


class TestImplementationsList(unittest.TestCase):
    def test_lists_what_the_issue_asks_for(self):
        listed = {(module, name) for _, module, name in gs.IMPLEMENTATIONS}
        for module, names in [
            ("neural_networks.activations", ["Linear", "Sigmoid", "ReLU", "SoftMax"]),
            ("neural_networks.layers", ["FullyConnected", "Conv2D", "Pool2D"]),
            ("neural_networks.losses", ["CrossEntropy", "L2"]),
            ("neural_networks.models", ["NeuralNetwork.forward", "NeuralNetwork.backward",
                                        "NeuralNetwork.predict"]),
        ]:
            for name in names:
                self.assertIn((module, name), listed)
        self.assertEqual(list(dict.fromkeys(s for s, _, _ in gs.IMPLEMENTATIONS)), SECTIONS)

    def test_an_unknown_name_is_a_clear_error(self):
        with self.assertRaisesRegex(ValueError, "has no Nope"):
            gs.collect([("Layers", "neural_networks.layers", "Nope")])


class TestLatex(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.outputs = {level: generate("--format", "latex", "--heading_level", str(level)).stdout
                       for level in (1, 2, 3)}

    def test_every_source_appears_in_a_python_listing(self):
        listings = LISTING.findall(self.outputs[1])
        self.assertEqual([body for _, body in listings], expected_sources())
        for options, _ in listings:
            self.assertIn("language=Python", options)

    def test_headings_follow_heading_level(self):
        titles = [name for _, _, name in gs.IMPLEMENTATIONS]
        for level, (section_cmd, entry_cmd) in LATEX_LEVELS.items():
            text = LISTING.sub("", self.outputs[level])
            sections = re.findall(rf"^\\{section_cmd}\{{(.*)\}}$", text, re.M)
            entries = re.findall(rf"^\\{entry_cmd}\{{\\texttt\{{(.*)\}}\}}$", text, re.M)
            self.assertEqual(sections, SECTIONS, level)
            self.assertEqual(entries, [t.replace("_", "\\_") for t in titles], level)
            others = set(LATEX_LEVELS[1] + LATEX_LEVELS[3]) - {section_cmd, entry_cmd}
            for cmd in others:
                self.assertNotIn(f"\\{cmd}{{", text, (level, cmd))

    def test_underscores_in_text_are_escaped(self):
        text = LISTING.sub("", self.outputs[1])
        text = re.sub(r"^%.*$", "", text, flags=re.M)  # comments may say anything
        self.assertIn(r"\texttt{conv2d\_forward}", text)
        self.assertIn(r"\texttt{neural\_networks/layers.py}", text)
        self.assertIsNone(re.search(r"(?<!\\)_", text))

    def test_output_is_ascii(self):
        for text in self.outputs.values():
            self.assertTrue(text.isascii())

    def test_compiles_with_pdflatex(self):
        for level in (1, 3):
            with self.subTest(heading_level=level):
                compile_latex(self, self.outputs[level])

    def test_awkward_text_and_code_still_compile(self):
        entries = [("Odd_section & 100% #1", "my_func{x}^~$", "pkg/my_mod.py",
                    'def f():\n    """Returns x \u00d7 y \u2014 or \u00e9t\u00e9 \u2248 \u2603."""\n'
                    '    s = "\\\\end{itemize} 100% {braces} $x^2$ _ # ~"\n'
                    '    return s\n')]
        text = gs.render_latex(entries, 1)
        self.assertTrue(text.isascii())
        self.assertIn("x x y -- or ete ~= <U+2603>", text)
        self.assertIn(r"\section{Odd\_section \& 100\% \#1}", text)
        log = compile_latex(self, text)
        self.assertNotIn("Missing character", log)

    def test_a_listing_that_would_end_early_is_refused(self):
        with self.assertRaisesRegex(ValueError, "lstlisting"):
            gs.latex_listing("x = 1\n\\end{lstlisting}\n", "bad")

    def test_latex_escape(self):
        self.assertEqual(gs.latex_escape("a_b%c#d&e$f{g}h"),
                         r"a\_b\%c\#d\&e\$f\{g\}h")
        self.assertEqual(gs.latex_escape("~^\\"),
                         r"\textasciitilde{}\textasciicircum{}\textbackslash{}")


class TestMarkdown(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.outputs = {level: generate("--format", "markdown", "--heading_level",
                                       str(level)).stdout for level in (1, 2, 3)}

    def test_every_source_appears_in_a_closed_python_block(self):
        for text in self.outputs.values():
            blocks = markdown_blocks(text)
            self.assertEqual([info for info, _ in blocks], ["python"] * len(gs.IMPLEMENTATIONS))
            self.assertEqual([body for _, body in blocks], expected_sources())

    def test_headings_follow_heading_level(self):
        titles = [name for _, _, name in gs.IMPLEMENTATIONS]
        for level, text in self.outputs.items():
            headings = re.findall(r"^(#+) (.*)$", outside_code(text), re.M)
            self.assertEqual([t for h, t in headings if len(h) == level], SECTIONS)
            self.assertEqual([t for h, t in headings if len(h) == level + 1],
                             [f"`{t}`" for t in titles])
            self.assertEqual(len(headings), len(SECTIONS) + len(titles))

    def test_a_source_with_backtick_fences_gets_a_longer_fence(self):
        source = 'DOC = """\n```python\nx = 1\n```\n"""\n'
        text = gs.render_markdown([("S", "f", "m.py", source)], 1)
        self.assertEqual(markdown_blocks(text), [("python", source)])


class TestCommandLine(unittest.TestCase):
    def test_output_file_matches_stdout(self):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp, "submission.md")
            generate("--format", "markdown", "--heading_level", "2", "--output", str(out))
            self.assertEqual(out.read_text(),
                             generate("--format", "markdown", "--heading_level", "2").stdout)

    def test_output_that_is_not_a_regular_file_is_refused(self):
        with tempfile.TemporaryDirectory() as tmp:
            fifo = Path(tmp, "fifo")
            os.mkfifo(fifo)
            null_link = Path(tmp, "null")
            null_link.symlink_to(os.devnull)
            for target, what in ((tmp, "it is a folder"), (fifo, "FIFO"),
                                 (os.devnull, "character device"),
                                 (null_link, "character device"),
                                 (Path(tmp, "missing", "out.md"), "does not exist")):
                with self.subTest(output=target):
                    proc = generate("--format", "markdown", "--output", str(target),
                                    check=False)
                    self.assertEqual(proc.returncode, 2)
                    self.assertEqual(len(proc.stderr.splitlines()), 1, proc.stderr)
                    self.assertRegex(proc.stderr, f"^error: .*{re.escape(str(target))}.*{what}")
                    self.assertEqual(proc.stdout, "")
            self.assertTrue(stat.S_ISFIFO(os.stat(fifo).st_mode))
            self.assertEqual(sorted(os.listdir(tmp)), ["fifo", "null"])

    def test_help_and_bad_arguments(self):
        help_text = generate("--help").stdout
        for option in ("--format", "--heading_level", "--output", "latex", "markdown"):
            self.assertIn(option, help_text)
        for args in (["--format", "html"], ["--format", "latex", "--heading_level", "4"], []):
            with self.subTest(args=args):
                proc = generate(*args, check=False)
                self.assertEqual(proc.returncode, 2)
                self.assertIn("error", proc.stderr)


if __name__ == "__main__":
    unittest.main()
