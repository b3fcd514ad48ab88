"""The one funnel from C's negative errno to Python exceptions."""
import ctypes
import errno
import os
import threading

from ._core import ffi, lib

__all__ = ["KernelBug", "OOMKilled", "check_ret", "errno_name", "last_error"]


class KernelBug(RuntimeError):
    """A BUG_ON fired inside the C core; the machine refuses further calls."""


class OOMKilled(OSError):
    """A charge ended in the memcg OOM killer; ``victim`` is the pid it killed."""

    def __init__(self, message, victim, cgroup):
        super().__init__(errno.ENOMEM, message)
        self.victim = victim
        self.cgroup = cgroup


_interrupted = threading.local()     # what a signal handler raised inside a C call


def _keep_interrupt(exc_type, exc, tb):
    _interrupted.exc = exc     # the C loop gets 1 and stops; check_ret() raises exc


@ffi.def_extern(error=1, onerror=_keep_interrupt)
def emu_py_signal_pending():
    """fatal_signal_pending() from C's long loops: run this thread's pending signal handlers.

    A handler's exception (Ctrl-C's KeyboardInterrupt), raised here or on the
    way in, stops the loop with -EINTR; check_ret() raises it again once the
    C call has returned.
    """
    ctypes.pythonapi.PyErr_CheckSignals()
    return 0


def errno_name(err):
    """An errno's name as the kernel's headers spell it ("EDEADLK", not errorcode's EDEADLOCK)."""
    if err == errno.EDEADLK:
        return "EDEADLK"
    return errno.errorcode.get(err, f"E{err}")


def last_error():
    buf = ffi.new("char[256]")
    lib.emu_last_error(buf, 256)
    return ffi.string(buf).decode()


def check_ret(ret):
    """Return ``ret`` when it is not an error; raise the matching exception when it is."""
    if ret >= 0:
        return ret
    exc = getattr(_interrupted, "exc", None)
    if exc is not None and -ret == errno.EINTR:
        _interrupted.exc = None
        raise exc
    message = last_error() or os.strerror(-ret)
    if -ret == errno.ENOTRECOVERABLE:
        raise KernelBug(message)
    raise OSError(-ret, message)
