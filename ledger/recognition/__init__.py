"""Recognition: per-holder rollups of the journal, star ratings, honor lists and live rankings.

Importing the package registers its outbox handlers and the rollup tailer's after-commit hook
(embedded mode follows every commit at once)."""

from ledger.recognition import honor, poster, rollups, tasks  # noqa: F401
