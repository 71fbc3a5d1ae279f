"""Every table of the domain, imported in one place so that Alembic and the tests see the
whole schema. Each domain package adds its models module here (one line each)."""

from ledger.db import Base
from ledger.journal import models as journal_models  # noqa: F401
from ledger.accounts import models as registry_models  # noqa: F401

metadata = Base.metadata
