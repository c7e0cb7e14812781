"""Check the Iris splits shipped in the package against the course's, or copy
them from a checkout of the course's starter code.

The files in neural_networks/datasets/iris_splits/ are the course's own
(datasets/iris/iris_{train,val,test}_{data,labels}.npy in its starter code; the
Spring 2021 and Fall 2023 copies are byte for byte the same), kept as they
are: raw features in cm, a random 105/15/30 split, one-hot float labels.

    python datasets/check_iris.py                         # check the shipped files
    python datasets/check_iris.py --from ~/cs189/hw_nn    # copy them from a course checkout

Exit status 0 when every file has the course's MD5; 1 otherwise, each file
that does not named with both checksums (with --from, nothing is copied);
2 for a --from that is not a folder.
"""

import argparse
import hashlib
import shutil
import sys
import tempfile
from pathlib import Path

from neural_networks.datasets.iris import IRIS_DIR, IRIS_MD5


def md5(path):
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def mismatches(folder):
    """{file name: its MD5, or "missing"} for each of the six files that ``folder``
    does not hold as the course's."""
    folder = Path(folder)
    found = {name: md5(folder / name) if (folder / name).is_file() else "missing"
             for name in IRIS_MD5}
    return {name: digest for name, digest in found.items() if digest != IRIS_MD5[name]}


def copy_from(course_dir, out_dir=IRIS_DIR):
    """Copy the six files from a course checkout (its datasets/iris/, or that folder
    itself) into ``out_dir``, all or nothing: each is checked first.

    Returns
    -------
    ``mismatches`` of the source: empty when the files were copied
    """
    source = Path(course_dir)
    if (source / "datasets" / "iris").is_dir():
        source = source / "datasets" / "iris"
    bad = mismatches(source)
    if bad:
        return bad
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir) as staging:
        for name in IRIS_MD5:
            shutil.copyfile(source / name, Path(staging) / name)
        for name in IRIS_MD5:
            (Path(staging) / name).replace(out_dir / name)
    return {}


def main(argv=None):
    """Check (or with --from, copy) the files; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="course_dir", default=None,
                        help="a checkout of the course's starter code (or its datasets/iris/)")
    args = parser.parse_args(argv)
    if args.course_dir is None:
        where, bad = IRIS_DIR, mismatches(IRIS_DIR)
    elif not Path(args.course_dir).is_dir():
        print(f"check_iris.py: --from {args.course_dir} is not a folder", file=sys.stderr)
        return 2
    else:
        where, bad = Path(args.course_dir), copy_from(args.course_dir)
    for name, digest in bad.items():
        found = "missing" if digest == "missing" else f"MD5 {digest}"
        print(f"{name} in {where}: {found}; the course's has MD5 {IRIS_MD5[name]}")
    if bad:
        return 1
    done = "copied to" if args.course_dir is not None else "in"
    print(f"The six Iris files {done} {IRIS_DIR} are the course's (MD5s match).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
