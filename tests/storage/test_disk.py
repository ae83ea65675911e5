"""The IDE disk model: DMA through a PRD table, an interrupt, and exact service times."""
import struct

from nookslab.machine import Machine
from nookslab.machine.devices.disk import (BUS_BYTES_PER_S, CMD_READ, CMD_WRITE, CONTROLLER_S,
                                           PRD_EOT, REG_CMD, REG_COUNT, REG_LBA, REG_PRD,
                                           REG_STATUS, RPM, SECTORS_PER_TRACK, STATUS_DONE,
                                           STATUS_ERROR, IdeDisk)


def rig():
    m = Machine()
    irqs = []
    m.irq_sink = irqs.append
    disk = m.attach("hda", IdeDisk(sectors=4096))
    owner = m.pages.new_owner("test")
    buf = m.pages.alloc(2, owner)
    prd = m.pages.alloc(1, owner)
    return m, disk, irqs, buf, prd


def command(m, disk, cmd, lba, count, regions, prd):
    for i, (addr, n) in enumerate(regions):
        flags = PRD_EOT if i == len(regions) - 1 else 0
        m.memory.data[prd + 8 * i:prd + 8 * i + 8] = struct.pack("<IHH", addr, n, flags)
    base = disk.mmio_base
    m.mmu.st32(base + REG_LBA, lba)
    m.mmu.st32(base + REG_COUNT, count)
    m.mmu.st32(base + REG_PRD, prd)
    m.mmu.st32(base + REG_CMD, cmd)


def finish(m):
    while True:
        t = m.clock.next_time()
        if t is None:
            return
        m.clock.idle_to(t)
        m.clock.pop_due().callback()


def test_a_read_waits_for_the_sector_to_come_round_and_then_interrupts():
    m, disk, irqs, buf, prd = rig()
    disk.platter[0:512] = bytes(range(256)) * 2
    command(m, disk, CMD_READ, 0, 1, [(buf, 512)], prd)
    finish(m)
    hz = m.clock.hz
    rev = hz * 60 // RPM
    controller = int(CONTROLLER_S * hz)
    # sector 0 passed under the head while the command was decoded: almost a full turn
    assert m.clock.now == controller + (rev - controller) + rev // SECTORS_PER_TRACK
    assert irqs == [14]
    assert m.mmu.ld32(disk.mmio_base + REG_STATUS) == STATUS_DONE
    assert bytes(m.memory.data[buf:buf + 512]) == bytes(range(256)) * 2


def test_a_second_read_in_the_same_track_comes_from_the_drive_buffer():
    m, disk, irqs, buf, prd = rig()
    command(m, disk, CMD_READ, 0, 1, [(buf, 512)], prd)
    finish(m)
    t0 = m.clock.now
    command(m, disk, CMD_READ, 7, 2, [(buf, 512), (buf + 4096, 512)], prd)
    finish(m)
    hz = m.clock.hz
    assert m.clock.now - t0 == int(CONTROLLER_S * hz) + 1024 * hz // BUS_BYTES_PER_S


def test_a_scattered_write_lands_on_the_platter_in_prd_order():
    m, disk, irqs, buf, prd = rig()
    m.memory.data[buf:buf + 512] = b"A" * 512
    m.memory.data[buf + 4096:buf + 4608] = b"B" * 512
    command(m, disk, CMD_WRITE, 100, 2, [(buf + 4096, 512), (buf, 512)], prd)
    finish(m)
    assert bytes(disk.platter[100 * 512:102 * 512]) == b"B" * 512 + b"A" * 512
    assert disk.writes == 1 and irqs == [14]


def test_a_request_past_the_end_of_the_disk_fails_with_an_error_status():
    m, disk, irqs, buf, prd = rig()
    command(m, disk, CMD_READ, 4095, 2, [(buf, 1024)], prd)
    finish(m)
    assert m.mmu.ld32(disk.mmio_base + REG_STATUS) == STATUS_DONE | STATUS_ERROR
    assert disk.reads == 0
