"""A test-only device: write its RING register and, a little later, it raises its interrupt.

A fake that satisfies the same device protocol as the real models (PCI identity, a register
window, an interrupt line, events on the machine's clock), small enough to reason about exactly.
"""
from nookslab.machine.devices.base import PciDevice

REG_RING = 0x00          # write N > 0: raise the interrupt N cycles from now
REG_STATUS = 0x04        # reads how many rings are pending an acknowledgement; write to clear
REG_ID = 0x08
BELL_ID = 0x42454C4C     # "BELL"
BELL_VENDOR = 0x1AF4
BELL_DEVICE = 0x0BE1
BELL_IRQ = 5


class BellDevice(PciDevice):
    vendor_id = BELL_VENDOR
    device_id = BELL_DEVICE
    irq_line = BELL_IRQ
    mmio_size = 0x100
    name = "belldev"

    def reset(self) -> None:
        self.status = 0
        self.rings = 0

    def mmio_read(self, offset: int, size: int) -> int:
        return {REG_STATUS: self.status, REG_ID: BELL_ID}.get(offset, 0)

    def mmio_write(self, offset: int, size: int, value: int) -> None:
        if offset == REG_RING and value:
            self.rings += 1
            self.after(value, self._ring, "bell rings")
        elif offset == REG_STATUS:
            self.status = 0

    def _ring(self) -> None:
        self.status += 1
        self.raise_irq()
