"""What the four network cards share: a wire to a peer host, a MAC, a PHY, FCS, interrupts.

Each card model (``nic_e1000``, ``nic_pcnet32``, ``nic_3com``) adds its own registers and its own
way of finding packets in memory (descriptor rings with head/tail registers, OWN bits, DMA lists,
windows and FIFOs), as the real cards differ. This base class holds the rest once:

* the link: a :class:`~.wire.Wire` at the card's speed to a :class:`~.peer.PeerHost`;
* transmit (append the FCS, put the frame on the wire) and receive (check the FCS, filter on the
  programmed station address, hand the frame to the card's receive logic);
* an MII PHY (registers BMCR, BMSR, PHYSID1/2, ANAR, ANLPAR) that reports link status;
* interrupt raising with an optional minimum interval (the e1000's ITR throttle).
"""
from __future__ import annotations

import numpy as np

from .base import PciDevice
from .peer import PeerHost
from .wire import BROADCAST, ETH_FCS, ETH_ZLEN, Wire, fcs, ip_aton

# MII registers and bits (IEEE 802.3 clause 22), as in Linux's <linux/mii.h>.
MII_BMCR, MII_BMSR, MII_PHYSID1, MII_PHYSID2, MII_ADVERTISE, MII_LPA = 0, 1, 2, 3, 4, 5
BMCR_RESET, BMCR_ANENABLE = 0x8000, 0x1000
BMSR_LSTATUS, BMSR_ANEGCOMPLETE = 0x0004, 0x0020
LPA_100FULL, LPA_1000FULL = 0x0100, 0x4000


