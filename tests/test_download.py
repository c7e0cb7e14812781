"""download=True: the official files fetched through a mirror, checked, kept whole or not at all.

The real servers cannot be reached here, so each test runs a loopback HTTP
server (127.0.0.1, a free port) that serves small files in the official
formats under the official names, and points ``NEURAL_NETWORKS_MIRROR`` at
it. The official checksums belong to the real files, so the tests put the
small files' MD5s in ``download.SOURCES`` (``mock.patch.dict``); the table
itself is checked on its own, and against the Debian package's
Fashion-MNIST files where they are installed.
"""

import base64
import contextlib
import errno
import gzip
import hashlib
import http.server
import io
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path
from unittest import mock

import numpy as np
import pooch
import urllib3

from neural_networks import image_runs
from neural_networks.datasets import (
    CIFAR10_ARCHIVE,
    FASHION_MNIST_FILES,
    MNIST_FILES,
    download,
    initialize_dataset,
)
from neural_networks.datasets import cifar10 as cifar10_module
from neural_networks.datasets import fashion_mnist as fashion_mnist_module
from neural_networks.datasets import mnist as mnist_module
from neural_networks.utils import files
from tests.support import require_fashion_mnist
from tests.test_datasets_cifar10 import make_batches, write_archive
from tests.test_datasets_fashion_mnist import small_fashion_mnist, write_fashion_mnist

DATASETS = ("fashion_mnist", "mnist", "cifar10")
VALIDATION_SIZE = {"fashion_mnist": 10, "mnist": 10, "cifar10": 5}
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                   "ALL_PROXY")


def md5_of(path):
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def files_under(folder):
    """Every file below ``folder`` (relative paths, sorted); [] when it does not exist."""
    folder = Path(folder)
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


class Handler(http.server.BaseHTTPRequestHandler):
    """Serves the files of ``server.folder``; counts requests; 404 for anything else."""

    def do_GET(self):
        self.server.requests.append(self.path)
        self.server.accept_encodings.append(self.headers.get("Accept-Encoding"))
        if self.server.auth is not None and self.headers.get("Authorization") != self.server.auth:
            self.send_error(401, "who are you")
            return
        path = self.server.folder / self.path.lstrip("/")
        if not path.is_file():
            self.send_error(404, "not on this mirror")
            return
        body = path.read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        if self.server.content_encoding:
            self.send_header("Content-Encoding", self.server.content_encoding)
        self.end_headers()
        half = len(body) // 2
        self.wfile.write(body[:half])
        self.wfile.flush()
        if self.server.midway(self.path) == "hang up":
            return
        try:
            self.wfile.write(body[half:])
        except OSError:
            pass  # the client went away midway (a test's Ctrl-C)

    def log_message(self, *args):
        pass


class Mirror:
    """A loopback HTTP server on a free port, in a thread of its own."""

    def __init__(self, folder):
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.folder = Path(folder)
        self.server.requests = []
        self.server.midway = lambda path: None
        self.server.accept_encodings = []
        self.server.auth = None               # the Authorization header required, if any
        self.server.content_encoding = None   # a Content-Encoding header to send, if any
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def requests(self):
        return self.server.requests

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def write_official_files(name, folder, seed=0):
    """Small files in ``name``'s official format and names, in ``folder``.
    Returns the folder a loader reads them from (the archive's for CIFAR-10)."""
    folder = Path(folder)
    if name == "cifar10":
        write_archive(folder / CIFAR10_ARCHIVE, make_batches(seed=seed))
        return folder
    return write_fashion_mnist(folder, *small_fashion_mnist(seed=seed))


