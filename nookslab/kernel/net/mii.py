"""The MII library (Linux's ``drivers/net/mii.c``), shared by every NIC driver that has a PHY.

``mii_link_ok`` reads the PHY's status register through the driver's own ``mdio_read`` callback
(each card reaches its PHY differently: the e1000 through MDIC, the PCnet through BCR33/34) and
``mii_check_link`` turns the answer into ``netif_carrier_on``/``off``.
"""
from __future__ import annotations

from ..symbols import callback, export, obj, scalar

MII_BMCR, MII_BMSR, MII_PHYSID1, MII_PHYSID2, MII_ADVERTISE, MII_LPA = 0, 1, 2, 3, 4, 5
BMSR_LSTATUS = 0x0004


class MiiFunctions:
    """Mixin of the net subsystem: the MII helpers."""

    @export(obj("dev", "net_device"), scalar("phy_id"), callback("mdio_read"),
            returns=scalar("ok"))
    def mii_link_ok(self, dev: int, phy_id: int, mdio_read) -> int:
        """1 if the PHY reports link (BMSR's link bit latches low: read it twice)."""
        self.k.charge(self.k.cost.kernel_call)
        mdio_read(dev, phy_id, MII_BMSR)
        return 1 if mdio_read(dev, phy_id, MII_BMSR) & BMSR_LSTATUS else 0

    @export(obj("dev", "net_device", "inout"), scalar("phy_id"), callback("mdio_read"),
            returns=scalar("ok"))
    def mii_check_link(self, dev: int, phy_id: int, mdio_read) -> int:
        """Set the carrier from the PHY's link status; returns it."""
        ok = self.mii_link_ok(dev, phy_id, mdio_read)
        if ok:
            self.netif_carrier_on(dev)
        else:
            self.netif_carrier_off(dev)
        return ok