class NicDevice(PciDevice):
    """Base of the NIC models. Subclasses set the PCI ids, ``speed`` and ``subnet``.

    Parameters
    ----------
    rng: seeds the peer host (its TCP sequence numbers). delay: one-way wire delay in seconds.
    """

    speed = 100_000_000
    subnet = 9                         # our host is 10.0.<subnet>.1, the peer 10.0.<subnet>.2
    mac_prefix = b"\x02\x00\x00"
    phy_id = (0x0000, 0x0000)

    def __init__(self, rng: np.random.Generator | None = None, delay: float = 5e-6):
        super().__init__()
        self._rng = rng if rng is not None else np.random.default_rng(0)
        self._delay = delay
        self.mac = self.mac_prefix + bytes([0x10, self.subnet, 0x01])
        self.host_ip = ip_aton(f"10.0.{self.subnet}.1")
        self.peer_ip = ip_aton(f"10.0.{self.subnet}.2")
        self.wire: Wire | None = None
        self.peer: PeerHost | None = None
        self.link_up = True
        self.station = b"\0" * 6         # the address the driver programmed (filtering)
        self.promisc = False
        self.tx_frames = self.rx_frames = self.rx_dropped = self.rx_crc_errors = 0
        self._irq_timer = None
        self._last_irq = -(1 << 62)
        self._storm = 0

    def attach(self, machine) -> None:
        super().attach(machine)
        self.wire = Wire(machine.clock, self.speed, self._delay)
        self.wire.ends[0].connect(self._from_wire)
        peer_mac = b"\x02\xee\x00\x00" + bytes([self.subnet, 0x02])
        self.peer = PeerHost(machine.clock, self.wire.ends[1], peer_mac, self.peer_ip, self._rng)

    # -- the link ---------------------------------------------------------------------------
    def set_link(self, up: bool) -> None:
        """Plug or unplug the cable (the card reports it through its PHY and a cause bit)."""
        self.link_up = bool(up)
        self.wire.up = self.link_up
        self.link_changed()

    def link_changed(self) -> None:
        """Subclasses raise their link-status-change interrupt here."""

    def transmit(self, frame: bytes) -> int:
        """Put ``frame`` (without FCS) on the wire; returns when its last bit has left."""
        self.tx_frames += 1
        if not self.link_up:
            return self.machine.clock.now
        if len(frame) < ETH_ZLEN:                 # every card pads short frames (APAD, PSP)
            frame = frame + bytes(ETH_ZLEN - len(frame))
        return self.wire.ends[0].transmit(frame + fcs(frame))

    def tx_backlog(self) -> int:
        return self.wire.ends[0].backlog()

    def _from_wire(self, frame: bytes) -> None:
        if fcs(frame[:-ETH_FCS]) != frame[-ETH_FCS:]:
            self.rx_crc_errors += 1
            return
        dst = frame[:6]
        if dst != self.station and dst != BROADCAST and not self.promisc:
            return
        self.rx_frames += 1
        self.receive_frame(frame)

    def receive_frame(self, frame: bytes) -> None:
        """A good frame for us arrived (FCS included); the card stores it or drops it."""

    # -- MII PHY ------------------------------------------------------------------------------
    def mii_read(self, reg: int) -> int:
        if reg == MII_BMCR:
            return BMCR_ANENABLE
        if reg == MII_BMSR:
            return 0x7809 | (BMSR_LSTATUS | BMSR_ANEGCOMPLETE if self.link_up else 0)
        if reg == MII_PHYSID1:
            return self.phy_id[0]
        if reg == MII_PHYSID2:
            return self.phy_id[1]
        if reg == MII_ADVERTISE:
            return 0x01E1
        if reg == MII_LPA:
            return (LPA_1000FULL if self.speed >= 1_000_000_000 else LPA_100FULL) \
                if self.link_up else 0
        return 0

    def mii_write(self, reg: int, value: int) -> None:
        pass

    # -- interrupts ---------------------------------------------------------------------------
    #: re-raises from inside the handler, in a row, that make a storm: a healthy card never
    #: re-raises twice in a row; 200 keeps a livelocked trial within the host's time budget
    STORM = 200

    def interrupt(self, min_interval: int = 0) -> None:
        """Raise the interrupt line, at most once per ``min_interval`` cycles.

        A card whose handler never clears its cause re-asserts the line from inside the handler,
        forever: the CPU never leaves interrupt context. After ``STORM`` such raises in a row the
        CPU's watchdog sees the livelock (a hang, as an unresponsive Linux 2.4 box would be).
        """
        cpu = self.machine.cpu
        if cpu.in_interrupt:
            self._storm += 1
            if self._storm > self.STORM:
                self._storm = 0
                cpu.spin(f"interrupt storm on IRQ {self.irq_line} ({self.name})")
        else:
            self._storm = 0
        now = self.machine.clock.now
        if min_interval and now - self._last_irq < min_interval:
            if self._irq_timer is None:
                self._irq_timer = self.machine.clock.schedule_at(
                    self._last_irq + min_interval, self._deferred_irq, label=self.name + " itr")
            return
        self._last_irq = now
        self.raise_irq()

    def _deferred_irq(self) -> None:
        self._irq_timer = None
        if self.irq_pending():
            self._last_irq = self.machine.clock.now
            self.raise_irq()

    def irq_pending(self) -> bool:
        """Whether an unmasked cause is still set (subclasses answer from their registers)."""
        return True

    def soon(self, callback, cycles: int = 200) -> None:
        """Run device work a little later (never inside the register access that asked)."""
        self.machine.clock.schedule(cycles, callback, label=self.name)


# -- device factories for the driver registry: (kernel, **options) -> device ---------------------
def _rng(kernel, salt: int) -> np.random.Generator:
    """The peer host's generator: seeded from the kernel's seed and the card, never global."""
    return np.random.default_rng([int(kernel.seed) & 0xFFFFFFFF, salt])


def e1000_device(kernel, **options):
    from .nic_e1000 import E1000Device
    return E1000Device(rng=_rng(kernel, 1000), **options)


def pcnet32_device(kernel, **options):
    from .nic_pcnet32 import Pcnet32Device
    return Pcnet32Device(rng=_rng(kernel, 32), **options)


def vortex_device(kernel, **options):
    from .nic_3com import VortexDevice
    return VortexDevice(rng=_rng(kernel, 3059), **options)


def boomerang_device(kernel, **options):
    from .nic_3com import BoomerangDevice
    return BoomerangDevice(rng=_rng(kernel, 3090), **options)
