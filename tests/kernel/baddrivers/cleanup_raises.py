"""Test-only driver: init allocates, cleanup oopses before freeing (so the memory leaks)."""
from nookslab.kernel.api import kfree, kmalloc, st32

held = 0


def init_module():
    global held
    held = kmalloc(48, 0)
    return 0


def cleanup_module():
    st32(0, 1)
    kfree(held)
