"""Test-only driver importing a symbol the kernel does not export."""
from nookslab.kernel.api import kmalloc, no_such_kernel_symbol


def init_module():
    return no_such_kernel_symbol(kmalloc)
