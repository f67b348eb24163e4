"""Find the system programs the local target runs (nginx, prometheus) and the tests' load tool (hey)."""

from __future__ import annotations

import os
import platform
import shutil

from rolloutlab.errors import ProgramMissing

# Debian installs nginx in /usr/sbin, which is not on a normal user's PATH.
_EXTRA_DIRS = ["/usr/sbin", "/usr/local/sbin", "/opt/homebrew/bin", "/usr/local/bin"]
_PACKAGES = {"nginx": "nginx-light (or nginx)", "prometheus": "prometheus", "hey": "hey"}


def find_program(name: str) -> str:
    """Absolute path of a program: $ROLLOUTLAB_<NAME> if set, else PATH, else the usual sbin folders."""
    override = os.environ.get(f"ROLLOUTLAB_{name.upper()}")
    if override:
        if shutil.which(override):
            return str(shutil.which(override))
        raise ProgramMissing(f"ROLLOUTLAB_{name.upper()}={override} is not an executable program")
    found = shutil.which(name) or shutil.which(name, path=os.pathsep.join(_EXTRA_DIRS))
    if found:
        return found
    if platform.system() == "Darwin":
        how = f"brew install {name}"
    else:
        how = f"sudo apt-get install {_PACKAGES[name].split()[0]}  (Debian/Ubuntu), or your OS's {name} package"
    raise ProgramMissing(
        f"{name} is not installed (looked in PATH and {', '.join(_EXTRA_DIRS)}); install it: {how} — "
        f"or point ROLLOUTLAB_{name.upper()} at the binary (`make demo` installs it for you)"
    )
