"""3Com 3c90x "Boomerang/Cyclone" driver, shaped like the bus-master paths of Linux 2.4's 3Com
drivers (``3c59x.c``'s ``boomerang_*`` functions; 3Com's own ``3c90x.c`` works the same way).

The card walks descriptor lists in host memory by itself. Transmit: each packet gets a download
descriptor (DPD) in a 16-entry ring; the driver stalls the download engine (``DownStall``), links
the DPD behind the previous one, points ``DownListPtr`` at it if the engine is idle, and unstalls;
only the newest DPD asks for a ``DownComplete`` interrupt (``TxIntrUploaded``), so one interrupt
reaps several packets. Receive: a circular list of 32 upload descriptors (UPDs) with an skb each;
the card fills them and raises ``UpComplete``; the handler passes the packets up (copying short
ones, as ``rx_copybreak`` says), refills, and ``UpUnstall``s the engine.

**The latent bug the paper found** (SOSP'03 section 5.5: "if the card is not detected, the driver
frees a large buffer during init and later zeroes it on unload") is kept here on purpose:
``init_module`` probes for a second adapter with a page-sized buffer ready for it; none is
present, so it frees the buffer but leaves the pointer in ``second_buf``, and ``cleanup_module``
zeroes that freed buffer. Natively this write after free goes unnoticed (the pages were DMA
pages returned to the page allocator, which the kernel's page table still maps writable, and the
ring allocation in ``open`` reuses and frees them again before the unload); Nooks, which
write-protects memory a domain has freed, catches it.
"""
from nookslab.kernel.api import (alloc_etherdev, del_timer, dev_alloc_skb, dev_kfree_skb_irq,
                                 eth_type_trans, free_irq, free_netdev, iounmap, ioremap, jiffies,
                                 kfree, kmalloc, ld32, memcpy, memset, mod_timer,
                                 netif_carrier_off, netif_carrier_on, netif_rx, netif_start_queue,
                                 netif_stop_queue, netif_wake_queue, pci_alloc_consistent,
                                 pci_disable_device, pci_enable_device, pci_find_device,
                                 pci_free_consistent, pci_map_single, pci_set_master,
                                 pci_unmap_single, readl, readw, register_netdev, request_irq,
                                 setup_timer, skb_put, skb_reserve, skb_ring_purge, spin_lock,
                                 spin_lock_init, spin_lock_irqsave, spin_unlock,
                                 spin_unlock_irqrestore, st16, st32, unregister_netdev, writel,
                                 writew)
from nookslab.kernel.errno import EBUSY, ENODEV, ENOMEM
from nookslab.kernel.net import BUFFER_INFO, NET_DEVICE, NET_DEVICE_STATS, NetDeviceOps, SK_BUFF
from nookslab.kernel.net.netdevice import IFF_PROMISC
from nookslab.kernel.pci import PCI_DEV
from nookslab.kernel.structs import Layout
from nookslab.kernel.sync import SPINLOCK
from nookslab.kernel.timer import HZ, TIMER_LIST
from nookslab.machine.devices.nic_3com import (ACK_INTR, DN_COMPLETE, DOWN_COMPLETE,
                                               DOWN_LIST_PTR, EEPROM_READ, EL3_CMD, HOST_ERROR,
                                               INT_LATCH, INT_REQ, LAST_FRAG, MEDIA_LNKBEAT,
                                               RX_ENABLE, RX_RESET, SELECT_WINDOW, SET_INTR_ENB,
                                               SET_RX_FILTER, SET_STATUS_ENB, STALL_CTL,
                                               TOTAL_RESET, TX_ENABLE, TX_INTR_UPLOADED,
                                               TX_RESET, UP_COMPLETE, UP_LIST_PTR, UPD_COMPLETE,
                                               UPD_ERROR, WN0_EEPROM_CMD, WN0_EEPROM_DATA,
                                               WN4_MEDIA)

VENDOR, DEVICE = 0x10B7, 0x9050
TX_RING_SIZE, RX_RING_SIZE = 16, 32
DESC = 16
PKT_BUF_SZ = 1536
RX_COPYBREAK = 200
DOWN_STALL, DOWN_UNSTALL = STALL_CTL << 11 | 2, STALL_CTL << 11 | 3
UP_UNSTALL = STALL_CTL << 11 | 1
RX_FILTER = 0x01 | 0x04
INTR_MASK = INT_LATCH | HOST_ERROR | INT_REQ | UP_COMPLETE | DOWN_COMPLETE
RINGS_SIZE = (TX_RING_SIZE + RX_RING_SIZE) * DESC
SECOND_BUF_SIZE = 4096               # the buffer made ready for a second adapter

