"""Charge-moving policies: what happens to a task's charges when it changes memory cgroup.

Each policy has the same hooks, called by cgroup_attach_task():
``can_attach(ctx)`` (may raise OSError to refuse the move), ``cancel(ctx)``
(undo can_attach because a later subsystem refused) and ``attach(ctx)``
(after the task is in its new group).
"""

__all__ = ["POLICIES", "Policy", "get_policy"]


class Policy:
    name = None

    def can_attach(self, ctx):
        pass

    def cancel(self, ctx):
        pass

    def attach(self, ctx):
        pass


class NonePolicy(Policy):
    """RFD policy 2, and cgroup v2: the task moves, its charges stay where they are."""

    name = "none"


_POLICIES = {p.name: p for p in (NonePolicy,)}
POLICIES = tuple(_POLICIES)


def get_policy(name):
    if isinstance(name, Policy):
        return name
    if name not in _POLICIES:
        raise ValueError(f"unknown policy {name!r}; choose one of {', '.join(POLICIES)}")
    return _POLICIES[name]()
