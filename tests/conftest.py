"""Suite-wide settings.

Hypothesis: no per-example deadline and no 'too slow' health check, because the suite
shares two cores with pcscd and vpcd servers; example counts are set per test. In CI
(CI=true) examples are derandomized so a failure reproduces from the same commit.
"""
import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "sscard",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=os.environ.get("CI") == "true",
)
settings.load_profile("sscard")
