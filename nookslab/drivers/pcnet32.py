"""AMD PCnet32 driver, shaped like Linux 2.4's ``pcnet32.c`` (SOSP'03 Table 3: pcnet32).

As in Linux, the private struct ``pcnet32_private`` is itself allocated with
``pci_alloc_consistent``: it holds the initialization block and both descriptor rings (16 transmit,
32 receive entries), which the card reads by DMA, plus the skb bookkeeping. Registers are reached
through RAP/RDP (CSRs) and RAP/BDP (BCRs). Descriptors are handed to the card by setting their OWN
bit; a transmit is kicked with CSR0.TDMD. The interrupt handler loops while CSR0 shows RINT, TINT
or ERR, acknowledges the causes, receives (copying packets shorter than ``rx_copybreak`` into a
fresh skb, passing longer ones up and putting a new skb in the ring) and reaps finished transmits:
the driver is interrupt-oriented (SOSP'03 section 5.2).
"""
from nookslab.kernel.api import (alloc_etherdev, del_timer, dev_alloc_skb, dev_kfree_skb_irq,
                                 eth_type_trans, free_irq, free_netdev, iounmap, ioremap, jiffies,
                                 ld16, ld32, memcpy, memset, mii_check_link, mod_timer,
                                 netif_carrier_off, netif_queue_stopped, netif_rx,
                                 netif_start_queue, netif_stop_queue, netif_wake_queue,
                                 pci_alloc_consistent, pci_disable_device, pci_enable_device,
                                 pci_find_device, pci_free_consistent, pci_map_single,
                                 pci_set_master, pci_unmap_single, readl, register_netdev,
                                 request_irq, setup_timer, skb_put, skb_reserve, skb_ring_purge,
                                 spin_lock, spin_lock_init, spin_lock_irqsave, spin_unlock,
                                 spin_unlock_irqrestore, st16, st32, stbytes, ldbytes,
                                 unregister_netdev, writel)
from nookslab.kernel.errno import EBUSY, ENODEV, ENOMEM, EOPNOTSUPP
from nookslab.kernel.net import BUFFER_INFO, NET_DEVICE, NET_DEVICE_STATS, NetDeviceOps, SK_BUFF
from nookslab.kernel.net.netdevice import IFF_PROMISC, SIOCGMIIPHY, SIOCGMIIREG
from nookslab.kernel.pci import PCI_DEV
from nookslab.kernel.structs import Layout
from nookslab.kernel.sync import SPINLOCK
from nookslab.kernel.timer import HZ, TIMER_LIST
from nookslab.machine.devices.nic_pcnet32 import (BDP, CSR0_ERR, CSR0_IDON, CSR0_IENA, CSR0_INIT,
                                                  CSR0_MISS, CSR0_RINT, CSR0_STOP, CSR0_STRT,
                                                  CSR0_TDMD, CSR0_TINT, DESC_ENP, DESC_ERR,
                                                  DESC_OWN, DESC_STP, RAP, RDP, RESET)

VENDOR, DEVICE = 0x1022, 0x2000
LOG_TX_BUFFERS, LOG_RX_BUFFERS = 4, 5          # PCNET32_LOG_TX_BUFFERS / _RX_
TX_RING_SIZE, RX_RING_SIZE = 1 << LOG_TX_BUFFERS, 1 << LOG_RX_BUFFERS
PKT_BUF_SZ = 1544
RX_COPYBREAK = 200
DESC = 16
PHY_ID = 30
BCR_MIIADDR, BCR_MIIDATA = 33, 34

PRIV = Layout("pcnet32_private", [
    ("init_block", 28), ("pad", 4),
    ("rx_ring", RX_RING_SIZE * DESC), ("tx_ring", TX_RING_SIZE * DESC),
    ("rx_info", RX_RING_SIZE * BUFFER_INFO.size), ("tx_info", TX_RING_SIZE * BUFFER_INFO.size),
    ("dma_addr", "u32"), ("dev", "ptr"), ("pdev", "ptr"), ("ioaddr", "ptr"), ("irq", "u32"),
    ("cur_rx", "u32"), ("cur_tx", "u32"), ("dirty_tx", "u32"), ("tx_full", "u32"),
    ("lock", SPINLOCK.size), ("timer", TIMER_LIST.size), ("stats", NET_DEVICE_STATS.size),
])

