"""3Com 3c59x "Vortex" driver, shaped like the Vortex paths of Linux 2.4's ``3c59x.c``.

The card keeps packets in on-board FIFOs, and every register below 0x0E means something different
in each *window*, chosen with the ``SelectWindow`` command: the driver reads the EEPROM in window 0,
programs the station address in window 2, checks the link beat in window 4 and runs in window 7
(the bus-master registers). To send, it writes the packet length to the FIFO and has the card pull
the packet in with one bus-master transfer (``StartDMADown``); only one transfer is in flight, so
the queue stays stopped until ``DMADone``, when the skb is freed and, if ``TxFree`` has room for a
full packet, the queue is woken (else ``TxAvailable`` wakes it later). To receive, it reads
``RxStatus`` for the packet at the head of the receive FIFO, moves it into a new skb with
``StartDMAUp``, and pops it with ``RxDiscard``, until the FIFO is empty.
"""
from nookslab.kernel.api import (alloc_etherdev, del_timer, dev_alloc_skb, dev_kfree_skb_any,
                                 dev_kfree_skb_irq, eth_type_trans, free_irq, free_netdev,
                                 iounmap, ioremap, jiffies, ld16, ld32, mod_timer, netif_carrier_off,
                                 netif_carrier_on, netif_rx, netif_start_queue, netif_stop_queue,
                                 netif_wake_queue, pci_disable_device, pci_enable_device,
                                 pci_find_device, pci_map_single, pci_set_master,
                                 pci_unmap_single, readw, register_netdev, request_irq,
                                 setup_timer, skb_put, skb_reserve, spin_lock_init,
                                 spin_lock_irqsave, spin_unlock_irqrestore, st16, st32,
                                 unregister_netdev, writel, writew)
from nookslab.kernel.errno import EBUSY, ENODEV, ENOMEM
from nookslab.kernel.net import NET_DEVICE, NET_DEVICE_STATS, NetDeviceOps, SK_BUFF
from nookslab.kernel.net.netdevice import IFF_PROMISC
from nookslab.kernel.pci import PCI_DEV
from nookslab.kernel.structs import Layout
from nookslab.kernel.sync import SPINLOCK
from nookslab.kernel.timer import HZ, TIMER_LIST
from nookslab.machine.devices.nic_3com import (ACK_INTR, DMA_CTL, DMA_DONE, EEPROM_READ, EL3_CMD,
                                               HOST_ERROR, INT_LATCH, INT_REQ, MASTER_BUSY,
                                               MASTER_DOWN_DONE, MEDIA_LNKBEAT, RX_COMPLETE,
                                               RX_DISCARD, RX_ENABLE, RX_ERROR, RX_INCOMPLETE,
                                               RX_RESET, RX_STATUS, SELECT_WINDOW, SET_INTR_ENB,
                                               SET_RX_FILTER, SET_STATUS_ENB, SET_TX_THRESHOLD,
                                               TOTAL_RESET, TX_AVAILABLE, TX_COMPLETE, TX_ENABLE,
                                               TX_FIFO, TX_FREE, TX_RESET, WN0_EEPROM_CMD,
                                               WN0_EEPROM_DATA, WN4_MEDIA, WN7_MASTER_ADDR,
                                               WN7_MASTER_LEN, WN7_MASTER_STATUS)

VENDOR, DEVICE = 0x10B7, 0x5950
START_DMA_UP = DMA_CTL << 11
START_DMA_DOWN = (DMA_CTL << 11) + 1
RX_FILTER = 0x01 | 0x04                      # RxStation | RxBroadcast
RX_PROMISC = 0x08
INTR_MASK = INT_LATCH | TX_AVAILABLE | RX_COMPLETE | HOST_ERROR | TX_COMPLETE | INT_REQ | DMA_DONE
MAX_INTERRUPT_WORK = 32
MAX_PKT = 1536

VP = Layout("vortex_private", [
    ("dev", "ptr"), ("pdev", "ptr"), ("ioaddr", "ptr"), ("irq", "u32"), ("tx_skb", "ptr"),
    ("tx_skb_dma", "u32"), ("tx_len", "u32"), ("lock", SPINLOCK.size),
    ("timer", TIMER_LIST.size), ("stats", NET_DEVICE_STATS.size), ("eeprom", 128),
])

netdev = 0


def window(io, n):
    writew(SELECT_WINDOW << 11 | n, io + EL3_CMD)


def bump(vp, field, n):
    st32(vp + VP.stats + field, ld32(vp + VP.stats + field) + n)


