"""Intel PRO/1000 driver, shaped like Linux 2.4's ``e1000_main.c`` (SOSP'03 Table 3: e1000).

Probe finds the 82540 with ``pci_find_device``, maps its registers, reads the MAC address from the
EEPROM (EERD) and registers ``ethN``. ``open`` allocates the two descriptor rings in DMA memory
(``pci_alloc_consistent``, 256 entries each) plus a ``net_buffer_info`` array beside each, fills the
receive ring with skbs the card DMAs straight into, requests the interrupt and enables it.
``start_xmit`` fills one descriptor and bumps TDT under ``tx_lock`` with interrupts off. All the
rest happens in the interrupt handler: it reads ICR (which clears it), reaps finished transmits
(``dev_kfree_skb_irq``) and drains the receive ring (``skb_put``, ``eth_type_trans``, ``netif_rx``),
then refills it: the driver is *interrupt-oriented* (SOSP'03 section 5.2). A 2-second watchdog
timer checks the link through the shared MII code.
"""
from nookslab.kernel.api import (alloc_etherdev, del_timer, dev_alloc_skb, dev_kfree_skb_irq,
                                 eth_type_trans, free_irq, free_netdev, iounmap, ioremap, jiffies,
                                 kfree, kmalloc, ld8, ld16, ld32, memset, mii_check_link, mod_timer,
                                 netif_carrier_off, netif_queue_stopped, netif_rx,
                                 netif_start_queue, netif_stop_queue, netif_wake_queue,
                                 pci_alloc_consistent, pci_disable_device, pci_enable_device,
                                 pci_find_device, pci_free_consistent, pci_map_single,
                                 pci_set_master, pci_unmap_single, readl, register_netdev,
                                 request_irq, setup_timer, skb_put, skb_reserve, skb_ring_purge,
                                 spin_lock, spin_lock_init, spin_lock_irqsave, spin_unlock,
                                 spin_unlock_irqrestore, st8, st16, st32, stbytes, ldbytes,
                                 unregister_netdev, writel)
from nookslab.kernel.errno import EBUSY, EINVAL, ENODEV, ENOMEM, EOPNOTSUPP
from nookslab.kernel.net import BUFFER_INFO, NET_DEVICE, NET_DEVICE_STATS, NetDeviceOps, SK_BUFF
from nookslab.kernel.net.netdevice import IFF_PROMISC, SIOCGMIIPHY, SIOCGMIIREG
from nookslab.kernel.pci import PCI_DEV
from nookslab.kernel.structs import Layout
from nookslab.kernel.sync import SPINLOCK
from nookslab.kernel.timer import HZ, TIMER_LIST
from nookslab.machine.devices.nic_e1000 import (CTRL, CTRL_RST, DESC_SIZE, EERD, EERD_DONE,
                                                EERD_START, ICR, ICR_LSC, ICR_RXO, ICR_RXT0,
                                                ICR_TXDW, IMC, IMS, ITR, MDIC, MDIC_OP_READ,
                                                MDIC_READY, RAH0, RAH_AV, RAL0, RCTL, RCTL_BAM,
                                                RCTL_EN, RCTL_UPE, RDBAL, RDH, RDLEN, RDT,
                                                RXD_STAT_DD, RXD_STAT_EOP, TCTL, TCTL_EN,
                                                TCTL_PSP, TDBAL, TDH, TDLEN, TDT, TXD_CMD_EOP,
                                                TXD_CMD_IFCS, TXD_CMD_RS, TXD_STAT_DD)

VENDOR, DEVICE = 0x8086, 0x100E
TX_DESCRIPTORS = 256                 # E1000_DEFAULT_TXD
RX_DESCRIPTORS = 256                 # E1000_DEFAULT_RXD
RX_BUFFER_LEN = 1522 + 2
ETHERNET_FCS_SIZE = 4
ITR_8000 = 488                       # InterruptThrottleRate 8000/s, in 256 ns units
PHY_ADDR = 1
IMS_ENABLE = ICR_TXDW | ICR_LSC | ICR_RXO | ICR_RXT0

