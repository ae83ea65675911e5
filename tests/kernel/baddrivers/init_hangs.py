"""Test-only driver: init_module spins forever with interrupts off."""
from nookslab.kernel.api import local_irq_disable


def init_module():
    local_irq_disable()
    while True:
        pass


def cleanup_module():
    pass