class MirrorTest(unittest.TestCase):
    """A mirror serving each dataset under <mirror>/<name>/, an empty download
    folder, and no other place that holds any dataset."""

    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.tmp = Path(tmp.name)
        self.served = self.tmp / "served"
        self.mirror = Mirror(self.served)
        self.addCleanup(self.mirror.close)
        patches = [
            mock.patch.dict(os.environ),
            mock.patch.dict(download.SOURCES),
            mock.patch.object(fashion_mnist_module, "FASHION_MNIST_REPO_DIR", self.tmp / "no"),
            mock.patch.object(fashion_mnist_module, "FASHION_MNIST_SYSTEM_DIR", self.tmp / "no"),
            mock.patch.object(mnist_module, "MNIST_REPO_DIR", self.tmp / "no"),
            mock.patch.object(cifar10_module, "CIFAR10_REPO_DIR", self.tmp / "no"),
        ]
        for p in patches:
            p.start()
            self.addCleanup(p.stop)
        for variable in ("FASHION_MNIST_DIR", "MNIST_DIR", "CIFAR10_DIR", *PROXY_VARIABLES):
            os.environ.pop(variable, None)
        os.environ["NEURAL_NETWORKS_MIRROR"] = self.mirror.url + "/{dataset}"
        os.environ["NEURAL_NETWORKS_DATA"] = str(self.tmp / "downloads")
        # pooch announces each download on stderr; the tests need not. (Its level is
        # left alone: its logger is outside logging's tree, so a level set and reset
        # would leave it refusing INFO records to a test that asks for them.)
        silence = mock.patch.object(pooch.get_logger(), "handlers", [])
        silence.start()
        self.addCleanup(silence.stop)

    def serve(self, name, seed=0):
        """Put ``name``'s small files on the mirror and their MD5s in the table.
        Returns the folder served."""
        folder = write_official_files(name, self.served / name, seed)
        official = download.SOURCES[name]
        download.SOURCES[name] = official._replace(
            md5={file: md5_of(folder / file) for file in official.md5})
        return folder

    def load(self, name, **options):
        return initialize_dataset(name, batch_size=4, validation_size=VALIDATION_SIZE[name],
                                  **options)

    def assert_same_data(self, a, b):
        for split in ("train", "validate", "test"):
            np.testing.assert_array_equal(getattr(a, split).data, getattr(b, split).data)
            np.testing.assert_array_equal(getattr(a, split).labels, getattr(b, split).labels)


class TestDownload(MirrorTest):
    def test_into_data_dir_then_never_again(self):
        for name in DATASETS:
            with self.subTest(dataset=name):
                served = self.serve(name)
                mine = self.tmp / "mine" / name
                dataset = self.load(name, data_dir=mine, download=True)
                names = sorted(download.SOURCES[name].md5)
                self.assertEqual(files_under(mine), names)
                for file in names:
                    self.assertEqual((mine / file).read_bytes(), (served / file).read_bytes())
                self.assertEqual(sorted(self.mirror.requests),
                                 sorted(f"/{name}/{file}" for file in names))
                self.assert_same_data(dataset, self.load(name, data_dir=served))
                # The files are there now: neither call downloads again.
                self.mirror.requests.clear()
                self.assert_same_data(self.load(name, data_dir=mine, download=True), dataset)
                self.load(name, data_dir=mine)
                self.assertEqual(self.mirror.requests, [])
                self.assertEqual(files_under(self.tmp / "downloads"), [])

    def test_into_the_download_folder_then_found_there(self):
        for name in DATASETS:
            with self.subTest(dataset=name):
                served = self.serve(name)
                dataset = self.load(name, download=True)
                folder = self.tmp / "downloads" / name
                self.assertEqual(files_under(folder), sorted(download.SOURCES[name].md5))
                self.assert_same_data(dataset, self.load(name, data_dir=served))
                self.mirror.requests.clear()
                # Without download=True the loader looks in the download folder too.
                self.assert_same_data(self.load(name), dataset)
                self.assertEqual(self.mirror.requests, [])

    def test_into_the_user_cache_without_NEURAL_NETWORKS_DATA(self):
        if not sys.platform.startswith("linux"):
            self.skipTest("the cache folder follows XDG_CACHE_HOME on Linux only")
        del os.environ["NEURAL_NETWORKS_DATA"]
        os.environ["XDG_CACHE_HOME"] = str(self.tmp / "cache")
        self.assertEqual(download.download_folder("mnist"),
                         self.tmp / "cache" / "neural_networks" / "mnist")
        self.serve("mnist")
        self.load("mnist", download=True)
        self.assertEqual(files_under(self.tmp / "cache" / "neural_networks" / "mnist"),
                         sorted(MNIST_FILES.values()))

    def test_a_folder_named_by_the_variable_receives_the_files(self):
        self.serve("fashion_mnist")
        os.environ["FASHION_MNIST_DIR"] = str(self.tmp / "env")
        self.load("fashion_mnist", download=True)
        self.assertEqual(files_under(self.tmp / "env"), sorted(FASHION_MNIST_FILES.values()))
        self.assertEqual(files_under(self.tmp / "downloads"), [])

    def test_only_the_missing_files_are_fetched(self):
        self.serve("mnist")
        mine = write_official_files("mnist", self.tmp / "mine")
        (mine / "t10k-labels-idx1-ubyte.gz").unlink()
        self.load("mnist", data_dir=mine, download=True)
        self.assertEqual(self.mirror.requests, ["/mnist/t10k-labels-idx1-ubyte.gz"])

    def test_found_elsewhere_is_not_downloaded(self):
        self.serve("fashion_mnist")
        repo = write_official_files("fashion_mnist", self.tmp / "repo")
        fashion_mnist_module.FASHION_MNIST_REPO_DIR = repo
        self.load("fashion_mnist", download=True)
        self.assertEqual(self.mirror.requests, [])
        self.assertEqual(files_under(self.tmp / "downloads"), [])

    def test_the_archive_named_by_data_dir_is_downloaded_there(self):
        self.serve("cifar10")
        archive = self.tmp / "mine" / CIFAR10_ARCHIVE
        self.load("cifar10", data_dir=archive, download=True)
        self.assertEqual(files_under(self.tmp / "mine"), [CIFAR10_ARCHIVE])

    def test_a_mirror_without_the_placeholder_serves_files_at_its_top(self):
        folder = self.serve("cifar10")
        folder.rename(self.tmp / "flat")
        self.mirror.server.folder = self.tmp / "flat"
        os.environ["NEURAL_NETWORKS_MIRROR"] = self.mirror.url + "/"
        self.load("cifar10", download=True)
        self.assertEqual(self.mirror.requests, [f"/{CIFAR10_ARCHIVE}"])

    def test_downloaded_files_have_the_mode_open_gives(self):
        self.serve("cifar10")
        old = os.umask(0o027)
        try:
            self.load("cifar10", download=True)
        finally:
            os.umask(old)
        mode = (self.tmp / "downloads" / "cifar10" / CIFAR10_ARCHIVE).stat().st_mode
        self.assertEqual(mode & 0o777, 0o640)