ADAPTER = Layout("e1000_adapter", [
    ("dev", "ptr"), ("pdev", "ptr"), ("hw_addr", "ptr"), ("irq", "u32"),
    ("tx_ring", "ptr"), ("tx_dma", "u32"), ("tx_info", "ptr"), ("tx_count", "u32"),
    ("tx_next_to_use", "u32"), ("tx_next_to_clean", "u32"),
    ("rx_ring", "ptr"), ("rx_dma", "u32"), ("rx_info", "ptr"), ("rx_count", "u32"),
    ("rx_next_to_use", "u32"), ("rx_next_to_clean", "u32"),
    ("tx_lock", SPINLOCK.size), ("stats_lock", SPINLOCK.size),
    ("watchdog_timer", TIMER_LIST.size), ("stats", NET_DEVICE_STATS.size),
    ("link_up", "u32"), ("tx_timeouts", "u32"),
])

netdev = 0                           # the one adapter this module drives (e1000_adapter list)


def e1000_read_eeprom(hw, word):
    writel(EERD_START | word << 8, hw + EERD)
    tries = 0
    while not readl(hw + EERD) & EERD_DONE:
        tries += 1
        if tries > 100:
            return -1
    return readl(hw + EERD) >> 16


def e1000_mdio_read(dev, phy_id, reg):
    hw = ld32(ld32(dev + NET_DEVICE.priv) + ADAPTER.hw_addr)
    writel(reg << 16 | phy_id << 21 | MDIC_OP_READ, hw + MDIC)
    tries = 0
    value = readl(hw + MDIC)
    while not value & MDIC_READY:
        tries += 1
        if tries > 100:
            return 0
        value = readl(hw + MDIC)
    return value & 0xFFFF


# -- rings ------------------------------------------------------------------------------------
def e1000_setup_rings(a):
    pdev = ld32(a + ADAPTER.pdev)
    size = TX_DESCRIPTORS * DESC_SIZE
    tx = pci_alloc_consistent(pdev, size)
    if not tx:
        return -ENOMEM
    tx_info = kmalloc(TX_DESCRIPTORS * BUFFER_INFO.size, 0)
    if not tx_info:
        pci_free_consistent(pdev, size, tx)
        return -ENOMEM
    rx = pci_alloc_consistent(pdev, RX_DESCRIPTORS * DESC_SIZE)
    if not rx:
        kfree(tx_info)
        pci_free_consistent(pdev, size, tx)
        return -ENOMEM
    rx_info = kmalloc(RX_DESCRIPTORS * BUFFER_INFO.size, 0)
    if not rx_info:
        pci_free_consistent(pdev, RX_DESCRIPTORS * DESC_SIZE, rx)
        kfree(tx_info)
        pci_free_consistent(pdev, size, tx)
        return -ENOMEM
    memset(tx_info, 0, TX_DESCRIPTORS * BUFFER_INFO.size)
    memset(rx_info, 0, RX_DESCRIPTORS * BUFFER_INFO.size)
    st32(a + ADAPTER.tx_ring, tx)
    st32(a + ADAPTER.tx_dma, pci_map_single(pdev, tx, size, 1))
    st32(a + ADAPTER.tx_info, tx_info)
    st32(a + ADAPTER.tx_count, TX_DESCRIPTORS)
    st32(a + ADAPTER.rx_ring, rx)
    st32(a + ADAPTER.rx_dma, pci_map_single(pdev, rx, RX_DESCRIPTORS * DESC_SIZE, 2))
    st32(a + ADAPTER.rx_info, rx_info)
    st32(a + ADAPTER.rx_count, RX_DESCRIPTORS)
    return 0


def e1000_free_rings(a):
    pdev = ld32(a + ADAPTER.pdev)
    skb_ring_purge(ld32(a + ADAPTER.tx_info), ld32(a + ADAPTER.tx_count))
    skb_ring_purge(ld32(a + ADAPTER.rx_info), ld32(a + ADAPTER.rx_count))
    kfree(ld32(a + ADAPTER.tx_info))
    kfree(ld32(a + ADAPTER.rx_info))
    pci_free_consistent(pdev, TX_DESCRIPTORS * DESC_SIZE, ld32(a + ADAPTER.tx_ring))
    pci_free_consistent(pdev, RX_DESCRIPTORS * DESC_SIZE, ld32(a + ADAPTER.rx_ring))
    st32(a + ADAPTER.tx_ring, 0)
    st32(a + ADAPTER.rx_ring, 0)


