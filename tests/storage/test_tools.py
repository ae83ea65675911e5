"""mkfs.vfat and fsck.vfat on disk images: a clean volume, and each kind of damage found."""
import struct

import numpy as np
import pytest

from nookslab.drivers import fat_layout as F
from nookslab.tools import Geometry, fsck_vfat, mkfs_vfat, read_files

from .conftest import populated_image


def test_mkfs_makes_the_classic_fat16_layout_and_fsck_finds_it_clean():
    img = np.zeros(16 << 20, dtype=np.uint8)
    geo = mkfs_vfat(img)
    assert (geo.fat_sectors, geo.root_start, geo.data_start, geo.clusters) == (32, 65, 97, 8167)
    assert Geometry.from_boot_sector(bytes(img[:512])) == geo
    assert fsck_vfat(img) == []
    assert read_files(img) == {}


def test_mkfs_refuses_a_volume_too_small_for_fat16():
    with pytest.raises(ValueError, match="not a FAT16"):
        mkfs_vfat(bytearray(2 << 20))


@pytest.fixture(scope="module")
def image():
    return populated_image()


def fsck_layout(img, geo):
    out = {}
    src = None
    root = geo.root_start * 512
    for off in range(root, geo.data_start * 512, 32):
        e = bytes(img[off:off + 32])
        if e[0] == 0:
            break
        if e[11] == F.ATTR_DIR and e[0] not in (0xE5,):
            src = struct.unpack_from("<H", e, F.DIR_CLUS_LO)[0]
        elif e[11] != F.ATTR_LFN and not e[11] & F.ATTR_VOLUME:
            out[e[0:11]] = (off, struct.unpack_from("<H", e, F.DIR_CLUS_LO)[0])
    base = geo.cluster_sector(src) * 512
    for off in range(base, base + geo.cluster_bytes, 32):
        e = bytes(img[off:off + 32])
        if e[0] == 0:
            break
        if e[11] != F.ATTR_LFN and e[0:1] != b".":
            out[e[0:11]] = (off, struct.unpack_from("<H", e, F.DIR_CLUS_LO)[0])
    return out


def set_fat(img, geo, cluster, value):
    for i in range(geo.fats):
        struct.pack_into("<H", img, (geo.fat_start + i * geo.fat_sectors) * 512 + 2 * cluster, value)


def test_the_populated_image_is_clean_and_holds_what_was_written(image):
    assert fsck_vfat(image) == []
    files = read_files(image)
    assert files["/src/first long file name.c"] == bytes(range(256)) * 20
    assert files["/src/second_file_with_a_long_name.c"] == b"x" * 3000
    assert files["/README"] == b"hello\n"


def shorts(image):
    geo = Geometry.from_boot_sector(bytes(image[:512]))
    return geo, fsck_layout(image, geo)


def test_a_chain_cut_short_is_a_size_mismatch_and_lost_clusters(image):
    img = bytearray(image)
    geo, entries = shorts(img)
    off, start = entries[b"FIRSTL~1C  "]
    set_fat(img, geo, start, F.FAT_EOC)                 # 3 clusters become 1
    kinds = [f.kind for f in fsck_vfat(img)]
    assert kinds == ["size", "lost"]


def test_a_chain_into_a_free_cluster_is_reported(image):
    img = bytearray(image)
    geo, entries = shorts(img)
    off, start = entries[b"FIRSTL~1C  "]
    set_fat(img, geo, start, 4000)
    findings = fsck_vfat(img)
    assert findings[0].kind == "bad-chain" and "free cluster" in findings[0].detail
    assert findings[0].path == "/src/first long file name.c"


def test_two_files_sharing_a_cluster_are_cross_linked(image):
    img = bytearray(image)
    geo, entries = shorts(img)
    _, first = entries[b"FIRSTL~1C  "]
    off, _ = entries[b"SECOND~1C  "]
    struct.pack_into("<H", img, off + F.DIR_CLUS_LO, first)
    kinds = {f.kind for f in fsck_vfat(img)}
    assert "cross-link" in kinds and "lost" in kinds


def test_an_entry_pointing_outside_the_volume_is_a_bad_entry(image):
    img = bytearray(image)
    geo, entries = shorts(img)
    off, _ = entries[b"README~1   "]
    struct.pack_into("<H", img, off + F.DIR_CLUS_LO, 0xFFF0)
    findings = fsck_vfat(img)
    assert findings[0].kind == "bad-entry" and findings[0].path == "/README"


def test_a_wrong_long_name_checksum_is_reported(image):
    img = bytearray(image)
    geo, entries = shorts(img)
    off, _ = entries[b"README~1   "]
    img[off - 32 + F.LFN_CHKSUM] ^= 0xFF                  # the slot just before the 8.3 entry
    findings = fsck_vfat(img)
    assert [f.kind for f in findings] == ["lfn"]


def test_fat_copies_that_disagree_are_reported(image):
    img = bytearray(image)
    geo = Geometry.from_boot_sector(bytes(img[:512]))
    struct.pack_into("<H", img, (geo.fat_start + geo.fat_sectors) * 512 + 2 * 3000, 0xFFFF)
    assert [f.kind for f in fsck_vfat(img)] == ["fat-copies"]


def test_a_chain_that_loops_is_reported(image):
    img = bytearray(image)
    geo, entries = shorts(img)
    _, start = entries[b"FIRSTL~1C  "]
    set_fat(img, geo, start + 1, start)
    assert "loop" in [f.kind for f in fsck_vfat(img)]


def test_a_damaged_boot_sector_stops_the_check():
    img = bytearray(populated_image())
    img[510] = 0
    assert [f.kind for f in fsck_vfat(img)] == ["boot"]


def test_a_directory_that_contains_itself_is_a_loop_not_an_endless_walk(image):
    img = bytearray(image)
    geo, entries = shorts(img)
    # give the README entry the directory attribute and /src's first cluster, twice over
    off, _ = entries[b"README~1   "]
    src_entry = next(o for o in range(geo.root_start * 512, geo.data_start * 512, 32)
                     if img[o + F.DIR_ATTR] == F.ATTR_DIR)
    src = struct.unpack_from("<H", img, src_entry + F.DIR_CLUS_LO)[0]
    img[off + F.DIR_ATTR] = F.ATTR_DIR
    struct.pack_into("<H", img, off + F.DIR_CLUS_LO, src)
    kinds = [f.kind for f in fsck_vfat(img)]
    assert "loop" in kinds and "cross-link" in kinds


@pytest.mark.parametrize("seed", range(20))
def test_fsck_survives_random_damage_to_the_metadata(image, seed):
    rng = np.random.default_rng(seed)
    img = bytearray(image)
    geo = Geometry.from_boot_sector(bytes(img[:512]))
    end = (geo.data_start + 16) * 512
    for pos in rng.integers(0, end, size=64):
        img[int(pos)] = int(rng.integers(0, 256))
    findings = fsck_vfat(img)
    assert isinstance(findings, list)
    read_files(img)
