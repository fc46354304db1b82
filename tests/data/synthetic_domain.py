"""A small synthetic domain for the data-layer tests (not a library domain).

It exercises what the real domains need: a token-id field, a continuous
two-channel field with real missingness (NaN -> ``observed`` False), 2-D
positions, per-record meta, and records longer than ``max_seqlen``.

Raw file format for ``ingest`` (text, one record per line)::

    <record id> <token id> <token id> ...      # lines starting with '#' are comments

Values are derived from the ids (``values[:, 0] = id / 2``, ``values[:, 1] = -id``),
missing where ``id % 5 == 0`` (channel 0) or ``id % 7 == 0`` (channel 1);
positions are ``(token index // 8, token index % 8)``.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from encoderkit.data.masking import choose_random, choose_spans, corrupt_ids
from encoderkit.domain import Domain, Example, IngestReport, MaskedExample, RecordWriter

VOCAB = 32  # ids 4..31 are data, 0..3 special
MASK_ID = 1


def make_record(ids: np.ndarray) -> dict[str, np.ndarray]:
    ids = np.asarray(ids, dtype=np.int16)
    values = np.stack([ids / 2.0, -ids.astype(np.float64)], axis=1).astype(np.float32)
    values[ids % 5 == 0, 0] = np.nan
    values[ids % 7 == 0, 1] = np.nan
    t = np.arange(len(ids))
    pos = np.stack([t // 8, t % 8], axis=1).astype(np.int32)
    return {"ids": ids, "values": values, "pos": pos}


def random_records(n: int, rng: np.random.Generator, low: int = 1, high: int = 300) -> list[dict[str, Any]]:
    lengths = rng.integers(low, high, size=n)
    return [make_record(rng.integers(4, VOCAB, size=L)) for L in lengths]


def write_store(path: Any, records: Sequence[dict[str, np.ndarray]], domain: str = "synthetic") -> None:
    from encoderkit.data.store import StoreWriter

    with StoreWriter(path, domain) as w:
        for i, r in enumerate(records):
            w.append(r, {"length": len(r["ids"])}, id=f"rec{i}")
        w.finalize({"vocab": VOCAB}, {"files": []})


class SyntheticDomain(Domain):
    name = "synthetic"
    rope_axes = 2

    @classmethod
    def ingest(cls, sources: Sequence[str], writer: RecordWriter, report: IngestReport,
               fail_after: int | None = None, **options: Any) -> dict[str, Any]:
        for path in sources:
            with open(path) as f:
                for line in f:
                    words = line.split()
                    if not words or words[0].startswith("#"):
                        continue
                    try:
                        ids = np.asarray([int(w) for w in words[1:]])
                    except ValueError:
                        report.skip("non-integer token")
                        continue
                    if ids.size == 0:
                        report.skip("empty record")
                        continue
                    if fail_after is not None and len(writer) >= fail_after:  # type: ignore[arg-type]
                        raise RuntimeError("simulated crash during ingest")
                    writer.append(make_record(ids), {"length": int(ids.size)}, id=words[0])
        return {"vocab": VOCAB}

    def featurize(self, record: dict[str, Any]) -> Example:
        values = np.asarray(record["values"], dtype=np.float32)
        observed = ~np.isnan(values)
        return Example(fields={"ids": record["ids"].astype(np.int64),
                               "values": np.where(observed, values, 0.0).astype(np.float32),
                               "observed": observed},
                       positions=record["pos"].astype(np.int32))

    def _masked(self, example: Example, predict: np.ndarray, rng: np.random.Generator) -> MaskedExample:
        f = example.fields
        ids = corrupt_ids(f["ids"], predict, MASK_ID, 4, VOCAB, rng)
        observed = f["observed"].copy()
        observed[predict] = False  # hidden from the input, still known to the target
        values = np.where(observed, f["values"], 0.0).astype(np.float32)
        targets = {"ids": f["ids"][predict], "values": f["values"][predict],
                   "values_observed": f["observed"][predict]}
        return MaskedExample(inputs={"ids": ids, "values": values, "observed": observed},
                             positions=example.positions, targets=targets, predict=predict,
                             weights=np.where(predict, 1.0, 0.0).astype(np.float32))

    @property
    def maskers(self):
        rate = float(self.options.get("rate", 0.3))

        def random(example: Example, rng: np.random.Generator) -> MaskedExample:
            # a token is a target if at least one of its parts is real
            eligible = example.fields["observed"].any(axis=1)
            return self._masked(example, choose_random(eligible, rate, rng), rng)

        def span(example: Example, rng: np.random.Generator) -> MaskedExample:
            eligible = example.fields["observed"].any(axis=1)
            return self._masked(example, choose_spans(eligible, rate, 3.0, rng), rng)

        return {"random": random, "span": span}
