"""nookslab.boot composes the system from above: the kernel is handed its drivers, its user
programs and (outside native) the Nooks layer, and imports none of them itself."""
import pytest

import nookslab as nl
import nookslab.system
from nookslab.kernel import Kernel


def test_boot_installs_nooks_only_outside_native():
    assert nl.boot("native", seed=1).isolation is None
    for mode in nl.MODES[1:]:
        k = nl.boot(mode, seed=1)
        assert k.isolation is not None and k.mode == mode
        assert k.subsystems["nooks"] is k.isolation


def test_boot_gives_each_kernel_its_own_catalogs():
    a, b = nl.boot(seed=1), nl.boot(seed=1)
    assert set(nl.EXTENSIONS) <= set(a.drivers) and a.drivers is not b.drivers
    assert set(nl.WORKLOADS) <= set(a.userland.specs)
    a.drivers.pop("e1000")                        # one kernel's catalog, nobody else's
    assert "e1000" in b.drivers and "e1000" in nl.boot(seed=1).drivers


def test_a_bare_kernel_knows_no_driver_no_program_and_no_isolation():
    k = Kernel("native", seed=1)
    with pytest.raises(ValueError, match="unknown extension 'null'"):
        k.load("null")
    with pytest.raises(ValueError, match="no user programs are installed"):
        k.run("null-io")
    with pytest.raises(ValueError, match="needs its isolation layer"):
        Kernel("nooks", seed=1)
    with pytest.raises(ValueError, match="needs no isolation layer"):
        Kernel("native", seed=1, isolation=lambda kernel: None)


def test_the_kernel_runs_what_it_is_given():
    calls = []

    class Programs:
        def run(self, kernel, name, seconds, **params):
            calls.append((name, seconds, params))
            return "result"

    k = Kernel("native", seed=1, userland=Programs())
    assert k.run("anything", seconds=0.5, depth=2) == "result"
    assert calls == [("anything", 0.5, {"depth": 2})]


def test_names_that_moved_up_say_where_they_went():
    with pytest.raises(ImportError, match="moved to nookslab.boot"):
        from nookslab.kernel import boot  # noqa: F401
    with pytest.raises(ImportError, match="nookslab.MODES"):
        from nookslab.kernel import MODES  # noqa: F401
    assert nookslab.system.MODES == nl.MODES and nookslab.system.boot is nl.boot


def test_bad_boot_input_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown mode 'nook'.*'native'"):
        nl.boot("nook")
    with pytest.raises(ValueError, match="hooks replace parts of Nooks"):
        from nookslab.nooks import NooksHooks
        nl.boot("native", hooks=NooksHooks())


def test_the_architecture_doc_lists_the_public_api_exactly():
    import re
    from pathlib import Path
    doc = (Path(nl.__file__).parent.parent / "docs" / "architecture.md").read_text()
    section = doc[doc.index("## The public API"):]
    listed = section[:section.index("Beside them")]
    assert sorted(re.findall(r"`(\w+)`", listed)[1:]) == sorted(nl.__all__)   # [0]: __all__


def test_bad_run_and_load_options_are_clear_errors_and_start_no_process():
    k = nl.boot("native", seed=1)
    k.load("null")
    with pytest.raises(ValueError, match="null-io.*'blok'.*its parameters: block, think_us"):
        k.run("null-io", seconds=0.001, blok=5)
    with pytest.raises(ValueError, match="bad device options.*speed"):
        k.load("e1000", speed=5)
    assert k.processes == [] and "e1000" not in k.modules
    assert k.run("null-io", seconds=0.001, block=512).ok
