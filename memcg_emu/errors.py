"""The one funnel from C's negative errno to Python exceptions."""
import errno
import os

from ._core import ffi, lib

__all__ = ["KernelBug", "OOMKilled", "check_ret", "last_error"]


class KernelBug(RuntimeError):
    """A BUG_ON fired inside the C core; the machine refuses further calls."""


class OOMKilled(OSError):
    """A charge ended in the memcg OOM killer; ``victim`` is the pid it killed."""

    def __init__(self, message, victim, cgroup):
        super().__init__(errno.ENOMEM, message)
        self.victim = victim
        self.cgroup = cgroup


def last_error():
    buf = ffi.new("char[256]")
    lib.emu_last_error(buf, 256)
    return ffi.string(buf).decode()


def check_ret(ret):
    """Return ``ret`` when it is not an error; raise the matching exception when it is."""
    if ret >= 0:
        return ret
    message = last_error() or os.strerror(-ret)
    if -ret == errno.ENOTRECOVERABLE:
        raise KernelBug(message)
    raise OSError(-ret, message)
