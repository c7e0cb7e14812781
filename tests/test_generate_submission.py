"""Tests of generate_submission.py: sources in both formats, headings,
LaTeX that compiles with pdflatex and typesets as code, Markdown code blocks
that are closed."""

import html
import importlib
import importlib.util
import inspect
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import textwrap
import unittest
from pathlib import Path

from tests.support import missing, require_pdflatex

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
STYLE = re.compile(r"\\lstdefinestyle\{nncode\}\{(.*?)\}\n", re.S)
VISIBLE_SPACE = "\u2423"  # what pdftotext reads for listings' visible-space mark
OVERFULL_LIMIT_PT = 1.0    # an overfull line wider than this shows on the page


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


def run_pdflatex(testcase, folder, fragment, preamble="", after=""):
    """\\input ``fragment`` into a minimal article in ``folder`` and run pdflatex.

    ``preamble`` goes before ``\\begin{document}``, ``after`` after the
    ``\\input``. Fails on an error; returns the log and leaves main.pdf.
    """
    pdflatex = require_pdflatex()
    Path(folder, "submission.tex").write_text(fragment)
    Path(folder, "main.tex").write_text(
        "\\documentclass{article}\n\\usepackage{listings}\n" + preamble
        + "\\begin{document}\n\\input{submission}\n" + after + "\\end{document}\n")
    proc = subprocess.run([pdflatex, "-interaction=nonstopmode", "-halt-on-error",
                           "main.tex"], cwd=folder, capture_output=True, text=True,
                          timeout=300)
    log = Path(folder, "main.log").read_text(errors="replace")
    testcase.assertEqual(proc.returncode, 0, log[-3000:])
    testcase.assertEqual([l for l in log.splitlines() if l.startswith("! ")], [])
    testcase.assertTrue(Path(folder, "main.pdf").stat().st_size > 0)
    return log


def compile_latex(testcase, fragment, preamble=""):
    """\\input ``fragment`` into a minimal article and run pdflatex; return the log."""
    with tempfile.TemporaryDirectory() as tmp:
        return run_pdflatex(testcase, tmp, fragment, preamble)


def overfull_boxes(log):
    """How far (pt) each overfull line in a pdflatex log runs past the text."""
    return [float(pt) for pt in re.findall(r"^Overfull \\hbox \(([\d.]+)pt too wide\)",
                                          log, re.M)]


def require_pdftotext():
    """The path of ``pdftotext``; skips (fails on CI) when it is not on the PATH."""
    path = shutil.which("pdftotext")
    if path is None:
        missing("pdftotext not found (Debian: apt-get install poppler-utils)")
    return path


def pdf_text(pdf):
    """The text pdftotext reads from ``pdf``, one typeset line a line."""
    proc = subprocess.run([require_pdftotext(), "-enc", "UTF-8", str(pdf), "-"],
                          capture_output=True, text=True, timeout=120, check=True)
    return proc.stdout


def pdf_words(pdf):
    """The words pdftotext finds in ``pdf``, as (text, xMin, xMax, yMin) in points."""
    out = Path(pdf).with_suffix(".bbox.html")
    subprocess.run([require_pdftotext(), "-enc", "UTF-8", "-bbox", str(pdf), str(out)],
                   capture_output=True, timeout=120, check=True)
    return [(html.unescape(text), float(x0), float(x1), float(y0)) for x0, y0, x1, text in
            re.findall(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" '
                       r'yMax="[\d.]+">([^<]*)</word>', out.read_text())]