def vortex_open(dev):
    vp = ld32(dev + NET_DEVICE.priv)
    io = ld32(vp + VP.ioaddr)
    err = request_irq(ld32(vp + VP.irq), vortex_interrupt, 0x04000000, "3c59x", dev)
    if err:
        return err
    window(io, 2)
    i = 0
    while i < 6:
        writew(ld32(dev + NET_DEVICE.dev_addr + i) & 0xFFFF, io + i)
        i += 2
    writew(RX_RESET << 11, io + EL3_CMD)
    writew(TX_RESET << 11, io + EL3_CMD)
    writew(SET_RX_FILTER << 11 | RX_FILTER, io + EL3_CMD)
    writew(SET_STATUS_ENB << 11 | INTR_MASK, io + EL3_CMD)
    writew(ACK_INTR << 11 | 0x7FF, io + EL3_CMD)
    writew(SET_INTR_ENB << 11 | INTR_MASK, io + EL3_CMD)
    writew(RX_ENABLE << 11, io + EL3_CMD)
    writew(TX_ENABLE << 11, io + EL3_CMD)
    window(io, 7)                              # register set 7 for normal use
    st32(vp + VP.tx_skb, 0)
    netif_start_queue(dev)
    mod_timer(vp + VP.timer, jiffies() + 1)
    return 0


def vortex_close(dev):
    vp = ld32(dev + NET_DEVICE.priv)
    io = ld32(vp + VP.ioaddr)
    netif_stop_queue(dev)
    del_timer(vp + VP.timer)
    writew(SET_INTR_ENB << 11, io + EL3_CMD)
    writew(RX_RESET << 11, io + EL3_CMD)
    writew(TX_RESET << 11, io + EL3_CMD)
    free_irq(ld32(vp + VP.irq), dev)
    skb = ld32(vp + VP.tx_skb)
    if skb:
        pci_unmap_single(ld32(vp + VP.pdev), ld32(vp + VP.tx_skb_dma), ld32(vp + VP.tx_len), 1)
        dev_kfree_skb_any(skb)
        st32(vp + VP.tx_skb, 0)
    netif_carrier_off(dev)
    return 0


def vortex_start_xmit(skb, dev):
    vp = ld32(dev + NET_DEVICE.priv)
    io = ld32(vp + VP.ioaddr)
    flags = spin_lock_irqsave(vp + VP.lock)
    if ld32(vp + VP.tx_skb):                     # one bus-master transfer at a time
        netif_stop_queue(dev)
        spin_unlock_irqrestore(vp + VP.lock, flags)
        return 1
    netif_stop_queue(dev)                        # woken at DMADone
    length = ld32(skb + SK_BUFF.len)
    writel(length, io + TX_FIFO)                 # the doubleword header
    dma_len = (length + 3) & ~3
    dma = pci_map_single(ld32(vp + VP.pdev), ld32(skb + SK_BUFF.data), dma_len, 1)
    st32(vp + VP.tx_skb_dma, dma)
    st32(vp + VP.tx_len, dma_len)
    writel(dma, io + WN7_MASTER_ADDR)
    writew(dma_len, io + WN7_MASTER_LEN)
    st32(vp + VP.tx_skb, skb)
    writew(START_DMA_DOWN, io + EL3_CMD)
    st32(dev + NET_DEVICE.trans_start, jiffies())
    bump(vp, NET_DEVICE_STATS.tx_bytes, length)
    spin_unlock_irqrestore(vp + VP.lock, flags)
    return 0


def vortex_rx(dev):
    vp = ld32(dev + NET_DEVICE.priv)
    io = ld32(vp + VP.ioaddr)
    pdev = ld32(vp + VP.pdev)
    rx_status = readw(io + RX_STATUS)
    work = 0
    while not rx_status & RX_INCOMPLETE and rx_status and work < MAX_INTERRUPT_WORK:
        work += 1
        if rx_status & RX_ERROR:
            bump(vp, NET_DEVICE_STATS.rx_errors, 1)
        else:
            pkt_len = rx_status & 0x1FFF
            skb = dev_alloc_skb(pkt_len + 5)
            if skb:
                skb_reserve(skb, 2)
                data = skb_put(skb, pkt_len)
                dma = pci_map_single(pdev, data, pkt_len, 2)
                writel(dma, io + WN7_MASTER_ADDR)
                writew((pkt_len + 3) & ~3, io + WN7_MASTER_LEN)
                writew(START_DMA_UP, io + EL3_CMD)
                spins = 0
                while readw(io + WN7_MASTER_STATUS) & MASTER_BUSY and spins < 1000:
                    spins += 1
                pci_unmap_single(pdev, dma, pkt_len, 2)
                writew(RX_DISCARD << 11, io + EL3_CMD)      # pop the top Rx packet
                eth_type_trans(skb, dev)
                netif_rx(skb)
                bump(vp, NET_DEVICE_STATS.rx_packets, 1)
                bump(vp, NET_DEVICE_STATS.rx_bytes, pkt_len)
                rx_status = readw(io + RX_STATUS)
                continue
            bump(vp, NET_DEVICE_STATS.rx_dropped, 1)
        writew(RX_DISCARD << 11, io + EL3_CMD)
        rx_status = readw(io + RX_STATUS)


