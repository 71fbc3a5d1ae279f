"""Activities and QR check-ins: recruitment, signed check-in codes, attendance, service minutes
booked in the ledger, door-plate inspections, and service-record certificates."""