class TestRefused(MirrorTest):
    def test_a_corrupt_file_is_a_checksum_error_and_is_not_kept(self):
        served = self.serve("fashion_mnist")
        bad = served / "t10k-labels-idx1-ubyte.gz"
        expected = download.SOURCES["fashion_mnist"].md5[bad.name]
        good_bytes = bad.read_bytes()
        bad.write_bytes(good_bytes[:-1] + bytes([good_bytes[-1] ^ 1]))
        found = md5_of(bad)
        mine = self.tmp / "mine"
        with self.assertRaises(ValueError) as caught:
            self.load("fashion_mnist", data_dir=mine, download=True)
        message = str(caught.exception)
        for part in ("checksum", f"{self.mirror.url}/fashion_mnist/{bad.name}", expected, found):
            self.assertIn(part, message)
        # The three good files stay; the bad one, and any temporary file, are gone.
        self.assertEqual(files_under(mine), sorted(set(FASHION_MNIST_FILES.values()) - {bad.name}))
        # Once the mirror serves the right file, only it is fetched.
        bad.write_bytes(good_bytes)
        self.mirror.requests.clear()
        self.load("fashion_mnist", data_dir=mine, download=True)
        self.assertEqual(self.mirror.requests, [f"/fashion_mnist/{bad.name}"])

    def test_a_corrupt_archive_leaves_nothing(self):
        served = self.serve("cifar10")
        (served / CIFAR10_ARCHIVE).write_bytes(b"not the archive")
        with self.assertRaisesRegex(ValueError, "checksum"):
            self.load("cifar10", download=True)
        self.assertEqual(files_under(self.tmp / "downloads"), [])

    def test_a_missing_file_on_the_mirror_names_the_url_and_the_variable(self):
        served = self.serve("mnist")
        (served / "train-labels-idx1-ubyte.gz").unlink()
        with self.assertRaises(ValueError) as caught:
            self.load("mnist", download=True)
        message = str(caught.exception)
        for part in (f"{self.mirror.url}/mnist/train-labels-idx1-ubyte.gz",
                     f"{self.mirror.url[len('http://'):]} answered HTTP 404 Not Found",
                     "NEURAL_NETWORKS_MIRROR",
                     "NEURAL_NETWORKS_MIRROR=https://ossci-datasets.s3.amazonaws.com/mnist"):
            self.assertIn(part, message)
        self.assertEqual(files_under(self.tmp / "downloads" / "mnist"),
                         ["train-images-idx3-ubyte.gz"])

    def test_no_server_at_all(self):
        self.serve("mnist")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        os.environ["NEURAL_NETWORKS_MIRROR"] = f"http://127.0.0.1:{port}"
        with self.assertRaisesRegex(ValueError, rf"cannot download http://127\.0\.0\.1:{port}/"
                                                r"train-images-idx3-ubyte\.gz: "
                                                rf"127\.0\.0\.1:{port} refused the connection"):
            self.load("mnist", download=True)

    def test_a_folder_that_cannot_be_written(self):
        self.serve("mnist")
        not_a_folder = self.tmp / "file"
        not_a_folder.write_text("a file, not a folder")
        with self.assertRaisesRegex(ValueError, rf"cannot save train-images-idx3-ubyte\.gz in "
                                                rf"{not_a_folder}: "):
            self.load("mnist", data_dir=not_a_folder, download=True)
        self.assertEqual(not_a_folder.read_text(), "a file, not a folder")

    def test_a_mirror_that_is_not_a_url(self):
        for value in ("ftp://example.org/data", "/srv/mirror", "http://"):
            with self.subTest(mirror=value):
                os.environ["NEURAL_NETWORKS_MIRROR"] = value
                with self.assertRaisesRegex(ValueError, "NEURAL_NETWORKS_MIRROR must be an "
                                                        r"http:// or https:// URL, got"):
                    self.load("mnist", download=True)

    def test_without_download_the_error_says_how_to_download(self):
        for name in DATASETS:
            with self.subTest(dataset=name):
                self.serve(name)
                for options in ({}, {"data_dir": self.tmp / "empty"}):
                    with self.assertRaises(ValueError) as caught:
                        self.load(name, **options)
                    message = str(caught.exception)
                    self.assertIn("--download (in Python: download=True)", message)
                    self.assertNotIn("\n", message)
                    if not options:
                        self.assertIn(str(self.tmp / "downloads" / name), message)
                self.assertEqual(self.mirror.requests, [])

    def test_without_pooch(self):
        del os.environ["NEURAL_NETWORKS_DATA"]
        with mock.patch.dict(sys.modules, {"pooch": None}):
            with self.assertRaisesRegex(ValueError, "download=True needs the package pooch"):
                self.load("mnist", download=True)
            # Loading without a download still works; there is no cache folder to name.
            self.assertIsNone(download.download_folder("mnist"))
            with self.assertRaisesRegex(ValueError, r"MNIST not found"):
                self.load("mnist")


