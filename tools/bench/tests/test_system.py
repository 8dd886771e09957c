"""The machine side: open-file limits."""

from __future__ import annotations

import resource
import subprocess
import sys

from tools.bench.system import raise_nofile


def test_the_open_file_limit_is_raised_at_least_to_the_hard_limit() -> None:
    # in a child: the limit stays raised for the rest of its life
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        before_hard = resource.prlimit(child.pid, resource.RLIMIT_NOFILE)[1]
        resource.prlimit(child.pid, resource.RLIMIT_NOFILE, (256, before_hard))
        soft, hard = raise_nofile(child.pid)
    finally:
        child.kill()
        child.wait()
    # both limits at the kernel's ceiling where the hard limit may be raised, else soft = hard
    assert soft == hard >= before_hard