netdev = 0


def read_csr(io, n):
    writel(n, io + RAP)
    return readl(io + RDP) & 0xFFFF


def write_csr(io, n, value):
    writel(n, io + RAP)
    writel(value, io + RDP)


def write_bcr(io, n, value):
    writel(n, io + RAP)
    writel(value, io + BDP)


def mdio_read(dev, phy_id, reg):
    io = ld32(dev + NET_DEVICE.base_addr)
    write_bcr(io, BCR_MIIADDR, phy_id << 5 | reg)
    writel(BCR_MIIDATA, io + RAP)
    return readl(io + BDP) & 0xFFFF


def pcnet32_init_ring(dev):
    lp = ld32(dev + NET_DEVICE.priv)
    pdev = ld32(lp + PRIV.pdev)
    st32(lp + PRIV.cur_rx, 0)
    st32(lp + PRIV.cur_tx, 0)
    st32(lp + PRIV.dirty_tx, 0)
    st32(lp + PRIV.tx_full, 0)
    i = 0
    while i < RX_RING_SIZE:
        entry = lp + PRIV.rx_info + i * BUFFER_INFO.size
        skb = ld32(entry + BUFFER_INFO.skb)
        if not skb:
            skb = dev_alloc_skb(PKT_BUF_SZ)
            if not skb:
                return -ENOMEM
            skb_reserve(skb, 2)
            st32(entry + BUFFER_INFO.skb, skb)
        dma = pci_map_single(pdev, ld32(skb + SK_BUFF.data), PKT_BUF_SZ, 2)
        st32(entry + BUFFER_INFO.dma, dma)
        d = lp + PRIV.rx_ring + i * DESC
        st32(d, dma)
        st16(d + 4, -PKT_BUF_SZ)
        st16(d + 6, DESC_OWN)
        i += 1
    i = 0
    while i < TX_RING_SIZE:
        d = lp + PRIV.tx_ring + i * DESC
        st32(d, 0)
        st16(d + 6, 0)
        i += 1
    ib = lp + PRIV.init_block
    promisc = 0x8000 if ld32(dev + NET_DEVICE.flags) & IFF_PROMISC else 0
    st16(ib, promisc)
    st16(ib + 2, (LOG_RX_BUFFERS << 4) | (LOG_TX_BUFFERS << 12))
    stbytes(ib + 4, ldbytes(dev + NET_DEVICE.dev_addr, 6))
    st32(ib + 20, ld32(lp + PRIV.dma_addr) + PRIV.rx_ring)
    st32(ib + 24, ld32(lp + PRIV.dma_addr) + PRIV.tx_ring)
    return 0


def pcnet32_open(dev):
    lp = ld32(dev + NET_DEVICE.priv)
    io = ld32(lp + PRIV.ioaddr)
    err = request_irq(ld32(lp + PRIV.irq), pcnet32_interrupt, 0x04000000, "pcnet32", dev)
    if err:
        return err
    readl(io + RESET)
    write_bcr(io, 20, 2)                        # SWSTYLE 2: 32-bit descriptors
    if pcnet32_init_ring(dev):
        skb_ring_purge(lp + PRIV.rx_info, RX_RING_SIZE)
        free_irq(ld32(lp + PRIV.irq), dev)
        return -ENOMEM
    ib = ld32(lp + PRIV.dma_addr) + PRIV.init_block
    write_csr(io, 1, ib & 0xFFFF)
    write_csr(io, 2, ib >> 16)
    write_csr(io, 4, 0x0915)
    write_csr(io, 0, CSR0_INIT)
    i = 0
    while i < 100:                               # wait for IDON
        i += 1
        if read_csr(io, 0) & CSR0_IDON:
            break
    write_csr(io, 0, CSR0_IDON | CSR0_IENA | CSR0_STRT)
    netif_start_queue(dev)
    mod_timer(lp + PRIV.timer, jiffies() + 1)
    return 0


def pcnet32_close(dev):
    lp = ld32(dev + NET_DEVICE.priv)
    io = ld32(lp + PRIV.ioaddr)
    netif_stop_queue(dev)
    del_timer(lp + PRIV.timer)
    write_csr(io, 0, CSR0_STOP)
    free_irq(ld32(lp + PRIV.irq), dev)
    skb_ring_purge(lp + PRIV.rx_info, RX_RING_SIZE)
    skb_ring_purge(lp + PRIV.tx_info, TX_RING_SIZE)
    netif_carrier_off(dev)
    return 0