VP = Layout("boomerang_private", [
    ("dev", "ptr"), ("pdev", "ptr"), ("ioaddr", "ptr"), ("irq", "u32"),
    ("rings", "ptr"), ("rings_dma", "u32"), ("tx_info", "ptr"), ("rx_info", "ptr"),
    ("cur_tx", "u32"), ("dirty_tx", "u32"), ("cur_rx", "u32"), ("dirty_rx", "u32"),
    ("lock", SPINLOCK.size), ("timer", TIMER_LIST.size), ("stats", NET_DEVICE_STATS.size),
])

netdev = 0
second_buf = 0                        # the latent bug's dangling pointer (see the docstring)


def window(io, n):
    writew(SELECT_WINDOW << 11 | n, io + EL3_CMD)


def bump(vp, field, n):
    st32(vp + VP.stats + field, ld32(vp + VP.stats + field) + n)


def tx_desc(vp, entry):
    return ld32(vp + VP.rings) + entry * DESC


def rx_desc(vp, entry):
    return ld32(vp + VP.rings) + (TX_RING_SIZE + entry) * DESC


def rx_desc_dma(vp, entry):
    return ld32(vp + VP.rings_dma) + (TX_RING_SIZE + entry) * DESC


def boomerang_refill(vp):
    pdev = ld32(vp + VP.pdev)
    io = ld32(vp + VP.ioaddr)
    dirty = ld32(vp + VP.dirty_rx)
    cur = ld32(vp + VP.cur_rx)
    while cur - dirty > 0:
        entry = dirty % RX_RING_SIZE
        info = ld32(vp + VP.rx_info) + entry * BUFFER_INFO.size
        d = rx_desc(vp, entry)
        if not ld32(info + BUFFER_INFO.skb):
            skb = dev_alloc_skb(PKT_BUF_SZ)
            if not skb:
                break
            skb_reserve(skb, 2)
            dma = pci_map_single(pdev, ld32(skb + SK_BUFF.data), PKT_BUF_SZ, 2)
            st32(info + BUFFER_INFO.skb, skb)
            st32(info + BUFFER_INFO.dma, dma)
            st32(d + 8, dma)
        st32(d + 4, 0)                            # clear the complete bit: the card's again
        writew(UP_UNSTALL, io + EL3_CMD)
        dirty += 1
    st32(vp + VP.dirty_rx, dirty)


def boomerang_open(dev):
    vp = ld32(dev + NET_DEVICE.priv)
    io = ld32(vp + VP.ioaddr)
    pdev = ld32(vp + VP.pdev)
    rings = pci_alloc_consistent(pdev, RINGS_SIZE)
    if not rings:
        return -ENOMEM
    tx_info = kmalloc(TX_RING_SIZE * BUFFER_INFO.size, 0)
    rx_info = kmalloc(RX_RING_SIZE * BUFFER_INFO.size, 0)
    if not tx_info or not rx_info:
        kfree(rx_info)
        kfree(tx_info)
        pci_free_consistent(pdev, RINGS_SIZE, rings)
        return -ENOMEM
    memset(tx_info, 0, TX_RING_SIZE * BUFFER_INFO.size)
    memset(rx_info, 0, RX_RING_SIZE * BUFFER_INFO.size)
    st32(vp + VP.rings, rings)
    st32(vp + VP.rings_dma, pci_map_single(pdev, rings, RINGS_SIZE, 1))
    st32(vp + VP.tx_info, tx_info)
    st32(vp + VP.rx_info, rx_info)
    st32(vp + VP.cur_tx, 0)
    st32(vp + VP.dirty_tx, 0)
    st32(vp + VP.cur_rx, RX_RING_SIZE)
    st32(vp + VP.dirty_rx, 0)
    i = 0
    while i < RX_RING_SIZE:                       # a circular upload list
        d = rx_desc(vp, i)
        st32(d, rx_desc_dma(vp, (i + 1) % RX_RING_SIZE))
        st32(d + 12, PKT_BUF_SZ | LAST_FRAG)
        i += 1
    boomerang_refill(vp)
    st32(vp + VP.cur_rx, 0)
    st32(vp + VP.dirty_rx, 0)
    err = request_irq(ld32(vp + VP.irq), boomerang_interrupt, 0x04000000, "3c90x", dev)
    if err:
        skb_ring_purge(rx_info, RX_RING_SIZE)
        kfree(rx_info)
        kfree(tx_info)
        pci_free_consistent(pdev, RINGS_SIZE, rings)
        return err
    window(io, 2)
    i = 0
    while i < 6:
        writew(ld32(dev + NET_DEVICE.dev_addr + i) & 0xFFFF, io + i)
        i += 2
    window(io, 7)
    writew(RX_RESET << 11, io + EL3_CMD)
    writew(TX_RESET << 11, io + EL3_CMD)
    writel(rx_desc_dma(vp, 0), io + UP_LIST_PTR)
    writew(SET_RX_FILTER << 11 | RX_FILTER, io + EL3_CMD)
    writew(SET_STATUS_ENB << 11 | INTR_MASK, io + EL3_CMD)
    writew(ACK_INTR << 11 | 0x7FF, io + EL3_CMD)
    writew(SET_INTR_ENB << 11 | INTR_MASK, io + EL3_CMD)
    writew(RX_ENABLE << 11, io + EL3_CMD)
    writew(TX_ENABLE << 11, io + EL3_CMD)
    netif_start_queue(dev)
    mod_timer(vp + VP.timer, jiffies() + 1)
    return 0


