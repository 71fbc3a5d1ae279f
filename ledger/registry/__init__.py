"""The registry: town → villages/communities (and practice institutes and points) → households →
people; volunteer teams; door plates; each holder's points accounts."""