def pcnet32_start_xmit(skb, dev):
    lp = ld32(dev + NET_DEVICE.priv)
    io = ld32(lp + PRIV.ioaddr)
    flags = spin_lock_irqsave(lp + PRIV.lock)
    cur = ld32(lp + PRIV.cur_tx)
    entry = cur & (TX_RING_SIZE - 1)
    d = lp + PRIV.tx_ring + entry * DESC
    if ld32(d):                                  # still in use: the ring is full
        st32(lp + PRIV.tx_full, 1)
        netif_stop_queue(dev)
        spin_unlock_irqrestore(lp + PRIV.lock, flags)
        return 1
    length = ld32(skb + SK_BUFF.len)
    info = lp + PRIV.tx_info + entry * BUFFER_INFO.size
    dma = pci_map_single(ld32(lp + PRIV.pdev), ld32(skb + SK_BUFF.data), length, 1)
    st32(info + BUFFER_INFO.skb, skb)
    st32(info + BUFFER_INFO.dma, dma)
    st32(info + BUFFER_INFO.length, length)
    st16(d + 4, -length)
    st32(d + 8, 0)
    st32(d, dma)
    st16(d + 6, DESC_OWN | DESC_STP | DESC_ENP)
    st32(lp + PRIV.cur_tx, cur + 1)
    stats = lp + PRIV.stats
    st32(stats + NET_DEVICE_STATS.tx_bytes, ld32(stats + NET_DEVICE_STATS.tx_bytes) + length)
    write_csr(io, 0, CSR0_IENA | CSR0_TDMD)     # trigger an immediate send poll
    st32(dev + NET_DEVICE.trans_start, jiffies())
    if ld32(lp + PRIV.tx_ring + ((entry + 1) & (TX_RING_SIZE - 1)) * DESC):
        st32(lp + PRIV.tx_full, 1)
        netif_stop_queue(dev)
    spin_unlock_irqrestore(lp + PRIV.lock, flags)
    return 0


def pcnet32_rx(dev):
    lp = ld32(dev + NET_DEVICE.priv)
    pdev = ld32(lp + PRIV.pdev)
    stats = lp + PRIV.stats
    entry = ld32(lp + PRIV.cur_rx) & (RX_RING_SIZE - 1)
    d = lp + PRIV.rx_ring + entry * DESC
    while not ld16(d + 6) & DESC_OWN:
        status = ld16(d + 6)
        info = lp + PRIV.rx_info + entry * BUFFER_INFO.size
        if status & (DESC_STP | DESC_ENP | DESC_ERR) != DESC_STP | DESC_ENP:
            st32(stats + NET_DEVICE_STATS.rx_errors, ld32(stats + NET_DEVICE_STATS.rx_errors) + 1)
        else:
            pkt_len = (ld32(d + 8) & 0xFFF) - 4
            if pkt_len < 60:
                st32(stats + NET_DEVICE_STATS.rx_errors,
                     ld32(stats + NET_DEVICE_STATS.rx_errors) + 1)
            elif pkt_len > RX_COPYBREAK:
                newskb = dev_alloc_skb(PKT_BUF_SZ)
                if newskb:
                    skb_reserve(newskb, 2)
                    skb = ld32(info + BUFFER_INFO.skb)
                    pci_unmap_single(pdev, ld32(info + BUFFER_INFO.dma), PKT_BUF_SZ, 2)
                    dma = pci_map_single(pdev, ld32(newskb + SK_BUFF.data), PKT_BUF_SZ, 2)
                    st32(info + BUFFER_INFO.skb, newskb)
                    st32(info + BUFFER_INFO.dma, dma)
                    st32(d, dma)
                    skb_put(skb, pkt_len)
                    eth_type_trans(skb, dev)
                    netif_rx(skb)
                else:
                    st32(stats + NET_DEVICE_STATS.rx_dropped,
                         ld32(stats + NET_DEVICE_STATS.rx_dropped) + 1)
            else:
                skb = dev_alloc_skb(pkt_len + 2)
                if skb:
                    skb_reserve(skb, 2)
                    memcpy(skb_put(skb, pkt_len),
                           ld32(ld32(info + BUFFER_INFO.skb) + SK_BUFF.data), pkt_len)
                    eth_type_trans(skb, dev)
                    netif_rx(skb)
                else:
                    st32(stats + NET_DEVICE_STATS.rx_dropped,
                         ld32(stats + NET_DEVICE_STATS.rx_dropped) + 1)
            st32(stats + NET_DEVICE_STATS.rx_packets, ld32(stats + NET_DEVICE_STATS.rx_packets) + 1)
            st32(stats + NET_DEVICE_STATS.rx_bytes,
                 ld32(stats + NET_DEVICE_STATS.rx_bytes) + pkt_len)
        st16(d + 4, -PKT_BUF_SZ)
        st16(d + 6, DESC_OWN)                     # give the descriptor back to the card
        st32(lp + PRIV.cur_rx, ld32(lp + PRIV.cur_rx) + 1)
        entry = ld32(lp + PRIV.cur_rx) & (RX_RING_SIZE - 1)
        d = lp + PRIV.rx_ring + entry * DESC


