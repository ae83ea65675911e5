"""Test-only driver whose module-level code raises while the loader executes it."""
from nookslab.kernel.api import kmalloc

BROKEN = {}["missing"]


def init_module():
    return 0 if kmalloc else 1
