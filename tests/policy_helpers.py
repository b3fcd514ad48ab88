"""Small readers shared by the policy tests."""
PAGE = 4096
MiB = 1 << 20


def usage(m, cg):
    return int(m.read(cg, "memory.usage_in_bytes"))


def stat(m, cg):
    return {k: int(v) for k, v in (line.split() for line in m.read(cg, "memory.stat").splitlines())}


def leaked(m, cg):
    return int(m.read(cg, "memcg_emu.leaked_bytes"))


def alive(m, pid):
    try:
        m.cgroup_of(pid)
        return True
    except ProcessLookupError:
        return False
