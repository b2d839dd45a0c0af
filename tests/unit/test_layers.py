"""Which way imports go: the vocabulary, the steps and the workers never load SQLAlchemy."""

from __future__ import annotations

import subprocess
import sys

# Every module under these is imported; the store is reached only through relay.ports.
WITHOUT_SQLALCHEMY = ("relay.model", "relay.ports", "relay.accept", "relay.archive", "relay.policy",
                      "relay.content", "relay.delivery")

_PROBE = """
import importlib, pkgutil, sys
for name in sys.argv[1:]:
    module = importlib.import_module(name)
    for info in pkgutil.walk_packages(getattr(module, "__path__", []), name + "."):
        importlib.import_module(info.name)
loaded = sorted(m for m in sys.modules if m.split(".")[0] == "sqlalchemy")
store = sorted(m for m in sys.modules if m == "relay.store" or m.startswith("relay.store."))
print(len(sys.modules))
assert not loaded and not store, (loaded[:3], store)
"""


def test_model_steps_and_workers_import_no_sqlalchemy() -> None:
    """A fresh interpreter imports each such module, and no SQLAlchemy or relay.store."""
    done = subprocess.run([sys.executable, "-c", _PROBE, *WITHOUT_SQLALCHEMY],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) > 50  # the probe did import the modules