def vortex_interrupt(irq, dev_id):
    dev = dev_id
    vp = ld32(dev + NET_DEVICE.priv)
    io = ld32(vp + VP.ioaddr)
    status = readw(io + EL3_CMD)
    if not status & INT_LATCH:
        return
    work = MAX_INTERRUPT_WORK
    while True:
        if status & RX_COMPLETE:
            vortex_rx(dev)
        if status & TX_AVAILABLE:
            writew(ACK_INTR << 11 | TX_AVAILABLE, io + EL3_CMD)
            netif_wake_queue(dev)
        if status & DMA_DONE:
            if readw(io + WN7_MASTER_STATUS) & MASTER_DOWN_DONE:
                writew(MASTER_DOWN_DONE, io + WN7_MASTER_STATUS)     # ack the event
                pci_unmap_single(ld32(vp + VP.pdev), ld32(vp + VP.tx_skb_dma),
                                 ld32(vp + VP.tx_len), 1)
                skb = ld32(vp + VP.tx_skb)
                if skb:
                    dev_kfree_skb_irq(skb)
                st32(vp + VP.tx_skb, 0)
                bump(vp, NET_DEVICE_STATS.tx_packets, 1)
                if readw(io + TX_FREE) > MAX_PKT:
                    netif_wake_queue(dev)
                else:                             # interrupt when the FIFO has room
                    writew(SET_TX_THRESHOLD << 11 | MAX_PKT >> 2, io + EL3_CMD)
                    netif_stop_queue(dev)
        if status & HOST_ERROR:
            bump(vp, NET_DEVICE_STATS.tx_errors, 1)
            writew(ACK_INTR << 11 | HOST_ERROR, io + EL3_CMD)
        work -= 1
        if work < 0:
            break
        writew(ACK_INTR << 11 | INT_REQ | INT_LATCH, io + EL3_CMD)
        status = readw(io + EL3_CMD)
        if not status & (INT_LATCH | RX_COMPLETE):
            break


def vortex_timer(data):
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


def vortex_tx_timeout(dev):
    vp = ld32(dev + NET_DEVICE.priv)
    io = ld32(vp + VP.ioaddr)
    bump(vp, NET_DEVICE_STATS.tx_errors, 1)
    writew(TX_RESET << 11, io + EL3_CMD)
    writew(TX_ENABLE << 11, io + EL3_CMD)
    skb = ld32(vp + VP.tx_skb)
    if skb:
        dev_kfree_skb_irq(skb)
        st32(vp + VP.tx_skb, 0)
    netif_wake_queue(dev)


def vortex_get_stats(dev):
    return ld32(dev + NET_DEVICE.priv) + VP.stats


def set_rx_mode(dev):
    io = ld32(dev + NET_DEVICE.base_addr)
    mode = RX_FILTER | (RX_PROMISC if ld32(dev + NET_DEVICE.flags) & IFF_PROMISC else 0)
    writew(SET_RX_FILTER << 11 | mode, io + EL3_CMD)


VORTEX_OPS = NetDeviceOps(ndo_open=vortex_open, ndo_stop=vortex_close,
                          ndo_start_xmit=vortex_start_xmit, ndo_tx_timeout=vortex_tx_timeout,
                          ndo_get_stats=vortex_get_stats, ndo_set_multicast_list=set_rx_mode)


def vortex_probe1(pdev):
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
    while i < 64:                                # read the whole EEPROM
        writew(EEPROM_READ + i, io + WN0_EEPROM_CMD)
        st16(vp + VP.eeprom + 2 * i, readw(io + WN0_EEPROM_DATA))
        i += 1
    i = 0
    while i < 3:                                 # the station address, big-endian words 10-12
        word = ld16(vp + VP.eeprom + 2 * (10 + i))
        st16(dev + NET_DEVICE.dev_addr + 2 * i, (word >> 8 & 0xFF) | (word & 0xFF) << 8)
        i += 1
    spin_lock_init(vp + VP.lock)
    setup_timer(vp + VP.timer, vortex_timer, dev)
    st32(dev + NET_DEVICE.base_addr, io)
    st32(dev + NET_DEVICE.irq, ld32(pdev + PCI_DEV.irq))
    st32(dev + NET_DEVICE.watchdog_timeo, 2 * HZ)
    err = register_netdev(dev, VORTEX_OPS)
    if err:
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
    dev = vortex_probe1(pdev)
    if dev < 0:
        return dev
    netdev = dev
    return 0


def cleanup_module():
    global netdev
    dev = netdev
    vp = ld32(dev + NET_DEVICE.priv)
    pdev = ld32(vp + VP.pdev)
    io = ld32(vp + VP.ioaddr)
    unregister_netdev(dev)
    writew(TOTAL_RESET << 11, io + EL3_CMD)
    iounmap(io)
    pci_disable_device(pdev)
    free_netdev(dev)
    netdev = 0
