"""Fixtures: machines that are checked on the way out (the readers live in helpers.py).

Every machine made through the ``machine`` fixture is walked by ``m.check()``
when the test ends, so each scenario ends with the invariants the README
lists verified even when the test body forgets to.
"""
import hypothesis_profiles  # noqa: F401  (the ci / deep profiles, for every test module)
import pytest

from memcg_emu import Machine


def pytest_collection_modifyitems(items):
    """The example tests first, the state machine's long search last: with ``-x`` a bug
    that an example pins stops the run within the first minute."""
    items.sort(key=lambda item: item.nodeid.startswith("tests/test_state_machine.py"))


@pytest.fixture
def machine():
    """Factory of machines (policy none, kernel 6.1, 1G RAM, no swap by default); each is checked at the end.

    Transparent huge pages and page-table kmem are off unless a test asks (thp="always",
    kmem=True): most tests pin the page accounting byte for byte; test_thp.py and
    test_kmem.py pin those rules.
    """
    made = []

    def make(**kw):
        kw.setdefault("ram", "1G")
        kw.setdefault("swap", "0")
        kw.setdefault("policy", "none")
        kw.setdefault("kernel", "6.1")
        if kw["kernel"] in ("3.4", "6.1", "6.13"):
            kw.setdefault("thp", "never")
            kw.setdefault("kmem", False)
        m = Machine(**kw)
        made.append(m)
        return m

    yield make
    for m in made:
        m.check()


@pytest.fixture
def m(machine):
    """The default machine: 1G RAM, no swap, kernel 6.1, policy none, no THP."""
    return machine()
