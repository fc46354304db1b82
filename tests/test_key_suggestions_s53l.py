"""`encoderkit infill`'s "did you mean" names only keys infill takes. Its help names each
infill option with the domain option it sets ("window (domain.infill_window)"), so the
typo helper took `domain` for a group of infill keys and suggested `domain.window` /
`domain.invalid`, which infill refuses in turn (a loop of suggestions, audit y of session 52)."""

from __future__ import annotations

import re

import pytest

from encoderkit.cli import _usage_of
from encoderkit.cliutil import explain_key_error
from encoderkit.errors import UsageError

# infill's refusal of a genomic run, as Pretrained.infill_domain words it
ALLOWED = ["both_strands", "window"]
INGEST = ["invalid", "max_n_run", "min_length"]


def _refusal(key: str) -> UsageError:
    return UsageError(f"unknown infill option(s) {[key]} for the 'genomic' domain; allowed: {ALLOWED} "
                      f"(and the run's ingest options {INGEST})", key=key)


def _suggestion(key: str) -> str | None:
    argv = ["checkpoint=run", "input=g.fa", "output=o.fa", f"{key}=3"]
    said = str(explain_key_error("infill", argv, _refusal(key), lambda: _usage_of("infill")))
    found = re.search(r"did you mean '([^']+)'", said)
    return found.group(1) if found else None


@pytest.mark.parametrize("typed, expected", [
    ("domain.infill_window", "window"),    # the option named by the domain's name: its infill key
    ("domain.rc_infill", "both_strands"),
    ("domain.window", "window"),           # infill takes no domain.* key: the key itself
    ("domain.infill_shifts", None),        # a series' option: nothing of a genome's is near
    ("windw", "window"),
])
def test_a_suggestion_is_a_key_infill_takes(typed, expected):
    fix = _suggestion(typed)
    assert fix == expected
    assert fix is None or fix in ALLOWED + INGEST  # never refused in turn


def test_a_group_the_command_takes_keeps_its_suggestions():
    """pretrain takes train.* keys: a misspelled one is still told the group's key."""
    argv = ["domain=tabular", "data.store=s.zarr", "train.stepz=3"]
    error = UsageError("unknown config key 'train.stepz' (train keys: ['steps', 'batch_size'])", key="train.stepz")
    said = str(explain_key_error("pretrain", argv, error, lambda: _usage_of("pretrain")))
    assert "did you mean 'train.steps'" in said
