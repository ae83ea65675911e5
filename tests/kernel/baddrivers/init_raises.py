"""Test-only driver: init_module oopses (divide error) after allocating memory."""
from nookslab.kernel.api import kmalloc, ld32

held = 0


def init_module():
    global held
    held = kmalloc(64, 0)
    return 100 // (ld32(held) & 0)


def cleanup_module():
    pass