class TestNetworkErrorsInWords(MirrorTest):
    """A download that fails on the way says why in words, names the host and
    NEURAL_NETWORKS_MIRROR, on one line, without urllib3's own text."""

    RAW_TEXT = ("Max retries", "HTTPConnectionPool", "NewConnectionError", "urllib3",
                "NameResolutionError", "Caused by", "\n")

    def failure(self, name="mnist"):
        with self.assertRaises(ValueError) as caught:
            self.load(name, download=True)
        message = str(caught.exception)
        for raw in self.RAW_TEXT:
            self.assertNotIn(raw, message)
        self.assertIn("NEURAL_NETWORKS_MIRROR", message)
        return message

    def test_no_network_connection_for_the_lookup_of_the_host(self):
        real = socket.getaddrinfo

        def no_dns(host, *args, **kwargs):
            if host == "mirror.invalid":
                raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
            return real(host, *args, **kwargs)

        os.environ["NEURAL_NETWORKS_MIRROR"] = "http://mirror.invalid/{dataset}"
        with mock.patch.object(socket, "getaddrinfo", no_dns):
            message = self.failure()
        self.assertIn("cannot download http://mirror.invalid/mnist/train-images-idx3-ubyte.gz: "
                      "no network connection: the host name mirror.invalid could not be looked "
                      "up", message)

    def test_a_host_name_that_does_not_exist(self):
        def no_such_host(*args, **kwargs):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

        os.environ["NEURAL_NETWORKS_MIRROR"] = "http://mirror.invalid/{dataset}"
        with mock.patch.object(socket, "getaddrinfo", no_such_host):
            message = self.failure()
        self.assertIn("the host name mirror.invalid could not be looked up: no such host, or "
                      "no network connection", message)

    def test_no_route_to_the_network(self):
        def unreachable(*args, **kwargs):
            raise OSError(errno.ENETUNREACH, "Network is unreachable")

        os.environ["NEURAL_NETWORKS_MIRROR"] = "http://192.0.2.1:8080/{dataset}"
        with mock.patch.object(urllib3.util.connection, "create_connection", unreachable):
            message = self.failure()
        self.assertIn("no network connection: 192.0.2.1:8080 cannot be reached", message)

    def test_a_server_that_never_answers(self):
        # It listens, so the connection is made, but it never reads nor answers.
        silent = socket.socket()
        self.addCleanup(silent.close)
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        port = silent.getsockname()[1]
        os.environ["NEURAL_NETWORKS_MIRROR"] = f"http://127.0.0.1:{port}"
        with mock.patch.object(download, "TIMEOUT", 0.2):
            message = self.failure()
        self.assertIn(f"127.0.0.1:{port} did not answer within 0.2 s", message)

    def test_an_http_status(self):
        self.serve("cifar10")
        self.mirror.server.auth = "Basic nobody"
        message = self.failure("cifar10")
        self.assertIn(f"{self.mirror.url[len('http://'):]} answered HTTP 401 Unauthorized",
                      message)

    def test_a_connection_that_breaks_off(self):
        self.serve("cifar10")
        self.mirror.server.midway = lambda path: "hang up"
        message = self.failure("cifar10")
        self.assertIn("the connection to 127.0.0.1", message)
        self.assertIn("broke off during the download", message)
        self.assertFalse((self.tmp / "downloads").exists())