def boomerang_close(dev):
    vp = ld32(dev + NET_DEVICE.priv)
    io = ld32(vp + VP.ioaddr)
    netif_stop_queue(dev)
    del_timer(vp + VP.timer)
    writew(SET_INTR_ENB << 11, io + EL3_CMD)
    writew(RX_RESET << 11, io + EL3_CMD)
    writew(TX_RESET << 11, io + EL3_CMD)
    writel(0, io + UP_LIST_PTR)
    writel(0, io + DOWN_LIST_PTR)
    free_irq(ld32(vp + VP.irq), dev)
    skb_ring_purge(ld32(vp + VP.rx_info), RX_RING_SIZE)
    skb_ring_purge(ld32(vp + VP.tx_info), TX_RING_SIZE)
    kfree(ld32(vp + VP.rx_info))
    kfree(ld32(vp + VP.tx_info))
    pci_free_consistent(ld32(vp + VP.pdev), RINGS_SIZE, ld32(vp + VP.rings))
    st32(vp + VP.rings, 0)
    netif_carrier_off(dev)
    return 0


def boomerang_start_xmit(skb, dev):
    vp = ld32(dev + NET_DEVICE.priv)
    io = ld32(vp + VP.ioaddr)
    cur = ld32(vp + VP.cur_tx)
    if cur - ld32(vp + VP.dirty_tx) >= TX_RING_SIZE:
        netif_stop_queue(dev)
        return 1
    entry = cur % TX_RING_SIZE
    prev = tx_desc(vp, (cur + TX_RING_SIZE - 1) % TX_RING_SIZE)
    d = tx_desc(vp, entry)
    length = ld32(skb + SK_BUFF.len)
    dma = pci_map_single(ld32(vp + VP.pdev), ld32(skb + SK_BUFF.data), length, 1)
    info = ld32(vp + VP.tx_info) + entry * BUFFER_INFO.size
    st32(info + BUFFER_INFO.skb, skb)
    st32(info + BUFFER_INFO.dma, dma)
    st32(info + BUFFER_INFO.length, length)
    st32(d, 0)
    st32(d + 8, dma)
    st32(d + 12, length | LAST_FRAG)
    st32(d + 4, length | TX_INTR_UPLOADED)
    flags = spin_lock_irqsave(vp + VP.lock)
    writew(DOWN_STALL, io + EL3_CMD)
    st32(prev, ld32(vp + VP.rings_dma) + entry * DESC)
    if readl(io + DOWN_LIST_PTR) == 0:
        writel(ld32(vp + VP.rings_dma) + entry * DESC, io + DOWN_LIST_PTR)
    st32(vp + VP.cur_tx, cur + 1)
    if cur + 1 - ld32(vp + VP.dirty_tx) > TX_RING_SIZE - 1:
        netif_stop_queue(dev)
    else:                                         # only the newest packet interrupts
        st32(prev + 4, ld32(prev + 4) & ~TX_INTR_UPLOADED)
    writew(DOWN_UNSTALL, io + EL3_CMD)
    spin_unlock_irqrestore(vp + VP.lock, flags)
    st32(dev + NET_DEVICE.trans_start, jiffies())
    bump(vp, NET_DEVICE_STATS.tx_bytes, length)
    return 0


