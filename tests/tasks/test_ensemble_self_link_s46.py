"""An ensemble member that is a link to the run folder itself (``members/m -> ..``) is refused:
a reviewer found it passed the 'inside the run' check (its real path is the run folder), and
loading recursed 40 levels, a full model at each, before a misleading 'member missing'."""

from __future__ import annotations

import json

import pytest

import encoderkit
from encoderkit.errors import DataError
from test_run_uploads_s46k import _copy, runs  # noqa: F401  (the fixture)


@pytest.mark.parametrize("target", ["..", "../.."])
def test_a_member_linking_to_the_run_itself_is_refused(runs, tmp_path, target):  # noqa: F811
    run = _copy(runs["ens"], tmp_path / "evil")
    (run / "members" / "m").symlink_to(target if target == ".." else "../../evil")
    body = json.loads((run / "ensemble.json").read_text())
    body["members"], body["weights"] = ["members/m"], [0.5, 0.5]
    (run / "ensemble.json").write_text(json.dumps(body))
    with pytest.raises(DataError, match="is the run folder itself"):
        encoderkit.load(run)