def e1000_alloc_rx_buffers(a):
    """Give the card an skb for every free receive descriptor, then move RDT."""
    rx = ld32(a + ADAPTER.rx_ring)
    info = ld32(a + ADAPTER.rx_info)
    count = ld32(a + ADAPTER.rx_count)
    pdev = ld32(a + ADAPTER.pdev)
    i = ld32(a + ADAPTER.rx_next_to_use)
    stop = (ld32(a + ADAPTER.rx_next_to_clean) + count - 1) % count
    while i != stop:
        entry = info + i * BUFFER_INFO.size
        if not ld32(entry + BUFFER_INFO.skb):
            skb = dev_alloc_skb(RX_BUFFER_LEN + 2)
            if not skb:
                break
            skb_reserve(skb, 2)               # align the IP header
            dma = pci_map_single(pdev, ld32(skb + SK_BUFF.data), RX_BUFFER_LEN, 2)
            st32(entry + BUFFER_INFO.skb, skb)
            st32(entry + BUFFER_INFO.dma, dma)
            desc = rx + i * DESC_SIZE
            st32(desc, dma)
            st32(desc + 4, 0)
            st32(desc + 8, 0)
            st32(desc + 12, 0)
        i = (i + 1) % count
    st32(a + ADAPTER.rx_next_to_use, i)
    writel(i, ld32(a + ADAPTER.hw_addr) + RDT)


def e1000_configure(a):
    hw = ld32(a + ADAPTER.hw_addr)
    dev = ld32(a + ADAPTER.dev)
    writel(ld32(a + ADAPTER.tx_dma), hw + TDBAL)
    writel(TX_DESCRIPTORS * DESC_SIZE, hw + TDLEN)
    writel(0, hw + TDH)
    writel(0, hw + TDT)
    writel(TCTL_EN | TCTL_PSP, hw + TCTL)
    mac = dev + NET_DEVICE.dev_addr
    writel(ld32(mac), hw + RAL0)
    writel(ld16(mac + 4) | RAH_AV, hw + RAH0)
    writel(ld32(a + ADAPTER.rx_dma), hw + RDBAL)
    writel(RX_DESCRIPTORS * DESC_SIZE, hw + RDLEN)
    writel(0, hw + RDH)
    writel(0, hw + RDT)
    writel(ITR_8000, hw + ITR)
    writel(RCTL_EN | RCTL_BAM, hw + RCTL)
    st32(a + ADAPTER.tx_next_to_use, 0)
    st32(a + ADAPTER.tx_next_to_clean, 0)
    st32(a + ADAPTER.rx_next_to_use, 0)
    st32(a + ADAPTER.rx_next_to_clean, 0)


def e1000_up(a):
    dev = ld32(a + ADAPTER.dev)
    e1000_configure(a)
    e1000_alloc_rx_buffers(a)
    err = request_irq(ld32(a + ADAPTER.irq), e1000_intr, 0x04000000, "e1000", dev)
    if err:
        return err
    writel(IMS_ENABLE, ld32(a + ADAPTER.hw_addr) + IMS)
    mod_timer(a + ADAPTER.watchdog_timer, jiffies() + 1)
    netif_start_queue(dev)
    return 0


def e1000_down(a):
    dev = ld32(a + ADAPTER.dev)
    hw = ld32(a + ADAPTER.hw_addr)
    writel(0xFFFFFFFF, hw + IMC)
    free_irq(ld32(a + ADAPTER.irq), dev)
    del_timer(a + ADAPTER.watchdog_timer)
    netif_stop_queue(dev)
    writel(0, hw + RCTL)
    writel(0, hw + TCTL)
    skb_ring_purge(ld32(a + ADAPTER.tx_info), ld32(a + ADAPTER.tx_count))
    skb_ring_purge(ld32(a + ADAPTER.rx_info), ld32(a + ADAPTER.rx_count))
    netif_carrier_off(dev)


