"""Hypothesis profiles for the property tests (loaded by conftest.py).

``ci`` (the default): derandomized, so every run tests the same examples and a
failure reproduces; no deadline (C calls and the model's reclaim loops vary in
time); the reproduction blob printed on failure; shrinking bounded to
SHRINK_SECONDS, so a failure is reported within half a minute of being found
(partly shrunk: replay the blob under ``deep`` to shrink it further).

``deep`` (``HYPOTHESIS_PROFILE=deep``): random, many more and longer runs, for
searching; it also keeps a local example database so a failure it finds is
replayed first next time.
"""
import os

from hypothesis import HealthCheck, settings
from hypothesis.internal.conjecture import engine

SHRINK_SECONDS = 10

_SUPPRESS = [HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large]

settings.register_profile(
    "ci",
    max_examples=1000,
    stateful_step_count=40,
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=_SUPPRESS,
)
settings.register_profile(
    "deep",
    max_examples=20000,
    stateful_step_count=100,
    derandomize=False,
    deadline=None,
    print_blob=True,
    suppress_health_check=_SUPPRESS,
)
PROFILE = os.environ.get("HYPOTHESIS_PROFILE", "ci")
settings.load_profile(PROFILE)
if PROFILE == "ci":
    engine.MAX_SHRINKING_SECONDS = SHRINK_SECONDS    # Hypothesis keeps this patchable for this use


def examples(ci, deep):
    """A test's own budget in the loaded profile (the profiles' max_examples is the state machine's)."""
    return deep if PROFILE == "deep" else ci
