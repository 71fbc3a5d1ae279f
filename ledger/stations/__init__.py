"""The town's practice network as places and people: the institute (所), stations (站) and points
(点) with their addresses, hours, rooms and liaison leaders; monthly plans; teams' yearly targets;
and the per-station reports that show which stations work and which only hang a sign (挂牌)."""
