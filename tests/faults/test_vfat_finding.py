"""The VFAT finding is measured where recovery leaves the disk, and counts lost updates."""
from nookslab.eval.manual import vfat_recovery_damage


def test_without_sync_recovery_drops_accepted_updates_and_with_sync_it_writes_them():
    without = vfat_recovery_damage(6, 2, sync=False)
    with_sync = vfat_recovery_damage(6, 2, sync=True)
    assert without["recoveries"] > 0 and without["recoveries"] == with_sync["recoveries"]
    assert without["lost_updates"] > 0            # dirty buffers dropped: files are missing
    assert with_sync["lost_updates"] == 0         # sync-before-release wrote them first
    for counts in (without, with_sync):
        assert counts["damaged"] <= counts["recoveries"]
        assert counts["damaged"] >= max(counts["fsck_errors"], counts["lost_updates"])
