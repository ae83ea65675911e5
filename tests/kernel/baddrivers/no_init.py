"""Test-only driver with no init_module at all."""
from nookslab.kernel.api import kmalloc

unused = kmalloc
