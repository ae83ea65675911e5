"""Many random trials never kill or hang the host, and the simulator never fails."""
import os

import pytest

from nookslab.faults import Campaign
from nookslab.faults.trial import injectable_extensions


def many(trials_per_extension: int):
    exts = list(injectable_extensions())
    from nookslab.system import available_modes
    result = Campaign(exts, trials=trials_per_extension, seed=2026,
                      modes=available_modes()).run(progress=False)
    return result


def test_a_hundred_random_trials_over_every_driver_and_mode_give_no_simulator_error():
    from nookslab.system import available_modes
    exts = list(injectable_extensions())
    result = many(max(1, 100 // (len(exts) * len(available_modes()))))
    assert result.simulator_errors() == []
    assert {t.outcome for t in result.trials} <= {"crash", "nonfatal", "none"}


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("NOOKSLAB_SLOW"),
                    reason="10,000 trials take minutes: set NOOKSLAB_SLOW=1 (and run -m slow)")
def test_ten_thousand_random_trials_give_no_simulator_error():
    from concurrent.futures import ProcessPoolExecutor
    exts = list(injectable_extensions())
    from nookslab.system import available_modes
    per = max(1, 10_000 // (len(exts) * len(available_modes())))
    with ProcessPoolExecutor(os.cpu_count() or 2) as pool:
        result = Campaign(exts, trials=per, seed=10_000, modes=available_modes()).run(
            executor=pool, progress=False)
    errors = result.simulator_errors()
    assert errors == [], errors[:3]
