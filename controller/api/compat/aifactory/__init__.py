"""AI Factory Client Services (seeds/000) on the controller's client groups: shapes only."""
