"""四单 service matching: a resident orders a service from a station's menu (点单), the station
dispatches it (派单), a team or volunteer accepts it (接单), serves it through an activity's
check-in, and the resident rates it (评单). Every state change is an event with who, when, why."""