def pcnet32_tx_done(dev):
    lp = ld32(dev + NET_DEVICE.priv)
    spin_lock(lp + PRIV.lock)
    dirty = ld32(lp + PRIV.dirty_tx)
    cur = ld32(lp + PRIV.cur_tx)
    stats = lp + PRIV.stats
    while dirty != cur:
        entry = dirty & (TX_RING_SIZE - 1)
        d = lp + PRIV.tx_ring + entry * DESC
        if ld16(d + 6) & DESC_OWN:
            break                                 # not sent yet
        st32(d, 0)
        info = lp + PRIV.tx_info + entry * BUFFER_INFO.size
        skb = ld32(info + BUFFER_INFO.skb)
        if skb:
            pci_unmap_single(ld32(lp + PRIV.pdev), ld32(info + BUFFER_INFO.dma),
                             ld32(info + BUFFER_INFO.length), 1)
            dev_kfree_skb_irq(skb)
            st32(info + BUFFER_INFO.skb, 0)
        st32(stats + NET_DEVICE_STATS.tx_packets, ld32(stats + NET_DEVICE_STATS.tx_packets) + 1)
        dirty += 1
    st32(lp + PRIV.dirty_tx, dirty)
    if ld32(lp + PRIV.tx_full) and netif_queue_stopped(dev) and dirty > cur - TX_RING_SIZE + 2:
        st32(lp + PRIV.tx_full, 0)
        netif_wake_queue(dev)
    spin_unlock(lp + PRIV.lock)


def pcnet32_interrupt(irq, dev_id):
    dev = dev_id
    lp = ld32(dev + NET_DEVICE.priv)
    io = ld32(lp + PRIV.ioaddr)
    boguscnt = 20
    csr0 = read_csr(io, 0)
    while csr0 & (CSR0_ERR | CSR0_RINT | CSR0_TINT) and boguscnt > 0:
        boguscnt -= 1
        write_csr(io, 0, csr0 & ~0x004F)         # acknowledge; IENA off while we work
        if csr0 & CSR0_RINT:
            pcnet32_rx(dev)
        if csr0 & CSR0_TINT:
            pcnet32_tx_done(dev)
        if csr0 & CSR0_MISS:
            stats = lp + PRIV.stats
            st32(stats + NET_DEVICE_STATS.rx_missed_errors,
                 ld32(stats + NET_DEVICE_STATS.rx_missed_errors) + 1)
        csr0 = read_csr(io, 0)
    write_csr(io, 0, CSR0_IENA)


def pcnet32_watchdog(data):
    dev = data
    lp = ld32(dev + NET_DEVICE.priv)
    mii_check_link(dev, PHY_ID, mdio_read)
    mod_timer(lp + PRIV.timer, jiffies() + 2 * HZ)


def pcnet32_tx_timeout(dev):
    lp = ld32(dev + NET_DEVICE.priv)
    io = ld32(lp + PRIV.ioaddr)
    stats = lp + PRIV.stats
    st32(stats + NET_DEVICE_STATS.tx_errors, ld32(stats + NET_DEVICE_STATS.tx_errors) + 1)
    write_csr(io, 0, CSR0_STOP)
    skb_ring_purge(lp + PRIV.tx_info, TX_RING_SIZE)
    pcnet32_init_ring(dev)
    write_csr(io, 0, CSR0_INIT)
    write_csr(io, 0, CSR0_IDON | CSR0_IENA | CSR0_STRT)
    netif_wake_queue(dev)