# -- net_device_ops ---------------------------------------------------------------------------
def e1000_open(dev):
    a = ld32(dev + NET_DEVICE.priv)
    err = e1000_setup_rings(a)
    if err:
        return err
    err = e1000_up(a)
    if err:
        e1000_free_rings(a)
        return err
    return 0


def e1000_close(dev):
    a = ld32(dev + NET_DEVICE.priv)
    e1000_down(a)
    e1000_free_rings(a)
    return 0


def e1000_xmit_frame(skb, dev):
    a = ld32(dev + NET_DEVICE.priv)
    flags = spin_lock_irqsave(a + ADAPTER.tx_lock)
    count = ld32(a + ADAPTER.tx_count)
    i = ld32(a + ADAPTER.tx_next_to_use)
    unused = (ld32(a + ADAPTER.tx_next_to_clean) + count - i - 1) % count
    if unused < 2:
        netif_stop_queue(dev)
        spin_unlock_irqrestore(a + ADAPTER.tx_lock, flags)
        return 1
    length = ld32(skb + SK_BUFF.len)
    dma = pci_map_single(ld32(a + ADAPTER.pdev), ld32(skb + SK_BUFF.data), length, 1)
    entry = ld32(a + ADAPTER.tx_info) + i * BUFFER_INFO.size
    st32(entry + BUFFER_INFO.skb, skb)
    st32(entry + BUFFER_INFO.dma, dma)
    st32(entry + BUFFER_INFO.length, length)
    st32(entry + BUFFER_INFO.time_stamp, jiffies())
    desc = ld32(a + ADAPTER.tx_ring) + i * DESC_SIZE
    st32(desc, dma)
    st32(desc + 4, 0)
    st32(desc + 8, length | (TXD_CMD_EOP | TXD_CMD_IFCS | TXD_CMD_RS) << 24)
    st32(desc + 12, 0)
    i = (i + 1) % count
    st32(a + ADAPTER.tx_next_to_use, i)
    writel(i, ld32(a + ADAPTER.hw_addr) + TDT)
    st32(dev + NET_DEVICE.trans_start, jiffies())
    spin_unlock_irqrestore(a + ADAPTER.tx_lock, flags)
    return 0


def e1000_clean_tx_irq(a):
    dev = ld32(a + ADAPTER.dev)
    tx = ld32(a + ADAPTER.tx_ring)
    info = ld32(a + ADAPTER.tx_info)
    count = ld32(a + ADAPTER.tx_count)
    stats = a + ADAPTER.stats
    spin_lock(a + ADAPTER.tx_lock)
    i = ld32(a + ADAPTER.tx_next_to_clean)
    cleaned = 0
    while i != ld32(a + ADAPTER.tx_next_to_use) and ld8(tx + i * DESC_SIZE + 12) & TXD_STAT_DD:
        entry = info + i * BUFFER_INFO.size
        skb = ld32(entry + BUFFER_INFO.skb)
        pci_unmap_single(ld32(a + ADAPTER.pdev), ld32(entry + BUFFER_INFO.dma),
                         ld32(entry + BUFFER_INFO.length), 1)
        st32(stats + NET_DEVICE_STATS.tx_packets, ld32(stats + NET_DEVICE_STATS.tx_packets) + 1)
        st32(stats + NET_DEVICE_STATS.tx_bytes,
             ld32(stats + NET_DEVICE_STATS.tx_bytes) + ld32(entry + BUFFER_INFO.length))
        if skb:
            dev_kfree_skb_irq(skb)
        st32(entry + BUFFER_INFO.skb, 0)
        st8(tx + i * DESC_SIZE + 12, 0)
        i = (i + 1) % count
        cleaned += 1
    st32(a + ADAPTER.tx_next_to_clean, i)
    unused = (i + count - ld32(a + ADAPTER.tx_next_to_use) - 1) % count
    spin_unlock(a + ADAPTER.tx_lock)
    if cleaned and netif_queue_stopped(dev) and unused >= count // 4:
        netif_wake_queue(dev)
    return cleaned


