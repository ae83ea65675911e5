"""Test-only driver: init_module returns -ENODEV (a clean refusal, not a crash)."""
from nookslab.kernel.errno import ENODEV


def init_module():
    return -ENODEV
