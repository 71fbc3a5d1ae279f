"""Every table of the domain, imported in one place so that Alembic and the tests see the
whole schema. Each domain package adds its models module here (one line each)."""

from ledger.db import Base
from ledger.journal import models as journal_models  # noqa: F401
from ledger.registry import models as registry_models  # noqa: F401
from ledger.identity import models as identity_models  # noqa: F401
from ledger.rules import models as rules_models  # noqa: F401
from ledger.activities import models as activities_models  # noqa: F401
from ledger.redemption import models as redemption_models  # noqa: F401
from ledger.recognition import models as recognition_models  # noqa: F401
from ledger.stations import models as stations_models  # noqa: F401
from ledger.matching import models as matching_models  # noqa: F401
from ledger.fund import models as fund_models  # noqa: F401
from ledger.courtesy import models as courtesy_models  # noqa: F401
from ledger import outbox as outbox_models, ops as ops_models  # noqa: F401

metadata = Base.metadata