def e1000_clean_rx_irq(a):
    dev = ld32(a + ADAPTER.dev)
    rx = ld32(a + ADAPTER.rx_ring)
    info = ld32(a + ADAPTER.rx_info)
    count = ld32(a + ADAPTER.rx_count)
    pdev = ld32(a + ADAPTER.pdev)
    stats = a + ADAPTER.stats
    i = ld32(a + ADAPTER.rx_next_to_clean)
    cleaned = 0
    while ld8(rx + i * DESC_SIZE + 12) & RXD_STAT_DD:
        desc = rx + i * DESC_SIZE
        entry = info + i * BUFFER_INFO.size
        skb = ld32(entry + BUFFER_INFO.skb)
        length = ld16(desc + 8)
        status = ld8(desc + 12)
        errors = ld8(desc + 13)
        pci_unmap_single(pdev, ld32(entry + BUFFER_INFO.dma), RX_BUFFER_LEN, 2)
        st32(entry + BUFFER_INFO.skb, 0)
        if not status & RXD_STAT_EOP or errors or length < 14 + ETHERNET_FCS_SIZE:
            st32(stats + NET_DEVICE_STATS.rx_errors, ld32(stats + NET_DEVICE_STATS.rx_errors) + 1)
            dev_kfree_skb_irq(skb)
        else:
            skb_put(skb, length - ETHERNET_FCS_SIZE)
            eth_type_trans(skb, dev)
            netif_rx(skb)
            st32(stats + NET_DEVICE_STATS.rx_packets,
                 ld32(stats + NET_DEVICE_STATS.rx_packets) + 1)
            st32(stats + NET_DEVICE_STATS.rx_bytes,
                 ld32(stats + NET_DEVICE_STATS.rx_bytes) + length - ETHERNET_FCS_SIZE)
        st8(desc + 12, 0)
        i = (i + 1) % count
        cleaned += 1
    st32(a + ADAPTER.rx_next_to_clean, i)
    if cleaned:
        e1000_alloc_rx_buffers(a)
    return cleaned


E1000_MAX_INTR = 10


def e1000_intr(irq, dev_id):
    dev = dev_id
    a = ld32(dev + NET_DEVICE.priv)
    hw = ld32(a + ADAPTER.hw_addr)
    icr = readl(hw + ICR)                    # reading ICR clears it
    if not icr:
        return
    if icr & ICR_LSC:
        mod_timer(a + ADAPTER.watchdog_timer, jiffies() + 1)
    if icr & ICR_RXO:
        stats = a + ADAPTER.stats
        st32(stats + NET_DEVICE_STATS.rx_missed_errors,
             ld32(stats + NET_DEVICE_STATS.rx_missed_errors) + 1)
    n = 0
    while n < E1000_MAX_INTR:
        n += 1
        rx_done = e1000_clean_rx_irq(a)
        tx_done = e1000_clean_tx_irq(a)
        if not rx_done and not tx_done:
            break


def e1000_watchdog(data):
    a = data
    dev = ld32(a + ADAPTER.dev)
    st32(a + ADAPTER.link_up, mii_check_link(dev, PHY_ADDR, e1000_mdio_read))
    mod_timer(a + ADAPTER.watchdog_timer, jiffies() + 2 * HZ)


def e1000_tx_timeout(dev):
    a = ld32(dev + NET_DEVICE.priv)
    st32(a + ADAPTER.tx_timeouts, ld32(a + ADAPTER.tx_timeouts) + 1)
    e1000_down(a)
    e1000_up(a)


def e1000_get_stats(dev):
    return ld32(dev + NET_DEVICE.priv) + ADAPTER.stats


def e1000_set_multi(dev):
    a = ld32(dev + NET_DEVICE.priv)
    hw = ld32(a + ADAPTER.hw_addr)
    rctl = readl(hw + RCTL)
    if ld32(dev + NET_DEVICE.flags) & IFF_PROMISC:
        rctl = rctl | RCTL_UPE
    else:
        rctl = rctl & ~RCTL_UPE
    writel(rctl, hw + RCTL)


