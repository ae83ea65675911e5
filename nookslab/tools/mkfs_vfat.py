"""``mkfs.vfat``: write an empty FAT16 file system onto a disk image.

The layout is the classic one: a boot sector with the BIOS parameter block, two copies of the
FAT, a fixed-size root directory, then the data clusters (numbered from 2).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from ..drivers import fat_layout as F


@dataclass(frozen=True)
class Geometry:
    """Where everything is on a FAT16 volume, in sectors (what the boot sector encodes)."""

    total_sectors: int
    sectors_per_cluster: int
    reserved: int
    fats: int
    fat_sectors: int
    root_entries: int

    @property
    def fat_start(self) -> int:
        return self.reserved

    @property
    def root_start(self) -> int:
        return self.reserved + self.fats * self.fat_sectors

    @property
    def root_sectors(self) -> int:
        return self.root_entries * F.DIR_ENTRY // F.SECTOR

    @property
    def data_start(self) -> int:
        return self.root_start + self.root_sectors

    @property
    def clusters(self) -> int:
        return (self.total_sectors - self.data_start) // self.sectors_per_cluster

    @property
    def cluster_bytes(self) -> int:
        return self.sectors_per_cluster * F.SECTOR

    def cluster_sector(self, cluster: int) -> int:
        return self.data_start + (cluster - F.FIRST_CLUSTER) * self.sectors_per_cluster

    @classmethod
    def from_boot_sector(cls, boot: bytes) -> "Geometry":
        u16 = lambda off: struct.unpack_from("<H", boot, off)[0]  # noqa: E731
        total = u16(F.BPB_TOT_SEC16) or struct.unpack_from("<I", boot, F.BPB_TOT_SEC32)[0]
        return cls(total, boot[F.BPB_SEC_PER_CLUS], u16(F.BPB_RSVD_SEC), boot[F.BPB_NUM_FATS],
                   u16(F.BPB_FAT_SZ16), u16(F.BPB_ROOT_ENTS))


def mkfs_vfat(image, sectors_per_cluster: int = 4, root_entries: int = 512,
              label: str = "NOOKSLAB", volume_id: int = 0x20031019) -> Geometry:
    """Format ``image`` (a writable bytes-like object, a whole number of sectors) as FAT16.

    Parameters
    ----------
    sectors_per_cluster: a power of two (4 gives 2 KiB clusters).
    root_entries: directory entries in the fixed root directory (a multiple of 16).
    label, volume_id: written into the boot sector (the id defaults to SOSP'03's opening day).

    Raises ValueError when the image is too small or too large for FAT16 at this cluster size.
    """
    view = memoryview(image).cast("B")
    total = len(view) // F.SECTOR
    if sectors_per_cluster not in (1, 2, 4, 8, 16, 32, 64):
        raise ValueError(f"sectors_per_cluster must be a power of two up to 64, "
                         f"got {sectors_per_cluster}")
    if root_entries <= 0 or root_entries % F.ENTRIES_PER_SECTOR:
        raise ValueError(f"root_entries must be a positive multiple of 16, got {root_entries}")
    reserved, fats = 1, 2
    fat_sectors = 1
    while True:      # the FAT must cover the clusters that remain after the FATs themselves
        geo = Geometry(total, sectors_per_cluster, reserved, fats, fat_sectors, root_entries)
        need = ((geo.clusters + F.FIRST_CLUSTER) * 2 + F.SECTOR - 1) // F.SECTOR
        if need <= fat_sectors:
            break
        fat_sectors = need
    if not F.MIN_FAT16_CLUSTERS <= geo.clusters <= F.MAX_FAT16_CLUSTERS:
        raise ValueError(f"{total} sectors make {geo.clusters} clusters of "
                         f"{sectors_per_cluster} sectors: not a FAT16 volume")
    # clear the metadata area (boot sector, FATs, root directory); data is left as it was
    np.frombuffer(view, dtype=np.uint8)[:geo.data_start * F.SECTOR] = 0
    boot = bytearray(F.SECTOR)
    boot[0:3] = b"\xEB\x3C\x90"
    boot[F.BS_OEM:F.BS_OEM + 8] = b"NOOKSLAB"
    struct.pack_into("<HBHBHHBHHHII", boot, F.BPB_BYTES_PER_SEC, F.SECTOR, sectors_per_cluster,
                     reserved, fats, root_entries, total if total < 0x10000 else 0,
                     F.MEDIA_FIXED, fat_sectors, 63, 16, 0, total if total >= 0x10000 else 0)
    boot[F.BS_DRV_NUM] = 0x80
    boot[F.BS_BOOT_SIG] = F.BOOT_SIG
    struct.pack_into("<I", boot, F.BS_VOL_ID, volume_id & 0xFFFFFFFF)
    boot[F.BS_VOL_LAB:F.BS_VOL_LAB + 11] = label.encode("ascii")[:11].ljust(11)
    boot[F.BS_FS_TYPE:F.BS_FS_TYPE + 8] = b"FAT16   "
    struct.pack_into("<H", boot, F.BS_SIGNATURE, F.SIGNATURE)
    view[0:F.SECTOR] = boot
    head = struct.pack("<HH", 0xFF00 | F.MEDIA_FIXED, F.FAT_EOC)
    for i in range(fats):
        start = (geo.fat_start + i * fat_sectors) * F.SECTOR
        view[start:start + 4] = head
    # the volume label as the root directory's first entry
    entry = bytearray(F.DIR_ENTRY)
    entry[0:11] = label.encode("ascii")[:11].ljust(11)
    entry[F.DIR_ATTR] = F.ATTR_VOLUME
    struct.pack_into("<H", entry, F.DIR_WRT_DATE, F.FAT_DATE_2003)
    root = geo.root_start * F.SECTOR
    view[root:root + F.DIR_ENTRY] = entry
    return geo
