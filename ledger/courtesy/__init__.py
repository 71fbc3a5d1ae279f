"""礼遇: courtesy benefits by star level that cost no points (a free film screening for star
volunteers, a partner merchant's discount shown as a verifiable pass, a one-off bonus at four
stars), configured per town, each use recorded."""