def boomerang_tx_done(dev):
    vp = ld32(dev + NET_DEVICE.priv)
    spin_lock(vp + VP.lock)
    dirty = ld32(vp + VP.dirty_tx)
    cur = ld32(vp + VP.cur_tx)
    while cur - dirty > 0:
        entry = dirty % TX_RING_SIZE
        if not ld32(tx_desc(vp, entry) + 4) & DN_COMPLETE:
            break                                 # not downloaded yet
        info = ld32(vp + VP.tx_info) + entry * BUFFER_INFO.size
        skb = ld32(info + BUFFER_INFO.skb)
        if skb:
            pci_unmap_single(ld32(vp + VP.pdev), ld32(info + BUFFER_INFO.dma),
                             ld32(info + BUFFER_INFO.length), 1)
            dev_kfree_skb_irq(skb)
            st32(info + BUFFER_INFO.skb, 0)
        bump(vp, NET_DEVICE_STATS.tx_packets, 1)
        dirty += 1
    st32(vp + VP.dirty_tx, dirty)
    spin_unlock(vp + VP.lock)
    if cur - dirty <= TX_RING_SIZE - 1:
        netif_wake_queue(dev)


def boomerang_rx(dev):
    vp = ld32(dev + NET_DEVICE.priv)
    pdev = ld32(vp + VP.pdev)
    entry = ld32(vp + VP.cur_rx) % RX_RING_SIZE
    work = RX_RING_SIZE
    status = ld32(rx_desc(vp, entry) + 4)
    while status & UPD_COMPLETE and work > 0:
        work -= 1
        info = ld32(vp + VP.rx_info) + entry * BUFFER_INFO.size
        if status & UPD_ERROR:
            bump(vp, NET_DEVICE_STATS.rx_errors, 1)
        else:
            pkt_len = status & 0x1FFF
            ring_skb = ld32(info + BUFFER_INFO.skb)
            skb = 0
            if pkt_len < RX_COPYBREAK:
                skb = dev_alloc_skb(pkt_len + 2)
            if skb:
                skb_reserve(skb, 2)
                memcpy(skb_put(skb, pkt_len), ld32(ring_skb + SK_BUFF.data), pkt_len)
            else:
                skb = ring_skb
                st32(info + BUFFER_INFO.skb, 0)
                pci_unmap_single(pdev, ld32(info + BUFFER_INFO.dma), PKT_BUF_SZ, 2)
                skb_put(skb, pkt_len)
            eth_type_trans(skb, dev)
            netif_rx(skb)
            bump(vp, NET_DEVICE_STATS.rx_packets, 1)
            bump(vp, NET_DEVICE_STATS.rx_bytes, pkt_len)
        st32(vp + VP.cur_rx, ld32(vp + VP.cur_rx) + 1)
        entry = ld32(vp + VP.cur_rx) % RX_RING_SIZE
        status = ld32(rx_desc(vp, entry) + 4)
    boomerang_refill(vp)


def boomerang_interrupt(irq, dev_id):
    dev = dev_id
    vp = ld32(dev + NET_DEVICE.priv)
    io = ld32(vp + VP.ioaddr)
    status = readw(io + EL3_CMD)
    if not status & INT_LATCH:
        return
    work = 32
    while status & INT_LATCH and work > 0:
        work -= 1
        if status & UP_COMPLETE:
            writew(ACK_INTR << 11 | UP_COMPLETE, io + EL3_CMD)
            boomerang_rx(dev)
        if status & DOWN_COMPLETE:
            writew(ACK_INTR << 11 | DOWN_COMPLETE, io + EL3_CMD)
            boomerang_tx_done(dev)
        if status & HOST_ERROR:
            bump(vp, NET_DEVICE_STATS.tx_errors, 1)
            writew(ACK_INTR << 11 | HOST_ERROR, io + EL3_CMD)
        writew(ACK_INTR << 11 | INT_REQ | INT_LATCH, io + EL3_CMD)
        status = readw(io + EL3_CMD)


def boomerang_timer(data):
    dev = data
    vp = ld32(dev + NET_DEVICE.priv)
    io = ld32(vp + VP.ioaddr)
    flags = spin_lock_irqsave(vp + VP.lock)
    window(io, 4)
    if readw(io + WN4_MEDIA) & MEDIA_LNKBEAT:
        netif_carrier_on(dev)
    else:
        netif_carrier_off(dev)
    window(io, 7)
    spin_unlock_irqrestore(vp + VP.lock, flags)
    mod_timer(vp + VP.timer, jiffies() + 60 * HZ)


