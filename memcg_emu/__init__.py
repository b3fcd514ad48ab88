"""memcg-emu: a kernel-faithful emulator of Linux memory-cgroup charge accounting."""
from .errors import KernelBug, OOMKilled
from .machine import SCENARIO_HELPER, Machine, ProcessImage
from .policies import POLICIES
from .profiles import PROFILES

__all__ = ["Machine", "ProcessImage", "SCENARIO_HELPER", "POLICIES", "PROFILES", "OOMKilled", "KernelBug"]
__version__ = "0.1.0"
