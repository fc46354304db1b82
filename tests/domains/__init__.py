"""Tests of the built-in domains.

pytest's default import mode puts ``tests/`` on ``sys.path``, so this package is
imported as ``domains`` and shadows the library's ``domains`` package. Adding the
checkout's ``domains/`` to the search path makes ``domains.genomic`` & co. resolve
to the code next to these tests (without it they came from wherever the editable
install points, e.g. another worktree)."""

import os

__path__.append(os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                             "domains"))
