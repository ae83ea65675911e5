"""``fsck.vfat``: check a FAT16 volume and list what is wrong with it.

It reads the image the way dosfsck does: the boot sector, both FATs (they must agree), then
every directory from the root down, following each entry's cluster chain. It reports chains that
leave the volume or run into free or reserved clusters, loops, clusters claimed by two files
(cross-links), allocated clusters nobody owns (lost), entries that point outside the volume,
files whose size does not match their chain, directories without ``.``/``..``, and long-name
entries whose checksum or sequence is wrong. A clean volume gives an empty list.
"""
from __future__ import annotations

import struct
from dataclasses import asdict, dataclass

import numpy as np

from ..drivers import fat_layout as F
from .mkfs_vfat import Geometry

MAX_DEPTH = 32


@dataclass(frozen=True)
class Finding:
    """One problem: ``kind`` (boot, fat-copies, bad-chain, loop, cross-link, lost, bad-entry,
    size, lfn, dot), the path it concerns, and a one-line detail."""

    kind: str
    path: str
    detail: str

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.kind}: {self.path}: {self.detail}"


class _Volume:
    def __init__(self, image):
        self.view = memoryview(image).cast("B")
        self.findings: list[Finding] = []
        self.geo = Geometry.from_boot_sector(bytes(self.view[:F.SECTOR]))
        g = self.geo
        start = g.fat_start * F.SECTOR
        self.fat = np.frombuffer(self.view[start:start + g.fat_sectors * F.SECTOR],
                                 dtype="<u2").copy()
        self.owner = np.full(g.clusters + F.FIRST_CLUSTER, -1, dtype=np.int64)
        self.paths: list[str] = []
        self.walked: set[int] = set()           # first clusters of directories walked so far
        self.files: dict[str, bytes] = {}

    def add(self, kind: str, path: str, detail: str) -> None:
        self.findings.append(Finding(kind, path, detail))

    def boot_ok(self) -> bool:
        g = self.geo
        v = self.view
        if struct.unpack_from("<H", v, F.BS_SIGNATURE)[0] != F.SIGNATURE:
            self.add("boot", "/", "no 0xAA55 boot signature")
            return False
        if struct.unpack_from("<H", v, F.BPB_BYTES_PER_SEC)[0] != F.SECTOR:
            self.add("boot", "/", "bytes per sector is not 512")
            return False
        if g.sectors_per_cluster not in (1, 2, 4, 8, 16, 32, 64) or g.fats < 1 \
                or g.reserved < 1 or g.fat_sectors < 1 or g.root_entries % 16:
            self.add("boot", "/", f"impossible geometry {g}")
            return False
        if g.total_sectors * F.SECTOR > len(v) or g.data_start >= g.total_sectors:
            self.add("boot", "/", f"geometry larger than the image ({g.total_sectors} sectors)")
            return False
        if not F.MIN_FAT16_CLUSTERS <= g.clusters <= F.MAX_FAT16_CLUSTERS:
            self.add("boot", "/", f"{g.clusters} clusters: not FAT16")
            return False
        if len(self.fat) < g.clusters + F.FIRST_CLUSTER:
            self.add("boot", "/", "FAT too small for the clusters")
            return False
        return True

    def check_fat_copies(self) -> None:
        g = self.geo
        size = g.fat_sectors * F.SECTOR
        first = bytes(self.view[g.fat_start * F.SECTOR:g.fat_start * F.SECTOR + size])
        for i in range(1, g.fats):
            start = (g.fat_start + i * g.fat_sectors) * F.SECTOR
            other = bytes(self.view[start:start + size])
            if other != first:
                a = np.frombuffer(first, dtype="<u2")
                b = np.frombuffer(other, dtype="<u2")
                diff = np.flatnonzero(a != b)
                self.add("fat-copies", "/", f"FAT copy {i + 1} differs from copy 1 at "
                                             f"{len(diff)} entries (first: cluster {int(diff[0])})")

    def valid(self, cluster: int) -> bool:
        return F.FIRST_CLUSTER <= cluster < self.geo.clusters + F.FIRST_CLUSTER

    def chain(self, start: int, path: str, ident: int) -> list[int]:
        """Follow a chain, claiming its clusters for ``ident``; report what goes wrong."""
        out: list[int] = []
        c = start
        seen: set[int] = set()
        while True:
            if not self.valid(c):
                self.add("bad-chain", path, f"chain runs to cluster {c:#06x}, outside the volume")
                return out
            if c in seen:
                self.add("loop", path, f"chain loops back to cluster {c}")
                return out
            seen.add(c)
            prev = int(self.owner[c])
            if prev >= 0 and prev != ident:
                self.add("cross-link", path, f"cluster {c} also belongs to "
                                             f"{self.paths[prev]}")
            else:
                self.owner[c] = ident
            out.append(c)
            nxt = int(self.fat[c])
            if nxt >= F.FAT_EOC_MIN:
                return out
            if nxt == F.FAT_FREE:
                self.add("bad-chain", path, f"chain runs into free cluster after {c}")
                return out
            if nxt == F.FAT_BAD:
                self.add("bad-chain", path, f"chain runs into a bad cluster after {c}")
                return out
            c = nxt

    def read_chain(self, clusters: list[int]) -> bytes:
        g = self.geo
        parts = []
        for c in clusters:
            s = g.cluster_sector(c) * F.SECTOR
            parts.append(bytes(self.view[s:s + g.cluster_bytes]))
        return b"".join(parts)

    def walk(self, raw: bytes, path: str, depth: int, is_root: bool, self_cluster: int,
             parent_cluster: int) -> None:
        if depth > MAX_DEPTH:
            self.add("loop", path, "directories nested too deep (a directory loop?)")
            return
        lfn: list[tuple[int, int, bytes]] = []     # (ordinal, checksum, 26 name bytes)
        expect = 0
        subdirs = []
        dots = []
        for off in range(0, len(raw) - F.DIR_ENTRY + 1, F.DIR_ENTRY):
            e = raw[off:off + F.DIR_ENTRY]
            first = e[0]
            if first == 0:
                break
            if first == F.DELETED:
                lfn, expect = [], 0
                continue
            attr = e[F.DIR_ATTR]
            if attr & 0x3F == F.ATTR_LFN:
                ordinal = first & 0x1F
                if first & F.LFN_LAST:
                    if lfn:
                        self.add("lfn", path, f"long name entries at offset {off} cut short")
                    lfn, expect = [], ordinal
                if ordinal != expect or ordinal == 0:
                    self.add("lfn", path, f"long name entry at offset {off} out of sequence")
                    lfn, expect = [], 0
                    continue
                lfn.append((ordinal, e[F.LFN_CHKSUM],
                            e[1:11] + e[14:26] + e[28:32]))
                expect -= 1
                continue
            if attr & F.ATTR_VOLUME:
                lfn, expect = [], 0
                continue
            short = e[0:11]
            name = self.short_text(short)
            if lfn:
                if expect != 0:
                    self.add("lfn", f"{path}{name}", "long name is missing entries")
                elif any(ck != F.lfn_checksum(short) for _, ck, _ in lfn):
                    self.add("lfn", f"{path}{name}", "long name checksum does not match "
                                                      "its 8.3 entry")
                else:
                    text = b"".join(chunk for _, _, chunk in reversed(lfn)).decode(
                        "utf-16-le", "replace")
                    name = text.split("\x00")[0]
            lfn, expect = [], 0
            cluster = struct.unpack_from("<H", e, F.DIR_CLUS_LO)[0]
            size = struct.unpack_from("<I", e, F.DIR_SIZE)[0]
            full = f"{path}{name}"
            if short in (F.DOT, F.DOTDOT):
                dots.append((short, cluster))
                continue
            if cluster and not self.valid(cluster):
                self.add("bad-entry", full, f"start cluster {cluster:#06x} is outside the volume")
                continue
            ident = len(self.paths)
            self.paths.append(full)
            if attr & F.ATTR_DIR:
                if not cluster:
                    self.add("bad-entry", full, "directory without a cluster")
                    continue
                clusters = self.chain(cluster, full, ident)
                subdirs.append((full, clusters, cluster))
            else:
                clusters = self.chain(cluster, full, ident) if cluster else []
                need = -(-size // self.geo.cluster_bytes)
                if len(clusters) != need:
                    self.add("size", full, f"size {size} needs {need} clusters, "
                                           f"chain has {len(clusters)}")
                self.files[full] = self.read_chain(clusters)[:size]
        if not is_root:
            names = dict(dots)
            if names.get(F.DOT) != self_cluster:
                self.add("dot", path, "'.' missing or not pointing at the directory")
            if F.DOTDOT not in names or names[F.DOTDOT] != parent_cluster:
                self.add("dot", path, "'..' missing or not pointing at the parent")
        for full, clusters, cluster in subdirs:
            if cluster in self.walked:
                self.add("loop", full, f"directory cluster {cluster} is already a directory "
                                       "elsewhere in the tree")
                continue
            self.walked.add(cluster)
            if clusters:
                self.walk(self.read_chain(clusters), full + "/", depth + 1, False, cluster,
                          0 if is_root else self_cluster)

    @staticmethod
    def short_text(short: bytes) -> str:
        base = short[:8].rstrip(b" ").decode("latin-1")
        ext = short[8:11].rstrip(b" ").decode("latin-1")
        return f"{base}.{ext}" if ext else base

    def check_lost(self) -> None:
        g = self.geo
        used = self.fat[F.FIRST_CLUSTER:g.clusters + F.FIRST_CLUSTER]
        allocated = (used != F.FAT_FREE) & (used != F.FAT_BAD)
        lost = np.flatnonzero(allocated & (self.owner[F.FIRST_CLUSTER:] < 0))
        if len(lost):
            self.add("lost", "/", f"{len(lost)} allocated clusters belong to no file "
                                  f"(first: cluster {int(lost[0]) + F.FIRST_CLUSTER})")


def _scan(image) -> _Volume:
    vol = _Volume(image)
    if not vol.boot_ok():
        return vol
    vol.check_fat_copies()
    g = vol.geo
    root = bytes(vol.view[g.root_start * F.SECTOR:g.data_start * F.SECTOR])
    vol.walk(root, "/", 0, True, 0, 0)
    vol.check_lost()
    return vol


def fsck_vfat(image) -> list[Finding]:
    """Check the FAT16 volume in ``image`` (bytes-like); return the problems found, in the
    order fsck met them (an empty list for a clean volume)."""
    return _scan(image).findings


def read_files(image) -> dict[str, bytes]:
    """Every regular file on the volume, path -> contents (as far as the chains can be read)."""
    return dict(_scan(image).files)
