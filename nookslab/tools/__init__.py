"""User-space tools that work on a disk image's bytes, like their Linux namesakes:
``mkfs.vfat`` (:func:`mkfs_vfat`) formats a FAT16 file system, ``fsck.vfat`` (:func:`fsck_vfat`)
checks one and lists what is wrong, and :func:`read_files` extracts every file (for checks)."""
from .fsck_vfat import Finding, fsck_vfat, read_files
from .mkfs_vfat import Geometry, mkfs_vfat

__all__ = ["Finding", "Geometry", "fsck_vfat", "mkfs_vfat", "read_files"]
