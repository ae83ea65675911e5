"""The FAT16 on-disk format with VFAT long names: offsets and constants, shared by the ``vfat``
driver and the user-space tools (``nookslab.tools``: mkfs.vfat, fsck.vfat).

Sources: Microsoft's "FAT: General Overview of On-Disk Format" (the FAT32 File System
Specification, 2000) and Linux 2.4's ``include/linux/msdos_fs.h``. Only constants live here, so the
driver may import it like a C header.
"""
SECTOR = 512

# Boot sector / BIOS parameter block (byte offsets)
BS_OEM = 3
BPB_BYTES_PER_SEC = 11          # u16
BPB_SEC_PER_CLUS = 13           # u8
BPB_RSVD_SEC = 14               # u16
BPB_NUM_FATS = 16               # u8
BPB_ROOT_ENTS = 17              # u16
BPB_TOT_SEC16 = 19              # u16
BPB_MEDIA = 21                  # u8
BPB_FAT_SZ16 = 22               # u16
BPB_SEC_PER_TRK = 24            # u16
BPB_NUM_HEADS = 26              # u16
BPB_HIDD_SEC = 28               # u32
BPB_TOT_SEC32 = 32              # u32
BS_DRV_NUM = 36                 # u8
BS_BOOT_SIG = 38                # u8, 0x29
BS_VOL_ID = 39                  # u32
BS_VOL_LAB = 43                 # 11 bytes
BS_FS_TYPE = 54                 # 8 bytes, "FAT16   "
BS_SIGNATURE = 510              # u16, 0xAA55
BOOT_SIG = 0x29
SIGNATURE = 0xAA55
MEDIA_FIXED = 0xF8

# FAT16 entries
FAT_FREE = 0x0000
FAT_BAD = 0xFFF7
FAT_EOC_MIN = 0xFFF8
FAT_EOC = 0xFFFF
FIRST_CLUSTER = 2
MIN_FAT16_CLUSTERS = 4085       # fewer clusters than this is FAT12 by definition
MAX_FAT16_CLUSTERS = 65524

# Directory entries (32 bytes)
DIR_ENTRY = 32
DIR_NAME = 0                    # 11 bytes: 8.3, space padded
DIR_ATTR = 11
DIR_NTRES = 12
DIR_CRT_TIME = 14
DIR_CRT_DATE = 16
DIR_ACC_DATE = 18
DIR_CLUS_HI = 20
DIR_WRT_TIME = 22
DIR_WRT_DATE = 24
DIR_CLUS_LO = 26
DIR_SIZE = 28
ENTRIES_PER_SECTOR = SECTOR // DIR_ENTRY
DELETED = 0xE5
ATTR_RO = 0x01
ATTR_HIDDEN = 0x02
ATTR_SYSTEM = 0x04
ATTR_VOLUME = 0x08
ATTR_DIR = 0x10
ATTR_ARCH = 0x20
ATTR_LFN = 0x0F

# Long-name (LFN) entries: 13 UCS-2 characters each, stored in reverse order before the 8.3 entry
LFN_ORD = 0
LFN_NAME1 = 1                   # 5 chars
LFN_ATTR = 11
LFN_TYPE = 12
LFN_CHKSUM = 13
LFN_NAME2 = 14                  # 6 chars
LFN_CLUS = 26
LFN_NAME3 = 28                  # 2 chars
LFN_LAST = 0x40
LFN_CHARS = 13
LFN_MAX_SLOTS = 20              # 255 characters

DOT = b".          "
DOTDOT = b"..         "
# 1 January 2003 (the paper's year), FAT date encoding: ((year - 1980) << 9) | (month << 5) | day
FAT_DATE_2003 = ((2003 - 1980) << 9) | (1 << 5) | 1


def lfn_checksum(short_name: bytes) -> int:
    """The checksum of an 8.3 name that each of its long-name entries carries."""
    s = 0
    for c in short_name[:11]:
        s = (((s & 1) << 7) + (s >> 1) + c) & 0xFF
    return s