class TestFailuresLeaveNothing(MirrorTest):
    """A failed download removes what it created, and only that."""

    def test_the_folders_it_made_are_removed(self):
        self.serve("mnist")
        (self.served / "mnist" / "train-images-idx3-ubyte.gz").unlink()
        os.environ["NEURAL_NETWORKS_DATA"] = str(self.tmp / "new" / "data")
        with self.assertRaisesRegex(ValueError, "HTTP 404"):
            self.load("mnist", download=True)
        self.assertFalse((self.tmp / "new").exists())
        # The same for a folder named by data_dir.
        with self.assertRaisesRegex(ValueError, "HTTP 404"):
            self.load("mnist", data_dir=self.tmp / "mine" / "mnist", download=True)
        self.assertFalse((self.tmp / "mine").exists())

    def test_what_was_there_before_stays(self):
        self.serve("mnist")
        (self.served / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
        mine = self.tmp / "mine"
        (mine / "empty").mkdir(parents=True)
        (mine / "notes.txt").write_text("my notes")
        with self.assertRaisesRegex(ValueError, "HTTP 404"):
            self.load("mnist", data_dir=mine, download=True)
        # The three files finished and checked stay too: a second try fetches only the fourth.
        self.assertEqual(files_under(mine), sorted(
            ["notes.txt", *(set(MNIST_FILES.values()) - {"t10k-labels-idx1-ubyte.gz"})]))
        self.assertEqual((mine / "notes.txt").read_text(), "my notes")
        self.assertTrue((mine / "empty").is_dir())

    def test_ctrl_c_midway_leaves_no_partial_file_nor_the_folder(self):
        self.serve("cifar10")
        payload = np.random.default_rng(0).bytes(2**19)
        (self.served / "cifar10" / CIFAR10_ARCHIVE).write_bytes(payload)
        download.SOURCES["cifar10"] = download.SOURCES["cifar10"]._replace(
            md5={CIFAR10_ARCHIVE: hashlib.md5(payload).hexdigest()})
        seen = {}

        def ctrl_c(path):
            folder = self.tmp / "downloads" / "cifar10"
            seen["midway"] = files_under(folder)
            os.kill(os.getpid(), signal.SIGINT)

        self.mirror.server.midway = ctrl_c
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            with self.assertRaises(KeyboardInterrupt):
                self.load("cifar10", download=True)
        finally:
            signal.signal(signal.SIGINT, previous)
        self.assertEqual(len(seen["midway"]), 1)    # the partial file, under a temporary name
        self.assertFalse((self.tmp / "downloads").exists())

    def test_what_a_killed_download_left_is_removed_by_the_next(self):
        """A download killed with SIGKILL midway cleans up nothing; the next download into
        the folder removes what it left (the old code kept pooch's partial file for good),
        and never a live process's download."""
        payload = np.random.default_rng(0).bytes(2**19)
        (self.served / "cifar10").mkdir(parents=True)
        (self.served / "cifar10" / CIFAR10_ARCHIVE).write_bytes(payload)
        md5 = hashlib.md5(payload).hexdigest()
        download.SOURCES["cifar10"] = download.Source("https://unused/", {CIFAR10_ARCHIVE: md5})
        folder = self.tmp / "target"
        child = subprocess.Popen([sys.executable, "-c", (
            "import sys\n"
            "from neural_networks.datasets import download\n"
            "download.SOURCES['cifar10'] = download.Source('https://unused/', "
            "{sys.argv[1]: sys.argv[2]})\n"
            "download.fetch('cifar10', sys.argv[3], progress=False)\n"),
            CIFAR10_ARCHIVE, md5, str(folder)], env=os.environ.copy(), stderr=subprocess.PIPE)

        def kill(path):
            # Once part of the file is written, the downloading process dies on the spot.
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not any(
                    p.stat().st_size for p in folder.rglob("*") if p.is_file()):
                time.sleep(0.01)
            child.kill()
            child.wait()
            return "hang up"

        self.mirror.server.midway = kill
        child.wait(timeout=60)
        child.stderr.close()
        self.assertEqual(child.returncode, -signal.SIGKILL)
        left = files_under(folder)
        self.assertEqual(len(left), 1, left)
        self.assertNotEqual(left[0], CIFAR10_ARCHIVE)
        # A download in progress in this (live) process: not to be touched.
        live = folder / files.temporary_name(CIFAR10_ARCHIVE)
        live.mkdir()
        (live / "part").write_bytes(b"123")
        self.mirror.server.midway = lambda path: None
        download.fetch("cifar10", folder, progress=False)
        self.assertEqual(files_under(folder), sorted([CIFAR10_ARCHIVE,
                                                      f"{live.name}/part"]))
        self.assertEqual((folder / CIFAR10_ARCHIVE).read_bytes(), payload)


class TestPasswordsAreNotShown(MirrorTest):
    """A mirror URL with user:password@: the password is sent to the server, and is
    never printed (errors, pooch's log, the progress bar)."""

    PASSWORD = "s3cret-pw"

    def setUp(self):
        super().setUp()
        self.mirror.server.auth = "Basic " + base64.b64encode(
            f"reader:{self.PASSWORD}".encode()).decode()
        host = self.mirror.url[len("http://"):]
        self.shown = f"http://reader:***@{host}"
        os.environ["NEURAL_NETWORKS_MIRROR"] = f"http://reader:{self.PASSWORD}@{host}/{{dataset}}"

    def test_redact(self):
        for url, shown in (
                ("https://me:pw@host/data", "https://me:***@host/data"),
                ("https://me:p:w@d@host:8080/a@b?x=1", "https://me:***@host:8080/a@b?x=1"),
                ("https://me@host/data", "https://me@host/data"),
                ("https://host/a:b@c", "https://host/a:b@c"),
                ("http://fashion-mnist.example/", "http://fashion-mnist.example/")):
            with self.subTest(url=url):
                self.assertEqual(download.redact(url), shown)

    def test_the_log_and_the_progress_bar(self):
        class Terminal(io.StringIO):
            def isatty(self):
                return True

        self.serve("cifar10")
        stderr = Terminal()
        with self.assertLogs(pooch.get_logger(), "INFO") as logs, \
                contextlib.redirect_stderr(stderr):
            download.fetch("cifar10", self.tmp / "mine")
        self.assertEqual(files_under(self.tmp / "mine"), [CIFAR10_ARCHIVE])
        log = "\n".join(logs.output)
        self.assertIn(f"{self.shown}/cifar10/{CIFAR10_ARCHIVE}", log)
        self.assertIn("100%", stderr.getvalue())
        for shown in (log, stderr.getvalue()):
            self.assertNotIn(self.PASSWORD, shown)

    def test_errors(self):
        served = self.serve("mnist")
        good = {file: (served / file).read_bytes() for file in MNIST_FILES.values()}
        (served / "train-labels-idx1-ubyte.gz").unlink()
        (served / "t10k-images-idx3-ubyte.gz").write_bytes(good["t10k-images-idx3-ubyte.gz"][:-1])
        cases = {"a file the mirror lacks": ("train-labels-idx1-ubyte.gz", "HTTP 404"),
                 "a checksum that differs": ("t10k-images-idx3-ubyte.gz", "checksum differs")}
        for case, (file, reason) in cases.items():
            with self.subTest(case=case):
                mine = self.tmp / case
                mine.mkdir()
                for other in set(MNIST_FILES.values()) - {file}:
                    (mine / other).write_bytes(good[other])
                with self.assertRaises(ValueError) as caught:
                    self.load("mnist", data_dir=mine, download=True)
                message = str(caught.exception)
                self.assertIn(reason, message)
                self.assertIn(f"{self.shown}/mnist/{file}", message)
                self.assertNotIn(self.PASSWORD, message)
        for mirror in (f"ftp://reader:{self.PASSWORD}@host/data",
                       f"http://reader:{self.PASSWORD}@127.0.0.1:1/{{dataset}}"):
            with self.subTest(mirror=mirror):
                os.environ["NEURAL_NETWORKS_MIRROR"] = mirror
                with self.assertRaises(ValueError) as caught:
                    self.load("mnist", download=True)
                self.assertIn("reader:***@", str(caught.exception))
                self.assertNotIn(self.PASSWORD, str(caught.exception))


class TestBytesAsSent(MirrorTest):
    def test_a_gz_served_with_content_encoding_gzip_is_kept_as_sent(self):
        # Some servers label a .gz file with Content-Encoding: gzip; a client that
        # decodes it would save the IDX data inside, and the MD5 would differ.
        served = self.serve("fashion_mnist")
        self.mirror.server.content_encoding = "gzip"
        mine = self.tmp / "mine"
        self.load("fashion_mnist", data_dir=mine, download=True)
        for file in FASHION_MNIST_FILES.values():
            self.assertEqual((mine / file).read_bytes(), (served / file).read_bytes())
        self.assertEqual(set(self.mirror.server.accept_encodings), {"identity"})


class TestWholeOrNothing(MirrorTest):
    def test_the_file_appears_under_its_name_only_when_complete(self):
        # 512 kB, so the client has written several chunks when the server pauses.
        payload = np.random.default_rng(0).bytes(2**19)
        (self.served / "cifar10").mkdir(parents=True)
        (self.served / "cifar10" / CIFAR10_ARCHIVE).write_bytes(payload)
        download.SOURCES["cifar10"] = download.Source(
            "https://unused/", {CIFAR10_ARCHIVE: hashlib.md5(payload).hexdigest()})
        folder = self.tmp / "target"
        seen = {}

        def midway(path):
            # Wait until the client has written part of the file somewhere in the folder
            # (in a temporary folder of its own, so a killed download can be told apart).
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                sizes = {str(p.relative_to(folder)): p.stat().st_size
                         for p in folder.rglob("*") if p.is_file()}
                if any(sizes.values()):
                    break
                time.sleep(0.01)
            seen["midway"] = sizes

        self.mirror.server.midway = midway
        download.fetch("cifar10", folder, progress=False)
        self.assertNotIn(CIFAR10_ARCHIVE, seen["midway"])
        self.assertEqual(len(seen["midway"]), 1)       # the temporary file
        self.assertGreater(max(seen["midway"].values()), 0)
        self.assertEqual(files_under(folder), [CIFAR10_ARCHIVE])
        self.assertEqual((folder / CIFAR10_ARCHIVE).read_bytes(), payload)


class TestProgress(MirrorTest):
    def fetch_with_stderr(self, stderr, **options):
        with contextlib.redirect_stderr(stderr):
            fetched = download.fetch("cifar10", self.tmp / "target", **options)
        self.assertEqual(fetched, [self.tmp / "target" / CIFAR10_ARCHIVE])
        return stderr.getvalue()

    def test_no_bar_when_stderr_is_not_a_terminal(self):
        self.serve("cifar10")
        self.assertEqual(self.fetch_with_stderr(io.StringIO()), "")

    def test_a_bar_on_a_terminal(self):
        class Terminal(io.StringIO):
            def isatty(self):
                return True

        self.serve("cifar10")
        written = self.fetch_with_stderr(Terminal())
        self.assertIn("100%", written)
        self.assertIn("B/s", written)

    def test_a_bar_asked_for_on_a_log_file_does_not_break_the_download(self):
        self.serve("cifar10")
        self.assertIn("100%", self.fetch_with_stderr(io.StringIO(), progress=True))


class TestScripts(MirrorTest):
    def test_download_option(self):
        self.assertFalse(image_runs.parse_args("mnist", "train_mnist.py", []).download)
        self.assertTrue(image_runs.parse_args("cifar10", "train_cifar10.py",
                                              ["--download"]).download)

    def test_a_run_with_download_fetches_then_trains(self):
        self.serve("mnist")
        data = self.tmp / "data"
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            status = image_runs.main("mnist", "train_mnist.py", [
                "--model", "mlp", "--epochs", "1", "--validation-size", "10", "--download",
                "--data-dir", str(data), "--save-dir", str(self.tmp / "runs")])
        self.assertEqual(status, 0, out.getvalue())
        self.assertEqual(files_under(data), sorted(MNIST_FILES.values()))
        self.assertIn("epoch 1/1", out.getvalue())
        self.assertTrue((self.tmp / "runs" / "mnist_mlp" / "predictions.csv").is_file())

    def test_missing_data_is_one_line_naming_the_option_that_fetches_it(self):
        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            status = image_runs.main("fashion_mnist", "train_fashion_mnist.py", [
                "--model", "mlp", "--epochs", "1", "--save-dir", str(self.tmp / "runs")])
        self.assertEqual(status, 2)
        lines = err.getvalue().splitlines()
        self.assertEqual(len(lines), 1, err.getvalue())
        self.assertTrue(lines[0].startswith("error: Fashion-MNIST not found: none of "), lines)
        self.assertIn(str(self.tmp / "downloads" / "fashion_mnist"), lines[0])
        self.assertTrue(lines[0].endswith("Get it with --download (in Python: download=True), or "
                                          "apt-get install dataset-fashion-mnist (Debian, Ubuntu)"),
                        lines[0])
        self.assertEqual(os.listdir(self.tmp / "runs"), [])

    def test_a_failed_download_is_one_line_and_leaves_nothing(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        os.environ["NEURAL_NETWORKS_MIRROR"] = f"http://reader:s3cret-pw@127.0.0.1:{port}"
        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            status = image_runs.main("mnist", "train_mnist.py", [
                "--model", "mlp", "--epochs", "1", "--download",
                "--save-dir", str(self.tmp / "runs")])
        self.assertEqual(status, 2)
        self.assertEqual(err.getvalue().splitlines(), [
            f"error: cannot download http://reader:***@127.0.0.1:{port}/train-images-idx3-ubyte.gz"
            f": 127.0.0.1:{port} refused the connection: no server answers there. To download "
            f"from another server, point NEURAL_NETWORKS_MIRROR (now http://reader:***@"
            f"127.0.0.1:{port}) to a URL that serves the files as <URL>/train-images-idx3-ubyte.gz"
            f" (a copy of these files: NEURAL_NETWORKS_MIRROR=https://ossci-datasets.s3.amazonaws"
            f".com/mnist)"])
        self.assertEqual(os.listdir(self.tmp / "runs"), [])
        self.assertFalse((self.tmp / "downloads").exists())

    def test_mnist_recipes_are_fashion_mnists_without_the_flip(self):
        fashion, mnist = image_runs.RECIPES[("fashion_mnist", "cnn")], image_runs.RECIPES[
            ("mnist", "cnn")]
        self.assertEqual(fashion.augment, "flip")
        self.assertIsNone(mnist.augment)
        self.assertEqual(dict(mnist, augment="flip"), fashion)
        self.assertIs(image_runs.RECIPES[("mnist", "mlp")],
                      image_runs.RECIPES[("fashion_mnist", "mlp")])


class TestRealFiles(MirrorTest):
    @classmethod
    def setUpClass(cls):
        cls.real = require_fashion_mnist()

    def test_the_official_table_accepts_the_published_files(self):
        # The real table, unpatched: the mirror serves Fashion-MNIST as published.
        (self.served / "fashion_mnist").mkdir(parents=True)
        for file in FASHION_MNIST_FILES.values():
            (self.served / "fashion_mnist" / file).write_bytes(as_published(self.real / file))
        fetched = download.fetch("fashion_mnist", self.tmp / "mine", progress=False)
        self.assertEqual(sorted(p.name for p in fetched), sorted(FASHION_MNIST_FILES.values()))
        self.assertEqual(len(self.mirror.requests), 4)


class TestDownloadFlag(unittest.TestCase):
    def test_only_true_or_false(self):
        # A string such as "no" is truthy: it must be refused, not start a download.
        for value in ("no", "yes", 1, 0.0):
            for name in ("fashion_mnist", "mnist", "cifar10"):
                with self.subTest(name=name, download=value), tempfile.TemporaryDirectory() as d:
                    with self.assertRaisesRegex(ValueError, "download must be True or False"):
                        initialize_dataset(name, data_dir=d, download=value)


class TestOfficialTable(unittest.TestCase):
    def test_every_file_with_an_md5(self):
        expected = {"fashion_mnist": set(FASHION_MNIST_FILES.values()),
                    "mnist": set(MNIST_FILES.values()), "cifar10": {CIFAR10_ARCHIVE}}
        self.assertEqual(set(download.SOURCES), set(expected))
        for name, source in download.SOURCES.items():
            with self.subTest(dataset=name):
                self.assertEqual(set(source.md5), expected[name])
                for md5 in source.md5.values():
                    self.assertRegex(md5, r"^[0-9a-f]{32}$")
        self.assertEqual(len({md5 for s in download.SOURCES.values() for md5 in s.md5.values()}),
                         9)

    def test_official_urls(self):
        with mock.patch.dict(os.environ):
            os.environ.pop("NEURAL_NETWORKS_MIRROR", None)
            self.assertEqual(download.file_urls("cifar10"), {
                CIFAR10_ARCHIVE: "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"})
            self.assertEqual(
                download.file_urls("fashion_mnist")["t10k-labels-idx1-ubyte.gz"],
                "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
                "t10k-labels-idx1-ubyte.gz")
            self.assertEqual(download.file_urls("mnist")["train-images-idx3-ubyte.gz"],
                             "http://yann.lecun.com/exdb/mnist/train-images-idx3-ubyte.gz")
        with self.assertRaisesRegex(ValueError, "unknown downloadable dataset 'iris'"):
            download.file_urls("iris")

    def test_fashion_mnist_md5s_match_the_real_files(self):
        folder = require_fashion_mnist()
        official = download.SOURCES["fashion_mnist"].md5
        for file, md5 in official.items():
            with self.subTest(file=file):
                self.assertEqual(hashlib.md5(as_published(folder / file)).hexdigest(), md5)


# When the official .gz files were made (the mtime in their gzip headers,
# 2017-08-31), found by trying each second of that month against the official MD5s.
PUBLISHED_MTIME = {"train": 1504176606, "t10k": 1504176627}


def as_published(path):
    """The bytes of an official Fashion-MNIST .gz file as Zalando published it.

    Debian's build (strip-nondeterminism) rewrote each gzip header: the original
    file name (the FNAME field) was dropped and the time set to the build's.
    The compressed data is untouched, so putting the header back gives the
    published file; a file that still has its name is returned as it is.
    """
    data = Path(path).read_bytes()
    flags = data[3]
    if flags & gzip.FNAME:
        return data
    name = Path(path).name[:-len(".gz")].encode() + b"\0"
    mtime = PUBLISHED_MTIME[Path(path).name.split("-")[0]]
    return data[:3] + bytes([flags | gzip.FNAME]) + struct.pack("<I", mtime) + data[8:10] \
        + name + data[10:]


if __name__ == "__main__":
    unittest.main()