def boomerang_tx_timeout(dev):
    vp = ld32(dev + NET_DEVICE.priv)
    bump(vp, NET_DEVICE_STATS.tx_errors, 1)
    boomerang_tx_done(dev)
    netif_wake_queue(dev)


def boomerang_get_stats(dev):
    return ld32(dev + NET_DEVICE.priv) + VP.stats


def set_rx_mode(dev):
    io = ld32(dev + NET_DEVICE.base_addr)
    mode = RX_FILTER | (0x08 if ld32(dev + NET_DEVICE.flags) & IFF_PROMISC else 0)
    writew(SET_RX_FILTER << 11 | mode, io + EL3_CMD)


BOOMERANG_OPS = NetDeviceOps(ndo_open=boomerang_open, ndo_stop=boomerang_close,
                             ndo_start_xmit=boomerang_start_xmit,
                             ndo_tx_timeout=boomerang_tx_timeout,
                             ndo_get_stats=boomerang_get_stats,
                             ndo_set_multicast_list=set_rx_mode)


def boomerang_probe1(pdev):
    if pci_enable_device(pdev):
        return -ENODEV
    pci_set_master(pdev)
    io = ioremap(ld32(pdev + PCI_DEV.resource_start), ld32(pdev + PCI_DEV.resource_len))
    if not io:
        pci_disable_device(pdev)
        return -EBUSY
    dev = alloc_etherdev(VP.size)
    if not dev:
        iounmap(io)
        pci_disable_device(pdev)
        return -ENOMEM
    vp = ld32(dev + NET_DEVICE.priv)
    st32(vp + VP.dev, dev)
    st32(vp + VP.pdev, pdev)
    st32(vp + VP.ioaddr, io)
    st32(vp + VP.irq, ld32(pdev + PCI_DEV.irq))
    writew(TOTAL_RESET << 11, io + EL3_CMD)
    window(io, 0)
    i = 0
    while i < 3:                                 # station address: EEPROM words 10-12
        writew(EEPROM_READ + 10 + i, io + WN0_EEPROM_CMD)
        word = readw(io + WN0_EEPROM_DATA)
        st16(dev + NET_DEVICE.dev_addr + 2 * i, (word >> 8 & 0xFF) | (word & 0xFF) << 8)
        i += 1
    window(io, 7)
    spin_lock_init(vp + VP.lock)
    setup_timer(vp + VP.timer, boomerang_timer, dev)
    st32(dev + NET_DEVICE.base_addr, io)
    st32(dev + NET_DEVICE.irq, ld32(pdev + PCI_DEV.irq))
    st32(dev + NET_DEVICE.watchdog_timeo, 5 * HZ)
    err = register_netdev(dev, BOOMERANG_OPS)
    if err:
        free_netdev(dev)
        iounmap(io)
        pci_disable_device(pdev)
        return err
    return dev


def init_module():
    global netdev, second_buf
    pdev = pci_find_device(VENDOR, DEVICE, 0)
    if not pdev:
        return -ENODEV
    dev = boomerang_probe1(pdev)
    if dev < 0:
        return dev
    netdev = dev
    # Probe for a second adapter, with its buffer made ready first. There is none: free the
    # buffer... but keep the pointer. THE PAPER'S LATENT BUG (SOSP'03 5.5): cleanup_module
    # zeroes this freed buffer. Native Linux never notices; Nooks does.
    second_buf = pci_alloc_consistent(0, SECOND_BUF_SIZE)
    if second_buf and not pci_find_device(VENDOR, DEVICE, pdev):
        pci_free_consistent(0, SECOND_BUF_SIZE, second_buf)
    return 0


def cleanup_module():
    global netdev, second_buf
    dev = netdev
    vp = ld32(dev + NET_DEVICE.priv)
    pdev = ld32(vp + VP.pdev)
    io = ld32(vp + VP.ioaddr)
    unregister_netdev(dev)
    writew(TOTAL_RESET << 11, io + EL3_CMD)
    iounmap(io)
    pci_disable_device(pdev)
    free_netdev(dev)
    if second_buf:
        memset(second_buf, 0, SECOND_BUF_SIZE)    # the latent bug: a write after free
    netdev = 0
    second_buf = 0
