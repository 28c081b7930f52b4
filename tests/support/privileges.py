"""Running a command as root would let it ignore file permissions: tests of unwritable and
unreadable files take those powers away first."""

import os
import shutil

import pytest


def drop_root_powers() -> list[str]:
    """A prefix that runs a command without the powers that let root ignore permissions."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: permissions cannot be taken away")
    return [setpriv, "--bounding-set=-dac_override,-dac_read_search,-fowner"]
