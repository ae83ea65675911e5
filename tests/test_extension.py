"""Out-of-tree drivers (nookslab.Extension): a driver module of one's own, with its device model
and workload, loaded by name in any configuration, carried by value to trial workers."""
import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor

import pytest

import nookslab as nl
from nookslab.faults import Campaign, run_trial
from nookslab.workloads import WorkloadSpec

from .rogue import HERE, ROGUE_IO, rogue


@pytest.mark.parametrize("mode", nl.MODES)
def test_an_out_of_tree_driver_loads_and_runs_in_every_configuration(mode):
    k = nl.boot(mode, seed=3, extensions=[rogue("leaky")])
    module = k.load("leaky")
    assert module.ok, module.error
    r = k.run("rogue-io", seconds=0.002)
    assert r.ok and r.extension == "leaky" and r.operations == 5


def test_a_driver_of_ones_own_can_drive_the_packages_device_with_the_packages_workload():
    # the in-tree null driver's source under another name: null-io drives it on the null device
    from nookslab.drivers import REGISTRY
    mine = nl.Extension.from_module(REGISTRY["null"].source, name="mynull", device="null",
                                    workloads=["null-io"])
    assert mine.device_name == "nulldev" and mine.origin.endswith("null.py")
    for mode in ("native", "nooks"):
        k = nl.boot(mode, seed=4, extensions=[mine])
        assert k.load("mynull").ok
        r = k.run("null-io", seconds=0.001)
        assert r.ok and r.extension == "mynull"


def test_the_extension_is_known_only_to_the_kernels_booted_with_it():
    with_it = nl.boot("native", seed=1, extensions=[rogue("leaky")])
    without = nl.boot("native", seed=1)
    assert "leaky" in with_it.drivers and "leaky" not in without.drivers
    with pytest.raises(ValueError, match="unknown extension 'leaky'"):
        without.load("leaky")
    with pytest.raises(ValueError, match="unknown workload 'rogue-io'"):
        without.run("rogue-io")
    assert "leaky" not in nl.EXTENSIONS and "rogue-io" not in nl.WORKLOADS
    import nookslab.drivers
    assert "leaky" not in nookslab.drivers.REGISTRY           # nothing registered globally


def test_an_extension_is_plain_data_that_pickles_with_its_source():
    ext = rogue("timer_free")
    again = pickle.loads(pickle.dumps(ext))
    assert again == ext and again.code == (HERE / "timer_free.py").read_text()
    assert "code" not in repr(ext) and "timer_free" in repr(ext)


def test_faults_are_drawn_from_the_extensions_own_source_the_same_in_both_modes():
    ext = rogue("timer_free")
    native, nooks = (run_trial(ext, mode, seed=5) for mode in ("native", "nooks"))
    assert native.faults == nooks.faults and len(native.faults) == 5
    assert all(f.function in ext.code for f in native.faults if f.function)
    assert native.extension == nooks.extension == "timer_free"
    assert run_trial(ext, "nooks", seed=5) == nooks                # deterministic


def _campaign():
    return Campaign([rogue("timer_free"), "null"], trials=3, seed=0, modes=("native", "nooks"))


def test_a_campaign_ships_the_extension_to_fresh_worker_processes_by_value():
    serial = _campaign().run(progress=False)
    # "spawn": workers start from nothing, so nothing registered in this process could help
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        pooled = _campaign().run(executor=pool, progress=False, batch=2)
    assert [t.to_dict() for t in pooled.trials] == [t.to_dict() for t in serial.trials]
    assert {t.extension for t in serial.trials} == {"timer_free", "null"}
    assert all(t.error is None for t in serial.trials)
    assert serial.config["extensions"] == ["timer_free", "null"]


def test_an_extension_may_bring_a_workload_of_its_own_and_reuse_the_packages():
    ext = rogue("leaky", workloads=[ROGUE_IO, "null-io"])
    k = nl.boot("native", seed=1, extensions=[ext])
    assert "leaky" in k.userland.specs["null-io"].extensions
    assert "leaky" in k.userland.specs["rogue-io"].extensions
    assert nl.boot("native", seed=1).userland.specs["null-io"].extensions == ("null",)


@pytest.mark.parametrize("make, word", [
    (lambda: nl.Extension("null", "x = 1"), "one of the package's"),
    (lambda: nl.Extension("my driver", "x = 1"), "without spaces"),
    (lambda: nl.Extension("mine", "def init_module(:\n"), "not valid Python"),
    (lambda: nl.Extension("mine", b"x = 1"), "source text"),
    (lambda: nl.Extension("mine", "x = 1", device="floppy"), "unknown device model"),
    (lambda: nl.Extension("mine", "x = 1", device=42), "factory"),
    (lambda: nl.Extension("mine", "x = 1", workloads=["dance"]), "unknown workload"),
    (lambda: nl.Extension("mine", "x = 1", workloads=[42]), "WorkloadSpec"),
    (lambda: nl.Extension("mine", "x = 1", workloads=[WorkloadSpec(
        "ping", (), print, "")]), "one of the package's"),
    (lambda: nl.Extension("mine", "x = 1", context="softirq"), "process"),
    (lambda: nl.Extension.from_file(HERE / "nonesuch.py"), "no driver source file"),
    (lambda: nl.Extension.from_module("nookslab.nonesuch"), "no Python source"),
    (lambda: nl.boot(extensions=["leaky"]), "Extension values"),
    (lambda: nl.boot(extensions=rogue("leaky")), "list of Extension"),
    (lambda: nl.boot(extensions=[rogue("leaky"), rogue("leaky")]), "two extensions"),
    (lambda: run_trial(nl.Extension("mine", "x = 1"), "native", 1), "no workload"),
])
def test_bad_extensions_are_clear_errors(make, word):
    with pytest.raises(ValueError, match=word):
        make()


def test_a_driver_that_fails_to_link_is_a_failed_module_not_an_exception():
    ext = nl.Extension("broken", "from nookslab.kernel.api import no_such_symbol\n"
                                 "def init_module():\n    return no_such_symbol()\n")
    for mode in ("native", "nooks"):
        module = nl.boot(mode, seed=1, extensions=[ext]).load("broken")
        assert not module.ok and "unresolved symbol no_such_symbol" in module.error


def test_the_readme_example_runs(tmp_path, monkeypatch, capsys):
    import re
    import shutil
    from pathlib import Path
    root = Path(nl.__file__).parent.parent
    readme = (root / "README.md").read_text()
    section = readme[readme.index("## A driver of your own"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    shutil.copy(root / "nookslab" / "drivers" / "null.py", tmp_path / "mydriver.py")
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    assert "null-io on mydriver (nooks, seed 1): ok" in capsys.readouterr().out
