"""Rogue driver: ``init_module`` stops a kernel thread that does not exist. The kernel answers
``-ESRCH`` (so the load fails); it is how a test reaches one line of the kernel's own code."""
from nookslab.kernel.api import kthread_stop

NO_SUCH_THREAD = 99_999


def init_module():
    return kthread_stop(NO_SUCH_THREAD)


def cleanup_module():
    pass
