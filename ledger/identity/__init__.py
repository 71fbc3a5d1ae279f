"""Identity: staff users with passwords, volunteers signing in with phone + one-time code, role
assignments scoped to a village or the whole town, and the personal data export."""
