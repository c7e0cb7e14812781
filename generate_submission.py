"""Gather the source of the implementations you wrote into a code appendix.

    python generate_submission.py --format latex --output submission.tex
    python generate_submission.py --format markdown --heading-level 2

The implementations come from ``IMPLEMENTATIONS`` below, in that order and
grouped by section; add a row to include another class or function.

Headings: ``--heading-level L`` (``--heading_level L`` also works) puts the
section titles (Activations, Layers, ...) at level L and each implementation
one level below, L + 1. Level 1 is ``#`` or ``\\section``, 2 is ``##`` or
``\\subsection``, 3 is ``###`` or ``\\subsubsection``, 4 is ``####`` or
``\\paragraph``.

LaTeX output is a fragment to ``\\input`` into a document that loads the
``listings`` package. It defines the listings style ``nncode`` (Python,
typewriter type, plain spaces in strings, no letter-spacing, long lines broken
with a hook arrow at the start of the continuation) and every ``lstlisting``
it writes uses that style; the fragment changes no setting of the document's
own listings (it has no ``\\lstset``). Characters outside ASCII (which
pdflatex's listings cannot typeset) are replaced by ASCII spellings.
"""

import argparse
import importlib
import inspect
import os
import re
import sys
import textwrap
import unicodedata
from pathlib import Path

from neural_networks.utils.files import write_text

#: What goes into the appendix: (section title, module, name in the module).
#: The name is a class, a function, or ``Class.method``.
IMPLEMENTATIONS = [
    ("Activations", "neural_networks.activations", "Linear"),
    ("Activations", "neural_networks.activations", "Sigmoid"),
    ("Activations", "neural_networks.activations", "ReLU"),
    ("Activations", "neural_networks.activations", "SoftMax"),
    ("Layers", "neural_networks.layers", "FullyConnected"),
    ("Layers", "neural_networks.functional.dense", "affine_forward"),
    ("Layers", "neural_networks.functional.dense", "affine_backward"),
    ("Layers", "neural_networks.layers", "Conv2D"),
    ("Layers", "neural_networks.layers", "Pool2D"),
    ("Layers", "neural_networks.functional.conv", "im2col"),
    ("Layers", "neural_networks.functional.conv", "conv2d_forward"),
    ("Layers", "neural_networks.functional.conv", "_rows_forward"),
    ("Layers", "neural_networks.functional.conv", "_channel_major_forward"),
    ("Layers", "neural_networks.functional.conv", "conv2d_backward"),
    ("Layers", "neural_networks.functional.conv", "_rows_backward"),
    ("Layers", "neural_networks.functional.conv", "_row_shift_input_gradient"),
    ("Layers", "neural_networks.functional.conv", "_channel_major_backward"),
    ("Layers", "neural_networks.functional.conv", "_add_columns"),
    ("Layers", "neural_networks.functional.pooling", "maxpool2d_forward"),
    ("Layers", "neural_networks.functional.pooling", "maxpool2d_backward"),
    ("Layers", "neural_networks.functional.pooling", "avgpool2d_forward"),
    ("Layers", "neural_networks.functional.pooling", "avgpool2d_backward"),
    ("Losses", "neural_networks.losses", "CrossEntropy"),
    ("Losses", "neural_networks.losses", "L2"),
    ("Model", "neural_networks.models", "NeuralNetwork.forward"),
    ("Model", "neural_networks.models", "NeuralNetwork.backward"),
    ("Model", "neural_networks.models", "NeuralNetwork.predict"),
]

LATEX_HEADINGS = {1: "section", 2: "subsection", 3: "subsubsection", 4: "paragraph"}

LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "#": r"\#",
    "^": r"\textasciicircum{}",
    "_": r"\_",
    "%": r"\%",
    "~": r"\textasciitilde{}",
}

#: ASCII spellings of characters that turn up in code and comments.
ASCII_SPELLINGS = {
    "\u2014": "--", "\u2013": "-", "\u2212": "-", "\u00d7": "x", "\u00b7": "*",
    "\u2264": "<=", "\u2265": ">=", "\u2260": "!=", "\u2248": "~=", "\u2192": "->",
    "\u2190": "<-", "\u2026": "...", "\u2018": "'", "\u2019": "'", "\u201c": '"',
    "\u201d": '"', "\u00a0": " ", "\u221a": "sqrt", "\u2211": "sum", "\u2202": "d",
    "\u03b1": "alpha", "\u03b2": "beta", "\u03b3": "gamma", "\u03b4": "delta",
    "\u03b5": "eps", "\u03b7": "eta", "\u03bb": "lambda", "\u03bc": "mu",
    "\u03c3": "sigma", "\u00b2": "^2", "\u00b3": "^3",
}


