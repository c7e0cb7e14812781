"""keep_freed_memory: freed large arrays are reused instead of faulted in afresh."""

import ctypes.util
import subprocess
import sys
import unittest

import numpy as np

from neural_networks.utils.memory import keep_freed_memory

# 20 rounds of: fill three 16 MB arrays at once, then free them (as a network
# step does with its activations); prints the minor page faults of those
# rounds, after a first round that maps the memory once. By default glibc
# returns the freed 48 MB at the top of the heap to the system every round.
FAULTS = """
import resource, sys
import numpy as np
from neural_networks.utils.memory import keep_freed_memory
if sys.argv[1] == "keep":
    assert keep_freed_memory()
def step():
    arrays = [np.ones(4 << 20, dtype=np.float32) for _ in range(3)]
    return sum(a.sum() for a in arrays)
step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def page_faults(mode):
    out = subprocess.run([sys.executable, "-c", FAULTS, mode], capture_output=True, text=True,
                         check=True)
    return int(out.stdout)


@unittest.skipUnless(sys.platform.startswith("linux") and ctypes.util.find_library("c"),
                     "glibc's mallopt is Linux-only")
class TestKeepFreedMemory(unittest.TestCase):
    def test_freed_arrays_are_reused(self):
        # 48 MB is 12288 pages of 4 KiB: without the setting each round faults
        # many of them in again (fewer with transparent huge pages).
        default, kept = page_faults("default"), page_faults("keep")
        self.assertGreater(default, 10 * max(kept, 50), (default, kept))

    def test_reports_success(self):
        self.assertTrue(keep_freed_memory())


class TestBadSettings(unittest.TestCase):
    def test_refused(self):
        for kwargs in ({"trim_threshold": -1}, {"top_pad": 1.5},
                       {"mmap_threshold": 64 << 20}, {"trim_threshold": True},
                       {"top_pad": np.float64(1 << 20)}):
            with self.subTest(**kwargs), self.assertRaises(ValueError):
                keep_freed_memory(**kwargs)

    def test_numpy_integers_are_taken(self):
        # The defaults, as numpy integers.
        self.assertTrue(keep_freed_memory(trim_threshold=np.int64(1024 << 20),
                                          top_pad=np.int32(64 << 20),
                                          mmap_threshold=np.uint32(32 << 20)))


if __name__ == "__main__":
    unittest.main()
