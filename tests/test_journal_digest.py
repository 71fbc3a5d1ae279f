"""An entry's digest: the text it hashes is canonical_json of the entry by definition, and the
details are stored as the very text hashed, so the audit (which hashes the details read back)
always finds the digest it was given."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.db import sha256_hex
from ledger.journal.accounts import open_account
from ledger.journal.posting import (
    Line,
    canonical_body,
    canonical_json,
    details_json,
    entry_digest,
    post_entry,
)
from tests.conftest import audit_clean

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
_floats = st.floats(allow_nan=False, allow_infinity=False) | st.sampled_from(
    [1e16, -1e17, 1e-5, 1e-7, 1e22, 0.0001, 2.5, 0.5, 1e300, 5e-324])
_json = st.recursive(st.none() | st.booleans() | st.integers() | _floats | _text,
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(_text, inner, max_size=3), max_leaves=10)


@settings(max_examples=300, deadline=None)
@given(unit=st.sampled_from(["points", "minutes"]), kind=_text, memo=_text, source=_text,
       ref=_text, actor=st.none() | st.integers(0, 2**40),
       details=st.dictionaries(_text, _json, max_size=4),
       reverses=st.none() | st.integers(1, 2**40),
       at=st.datetimes(timezones=st.just(UTC)),
       lines=st.lists(st.tuples(st.integers(1, 10**9), st.integers(-10**12, 10**12)),
                      min_size=2, max_size=5))
def test_the_digest_hashes_canonical_json_of_the_entry(unit, kind, memo, source, ref, actor,
                                                        details, reverses, at, lines):
    definition = canonical_json({
        "unit": unit, "kind": kind, "at": at.isoformat(), "memo": memo, "source": source,
        "ref": ref, "actor": actor, "details": details, "reverses": reverses,
        "lines": sorted([a, n] for a, n in lines)})
    assert canonical_body(unit=unit, kind=kind, at=at.isoformat(), memo=memo, source=source,
                          source_ref=ref, actor_id=actor, details_json=details_json(details),
                          reverses_id=reverses, lines=lines) == definition
    assert sha256_hex(definition) == entry_digest(
        unit=unit, kind=kind, created_at=at, memo=memo, source=source, source_ref=ref,
        actor_id=actor, details=details, reverses_id=reverses, lines=lines)


@settings(max_examples=500, deadline=None)
@given(details=st.dictionaries(_text, _json, max_size=5))
def test_details_are_stored_as_the_audit_will_hash_them_read_back(details):
    text = details_json(details)
    assert canonical_json(json.loads(text)) == text == canonical_json(details)


def test_details_json_cannot_write_are_written_as_they_read_back():
    at = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    for details in ({"at": at}, {"ids": {3: "c", 10: "a", 2: "b"}}, {"n": float("nan")},
                    {"t": (1, 2)}, {"big": 2**70, "tiny": 1e-9}):
        text = details_json(details)
        assert canonical_json(json.loads(text)) == text


def test_an_entry_with_awkward_details_passes_the_audit(db):
    at = datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    with db.transaction() as s:
        a = open_account(s, holder_type="town", holder_id=77, purpose="funding")
        b = open_account(s, holder_type="person", holder_id=77, purpose="points")
        for details in ({"at": at, "f": 1e16, "g": 1e-5}, {"ids": {3: "c", 10: "a"}},
                        {"名": "值\n\"\\", "x": [0.1, 2.5, -0.0]}):
            post_entry(s, unit="points", kind="allocate", memo="digest", details=details,
                       lines=[Line.of(a, -5, hot=True), Line.of(b, 5)])
    audit_clean(db)