def collect(implementations=IMPLEMENTATIONS):
    """Look up every implementation and read its source.

    Returns
    -------
    list of (section, title, path, source): ``title`` is the listed name,
    ``path`` the file relative to the repository root, ``source`` dedented
    """
    entries = []
    for section, module_name, name in implementations:
        module = importlib.import_module(module_name)
        obj = module
        for part in name.split("."):
            if not hasattr(obj, part):
                raise ValueError(f"IMPLEMENTATIONS lists {module_name}.{name}, "
                                 f"but {module_name} has no {name}")
            obj = getattr(obj, part)
        source = textwrap.dedent(inspect.getsource(obj)).rstrip() + "\n"
        entries.append((section, name, source_path(obj, module_name), source))
    return entries


def source_path(obj, module_name):
    """The file that defines ``obj``, relative to the folder of its top-level package.

    A name a package re-exports (``neural_networks.functional.conv2d_forward``)
    is shown in the file of the module that defines it
    (``neural_networks/functional/conv.py``), with ``/`` on every system.
    """
    top = importlib.import_module(module_name.partition(".")[0])
    folder = Path(top.__file__).resolve().parent
    root = folder.parent if hasattr(top, "__path__") else folder
    return Path(inspect.getsourcefile(inspect.unwrap(obj))).resolve().relative_to(root).as_posix()


def grouped(entries):
    """Sections in order of first appearance, each with its entries."""
    sections = {}
    for section, *rest in entries:
        sections.setdefault(section, []).append(rest)
    return sections.items()


def check_heading_level(level):
    if level not in (1, 2, 3):
        raise ValueError(f"heading_level must be 1, 2 or 3, got {level!r}")


# -------------------------------------------------------------------- LaTeX

def latex_escape(text):
    """Escape the characters that LaTeX treats specially in running text."""
    return "".join(LATEX_SPECIAL.get(c, c) for c in to_ascii(text))


def to_ascii(text):
    """Replace every non-ASCII character by an ASCII spelling.

    Known symbols use ``ASCII_SPELLINGS``; accented letters lose their
    accent; anything else becomes ``<U+XXXX>``.
    """
    out = []
    for c in text:
        if ord(c) < 128:
            out.append(c)
        elif c in ASCII_SPELLINGS:
            out.append(ASCII_SPELLINGS[c])
        else:
            base = unicodedata.normalize("NFKD", c).encode("ascii", "ignore").decode()
            out.append(base if base else f"<U+{ord(c):04X}>")
    return "".join(out)


#: Name of the listings style the fragment defines and every listing uses.
LATEX_STYLE = "nncode"

#: Options of that style. ``columns=fixed`` (the listings default) puts every
#: character in a 0.6em column, wider than typewriter letters (0.525em in
#: Computer Modern), so the code comes out letter-spaced. Flexible columns
#: set the letters at their own width; the column grid (``basewidth``) is
#: the width of a space in the typewriter font of the listing
#: (``\\fontdimen2\\font``, the letter width in a monospaced font), so
#: indentation and runs of spaces keep their width and a broken line's
#: continuation is indented under its line (``keepspaces`` would keep the
#: spaces too, but listings then no longer indents continuations).
#: ``showstringspaces=false`` prints a space in a string as a space, not as a
#: visible-space mark. A line wider than the text breaks, and its
#: continuation starts with a hook arrow (no package needed for it).
LATEX_STYLE_OPTIONS = (
    "language=Python",
    "basicstyle=\\ttfamily\\footnotesize",
    "columns=flexible",
    "basewidth=\\fontdimen2\\font",
    "showstringspaces=false",
    "tabsize=4",
    "breaklines=true",
    "postbreak=\\mbox{$\\hookrightarrow$}\\space",
)


