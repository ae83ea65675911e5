"""A faulted load recompiles only the functions its faults touch, and gets the same code as
recompiling the whole rewritten driver (nookslab.kernel.module._Image)."""
import builtins

import pytest

from nookslab.drivers import REGISTRY
from nookslab.faults.injector import sites
from nookslab.faults.trial import trial_faults
from nookslab.faults.types import Fault
from nookslab import boot
from nookslab.kernel.bounds import bindings
from nookslab.kernel.module import _image, compile_driver, driver_source


_KERNEL = []


def _namespace(codes) -> dict:
    if not _KERNEL:                     # the loader's helpers need a kernel; one will do
        _KERNEL.append(boot(mode="native", seed=0))
    ns = {"__name__": "nookslab.loaded.test", "__builtins__": builtins,
          **bindings(_KERNEL[0], "test")}
    for code in codes:
        exec(code, ns)
    return ns


def _assert_same(whole: dict, partial: dict) -> None:
    assert whole.keys() == partial.keys()
    for name, value in whole.items():
        if hasattr(value, "__code__"):
            # code objects compare bytecode, constants, names, line table and first line
            assert value.__code__ == partial[name].__code__, name
            assert value.__defaults__ == partial[name].__defaults__, name


def _both(extension, faults):
    spec = REGISTRY[extension]
    rewrites = [f.rewrite for f in faults]
    code, _ = compile_driver(driver_source(spec.source), spec.name, rewrites)
    codes = _image(spec.source, spec.name).faulted(faults, [f.rewrite for f in faults])
    assert codes is not None
    return _namespace([code]), _namespace(codes)


@pytest.mark.parametrize("extension", ["e1000", "sb", "vfat", "khttpd", "null"])
def test_random_trial_faults_compile_to_the_same_functions_as_a_whole_recompile(extension):
    for seed in range(6):
        _assert_same(*_both(extension, trial_faults(extension, seed, 5 if seed % 3 else 25)))


@pytest.mark.parametrize("extension", ["e1000", "vfat"])
def test_a_fault_at_every_kind_of_site_compiles_to_the_same_functions(extension):
    for kind, found in sites(extension).items():
        for site in found[:: max(1, len(found) // 4)]:
            fault = Fault(kind, site.function, site.line, site.col, site.end_line, site.end_col,
                          site.node, bit=5, count=site.count or 2, where=1)
            _assert_same(*_both(extension, [fault]))


def test_a_partial_recompile_only_replaces_the_faulted_function():
    spec = REGISTRY["e1000"]
    image = _image(spec.source, spec.name)
    fault = trial_faults("e1000", 1, 1)[0]
    if fault.type == "HEAP":
        fault = next(f for s in range(50) for f in trial_faults("e1000", s, 1) if f.type != "HEAP")
    codes = image.faulted([fault], [fault.rewrite])
    changed = [i for i, c in enumerate(c for c in image.codes if c is not None) if c is not codes[i]]
    assert len(changed) == 1


def test_a_fault_outside_every_statement_falls_back_to_the_whole_module():
    spec = REGISTRY["null"]
    image = _image(spec.source, spec.name)
    gap = next(n for n in range(1, len(image.lines) + 1) if image.statement_at(n) is None)
    fault = Fault("NOP", "init_module", gap, 0, gap, 1, "Expr")
    assert image.faulted([fault], [fault.rewrite]) is None
    heap = Fault("HEAP", bit=1, count=5, where=3)                # no syntax-tree edit at all
    assert image.faulted([heap], [heap.rewrite]) == [c for c in image.codes if c is not None]


def test_the_loaders_fast_location_pass_builds_the_same_tree_as_the_library_one():
    import ast

    from nookslab.kernel.instrument import instrument
    from nookslab.kernel.module import _fix_missing_locations
    source = driver_source(REGISTRY["vfat"].source)
    for seed in range(3):
        faults = trial_faults("vfat", seed, 10)
        a, b = ast.parse(source), ast.parse(source)
        for fault in faults:
            a, b = fault.rewrite(a), fault.rewrite(b)
        a = ast.fix_missing_locations(instrument(a))
        _fix_missing_locations(instrument(b))
        assert ast.dump(a, include_attributes=True) == ast.dump(b, include_attributes=True)
