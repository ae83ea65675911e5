"""Test-only driver whose init keeps every buffer it builds: each one passes the loader's size
check (8 MiB, less than the machine's RAM), together they grow without end. Only the worker's
address-space cap stops it (a host MemoryError, which is a simulator-limit verdict)."""
from nookslab.kernel.api import kmalloc

kept = []


def init_module():
    while kmalloc:
        kept.append(bytes(8 << 20))
    return 0
