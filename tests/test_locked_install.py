"""The environment the suite runs in is exactly requirements.lock: a drift cannot hide.

``make run``, ``make test`` and CI install the lock with ``--require-hashes`` and the project
without dependencies (docs/development.md); a package upgraded, added or missing by hand makes
this test fail and name it.
"""

from __future__ import annotations

import re
from importlib import metadata

from packaging.markers import Marker
from packaging.utils import canonicalize_name

from engine.catalog import PROJECT_ROOT

LOCK = PROJECT_ROOT / "requirements.lock"
# The installer's own packages and the project itself are not in the lock.
NOT_LOCKED = {"pip", "setuptools", "wheel", "clinq-billing"}
PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>[^\s;\\]+)(?: ; (?P<marker>[^\\]+))?"
)


def locked(lock_text: str) -> dict[str, str]:
    """The pins of a lock that apply to this interpreter and platform."""
    pins = {}
    for line in lock_text.splitlines():
        pin = PIN.match(line)
        if pin and (pin["marker"] is None or Marker(pin["marker"].strip()).evaluate()):
            pins[canonicalize_name(pin["name"])] = pin["version"]
    return pins


def drift(pins: dict[str, str], installed: dict[str, str]) -> list[str]:
    """Every difference between the locked and the installed set, in words."""
    problems = []
    for name, version in sorted(pins.items()):
        if name not in installed:
            problems.append(f"{name} {version} is locked but not installed")
        elif installed[name] != version:
            problems.append(f"{name} {installed[name]} is installed, the lock says {version}")
    for name in sorted(installed.keys() - pins.keys() - NOT_LOCKED):
        problems.append(f"{name} {installed[name]} is installed but not in the lock")
    return problems


def installed_set() -> dict[str, str]:
    return {
        canonicalize_name(dist.metadata["Name"]): dist.version for dist in metadata.distributions()
    }


def test_the_installed_set_is_the_locked_set():
    problems = drift(locked(LOCK.read_text()), installed_set())
    assert problems == [], (
        "the environment differs from requirements.lock (run `make clean test`, or update the "
        "lock deliberately with `make lock`):\n" + "\n".join(problems)
    )


def test_a_drift_is_named_package_by_package():
    pins = locked(
        "cryptography==46.0.3 \\\n    --hash=sha256:00\n"
        "pyhanko==0.38.0 \\\n"
        "colorama==0.4.6 ; sys_platform == 'never' \\\n"
        "Flask_Limiter==4.1 \\\n"
    )
    assert pins == {"cryptography": "46.0.3", "pyhanko": "0.38.0", "flask-limiter": "4.1"}
    installed = {"cryptography": "51.0.1", "flask-limiter": "4.1", "pip": "25.3", "six": "1.17"}
    assert drift(pins, installed) == [
        "cryptography 51.0.1 is installed, the lock says 46.0.3",
        "pyhanko 0.38.0 is locked but not installed",
        "six 1.17 is installed but not in the lock",
    ]
