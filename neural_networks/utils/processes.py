"""Whether the process that left a file behind may still be running.

A run folder's lock, the atomic writer's temporary files and a download in
progress carry the id of the process that made them, so that what a killed
process left can be told from what a live one is still writing. An id alone
is not enough: ids are reused once their process ends, and a folder may be
shared between machines. So the lock also records the machine (``host_tag``)
and, where Linux's ``/proc`` says it, when the process started
(``start_mark``); temporary names carry the machine's tag.
"""

import os
import socket
import zlib


def host_tag():
    """This machine, as 8 hex digits (a CRC-32 of its host name)."""
    return f"{zlib.crc32(socket.gethostname().encode()):08x}"


def start_mark(pid):
    """When process ``pid`` started, as ``"<boot id>:<clock ticks since boot>"``: a later
    process given the same id has another mark. None where ``/proc`` cannot tell (not
    Linux, or no such process)."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            boot = f.read().strip()
        with open(f"/proc/{int(pid)}/stat") as f:
            stat = f.read()
    except (OSError, ValueError):
        return None
    # Field 2, the command name, may hold spaces and ")": count the fields after its
    # last ")". Field 22, the start time, is then the 20th.
    fields = stat.rpartition(")")[2].split()
    return f"{boot}:{fields[19]}" if len(fields) > 19 else None


def alive(pid, host=None, started=None):
    """Whether process ``pid`` may still be running.

    Parameters
    ----------
    pid      a process id (None or <= 0: no process)
    host     the ``host_tag`` of its machine, if known: a process of another machine
             cannot be asked, so it counts as running
    started  its ``start_mark``, if known: a process with that id but another mark
             is a later one, and the process asked about has ended
    """
    if pid is None or pid <= 0:
        return False
    if host is not None and host != host_tag():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    except OverflowError:
        return False  # no process has such an id
    if started is not None:
        now = start_mark(pid)
        return now is None or now == started
    return True