def pcnet32_get_stats(dev):
    return ld32(dev + NET_DEVICE.priv) + PRIV.stats


def pcnet32_set_multicast_list(dev):
    lp = ld32(dev + NET_DEVICE.priv)
    io = ld32(lp + PRIV.ioaddr)
    write_csr(io, 15, 0x8000 if ld32(dev + NET_DEVICE.flags) & IFF_PROMISC else 0)


def pcnet32_ioctl(dev, ifr, cmd):
    if cmd == SIOCGMIIPHY:
        st16(ifr + 16, PHY_ID)
        return 0
    if cmd == SIOCGMIIREG:
        st16(ifr + 22, mdio_read(dev, PHY_ID, ld16(ifr + 18) & 0x1F))
        return 0
    return -EOPNOTSUPP


PCNET32_OPS = NetDeviceOps(ndo_open=pcnet32_open, ndo_stop=pcnet32_close,
                           ndo_start_xmit=pcnet32_start_xmit, ndo_tx_timeout=pcnet32_tx_timeout,
                           ndo_get_stats=pcnet32_get_stats,
                           ndo_set_multicast_list=pcnet32_set_multicast_list,
                           ndo_do_ioctl=pcnet32_ioctl)


def pcnet32_probe1(pdev):
    if pci_enable_device(pdev):
        return -ENODEV
    pci_set_master(pdev)
    io = ioremap(ld32(pdev + PCI_DEV.resource_start), ld32(pdev + PCI_DEV.resource_len))
    if not io:
        pci_disable_device(pdev)
        return -EBUSY
    readl(io + RESET)
    write_csr(io, 0, CSR0_STOP)
    if read_csr(io, 0) != CSR0_STOP:             # pcnet32_dwio_check
        iounmap(io)
        pci_disable_device(pdev)
        return -ENODEV
    dev = alloc_etherdev(0)
    if not dev:
        iounmap(io)
        pci_disable_device(pdev)
        return -ENOMEM
    st32(dev + NET_DEVICE.dev_addr, readl(io))            # the station address PROM
    st16(dev + NET_DEVICE.dev_addr + 4, readl(io + 4) & 0xFFFF)
    lp = pci_alloc_consistent(pdev, PRIV.size)
    if not lp:
        free_netdev(dev)
        iounmap(io)
        pci_disable_device(pdev)
        return -ENOMEM
    memset(lp, 0, PRIV.size)
    st32(lp + PRIV.dma_addr, pci_map_single(pdev, lp, PRIV.size, 1))
    st32(lp + PRIV.dev, dev)
    st32(lp + PRIV.pdev, pdev)
    st32(lp + PRIV.ioaddr, io)
    st32(lp + PRIV.irq, ld32(pdev + PCI_DEV.irq))
    spin_lock_init(lp + PRIV.lock)
    setup_timer(lp + PRIV.timer, pcnet32_watchdog, dev)
    st32(dev + NET_DEVICE.priv, lp)
    st32(dev + NET_DEVICE.base_addr, io)
    st32(dev + NET_DEVICE.irq, ld32(pdev + PCI_DEV.irq))
    st32(dev + NET_DEVICE.watchdog_timeo, 5 * HZ)
    err = register_netdev(dev, PCNET32_OPS)
    if err:
        pci_free_consistent(pdev, PRIV.size, lp)
        free_netdev(dev)
        iounmap(io)
        pci_disable_device(pdev)
        return err
    return dev


def init_module():
    global netdev
    pdev = pci_find_device(VENDOR, DEVICE, 0)
    if not pdev:
        return -ENODEV
    dev = pcnet32_probe1(pdev)
    if dev < 0:
        return dev
    netdev = dev
    return 0


def cleanup_module():
    global netdev
    dev = netdev
    lp = ld32(dev + NET_DEVICE.priv)
    pdev = ld32(lp + PRIV.pdev)
    io = ld32(lp + PRIV.ioaddr)
    unregister_netdev(dev)
    pci_free_consistent(pdev, PRIV.size, lp)
    iounmap(io)
    pci_disable_device(pdev)
    free_netdev(dev)
    netdev = 0
