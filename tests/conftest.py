"""Fixtures: machines that are checked on the way out (the readers live in helpers.py).

Every machine made through the ``machine`` fixture is walked by ``m.check()``
when the test ends, so each scenario ends with the invariants the README
lists verified even when the test body forgets to.
"""
import hypothesis_profiles  # noqa: F401  (the ci / deep profiles, for every test module)
import pytest

from memcg_emu import Machine


# the slow, broad tests (the CLI in subprocesses, sweeps, fuzzing, thread stress): about 55 s
BROAD = ("test_keyboard.py", "test_sweep.py", "test_fuzz_api.py", "test_fuzz_inputs.py", "test_threads.py")


def pytest_collection_modifyitems(items):
    """The example tests of the kernel's rules first (a few seconds), then the state
    machine's search, then the broad tests: with ``-x`` a bug that an example pins stops the
    run within seconds, and one only the search finds within the search's first minute."""
    def rank(item):
        name = item.nodeid.split("::")[0].rsplit("/", 1)[-1]
        return 2 if name in BROAD else 1 if name == "test_state_machine.py" else 0
    items.sort(key=rank)


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