def e1000_set_mac(dev, addr):
    a = ld32(dev + NET_DEVICE.priv)
    hw = ld32(a + ADAPTER.hw_addr)
    stbytes(dev + NET_DEVICE.dev_addr, ldbytes(addr + 2, 6))
    writel(ld32(dev + NET_DEVICE.dev_addr), hw + RAL0)
    writel(ld16(dev + NET_DEVICE.dev_addr + 4) | RAH_AV, hw + RAH0)
    return 0


def e1000_ioctl(dev, ifr, cmd):
    if cmd == SIOCGMIIPHY:
        st16(ifr + 16, PHY_ADDR)
        return 0
    if cmd == SIOCGMIIREG:
        st16(ifr + 22, e1000_mdio_read(dev, PHY_ADDR, ld16(ifr + 18) & 0x1F))
        return 0
    return -EOPNOTSUPP


E1000_OPS = NetDeviceOps(ndo_open=e1000_open, ndo_stop=e1000_close,
                         ndo_start_xmit=e1000_xmit_frame, ndo_tx_timeout=e1000_tx_timeout,
                         ndo_get_stats=e1000_get_stats, ndo_set_multicast_list=e1000_set_multi,
                         ndo_set_mac_address=e1000_set_mac, ndo_do_ioctl=e1000_ioctl)


# -- probe and module entry points --------------------------------------------------------------
def e1000_probe(pdev):
    if pci_enable_device(pdev):
        return -ENODEV
    pci_set_master(pdev)
    dev = alloc_etherdev(ADAPTER.size)
    if not dev:
        pci_disable_device(pdev)
        return -ENOMEM
    a = ld32(dev + NET_DEVICE.priv)
    hw = ioremap(ld32(pdev + PCI_DEV.resource_start), ld32(pdev + PCI_DEV.resource_len))
    if not hw:
        free_netdev(dev)
        pci_disable_device(pdev)
        return -EBUSY
    st32(a + ADAPTER.dev, dev)
    st32(a + ADAPTER.pdev, pdev)
    st32(a + ADAPTER.hw_addr, hw)
    st32(a + ADAPTER.irq, ld32(pdev + PCI_DEV.irq))
    writel(CTRL_RST, hw + CTRL)               # e1000_reset_hw
    checksum = 0
    word = 0
    while word < 64:
        value = e1000_read_eeprom(hw, word)
        if value < 0:
            break
        checksum = (checksum + value) & 0xFFFF
        if word < 3:
            st16(dev + NET_DEVICE.dev_addr + 2 * word, value)
        word += 1
    if checksum != 0xBABA:                    # EEPROM_SUM
        iounmap(hw)
        free_netdev(dev)
        pci_disable_device(pdev)
        return -EINVAL
    st32(dev + NET_DEVICE.base_addr, hw)
    st32(dev + NET_DEVICE.irq, ld32(pdev + PCI_DEV.irq))
    st32(dev + NET_DEVICE.watchdog_timeo, 5 * HZ)
    spin_lock_init(a + ADAPTER.tx_lock)
    spin_lock_init(a + ADAPTER.stats_lock)
    setup_timer(a + ADAPTER.watchdog_timer, e1000_watchdog, a)
    err = register_netdev(dev, E1000_OPS)
    if err:
        iounmap(hw)
        free_netdev(dev)
        pci_disable_device(pdev)
        return err
    return dev


def init_module():
    global netdev
    pdev = pci_find_device(VENDOR, DEVICE, 0)
    if not pdev:
        return -ENODEV
    dev = e1000_probe(pdev)
    if dev < 0:
        return dev
    netdev = dev
    return 0


def cleanup_module():
    global netdev
    dev = netdev
    a = ld32(dev + NET_DEVICE.priv)
    pdev = ld32(a + ADAPTER.pdev)
    unregister_netdev(dev)
    iounmap(ld32(a + ADAPTER.hw_addr))
    pci_disable_device(pdev)
    free_netdev(dev)
    netdev = 0
