"""志愿服务基金: businesses and groups donate to the rewards. A donor is an account holder in the
ledger; a money donation is a journal entry from the donor's account into a village's budget at
its stated value (the catalog's value of a point); donors are thanked on a public page and each
has a settlement statement."""
