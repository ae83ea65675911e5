"""Fault injection (SOSP'03 section 5.1): fault types, the injector, trials and campaigns.

    from nookslab.faults import FAULT_TYPES, Fault, run_trial, Campaign
    t = run_trial(extension="e1000", mode="nooks", seed=3, faults_per_trial=5)
    res = Campaign(extensions=["sb", "e1000"], trials=400, seed=0).run()
"""
from __future__ import annotations

from .types import ALL_TYPES, FAULT_DOCS, FAULT_TYPES, Fault, faults_from_json, faults_to_json

__all__ = ["ALL_TYPES", "FAULT_DOCS", "FAULT_TYPES", "Fault", "faults_from_json", "faults_to_json"]

from .campaign import Campaign, CampaignResult  # noqa: E402
from .trial import OUTCOMES, SIMULATOR_OUTCOMES, TrialResult, run_trial  # noqa: E402

__all__ += ["Campaign", "CampaignResult", "OUTCOMES", "SIMULATOR_OUTCOMES", "TrialResult",
            "run_trial"]
