"""The rule engine: catalogs of categories and items, versions, caps, multipliers, evaluation,
and the workflows (claims, public notice, appeals) that turn deeds into ledger entries."""
