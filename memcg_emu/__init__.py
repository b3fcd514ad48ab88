"""memcg-emu: a kernel-faithful emulator of Linux memory-cgroup charge accounting."""
from .errors import KernelBug, OOMKilled
from .machine import Machine
from .policies import POLICIES
from .profiles import PROFILES

__all__ = ["Machine", "POLICIES", "PROFILES", "OOMKilled", "KernelBug"]
__version__ = "0.1.0"