def latex_style():
    """The ``\\lstdefinestyle`` that starts the fragment.

    Straight quotes (upquote) need the glyphs ``\\textasciigrave`` and
    ``\\textquotesingle``: in the LaTeX kernel since 2020, before that in the
    textcomp package. Where they are missing, listings stops with an error on
    upquote, so the fragment asks for it only when ``\\textasciigrave`` exists.
    """
    options = ",\n  ".join(LATEX_STYLE_OPTIONS)
    return ("% The style of the listings below; it changes no other listing.\n"
            "% Straight quotes (upquote) where LaTeX has the glyphs (2020 or later,\n"
            "% or the textcomp package loaded).\n"
            "\\ifdefined\\textasciigrave\n"
            f"\\lstdefinestyle{{{LATEX_STYLE}}}{{\n  {options},\n  upquote=true}}\n"
            "\\else\n"
            f"\\lstdefinestyle{{{LATEX_STYLE}}}{{\n  {options}}}\n"
            "\\fi\n")


def latex_listing(source, title="code"):
    """``source`` in an lstlisting environment in the ``nncode`` style, made ASCII.

    Raises ValueError if a line would end the environment early.
    """
    source = to_ascii(source)
    if re.search(r"\\end\s*\{lstlisting\}", source):
        raise ValueError(f"the source of {title} contains \\end{{lstlisting}}, which would "
                         f"end the listing early; it cannot go into an lstlisting")
    return f"\\begin{{lstlisting}}[style={LATEX_STYLE}]\n{source}\\end{{lstlisting}}\n"


def render_latex(entries, heading_level=1):
    """The appendix as a LaTeX fragment (for ``\\input``; needs ``listings``)."""
    check_heading_level(heading_level)
    section_cmd = LATEX_HEADINGS[heading_level]
    entry_cmd = LATEX_HEADINGS[heading_level + 1]
    parts = ["% Code appendix written by generate_submission.py.\n"
             "% \\input this file in a document that loads the listings package.\n",
             latex_style(), "\n"]
    for section, items in grouped(entries):
        parts.append(f"\\{section_cmd}{{{latex_escape(section)}}}\n")
        for title, path, source in items:
            parts.append(f"\n\\{entry_cmd}{{\\texttt{{{latex_escape(title)}}}}}\n"
                         f"From \\texttt{{{latex_escape(path)}}}.\n\n"
                         + latex_listing(source, title))
        parts.append("\n")
    return "".join(parts)


# ----------------------------------------------------------------- Markdown

def markdown_fence(source):
    """A backtick fence longer than any run of backticks inside ``source``."""
    longest = max((len(run) for run in re.findall(r"`+", source)), default=0)
    return "`" * max(3, longest + 1)


def render_markdown(entries, heading_level=1):
    """The appendix in Markdown, code in fenced ``python`` blocks."""
    check_heading_level(heading_level)
    parts = []
    for section, items in grouped(entries):
        parts.append(f"{'#' * heading_level} {section}\n")
        for title, path, source in items:
            fence = markdown_fence(source)
            parts.append(f"\n{'#' * (heading_level + 1)} `{title}`\n\n"
                         f"From `{path}`.\n\n{fence}python\n{source}{fence}\n")
        parts.append("\n")
    return "".join(parts)


RENDERERS = {"latex": render_latex, "markdown": render_markdown}


def write_to_stdout(text):
    """Print ``text``; a reader that stops reading (``| head``) ends the script quietly
    with status 141, as a Unix tool killed by SIGPIPE, not with a traceback."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        # Python flushes stdout again on its way out: point it at nothing first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(128 + 13)  # 13: SIGPIPE (signal.SIGPIPE is missing on Windows)


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Write the source of your implementations (listed in "
                    "IMPLEMENTATIONS at the top of this script) as a LaTeX or Markdown "
                    "code appendix.")
    parser.add_argument("--format", required=True, choices=sorted(RENDERERS),
                        help="latex (lstlisting, for \\input) or markdown (fenced blocks)")
    # --heading_level is the spelling the course handed out; it stays accepted.
    parser.add_argument("--heading-level", "--heading_level", dest="heading_level",
                        type=int, choices=(1, 2, 3), default=1,
                        help="level of the section headings; each implementation goes one "
                             "level below (1: # / \\section, 2: ## / \\subsection, "
                             "3: ### / \\subsubsection; default %(default)s)")
    parser.add_argument("--output", default=None,
                        help="file to write, replaced all at once; its folder must exist "
                             "(default: standard output)")
    args = parser.parse_args(argv)
    try:
        text = RENDERERS[args.format](collect(), args.heading_level)
    except ValueError as err:
        sys.exit(f"error: {err}")
    if args.output is None:
        write_to_stdout(text)
        return
    try:
        write_text(args.output, text, encoding="ascii" if args.format == "latex" else "utf-8")
    except ValueError as err:
        # A folder, FIFO or device as --output, or a folder that cannot be written.
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
