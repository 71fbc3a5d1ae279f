"""Redemption: the reward catalog, orders held against points, one-time vouchers fulfilled by
a clerk's scan, lucky draws paid by the town, and settlement with providers."""
