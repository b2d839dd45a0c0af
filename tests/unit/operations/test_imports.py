"""Any front may import the operations for nothing: the store is loaded when a context opens."""

from __future__ import annotations

import subprocess
import sys

_PROBE = """
import sys
import relay.operations, relay.operations.directory, relay.operations.queue
import relay.operations.schema
heavy = [m for m in sys.modules if m.split(".")[0] == "sqlalchemy" or m.startswith("relay.store")]
assert not heavy, heavy[:3]
"""


def test_importing_the_operations_loads_no_store() -> None:
    done = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