class TestImplementationsList(unittest.TestCase):
    def test_lists_every_implementation_a_student_writes(self):
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

    def test_each_source_is_shown_with_the_file_that_defines_it(self):
        for _, name, path, source in gs.collect():
            with self.subTest(name=name):
                text = (REPO_ROOT / path).read_text()
                self.assertIn(textwrap.indent(source, " " * 4 if "." in name else ""), text)
        # A name a package re-exports is shown in its own module's file.
        [(_, _, path, source)] = gs.collect(
            [("Layers", "neural_networks.functional", "conv2d_forward")])
        self.assertEqual(path, "neural_networks/functional/conv.py")
        self.assertTrue(source.startswith("def conv2d_forward("))

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
        self.assertEqual({options for options, _ in listings}, {"style=nncode"})
        for style in STYLE.findall(self.outputs[1]):
            self.assertIn("language=Python", style)

    def test_the_listings_use_a_style_that_typesets_code(self):
        for text in self.outputs.values():
            styles = STYLE.findall(text)
            # Two definitions, with and without upquote; the fragment keeps one.
            self.assertEqual(len(styles), 2, text[:2000])
            for style in styles:
                options = {k.strip(): v.strip() for k, _, v in
                           (o.partition("=") for o in style.split(","))}
                self.assertEqual(options["showstringspaces"], "false")
                self.assertIn(options["columns"], ("flexible", "fullflexible"))
                self.assertEqual(options["breaklines"], "true")
                self.assertIn("hookrightarrow", options["postbreak"])
            # The style is defined before the first listing that uses it.
            self.assertLess(text.index("\\lstdefinestyle"), text.index("\\begin{lstlisting}"))
            # The document's own listings keep their settings.
            self.assertFalse("\\lstset" in text, "the fragment changes every listing")

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
                log = compile_latex(self, self.outputs[level])
                self.assertEqual([pt for pt in overfull_boxes(log) if pt > OVERFULL_LIMIT_PT],
                                 [])

    def test_pdf_reads_as_the_code_and_leaves_other_listings_alone(self):
        source = ('def greet(first, second):\n'
                  '    s = "a b"\n'
                  "    t = 'c d'\n"
                  '    total = compute(first, second)\n'
                  '    return total\n')
        fragment = gs.render_latex([("S", "greet", "m.py", source)], 1)
        # A listing of the document's own, after the \\input, with listings' defaults
        # but for the font (the visible-space mark is text only in typewriter type).
        own = ('\\begin{lstlisting}[language=Python, basicstyle=\\ttfamily]\n'
               'own = "e f"\n\\end{lstlisting}\n')
        with tempfile.TemporaryDirectory() as tmp:
            run_pdflatex(self, tmp, fragment, after=own)
            text = pdf_text(Path(tmp, "main.pdf"))
            words = pdf_words(Path(tmp, "main.pdf"))
        ours, _, theirs = text.partition("own =")
        self.assertIn('"a b"', ours)
        self.assertNotIn(VISIBLE_SPACE, ours)
        # Not letter-spaced: pdftotext reads a gap between letters as a space.
        self.assertIn("total = compute(first, second)", ours)
        # Straight quotes (upquote), not typographic ones. (The quote glyphs come
        # from another font, so pdftotext may put a space between them and "d".)
        self.assertRegex(ours, r"t = 'c d ?'")
        self.assertNotIn("\u2019", ours)
        # The style is ours only: the document's listing still marks string spaces.
        self.assertIn(VISIBLE_SPACE, theirs)
        # Indentation: "s" starts four letter widths right of "def".
        x_def = next(x0 for w, x0, _, _ in words if w == "def")
        x_s = next(x0 for w, x0, _, _ in words if w == "s")
        letter = next((x1 - x0) / len(w) for w, x0, x1, _ in words if w == "greet(first,")
        self.assertAlmostEqual((x_s - x_def) / letter, 4, delta=0.1)

    def test_a_long_line_breaks_visibly_within_the_text_width(self):
        long_line = ("    return compute_something(first_argument, second_argument, "
                     "third_argument=12345)  # 100 chars, ok")
        comment = "    # " + " ".join(["word"] * 19)
        string = '    message = "' + " ".join(["text"] * 16) + '"'
        self.assertEqual([len(long_line), len(comment), len(string)], [100, 100, 95])
        source = f"def f():\n{long_line}\n{comment}\n{string}\n"
        fragment = gs.render_latex([("S", "f", "m.py", source)], 1)
        with tempfile.TemporaryDirectory() as tmp:
            log = run_pdflatex(self, tmp, fragment)
            self.assertEqual([pt for pt in overfull_boxes(log) if pt > OVERFULL_LIMIT_PT], [])
            text = pdf_text(Path(tmp, "main.pdf"))
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        start = next(i for i, line in enumerate(lines) if line.startswith("def f"))
        code = lines[start + 1:start + 7]
        # Each long line is typeset as two: its start, then a continuation that
        # begins with the hook arrow (pdftotext reads the hook as a comma or nothing).
        # pdftotext may drop or add spaces, so the text is compared without them.
        def squeeze(line):
            return "".join(line.split())
        for source_line, (first, rest) in zip((long_line, comment, string),
                                              zip(code[0::2], code[1::2], strict=True), strict=True):
            self.assertRegex(rest, "^,?\u2192", code)
            self.assertEqual(squeeze(first) + squeeze(rest.partition("\u2192")[2]),
                             squeeze(source_line))

    def test_straight_quotes_only_where_latex_has_the_glyphs(self):
        # Before LaTeX 2020 without textcomp, \\textasciigrave does not exist and
        # listings' upquote stops with an error; the fragment must leave it out.
        fragment = gs.render_latex([("S", "f", "m.py", "s = 'a' + `b`\n")], 1)
        log = compile_latex(self, fragment, preamble="\\let\\textasciigrave\\undefined\n")
        self.assertNotIn("upquote", log)
        self.assertIn("upquote=true", fragment)

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

    def test_a_reader_that_stops_reading_ends_it_quietly(self):
        """``generate_submission.py | head -c0``: the old code ended in a BrokenPipeError
        traceback. Now it stops as a Unix tool killed by SIGPIPE does: 141, nothing said."""
        read, write = os.pipe()
        os.close(read)  # the reader has gone before the first byte is written
        try:
            proc = subprocess.run([sys.executable, str(SCRIPT), "--format", "markdown"],
                                  cwd=REPO_ROOT, stdout=write, stderr=subprocess.PIPE,
                                  text=True, timeout=120)
        finally:
            os.close(write)
        self.assertEqual(proc.stderr, "")
        self.assertEqual(proc.returncode, 141)

    def test_heading_level_takes_a_dash_and_the_old_underscore(self):
        for fmt in ("latex", "markdown"):
            with self.subTest(format=fmt):
                dash = generate("--format", fmt, "--heading-level", "3").stdout
                underscore = generate("--format", fmt, "--heading_level", "3").stdout
                self.assertEqual(dash, underscore)
                self.assertNotEqual(dash, generate("--format", fmt).stdout)

    def test_help_and_bad_arguments(self):
        help_text = generate("--help").stdout
        for option in ("--format", "--heading-level", "--output", "latex", "markdown"):
            self.assertIn(option, help_text)
        # Every option is spelled with dashes; --heading_level is the old spelling,
        # kept as a second name of --heading-level.
        options = set(re.findall(r"--\w[\w-]*", help_text))
        self.assertEqual({o for o in options if "_" in o}, {"--heading_level"})
        self.assertRegex(help_text, r"--heading-level \S+, --heading_level")
        for args in (["--format", "html"], ["--format", "latex", "--heading-level", "4"],
                     ["--format", "latex", "--heading_level", "0"], []):
            with self.subTest(args=args):
                proc = generate(*args, check=False)
                self.assertEqual(proc.returncode, 2)
                self.assertIn("error", proc.stderr)


if __name__ == "__main__":
    unittest.main()
