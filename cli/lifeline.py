"""A child process that ends with the process that started it: the `okr serve` of `okr up --web`
must not outlive an `okr up` that was SIGKILLed, holding the web port with nobody to stop it.

Imported by the child before anything else (services.web_service), so it costs the child
nothing and `okr` itself never loads it.
"""

import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
CHECK_EVERY = 1.0  # seconds between the fallback's looks at the parent


def end_with(parent: int) -> None:
    """Have SIGTERM — the signal that stops `okr serve` cleanly — sent to this process when
    `parent` ends, however it ends (SIGKILL included)."""
    if sys.platform.startswith("linux"):
        import ctypes

        # Linux sends the signal when the *thread* that forked this process ends, not its
        # process. okr up forks it from the web service's thread, which returns only after
        # this process has ended (it terminates and waits for it in a `finally`), so the
        # signal comes only when okr up itself dies. Should prctl fail, the fallback remains.
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    # The fallback, and the only way elsewhere (macOS has no PDEATHSIG): an orphan is adopted
    # by another process, so its parent pid changes. Checked once now too: a parent that died
    # before the prctl above would never be signalled for.
    threading.Thread(target=_watch, args=(parent,), name="lifeline", daemon=True).start()


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(CHECK_EVERY)
    os.kill(os.getpid(), signal.SIGTERM)
